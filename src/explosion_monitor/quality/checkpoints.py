"""The suites as GX checkpoints: one suite (SuiteCheckpoint), several as one (GateCheckpoint), and run_gate."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor import db
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import ready
from explosion_monitor.erasure import redact_sample
from explosion_monitor.quality.context import (
    connection_env,
    delivery_window,
    dispose_engines,
    file_context,
    gx_lock,
    has_rows,
    missing_relations,
    prune_results,
    update_data_docs,
)
from explosion_monitor.quality.suites import (
    BATCH,
    BLOCKING,
    DEFAULT_SCHEMA,
    IDENTIFIER,
    LEVELS,
    QUERY_TIMEOUT,
    SAMPLE_ROWS,
    WARNING,
    CheckFailure,
    GateResult,
    SuiteError,
    SuiteSpec,
    Window,
    fail,
    fill,
    gate_from_results,
    jsonable,
    load_suites,
    one_line,
    raised,
)

log = logging.getLogger(__name__)


# --- suites as GX objects -------------------------------------------------------------------------


def gx_batch_query(query: str) -> str:
    """The query as GX must see it so that every {batch} ends up with exactly one alias, on any PostgreSQL.

    GX fills {batch} with `(select ...)` when the query has a JOIN (the author aliases it), and with
    `(select ...) AS subselect` otherwise, where the suite's own alias would be a second one. There each
    `{batch} as x` becomes `(select * from {batch}) as x`: GX's subselect inside, the suite's alias outside.
    """
    from great_expectations.expectations.metrics.query_metric_provider import _query_has_join_clause

    if _query_has_join_clause(query):
        return query
    return BATCH.sub(lambda m: f"(select * from {{batch}}){m.group(1)}", query)


def gx_expectations(spec: SuiteSpec, values: Mapping[str, Any]) -> list[Any]:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.metadata_types import FailureSeverity

    severity = FailureSeverity.CRITICAL if spec.level == BLOCKING else FailureSeverity.WARNING
    out = []
    for n, exp in enumerate(spec.expectations, start=1):
        kwargs = dict(exp.get("kwargs") or {})
        if isinstance(kwargs.get("unexpected_rows_query"), str):
            kwargs["unexpected_rows_query"] = gx_batch_query(
                fill(kwargs["unexpected_rows_query"], values, spec, allow_batch=True)
            )
        config = ExpectationConfiguration(
            type=exp["type"],
            kwargs=kwargs,
            description=" ".join(exp["description"].split()),
            notes=exp.get("notes"),
            severity=severity,
            meta={"suite_file": spec.path.name, "level": spec.level},
        )
        try:
            out.append(config.to_domain_obj())
        except Exception as exc:
            reason = " ".join(str(exc).split())[:300]
            raise fail(spec.path, f"expectation {n} ({exp['type']}) is not valid: {reason}") from None
    return out


def _result_format(spec: SuiteSpec) -> dict[str, Any]:
    # SUMMARY keeps results small (no full list of unexpected values); the id columns make the partial
    # list of unexpected values into sample rows. Custom SQL checks get their sample rows from a follow-up query.
    fmt: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}
    if spec.id_columns:
        fmt["unexpected_index_column_names"] = list(spec.id_columns)
    return fmt


def _checkpoint(
    context: Any,
    spec: SuiteSpec,
    *,
    schema: str,
    url: str,
    window: Window,
    settings: Settings,
    update_docs: bool = True,
) -> SuiteCheckpoint:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    if not IDENTIFIER.match(schema):
        raise ValueError(f"The schema to validate must be a plain name, not {schema!r}.")
    values = spec.values(window, schema)
    missing = missing_relations(url, spec.requires)
    expectations = [] if missing else gx_expectations(spec, values)
    asset_name = spec.table or "leveringen"
    options = f"-c search_path={schema} -c lock_timeout={QUERY_TIMEOUT}"
    with gx_lock(settings):
        prune_results(settings, spec.name)
        source = context.data_sources.add_or_update_postgres(
            name=spec.name,
            connection_string="${" + connection_env(url) + "}",
            kwargs={"connect_args": {"options": options, "application_name": f"explosion-monitor gate {spec.name}"}},
        )
        if asset_name in source.get_asset_names():
            source.delete_asset(asset_name)
        if spec.table:
            asset = source.add_table_asset(name=asset_name, table_name=spec.table)
        else:
            query = fill(spec.query or "", values, spec, allow_batch=False).strip().rstrip(";")
            # GX wants a query that starts with SELECT; a suite may start with a CTE.
            asset = source.add_query_asset(name=asset_name, query=f"select * from (\n{query}\n) as {asset_name}")
        batch = asset.add_batch_definition_whole_table("alles")
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(
                name=spec.name,
                expectations=expectations,
                meta={"level": spec.level, "description": spec.description, "file": f"expectations/{spec.path.name}"},
            )
        )
        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=spec.name,
                validation_definitions=[validation],
                actions=[UpdateDataDocsAction(name="data_docs")] if update_docs else [],
                result_format=_result_format(spec),
            )
        )
    skipped = f"{', '.join(missing)} does not exist yet, so there is nothing to compare" if missing else None
    return SuiteCheckpoint(checkpoint, spec, schema=schema, url=url, values=values, window=window, skipped=skipped)


def checkpoint_factory(
    suites: str | Sequence[str] | None = None,
    schema: str = DEFAULT_SCHEMA,
    url: str | None = None,
    *,
    level: str | None = None,
    render_docs: bool = True,
) -> Callable[[Any], SuiteCheckpoint | UnrunnableSuite | SkippedSuite | GateCheckpoint]:
    """`configure_checkpoint=` for GXValidateCheckpointOperator; suites are read and built when the task runs.

    `suites` is one suite (a SuiteCheckpoint, as before) or a list of suites (one GateCheckpoint with a
    validation definition per suite); `level=` (blocking or warning) instead names every suite of that level
    in expectations/, resolved when the task runs. A failed blocking suite makes the result unsuccessful (the
    operator raises GXValidationFailed); a warning suite's result is always successful, its failures are logged
    as warnings (no traceback). `render_docs=False` leaves the Data Docs of a list or level of suites to a
    later step (`update_newest_docs`), so that rendering them does not delay the publication.
    """
    if (suites is None) == (level is None):
        raise ValueError("checkpoint_factory needs either suites or level.")
    if level is not None and level not in LEVELS:
        raise ValueError(f"level must be blocking or warning, not {level!r}")
    single = isinstance(suites, str)

    def configure_checkpoint(context: Any) -> SuiteCheckpoint | UnrunnableSuite | SkippedSuite | GateCheckpoint:
        settings = get_settings()
        specs = load_suites(settings)
        if level is not None:
            names = [n for n, s in specs.items() if s.level == level]
        else:
            names = [suites] if single else list(suites or ())
        unknown = [n for n in names if n not in specs]
        if unknown:
            raise SuiteError(f"There is no suite {', '.join(map(repr, unknown))} in {settings.expectations_dir}.")
        if single:
            return _prepare(context, specs[names[0]], schema=schema, url=url, window=None, settings=settings)
        return _gate_checkpoint(
            context, [specs[n] for n in names], schema=schema, url=url, settings=settings, render_docs=render_docs
        )

    label = suites if single else (level or "gate")
    configure_checkpoint.__name__ = f"configure_{label}_checkpoint"
    return configure_checkpoint


def _prepare(
    context: Any,
    spec: SuiteSpec,
    *,
    schema: str,
    url: str | None,
    window: Window | None,
    settings: Settings,
    update_docs: bool = True,
) -> SuiteCheckpoint | UnrunnableSuite | SkippedSuite:
    """The suite's checkpoint; a warning suite that cannot even be set up becomes a warning, not an error."""
    try:
        target = ready.warehouse_url(settings, url)
        window = window or delivery_window(target, schema)
        if spec.query and spec.row_wise:
            query = fill(spec.query, spec.values(window, schema), spec, allow_batch=False).strip().rstrip(";")
            if not has_rows(target, schema, query):
                # No GX set-up or validation: every check is per row, and there is no row to check.
                return SkippedSuite(spec, window, f"no rows in its window ({window.files()})")
        return _checkpoint(
            context, spec, schema=schema, url=target, window=window, settings=settings, update_docs=update_docs
        )
    except Exception as exc:
        if spec.level == BLOCKING:
            raise
        return UnrunnableSuite(spec, exc, window or Window(0, 0))


