"""One dropped file to raw rows, or to quarantine with a report: claim, validate, load, move.

A file is loaded whole, in one transaction, or not at all. The partner's file is only
ever moved (archive/ or quarantine/), never deleted.

Loading is a pipeline over two cores: a worker thread reads the file in batches (batches.py),
checks them (validate.py), encodes the valid rows for binary COPY (pgcopy.py) and hashes their
keys (keys.py), while this thread streams them into `raw.<feed>`: the server stores batch N
while Python checks batch N+1, and memory holds a few batches whatever the file's size.
At the first invalid row the COPY is abandoned and the transaction rolled back; a second
pass over the whole file then collects what the report lists (`_findings`).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from explosion_monitor import access, db, ledger
from explosion_monitor.buckets import Bucket, DropObject, report_name, safe_name
from explosion_monitor.contracts import Contract, get_contract
from explosion_monitor.ingest.arrays import keep_freed_memory
from explosion_monitor.ingest.batches import Source, open_source
from explosion_monitor.ingest.intake import is_system_file
from explosion_monitor.ingest.keys import KeyHashes
from explosion_monitor.ingest.pgcopy import SIGNATURE, TRAILER, Encoder, Field
from explosion_monitor.ingest.report import MESSAGES, Finding, Report
from explosion_monitor.ingest.sniff import Rejected, file_digest, inspect
from explosion_monitor.ingest.validate import WIRE_KIND, Checks, Municipalities

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
STORED_FINDINGS = 1000
# Encoded batches waiting for the server: enough to keep it busy, few enough to keep memory flat.
QUEUE_DEPTH = 2


@dataclass
class Outcome:
    feed: str
    name: str
    status: str  # loaded | empty | quarantined | duplicate | ignored | refused | busy | gone
    file_id: int | None = None
    rows: int = 0
    errors: int = 0
    warnings: int = 0
    final_url: str | None = None
    report_url: str | None = None
    message: str = ""


class _RowErrors(Exception):
    def __init__(self, findings: list[Finding], total: int, summary: Counter | None = None) -> None:
        super().__init__(f"{total} row errors")
        self.findings = findings
        self.total = total
        self.summary = summary or Counter()


class InvalidRows(Exception):
    """The file has row errors: roll back, then collect them for the report."""


def arrival_date(arrived_at: dt.datetime) -> dt.date:
    """The day a file arrived, in Dutch time; `arrived_at` is the pipeline's clock, never the file's timestamp."""
    return arrived_at.astimezone(AMSTERDAM).date()


def _blank_warning(report: Report, blank: int) -> None:
    if blank:
        report.warnings.append((f"{blank} lege regels overgeslagen", f"{blank} empty rows skipped"))


# --- the happy path: check and COPY, pipelined -------------------------------------------------


@dataclass
class Counts:
    rows: int = 0
    blank: int = 0
    # Two keys hash alike: the file may repeat a key, which an exact query then decides.
    suspect_duplicates: bool = False


def warn_unknown_columns(report: Report, source: Source, contract: Contract) -> None:
    unknown = [h for h in source.header if h and h not in contract.column_names]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:20])
        report.warnings.append((f"onbekende kolommen genegeerd: {shown}", f"unknown columns ignored: {shown}"))


def encoded_batches(
    source: Source,
    checks: Checks,
    encoder: Encoder,
    file_id: int,
    arrived_at: dt.datetime,
    counts: Counts,
    keys: KeyHashes,
) -> Iterator[memoryview]:
    for batch in source.batches():
        checked = checks.check(batch)
        counts.blank += checked.blank
        if not checked.ok:
            raise InvalidRows
        if not len(checked):
            continue
        lineage = {"_file_id": file_id, "_line_number": checked.lines.astype("int32"), "_arrived_at": arrived_at}
        values = [lineage[f.name] if f.name in lineage else checked.typed(f.name) for f in encoder.fields]
        yield encoder.encode(values, len(checked))
        keys.add(checked.key_text()[1])
        counts.rows += len(checked)
    # Still in the worker: this overlaps with the server storing the last batches.
    counts.suspect_duplicates = keys.possible_duplicates()


def _pipeline(items: Iterator[memoryview]) -> Iterator[memoryview]:
    """`items`, produced in a worker thread while the caller consumes: the two overlap.

    Exceptions in the worker are raised here; when the caller stops early, the worker stops too.
    """
    q: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=work, name="ingest-check", daemon=True)
    worker.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def copy_fields(checks: Checks) -> list[Field]:
    """The COPY's columns, those of one size per row first (the encoder writes them as one piece)."""

    def rank(c) -> int:
        if c.type in ("gemeente", "postcode4"):
            return 3
        if WIRE_KIND[c.type] == "text":
            return 4
        return 0 if c.required else 2

    columns = sorted(checks.columns, key=rank)
    lineage = [Field("_file_id", "int8"), Field("_line_number", "int4"), Field("_arrived_at", "timestamptz")]
    fields = [Field(c.name, WIRE_KIND[c.type]) for c in columns]
    cut = sum(1 for c in columns if rank(c) == 0)
    return fields[:cut] + lineage + fields[cut:]


