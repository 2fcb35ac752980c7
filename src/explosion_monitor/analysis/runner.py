"""Run the analysis steps into a build schema, gate them, publish them all or nothing, and log the outcome."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from explosion_monitor import db, published, quality
from explosion_monitor.analysis.publication import BUILD_SCHEMA, MARTS, publish_tables
from explosion_monitor.analysis.steps import STAMP_TABLE, STEPS, AnalysisStep
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import ready

log = logging.getLogger(__name__)

SUITES_FOLDER = "analysis"  # expectations/analysis/: the analysis run's own suites, all blocking

LOG_DDL = """
create table if not exists ops.analysis_log (
    analysis_id bigserial primary key,
    run_id text not null,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    outcome text not null check (outcome in ('running', 'published', 'blocked', 'failed', 'skipped')),
    publicatie_id bigint,
    peildatum date,
    steps jsonb not null default '[]',
    failed_checks jsonb not null default '[]',
    message text
)
"""


class AnalysisError(RuntimeError):
    """The analysis run failed or was blocked; `marts` keeps the previous analysis tables. One sentence."""

    def __init__(self, message: str, result: AnalysisResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class AnalysisResult:
    run_id: str
    outcome: str  # published | blocked | failed | skipped
    analysis_id: int
    message: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    failed_checks: list[dict[str, Any]] = field(default_factory=list)


def ensure_log(conn: psycopg.Connection) -> None:
    conn.execute(LOG_DDL)


def _finish(conn: psycopg.Connection, analysis_id: int, outcome: str, message: str, **fields: Any) -> None:
    conn.execute(
        "update ops.analysis_log set outcome = %s, message = %s, finished_at = clock_timestamp(), "
        "steps = coalesce(%s, steps), failed_checks = coalesce(%s, failed_checks), "
        "publicatie_id = coalesce(%s, publicatie_id), peildatum = coalesce(%s, peildatum) where analysis_id = %s",
        (
            outcome,
            message,
            Jsonb(fields["steps"]) if "steps" in fields else None,
            Jsonb(fields["failed_checks"]) if "failed_checks" in fields else None,
            fields.get("publicatie_id"),
            fields.get("peildatum"),
            analysis_id,
        ),
    )


def _rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()[0]


def _missing(conn: psycopg.Connection, step: AnalysisStep) -> list[str]:
    return [t for t in step.needs if conn.execute("select to_regclass(%s) is null", (f"{MARTS}.{t}",)).fetchone()[0]]


def _stamp(
    conn: psycopg.Connection, analysis_id: int, run_id: str, publicatie_id: int, peildatum: Any, tables: list[str]
) -> None:
    target = sql.Identifier(BUILD_SCHEMA, STAMP_TABLE)
    conn.execute(
        sql.SQL(
            "create table {} (analyse_id bigint primary key, run_id text not null, gepubliceerd_op timestamptz not null, "
            "publicatie_id bigint not null, peildatum date, tabellen text[] not null)"
        ).format(target)
    )
    conn.execute(
        sql.SQL("insert into {} values (%s, %s, now(), %s, %s, %s)").format(target),
        (analysis_id, run_id, publicatie_id, peildatum, sorted(tables)),
    )
    conn.execute(
        sql.SQL("comment on table {} is {}").format(
            target,
            sql.Literal(
                "Which analysis run the analysis tables in marts come from (ops.analysis_log), and which publication of the "
                "count (marts.publicatie) and police peildatum they were computed on."
            ),
        )
    )


def run_analysis(
    settings: Settings | None = None,
    url: str | None = None,
    run_id: str | None = None,
    steps: list[AnalysisStep] | None = None,
) -> AnalysisResult:
    """Every step into `analysis_build`, the blocking analysis suites, then one publication of all their tables.

    Raises AnalysisError when a step fails or a check blocks (the published analysis tables stay as they were).
    """
    from explosion_monitor import publish

    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    run_id = run_id or publish.new_run_id()
    steps = STEPS if steps is None else steps
    # the log is written as the login (ops), the work is done as the publisher (marts, the build schema)
    with db.connect(url, autocommit=True) as lc, db.connect(url, autocommit=True) as conn:
        ensure_log(lc)
        analysis_id = lc.execute(
            "insert into ops.analysis_log (run_id, outcome) values (%s, 'running') returning analysis_id", (run_id,)
        ).fetchone()[0]
        done: list[dict[str, Any]] = []
        try:
            if conn.execute("select to_regclass('marts.publicatie') is null").fetchone()[0]:
                message = "Nothing is published yet; the analysis runs after the first publication of the count."
                _finish(lc, analysis_id, "skipped", message)
                return AnalysisResult(run_id, "skipped", analysis_id, message)
            publicatie_id, peildatum = conn.execute(
                "select publicatie_id, peildatum from marts.publicatie order by publicatie_id desc limit 1"
            ).fetchone()
            role = published.publisher_role(conn, [])
            if role:  # the publisher owns marts; the build schema is its too
                db.set_role(conn, role, local=False)
            with conn.transaction():
                conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(BUILD_SCHEMA)))
                conn.execute(sql.SQL("create schema {}").format(sql.Identifier(BUILD_SCHEMA)))
            tables: list[str] = []
            for step in steps:
                missing = _missing(conn, step)
                if missing:
                    done.append({"step": step.name, "skipped": f"marts has no {', '.join(missing)}"})
                    continue
                started = time.monotonic()
                with conn.transaction():
                    step.run(conn, BUILD_SCHEMA)
                absent = [
                    t
                    for t in step.tables
                    if conn.execute("select to_regclass(%s) is null", (f"{BUILD_SCHEMA}.{t}",)).fetchone()[0]
                ]
                if absent:
                    raise AnalysisError(f"The analysis step {step.name} did not create {', '.join(absent)}.")
                done.append(
                    {
                        "step": step.name,
                        "seconds": round(time.monotonic() - started, 2),
                        "rows": {t: _rows(conn, BUILD_SCHEMA, t) for t in step.tables},
                    }
                )
                tables.extend(step.tables)
            gate = quality.run_gate(
                settings,
                url,
                schema=BUILD_SCHEMA,
                run_id=run_id,
                folder=settings.expectations_dir / SUITES_FOLDER,
                tables=tables,
            )
            if not gate.passed:
                failures = [f.as_dict() for f in gate.failures]
                message = f"Analysis blocked, the published analysis tables are unchanged: {gate.sentence()}"
                _finish(
                    lc,
                    analysis_id,
                    "blocked",
                    message,
                    steps=done,
                    failed_checks=failures,
                    publicatie_id=publicatie_id,
                    peildatum=peildatum,
                )
                raise AnalysisError(message, AnalysisResult(run_id, "blocked", analysis_id, message, done, failures))
            with conn.transaction():
                _stamp(conn, analysis_id, run_id, publicatie_id, peildatum, tables)
            publish_tables(conn, [*tables, STAMP_TABLE], role)
            from explosion_monitor import access  # tiers and row-level security, on what was just published

            with conn.transaction():
                access.grant_published(conn, MARTS, MARTS)
            message = (
                f"Analysis {analysis_id} published {len(tables)} table(s) into {MARTS}, "
                f"computed on publication {publicatie_id} (peildatum {peildatum})."
            )
            _finish(lc, analysis_id, "published", message, steps=done, publicatie_id=publicatie_id, peildatum=peildatum)
            log.info("%s (run %s)", message, run_id)
            return AnalysisResult(run_id, "published", analysis_id, message, done)
        except AnalysisError:
            raise
        except BaseException as exc:
            message = f"The analysis run failed, the published analysis tables are unchanged: {_one_line(exc)}."
            with contextlib.suppress(psycopg.Error):
                _finish(lc, analysis_id, "failed", message, steps=done)
            if isinstance(exc, Exception):
                raise AnalysisError(message, AnalysisResult(run_id, "failed", analysis_id, message, done)) from exc
            raise


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def analysis_log(conn: psycopg.Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The newest rows of ops.analysis_log, newest first."""
    ensure_log(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("select * from ops.analysis_log order by analysis_id desc limit %s", (limit,)).fetchall()
