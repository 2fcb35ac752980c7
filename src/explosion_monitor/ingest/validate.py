"""The contract's checks, vectorised over batches of text with pyarrow and numpy.

Per batch, in layers, each cell once:

1. normalise: trim spaces, tabs, line breaks and NBSP; empty is absent. Rows without any
   value (Excel's `;;;;` lines) are dropped and counted;
2. per column, whether each present cell is valid, and its typed value (`Checks._column`);
   columns of codes, dates and numbers are checked once per distinct value;
3. the rules across columns, on typed values, and the municipality code against the
   reference list on the event date (`CheckedBatch`).

The happy path never leaves vectorised code. Only for failing rows do we say why, cell by
cell, in plain Python (`reason`): the first failing check, in the order the report explains.

These checks were SQL before; they keep its semantics, character classes included (`CONTROL`,
`SPACE`). Dates are exactly the two written forms the contract names (ISO Y-M-D, Dutch D-M-Y,
one- or two-digit day and month); PostgreSQL's date parser also took odd forms such as
`2024-063-` (a day of the year), which no longer pass.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from explosion_monitor.contracts import ARRIVAL, IDENTIFIER_MAX, IDENTIFIER_PATTERN, Column, Contract
from explosion_monitor.ingest.arrays import (
    bools,
    from_bools,
    from_values,
    gather,
    strings,
    text_parts,
    validity,
    values,
    with_validity,
)
from explosion_monitor.ingest.batches import TextBatch
from explosion_monitor.ingest.report import Finding, extra
from explosion_monitor.ingest.xlsx import FORMULA

TRIM = " \t\r\n\u00a0"
# A finding keeps this much of a value: the report shows less, and a row of long values stays small.
MAX_FINDING_VALUE = 1000
MIN_YEAR, MAX_YEAR = 1990, 2100
# true at even positions; compared in lower case. waar/onwaar: Dutch Excel's TRUE/FALSE.
BOOLEAN_ALL = ("ja", "nee", "j", "n", "true", "false", "1", "0", "waar", "onwaar")
# PostgreSQL's [[:cntrl:]] and \s (C.UTF-8), which defined these checks when they were SQL.
CONTROL = "[\x00-\x1f\x7f-\x9f]"
SPACE = "[\t\n\v\f\r \u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000]"

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
# A date-time in a date column: the date as above, a time of day, and optionally a UTC offset.
DATE_TIME = (
    r"^(?P<d>[0-9]{1,4}-[0-9]{1,2}-[0-9]{1,4})[ T](?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})"
    r"(?::(?P<s>[0-9]{2})(?:[.,][0-9]{1,9})?)?(?P<z> ?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?))?$"
)
DATE_TIME_RE = re.compile(DATE_TIME)
NL_DATE = re.compile(r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}")
INT_THOUSANDS = re.compile(r"[0-9]{1,3}([.,][0-9]{3})+")
NEGATIVE_INT = re.compile(r"-[0-9]+")
DIGITS = re.compile(r"[0-9]+")
# A thousands separator, by delimiter: in ;-files the comma is the decimal sign.
DEC_THOUSANDS = {
    ",": re.compile(r"-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?"),
    ";": re.compile(r"-?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?|-?[0-9]{1,3}(,[0-9]{3})+\.[0-9]+"),
}
# In a ;-file a number whose only separator is a `.` before exactly three digits is ambiguous: Dutch
# Excel writes twelve thousand five hundred as 12.500. It is a row error, never read as 12.5.
AMBIGUOUS = r"^[0-9]+\.[0-9]{3}$"
AMBIGUOUS_RE = re.compile(AMBIGUOUS)
NUMBER_SHAPE = {",": re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?"), ";": re.compile(r"[0-9]{1,15}([.,][0-9]{1,6})?")}
POSTCODE_FULL = re.compile(rf"[0-9]{{4}}{SPACE}*[A-Za-z]{{2}}")
CONTROL_RE = re.compile(CONTROL)

# Date shapes (digits before, between and after the dashes); a 4-digit year first is ISO.
DATE_SHAPES = [(4, 1, 1), (4, 1, 2), (4, 2, 1), (4, 2, 2), (1, 1, 4), (1, 2, 4), (2, 1, 4), (2, 2, 4)]
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0], dtype=np.int64)

# The wire kind (pgcopy.Field.kind) each contract type loads as.
WIRE_KIND = {
    "text": "text",
    "enum": "text",
    "gemeente": "text",
    "postcode4": "text",
    "date": "date",
    "integer": "int4",
    "decimal": "numeric",
    "boolean": "bool",
    "pseudoniem": "text",
    "identifier": "text",
}


# --- why one cell fails ----------------------------------------------------------------------


def reason(col: Column, value: str, delimiter: str) -> str:
    """The code of the first check a present, invalid cell fails, in the order the report explains."""
    if value.startswith(FORMULA):
        return "formula"
    if col.type == "text":
        return "control_chars" if CONTROL_RE.search(value) else "max_length"
    if col.type == "identifier":
        if CONTROL_RE.search(value):
            return "control_chars"
        return "max_length" if len(value) > IDENTIFIER_MAX else "identifier"
    if col.type == "date":
        if len(value) > 10:
            timed = DATE_TIME_RE.match(value)
            if timed is None or not _real_time(timed):
                return "date_format"
            value = timed["d"]
        parts = _date_parts(value)
        if parts is None:
            return "date_format"
        return "date_range" if _real_date(*parts) else "date_invalid"
    if col.type in ("integer", "decimal") and delimiter == ";" and AMBIGUOUS_RE.match(value):
        return "ambiguous_thousands"
    if col.type == "integer":
        if INT_THOUSANDS.fullmatch(value):
            return "thousands"
        if NEGATIVE_INT.fullmatch(value):
            return "negative"
        return "integer_range" if DIGITS.fullmatch(value) else "integer"
    if col.type == "decimal":
        if DEC_THOUSANDS[delimiter].fullmatch(value):
            return "thousands"
        if value.startswith("-") and NUMBER_SHAPE[delimiter].fullmatch(value[1:]):
            return "negative"
        return "decimal_comma" if delimiter == "," else "decimal"
    if col.type == "postcode4":
        return "postcode_full" if POSTCODE_FULL.fullmatch(value) else "postcode4"
    if col.type == "pseudoniem":
        return "pseudoniem"
    return {"boolean": "boolean", "enum": "enum", "gemeente": "gemeente_format"}[col.type]


def _date_parts(value: str) -> tuple[int, int, int] | None:
    if ISO_DATE.fullmatch(value):
        y, m, d = value.split("-")
    elif NL_DATE.fullmatch(value):
        d, m, y = value.split("-")
    else:
        return None
    return int(y), int(m), int(d)


def _real_time(timed: re.Match) -> bool:
    return int(timed["h"]) <= 23 and int(timed["mi"]) <= 59 and int(timed["s"] or 0) <= 59


def _real_date(y: int, m: int, d: int) -> bool:
    try:
        dt.date(y, m, d)
    except ValueError:
        return False
    return True


# --- the municipality codes ------------------------------------------------------------------


@dataclass(frozen=True)
class Municipalities:
    """ref.gemeente_codes: every code a delivery may use, and the first day it is no longer valid."""

    codes: pa.Array
    names: tuple[str, ...]
    # Days since 1970 of geldig_tot; a code still valid has a date beyond any event.
    valid_until: np.ndarray
    until: tuple[dt.date | None, ...]
    successors: tuple[str | None, ...]

    @classmethod
    def load(cls, conn) -> Municipalities:
        return cls.from_rows(
            conn.execute("select gemeente_code, naam, geldig_tot, opvolger_code from ref.gemeente_codes order by 1")
        )

    @classmethod
    def from_rows(cls, rows) -> Municipalities:
        """From (code, name, first day no longer valid or None, successor) rows, ordered by code."""
        rows = list(rows)
        never = np.iinfo(np.int64).max
        return cls(
            codes=strings([r[0] for r in rows]),
            names=tuple(r[1] for r in rows),
            valid_until=np.array([(r[2] - dt.date(1970, 1, 1)).days if r[2] else never for r in rows], np.int64),
            until=tuple(r[2] for r in rows),
            successors=tuple(r[3] for r in rows),
        )


# --- one column --------------------------------------------------------------------------------

# Columns of codes, dates and numbers repeat few values: their checks run once per distinct
# value (pyarrow's dictionary encoding), and rows pick up the result by index.
BY_VALUE = {"date", "integer", "decimal", "boolean", "enum", "postcode4", "gemeente", "pseudoniem"}

# Bytes that may start or end a value that needs trimming (NBSP is C2 A0 in UTF-8).
_TRIM_FIRST = np.zeros(256, dtype=bool)
_TRIM_FIRST[[0x20, 0x09, 0x0D, 0x0A, 0xC2]] = True
_TRIM_LAST = np.zeros(256, dtype=bool)
_TRIM_LAST[[0x20, 0x09, 0x0D, 0x0A, 0xA0]] = True


@dataclass
class _Checked:
    """One contract column over one batch."""

    text: pa.Array  # normalised text ("" where absent), plain or dictionary-encoded
    present: np.ndarray  # bool
    valid: np.ndarray  # bool: present and passes every check
    typed: pa.Array  # the typed value where valid, else null: plain or dictionary-encoded
    # For the cross-column rules: numbers as numpy (days since 1970 for dates), else None.
    number: np.ndarray | None = None

    @property
    def bad(self) -> np.ndarray:
        return self.present & ~self.valid

    def filter(self, keep: np.ndarray) -> _Checked:
        mask = from_bools(keep)
        number = self.number[keep] if self.number is not None else None
        return _Checked(self.text.filter(mask), self.present[keep], self.valid[keep], self.typed.filter(mask), number)


def _lengths(x: pa.Array) -> np.ndarray:
    return text_parts(x)[0]


def _trim(x: pa.Array) -> pa.Array:
    """Trimmed of spaces, tabs, line breaks and NBSP; untouched (no copy) when nothing needs it."""
    lengths, starts, data = text_parts(x)
    some = lengths > 0
    if some.any():
        first = data[starts[some]]
        last = data[starts[some] + lengths[some] - 1]
        if _TRIM_FIRST[first].any() or _TRIM_LAST[last].any():
            return pc.utf8_trim(x, characters=TRIM)
    return x


_IDENTIFIER_BYTES = np.zeros(256, dtype=bool)
_IDENTIFIER_BYTES[[*range(0x30, 0x3A), *range(0x41, 0x5B), *range(0x61, 0x7B), *b"._/-"]] = True


def _check_identifier(x: pa.Array) -> np.ndarray:
    """1-40 letters, digits and - _ . /; bytes checked at once, a regex only when a batch has anything else."""
    lengths, starts, data = text_parts(x)
    used = data[starts[0] : starts[-1] + lengths[-1]] if len(x) else data[:0]
    if _IDENTIFIER_BYTES[used].all():  # ASCII only: a byte is a character
        return (lengths >= 1) & (lengths <= IDENTIFIER_MAX)
    return bools(pc.match_substring_regex(x, IDENTIFIER_PATTERN))


def _check_text(x: pa.Array, col: Column) -> np.ndarray:
    ok = np.ones(len(x), dtype=bool)
    lengths, starts, data = text_parts(x)
    used = data[starts[0] : starts[-1] + lengths[-1]] if len(x) else data[:0]
    # C0 controls and DEL are single bytes; C1 controls (U+0080..U+009F) are C2 80..C2 9F.
    if ((used < 0x20) | (used == 0x7F) | (used == 0xC2)).any():
        ok &= ~bools(pc.match_substring_regex(x, CONTROL))
    if col.max_length:
        long = lengths > col.max_length  # bytes; characters only where that is not enough
        if long.any():
            ok &= values(pc.utf8_length(x)) <= col.max_length
    return ok


def _check_decimal(x: pa.Array, delimiter: str) -> tuple[np.ndarray, pa.Array]:
    # Digits with at most one decimal sign between them; the comma only in ;-files.
    plain = pc.replace_substring(x, ",", ".") if delimiter == ";" else x
    digits = pc.replace_substring(plain, ".", "", max_replacements=1)
    ok = (
        bools(pc.ascii_is_decimal(digits))
        & (values(pc.utf8_length(x)) <= 22)
        & ~bools(pc.starts_with(plain, "."))
        & ~bools(pc.ends_with(plain, "."))
    )
    if delimiter == ";" and ok.any():  # distinct values only: cheap
        ok &= ~bools(pc.match_substring_regex(x, AMBIGUOUS))
    return ok, plain


def _parse_dates(x: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(written as a date, year, month, day) per cell, for the shapes ISO Y-M-D and Dutch D-M-Y."""
    n = len(x)
    shaped = np.zeros(n, dtype=bool)
    ymd = np.zeros((3, n), dtype=np.int64)
    lengths, starts, data = text_parts(x)
    for size in (8, 9, 10):
        rows = np.flatnonzero(lengths == size)
        if not rows.size:
            continue
        digit = gather(data, starts[rows], size) - np.uint8(48)  # non-digits wrap to >= 10
        for a, b, c in DATE_SHAPES:
            if a + b + c + 2 != size:
                continue
            dashes = [a, a + b + 1]
            places = [i for i in range(size) if i not in dashes]
            match = (digit[:, dashes] == np.uint8(256 + 45 - 48)).all(axis=1) & (digit[:, places] < 10).all(axis=1)
            if not match.any():
                continue
            # Each part's value as a weighted sum of its digits: one small (integer) matrix product.
            weights = np.zeros((len(places), 3), dtype=np.int64)
            for part, (first, width) in enumerate([(0, a), (a + 1, b), (a + b + 2, c)]):
                for k in range(width):
                    weights[places.index(first + k), part] = 10 ** (width - 1 - k)
            parts = digit[match][:, places].astype(np.int64) @ weights
            hit = rows[match]
            year, month, day = (
                (parts[:, 0], parts[:, 1], parts[:, 2]) if a == 4 else (parts[:, 2], parts[:, 1], parts[:, 0])
            )
            ymd[0, hit], ymd[1, hit], ymd[2, hit] = year, month, day
            shaped[hit] = True
    return shaped, ymd[0], ymd[1], ymd[2]


