"""The suite files in expectations/ (YAML only, no GX) and the gate's outcome as plain data."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from explosion_monitor.config import Settings, get_settings

log = logging.getLogger(__name__)

BLOCKING = "blocking"
WARNING = "warning"
LEVELS = (BLOCKING, WARNING)
DEFAULT_SCHEMA = "build"
SAMPLE_ROWS = 5
# Validation results (and their Data Docs pages) kept per suite; older ones are removed. GX rebuilds the Data Docs
# index from every stored result at each gate: at 100 per suite (20 suites) that took 2.5 s of each GX task, at 10
# 0.6 s. Each gate's failed checks and warnings stay as data in ops.publication_log.
KEEP_RESULTS_PER_SUITE = 10
# A follow-up query for sample rows, or a GX query waiting for a lock (dbt rewriting a table), gives up after this.
QUERY_TIMEOUT = "60s"
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")
# Every {batch} carries an alias: GX fills in a subquery, and PostgreSQL 15 rejects one in FROM without an alias.
BATCH = re.compile(r"(?<!\{)\{batch\}(?!\})(\s+as\s+[a-z_][a-z0-9_]*\b)?", re.IGNORECASE)
#: Expectation types that judge each row on its own (GX map expectations); they hold on zero rows.
ROW_WISE_TYPES = (
    "expect_column_values_",
    "expect_column_value_lengths_",
    "expect_column_pair_values_",
    "expect_multicolumn_values_",
)
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
        return jsonable(asdict(self))


@dataclass(frozen=True)
class Window:
    """The deliveries (ledger file ids) the raw suites look at: after the last publication, up to the build's
    window (the newest file when the build started)."""

    vanaf_file_id: int
    tot_en_met_file_id: int

    def files(self) -> str:
        if self.tot_en_met_file_id <= self.vanaf_file_id:
            return f"no files after file {self.vanaf_file_id}"
        return f"files {self.vanaf_file_id + 1} to {self.tot_en_met_file_id}"


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

    @property
    def row_wise(self) -> bool:
        """Every expectation is checked row by row (column values, column pairs, multicolumn values): on a batch
        without rows they all hold, so an empty batch need not be validated at all."""
        return all(str(e.get("type", "")).startswith(ROW_WISE_TYPES) for e in self.expectations)

    def values(self, window: Window, schema: str) -> dict[str, Any]:
        """What the placeholders in this suite's queries stand for in this run."""
        return {
            **self.parameters,
            "schema": schema,
            "vanaf_file_id": window.vanaf_file_id,
            "tot_en_met_file_id": window.tot_en_met_file_id,
        }


def fail(path: Path, problem: str) -> SuiteError:
    return SuiteError(f"{path.name}: {problem}")


def load_suite(path: Path) -> SuiteSpec:
    try:
        # libyaml's safe loader where PyYAML has it: the same documents, a tenth of the time (each GX task
        # reads every suite file when it starts).
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise fail(path, f"not valid YAML ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(doc, dict):
        raise fail(path, "must hold a mapping with suite, level, asset and expectations")
    unknown = set(doc) - _SUITE_KEYS
    if unknown:
        raise fail(path, f"unknown key(s) {', '.join(sorted(unknown))}")
    name = doc.get("suite")
    if name != path.stem:
        raise fail(path, f"suite must be named after its file ({path.stem!r}), not {name!r}")
    level = doc.get("level")
    if level not in LEVELS:
        raise fail(path, f"level must be blocking or warning, not {level!r}")
    asset = doc.get("asset")
    if not isinstance(asset, dict) or set(asset) - _ASSET_KEYS or ("table" in asset) == ("query" in asset):
        raise fail(path, "asset must have either table or query (and optionally id_columns)")
    table = asset.get("table")
    if table is not None and not IDENTIFIER.match(str(table)):
        raise fail(path, f"asset table must be a plain table name, not {table!r}")
    expectations = doc.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise fail(path, "expectations must be a non-empty list")
    for n, exp in enumerate(expectations, start=1):
        if not isinstance(exp, dict) or set(exp) - _EXPECTATION_KEYS:
            raise fail(path, f"expectation {n} may only have type, kwargs, description and notes")
        if not isinstance(exp.get("type"), str) or not isinstance(exp.get("kwargs", {}), dict):
            raise fail(path, f"expectation {n} needs a type and kwargs as a mapping")
        if not isinstance(exp.get("description"), str) or not exp["description"].strip():
            raise fail(path, f"expectation {n} ({exp['type']}) needs a description saying what it checks")
        query = (exp.get("kwargs") or {}).get("unexpected_rows_query")
        if isinstance(query, str) and any(m.group(1) is None for m in BATCH.finditer(query)):
            raise fail(
                path,
                f"expectation {n}: write {{batch}} as <alias> (PostgreSQL 15 rejects a subquery in FROM without an alias)",
            )
    parameters = doc.get("parameters") or {}
    requires = doc.get("requires") or []
    if not isinstance(parameters, dict) or not isinstance(requires, list):
        raise fail(path, "parameters must be a mapping and requires a list of schema.table names")
    if requires and level == BLOCKING:
        raise fail(path, "only a warning suite may have requires: a blocking suite is never skipped")
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
    return {spec.name: spec for spec in map(load_suite, paths)}


def blocking_suites(settings: Settings | None = None) -> list[str]:
    """Suites whose failure stops publication: they catch data that is wrong."""
    return [n for n, s in load_suites(settings).items() if s.level == BLOCKING]


def warning_suites(settings: Settings | None = None) -> list[str]:
    """Suites whose failures are reported but never stop publication: they catch data that is surprising."""
    return [n for n, s in load_suites(settings).items() if s.level == WARNING]


def fill(text: str, values: Mapping[str, Any], spec: SuiteSpec, *, allow_batch: bool) -> str:
    """Put this run's values into {name} placeholders; {batch} is left for GX, {{ and }} stay escaped."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "batch" and allow_batch:
            return match.group(0)
        if name not in values:
            raise fail(spec.path, f"unknown placeholder {{{name}}} (known: {', '.join(sorted(values))})")
        return str(values[name])

    return _PLACEHOLDER.sub(substitute, text)


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


# --- small helpers --------------------------------------------------------------------------------


def raised(info: Any) -> dict[str, Any]:
    """The exception GX caught while evaluating an expectation, if any (flat, or keyed by metric)."""
    if not isinstance(info, Mapping):
        return {}
    if "raised_exception" in info:
        return dict(info) if info.get("raised_exception") else {}
    return next((dict(v) for v in info.values() if isinstance(v, Mapping) and v.get("raised_exception")), {})


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def jsonable(value: Any) -> Any:
    """Plain JSON types (for XCom, jsonb and logs): dates as ISO text, decimals as numbers."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
