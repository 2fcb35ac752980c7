"""Typed Arrow columns to PostgreSQL's binary COPY format, vectorised with numpy.

Binary COPY spares the server the text parsing of every date, number and timestamp, which
is most of what a text COPY costs it. A binary tuple is `int16 field count`, then per field
`int32 length` (-1 for NULL) and the value in network byte order. Rows have different sizes
(text, NULLs), so each field is written for all rows at once through a sliding-window view
of the output buffer (`arrays.window`): one numpy scatter per field, or per distinct length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from explosion_monitor.ingest.arrays import gather, text_parts, validity, values, window

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
NULL = np.frombuffer(b"\xff\xff\xff\xff", dtype="V4")[0]

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
PG_EPOCH_DAYS = 10957  # 2000-01-01 in days since 1970-01-01

# Decimals go out as numerics of 6 + 6 base-10000 digits: 24 integer and 24 fraction digits
# cover the contract's 22 characters. The server strips the zero digits.
_NUMERIC_GROUPS = 6
_NUMERIC_WIDTH = 4 * _NUMERIC_GROUPS
NUMERIC_PAYLOAD = 8 + 2 * 2 * _NUMERIC_GROUPS

# Fixed-size kinds: payload width and numpy big-endian dtype.
FIXED = {"bool": (1, ">u1"), "int4": (4, ">i4"), "int8": (8, ">i8"), "date": (4, ">i4"), "timestamptz": (8, ">i8")}


@dataclass(frozen=True)
class Field:
    """One column of the COPY: `kind` is text, numeric, or a key of FIXED."""

    name: str
    kind: str


def _fixed_parts(data: np.ndarray | object, kind: str) -> list[tuple[str, object]]:
    """Length and value (numpy per row, or one for all; days since 1970 for dates) as wire fields."""
    width, wire = FIXED[kind]
    return [(">i4", width), (wire, data - PG_EPOCH_DAYS if kind == "date" else data)]


def numeric_payload(arr: pa.Array) -> np.ndarray:
    """Plain decimals (`123`, `0.50`: digits and at most one point) as binary numerics, one V36 per row."""
    n = len(arr)
    lengths, starts, data = text_parts(arr)
    point = values(pc.find_substring(arr, ".")).astype(np.int64)
    point = np.where((point < 0) | (lengths == 0), -1, point)  # also where null
    whole = np.where(point < 0, lengths, point)
    scale = np.where(point < 0, 0, lengths - point - 1)
    # Integer digits right-aligned in the first half, fraction digits left-aligned in the second.
    digits = np.full((n, 2 * _NUMERIC_WIDTH), ord("0"), dtype=np.uint8)
    for width, rows in by_value(whole):
        if width:
            digits[rows, _NUMERIC_WIDTH - width : _NUMERIC_WIDTH] = gather(data, starts[rows], width)
    for width, rows in by_value(scale):
        if width:
            digits[rows, _NUMERIC_WIDTH : _NUMERIC_WIDTH + width] = gather(data, starts[rows] + whole[rows] + 1, width)
    d = digits.astype(np.int16) - ord("0")
    out = np.empty(
        n,
        dtype=[
            ("len", ">i4"),
            ("ndigits", ">i2"),
            ("weight", ">i2"),
            ("sign", ">i2"),
            ("dscale", ">i2"),
            ("digits", ">i2", (2 * _NUMERIC_GROUPS,)),
        ],
    )
    out["len"] = NUMERIC_PAYLOAD
    out["ndigits"] = 2 * _NUMERIC_GROUPS
    out["weight"] = _NUMERIC_GROUPS - 1
    out["sign"] = 0
    out["dscale"] = scale
    out["digits"] = d[:, 0::4] * 1000 + d[:, 1::4] * 100 + d[:, 2::4] * 10 + d[:, 3::4]
    return out.view(np.dtype((np.void, 4 + NUMERIC_PAYLOAD)))


def by_value(keys: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(value, row indices) for each distinct value of small non-negative integers, rows in order."""
    small = keys.astype(np.uint16) if len(keys) and keys.max() < 1 << 16 else keys
    order = np.argsort(small, kind="stable")  # a radix sort for 16-bit keys
    cuts = np.flatnonzero(np.diff(small[order])) + 1
    for rows in np.split(order, cuts):
        if rows.size:
            yield int(keys[rows[0]]), rows


@dataclass
class _Fixed:
    """A field of one size in every row of the batch, as wire fields: (numpy dtype, values per
    row or one value for all). The encoder assembles runs of these in one structured array."""

    parts: list[tuple[str, object]]


@dataclass
class _Varying:
    sizes: np.ndarray  # bytes per row
    write: Callable[[np.ndarray, np.ndarray], None]  # (output, field position per row)


