"""The quality gate: the Great Expectations suites in `expectations/`, run with GX 1.x on PostgreSQL.

Each file `expectations/<suite>.yml` is one suite, readable in review: its level (`blocking` catches data
that is wrong and stops publication; `warning` catches data that is surprising and is only reported), the
table or query it validates, and its expectations in GX's own shape (`type`, `kwargs`, `description`).
`expectations/README.md` lists them.

The suites are turned into GX objects only when a check runs (never when a DAG file is parsed: importing
great_expectations costs seconds), in a file data context under `.data/gx/` so that every validation result
is kept and rendered into Data Docs (`data_docs_index()`). The CLI (`run_gate`) and the Airflow DAGs
(`GXValidateCheckpointOperator(configure_checkpoint=checkpoint_factory(...), context_type="file",
configure_file_data_context=file_context)`) run the same suites through the same code: the `warehouse` DAG
runs `checkpoint_factory(level=BLOCKING)` (one checkpoint, a validation definition per blocking suite) and
`checkpoint_factory(level=WARNING)`, both resolved from expectations/ when the task runs.

Tables are named without a schema in the suites: they resolve in the schema under validation (`build` by
default) through the connection's search_path. The raw suites validate the deliveries since the last
publication: `{vanaf_file_id}` and `{tot_en_met_file_id}` are filled in when the check runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor import db
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import ready
from explosion_monitor.erasure import redact_sample
from explosion_monitor.locks import file_lock

log = logging.getLogger(__name__)

BLOCKING = "blocking"
WARNING = "warning"
LEVELS = (BLOCKING, WARNING)
DEFAULT_SCHEMA = "build"
SAMPLE_ROWS = 5
# Validation results (and their Data Docs pages) kept per suite; older ones are removed.
KEEP_RESULTS_PER_SUITE = 100
# A follow-up query for sample rows, or a GX query waiting for a lock (dbt rewriting a table), gives up after this.
_QUERY_TIMEOUT = "60s"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")
# Every {batch} carries an alias: GX fills in a subquery, and PostgreSQL 15 rejects one in FROM without an alias.
_BATCH = re.compile(r"(?<!\{)\{batch\}(?!\})(\s+as\s+[a-z_][a-z0-9_]*\b)?", re.IGNORECASE)
_SUITE_KEYS = {"suite", "level", "description", "asset", "expectations", "parameters", "requires"}
_ASSET_KEYS = {"table", "query", "id_columns"}
_EXPECTATION_KEYS = {"type", "kwargs", "description", "notes"}


class SuiteError(ValueError):
    """A suite file in expectations/ cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class CheckFailure:
    """One expectation that did not hold: which suite and check, on which column, how, and example rows."""

    suite: str
    expectation: str
    column: str | None
    details: str
    sample_rows: list[dict[str, Any]] = field(default_factory=list)

    def sentence(self) -> str:
        return f"{self.suite}: {self.expectation.rstrip('.')} ({self.details})"

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Window:
    """The deliveries (ledger file ids) the raw suites look at: after the last publication, up to now."""

    vanaf_file_id: int
    tot_en_met_file_id: int


@dataclass
class GateResult:
    """The outcome of all suites; `passed` is False when any blocking check failed."""

    passed: bool
    failures: list[CheckFailure]
    warnings: list[CheckFailure]
    data_docs: Path | None
    # suite -> passed | failed | warned | skipped
    suites: dict[str, str] = field(default_factory=dict)
    window: Window | None = None

    def sentence(self) -> str:
        """One sentence naming the failed blocking checks (or saying that none failed)."""
        if not self.failures:
            return f"All blocking checks passed ({len(self.warnings)} warning(s))."
        named = "; ".join(f.sentence() for f in self.failures[:6])
        more = f"; and {len(self.failures) - 6} more" if len(self.failures) > 6 else ""
        return f"{len(self.failures)} blocking check(s) failed: {named}{more}."

    def report(self) -> str:
        """Every failed check and warning with its sample rows, for a terminal or a task log."""
        lines: list[str] = []
        for title, items in (("Blocking checks failed", self.failures), ("Warnings", self.warnings)):
            if not items:
                continue
            lines.append(f"{title}:")
            for f in items:
                lines.append(f"  - {f.sentence()}")
                lines.extend(f"      {json.dumps(row, ensure_ascii=False, default=str)}" for row in f.sample_rows)
        if self.data_docs:
            lines.append(f"Data Docs: {self.data_docs}")
        return "\n".join(lines)


