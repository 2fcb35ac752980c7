"""Write, audit, publish: BI tools only ever see marts that passed every blocking check.

dbt writes into `build` (BI cannot read it); the quality gate audits it; publishing makes it visible:

1. freeze: one REPEATABLE READ transaction takes SHARE locks on the build's marts, so no dbt run can change
   them between the audit and the copy (a concurrent dbt run waits for us);
2. audit (`gate_and_publish`): `quality.run_gate` on `build`, while the build is frozen;
3. stage: in that same transaction, copy every mart into a fresh schema `marts_next` (and every relation
   named `open_data__<name>`, or in `build_open_data`, into `open_data_next` as `<name>`), as tables with
   their indexes, constraints and comments, plus `publicatie` (which publication this is); grant SELECT to
   the readers; commit;
4. swap: in ONE short transaction, take ACCESS EXCLUSIVE locks on the published tables, drop `marts_prev`,
   rename `marts` to `marts_prev` and `marts_next` to `marts` (the same for `open_data`), and move the
   readers' USAGE along. `rollback()` swaps `marts_prev` back the same way.

The build (and dbt's incremental state in it) is never touched: publishing copies. A reader sees the old
publication or the new one, never a mix: a query that has touched an old table holds a lock the swap waits
for (the swap retries with a short lock_timeout, so readers are never stuck behind it), a query that starts
during the swap waits and then resolves the names to the new tables, and a REPEATABLE READ transaction whose
snapshot is older than the staged copy is waited for before the swap (it would see the new tables empty).
Every attempt is a row in ops.publication_log: run id, times, outcome, failed checks with sample rows, and
the warnings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from explosion_monitor import access, db, quality
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import ready
from explosion_monitor.published import (
    DEADLINE_S,
    OPEN_DATA_PREFIX,
    PUBLICATION_TABLE,
    PublishError,
    Relation,
    checksums,
    current_publication,
    format_warnings,
    one_publisher,
    publication_log,
    publishable_relations,
    publisher_role,
    tables_in,
)

log = logging.getLogger(__name__)
__all__ = [
    "OPEN_DATA_PREFIX",
    "Relation",
    "checksums",
    "current_publication",
    "format_warnings",
    "publication_log",
    "publish",
    "publishable_relations",
    "rollback",
]

BUILD_SCHEMA = "build"
MARTS = "marts"
OPEN_DATA = "open_data"
PUBLISHED = (MARTS, OPEN_DATA)
# Who may read which published schema (access.py has the tiers). Nobody reads *_next or *_prev.
READERS = access.SCHEMA_READERS
# The swap gives up a lock wait after this and tries again, so readers never queue behind it for long.
_SWAP_LOCK_TIMEOUT = "200ms"


class PublicationBlocked(PublishError):
    """A blocking check failed: nothing was published. `report` lists every failed check with sample rows."""

    def __init__(self, message: str, result: PublicationResult, gate: quality.GateResult) -> None:
        super().__init__(message)
        self.result = result
        self.gate = gate
        self.report = gate.report()


@dataclass(frozen=True)
class PublicationResult:
    run_id: str
    outcome: str  # published | blocked | rolled_back
    failed_checks: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    publication_id: int | None
    message: str = ""
    data_docs: str | None = None


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


# --- what is published --------------------------------------------------------------------------


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select to_regnamespace(%s) is not null", (schema,)).fetchone()[0]


# --- the publication log ------------------------------------------------------------------------


def _jsonb(items: Iterable[Any]) -> Jsonb:
    return Jsonb([item.as_dict() if isinstance(item, quality.CheckFailure) else item for item in items])


def _log_start(conn: psycopg.Connection, run_id: str, warnings: Sequence[Any] = ()) -> int:
    return conn.execute(
        "insert into ops.publication_log (run_id, outcome, warnings) values (%s, 'running', %s) "
        "returning publication_id",
        (run_id, _jsonb(warnings)),
    ).fetchone()[0]


def _log_finish(
    conn: psycopg.Connection,
    publication_id: int,
    outcome: str,
    message: str,
    failed_checks: Sequence[Any] | None = None,
    warnings: Sequence[Any] | None = None,
) -> None:
    conn.execute(
        """
        update ops.publication_log
        set outcome = %s, finished_at = clock_timestamp(), message = %s,
            failed_checks = coalesce(%s, failed_checks), warnings = coalesce(%s, warnings)
        where publication_id = %s
        """,
        (
            outcome,
            message,
            None if failed_checks is None else _jsonb(failed_checks),
            None if warnings is None else _jsonb(warnings),
            publication_id,
        ),
    )


# --- freeze, stage, swap ------------------------------------------------------------------------


def _freeze_build(conn: psycopg.Connection, url: str, build: str) -> list[Relation]:
    """Inside a transaction: REPEATABLE READ and SHARE locks on the marts, taken before the snapshot."""
    # a catalog read here would take this transaction's snapshot too early
    with db.connect(url, autocommit=True) as side:
        listed = publishable_relations(side, build)
    if not listed:
        raise PublishError(f"The schema {build} has no marts to publish; run the dbt build first.")
    conn.execute("set transaction isolation level repeatable read")
    conn.execute("set local lock_timeout = '60s'")
    try:
        conn.execute(sql.SQL("lock table {} in share mode").format(sql.SQL(", ").join(r.source for r in listed)))
    except psycopg.errors.LockNotAvailable:
        raise PublishError(f"The marts in {build} stayed locked for 60 s (a dbt build running?); try again.") from None
    relations = publishable_relations(conn, build)  # the snapshot is taken here, after the locks
    if relations != listed:
        raise PublishError(f"The marts in {build} changed while publishing started; run again.")
    return relations


def _stage(
    conn: psycopg.Connection,
    relations: Sequence[Relation],
    *,
    role: str | None,
    publication_id: int,
    run_id: str,
    through_file_id: int,
) -> None:
    """Inside the frozen transaction: the new publication as tables in marts_next and open_data_next."""
    if role:
        db.set_role(conn, role)
    for schema in PUBLISHED:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(_ident(f"{schema}_next")))
        conn.execute(sql.SQL("create schema {}").format(_ident(f"{schema}_next")))
    for rel in relations:
        target = _ident(f"{rel.target_schema}_next", rel.name)
        conn.execute(sql.SQL("create table {} (like {} including all)").format(target, rel.source))
        conn.execute(sql.SQL("insert into {} select * from {}").format(target, rel.source))
        comment = conn.execute(
            "select obj_description(c.oid, 'pg_class') from pg_class as c "
            "join pg_namespace as n on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
            (rel.source_schema, rel.source_name),
        ).fetchone()[0]
        if comment:
            conn.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(comment)))
    # the analysis run's tables are not the build's: carry the published ones over (with grants and policies)
    from explosion_monitor.analysis.publication import carry_forward

    carry_forward(conn, f"{MARTS}_next", produced=[r.name for r in relations if r.target_schema == MARTS])
    peildatum = None
    if any(r.target_schema == MARTS and r.name == "target_progress" for r in relations):
        source = next(r for r in relations if r.target_schema == MARTS and r.name == "target_progress")
        peildatum = conn.execute(sql.SQL("select max(peildatum) from {}").format(source.source)).fetchone()[0]
    for schema in PUBLISHED:
        stamp = _ident(f"{schema}_next", PUBLICATION_TABLE)
        conn.execute(
            sql.SQL(
                "create table {} (publicatie_id bigint primary key, run_id text not null, "
                "gepubliceerd_op timestamptz not null, peildatum date, tot_en_met_file_id bigint not null, "
                "tabellen text[] not null)"
            ).format(stamp)
        )
        conn.execute(
            sql.SQL("insert into {} values (%s, %s, now(), %s, %s, %s)").format(stamp),
            (
                publication_id,
                run_id,
                peildatum,
                through_file_id,
                sorted(r.name for r in relations if r.target_schema == schema),
            ),
        )
        conn.execute(
            sql.SQL("comment on table {} is {}").format(
                stamp,
                sql.Literal(
                    "Which publication this schema holds: id (ops.publication_log), run, when, the newest police "
                    "peildatum and the newest delivery (ledger file id) it includes, and its tables."
                ),
            )
        )
        access.grant_published(conn, f"{schema}_next", schema)
    missing = access.unprotected(conn, f"{MARTS}_next")
    if missing:  # blocking: a table with gemeente_code must never reach a municipality login without its policy
        raise PublishError(
            f"{', '.join(missing)} would be published without its row-level security policy; nothing was published."
        )
    for rel in relations:
        conn.execute(sql.SQL("analyze {}").format(_ident(f"{rel.target_schema}_next", rel.name)))


def _wait_for_old_snapshots(conn: psycopg.Connection, since: dt.datetime, deadline: float) -> None:
    """Wait until no reader still has a snapshot from before the staged copy existed.

    Such a REPEATABLE READ transaction would resolve `marts.x` to the new table after the swap and see it
    empty. Our own sessions (same login) are not readers and are not waited for.
    """
    while True:
        row = conn.execute(
            """
            select pid, usename, coalesce(nullif(application_name, ''), 'no application name'), xact_start
            from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid()
              and backend_type = 'client backend' and backend_xmin is not null
              and xact_start < %s and usename is distinct from session_user
            order by xact_start
            limit 1
            """,
            (since,),
        ).fetchone()
        if row is None:
            return
        if access.end_idle_readers(conn):  # an idle reader transaction is not worth waiting for
            continue
        if time.monotonic() > deadline:
            pid, user, app, started = row
            raise PublishError(
                f"A reader's transaction (pid {pid}, user {user}, {app}) has been open since {started:%H:%M:%S}; "
                "publishing now could show it empty tables, so nothing was published; try again later."
            )
        time.sleep(0.1)


_grant_readers, _revoke_readers = access.grant_usage, access.revoke_usage


def _locked_swap(conn: psycopg.Connection, role: str | None, deadline: float, swap: Any) -> Any:
    """Run `swap(conn)` in one transaction holding ACCESS EXCLUSIVE locks on every published table.

    Lock waits give up after a short lock_timeout and the whole swap is retried, so a reader that holds an
    old table keeps it until its transaction ends and nobody queues behind the swap for long.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            with conn.transaction():
                conn.execute(f"set local lock_timeout = '{_SWAP_LOCK_TIMEOUT}'")
                if role:
                    db.set_role(conn, role)
                schemas = [f"{s}{suffix}" for s in PUBLISHED for suffix in ("", "_prev")]
                tables = [_ident(s, t) for s, t in tables_in(conn, schemas)]
                if tables:
                    conn.execute(sql.SQL("lock table {} in access exclusive mode").format(sql.SQL(", ").join(tables)))
                return swap(conn)
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            if access.end_idle_readers(conn):  # as the login, after the transaction (and SET LOCAL ROLE) ended
                continue
            if time.monotonic() > deadline:
                raise PublishError(
                    f"Readers kept the published tables busy for {DEADLINE_S:.0f} s ({attempt} attempts); "
                    "nothing was published; try again."
                ) from None
            time.sleep(random.uniform(0.01, 0.1))


