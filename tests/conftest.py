"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pg as _pg
import pytest
from s3server import S3Server, start_s3_server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (the juicefs gateway) for the whole test session.

    Point code at it with ``s3_server.apply_env(monkeypatch)``, which sets AWS_ENDPOINT_URL,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION.
    """
    try:
        server = start_s3_server(tmp_path_factory.mktemp("s3server"))
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


# --- PostgreSQL and buckets ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The superuser URL of the project's embedded PostgreSQL (started if needed), with a template DB."""
    url = _pg.admin_url()
    _pg.make_template(url)
    return url


@pytest.fixture
def warehouse_url(pg_admin_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, bootstrapped database for one test; WAREHOUSE_URL points at it."""
    url = _pg.fresh_database(pg_admin_url)
    monkeypatch.setenv("WAREHOUSE_URL", url)
    try:
        yield url
    finally:
        _pg.drop_database(pg_admin_url, url)


@pytest.fixture
def local_buckets(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    root = tmp_path_factory.mktemp("buckets")
    url = root.as_uri()
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", url)
    return url


@pytest.fixture
def db(warehouse_url: str) -> Iterator[psycopg.Connection]:
    import psycopg

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")


def pytest_configure(config: pytest.Config) -> None:
    # tests/test_prod_local.py's end-to-end run (about 10 minutes): `make test` leaves it to `make test-slow`.
    config.addinivalue_line("markers", "prod_local: starts the whole prod-local stack (make test-slow runs it)")


# --- the sample warehouse, built once per session (tests/test_report.py, tests/test_open_data.py) --------------


@pytest.fixture(scope="session")
def sample_build(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own with the generator's sample drops loaded by the real loader and built by dbt (the
    per-drop selector, so the data and unit tests ran too) into schema `build`; yields its URL. Nothing is published."""
    import dataclasses

    from explosion_monitor import sample, transform
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.config import get_settings
    from explosion_monitor.ingest.pending import ingest_pending

    url = _pg.fresh_database(pg_admin_url, prefix="em_test_sample")
    try:
        folder = tmp_path_factory.mktemp("sample_buckets")
        folder.chmod(0o755)
        settings = dataclasses.replace(get_settings(), warehouse_url=url, buckets=folder.as_uri())
        for f in sample.generate():
            get_bucket(f.feed, settings).put_incoming(f.name, f.data)
        ingest_pending(settings=settings)
        # a target folder of its own: other dbt runs in this checkout cannot overwrite its run_results.json
        transform.build(url=url, target_dir=tmp_path_factory.mktemp("dbt_target"))
        yield url
    finally:
        _pg.drop_database(pg_admin_url, url)