def _days_since_1970(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Proleptic Gregorian day numbers (H. Hinnant's days_from_civil), for valid dates."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _split_date_times(x: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Date-times reduced to their calendar date in Dutch time: (date text, time valid, day shift).

    Without an offset the date is taken as written (Dutch wall-clock time); with one, the moment
    is converted to Europe/Amsterdam first, which may move the date by a day (`shift`).
    """
    n = len(x)
    time_ok = np.ones(n, dtype=bool)
    shift = np.zeros(n, dtype=np.int64)
    parts = pc.extract_regex(x, DATE_TIME)
    timed = validity(parts)
    timed = np.ones(n, dtype=bool) if timed is None else timed
    if not timed.any():
        return x, time_ok, shift
    hour = pc.cast(pc.if_else(from_bools(timed), parts.field("h"), "0"), pa.int64())
    minute = pc.cast(pc.if_else(from_bools(timed), parts.field("mi"), "0"), pa.int64())
    second_text = pc.if_else(from_bools(timed), parts.field("s"), "0")
    second = pc.cast(pc.if_else(pc.equal(second_text, ""), "0", second_text), pa.int64())
    time_ok = (values(hour) <= 23) & (values(minute) <= 59) & (values(second) <= 59)
    dates = pc.if_else(from_bools(timed), parts.field("d"), x)
    zone = bools(pc.not_equal(pc.if_else(from_bools(timed), parts.field("z"), ""), ""))
    for i in np.flatnonzero(zone & time_ok).tolist():  # rare: a few distinct values at most
        shift[i] = _offset_shift(x[i].as_py())
    return dates, time_ok, shift


def _offset_shift(value: str) -> int:
    """Days between the date as written and the date in Dutch time, for a date-time with an offset."""
    from zoneinfo import ZoneInfo

    timed = DATE_TIME_RE.match(value)
    parts = _date_parts(timed["d"]) if timed else None
    if parts is None or not _real_date(*parts):
        return 0
    zone = timed["z"].strip()
    offset = dt.timedelta(0)
    if zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        offset = -offset if zone[0] == "-" else offset
    if offset >= dt.timedelta(days=1):
        return 0
    written = dt.datetime(*parts, int(timed["h"]), int(timed["mi"]), tzinfo=dt.timezone(offset))
    return (written.astimezone(ZoneInfo("Europe/Amsterdam")).date() - written.date()).days


def _check_date(x: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    time_ok, shift = True, 0
    if len(x) and (_lengths(x) > 10).any():
        x, time_ok, shift = _split_date_times(x)
    shaped, y, m, d = _parse_dates(x)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(m, 0, 13)] + (leap & (m == 2))
    ok = shaped & (m >= 1) & (d >= 1) & (d <= month_days) & (y >= MIN_YEAR) & (y <= MAX_YEAR) & time_ok
    return ok, np.where(ok, _days_since_1970(y, np.where(ok, m, 1), d) + shift, 0).astype(np.int32)


def _check_gemeente(x: pa.Array) -> np.ndarray:
    """GM (any case) and four digits."""
    lengths, starts, data = text_parts(x)
    ok = lengths == 6
    rows = np.flatnonzero(ok)
    chars = gather(data, starts[rows], 6)
    ok[rows] = ((chars[:, 0] | 0x20) == ord("g")) & ((chars[:, 1] | 0x20) == ord("m"))
    ok[rows] &= ((chars[:, 2:] - np.uint8(48)) < 10).all(axis=1)
    return ok


_BOOLEANS = strings(BOOLEAN_ALL)


def _index_in(x: pa.Array, value_set: pa.Array) -> np.ndarray:
    """Position of each value in `value_set`, or -1."""
    found = pc.index_in(x, value_set=value_set)
    valid = validity(found)
    index = values(found).astype(np.int64)
    return index if valid is None else np.where(valid, index, -1)


def _values(col: Column, x: pa.Array, delimiter: str) -> tuple[np.ndarray, pa.Array | np.ndarray]:
    """(valid, typed) for the distinct present values `x` of a column checked value by value.

    Typed values come as Arrow text (codes, decimals) or as numpy (numbers, dates as days, booleans).
    """
    kind = col.type
    if kind == "date":
        return _check_date(x)
    if kind == "integer":
        ok = bools(pc.ascii_is_decimal(x)) & (_lengths(x) <= 9)
        number = np.zeros(len(x), dtype=np.int32)
        number[ok] = values(pc.cast(x.filter(from_bools(ok)), pa.int32()))
        return ok, number
    if kind == "decimal":
        return _check_decimal(x, delimiter)
    if kind == "boolean":
        index = _index_in(pc.utf8_lower(x), _BOOLEANS)
        return index >= 0, (index >= 0) & (index % 2 == 0)
    if kind == "enum":
        lower = pc.utf8_lower(x)
        return bools(pc.is_in(lower, value_set=strings(col.values))), lower
    if kind == "postcode4":
        ok = (_lengths(x) == 4) & bools(pc.ascii_is_decimal(x)) & ~bools(pc.starts_with(x, "0"))
        return ok, x
    if kind == "gemeente":
        return _check_gemeente(x), pc.ascii_upper(x)
    if kind == "pseudoniem":  # hex compares without regard to case: stored in lower case
        return (_lengths(x) == 64) & bools(pc.match_substring_regex(x, "^[0-9A-Fa-f]{64}$")), pc.ascii_lower(x)
    raise ValueError(kind)


_ARROW_TYPE = {"date": pa.date32(), "integer": pa.int32(), "boolean": pa.bool_()}


class Checks:
    """The checks for one file: its contract, header, delimiter, arrival day and the reference codes."""

    def __init__(
        self, contract: Contract, header: Sequence[str], delimiter: str, arrival: dt.date, refs: Municipalities
    ) -> None:
        self.contract = contract
        self.delimiter = delimiter
        self.arrival = arrival
        self.refs = refs
        self.position = {name: i for i, name in enumerate(header) if name in contract.column_names}
        self.others = [i for i, name in enumerate(header) if name not in self.position]
        self.columns = [c for c in contract.columns if c.name in self.position]
        self._enum_values = {c.name: strings(c.values) for c in self.columns if c.type == "enum"}

    def check(self, batch: TextBatch) -> CheckedBatch:
        cols = {c.name: self._column(c, batch.columns[self.position[c.name]]) for c in self.columns}
        keep = self._not_blank(batch, cols)
        if keep is None:
            return CheckedBatch(self, batch.lines, 0, cols)
        cols = {name: checked.filter(keep) for name, checked in cols.items()}
        return CheckedBatch(self, batch.lines[keep], int((~keep).sum()), cols)

    def _not_blank(self, batch: TextBatch, cols: dict[str, _Checked]) -> np.ndarray | None:
        """Rows with any value, or None when that is all of them."""
        keep = np.zeros(len(batch), dtype=bool)
        for checked in cols.values():
            keep |= checked.present
        if keep.all():
            return None
        for i in self.others:
            keep |= _lengths(_trim(batch.columns[i])) > 0
        return None if keep.all() else keep

    def _column(self, col: Column, raw: pa.Array) -> _Checked:
        exact = self._exact(col, raw)
        if exact is not None:
            return exact
        if col.type not in BY_VALUE:  # free text and identifiers: every value its own
            x = _trim(raw)
            present = _lengths(x) > 0
            valid = present & (_check_identifier(x) if col.type == "identifier" else _check_text(x, col))
            return _Checked(x, present, valid, with_validity(x, valid))
        lengths, starts, _ = text_parts(raw)
        if len(raw) and starts[-1] + lengths[-1] == starts[0]:  # no bytes at all: every cell empty
            absent = np.zeros(len(raw), dtype=bool)
            typed = pa.nulls(len(raw), _ARROW_TYPE.get(col.type, pa.string()))
            number = np.zeros(len(raw), dtype=np.int64) if col.type in _ARROW_TYPE else None
            return _Checked(raw, absent, absent, typed, number)
        encoded = pc.dictionary_encode(raw)
        index = values(encoded.indices)
        distinct = _trim(encoded.dictionary)
        present_d = _lengths(distinct) > 0
        ok_d, typed_d = _values(col, distinct, self.delimiter)
        valid_d = present_d & ok_d
        if valid_d.all():  # the usual case: no need to look row by row
            present = valid = np.ones(len(index), dtype=bool)
        else:
            present, valid = present_d[index], valid_d[index]
        text = pa.DictionaryArray.from_arrays(encoded.indices, distinct)
        if isinstance(typed_d, pa.Array):  # codes: rows point into the typed dictionary
            typed = pa.DictionaryArray.from_arrays(from_values(index, pa.int32(), valid), typed_d)
            return _Checked(text, present, valid, typed)
        number = typed_d[index]
        typed = from_values(number.astype(np.uint8) if col.type == "boolean" else number, _ARROW_TYPE[col.type], valid)
        return _Checked(text, present, valid, typed, number)

    def _exact(self, col: Column, raw: pa.Array) -> _Checked | None:
        """The usual case in one step, or None: every cell of the batch written as the contract does.

        Codes, booleans and municipality codes exactly as listed (lower case, no spaces, a known
        code); postcodes and whole numbers present and valid in every row. Anything else goes the
        long way, value by value (dates always do: they repeat, and each distinct one is parsed once).
        """
        n = len(raw)
        everywhere = np.ones(n, dtype=bool)
        if col.type in ("enum", "boolean", "gemeente"):
            listed = {"enum": self._enum_values.get(col.name), "boolean": _BOOLEANS, "gemeente": self.refs.codes}[
                col.type
            ]
            found = pc.index_in(raw, value_set=listed)
            if found.null_count:
                return None
            if col.type == "boolean":
                number = values(found) % 2 == 0
                return _Checked(raw, everywhere, everywhere, from_values(number, pa.bool_()), number)
            return _Checked(raw, everywhere, everywhere, pa.DictionaryArray.from_arrays(found, listed))
        if col.type not in ("postcode4", "integer"):
            return None
        lengths, starts, data = text_parts(raw)
        if not n or not lengths.all():
            return None
        if col.type == "postcode4" and (lengths == 4).all():
            digits = data[starts[0] : starts[0] + 4 * n].reshape(n, 4) - np.uint8(48)
            if (digits < 10).all() and (digits[:, 0] != 0).all():
                return _Checked(raw, everywhere, everywhere, raw)
        elif col.type == "integer" and lengths.max() <= 9 and bools(pc.ascii_is_decimal(raw)).all():
            number = values(pc.cast(raw, pa.int32()))
            return _Checked(raw, everywhere, everywhere, from_values(number, pa.int32()), number)
        return None


# --- a checked batch ---------------------------------------------------------------------------


_COMPARE = {"<=": np.less_equal, ">=": np.greater_equal, "<": np.less, ">": np.greater}
_PC_COMPARE = {"<=": pc.less_equal, ">=": pc.greater_equal, "<": pc.less, ">": pc.greater}


@dataclass
class CheckedBatch:
    checks: Checks
    lines: np.ndarray
    blank: int
    columns: dict[str, _Checked]
    _broken: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (column, code, rows)
    _municipality: np.ndarray | None = None  # index into the reference list, -1 when unknown

    def __post_init__(self) -> None:
        contract = self.checks.contract
        for rule in contract.rules:
            broken = self._broken_rule(rule.left, rule.op, rule.right)
            if broken is not None:
                self._broken.append((rule.left, f"rule:{rule.name}", broken))
        for col in contract.columns:
            if col.type == "gemeente" and col.name in self.columns:
                self._check_municipality(col.name)

    def __len__(self) -> int:
        return len(self.lines)

    def _side(self, name: str) -> tuple[np.ndarray | pa.Array, np.ndarray] | None:
        """A rule's operand: (values, valid); numbers and dates as numpy, others as Arrow."""
        if name == ARRIVAL:
            days = (self.checks.arrival - dt.date(1970, 1, 1)).days
            return np.full(len(self), days, dtype=np.int64), np.ones(len(self), dtype=bool)
        checked = self.columns.get(name)
        if checked is None:
            return None
        if checked.number is not None:
            return checked.number, checked.valid
        typed = checked.typed
        if isinstance(typed, pa.DictionaryArray):
            typed = typed.dictionary_decode()
        if self.checks.contract.column(name).type == "decimal":  # kept as text until now
            typed = pc.cast(typed, pa.decimal256(46, 22))
        return typed, checked.valid

    def _broken_rule(self, left_name: str, op: str, right_name: str) -> np.ndarray | None:
        left, right = self._side(left_name), self._side(right_name)
        if left is None or right is None:
            return None
        both = left[1] & right[1]
        if isinstance(left[0], np.ndarray) and isinstance(right[0], np.ndarray):
            held = _COMPARE[op](left[0], right[0])
        else:
            held = bools(_PC_COMPARE[op](left[0], right[0]))
        return both & ~held

    def _check_municipality(self, name: str) -> None:
        refs = self.checks.refs
        code = self.columns[name]
        if code.valid.any():
            typed = code.typed  # a dictionary array: each distinct code is looked up once
            known = _index_in(typed.dictionary, refs.codes)
            index = np.where(code.valid, known[np.where(code.valid, values(typed.indices), 0)], -1)
        else:
            index = np.full(len(self), -1, dtype=np.int64)
        self._municipality = index
        self._broken.append((name, "gemeente_unknown", code.valid & (index < 0)))
        event = self.columns.get(self.checks.contract.event_date)
        if event is None or event.number is None:
            return
        until = np.where(index >= 0, refs.valid_until[np.maximum(index, 0)], np.iinfo(np.int64).max)
        self._broken.append((name, "gemeente_expired", (index >= 0) & event.valid & (event.number >= until)))

    # -- what the loader needs -------------------------------------------------------------------
    def failing_rows(self) -> np.ndarray:
        bad = np.zeros(len(self), dtype=bool)
        for checked in self.columns.values():
            bad |= checked.bad
        for name in self.checks.contract.required:
            if name in self.columns:
                bad |= ~self.columns[name].present
        for _, _, rows in self._broken:
            bad |= rows
        return bad

    @property
    def ok(self) -> bool:
        return not self.failing_rows().any()

    def error_count(self) -> int:
        total = sum(int(c.bad.sum()) for c in self.columns.values())
        total += sum(int((~self.columns[n].present).sum()) for n in self.checks.contract.required if n in self.columns)
        return total + sum(int(rows.sum()) for _, _, rows in self._broken)

    def error_counts(self) -> Counter[tuple[str, str]]:
        """Errors per (column, check): each distinct failing value is explained once, its rows counted."""
        counts: Counter[tuple[str, str]] = Counter()
        delimiter = self.checks.delimiter
        for col in self.checks.columns:
            checked = self.columns[col.name]
            bad = checked.bad
            if bad.any():
                texts = checked.text.filter(from_bools(bad))
                if isinstance(texts, pa.DictionaryArray):
                    texts = texts.dictionary_decode()
                for item in pc.value_counts(texts).to_pylist():
                    counts[(col.name, reason(col, item["values"], delimiter))] += item["counts"]
            if col.required:
                missing = int((~checked.present).sum())
                if missing:
                    counts[(col.name, "required")] += missing
        for name, code, rows in self._broken:
            n = int(rows.sum())
            if n:
                counts[(name, code)] += n
        return counts

    def typed(self, name: str) -> pa.Array:
        return self.columns[name].typed

    def key_text(self) -> tuple[np.ndarray, list[pa.Array]]:
        """Rows whose key is complete, and the key's normalised text: duplicates compare these."""
        contract = self.checks.contract
        names = contract.key
        complete = np.ones(len(self), dtype=bool)
        for name in names:  # an optional key column may be empty: "" is then its value (gemeenten' postcode4)
            if contract.column(name).required:
                complete &= self.columns[name].present
        texts = [self._key_column(name) for name in names]
        if not complete.all():
            mask = from_bools(complete)
            texts = [t.filter(mask) for t in texts]
        return complete, [t.dictionary_decode() if isinstance(t, pa.DictionaryArray) else t for t in texts]

    def _key_column(self, name: str) -> pa.Array:
        """A key column's normalised text; an optional key column the file lacks is empty in every row."""
        checked = self.columns.get(name)
        if checked is None:
            return strings([""] * len(self))
        # An invalid optional cell is a row error anyway; absent cells are "" (no nulls, for the hashes).
        return checked.text

    def findings(self, limit: int) -> list[Finding]:
        """The failing cells of the first failing rows, by line then column, at most `limit`."""
        contract = self.checks.contract
        out: list[Finding] = []
        for row in np.flatnonzero(self.failing_rows()):
            if len(out) >= limit:
                break
            line = int(self.lines[row])
            found: list[Finding] = []
            for col in self.checks.columns:
                checked = self.columns[col.name]
                if not checked.present[row]:
                    if col.required:
                        found.append(Finding(line, col.name, None, "required"))
                elif not checked.valid[row]:
                    value = checked.text[int(row)].as_py()
                    code = reason(col, value, self.checks.delimiter)
                    shown = value[:MAX_FINDING_VALUE]
                    found.append(Finding(line, col.name, shown, code, extra(contract, col.name, code)))
            for name, code, rows in self._broken:
                if rows[row]:
                    value = self.columns[name].text[int(row)].as_py() if name in self.columns else None
                    value = value and value[:MAX_FINDING_VALUE]
                    found.append(Finding(line, name, value, code, self._extra_for(name, code, row)))
            found.sort(key=lambda f: f.column or "")
            out += found
        return out[:limit]

    def _extra_for(self, name: str, code: str, row: int) -> str:
        if code == "gemeente_expired" and self._municipality is not None:
            refs, i = self.checks.refs, int(self._municipality[row])
            return extra(self.checks.contract, name, code, refs.names[i], refs.until[i], refs.successors[i])
        return extra(self.checks.contract, name, code)