def _purged_since(conn: psycopg.Connection, schema: str) -> bool:
    """Whether a retention purge ran after the publication in `schema` was made (it may hold purged records)."""
    if conn.execute("select to_regclass(%s) is null", (f"{schema}.{PUBLICATION_TABLE}",)).fetchone()[0]:
        # a publication we cannot date is older than any purge there was
        return bool(conn.execute("select exists (select 1 from ops.purge_log)").fetchone()[0])
    return bool(
        conn.execute(
            sql.SQL(
                "select exists (select 1 from ops.purge_log as l where l.purged_at >= "
                "(select coalesce(min(p.gepubliceerd_op), '-infinity') from {} as p))"
            ).format(_ident(schema, PUBLICATION_TABLE))
        ).fetchone()[0]
    )


def _swap_in(conn: psycopg.Connection, publication_id: int, warnings: Sequence[Any]) -> None:
    for schema in PUBLISHED:
        prev, nxt = f"{schema}_prev", f"{schema}_next"
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(_ident(prev)))
        if _schema_exists(conn, schema) and _purged_since(conn, schema):
            # Older than a purge: it goes, so no rollback can bring a purged record back.
            conn.execute(sql.SQL("drop schema {} cascade").format(_ident(schema)))
        elif _schema_exists(conn, schema):
            conn.execute(sql.SQL("alter schema {} rename to {}").format(_ident(schema), _ident(prev)))
            _revoke_readers(conn, prev, schema)
        conn.execute(sql.SQL("alter schema {} rename to {}").format(_ident(nxt), _ident(schema)))
        _grant_readers(conn, schema, schema)
    conn.execute(
        "update ops.publication_log set outcome = 'published', finished_at = clock_timestamp(), message = %s, "
        "warnings = %s where publication_id = %s",
        (_published_message(publication_id, warnings), _jsonb(warnings), publication_id),
    )