class Encoder:
    """Encodes batches for `COPY table (<fields>) FROM STDIN (FORMAT binary)`.

    Consecutive fields that have one size in every row of a batch (dates, numbers, codes of one
    length, a column that is all NULL) are assembled side by side in a structured array and
    written as one piece per row; list such fields first to make that the bulk of the row.
    """

    def __init__(self, fields: Sequence[Field]) -> None:
        if len(fields) > 0x7FFF:
            raise ValueError("too many columns")
        self.fields = tuple(fields)
        self._header = _Fixed([(">i2", len(fields))])

    def encode(self, columns: Sequence[pa.Array | np.ndarray | object], n: int) -> memoryview:
        """Rows of `columns` (Arrow arrays, numpy arrays, or one value for every row) as COPY data."""
        if not n:
            return memoryview(b"")
        plans = [self._plan(f, c, n) for f, c in zip(self.fields, columns, strict=True)]
        pieces = _merge([self._header, *plans], n)
        sizes = np.zeros(n, dtype=np.int64)
        for piece in pieces:
            sizes += piece.dtype.itemsize if isinstance(piece, np.ndarray) else piece.sizes
        ends = np.cumsum(sizes)
        out = np.empty(int(ends[-1]), dtype=np.uint8)
        pos = ends - sizes
        for piece in pieces:
            if isinstance(piece, np.ndarray):
                width = piece.dtype.itemsize
                window(out, width)[pos] = piece
                pos += width
            else:
                piece.write(out, pos)
                pos += piece.sizes
        return memoryview(out)

    def _plan(self, field: Field, col: pa.Array | np.ndarray | object, n: int) -> _Fixed | _Varying:
        if isinstance(col, np.ndarray):  # fixed-size values without nulls, e.g. line numbers
            return _Fixed(_fixed_parts(col, field.kind))
        if not isinstance(col, pa.Array):
            return self._constant(field, col)
        if col.null_count == n:
            return _Fixed([(">i4", -1)])
        valid = validity(col)
        if isinstance(col, pa.DictionaryArray):  # each distinct value is prepared once
            index = values(col.indices).astype(np.int64)
            if valid is not None:
                index = np.where(valid, index, 0)
            distinct = col.dictionary
            if field.kind == "text":
                lengths, starts, data = text_parts(distinct)
                return _text(lengths[index], starts[index], data, valid)
            if valid is None and field.kind != "numeric":
                return _Fixed(_fixed_parts(_data(distinct, field.kind)[index], field.kind))
            return _nullable(self._payload(field, distinct)[index], valid)
        if field.kind == "text":
            return _text(*text_parts(col), valid)
        if valid is None and field.kind != "numeric":
            return _Fixed(_fixed_parts(_data(col, field.kind), field.kind))
        return _nullable(self._payload(field, col), valid)

    @staticmethod
    def _payload(field: Field, col: pa.Array) -> np.ndarray:
        """Length and value per row as one V<width> each."""
        if field.kind == "numeric":
            return numeric_payload(col)
        return _assemble([_Fixed(_fixed_parts(_data(col, field.kind), field.kind))], len(col))

    @staticmethod
    def _constant(field: Field, value: object) -> _Fixed:
        if field.kind == "timestamptz":
            assert isinstance(value, dt.datetime) and value.tzinfo is not None
            value = (value - PG_EPOCH) // dt.timedelta(microseconds=1)
        if field.kind not in FIXED:
            raise ValueError(f"no constant of kind {field.kind}")
        return _Fixed(_fixed_parts(value, field.kind))


def _data(col: pa.Array, kind: str) -> np.ndarray:
    data = values(col)
    return data.astype(np.uint8) if kind == "bool" else data


def _nullable(payload: np.ndarray, valid: np.ndarray | None) -> _Fixed | _Varying:
    width = payload.dtype.itemsize
    if valid is None:
        return _Fixed([(f"V{width}", payload)])

    def write(out: np.ndarray, pos: np.ndarray) -> None:
        window(out, width)[pos[valid]] = payload[valid]
        window(out, 4)[pos[~valid]] = NULL

    return _Varying(np.where(valid, width, 4), write)


def _text(lengths: np.ndarray, starts: np.ndarray, data: np.ndarray, valid: np.ndarray | None) -> _Fixed | _Varying:
    if valid is not None:
        lengths = np.where(valid, lengths, 0)
    prefix = lengths.astype(">i4").view("V4")
    if valid is not None:
        prefix = np.where(valid, prefix, NULL)
    elif (lengths == lengths[0]).all():  # one length: a fixed piece
        width = int(lengths[0])
        if not width:
            return _Fixed([(">i4", 0)])
        return _Fixed([(">i4", width), (f"V{width}", window(data, width)[starts])])

    def write(out: np.ndarray, pos: np.ndarray) -> None:
        window(out, 4)[pos] = prefix
        body = pos + 4
        # One gather and scatter per distinct length: few for codes, enums and ids.
        for width, rows in by_value(lengths):
            if width:
                window(out, width)[body[rows]] = window(data, width)[starts[rows]]

    return _Varying(4 + lengths, write)


def _assemble(run: list[_Fixed], n: int) -> np.ndarray:
    """Fixed pieces side by side: one V<width> per row."""
    parts = [part for piece in run for part in piece.parts]
    out = np.empty(n, dtype=[(f"f{i}", dtype) for i, (dtype, _) in enumerate(parts)])
    for i, (_, value) in enumerate(parts):
        out[f"f{i}"] = value
    return out.view(np.dtype((np.void, out.dtype.itemsize)))


def _merge(pieces: list[_Fixed | _Varying], n: int) -> list[np.ndarray | _Varying]:
    """Each run of fixed pieces as one structured array; varying pieces as they are."""
    out: list[np.ndarray | _Varying] = []
    run: list[_Fixed] = []
    for piece in pieces:
        if isinstance(piece, _Fixed):
            run.append(piece)
            continue
        if run:
            out.append(_assemble(run, n))
            run = []
        out.append(piece)
    if run:
        out.append(_assemble(run, n))
    return out