# --- the suite files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    level: str
    description: str
    path: Path
    table: str | None
    query: str | None
    id_columns: tuple[str, ...]
    requires: tuple[str, ...]
    parameters: Mapping[str, Any]
    expectations: tuple[Mapping[str, Any], ...]

    def values(self, window: Window, schema: str) -> dict[str, Any]:
        """What the placeholders in this suite's queries stand for in this run."""
        return {
            **self.parameters,
            "schema": schema,
            "vanaf_file_id": window.vanaf_file_id,
            "tot_en_met_file_id": window.tot_en_met_file_id,
        }


def _fail(path: Path, problem: str) -> SuiteError:
    return SuiteError(f"{path.name}: {problem}")


def _load_suite(path: Path) -> SuiteSpec:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(doc, dict):
        raise _fail(path, "must hold a mapping with suite, level, asset and expectations")
    unknown = set(doc) - _SUITE_KEYS
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(sorted(unknown))}")
    name = doc.get("suite")
    if name != path.stem:
        raise _fail(path, f"suite must be named after its file ({path.stem!r}), not {name!r}")
    level = doc.get("level")
    if level not in LEVELS:
        raise _fail(path, f"level must be blocking or warning, not {level!r}")
    asset = doc.get("asset")
    if not isinstance(asset, dict) or set(asset) - _ASSET_KEYS or ("table" in asset) == ("query" in asset):
        raise _fail(path, "asset must have either table or query (and optionally id_columns)")
    table = asset.get("table")
    if table is not None and not _IDENTIFIER.match(str(table)):
        raise _fail(path, f"asset table must be a plain table name, not {table!r}")
    expectations = doc.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise _fail(path, "expectations must be a non-empty list")
    for n, exp in enumerate(expectations, start=1):
        if not isinstance(exp, dict) or set(exp) - _EXPECTATION_KEYS:
            raise _fail(path, f"expectation {n} may only have type, kwargs, description and notes")
        if not isinstance(exp.get("type"), str) or not isinstance(exp.get("kwargs", {}), dict):
            raise _fail(path, f"expectation {n} needs a type and kwargs as a mapping")
        if not isinstance(exp.get("description"), str) or not exp["description"].strip():
            raise _fail(path, f"expectation {n} ({exp['type']}) needs a description saying what it checks")
        query = (exp.get("kwargs") or {}).get("unexpected_rows_query")
        if isinstance(query, str) and any(m.group(1) is None for m in _BATCH.finditer(query)):
            raise _fail(
                path,
                f"expectation {n}: write {{batch}} as <alias> (PostgreSQL 15 rejects a subquery in FROM without an alias)",
            )
    parameters = doc.get("parameters") or {}
    requires = doc.get("requires") or []
    if not isinstance(parameters, dict) or not isinstance(requires, list):
        raise _fail(path, "parameters must be a mapping and requires a list of schema.table names")
    if requires and level == BLOCKING:
        raise _fail(path, "only a warning suite may have requires: a blocking suite is never skipped")
    return SuiteSpec(
        name=name,
        level=level,
        description=" ".join(str(doc.get("description") or "").split()),
        path=path,
        table=table,
        query=asset.get("query"),
        id_columns=tuple(asset.get("id_columns") or ()),
        requires=tuple(str(r) for r in requires),
        parameters=dict(parameters),
        expectations=tuple(expectations),
    )


def load_suites(settings: Settings | None = None, folder: Path | None = None) -> dict[str, SuiteSpec]:
    """Every suite in expectations/ (or `folder`, e.g. the analysis run's), by name; cheap (YAML only, no GX)."""
    settings = settings or get_settings()
    folder = folder or settings.expectations_dir
    paths = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    if not paths:
        raise SuiteError(f"No suites found in {folder}.")
    return {spec.name: spec for spec in map(_load_suite, paths)}


def blocking_suites(settings: Settings | None = None) -> list[str]:
    """Suites whose failure stops publication: they catch data that is wrong."""
    return [n for n, s in load_suites(settings).items() if s.level == BLOCKING]


def warning_suites(settings: Settings | None = None) -> list[str]:
    """Suites whose failures are reported but never stop publication: they catch data that is surprising."""
    return [n for n, s in load_suites(settings).items() if s.level == WARNING]


