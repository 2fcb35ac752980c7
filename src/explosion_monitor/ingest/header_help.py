"""What a rejection for a header problem tells the clerk: what was found, and the usual causes.

Only runs when a header is wrong, so it may take its time (it reads a few more rows, or the
first row of the other sheets). Every line is a (Dutch, English) pair for the report.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from explosion_monitor.contracts import Contract

SHOWN_NAMES = 20
PEEK_ROWS = 10


@dataclass
class HeaderContext:
    """Where the header came from, and how to look beyond it."""

    line: int = 1  # the header's line (2 after a `sep=` line)
    sheet: str | None = None  # XLSX: the sheet read (the first)
    # The rows below the header (a few) and the first row of every other sheet (XLSX), read on demand.
    peek: Callable[[], tuple[list[list[str]], dict[str, list[str]]]] = field(default=lambda: ([], {}))


def _shown(names: Sequence[str]) -> str:
    listed = ", ".join(repr(n) for n in names[:SHOWN_NAMES])
    more = f" (+{len(names) - SHOWN_NAMES})" if len(names) > SHOWN_NAMES else ""
    return (listed or "(leeg / empty)") + more


def _key(name: str) -> str:
    """A display name as the agreed names are written: `Incident ID` -> `incident_id`."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def suggestions(found: Sequence[str], contract: Contract) -> list[tuple[str, str]]:
    """(found name, agreed name) for found names that are close to an agreed name the header lacks."""
    agreed = list(contract.column_names)
    present = {n.strip().lower() for n in found}
    out = []
    for name in found:
        if not name.strip() or name.strip().lower() in agreed:
            continue
        key = _key(name)
        match = key if key in agreed else next(iter(difflib.get_close_matches(key, agreed, n=1, cutoff=0.8)), None)
        if match and match not in present and match not in (m for _, m in out):
            out.append((name, match))
    return out


def _matches(row: Sequence[str], contract: Contract) -> int:
    names = {str(c).strip().lower() for c in row}
    return sum(1 for c in contract.required if c in names)


def header_details(found: Sequence[str], contract: Contract, context: HeaderContext) -> list[tuple[str, str]]:
    """The lines a header rejection adds: the header as read, the sheet, and hints at the cause."""
    shown = _shown(list(found))
    lines = [
        (
            f"Kopregel zoals gelezen (regel {context.line}, eerste {SHOWN_NAMES} namen): {shown}.",
            f"Header row as read (line {context.line}, first {SHOWN_NAMES} names): {shown}.",
        )
    ]
    if context.sheet is not None:
        lines.append(
            (
                f"Gelezen werkblad: {context.sheet!r} (het eerste werkblad).",
                f"Sheet read: {context.sheet!r} (the first sheet).",
            )
        )
    close = suggestions(found, contract)
    if close:
        pairs = "; ".join(f"{f!r} → {a}" for f, a in close)
        lines.append(
            (
                f"Hint: dit lijken weergavenamen in plaats van de afgesproken kolomnamen: {pairs}.",
                f"Hint: these look like display names instead of the agreed column names: {pairs}.",
            )
        )
    sep_line = any(str(n).strip().lower().startswith("sep=") for n in found[:1])
    if sep_line:
        lines.append(
            (
                "Hint: de eerste regel is Excels 'sep='-regel, maar met een ander scheidingsteken dan ; of ,.",
                "Hint: the first line is Excel's 'sep=' line, but with a delimiter other than ; or ,.",
            )
        )
    need = max(1, (len(contract.required) + 1) // 2)
    try:
        rows, sheets = context.peek()
    except Exception:
        rows, sheets = [], {}
    below = next((i for i, row in enumerate(rows) if _matches(row, contract) >= need), None)
    if below is not None and _matches(found, contract) < need:
        at = context.line + below + 1
        lines.append(
            (
                f"Hint: de kopregel lijkt op regel {at} te staan; verwijder de titelregel(s) erboven, "
                "want de kopregel moet de eerste regel zijn.",
                f"Hint: the header seems to be on line {at}; remove the title row(s) above it, "
                "since the header must be the first line.",
            )
        )
    elif not sep_line and sum(1 for n in found if str(n).strip()) <= 2 and len(contract.required) > 2:
        lines.append(
            (
                "Hint: staat er een titel of toelichting boven de kopregel? De kopregel moet de eerste regel zijn.",
                "Hint: is there a title or a note above the header? The header must be the first line.",
            )
        )
    other = next((name for name, row in sheets.items() if _matches(row, contract) >= need), None)
    if other is not None:
        lines.append(
            (
                f"Hint: de gegevens lijken op werkblad {other!r} te staan; alleen het eerste werkblad wordt "
                "gelezen. Zet dat werkblad vooraan.",
                f"Hint: the data seems to be on sheet {other!r}; only the first sheet is read. "
                "Move that sheet to the front.",
            )
        )
    return lines


def csv_peek(path: Path, encoding: str, start: int) -> Callable[[], tuple[list[list[str]], dict[str, list[str]]]]:
    """The rows after the header line at byte `start`, each split on its own likeliest delimiter."""

    def peek() -> tuple[list[list[str]], dict[str, list[str]]]:
        with open(path, "rb") as fh:
            fh.seek(start)
            fh.readline()
            lines = [fh.readline() for _ in range(PEEK_ROWS)]
        rows = []
        for raw in lines:
            text = raw.decode(encoding, "replace").rstrip("\r\n")
            delimiter = ";" if text.count(";") > text.count(",") else ","
            rows.append(next(csv.reader(io.StringIO(text), delimiter=delimiter), []))
        return rows, {}

    return peek


def xlsx_peek(path: Path) -> Callable[[], tuple[list[list[str]], dict[str, list[str]]]]:
    """The rows below row 1 of the first sheet, and the first row of every other sheet."""

    def peek() -> tuple[list[list[str]], dict[str, list[str]]]:
        import warnings

        import openpyxl

        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
            try:

                def first_rows(ws, n: int) -> list[list[str]]:
                    out = []
                    for row in ws.iter_rows(max_row=n, values_only=True):
                        out.append(["" if v is None else str(v) for v in row])
                    return out

                first = wb[wb.sheetnames[0]]
                rows = first_rows(first, PEEK_ROWS + 1)[1:]
                sheets = {name: (first_rows(wb[name], 1) or [[]])[0] for name in wb.sheetnames[1:20]}
            finally:
                wb.close()
        return rows, sheets

    return peek