# --- running a suite ------------------------------------------------------------------------------


@dataclass
class SuiteResult:
    """A suite's run: the GX CheckpointResult plus its level and failures (with sample rows).

    `success` and `describe_dict()` are what GXValidateCheckpointOperator reads; a warning suite succeeds.
    """

    suite: str
    level: str
    failures: list[CheckFailure]
    checkpoint_result: Any | None
    window: Window
    skipped: str | None = None

    @property
    def success(self) -> bool:
        if self.level == WARNING:
            return True
        return not self.failures and (self.checkpoint_result is None or bool(self.checkpoint_result.success))

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        if not self.failures:
            return "passed"
        return "warned" if self.level == WARNING else "failed"

    def describe_dict(self) -> dict[str, Any]:
        described = dict(self.checkpoint_result.describe_dict()) if self.checkpoint_result is not None else {}
        described["success"] = self.success
        described["explosion_monitor"] = {
            "suite": self.suite,
            "level": self.level,
            "status": self.status,
            "skipped": self.skipped,
            "window": asdict(self.window),
            "failures": [f.as_dict() for f in self.failures],
        }
        return jsonable(described)


class UnrunnableSuite:
    """A warning suite that could not be set up: running it reports that as a warning and succeeds."""

    def __init__(self, spec: SuiteSpec, error: BaseException, window: Window) -> None:
        self.spec = spec
        self.name = spec.name
        self.error = error
        self.window = window

    def run(self, *args: Any, **kwargs: Any) -> SuiteResult:
        return _could_not_run(self.spec, self.error, self.window)


