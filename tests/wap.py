"""Write-audit-publish test databases: built once per test session, cloned (a file copy) per test.

A dbt build costs 10-20 s, so the tests share two template databases on the embedded server:
- `built`: the conftest template plus the January 2025 sample drops (police extract with 2024 = 1,244, a
  quarantined police file, insurer and housing files), ingested and built into `build`, nothing published;
- `published`: `built` after one clean gate_and_publish (publication 1 in marts).
Each test clones the one it needs with `clone()`. GX writes its file context and Data Docs into a temporary
project home (EXPLOSION_MONITOR_HOME with links to expectations/ and dbt_project/), never into .data/.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlsplit, urlunsplit

import pg
import psycopg
from psycopg import sql

from explosion_monitor.config import get_settings

REAL_SETTINGS = get_settings()
_REAL_HOME = {"EXPLOSION_MONITOR_HOME": str(REAL_SETTINGS.root)}
# The sample drops in delivery order: P1 (January 2025), B1 (quarantined), C1, V1, then P2 (April 2025: 2024
# revised from 1,244 to 1,543), ...
FIRST_DROPS = 4
REVISION_DROP = 4

_DATABASES: list[str] = []
_ADMIN: list[str] = []


def _temporary_folder(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def sample_files() -> list:
    from explosion_monitor.sample import generate

    return generate()


def environment(**values: str) -> contextlib.AbstractContextManager:
    """`values` set in os.environ for the block, the previous environment back afterwards."""
    return mock.patch.dict(os.environ, values)


@functools.cache
def gx_home() -> Path:
    """A project home for GX output: links to the real suites and dbt project, its own .data/."""
    home = _temporary_folder("em-gx-home-")
    (home / "expectations").symlink_to(REAL_SETTINGS.expectations_dir)
    (home / "dbt_project").symlink_to(REAL_SETTINGS.dbt_project_dir)
    # The BI roles' passwords are cluster-wide: never generate new ones for this home.
    (home / ".data").mkdir()
    (home / ".data" / "secrets.json").symlink_to(REAL_SETTINGS.data_dir / "secrets.json")
    return home


def gx_isolated() -> contextlib.AbstractContextManager[None]:
    return environment(EXPLOSION_MONITOR_HOME=str(gx_home()))


def db_name(url: str) -> str:
    return urlsplit(url).path.strip("/")


def _terminate(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
            (name,),
        )


def clone(admin_url: str, template: str, prefix: str = "em_test_wap") -> str:
    """A new database copied from `template` (nobody may be connected to it); returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _terminate(admin_url, template)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template)))
    _remember(admin_url, name)
    return pg.with_db(admin_url, name)


def drop(admin_url: str, url: str) -> None:
    pg.drop_database(admin_url, url)


def _remember(admin_url: str, name: str) -> None:
    if not _ADMIN:
        _ADMIN.append(admin_url)
        atexit.register(_drop_all)
    _DATABASES.append(name)


def _drop_all() -> None:
    with contextlib.suppress(psycopg.Error), psycopg.connect(_ADMIN[0], autocommit=True) as conn:
        for name in _DATABASES:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def put_and_ingest(files: list) -> list:
    """Drop `files` into the configured buckets and ingest them into the configured warehouse; the outcomes."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.pending import ingest_pending

    for f in files:
        bucket = get_bucket(f.feed)
        bucket.ensure()
        bucket.put_incoming(f.name, f.data)
    return ingest_pending()


def deliver(url: str, files: list) -> list:
    """Drop `files` into fresh local buckets and ingest them into the database at `url`."""
    buckets = _temporary_folder("em-wap-buckets-").as_uri()
    with environment(WAREHOUSE_URL=url, EXPLOSION_MONITOR_BUCKETS=buckets, **_REAL_HOME):
        return put_and_ingest(files)


def build(url: str) -> None:
    from explosion_monitor import transform

    with environment(WAREHOUSE_URL=url, **_REAL_HOME):  # dbt runs in the real project folder
        transform.build(url=url)


@functools.cache
def built_template(admin_url: str) -> str:
    """Database name of the `built` template (see the module docstring)."""
    url = pg.fresh_database(admin_url, prefix="em_test_wap_built")  # the conftest template, as conftest clones it
    _remember(admin_url, db_name(url))
    outcomes = deliver(url, sample_files()[:FIRST_DROPS])
    assert [o.status for o in outcomes].count("loaded") == 3, outcomes
    build(url)
    _terminate(admin_url, db_name(url))
    return db_name(url)


@functools.cache
def published_template(admin_url: str) -> str:
    """Database name of the `published` template (see the module docstring)."""
    from explosion_monitor import publish

    url = clone(admin_url, built_template(admin_url), prefix="em_test_wap_published")
    with gx_isolated():
        result = publish.gate_and_publish(url=url, run_id="template")
    assert result.outcome == "published", result
    _terminate(admin_url, db_name(url))
    return db_name(url)


def login_url(url: str, role: str) -> str:
    """`url` logging in as a BI role with its password from the secrets file."""
    from explosion_monitor import warehouse

    password = warehouse.load_secrets(REAL_SETTINGS)[f"{role}_password"]
    parts = urlsplit(url)
    netloc = f"{role}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def national(conn: psycopg.Connection, schema: str) -> dict[int, int]:
    query = sql.SQL("select jaar, aanslagen from {}.target_progress where niveau = 'land' order by jaar")
    return dict(conn.execute(query.format(sql.Identifier(schema))).fetchall())
