"""Retention: raw rows and archived files older than the retention period go, unless a figure within the
period still needs them (`explosion-monitor purge`).

The period is `EXPLOSION_MONITOR_RETENTION_DAYS` (default 1825, five years) back from now; its start is the
*cutoff*. Only files that arrived before the cutoff are considered, and a file goes whole: its raw rows and its
archived object together, so that the archive keeps replaying to exactly what raw holds (`rebuild`).

Which old files go:

- quarantined, duplicate, empty and reingested files: raw holds no row of theirs, so no figure needs them. The
  file goes, and for a quarantined file its report and its findings (`ops.file_findings`, which quote values).
- a loaded file, only when none of its rows is *needed*. Each row is a version of a record (the feed's key:
  `incident_id`; `verzekeraar_code` + `claim_id`; `corporatie_code` + `melding_id`), ranked as the staging
  models rank them: newest `peildatum`, then the later arrival, then the higher file id. A row is not needed when
  a. a newer version of the same record has a `peildatum` on or before the cutoff date (*superseded*): from the
     cutoff on that version, or a still newer one, is the truth, in the current figures and in the as-of
     history (`int_politie__incident_versies`, `target_progress_historie`) alike;
  b. or every version of the record is about an event (`incident_datum`, `schadedatum`) before 1 January of
     the cutoff's year (*before the period*; figures are per calendar year and month, so a year that overlaps
     the period is kept whole), and every older version of the record goes too. Without that last condition,
     removing the newest version would make an older one current again (a withdrawn incident would count again).
  Every other row is needed: the current version of a record within the period, or a version that was the
  truth at some moment within the period. Rule b depends on which files go, so the decision is a fixpoint:
  start from every old loaded file, drop the files that have a needed row, repeat until nothing changes.
  The same rule holds for all three feeds; for insurers and corporations, which have no as-of history, it
  keeps a little more than strictly needed.
- never: a file that is claimed or still being processed (no final URL yet), anything in `incoming/`, a file
  another worker holds (reingest), or a file already purged.

What a purge does, per feed, crash-safe and safe to re-run:

1. One transaction, with `raw.<feed>` locked against concurrent loads: decide; for every file that goes, delete
   its raw rows and findings, write its `ops.purge_log` row (what, why, which bucket objects) and set
   `ops.ledger.purged_at`. All of it happens or none of it.
2. Then delete the bucket objects (`Bucket.delete_stored`) and note in `ops.purge_log` that they are gone.
   When that fails or the process dies, the ledger already says purged (rebuild skips the file), the dry run
   lists the unfinished entries, and the next applied purge finishes them first.

The database lets go of a file before its object goes, never the other way round: a file whose rows are still
in raw while its archived copy is gone could no longer be rebuilt. The ledger row stays as the audit trail
(name, sha256, size, arrival, counts; metadata only).

After a purge that removed raw rows, the incremental dbt models still hold those rows: the next build must be
a full refresh. `refresh_after_purge` (run by `explosion-monitor purge --apply`) does it and publishes;
`full_refresh_pending` tells any other scheduler. Figures about events before the period change (that is the
point); figures within the period do not, and a rebuild from the remaining archive equals the published marts.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor.config import FEEDS, Settings, get_settings

log = logging.getLogger(__name__)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
#: The bounds config.py puts on EXPLOSION_MONITOR_RETENTION_DAYS; an override on the command line gets the same.
MIN_DAYS, MAX_DAYS = 30, 100 * 365
#: Statuses whose files raw holds no row of: the file (and report) may go once it is old.
WITHOUT_ROWS = ("quarantined", "duplicate", "empty", "reingested", "ignored")
_LOCK_TIMEOUT = "60s"


class PurgeError(RuntimeError):
    """The purge cannot go on; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Period:
    """The retention period as of `now`."""

    now: dt.datetime
    retention_days: int
    #: Files that arrived before this moment may go.
    cutoff: dt.datetime
    #: The cutoff's day (Amsterdam): a version with a peildatum on or before it supersedes older ones for good.
    cutoff_date: dt.date
    #: 1 January of the cutoff's year: an event before it lies outside the period.
    event_cutoff: dt.date


