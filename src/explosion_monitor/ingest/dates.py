"""Dates in date columns, vectorised: the two written forms the contract names (ISO Y-M-D and Dutch D-M-Y,
one- or two-digit day and month) and date-times, reduced to their calendar date in Dutch time.

`check_date` is what validate.Checks runs per distinct value; `date_parts`, `real_date` and `real_time` are the
plain-Python forms validate.reason uses to say why one cell fails.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from explosion_monitor.ingest.arrays import bools, from_bools, gather, text_parts, validity, values

MIN_YEAR, MAX_YEAR = 1990, 2100
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
# A date-time in a date column: the date as above, a time of day, and optionally a UTC offset.
DATE_TIME = (
    r"^(?P<d>[0-9]{1,4}-[0-9]{1,2}-[0-9]{1,4})[ T](?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})"
    r"(?::(?P<s>[0-9]{2})(?:[.,][0-9]{1,9})?)?(?P<z> ?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?))?$"
)
DATE_TIME_RE = re.compile(DATE_TIME)
NL_DATE = re.compile(r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}")
# Date shapes (digits before, between and after the dashes); a 4-digit year first is ISO.
DATE_SHAPES = [(4, 1, 1), (4, 1, 2), (4, 2, 1), (4, 2, 2), (1, 1, 4), (1, 2, 4), (2, 1, 4), (2, 2, 4)]
DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0], dtype=np.int64)


def date_parts(value: str) -> tuple[int, int, int] | None:
    if ISO_DATE.fullmatch(value):
        y, m, d = value.split("-")
    elif NL_DATE.fullmatch(value):
        d, m, y = value.split("-")
    else:
        return None
    return int(y), int(m), int(d)


def real_time(timed: re.Match) -> bool:
    return int(timed["h"]) <= 23 and int(timed["mi"]) <= 59 and int(timed["s"] or 0) <= 59


def real_date(y: int, m: int, d: int) -> bool:
    try:
        dt.date(y, m, d)
    except ValueError:
        return False
    return True


def parse_dates(x: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def days_since_1970(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Proleptic Gregorian day numbers (H. Hinnant's days_from_civil), for valid dates."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def split_date_times(x: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
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
        shift[i] = offset_shift(x[i].as_py())
    return dates, time_ok, shift


def offset_shift(value: str) -> int:
    """Days between the date as written and the date in Dutch time, for a date-time with an offset."""
    from zoneinfo import ZoneInfo

    timed = DATE_TIME_RE.match(value)
    parts = date_parts(timed["d"]) if timed else None
    if parts is None or not real_date(*parts):
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


def check_date(x: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    time_ok, shift = True, 0
    if len(x) and (text_parts(x)[0] > 10).any():
        x, time_ok, shift = split_date_times(x)
    shaped, y, m, d = parse_dates(x)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_days = DAYS_IN_MONTH[np.clip(m, 0, 13)] + (leap & (m == 2))
    ok = shaped & (m >= 1) & (d >= 1) & (d <= month_days) & (y >= MIN_YEAR) & (y <= MAX_YEAR) & time_ok
    return ok, np.where(ok, days_since_1970(y, np.where(ok, m, 1), d) + shift, 0).astype(np.int32)