def _copy_statement(contract: Contract, checks: Checks) -> tuple[sql.Composed, Encoder]:
    fields = copy_fields(checks)
    stmt = sql.SQL("copy raw.{} ({}) from stdin (format binary)").format(
        sql.Identifier(contract.feed), sql.SQL(", ").join(sql.Identifier(f.name) for f in fields)
    )
    return stmt, Encoder(fields)


def _has_duplicate_keys(cur: psycopg.Cursor, contract: Contract, file_id: int) -> bool:
    key = sql.SQL(", ").join(sql.Identifier(k) for k in contract.key)
    query = sql.SQL("select 1 from raw.{} where _file_id = %s group by {} having count(*) > 1 limit 1").format(
        sql.Identifier(contract.feed), key
    )
    return cur.execute(query, (file_id,)).fetchone() is not None


def _load(
    conn: psycopg.Connection,
    contract: Contract,
    path: Path,
    arrived_at: dt.datetime,
    entry: ledger.Entry,
    report: Report,
) -> int:
    """Check and insert in one transaction; raise Rejected or _RowErrors to roll back."""
    keep_freed_memory()
    insp = inspect(path, contract)
    report.file_format = insp.description
    source = open_source(path, insp, contract)
    warn_unknown_columns(report, source, contract)
    checks = Checks(contract, source.header, source.delimiter, arrival_date(arrived_at), Municipalities.load(conn))
    stmt, encoder = _copy_statement(contract, checks)
    counts = Counts()
    try:
        with KeyHashes() as keys, conn.transaction(), conn.cursor() as cur:
            # raw.<feed>._file_id has no foreign key (a trigger call and a lookup per row, more than the COPY
            # itself, and switching it off needs a superuser): the check is made once, here. The ledger row
            # exists and is locked against deletion until commit; ops.ledger refuses to delete a row raw uses.
            if not cur.execute("select from ops.ledger where file_id = %s for key share", (entry.file_id,)).rowcount:
                raise RuntimeError(f"ledger entry {entry.file_id} is gone")
            db.set_role(cur, access.role(conn, "em_loader"))
            batches = encoded_batches(source, checks, encoder, entry.file_id, arrived_at, counts, keys)
            with cur.copy(stmt) as copy:
                copy.write(SIGNATURE)
                for data in _pipeline(batches):
                    copy.write(data)
                copy.write(TRAILER)
            if cur.rowcount != counts.rows:
                raise RuntimeError(f"COPY stored {cur.rowcount} rows of {counts.rows}")
            db.reset_role(cur)
            if counts.suspect_duplicates and _has_duplicate_keys(cur, contract, entry.file_id):
                raise InvalidRows
            _blank_warning(report, counts.blank)
            ledger.set_outcome(
                conn,
                entry.file_id,
                "loaded" if counts.rows else "empty",
                rows_loaded=counts.rows,
                warning_count=len(report.warnings),
                file_format=insp.description,
                message="; ".join(en for _, en in report.warnings) or None,
            )
        return counts.rows
    except InvalidRows:
        pass
    findings, total, blank, summary = _findings(conn, contract, source, checks)
    _blank_warning(report, blank)
    raise _RowErrors(findings, total, summary)