def _published_message(publication_id: int, warnings: Sequence[Any]) -> str:
    message = f"Publication {publication_id} is visible in {MARTS} and {OPEN_DATA}"
    return message + (f", with {len(warnings)} warning(s)." if warnings else ".")


# --- the stage API ------------------------------------------------------------------------------


def _published(
    settings: Settings,
    url: str,
    run_id: str,
    *,
    gate: bool,
    warnings: Sequence[Any] = (),
    through_file_id: int | None = None,
    build: str = BUILD_SCHEMA,
) -> PublicationResult:
    deadline = time.monotonic() + DEADLINE_S
    with db.connect(url, autocommit=True) as conn, one_publisher(conn):
        publication_id = _log_start(conn, run_id, warnings)
        audit: quality.GateResult | None = None
        try:
            with db.connect(url, autocommit=True) as stage_conn:
                with stage_conn.transaction():
                    relations = _freeze_build(stage_conn, url, build)
                    if gate:
                        audit = quality.run_gate(settings, url, schema=build, run_id=run_id)
                        if not audit.passed:
                            raise _Blocked()
                        warnings = audit.warnings
                        through_file_id = audit.window.tot_en_met_file_id if audit.window else None
                    if through_file_id is None:
                        through_file_id = quality.delivery_window(url, build).tot_en_met_file_id
                    role = publisher_role(stage_conn, relations)
                    _stage(
                        stage_conn,
                        relations,
                        role=role,
                        publication_id=publication_id,
                        run_id=run_id,
                        through_file_id=through_file_id,
                    )
                staged_at = stage_conn.execute("select clock_timestamp()").fetchone()[0]
            _wait_for_old_snapshots(conn, staged_at, deadline)
            _locked_swap(conn, role, deadline, lambda c: _swap_in(c, publication_id, warnings))
        except _Blocked:
            assert audit is not None
            result = _record_blocked(conn, run_id, audit, publication_id)
            raise PublicationBlocked(
                f"Publication blocked, the published marts are unchanged: {audit.sentence()}", result, audit
            ) from None
        except BaseException as exc:
            message = str(exc) if isinstance(exc, PublishError) else f"Publishing failed: {_one_line(exc)}."
            with contextlib.suppress(psycopg.Error):
                _log_finish(conn, publication_id, "failed", message)
            if isinstance(exc, psycopg.Error):
                raise PublishError(message) from exc
            raise
    warning_dicts = [w.as_dict() if isinstance(w, quality.CheckFailure) else w for w in warnings]
    message = _published_message(publication_id, warnings)
    log.info("%s (run %s)", message, run_id)
    return PublicationResult(
        run_id,
        "published",
        [],
        warning_dicts,
        publication_id,
        message,
        str(audit.data_docs) if audit and audit.data_docs else None,
    )


