"""The warehouse connection the suites run on, and the GX file data context in `.data/gx/` (results, Data Docs)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psycopg import sql

from explosion_monitor import db, transform
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.locks import file_lock
from explosion_monitor.quality.suites import DEFAULT_SCHEMA, KEEP_RESULTS_PER_SUITE, Window

log = logging.getLogger(__name__)


# --- connections ----------------------------------------------------------------------------------


def connection_env(url: str) -> str:
    """An environment variable holding the SQLAlchemy URL, so the GX config on disk never holds a password."""
    key = "EM_GX_WAREHOUSE_" + hashlib.sha1(url.encode()).hexdigest()[:12].upper()
    os.environ[key] = db.sqlalchemy_url(url)
    return key


def delivery_window(url: str, schema: str = DEFAULT_SCHEMA) -> Window:
    """From the last published delivery (marts.publicatie) to the build's own window (transform.WINDOW_MODEL,
    fixed when the build in `schema` started), so that a file loaded while the build ran is named and checked by
    the next publication, not this one. Without that table (no build yet), the newest file in the ledger."""
    window_schema, window_table = transform.window_relation(schema)
    with db.connect(url, autocommit=True) as conn:
        vanaf = 0
        if conn.execute("select to_regclass('marts.publicatie') is not null").fetchone()[0]:
            vanaf = conn.execute("select coalesce(max(tot_en_met_file_id), 0) from marts.publicatie").fetchone()[0]
        tot = None
        exists = "select to_regclass(format('%%I.%%I', %s::text, %s::text)) is not null"
        if conn.execute(exists, (window_schema, window_table)).fetchone()[0]:
            query = sql.SQL("select max(tot_en_met_file_id) from {}.{}").format(
                sql.Identifier(window_schema), sql.Identifier(window_table)
            )
            tot = conn.execute(query).fetchone()[0]
        if tot is None:
            tot = conn.execute("select coalesce(max(file_id), 0) from ops.ledger").fetchone()[0]
    return Window(int(vanaf), int(max(tot, vanaf)))


def has_rows(url: str, schema: str, query: str) -> bool:
    """Whether `query` (a suite's filled-in asset query, tables resolved in `schema`) returns any row."""
    with db.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("set search_path = {}").format(sql.Identifier(schema)))
        return bool(conn.execute(f"select exists (select from ({query}) as rijen)").fetchone()[0])


def missing_relations(url: str, names: Sequence[str]) -> list[str]:
    if not names:
        return []
    with db.connect(url, autocommit=True) as conn:
        return [n for n in names if conn.execute("select to_regclass(%s) is null", (n,)).fetchone()[0]]


# --- the GX file data context ---------------------------------------------------------------------


def gx_root(settings: Settings) -> Path:
    """Where the file data context lives (git-ignored): suites as GX stores them, results, Data Docs."""
    return settings.gx_dir


def gx_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """GX rewrites great_expectations.yml in place; parallel tasks must not read it half-written."""
    return file_lock(settings.data_dir / ".gx.lock")


def quiet_gx() -> None:
    """No network (no analytics); GX's own chatter stays out of task logs (our suite outcomes are logged)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)


def file_context(settings: Settings | None = None) -> Any:
    """The GX file data context in `.data/gx/` (for `configure_file_data_context=`); imports GX."""
    settings = settings or get_settings()
    quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = gx_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    with gx_lock(settings):
        context = gx.get_context(mode="file", project_root_dir=str(root))
        bars = context.variables.progress_bars
        bars_on = True if bars is None else (bars.get("globally") if isinstance(bars, dict) else bars.globally)
        if context.variables.analytics_enabled is not False or bars_on is not False:
            context.variables.analytics_enabled = False
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            context.variables.save()
    return context


def data_docs_index(settings: Settings | None = None) -> Path:
    """index.html of the Data Docs (built first if there are none yet)."""
    settings = settings or get_settings()
    index = gx_root(settings) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    if not index.is_file():
        file_context(settings).build_data_docs()
    return index


def prune_results(settings: Settings, suite: str, keep: int = KEEP_RESULTS_PER_SUITE) -> None:
    """Keep the newest `keep` validation results of a suite, and their Data Docs pages (caller holds the lock)."""
    base = gx_root(settings) / "gx" / "uncommitted"
    runs = sorted((base / "validations" / suite).glob("*/*"), key=lambda p: p.name)  # <run name>/<run time>
    for run in runs[: max(len(runs) - keep, 0)]:
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(
            base / "data_docs" / "local_site" / "validations" / suite / run.parent.name / run.name, ignore_errors=True
        )


def update_data_docs(context: Any, settings: Settings, results: list[Any], suites: list[str]) -> Path:
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    identifiers = [*results, *(ExpectationSuiteIdentifier(name=name) for name in suites)]
    with gx_lock(settings):
        context.build_data_docs(resource_identifiers=identifiers)
    return data_docs_index(settings)


def update_newest_docs(settings: Settings, suites: list[str]) -> Path:
    """Render the newest validation result of each of `suites` into Data Docs: a gate that left its rendering
    to a later task (the warehouse DAG's `data_docs`, after the publication) has its pages made here."""
    context = file_context(settings)
    newest: dict[str, Any] = {}
    for key in context.validation_results_store.list_keys():
        name = key.expectation_suite_identifier.name
        if name in suites and (name not in newest or key.run_id.run_time > newest[name].run_id.run_time):
            newest[name] = key
    return update_data_docs(context, settings, list(newest.values()), suites)


def dispose_engines(context: Any) -> None:
    """Close the connections GX pooled, so nothing lingers on the warehouse after the gate."""
    with contextlib.suppress(Exception):
        for source in context.data_sources.all().values():
            engine = getattr(source, "_engine", None)
            if engine is not None:
                engine.dispose()