def _fill(text: str, values: Mapping[str, Any], spec: SuiteSpec, *, allow_batch: bool) -> str:
    """Put this run's values into {name} placeholders; {batch} is left for GX, {{ and }} stay escaped."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "batch" and allow_batch:
            return match.group(0)
        if name not in values:
            raise _fail(spec.path, f"unknown placeholder {{{name}}} (known: {', '.join(sorted(values))})")
        return str(values[name])

    return _PLACEHOLDER.sub(substitute, text)


# --- connections ----------------------------------------------------------------------------------


def _connection_env(url: str) -> str:
    """An environment variable holding the SQLAlchemy URL, so the GX config on disk never holds a password."""
    key = "EM_GX_WAREHOUSE_" + hashlib.sha1(url.encode()).hexdigest()[:12].upper()
    os.environ[key] = db.sqlalchemy_url(url)
    return key


def delivery_window(url: str) -> Window:
    """From the last published delivery (marts.publicatie) to the newest file in the ledger."""
    with db.connect(url, autocommit=True) as conn:
        vanaf = 0
        if conn.execute("select to_regclass('marts.publicatie') is not null").fetchone()[0]:
            vanaf = conn.execute("select coalesce(max(tot_en_met_file_id), 0) from marts.publicatie").fetchone()[0]
        tot = conn.execute("select coalesce(max(file_id), 0) from ops.ledger").fetchone()[0]
    return Window(int(vanaf), int(max(tot, vanaf)))


def _missing_relations(url: str, names: Sequence[str]) -> list[str]:
    if not names:
        return []
    with db.connect(url, autocommit=True) as conn:
        return [n for n in names if conn.execute("select to_regclass(%s) is null", (n,)).fetchone()[0]]


# --- the GX file data context ---------------------------------------------------------------------


def gx_root(settings: Settings) -> Path:
    """Where the file data context lives (git-ignored): suites as GX stores them, results, Data Docs."""
    return settings.gx_dir


def _gx_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """GX rewrites great_expectations.yml in place; parallel tasks must not read it half-written."""
    return file_lock(settings.data_dir / ".gx.lock")


def _quiet_gx() -> None:
    """No network (no analytics); GX's own chatter stays out of task logs (our suite outcomes are logged)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)


def file_context(settings: Settings | None = None) -> Any:
    """The GX file data context in `.data/gx/` (for `configure_file_data_context=`); imports GX."""
    settings = settings or get_settings()
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = gx_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    with _gx_lock(settings):
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


def _prune_results(settings: Settings, suite: str, keep: int = KEEP_RESULTS_PER_SUITE) -> None:
    """Keep the newest `keep` validation results of a suite, and their Data Docs pages (caller holds the lock)."""
    base = gx_root(settings) / "gx" / "uncommitted"
    runs = sorted((base / "validations" / suite).glob("*/*"), key=lambda p: p.name)  # <run name>/<run time>
    for run in runs[: max(len(runs) - keep, 0)]:
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(
            base / "data_docs" / "local_site" / "validations" / suite / run.parent.name / run.name, ignore_errors=True
        )


# --- suites as GX objects -------------------------------------------------------------------------


def _gx_batch_query(query: str) -> str:
    """The query as GX must see it so that every {batch} ends up with exactly one alias, on any PostgreSQL.

    GX fills {batch} with `(select ...)` when the query has a JOIN (the author aliases it), and with
    `(select ...) AS subselect` otherwise, where the suite's own alias would be a second one. There each
    `{batch} as x` becomes `(select * from {batch}) as x`: GX's subselect inside, the suite's alias outside.
    """
    from great_expectations.expectations.metrics.query_metric_provider import _query_has_join_clause

    if _query_has_join_clause(query):
        return query
    return _BATCH.sub(lambda m: f"(select * from {{batch}}){m.group(1)}", query)