class SkippedSuite:
    """A suite with nothing to validate (a window without rows for row-wise checks): it passes, as skipped."""

    def __init__(self, spec: SuiteSpec, window: Window, reason: str) -> None:
        self.spec = spec
        self.name = spec.name
        self.window = window
        self.reason = reason

    def run(self, *args: Any, **kwargs: Any) -> SuiteResult:
        log.info("Suite %s (%s) skipped: %s.", self.spec.name, self.spec.level, self.reason)
        return SuiteResult(self.spec.name, self.spec.level, [], None, self.window, skipped=self.reason)


def _could_not_run(spec: SuiteSpec, error: BaseException, window: Window) -> SuiteResult:
    failure = CheckFailure(spec.name, "the suite could not run", None, one_line(error), [])
    log.warning("Warning suite %s could not run: %s", spec.name, failure.details)
    return SuiteResult(spec.name, spec.level, [failure], None, window)


class SuiteCheckpoint:
    """What checkpoint_factory returns: a GX Checkpoint that knows its suite's level and finds sample rows.

    Everything but run() is the GX Checkpoint's own (name, validation_definitions, actions, ...).
    """

    def __init__(
        self,
        checkpoint: Any,
        spec: SuiteSpec,
        *,
        schema: str,
        url: str,
        values: Mapping[str, Any],
        window: Window,
        skipped: str | None,
    ) -> None:
        self.checkpoint = checkpoint
        self.spec = spec
        self.schema = schema
        self.url = url
        self.values = values
        self.window = window
        self.skipped = skipped

    def __getattr__(self, name: str) -> Any:
        return getattr(self.checkpoint, name)

    def run(self, batch_parameters: Any = None, expectation_parameters: Any = None, run_id: Any = None) -> SuiteResult:
        spec = self.spec
        if isinstance(run_id, str):  # our pipeline's run id names the run in Data Docs
            from great_expectations.core.run_identifier import RunIdentifier

            run_id = RunIdentifier(run_name=run_id)
        try:
            result = self.checkpoint.run(
                batch_parameters=batch_parameters, expectation_parameters=expectation_parameters, run_id=run_id
            )
        except Exception as exc:
            if spec.level == BLOCKING:
                raise
            # A warning suite never fails a task: the problem becomes a warning of its own.
            return _could_not_run(spec, exc, self.window)
        failures = [self._failure(r) for v in result.run_results.values() for r in v.results if not r.success]
        outcome = SuiteResult(spec.name, spec.level, failures, result, self.window, self.skipped)
        self._log(outcome)
        return outcome

    def _log(self, outcome: SuiteResult) -> None:
        spec = self.spec
        if outcome.skipped:
            log.info("Suite %s (%s) skipped: %s.", spec.name, spec.level, outcome.skipped)
        elif not outcome.failures:
            log.info("Suite %s (%s) passed.", spec.name, spec.level)
        level = logging.ERROR if spec.level == BLOCKING else logging.WARNING
        kind = "Blocking check failed" if spec.level == BLOCKING else "Warning"
        for f in outcome.failures:
            log.log(level, "%s: %s", kind, f.sentence())
            for row in f.sample_rows:
                log.log(level, "    %s", json.dumps(row, ensure_ascii=False, default=str))

    def _failure(self, r: Any) -> CheckFailure:
        config = r.expectation_config
        kwargs = dict(config.kwargs)
        result = r.result or {}
        exception = raised(r.exception_info)
        label = config.description or config.type
        column = kwargs.get("column") or (
            "/".join(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs)
            or ", ".join(kwargs.get("column_list") or [])
            or None
        )
        if exception.get("raised_exception"):
            message = " ".join(str(exception.get("exception_message") or "unknown error").split())[:300]
            return CheckFailure(self.spec.name, label, column, f"{config.type} could not be evaluated: {message}", [])
        if "unexpected_rows_query" in kwargs:
            n = result.get("observed_value")
            details = f"{config.type}: {n} unexpected row{'s' if n != 1 else ''}"
            samples = self._sample_rows(kwargs["unexpected_rows_query"])
            return CheckFailure(self.spec.name, label, column, details, [redact_sample(r) for r in samples])
        if "unexpected_count" in result:
            share = result.get("unexpected_percent")
            pct = f" ({share:.2f}%)" if isinstance(share, (int, float)) else ""
            details = f"{config.type}: {result['unexpected_count']} of {result.get('element_count')} rows{pct}"
            samples = result.get("partial_unexpected_index_list") or [
                {"value": v} for v in result.get("partial_unexpected_list") or []
            ]
            rows = [redact_sample(r, column) for r in jsonable(list(samples)[:SAMPLE_ROWS])]
            return CheckFailure(self.spec.name, label, column, details, rows)
        details = f"{config.type}: observed {result.get('observed_value')!r}"
        return CheckFailure(self.spec.name, label, column, details, [])

    def _sample_rows(self, query: str) -> list[dict[str, Any]]:
        """The first few rows an unexpected-rows check found, by running its query once more."""
        spec = self.spec
        if spec.table:
            batch = f"{self.schema}.{spec.table}"  # both are plain lower-case names (checked on load)
        else:
            asset = fill(spec.query or "", self.values, spec, allow_batch=False)
            joined = re.search(r"\bjoin\b", query, re.IGNORECASE)
            batch = f"({asset})" if joined else f"({asset}) as subselect"
        try:
            text = query.format(batch=batch)
            with db.connect(self.url, autocommit=True) as conn:
                conn.execute(f"set statement_timeout = '{QUERY_TIMEOUT}'")
                conn.execute(sql.SQL("set search_path = {}").format(sql.Identifier(self.schema)))
                with conn.cursor(row_factory=dict_row) as cur:
                    rows = cur.execute(f"select * from ({text}) as voorbeeld limit {SAMPLE_ROWS}").fetchall()
        except (psycopg.Error, KeyError, IndexError, ValueError) as exc:
            return [{"sample_rows_unavailable": one_line(exc)}]
        return jsonable(rows)


