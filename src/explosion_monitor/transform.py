"""dbt, run from Python: build the marts, check source freshness, keep the results as data.

dbt runs in-process (`dbtRunner`) on the project in `settings.dbt_project_dir`, with its target/ and
logs/ folders inside that project (both git-ignored) and without any network access. The connection
comes from the environment variables profiles.yml reads (EM_DB_*), which `dbt_env` derives from a
PostgreSQL URL. After every build, its node results are written into ops.dbt_run_results, so "what ran and
what failed" is a query. Builds run with --no-write-json: dbt would otherwise write manifest.json twice and
run_results.json once per build (about half a second of a per-drop build); the results come from dbt's
result object instead.

When the warehouse has the role em_transformer with the rights to build (see schema._grant), dbt sets
that role after connecting: it can read raw, ops and ref and write only its own build schemas.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from explosion_monitor import db
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import ready

TRANSFORM_ROLE = "em_transformer"
DEFAULT_SCHEMA = "build"
# What the pipeline builds after every drop: everything except the data tests over the whole police
# history (tag volledige_historie); see dbt_project/selectors.yml.
PER_DROP_SELECTOR = "per_levering"
#: dbt commands that run nodes: their results are kept (ops.dbt_run_results), no JSON artefacts written.
RUNS_NODES = ("build", "run", "test", "seed", "snapshot")
# The build's delivery window (a one-row dbt model): the newest file id in the ledger when the build started.
# The ledger view and the staging views over raw tables stop at it (macro binnen_leveringsvenster); the gate and
# the publication take their window from it (quality.delivery_window).
WINDOW_MODEL = "stg_ops__leveringsvenster"


def window_relation(schema: str = DEFAULT_SCHEMA) -> tuple[str, str]:
    """(schema, table) of the delivery window of a build into `schema` (staging models land in <schema>_staging)."""
    return f"{schema}_staging", WINDOW_MODEL


_ENV_LOCK = threading.Lock()  # dbt reads os.environ; one invocation at a time per process


class TransformError(RuntimeError):
    """A dbt build failed; the message is one sentence naming what failed."""


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str
    status: str
    execution_time_s: float
    rows_affected: int | None
    message: str | None
    failures: int | None


@dataclass
class DbtResult:
    command: str
    success: bool
    invocation_id: str | None
    elapsed_s: float
    nodes: list[NodeResult] = field(default_factory=list)
    role: str | None = None
    generated_at: dt.datetime | None = None

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]

    @property
    def warned(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status == "warn"]


# --- environment -------------------------------------------------------------------------------


def dbt_env(url: str, schema: str | None = None, role: str | None = None) -> dict[str, str]:
    """The EM_DB_* variables profiles.yml reads, from a PostgreSQL URL (postgresql://user:pw@host:port/db)."""
    parts = urlsplit(url)
    if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise TransformError(f"The warehouse URL must start with postgresql://, not {parts.scheme or 'nothing'}://.")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise TransformError("The warehouse URL must name a database, as in postgresql://user@host:5432/dbname.")
    return {
        "EM_DB_HOST": parts.hostname or "127.0.0.1",
        "EM_DB_PORT": str(parts.port or 5432),
        "EM_DB_USER": unquote(parts.username or "postgres"),
        "EM_DB_PASSWORD": unquote(parts.password or ""),
        "EM_DB_NAME": database,
        "EM_DBT_SCHEMA": schema or get_settings().dbt_schema or DEFAULT_SCHEMA,
        "EM_DB_ROLE": role or "",
    }


#: dbt.log keeps warnings and errors only, unless DBT_LOG_LEVEL_FILE says otherwise (debug: every statement).
#: At dbt's default (debug) a per-drop build writes about 14,000 lines (0.7 MB), each with two stat calls, two
#: formattings and a flush: 0.2-0.35 s of the build's CPU. What every node did is kept as data
#: (ops.dbt_run_results), the SQL each ran in target/run/.
LOG_DEFAULTS = {"DBT_LOG_LEVEL_FILE": "warn"}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    quiet = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false"}
    with _ENV_LOCK:
        keys = (*values, *quiet, *LOG_DEFAULTS)
        saved = {k: v for k, v in os.environ.items() if k in keys}
        os.environ.update({k: v for k, v in LOG_DEFAULTS.items() if k not in saved})
        os.environ.update(quiet)
        os.environ.update(values)
        try:
            yield
        finally:
            for key in keys:
                os.environ.pop(key, None)
            os.environ.update(saved)


def transform_role(url: str, schema: str = DEFAULT_SCHEMA) -> str | None:
    """em_transformer when this login may act as it and it can build here; otherwise None (build as the login).

    It cannot build when it lacks CREATE on the database, or when a build schema or a table in one exists that
    it may not replace (made by an earlier build as another user).
    """
    from explosion_monitor.access import role as role_name

    with db.connect(url, autocommit=True) as conn:
        transformer = role_name(conn, TRANSFORM_ROLE)
        row = conn.execute(
            """
            select
                pg_has_role(current_user, r.oid, 'member')
                and has_database_privilege(r.oid, current_database(), 'CREATE')
                and not exists (
                    select 1 from pg_namespace n
                    where (n.nspname = %(schema)s or n.nspname like %(prefix)s)
                      and not has_schema_privilege(r.oid, n.oid, 'CREATE')
                )
                and not exists (
                    select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where (n.nspname = %(schema)s or n.nspname like %(prefix)s)
                      and not pg_has_role(r.oid, c.relowner, 'USAGE')
                )
            from pg_roles r where r.rolname = %(role)s
            """,
            {"role": transformer, "schema": schema, "prefix": schema.replace("_", r"\_") + r"\_%"},
        ).fetchone()
    return transformer if row and row[0] else None


# --- running dbt ---------------------------------------------------------------------------------


def _dbt_args(command: Sequence[str], project: Path, target_dir: Path) -> list[str]:
    return [
        *command,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(target_dir),
        "--log-path", str(project / "logs"),
        "--no-use-colors",
        "--quiet",
    ]  # fmt: skip


def run_dbt(
    command: Sequence[str],
    settings: Settings | None = None,
    url: str | None = None,
    schema: str | None = None,
    role: str | bool | None = True,
    target_dir: Path | None = None,
) -> tuple[Any, DbtResult]:
    """Run one dbt command in-process; returns (dbtRunnerResult, DbtResult). Does not raise on failure.

    role=True picks em_transformer when it can build (transform_role), False/None builds as the login,
    and a string names the role. target_dir defaults to dbt_project/target; a warehouse of its own may
    keep its own (dbt re-parses the project whenever the connection differs from the last run's).
    """
    from dbt.cli.main import dbtRunner
    from dbt_common.invocation import get_invocation_id

    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    schema = schema or settings.dbt_schema or DEFAULT_SCHEMA
    chosen = transform_role(url, schema) if role is True else (role or None)
    project = settings.dbt_project_dir
    target_dir = target_dir or project / "target"
    started = time.monotonic()
    runs_nodes = command[0] in RUNS_NODES
    with _environment(dbt_env(url, schema=schema, role=chosen)):
        res = dbtRunner().invoke(
            _dbt_args([*command, *(["--no-write-json"] if runs_nodes else [])], project, target_dir)
        )
        invocation_id = get_invocation_id()
    result = DbtResult(
        command=" ".join(command),
        success=bool(res.success),
        invocation_id=invocation_id,
        elapsed_s=time.monotonic() - started,
        role=chosen,
    )
    if runs_nodes and res.result is not None:
        result.generated_at = res.result.generated_at.replace(tzinfo=dt.UTC)
        result.nodes = [_node(r) for r in res.result.results]
    if res.exception is not None and not result.nodes:
        result.success = False
    return res, result


def _node(r: Any) -> NodeResult:
    """One node of dbt's RunExecutionResult."""
    rows = (r.adapter_response or {}).get("rows_affected")
    unique_id = r.node.unique_id
    return NodeResult(
        unique_id=unique_id,
        resource_type=unique_id.split(".", 1)[0],
        status=str(r.status),
        execution_time_s=float(r.execution_time or 0.0),
        rows_affected=int(rows) if isinstance(rows, int) and rows >= 0 else None,
        message=r.message,
        failures=r.failures,
    )


def record_run_results(url: str, result: DbtResult) -> int:
    """Write a run's node results into ops.dbt_run_results (idempotent); returns the rows inserted."""
    rows = [
        (result.invocation_id, n.unique_id, n.resource_type, n.status, n.execution_time_s, n.rows_affected,
         n.message, n.failures, result.generated_at)
        for n in result.nodes
    ]  # fmt: skip
    if not rows or not result.invocation_id:
        return 0
    with db.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            """
            insert into ops.dbt_run_results
                (invocation_id, unique_id, resource_type, status, execution_time_s, rows_affected,
                 message, failures, generated_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (invocation_id, unique_id) do nothing
            """,
            rows,
        )
        return cur.rowcount if cur.rowcount >= 0 else len(rows)