class _Blocked(Exception):
    """Raised inside the frozen transaction to roll it back when the gate fails."""


def publish(
    settings: Settings | None = None,
    url: str | None = None,
    run_id: str | None = None,
    warnings: Sequence[Any] = (),
    through_file_id: int | None = None,
) -> PublicationResult:
    """Atomically publish the build's marts into `marts` and `open_data`, logged in ops.publication_log.

    Does not run the gate: call it after the blocking suites passed (as a DAG's publish task does), passing
    their warnings and the last delivery they checked (GateResult.window.tot_en_met_file_id).
    """
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    return _published(
        settings, url, run_id or new_run_id(), gate=False, warnings=warnings, through_file_id=through_file_id
    )


def gate_and_publish(
    settings: Settings | None = None, url: str | None = None, run_id: str | None = None
) -> PublicationResult:
    """Run the quality gate on the frozen build, then publish; or log the block and raise PublicationBlocked."""
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    return _published(settings, url, run_id or new_run_id(), gate=True)


def _record_blocked(
    conn: psycopg.Connection, run_id: str, gate: quality.GateResult, publication_id: int | None = None
) -> PublicationResult:
    message = f"Blocked: {gate.sentence()}"
    if publication_id is None:
        row = conn.execute(
            "select publication_id from ops.publication_log where run_id = %s and outcome = 'running' "
            "order by publication_id desc limit 1",
            (run_id,),
        ).fetchone()
        publication_id = row[0] if row else _log_start(conn, run_id)
    _log_finish(conn, publication_id, "blocked", message, gate.failures, gate.warnings)
    log.error("Publication %s of run %s blocked: %s", publication_id, run_id, gate.sentence())
    return PublicationResult(
        run_id,
        "blocked",
        [f.as_dict() for f in gate.failures],
        [w.as_dict() for w in gate.warnings],
        publication_id,
        message,
        str(gate.data_docs) if gate.data_docs else None,
    )