def _gate_checkpoint(
    context: Any,
    specs: Sequence[SuiteSpec],
    *,
    schema: str,
    url: str | None,
    settings: Settings,
    render_docs: bool = True,
) -> GateCheckpoint:
    """Several suites as one checkpoint: one window, one Data Docs update for all of them (or none)."""
    target = ready.warehouse_url(settings, url)
    window = delivery_window(target, schema)
    ordered = sorted(specs, key=lambda s: (LEVELS.index(s.level), s.name))
    with _one_config_save(context, settings):
        checkpoints = [
            _prepare(context, spec, schema=schema, url=target, window=window, settings=settings, update_docs=False)
            for spec in ordered
        ]
    return GateCheckpoint(context, checkpoints, settings=settings, window=window, render_docs=render_docs)


@contextlib.contextmanager
def _one_config_save(context: Any, settings: Settings) -> Iterator[None]:
    """Write great_expectations.yml once after setting up several suites, not after every data source change.

    GX's file context rewrites the whole file (every data source, YAML-dumped) on each data source or asset
    change: three per suite, about half of a gate's set-up time. Its save takes no arguments (it writes the
    in-memory state), so one save at the end writes the same file.
    """
    save = getattr(context, "_save_project_config", None)
    if save is None:
        yield
        return
    pending: list[bool] = []
    context._save_project_config = lambda: pending.append(True)
    try:
        yield
    finally:
        del context._save_project_config  # the class's own method again
        if pending:
            with gx_lock(settings):
                context._save_project_config()


