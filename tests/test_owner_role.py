"""Issue 12: the pipeline needs no superuser. A DBA runs two lines, then everything runs as that owner role.

    create role <owner> login createrole password '...';
    create database <db> owner <owner>;

With WAREHOUSE_URL pointing at that role, the whole pipeline works as with a superuser URL: bootstrap (roles,
grants, limits), load (the COPY as the loader, no session_replication_role), dbt (as the transformer), the gate,
publication (as the publisher), rollback and purge. The cluster already has roles named bi_reader and friends
that this owner did not create (the other warehouses' on the test server): the warehouse takes its own prefixed
roles and bootstraps all the same, without touching the others.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
import wap
from psycopg import sql

pytestmark = [pytest.mark.timeout(900)]


def _url(admin_url: str, user: str, password: str, db: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(
        parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.hostname}:{parts.port}", path=f"/{db}")
    )


@pytest.mark.slow  # over 50 s: make test-slow (CI keeps make test under 30 min)
def test_the_whole_pipeline_runs_as_a_non_superuser_owner(
    pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explosion_monitor import publish, retention, transform
    from explosion_monitor.db.ready import connect_ready

    tag = uuid.uuid4().hex[:8]
    owner, db, password = f"em_test_owner_{tag}", f"em_test_owned_{tag}", secrets.token_urlsafe(16)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:  # the DBA's two lines
        conn.execute(
            sql.SQL("create role {} login createrole password {}").format(sql.Identifier(owner), sql.Literal(password))
        )
        conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(db), sql.Identifier(owner)))
        others_before = conn.execute(
            "select rolname, rolconnlimit, rolconfig from pg_roles "
            "where rolname in ('bi_reader', 'em_publisher') order by 1"
        ).fetchall()
    url = _url(pg_admin_url, owner, password, db)
    home = tmp_path / "home"
    (home / ".data").mkdir(parents=True)
    (home / "expectations").symlink_to(wap.REAL_SETTINGS.expectations_dir)
    (home / "dbt_project").symlink_to(wap.REAL_SETTINGS.dbt_project_dir)
    monkeypatch.setenv("EXPLOSION_MONITOR_HOME", str(home))
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", (tmp_path / "buckets").as_uri())
    monkeypatch.delenv("EXPLOSION_MONITOR_ROLE_PREFIX", raising=False)
    prefix = f"{db}_"
    try:
        with connect_ready() as conn:  # bootstrap as the owner
            assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)
            assert conn.execute("select ops.role_prefix()").fetchone() == (prefix,)
            made = {
                r[0]
                for r in conn.execute(
                    "select rolname from pg_roles where rolname like %s", (prefix.replace("_", r"\_") + "%",)
                )
            }
            assert made == {
                prefix + r
                for r in (
                    "em_loader",
                    "em_transformer",
                    "em_publisher",
                    "bi_reader",
                    "open_data_reader",
                    "analist",
                    "gemeente_lezer",
                )
            }
        # load (COPY as <prefix>em_loader), dbt (as <prefix>em_transformer), gate, publish twice, roll back
        outcomes = wap.put_and_ingest(wap.sample_files()[: wap.FIRST_DROPS])
        assert [o.status for o in outcomes].count("loaded") == 3, outcomes
        assert transform.transform_role(url) == prefix + "em_transformer"
        transform.build(url=url)
        first = publish.gate_and_publish(url=url, run_id="eigenaar-1")
        second = publish.gate_and_publish(url=url, run_id="eigenaar-2")
        assert (first.outcome, second.outcome) == ("published", "published")
        publish.rollback(url=url)
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("select run_id from marts.publicatie").fetchone() == ("eigenaar-1",)
            owners = {
                r[0]
                for r in conn.execute(
                    "select distinct tableowner from pg_tables where schemaname in ('marts', 'open_data')"
                )
            }
            assert owners == {prefix + "em_publisher"}
        # the readers of this warehouse log in with their own passwords and see their tier
        stored = json.loads((home / ".data" / "secrets.json").read_text())
        reader = _url(pg_admin_url, prefix + "bi_reader", stored[f"{prefix}bi_reader_password"], db)
        with psycopg.connect(reader, autocommit=True) as conn:
            assert conn.execute("select count(*) from marts.target_progress").fetchone()[0] > 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select 1 from marts.fct_explosie_incidenten")
        # purge everything (ten years on), then a rollback cannot bring any of it back
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
        result = retention.purge(apply=True, now=later, retention_days=30)
        assert result.rows_removed > 0 and not result.errors, result.errors
        with pytest.raises(publish.PublishError):
            publish.rollback(url=url)
        with connect_ready() as conn:  # a second bootstrap keeps the choice
            assert conn.execute("select ops.role_prefix()").fetchone() == (prefix,)
        # the other warehouses' roles were not touched
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            assert (
                conn.execute(
                    "select rolname, rolconnlimit, rolconfig from pg_roles "
                    "where rolname in ('bi_reader', 'em_publisher') order by 1"
                ).fetchall()
                == others_before
            )
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(db)))
            for role in [
                r[0]
                for r in conn.execute(
                    "select rolname from pg_roles where rolname like %s", (prefix.replace("_", r"\_") + "%",)
                )
            ] + [owner]:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