def period(
    now: dt.datetime | None = None, retention_days: int | None = None, settings: Settings | None = None
) -> Period:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise PurgeError("The moment to purge from must carry a time zone.")
    days = retention_days if retention_days is not None else (settings or get_settings()).retention_days
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise PurgeError(
            f"The retention period must be a whole number of days between {MIN_DAYS} and {MAX_DAYS}, not {days!r}."
        )
    cutoff = now - dt.timedelta(days=days)
    cutoff_date = cutoff.astimezone(AMSTERDAM).date()
    return Period(now, days, cutoff, cutoff_date, dt.date(cutoff_date.year, 1, 1))


@dataclass
class FileDecision:
    """One file that arrived before the cutoff, and whether it goes."""

    file_id: int
    feed: str
    object_key: str
    sha256: str
    status: str
    arrived_at: dt.datetime
    rows: int
    objects: list[str]
    purge: bool
    reason: str
    detail: str
    #: Filled in when applied.
    rows_removed: int | None = None
    objects_removed: int | None = None


@dataclass
class Plan:
    period: Period
    feeds: list[str]
    purge: list[FileDecision]
    keep: list[FileDecision]
    #: Earlier purges whose bucket objects are still to be removed (ops.purge_log rows).
    unfinished: list[dict[str, Any]]


@dataclass
class PurgeResult:
    plan: Plan
    run_id: str
    applied: bool
    removed: list[FileDecision] = field(default_factory=list)
    #: Earlier, interrupted purges whose bucket objects this run removed.
    finished: list[dict[str, Any]] = field(default_factory=list)
    #: One sentence per problem (a bucket object that could not be deleted); the purge_log keeps them pending.
    errors: list[str] = field(default_factory=list)
    #: Notifications sent before the cutoff (their text can quote partner values), removed with the files.
    notifications_removed: int = 0
    #: Copies erased besides raw (erasure.py): files rewritten and Airflow rows deleted.
    erased: Any = None

    @property
    def rows_removed(self) -> int:
        return sum(d.rows_removed or 0 for d in self.removed)

    @property
    def objects_removed(self) -> int:
        return sum(d.objects_removed or 0 for d in self.removed) + sum(
            f.get("objects_removed") or 0 for f in self.finished
        )

    @property
    def complete(self) -> bool:
        return not self.errors


# --- deciding ------------------------------------------------------------------------------------------------


def _contract(feed: str) -> Any:
    from explosion_monitor.contracts import get_contract

    return get_contract(feed)