# --- the report path: every error, and duplicate keys ----------------------------------------


def _findings(
    conn: psycopg.Connection, contract: Contract, source: Source, checks: Checks
) -> tuple[list[Finding], int, int, Counter]:
    """Read the whole file again: the first STORED_FINDINGS errors by line, the total, blank rows, and the
    count per (column, check).

    Keys go to a temporary table so that duplicates are found without holding them in memory.
    """
    cells: list[Finding] = []
    total = blank = 0
    summary: Counter = Counter()
    keys = [Field("line", "int4")] + [Field(f"k{i}", "text") for i in range(len(contract.key))]
    encoder = Encoder(keys)
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        db.set_role(cur, access.role(conn, "em_loader"))
        cur.execute(
            sql.SQL("create temp table keys ({}) on commit drop").format(
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL("integer" if f.kind == "int4" else "text"))
                    for f in keys
                )
            )
        )
        with cur.copy("copy keys from stdin (format binary)") as copy:
            copy.write(SIGNATURE)
            for batch in source.batches():
                checked = checks.check(batch)
                blank += checked.blank
                total += checked.error_count()
                summary += checked.error_counts()
                if len(cells) < STORED_FINDINGS:
                    cells += checked.findings(STORED_FINDINGS - len(cells))
                complete, values = checked.key_text()
                if complete.any():
                    copy.write(encoder.encode([checked.lines[complete].astype("int32"), *values], int(complete.sum())))
            copy.write(TRAILER)
        parts = sql.SQL(", ").join(sql.Identifier(f.name) for f in keys[1:])
        dups = cur.execute(
            sql.SQL(
                "with d as (select line, concat_ws(' / ', {parts}) as k, count(*) over (partition by {parts}) as n, "
                "min(line) over (partition by {parts}) as first_line from keys) "
                "select line, k, first_line, count(*) over () from d where n > 1 and line > first_line "
                "order by line limit {limit}"
            ).format(parts=parts, limit=sql.Literal(STORED_FINDINGS))
        ).fetchall()
    key_name = "+".join(contract.key)
    findings = cells + [
        Finding(line, key_name, key, "duplicate_key", f"{key!r} (regel/line {first})") for line, key, first, _ in dups
    ]
    findings.sort(key=lambda f: (f.line or 0, f.column or ""))
    if dups:
        summary[(key_name, "duplicate_key")] += dups[0][-1]
    return findings, total + (dups[0][-1] if dups else 0), blank, summary


def _store_findings(conn: psycopg.Connection, file_id: int, report: Report) -> None:
    rows = []
    if report.file_error:
        nl, en = report.file_error
        rows.append(
            (
                None,
                None,
                None,
                "file",
                " ".join([nl, *(d[0] for d in report.file_error_details)]),
                " ".join([en, *(d[1] for d in report.file_error_details)]),
            )
        )
    for f in report.findings[:STORED_FINDINGS]:
        rows.append((f.line, f.column, f.value, f.code, f.sentence(0), f.sentence(1)))
    with conn.cursor() as cur:
        cur.execute("delete from ops.file_findings where file_id = %s", (file_id,))
        with cur.copy(
            "copy ops.file_findings (file_id, seq, line_number, column_name, value, check_code, message_nl, message_en)"
            " from stdin"
        ) as copy:
            for seq, row in enumerate(rows, start=1):
                copy.write_row((file_id, seq, *row))


def _quarantine(conn, bucket: Bucket, obj: DropObject, entry: ledger.Entry, report: Report, contract) -> Outcome:
    first = (
        report.file_error[1]
        if report.file_error
        else (
            f"line {report.findings[0].line}, {report.findings[0].column}: {report.findings[0].sentence(1)}"
            if report.findings
            else "rejected"
        )
    )
    with conn.transaction():
        _store_findings(conn, entry.file_id, report)
        ledger.set_outcome(
            conn,
            entry.file_id,
            "quarantined",
            error_count=report.error_count,
            warning_count=len(report.warnings),
            file_format=report.file_format or None,
            message=first[:500],
        )
    file_url, report_url = bucket.quarantine(obj, entry.file_id, report.render(contract))
    ledger.set_final(conn, entry.file_id, file_url, report_url)
    _record_move_race(conn, bucket, obj, entry.file_id)
    return Outcome(
        bucket.feed,
        obj.name,
        "quarantined",
        entry.file_id,
        0,
        report.error_count,
        len(report.warnings),
        file_url,
        report_url,
        first,
    )


