"""A delivery checked without a database: what ingest/load.py does to a file, short of storing it.

The loader's own steps, in its order: sniff.inspect, batches.open_source, validate.Checks per
batch, the binary COPY encoding (pgcopy, with the loader's column order) and the key hashes
(keys). Two things differ because they live in the database there: the municipality codes come
from the seed files (`municipalities`), and duplicate keys are confirmed in memory instead of in
a temporary table. The fuzz tests and bench/reliability/fuzz.py drive this with hostile bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from explosion_monitor.config import Settings, get_settings
from explosion_monitor.contracts import Contract
from explosion_monitor.ingest.batches import open_source
from explosion_monitor.ingest.keys import KeyHashes
from explosion_monitor.ingest.load import (
    AMSTERDAM,
    STORED_FINDINGS,
    Counts,
    InvalidRows,
    copy_fields,
    encoded_batches,
    warn_unknown_columns,
)
from explosion_monitor.ingest.pgcopy import Encoder
from explosion_monitor.ingest.report import Finding, Report
from explosion_monitor.ingest.sniff import Rejected, inspect
from explosion_monitor.ingest.validate import Checks, Municipalities


@dataclass
class Verdict:
    """Accepted with `rows` rows (0: header only), or rejected with the partner's `report`."""

    rows: int
    report: str | None
    errors: int = 0
    warnings: int = 0

    @property
    def accepted(self) -> bool:
        return self.report is None


@functools.cache
def municipalities(settings: Settings | None = None) -> Municipalities:
    """ref.gemeente_codes as the schema seeds it."""
    from explosion_monitor.schema import municipality_codes

    rows = sorted(municipality_codes(settings or get_settings()))
    return Municipalities.from_rows(
        (code, name, until and dt.date.fromisoformat(until), successor) for code, name, until, successor in rows
    )


def check_file(
    path: Path,
    contract: Contract,
    arrived_at: dt.datetime | None = None,
    refs: Municipalities | None = None,
    name: str | None = None,
) -> Verdict:
    """Judge the file at `path` as the loader would; never raises for anything in the file."""
    arrived_at = arrived_at or dt.datetime.now(dt.UTC)
    report = Report(feed=contract.feed, file_name=name or path.name, arrived_at=arrived_at)
    try:
        rows = _check(path, contract, arrived_at, refs or municipalities(), report)
    except Rejected as rej:
        report.file_error = (rej.nl, rej.en)
        report.file_error_line = rej.line
        report.file_error_details = rej.details
    except _RowErrors as bad:
        report.findings, report.total_errors, report.summary = bad.findings, bad.total, bad.summary
    else:
        return Verdict(rows, None, 0, len(report.warnings))
    return Verdict(0, report.render(contract), report.error_count, len(report.warnings))


class _RowErrors(Exception):
    def __init__(self, findings: list[Finding], total: int, summary: Counter | None = None) -> None:
        super().__init__(f"{total} row errors")
        self.findings = findings
        self.total = total
        self.summary = summary or Counter()


def _check(path: Path, contract: Contract, arrived_at: dt.datetime, refs: Municipalities, report: Report) -> int:
    """The rows the loader would store, or raise Rejected or _RowErrors."""
    insp = inspect(path, contract)
    report.file_format = insp.description
    source = open_source(path, insp, contract)
    warn_unknown_columns(report, source, contract)
    checks = Checks(contract, source.header, source.delimiter, arrived_at.astimezone(AMSTERDAM).date(), refs)
    counts = Counts()
    with KeyHashes() as keys:
        try:
            for _ in encoded_batches(source, checks, Encoder(copy_fields(checks)), 1, arrived_at, counts, keys):
                pass
        except InvalidRows:
            raise _RowErrors(*_findings(contract, source, checks)) from None
    if counts.suspect_duplicates:
        findings, total = _findings(contract, source, checks)
        if findings:  # else only the hashes collided
            raise _RowErrors(findings, total)
    return counts.rows


def _findings(contract: Contract, source, checks: Checks) -> tuple[list[Finding], int, Counter]:
    """Every error as the loader's second pass lists it, duplicate keys included, and the count per check."""
    cells: list[Finding] = []
    total = 0
    summary: Counter = Counter()
    first_line: dict[tuple[str, ...], int] = {}
    dups: list[Finding] = []
    key_name = "+".join(contract.key)
    for batch in source.batches():
        checked = checks.check(batch)
        total += checked.error_count()
        summary += checked.error_counts()
        if len(cells) < STORED_FINDINGS:
            cells += checked.findings(STORED_FINDINGS - len(cells))
        complete, values = checked.key_text()
        for line, *key in zip(checked.lines[complete].tolist(), *(v.to_pylist() for v in values), strict=True):
            first = first_line.setdefault(tuple(key), line)
            if first != line:
                text = " / ".join(key)
                dups.append(Finding(line, key_name, text, "duplicate_key", f"{text!r} (regel/line {first})"))
    findings = cells + dups[:STORED_FINDINGS]
    findings.sort(key=lambda f: (f.line or 0, f.column or ""))
    if dups:
        summary[(key_name, "duplicate_key")] += len(dups)
    return findings, total + len(dups), summary