def _old_files(conn: psycopg.Connection, feed: str, per: Period) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            select file_id, feed, object_key, sha256, status, arrived_at, rows_loaded, final_url, report_url
            from ops.ledger
            where feed = %s and purged_at is null and arrived_at < %s
            order by file_id
            """,
            (feed, per.cutoff),
        ).fetchall()


def _row_counts(conn: psycopg.Connection, feed: str, going: Sequence[int], per: Period) -> dict[int, dict[str, int]]:
    """Per candidate file: its rows, and how many are superseded, before the period, or still needed."""
    if not going:
        return {}
    contract = _contract(feed)
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in contract.key)
    r_keys = sql.SQL(", ").join(sql.Identifier("r", k) for k in contract.key)
    query = sql.SQL(
        """
        with touched as (
            select distinct {keys} from raw.{table} where _file_id = any(%(going)s)
        ),
        versions as (
            select {r_keys}, r._file_id, r.peildatum, r.{event} as event_date,
                   row_number() over (
                       partition by {r_keys} order by r.peildatum desc, r._arrived_at desc, r._file_id desc
                   ) as rang
            from raw.{table} as r
            join touched as t using ({keys})
        ),
        judged as (
            select _file_id,
                   coalesce(rang > min(rang) filter (where peildatum <= %(cutoff_date)s)
                                      over (partition by {keys}), false) as superseded,
                   max(event_date) over (partition by {keys}) < %(event_cutoff)s as before_period,
                   bool_and(_file_id = any(%(going)s)) over (
                       partition by {keys} order by rang desc rows between unbounded preceding and current row
                   ) as older_all_going
            from versions
        )
        select _file_id,
               count(*) as rows,
               count(*) filter (where superseded) as superseded,
               count(*) filter (where not superseded and before_period and older_all_going) as before_period,
               count(*) filter (where not superseded and not before_period) as current_in_period,
               count(*) filter (where not superseded and before_period and not older_all_going) as holds_back_older
        from judged
        where _file_id = any(%(going)s)
        group by _file_id
        """
    ).format(keys=keys, r_keys=r_keys, table=sql.Identifier(feed), event=sql.Identifier(contract.event_date))
    params = {"going": list(going), "cutoff_date": per.cutoff_date, "event_cutoff": per.event_cutoff}
    with conn.cursor(row_factory=dict_row) as cur:
        return {r["_file_id"]: r for r in cur.execute(query, params).fetchall()}


_NO_ROWS = {"rows": 0, "superseded": 0, "before_period": 0, "current_in_period": 0, "holds_back_older": 0}


def _decide_loaded(
    conn: psycopg.Connection, feed: str, candidates: Sequence[int], per: Period
) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    """The fixpoint: (files that go, files kept), each with the row counts that decided it."""
    going = sorted(candidates)
    kept: dict[int, dict[str, int]] = {}
    while True:
        counts = _row_counts(conn, feed, going, per)
        needed = {f for f in going if (c := counts.get(f, _NO_ROWS))["current_in_period"] + c["holds_back_older"]}
        if not needed:
            return {f: counts.get(f, _NO_ROWS) for f in going}, kept
        kept.update({f: counts[f] for f in needed})
        going = [f for f in going if f not in needed]


def _objects(row: dict[str, Any]) -> list[str]:
    return [u for u in (row["final_url"], row["report_url"]) if u]


def _n(count: int, noun: str = "row") -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _loaded_reason(c: dict[str, int], per: Period) -> tuple[str, str]:
    if not c["rows"]:
        return "no_rows", "raw holds no row of this file"
    parts = []
    if c["superseded"]:
        parts.append(f"{c['superseded']} superseded by a delivery with peildatum on or before {per.cutoff_date}")
    if c["before_period"]:
        parts.append(f"{c['before_period']} about records whose events all lie before {per.event_cutoff}")
    reason = (
        "superseded"
        if not c["before_period"]
        else "before_period"
        if not c["superseded"]
        else "superseded_or_before_period"
    )
    return reason, f"{_n(c['rows'])}: " + "; ".join(parts)


def _kept_reason(c: dict[str, int], per: Period) -> tuple[str, str]:
    if c["current_in_period"]:
        return "needed", (
            f"{c['current_in_period']} of {_n(c['rows'])}: the version of a record from "
            f"{per.event_cutoff} on that is valid at or after the cutoff"
        )
    return "needed", (
        f"{c['holds_back_older']} of {_n(c['rows'])}: the newest version of a record whose older "
        "version stays in another file (removing it would make that one current again)"
    )


def _decide_feed(
    conn: psycopg.Connection, feed: str, per: Period, exclude: Iterable[int] = ()
) -> tuple[list[FileDecision], list[FileDecision]]:
    excluded = set(exclude)
    purge: list[FileDecision] = []
    keep: list[FileDecision] = []
    rows = {r["file_id"]: r for r in _old_files(conn, feed, per)}

    def decision(r: dict[str, Any], go: bool, reason: str, detail: str) -> FileDecision:
        return FileDecision(
            r["file_id"],
            feed,
            r["object_key"],
            r["sha256"],
            r["status"],
            r["arrived_at"],
            int(r["rows_loaded"] or 0),
            _objects(r),
            go,
            reason,
            detail,
        )

    candidates = []
    for fid, r in rows.items():
        if r["status"] == "refused":  # never read nor moved: the partner's own file, left in incoming/
            keep.append(decision(r, False, "refused", "not read (hard-linked or not a regular file); never stored"))
        elif r["status"] == "claimed" or not r["final_url"]:
            keep.append(decision(r, False, "in_progress", "still being processed (no final place yet)"))
        elif fid in excluded:
            keep.append(decision(r, False, "busy", "another worker holds this file (reingest?); next time"))
        elif r["status"] in WITHOUT_ROWS:
            detail = {
                "quarantined": "refused, never loaded: the file, its report and its findings",
                "duplicate": "a byte-identical copy of another delivery; loaded nothing",
                "empty": "header only; loaded nothing",
                "reingested": "replaced by its reingested copy; raw holds none of its rows",
                "ignored": "an Office lock or system file (it may name a clerk); not a delivery",
            }[r["status"]]
            purge.append(decision(r, True, r["status"], detail))
        elif r["status"] == "loaded":
            candidates.append(fid)
        else:  # pragma: no cover - a status this module does not know
            keep.append(decision(r, False, "unknown_status", f"status {r['status']!r} is not one purge knows"))
    going, kept = _decide_loaded(conn, feed, candidates, per)
    for fid, counts in going.items():
        purge.append(decision(rows[fid], True, *_loaded_reason(counts, per)))
    for fid, counts in kept.items():
        keep.append(decision(rows[fid], False, *_kept_reason(counts, per)))
    purge.sort(key=lambda d: d.file_id)
    keep.sort(key=lambda d: d.file_id)
    return purge, keep


def _feeds(feeds: Iterable[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(feeds or FEEDS))
    unknown = [f for f in chosen if f not in FEEDS]
    if unknown:
        raise PurgeError(f"Unknown feed {unknown[0]!r}; the feeds are {', '.join(FEEDS)}.")
    return chosen


def unfinished(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Purges whose database part is done but whose bucket objects are not all removed yet."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select purge_id, run_id, purged_at, file_id, feed, object_key, objects, last_error "
            "from ops.purge_log where objects_removed_at is null order by purge_id"
        ).fetchall()


def plan(
    conn: psycopg.Connection,
    *,
    now: dt.datetime | None = None,
    retention_days: int | None = None,
    feeds: Iterable[str] | None = None,
    settings: Settings | None = None,
) -> Plan:
    """What a purge would remove now, and which old files it keeps and why. Changes nothing."""
    per = period(now, retention_days, settings)
    chosen = _feeds(feeds)
    purge: list[FileDecision] = []
    keep: list[FileDecision] = []
    for feed in chosen:
        p, k = _decide_feed(conn, feed, per)
        purge += p
        keep += k
    return Plan(per, chosen, purge, keep, unfinished(conn))


# --- applying ------------------------------------------------------------------------------------------------


def _lock_files(conn: psycopg.Connection, decisions: Sequence[FileDecision], held: set[tuple[str, str]]) -> set[int]:
    """Take each file's ingest claim (ledger advisory lock); returns the file ids another worker holds."""
    from explosion_monitor import ledger

    busy = set()
    for d in decisions:
        key = (d.feed, d.object_key)
        if key in held:
            continue
        if ledger.try_lock(conn, d.feed, d.object_key):
            held.add(key)
        else:
            busy.add(d.file_id)
    return busy