def _archive(conn, bucket: Bucket, obj: DropObject, entry: ledger.Entry, status: str, rows: int, msg: str) -> Outcome:
    url = bucket.archive(obj, entry.file_id)
    ledger.set_final(conn, entry.file_id, url)
    _record_move_race(conn, bucket, obj, entry.file_id)
    return Outcome(bucket.feed, obj.name, status, entry.file_id, rows, final_url=url, message=msg)


MOVE_RACE = (
    (
        "Tijdens het verplaatsen is dit bestand opnieuw geüpload; de nieuwe versie blijft in incoming/ staan en "
        "wordt in de volgende run verwerkt."
    ),
    "The file was uploaded again while it was being moved; the new version stays in incoming/ and is processed "
    "in the next run.",
)


def _record_move_race(conn: psycopg.Connection, bucket: Bucket, obj: DropObject, file_id: int) -> None:
    """A newer upload that the move left in incoming/: a finding (check `move_race`) and a line in the ledger."""
    detail = bucket.take_move_race(obj.name)
    if detail is None:
        return
    with conn.transaction():
        conn.execute(
            "insert into ops.file_findings (file_id, seq, check_code, message_nl, message_en) "
            "select %s::bigint, coalesce(max(seq), 0) + 1, 'move_race', %s::text, %s::text from ops.file_findings "
            "where file_id = %s",
            (file_id, *MOVE_RACE, file_id),
        )
        conn.execute(
            "update ops.ledger set message = left(concat_ws('; ', nullif(message, ''), %s::text), 500) where file_id = %s",
            ("move race: " + detail, file_id),
        )


def ingest_object(
    conn: psycopg.Connection,
    bucket: Bucket,
    obj: DropObject,
    run_id: str | None = None,
    seen_at: dt.datetime | None = None,
) -> Outcome:
    """Process one drop. `conn` must be in autocommit mode; it holds the claim while working.

    `seen_at` is when the pipeline first saw the file (default: now); it becomes the file's arrival.
    """
    feed = bucket.feed
    seen_at = seen_at or dt.datetime.now(dt.UTC)
    if not ledger.try_lock(conn, feed, obj.name):
        return Outcome(feed, obj.name, "busy", message="claimed by another worker")
    try:
        current = bucket.stat_incoming(obj.name)
        if current is None:
            return Outcome(feed, obj.name, "gone", message="no longer in incoming/")
        refusal = bucket.refusal(current.name)
        # The pipeline's own move links before it unlinks: a file the ledger knows is a retry of that move.
        if refusal and not ledger.knows(conn, feed, current.name):
            file_id = ledger.record_refusal(
                conn,
                feed=feed,
                bucket=bucket.root_url,
                name=current.name,
                size=current.size,
                reason=refusal,
                run_id=run_id,
            )
            return Outcome(feed, current.name, "refused", file_id, message=refusal)
        contract = get_contract(feed)
        with bucket.local_copy(current) as path:
            sha256, size = file_digest(path)
            entry = ledger.open_entry(
                conn,
                feed=feed,
                bucket=bucket.root_url,
                name=current.name,
                sha256=sha256,
                size=size,
                arrived_at=seen_at,
                run_id=run_id,
            )
            arrived_at = entry.arrived_at or seen_at
            if entry.attempts > 1:
                _drop_half_moved_copy(bucket, current, entry.file_id)
            if entry.status in ("loaded", "empty", "duplicate", "ignored"):
                # Loaded before, but the move to archive/ failed: finish the move only.
                rows = conn.execute("select rows_loaded from ops.ledger where file_id = %s", (entry.file_id,))
                return _archive(conn, bucket, current, entry, entry.status, rows.fetchone()[0], "archived on retry")
            if is_system_file(current.name):
                message = "an Office lock or system file, not a delivery: archived, not read"
                ledger.set_outcome(conn, entry.file_id, "ignored", message=message)
                return _archive(conn, bucket, current, entry, "ignored", 0, message)
            twin = ledger.loaded_twin(conn, feed, sha256, entry.file_id)
            if twin is not None:
                return _duplicate(conn, bucket, current, entry, twin)
            report = Report(feed=feed, file_name=current.name, arrived_at=arrived_at)
            try:
                rows = _load(conn, contract, path, arrived_at, entry, report)
            except Rejected as rej:
                report.file_error = (rej.nl, rej.en)
                report.file_error_line = rej.line
                report.file_error_details = rej.details
                return _quarantine(conn, bucket, current, entry, report, contract)
            except _RowErrors as bad:
                report.findings, report.total_errors, report.summary = bad.findings, bad.total, bad.summary
                return _quarantine(conn, bucket, current, entry, report, contract)
            except pgerrors.UniqueViolation:
                # A byte-identical twin was loaded by another worker at the same moment.
                twin = ledger.loaded_twin(conn, feed, sha256, entry.file_id)
                return _duplicate(conn, bucket, current, entry, twin)
            status = "loaded" if rows else "empty"
            return _archive(conn, bucket, current, entry, status, rows, "; ".join(en for _, en in report.warnings))
    finally:
        # A lost connection took the lock with it; unlocking would only hide why it was lost.
        if not conn.closed:
            ledger.unlock(conn, feed, obj.name)