def record_blocked(
    settings: Settings | None = None,
    url: str | None = None,
    run_id: str | None = None,
    gate: quality.GateResult | None = None,
) -> PublicationResult:
    """Log that `gate` blocked the publication of run `run_id` (failed checks with sample rows, warnings)."""
    if gate is None:
        raise ValueError("record_blocked needs the GateResult that blocked the publication.")
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    with db.connect(url, autocommit=True) as conn:
        return _record_blocked(conn, run_id or new_run_id(), gate)


def rollback(settings: Settings | None = None, url: str | None = None, run_id: str | None = None) -> PublicationResult:
    """Put the previous publication back in `marts` and `open_data`; the rolled-back one becomes the previous.

    The build is untouched: the next successful run publishes the newest build again.
    """
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    run_id = run_id or new_run_id()
    deadline = time.monotonic() + DEADLINE_S

    def swap_back(conn: psycopg.Connection) -> tuple[int | None, int | None]:
        if not all(_schema_exists(conn, f"{s}_prev") for s in PUBLISHED):
            raise PublishError("There is no previous publication to roll back to.")
        if any(_purged_since(conn, f"{s}_prev") for s in PUBLISHED):
            raise PublishError(
                "The previous publication is older than a retention purge and may hold purged "
                "records; it cannot be put back."
            )
        current = _publication_id(conn, MARTS)
        for schema in PUBLISHED:
            prev, parked = f"{schema}_prev", f"{schema}_rollback"
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(_ident(parked)))
            if _schema_exists(conn, schema):
                conn.execute(sql.SQL("alter schema {} rename to {}").format(_ident(schema), _ident(parked)))
            conn.execute(sql.SQL("alter schema {} rename to {}").format(_ident(prev), _ident(schema)))
            if _schema_exists(conn, parked):
                conn.execute(sql.SQL("alter schema {} rename to {}").format(_ident(parked), _ident(prev)))
                _revoke_readers(conn, prev, schema)
            _grant_readers(conn, schema, schema)
        return current, _publication_id(conn, MARTS)

    with db.connect(url, autocommit=True) as conn, one_publisher(conn):
        role = publisher_role(conn, [])
        try:
            current, restored = _locked_swap(conn, role, deadline, swap_back)
        except PublishError as exc:
            log_id = _log_start(conn, run_id)
            _log_finish(conn, log_id, "failed", f"Rollback failed: {exc}")
            raise
        log_id = _log_start(conn, run_id)
        message = (
            f"Rolled back: publication {restored if restored is not None else '(none)'} is visible again; "
            f"publication {current if current is not None else '(none)'} is now the previous one."
        )
        _log_finish(conn, log_id, "rolled_back", message)
    log.info("%s", message)
    return PublicationResult(run_id, "rolled_back", [], [], log_id, message)


# --- reading what is published (the rest is in published.py) -----------------------------------


def _publication_id(conn: psycopg.Connection, schema: str) -> int | None:
    if conn.execute("select to_regclass(%s) is null", (f"{schema}.{PUBLICATION_TABLE}",)).fetchone()[0]:
        return None
    query = sql.SQL("select max(publicatie_id) from {}").format(_ident(schema, PUBLICATION_TABLE))
    row = conn.execute(query).fetchone()
    return row[0] if row else None