def _unlock(conn: psycopg.Connection, held: set[tuple[str, str]]) -> None:
    from explosion_monitor import ledger

    for feed, name in held:
        try:
            ledger.unlock(conn, feed, name)
        except psycopg.Error:  # pragma: no cover - the session is gone, and its locks with it
            pass
    held.clear()


def _remove_rows(
    conn: psycopg.Connection, feed: str, decisions: Sequence[FileDecision], per: Period, run_id: str
) -> tuple[list[str], Any]:
    """Inside the feed's transaction: raw rows and findings out, every copy erased (erasure.py), purge_log in,
    ledger marked; returns the record ids that are gone for good and what else was erased."""
    from explosion_monitor import erasure

    ids = [d.file_id for d in decisions]
    id_column = sql.Identifier(erasure.FEED_ID_COLUMN[feed])
    gone_rows = conn.execute(
        sql.SQL("delete from raw.{} where _file_id = any(%s) returning _file_id, {}::text").format(
            sql.Identifier(feed), id_column
        ),
        (ids,),
    ).fetchall()
    removed: dict[int, int] = {}
    for file_id, _record in gone_rows:
        removed[file_id] = removed.get(file_id, 0) + 1
    # A refused file's findings quote the ids of its rows: those records were never loaded, so they go too.
    finding_rows = conn.execute(
        "delete from ops.file_findings where file_id = any(%s) returning file_id, column_name, value", (ids,)
    ).fetchall()
    findings: dict[int, int] = {}
    for file_id, _column, _value in finding_rows:
        findings[file_id] = findings.get(file_id, 0) + 1
    record_ids = erasure.gone_ids(conn, feed, [r for _f, r in gone_rows if r]) + [
        v for _f, c, v in finding_rows if c in erasure.PERSONAL_ID_COLUMNS and v
    ]
    erased = erasure.erase_in_database(conn, record_ids, ids)
    with conn.cursor() as cur:
        cur.executemany(
            """
            insert into ops.purge_log (run_id, file_id, feed, object_key, sha256, status, arrived_at, reason, detail,
                                       retention_days, cutoff, rows_removed, findings_removed, objects, refreshed_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                    case when %s = 0 then now() end)
            """,
            [
                (
                    run_id,
                    d.file_id,
                    d.feed,
                    d.object_key,
                    d.sha256,
                    d.status,
                    d.arrived_at,
                    d.reason,
                    d.detail,
                    per.retention_days,
                    per.cutoff,
                    removed.get(d.file_id, 0),
                    findings.get(d.file_id, 0),
                    d.objects,
                    removed.get(d.file_id, 0),
                )
                for d in decisions
            ],
        )
    conn.execute("update ops.ledger set purged_at = now() where file_id = any(%s)", (ids,))
    for d in decisions:
        d.rows_removed = int(removed.get(d.file_id, 0))
    return record_ids, erased