def _stored_rel(area: str, file_id: int, name: str) -> str:
    return f"{area}/{file_id}/{safe_name(name)}"


def _drop_half_moved_copy(bucket: Bucket, obj: DropObject, file_id: int) -> None:
    """Undo the first half of a move that a killed attempt left: its copy under archive/ or quarantine/.

    A move copies, then removes the original; a worker killed in between leaves the file in both places,
    and the retry's move would refuse to overwrite the copy. The original is still in incoming/ (we hold it,
    same content), and the copy under this ledger row's file id is only ever ours: remove it, move again.
    """
    for area in ("archive", "quarantine"):
        rel = _stored_rel(area, file_id, obj.name)
        if bucket._exists(rel):
            bucket._remove_own(rel)


def record_unrecorded_moves(conn: psycopg.Connection, bucket: Bucket) -> list[int]:
    """Give the ledger the final URL of files a killed worker moved but could not record; returns their ids.

    Between the move to archive/ or quarantine/ and `ledger.set_final` lies one statement; a worker killed
    there leaves a finished ledger row without final_url and nothing in incoming/ to retry, so no ingest
    visits it again (reconciliation calls this). A row whose name is back in incoming/ is left to ingest.
    """
    rows = conn.execute(
        "select file_id, object_key, status from ops.ledger where feed = %s and final_url is null "
        "and status = any(%s) order by file_id",
        (bucket.feed, list(ledger.FINISHED)),
    ).fetchall()
    recorded = []
    for file_id, name, status in rows:
        if not ledger.try_lock(conn, bucket.feed, name):
            continue  # a live worker holds it, between its move and its record
        try:
            if bucket.stat_incoming(name) is not None:
                continue
            still = conn.execute("select final_url is null from ops.ledger where file_id = %s", (file_id,))
            if not still.fetchone()[0]:
                continue
            rel = _stored_rel("quarantine" if status == "quarantined" else "archive", file_id, name)
            if not bucket._exists(rel):
                continue
            report = report_name(rel) if status == "quarantined" and bucket._exists(report_name(rel)) else None
            ledger.set_final(conn, file_id, bucket._url_for(rel), bucket._url_for(report) if report else None)
            recorded.append(file_id)
        finally:
            ledger.unlock(conn, bucket.feed, name)
    return recorded


def _duplicate(conn, bucket: Bucket, obj: DropObject, entry: ledger.Entry, twin: int | None) -> Outcome:
    ledger.set_outcome(
        conn,
        entry.file_id,
        "duplicate",
        duplicate_of=twin,
        message=f"byte-identical to file {twin}; nothing loaded",
    )
    return _archive(conn, bucket, obj, entry, "duplicate", 0, f"byte-identical to file {twin}")


__all__ = ["MESSAGES", "Outcome", "ingest_object", "record_unrecorded_moves"]