@dataclass
class GateRun:
    """The run of a GateCheckpoint: one SuiteResult per suite. `success` is False when a blocking suite failed."""

    results: list[SuiteResult]
    window: Window
    data_docs: Path | None = None

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    def gate(self) -> GateResult:
        return gate_from_results(self.describe_dict())

    def describe_dict(self) -> dict[str, Any]:
        suites = [r.describe_dict() for r in self.results]
        ours = [d["explosion_monitor"] for d in suites]
        failures = [f for o in ours if o["level"] == BLOCKING for f in o["failures"]]
        return jsonable(
            {
                "success": self.success,
                "statistics": {
                    "suites": len(suites),
                    "failed_blocking_checks": len(failures),
                },
                "validation_results": [v for d in suites for v in d.get("validation_results") or []],
                "data_docs": str(self.data_docs) if self.data_docs else None,
                "explosion_monitor": {"window": asdict(self.window), "suites": ours},
            }
        )


class GateCheckpoint:
    """What checkpoint_factory returns for several suites: their checkpoints (one validation definition each),
    run as one; Data Docs are rendered once for all of them. Never raises on a failed warning suite."""

    def __init__(
        self,
        context: Any,
        checkpoints: Sequence[SuiteCheckpoint | UnrunnableSuite | SkippedSuite],
        *,
        settings: Settings,
        window: Window,
        render_docs: bool = True,
    ) -> None:
        self.context = context
        self.checkpoints = list(checkpoints)
        self.settings = settings
        self.window = window
        self.render_docs = render_docs
        self.name = "gate_" + "_".join(c.name for c in self.checkpoints)[:80]

    @property
    def validation_definitions(self) -> list[Any]:
        return [v for c in self.checkpoints if isinstance(c, SuiteCheckpoint) for v in c.validation_definitions]

    def run(self, batch_parameters: Any = None, expectation_parameters: Any = None, run_id: Any = None) -> GateRun:
        results: list[SuiteResult] = []
        rendered: list[Any] = []
        try:
            for checkpoint in self.checkpoints:
                outcome = checkpoint.run(
                    batch_parameters=batch_parameters, expectation_parameters=expectation_parameters, run_id=run_id
                )
                results.append(outcome)
                if outcome.checkpoint_result is not None:
                    rendered.extend(outcome.checkpoint_result.run_results)
        finally:
            dispose_engines(self.context)
        docs: Path | None = None
        if not self.render_docs:
            return GateRun(results, self.window, docs)
        try:
            docs = update_data_docs(self.context, self.settings, rendered, [c.name for c in self.checkpoints])
        except Exception as exc:
            log.warning("Data Docs could not be updated: %s", one_line(exc))
        return GateRun(results, self.window, docs)


# --- the gate -------------------------------------------------------------------------------------


def run_gate(
    settings: Settings | None = None,
    url: str | None = None,
    schema: str = DEFAULT_SCHEMA,
    run_id: str | None = None,
    folder: Path | None = None,
    tables: Collection[str] | None = None,
) -> GateResult:
    """Run every suite in expectations/ (or `folder`) against `schema` (blocking suites first); never raises on a
    failed check. `run_id` (the pipeline's) names the validation run in Data Docs. With `tables`, only the suites
    of those tables run (an analysis run of some steps checks what those steps made).
    """
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    specs = load_suites(settings, folder)
    if tables is not None:
        specs = {name: spec for name, spec in specs.items() if spec.table in set(tables)}
    ordered = sorted(specs.values(), key=lambda s: (LEVELS.index(s.level), s.name))
    window = delivery_window(url, schema)
    context = file_context(settings)
    failures: list[CheckFailure] = []
    warnings: list[CheckFailure] = []
    statuses: dict[str, str] = {}
    rendered: list[Any] = []
    try:
        for spec in ordered:
            # Data Docs are rendered once for the whole gate below, not after every suite.
            checkpoint = _prepare(
                context, spec, schema=schema, url=url, window=window, settings=settings, update_docs=False
            )
            outcome = checkpoint.run(run_id=run_id)
            (failures if spec.level == BLOCKING else warnings).extend(outcome.failures)
            statuses[spec.name] = outcome.status
            if outcome.checkpoint_result is not None:
                rendered.extend(outcome.checkpoint_result.run_results)
    finally:
        dispose_engines(context)
    return GateResult(
        passed=not failures,
        failures=failures,
        warnings=warnings,
        data_docs=update_data_docs(context, settings, rendered, [s.name for s in ordered]),
        suites=statuses,
        window=window,
    )