def _gx_expectations(spec: SuiteSpec, values: Mapping[str, Any]) -> list[Any]:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.metadata_types import FailureSeverity

    severity = FailureSeverity.CRITICAL if spec.level == BLOCKING else FailureSeverity.WARNING
    out = []
    for n, exp in enumerate(spec.expectations, start=1):
        kwargs = dict(exp.get("kwargs") or {})
        if isinstance(kwargs.get("unexpected_rows_query"), str):
            kwargs["unexpected_rows_query"] = _gx_batch_query(
                _fill(kwargs["unexpected_rows_query"], values, spec, allow_batch=True)
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
            raise _fail(spec.path, f"expectation {n} ({exp['type']}) is not valid: {reason}") from None
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

    if not _IDENTIFIER.match(schema):
        raise ValueError(f"The schema to validate must be a plain name, not {schema!r}.")
    values = spec.values(window, schema)
    missing = _missing_relations(url, spec.requires)
    expectations = [] if missing else _gx_expectations(spec, values)
    asset_name = spec.table or "leveringen"
    options = f"-c search_path={schema} -c lock_timeout={_QUERY_TIMEOUT}"
    with _gx_lock(settings):
        _prune_results(settings, spec.name)
        source = context.data_sources.add_or_update_postgres(
            name=spec.name,
            connection_string="${" + _connection_env(url) + "}",
            kwargs={"connect_args": {"options": options, "application_name": f"explosion-monitor gate {spec.name}"}},
        )
        if asset_name in source.get_asset_names():
            source.delete_asset(asset_name)
        if spec.table:
            asset = source.add_table_asset(name=asset_name, table_name=spec.table)
        else:
            query = _fill(spec.query or "", values, spec, allow_batch=False).strip().rstrip(";")
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
) -> Callable[[Any], SuiteCheckpoint | UnrunnableSuite | GateCheckpoint]:
    """`configure_checkpoint=` for GXValidateCheckpointOperator; suites are read and built when the task runs.

    `suites` is one suite (a SuiteCheckpoint, as before) or a list of suites (one GateCheckpoint with a
    validation definition per suite); `level=` (blocking or warning) instead names every suite of that level
    in expectations/, resolved when the task runs. A failed blocking suite makes the result unsuccessful (the
    operator raises GXValidationFailed); a warning suite's result is always successful, its failures are logged
    as warnings (no traceback).
    """
    if (suites is None) == (level is None):
        raise ValueError("checkpoint_factory needs either suites or level.")
    if level is not None and level not in LEVELS:
        raise ValueError(f"level must be blocking or warning, not {level!r}")
    single = isinstance(suites, str)

    def configure_checkpoint(context: Any) -> SuiteCheckpoint | UnrunnableSuite | GateCheckpoint:
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
        return _gate_checkpoint(context, [specs[n] for n in names], schema=schema, url=url, settings=settings)

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
) -> SuiteCheckpoint | UnrunnableSuite:
    """The suite's checkpoint; a warning suite that cannot even be set up becomes a warning, not an error."""
    try:
        target = ready.warehouse_url(settings, url)
        window = window or delivery_window(target)
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
        return _jsonable(described)


class UnrunnableSuite:
    """A warning suite that could not be set up: running it reports that as a warning and succeeds."""

    def __init__(self, spec: SuiteSpec, error: BaseException, window: Window) -> None:
        self.spec = spec
        self.name = spec.name
        self.error = error
        self.window = window

    def run(self, *args: Any, **kwargs: Any) -> SuiteResult:
        return _could_not_run(self.spec, self.error, self.window)


def _could_not_run(spec: SuiteSpec, error: BaseException, window: Window) -> SuiteResult:
    failure = CheckFailure(spec.name, "the suite could not run", None, _one_line(error), [])
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
        exception = _raised(r.exception_info)
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
            rows = [redact_sample(r, column) for r in _jsonable(list(samples)[:SAMPLE_ROWS])]
            return CheckFailure(self.spec.name, label, column, details, rows)
        details = f"{config.type}: observed {result.get('observed_value')!r}"
        return CheckFailure(self.spec.name, label, column, details, [])

    def _sample_rows(self, query: str) -> list[dict[str, Any]]:
        """The first few rows an unexpected-rows check found, by running its query once more."""
        spec = self.spec
        if spec.table:
            batch = f"{self.schema}.{spec.table}"  # both are plain lower-case names (checked on load)
        else:
            asset = _fill(spec.query or "", self.values, spec, allow_batch=False)
            joined = re.search(r"\bjoin\b", query, re.IGNORECASE)
            batch = f"({asset})" if joined else f"({asset}) as subselect"
        try:
            text = query.format(batch=batch)
            with db.connect(self.url, autocommit=True) as conn:
                conn.execute(f"set statement_timeout = '{_QUERY_TIMEOUT}'")
                conn.execute(sql.SQL("set search_path = {}").format(sql.Identifier(self.schema)))
                with conn.cursor(row_factory=dict_row) as cur:
                    rows = cur.execute(f"select * from ({text}) as voorbeeld limit {SAMPLE_ROWS}").fetchall()
        except (psycopg.Error, KeyError, IndexError, ValueError) as exc:
            return [{"sample_rows_unavailable": _one_line(exc)}]
        return _jsonable(rows)