def _failure_sentence(result: DbtResult, exception: BaseException | None) -> str:
    failed = result.failed
    if failed:
        names = ", ".join(n.unique_id.split(".", 2)[-1] for n in failed[:8])
        more = f" and {len(failed) - 8} more" if len(failed) > 8 else ""
        first = next((n.message for n in failed if n.message), "")
        detail = f" (first: {' '.join(first.split())[:300]})" if first else ""
        return f"The dbt build failed in {len(failed)} node(s): {names}{more}{detail}."
    reason = " ".join(str(exception).split())[:400] if exception else "no results were written"
    return f"The dbt build did not run: {reason}."


def build(
    settings: Settings | None = None,
    url: str | None = None,
    select: str | Sequence[str] | None = None,
    full_refresh: bool = False,
    selector: str | None = PER_DROP_SELECTOR,
    schema: str | None = None,
    role: str | bool | None = True,
    target_dir: Path | None = None,
) -> DbtResult:
    """`dbt build` (seeds, models, tests, unit tests), then load the results into ops.dbt_run_results.

    Without `select`, builds the selector `per_levering` (everything except the data tests over the whole
    police history); pass selector=None for everything. Raises TransformError when anything fails.
    """
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    command = ["build"]
    if select:
        command += ["--select", *([select] if isinstance(select, str) else list(select))]
    elif selector:
        command += ["--selector", selector]
    if full_refresh:
        command.append("--full-refresh")
    target_dir = target_dir or settings.dbt_project_dir / "target"
    res, result = run_dbt(command, settings, url, schema=schema, role=role, target_dir=target_dir)
    if result.nodes:
        record_run_results(url, result)
    if not result.success:
        raise TransformError(_failure_sentence(result, res.exception))
    return result


