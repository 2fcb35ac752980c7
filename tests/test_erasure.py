"""Issue 12: a purge reaches every copy of a purged record, and no rollback brings one back.

The retention scenario of tests/test_retention.py (real loads, real dbt builds, real gate and publications): after
two publications (so `marts_prev` holds the records too), a nightly copy, an old publication-log entry whose sample
rows quote an id, and files (GX results, an Airflow task log, a report) that quote the ids, `purge --apply` and its
full-refresh publication run, then a rollback is tried. Then every column of every table in the warehouse, and every
file in those folders, is searched for the purged ids.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
import wap
from psycopg import sql
from psycopg.types.json import Jsonb
from test_retention import DAYS, NOW, Scenario, scenario  # noqa: F401 - the fixture

from explosion_monitor import erasure, publish, retention
from explosion_monitor.orchestration.steps import refresh_after_purge

pytestmark = pytest.mark.timeout(900)

# PL-G: its only version lies before the period (P0); M-1: the only melding (M1); PL-Q1/2: in the refused file Q.
PURGED = ("PL-G", "M-1", "PL-Q1", "PL-Q2")
KEPT = ("PL-A", "PL-D", "C-1")  # still in raw after the purge (a newer version, or within the period)
WORD = r"(?<![\w-])({})(?![\w-])"


def _everywhere(url: str, ids: tuple[str, ...]) -> dict[str, int]:
    """schema.table -> rows whose text form contains one of `ids` as a whole word, over every table of the database."""
    pattern = (
        WORD.format("|".join(map(re.escape, ids)))
        .replace("(?<![\\w-])", "(^|[^[:alnum:]_-])")
        .replace("(?![\\w-])", "($|[^[:alnum:]_-])")
    )
    found: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind in ('r', 'p', 'm') and n.nspname not in ('pg_catalog', 'information_schema') "
            "and n.nspname not like 'pg\\_toast%'"
        ).fetchall()
        for schema, table in tables:
            n = conn.execute(
                sql.SQL("select count(*) from {} as t where t::text ~ %s").format(sql.Identifier(schema, table)),
                (pattern,),
            ).fetchone()[0]
            if n:
                found[f"{schema}.{table}"] = n
    return found


def _files_with(roots: list[Path], ids: tuple[str, ...]) -> list[str]:
    pattern = re.compile(WORD.format("|".join(map(re.escape, ids))))
    return [
        str(p)
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and pattern.search(p.read_text(errors="replace"))
    ]


def test_purge_reaches_every_copy_and_rollback_cannot_bring_it_back(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: F811
    from explosion_monitor.config import get_settings
    from explosion_monitor.orchestration import steps

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("EXPLOSION_MONITOR_REPORTS", str(tmp_path / "reports"))
    with wap.gx_isolated():
        settings = get_settings()
        steps.run_build({"select": None})
        steps.gate_and_publish("erasure-1")
        steps.gate_and_publish("erasure-2")
        with psycopg.connect(scenario.url, autocommit=True) as conn:
            # what warehouse_full leaves behind: the nightly schema with its own copy of the incidents
            conn.execute("create schema nightly")
            conn.execute("create table nightly.fct_explosie_incidenten as select * from build.fct_explosie_incidenten")
            # an entry an earlier version logged with the ids in its sample rows
            conn.execute(
                "insert into ops.publication_log (run_id, outcome, failed_checks, message) values "
                "('oud', 'blocked', %s, 'Blocked: PL-G')",
                (Jsonb([{"suite": "raw_politie", "sample_rows": [{"incident_id": "PL-G"}, {"melding_id": "M-1"}]}]),),
            )
        logs = settings.airflow_home / "logs" / "dag_id=warehouse" / "run_id=x"
        logs.mkdir(parents=True)
        (logs / "attempt=1.log").write_text("INFO - sample row {'incident_id': 'PL-G'}\nINFO - M-10 stays\n")
        settings.reports_dir.mkdir(parents=True)
        (settings.reports_dir / "gemeente.md").write_text("Incidenten: PL-G, PL-A\n")
        roots = erasure.file_roots(settings)
        assert set(_everywhere(scenario.url, PURGED)) >= {
            "raw.politie",
            "raw.corporaties",
            "marts_prev.fct_explosie_incidenten",
            "nightly.fct_explosie_incidenten",
            "ops.publication_log",
        }
        assert _files_with(roots, PURGED)

        result = retention.purge(apply=True, now=NOW, retention_days=DAYS)
        assert {d.file_id for d in result.removed} >= {scenario.ids["P0"], scenario.ids["M1"], scenario.ids["Q"]}
        refresh_after_purge(settings)

        with pytest.raises(publish.PublishError, match="no previous publication|older than a retention purge"):
            publish.rollback(url=scenario.url)

    assert _everywhere(scenario.url, PURGED) == {}
    assert _files_with(roots, PURGED) == []
    # what the period still needs is all there, the rest of the files too
    assert {"raw.politie", "marts.fct_explosie_incidenten"} <= set(_everywhere(scenario.url, ("PL-A", "PL-D")))
    assert "raw.verzekeraars" in _everywhere(scenario.url, ("C-1",))
    assert "M-10 stays" in (logs / "attempt=1.log").read_text()
    assert "PL-A" in (settings.reports_dir / "gemeente.md").read_text()


def test_a_publication_after_a_purge_is_not_kept_for_rollback(scenario: Scenario) -> None:  # noqa: F811
    """Even when the purge's own clean-up did not run (an older version purged), the next swap drops the old one."""
    from explosion_monitor.orchestration import steps

    with wap.gx_isolated():
        steps.run_build({"select": None})
        steps.gate_and_publish("voor")
        with psycopg.connect(scenario.url, autocommit=True) as conn:
            conn.execute(
                "insert into ops.purge_log (run_id, file_id, feed, object_key, sha256, status, arrived_at, "
                "reason, retention_days, cutoff, rows_removed, objects) select 'p', file_id, feed, object_key, "
                "sha256, status, arrived_at, 'test', 30, now(), 0, '{}' from ops.ledger limit 1"
            )
        steps.gate_and_publish("na")
        with psycopg.connect(scenario.url, autocommit=True) as conn:
            assert conn.execute("select to_regnamespace('marts_prev') is null").fetchone()[0]
        with pytest.raises(publish.PublishError, match="no previous publication"):
            publish.rollback(url=scenario.url)
        steps.gate_and_publish("daarna")  # a publication younger than the purge is kept as before
        publish.rollback(url=scenario.url)