def _purge_feed(
    conn: psycopg.Connection,
    feed: str,
    per: Period,
    run_id: str,
    held: set[tuple[str, str]],
    gone: list[str] | None = None,
) -> tuple[list[FileDecision], list[FileDecision]]:
    """Decide and remove the rows of one feed in one transaction; returns (removed, kept); the record ids gone for
    good are added to `gone`."""
    busy: set[int] = set()
    with conn.transaction():
        conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(_LOCK_TIMEOUT)))
        try:
            # SHARE ROW EXCLUSIVE: no load (or other purge) changes raw.<feed> between the decision and the delete.
            conn.execute(sql.SQL("lock table raw.{} in share row exclusive mode").format(sql.Identifier(feed)))
        except psycopg.errors.LockNotAvailable:
            raise PurgeError(
                f"raw.{feed} stayed busy for {_LOCK_TIMEOUT} (a load or another purge); try again later."
            ) from None
        while True:
            purge, keep = _decide_feed(conn, feed, per, exclude=busy)
            newly_busy = _lock_files(conn, purge, held)
            if not newly_busy:
                break
            busy |= newly_busy  # decide again without them: rule b must not count on them going
        if purge:
            record_ids, _erased = _remove_rows(conn, feed, purge, per, run_id)
            if gone is not None:
                gone.extend(record_ids)
    return purge, keep


def _remove_objects(
    conn: psycopg.Connection, settings: Settings, errors: list[str], failed: set[int]
) -> list[dict[str, Any]]:
    """Delete the bucket objects of every purge_log row still waiting for it; returns the rows finished.

    A row whose deletion failed (its purge_id lands in `failed`) is not tried again in the same run.
    """
    from explosion_monitor.buckets import BucketError, get_bucket

    finished = []
    buckets: dict[str, Any] = {}
    for row in unfinished(conn):
        if row["purge_id"] in failed:
            continue
        bucket = buckets.setdefault(row["feed"], get_bucket(row["feed"], settings))
        removed = 0
        try:
            for url in row["objects"]:
                removed += bool(bucket.delete_stored(url, row["file_id"]))
        except BucketError as exc:
            conn.execute("update ops.purge_log set last_error = %s where purge_id = %s", (str(exc), row["purge_id"]))
            failed.add(row["purge_id"])
            errors.append(
                f"File {row['file_id']} ({row['feed']}/{row['object_key']}): {str(exc).rstrip('.')}; "
                "its rows are purged and the next `purge --apply` removes the rest."
            )
            continue
        conn.execute(
            "update ops.purge_log set objects_removed = coalesce(objects_removed, 0) + %s, "
            "objects_removed_at = now(), last_error = null where purge_id = %s",
            (removed, row["purge_id"]),
        )
        finished.append({**row, "objects_removed": removed})
    return finished