def source_freshness(settings: Settings | None = None, url: str | None = None) -> dict[str, dict[str, Any]]:
    """Per source table: status (pass, warn, error, runtime error), the newest _loaded_at and its age."""
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    path = settings.dbt_project_dir / "target" / "sources.json"
    path.unlink(missing_ok=True)
    res, _ = run_dbt(["source", "freshness"], settings, url, role=False)
    if not path.is_file():
        raise TransformError(f"dbt source freshness wrote no results: {res.exception}.")
    out: dict[str, dict[str, Any]] = {}
    for r in json.loads(path.read_text(encoding="utf-8")).get("results", []):
        name = r["unique_id"].split(".", 2)[-1]  # e.g. politie.incidenten
        loaded = r.get("max_loaded_at")
        out[name] = {
            "status": r.get("status"),
            "max_loaded_at": dt.datetime.fromisoformat(loaded.replace("Z", "+00:00")) if loaded else None,
            "age_s": r.get("max_loaded_at_time_ago_in_s"),
            "error": r.get("error"),
        }
    return out


def docs_generate(settings: Settings | None = None, url: str | None = None) -> Path:
    """`dbt docs generate`; returns the folder with index.html, manifest.json and catalog.json."""
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    res, _ = run_dbt(["docs", "generate"], settings, url, role=False)
    if not res.success:
        raise TransformError(f"dbt docs generate failed: {' '.join(str(res.exception).split())[:400]}.")
    return settings.dbt_project_dir / "target"