def _gate_checkpoint(
    context: Any, specs: Sequence[SuiteSpec], *, schema: str, url: str | None, settings: Settings
) -> GateCheckpoint:
    """Several suites as one checkpoint: one window, one Data Docs update for all of them."""
    target = ready.warehouse_url(settings, url)
    window = delivery_window(target)
    ordered = sorted(specs, key=lambda s: (LEVELS.index(s.level), s.name))
    checkpoints = [
        _prepare(context, spec, schema=schema, url=target, window=window, settings=settings, update_docs=False)
        for spec in ordered
    ]
    return GateCheckpoint(context, checkpoints, settings=settings, window=window)


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
        return _jsonable(
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
        checkpoints: Sequence[SuiteCheckpoint | UnrunnableSuite],
        *,
        settings: Settings,
        window: Window,
    ) -> None:
        self.context = context
        self.checkpoints = list(checkpoints)
        self.settings = settings
        self.window = window
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
            _dispose_engines(self.context)
        docs: Path | None = None
        try:
            docs = _update_data_docs(self.context, self.settings, rendered, [c.name for c in self.checkpoints])
        except Exception as exc:
            log.warning("Data Docs could not be updated: %s", _one_line(exc))
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
    window = delivery_window(url)
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
        _dispose_engines(context)
    return GateResult(
        passed=not failures,
        failures=failures,
        warnings=warnings,
        data_docs=_update_data_docs(context, settings, rendered, [s.name for s in ordered]),
        suites=statuses,
        window=window,
    )


def _update_data_docs(context: Any, settings: Settings, results: list[Any], suites: list[str]) -> Path:
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    identifiers = [*results, *(ExpectationSuiteIdentifier(name=name) for name in suites)]
    with _gx_lock(settings):
        context.build_data_docs(resource_identifiers=identifiers)
    return data_docs_index(settings)


def gate_from_results(results: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]]) -> GateResult:
    """A GateResult from the describe_dict()s the GX tasks of a DAG pushed to XCom (for the publish task)."""
    items = results.values() if isinstance(results, Mapping) else results
    failures: list[CheckFailure] = []
    warnings: list[CheckFailure] = []
    statuses: dict[str, str] = {}
    windows: list[Window] = []
    if isinstance(results, Mapping) and "explosion_monitor" in results:  # one task's describe_dict
        items = [results]
    flat: list[Mapping[str, Any]] = []
    for described in items:
        ours = (described or {}).get("explosion_monitor") or {}
        if "suites" in ours:  # a GateCheckpoint's result: one entry per suite
            flat.extend({"explosion_monitor": s} for s in ours["suites"])
        else:
            flat.append(described or {})
    for described in flat:
        ours = described.get("explosion_monitor") or {}
        if not ours:
            continue
        statuses[ours["suite"]] = ours["status"]
        found = [CheckFailure(**f) for f in ours.get("failures") or []]
        (failures if ours["level"] == BLOCKING else warnings).extend(found)
        if ours.get("window"):
            windows.append(Window(**ours["window"]))
    window = min(windows, key=lambda w: w.tot_en_met_file_id) if windows else None
    return GateResult(not failures, failures, warnings, data_docs=None, suites=statuses, window=window)


def _dispose_engines(context: Any) -> None:
    """Close the connections GX pooled, so nothing lingers on the warehouse after the gate."""
    with contextlib.suppress(Exception):
        for source in context.data_sources.all().values():
            engine = getattr(source, "_engine", None)
            if engine is not None:
                engine.dispose()


# --- small helpers --------------------------------------------------------------------------------


def _raised(info: Any) -> dict[str, Any]:
    """The exception GX caught while evaluating an expectation, if any (flat, or keyed by metric)."""
    if not isinstance(info, Mapping):
        return {}
    if "raised_exception" in info:
        return dict(info) if info.get("raised_exception") else {}
    return next((dict(v) for v in info.values() if isinstance(v, Mapping) and v.get("raised_exception")), {})


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _jsonable(value: Any) -> Any:
    """Plain JSON types (for XCom, jsonb and logs): dates as ISO text, decimals as numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