def new_run_id() -> str:
    return f"purge-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def purge(
    settings: Settings | None = None,
    *,
    apply: bool = False,
    now: dt.datetime | None = None,
    retention_days: int | None = None,
    feeds: Iterable[str] | None = None,
    run_id: str | None = None,
    conn: psycopg.Connection | None = None,
) -> PurgeResult:
    """Remove (apply=True) or only plan (the default) what the retention period no longer needs.

    With apply, earlier interrupted purges are finished first, then each feed is purged in its own
    transaction and its bucket objects removed. Problems with single bucket objects do not stop the run:
    they are in `errors` and stay pending in ops.purge_log for the next run.
    """
    from explosion_monitor.db.ready import connect_ready

    settings = settings or get_settings()
    run_id = run_id or new_run_id()
    own = conn is None
    conn = conn or connect_ready(settings)
    try:
        if not apply:
            return PurgeResult(
                plan(conn, now=now, retention_days=retention_days, feeds=feeds, settings=settings),
                run_id,
                applied=False,
            )
        per = period(now, retention_days, settings)
        chosen = _feeds(feeds)
        result = PurgeResult(Plan(per, chosen, [], [], unfinished(conn)), run_id, applied=True)
        failed: set[int] = set()
        result.finished += _remove_objects(conn, settings, result.errors, failed)
        held: set[tuple[str, str]] = set()
        gone: list[str] = []
        try:
            for feed in chosen:
                removed, kept = _purge_feed(conn, feed, per, run_id, held, gone)
                result.plan.purge += removed
                result.plan.keep += kept
                done = {r["file_id"]: r for r in _remove_objects(conn, settings, result.errors, failed)}
                for d in removed:
                    d.objects_removed = done[d.file_id]["objects_removed"] if d.file_id in done else None
                result.removed += removed
        finally:
            _unlock(conn, held)
        if conn.execute("select to_regclass('ops.notifications') is not null").fetchone()[0]:
            result.notifications_removed = conn.execute(
                "delete from ops.notifications where sent_at < %s", (per.cutoff,)
            ).rowcount
        from explosion_monitor import erasure
        from explosion_monitor.db import ready

        result.erased = erasure.erase_outside(settings, ready.warehouse_url(settings), gone, erasure.Erased(len(gone)))
        log.info(
            "Purge %s: %d files, %d raw rows, %d objects",
            run_id,
            len(result.removed),
            result.rows_removed,
            result.objects_removed,
        )
        return result
    finally:
        if own:
            conn.close()


# --- the build after a purge ---------------------------------------------------------------------------------


def refresh_pending_feeds(conn: psycopg.Connection) -> list[str]:
    """The feeds of which a purge removed raw rows that the build schema's incremental models may still hold."""
    return [
        r[0]
        for r in conn.execute(
            "select distinct feed from ops.purge_log where refreshed_at is null and rows_removed > 0 order by 1"
        )
    ]


def full_refresh_pending(conn: psycopg.Connection) -> bool:
    """Whether a purge removed raw rows that the build schema's incremental models may still hold."""
    return bool(refresh_pending_feeds(conn))


def mark_refreshed(conn: psycopg.Connection, build_started_at: dt.datetime) -> int:
    """After a successful full-refresh build that started at `build_started_at`: the purges before it are reflected."""
    return conn.execute(
        "update ops.purge_log set refreshed_at = now() where refreshed_at is null and purged_at <= %s",
        (build_started_at,),
    ).rowcount
