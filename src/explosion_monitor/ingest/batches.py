"""A delivery as a stream of batches of text columns: CSV through pyarrow, XLSX through openpyxl.

Every cell arrives as text, exactly as the partner wrote it (`""` when empty), so one set of
checks (validate.py) serves both formats. Nothing is held beyond the batch in hand: memory
stays flat however long the file is.

CSV structure is checked here, as PostgreSQL's COPY used to: wrong field counts, a quote that
is never closed, and line endings that switch between CRLF and LF reject the whole file with
the line (= record; the header is line 1) where it happens.

pyarrow cannot parse a record longer than its block. When one stops it, the rows from there on
are read in segments: the records before the long one as usual, the long one alone in a block of
its own size (up to MAX_RECORD_BYTES), then on. Its cells then get the checks every cell gets.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from explosion_monitor.contracts import Contract
from explosion_monitor.ingest import xlsx
from explosion_monitor.ingest.arrays import strings
from explosion_monitor.ingest.header_help import HeaderContext, xlsx_peek
from explosion_monitor.ingest.sniff import CHUNK, Inspection, Rejected, normalise_header

# pyarrow parses one block per record batch. Its read-ahead keeps tens of blocks once a file is
# long enough, so blocks are small (memory stays flat from small files to large ones) and we
# join them into batches of BATCH_BYTES, big enough that the checks' per-batch cost is noise.
BLOCK_SIZE = 1 << 18
BATCH_BYTES = 1 << 21
XLSX_BATCH_ROWS = 10_000
# A longer record is refused: parsing it takes memory of a few times its size.
MAX_RECORD_BYTES = 1 << 24

MORE_FIELDS = ("heeft meer velden dan de kopregel", "has more fields than the header")
FEWER_FIELDS = ("heeft minder velden dan de kopregel, of is leeg", "has fewer fields than the header, or is empty")
OPEN_QUOTE = ("heeft een aanhalingsteken dat niet wordt gesloten", "has a quote that is never closed")
MIXED_ENDINGS = ("wisselt tussen CRLF- en LF-regeleinden", "mixes CRLF and LF line endings")
UNREADABLE = (
    "Het bestand kan vanaf regel {line} niet als CSV worden gelezen.",
    "The file cannot be read as CSV from line {line} on.",
)
TOO_LONG = (
    "Deze regel is langer dan {mb} MB en kan niet worden verwerkt; de langste waarde staat in kolom {column}.",
    "This line is longer than {mb} MB and cannot be processed; its longest value is in column {column}.",
)


def _line_error(sentences: tuple[str, str], line: int | None) -> Rejected:
    nl, en = sentences
    return Rejected(f"Deze regel {nl}.", f"This line {en}.", line=line)


@dataclass
class TextBatch:
    """Rows of a delivery: their line numbers and one string column per header position."""

    lines: np.ndarray  # int64
    columns: list[pa.Array]

    def __len__(self) -> int:
        return len(self.lines)


@dataclass
class Source:
    """A delivery's header and a way to read its rows, as often as needed."""

    path: Path
    inspection: Inspection
    header: list[str]
    # How numbers are written: a decimal comma is only allowed in ;-delimited CSV.
    delimiter: str
    # The rows of an XLSX whose header was read to make this Source: the first pass reads on.
    _xlsx_rows: Iterator[tuple[int, list[str | None]]] | None = None

    def batches(self) -> Iterator[TextBatch]:
        if self.inspection.kind == "xlsx":
            rows, self._xlsx_rows = self._xlsx_rows, None
            if rows is None:
                _, rows, _ = xlsx.read_rows(self.path)
            return _xlsx_batches(rows, len(self.header))
        return _csv_batches(self.path, self.inspection)


def open_source(path: Path, insp: Inspection, contract: Contract) -> Source:
    if insp.kind == "xlsx":
        names, rows, sheet = xlsx.read_rows(path)
        try:
            header = normalise_header(names, contract, HeaderContext(1, sheet, xlsx_peek(path)))
        except Rejected:
            rows.close()  # type: ignore[attr-defined]
            raise
        return Source(path, insp, header, ",", rows)
    return Source(path, insp, insp.header, insp.delimiter)


# --- CSV ----------------------------------------------------------------------------------------


class _Records(io.RawIOBase):
    """The bytes of the records from `start` to `stop`, as UTF-8 (a Windows-1252 file is transcoded)."""

    def __init__(self, path: Path, insp: Inspection, start: int, stop: int) -> None:
        self._fh = open(path, "rb")
        self._fh.seek(start)
        self._left = stop - start
        self._cp1252 = insp.encoding == "cp1252"
        self._pending = b""  # transcoded bytes not yet handed out

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._fh.close()
        super().close()

    def read(self, size: int = -1) -> bytes:
        # pyarrow asks for a block at a time and takes a short read for a block of its own, so
        # hand out exactly `size` bytes until the end. UTF-8 bytes go out as read, without a copy.
        size = CHUNK if size < 0 else size
        if not self._cp1252:
            return self._next_chunk(size)
        while len(self._pending) < size and (chunk := self._next_chunk(size)):
            self._pending += chunk.decode("cp1252").encode("utf-8")  # longer than what was read
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def readinto(self, buf) -> int:  # type: ignore[override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def _next_chunk(self, size: int) -> bytes:
        chunk = self._fh.read(min(size, self._left)) if self._left > 0 else b""
        self._left -= len(chunk)
        return chunk


@dataclass
class _Violation:
    """A structural error pyarrow would let through: the records stop at `stop` (the first byte of the record
    it is in), and once the records before it are read, `rejection` is the file's."""

    stop: int
    rejection: Rejected
    at_end: bool  # a quoted field still open at the end of the file


def _structure(path: Path, insp: Inspection, data_start: int) -> _Violation | None:
    """The first line ending outside quoted fields that the header's style forbids (CRLF and LF mixed, a lone
    CR), or a quoted field left open at the end. Quotes count as pyarrow reads them, so that the verdict does
    not depend on how the file is cut into blocks."""
    crlf = insp.newline == b"\r\n"
    line, record = insp.header_line + 1, data_start  # the record being scanned: its line and first byte
    pending_cr = -1  # an unquoted CR that ended the previous chunk: fine if an LF follows
    pending_before = inside = False
    for pos, data, quoted in _quote_masks(path, data_start, insp.content_end, insp.delimiter):
        inside = bool(quoted if isinstance(quoted, bool) else quoted[-1])
        if quoted is True:
            pending_cr, pending_before = -1, False
            continue
        cr, lf = data == _CR, data == _LF
        if quoted is not False:
            cr, lf = cr & ~quoted, lf & ~quoted
        crs, lfs = np.flatnonzero(cr), np.flatnonzero(lf)
        if crlf:
            bad = [pos - 1] if pending_cr >= 0 and data[0] != _LF else []
            inner = crs[crs + 1 < len(data)]
            bad += (inner[data[inner + 1] != _LF] + pos).tolist()[:1]
            pending_cr = pos + int(crs[-1]) if len(crs) and crs[-1] == len(data) - 1 else -1
            after_cr = np.zeros(len(lfs), dtype=bool)
            after_cr[lfs > 0] = data[lfs[lfs > 0] - 1] == _CR
            if len(lfs) and lfs[0] == 0:
                after_cr[0] = pending_before
            bad += (lfs[~after_cr] + pos).tolist()[:1]
        else:
            bad = (crs[:1] + pos).tolist()
        pending_before = bool(cr[-1])
        if bad:
            first = min(bad) - pos
            k = int(np.searchsorted(lfs, first))
            if k:
                line, record = line + k, pos + int(lfs[k - 1]) + 1
            return _Violation(record, _line_error(MIXED_ENDINGS, line), at_end=False)
        if len(lfs):
            line, record = line + len(lfs), pos + int(lfs[-1]) + 1
    if inside:
        open_line = _open_quote_line(path, insp, data_start)
        if open_line is not None:
            return _Violation(insp.content_end, _line_error(OPEN_QUOTE, open_line), at_end=True)
    return None


def _open_quote_line(path: Path, insp: Inspection, data_start: int) -> int | None:
    """The line of the record whose quoted field runs to the end of the file, if any.

    pyarrow, like Excel and Python's csv module, reads a quote inside an unquoted field
    as a character; csv in strict mode tells an open quote at the end from such strays.
    """
    with open(path, "rb") as raw:
        raw.seek(data_start)
        text = io.TextIOWrapper(raw, encoding=insp.encoding, newline="")
        reader = csv.reader(text, delimiter=insp.delimiter, strict=True)
        records = 0
        while True:
            try:
                next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    return records + insp.header_line + 1
            records += 1


class _FirstBadRow:
    """pyarrow's invalid-row handler: note the first bad row, then stop the read."""

    def __init__(self, first_line: int) -> None:
        self.first_line = first_line  # the line of the reader's first row
        self.row = None

    def __call__(self, row) -> str:
        if self.row is None:
            self.row = row
        return "error"

    def rejection(self) -> Rejected:
        row = self.row
        line = self.first_line + row.number - 1 if row.number is not None else None
        if (row.text or "").count('"') % 2:
            return _line_error(OPEN_QUOTE, line)
        return _line_error(MORE_FIELDS if row.actual_columns > row.expected_columns else FEWER_FIELDS, line)


class _Straddled(Exception):
    """pyarrow stopped without naming a row: a record longer than its block."""


def _joined(reader: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """pyarrow's small record batches, joined to about BATCH_BYTES each."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in reader:
        pending.append(batch)
        size += batch.nbytes
        if size >= BATCH_BYTES:
            yield _concat(pending)
            pending, size = [], 0
    if pending:
        yield _concat(pending)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _csv_batches(path: Path, insp: Inspection) -> Iterator[TextBatch]:
    with open(path, "rb") as fh:
        data_start = sum(
            len(fh.readline()) for _ in range(insp.header_line)
        )  # sep= line and header, as sniff read them
    if data_start >= insp.content_end:  # a header only; pyarrow refuses empty input
        return
    violation = _structure(path, insp, data_start)
    end = violation.stop if violation else insp.content_end
    start, line = data_start, insp.header_line + 1
    long: _Span | None = None  # the next record that needs a block of its own
    while start < end:
        alone = long is not None and long.start == start
        if alone:
            stop, block = long.end, (long.end - long.start) * _growth(insp) + 1
            long = None
        else:
            stop, block = (long.start if long else end), BLOCK_SIZE
        first = line
        try:
            for batch in _segment(path, insp, start, stop, line, block, violation if stop == end else None):
                yield batch
                line += len(batch)
        except _Straddled:
            if not alone:
                start, long = _find_long(path, insp, start, end, line - first, first)
                # Only a long record within this segment explains the stop (and lets us progress).
                if long is not None and long.start < stop:
                    if long.end - long.start > MAX_RECORD_BYTES:
                        raise _too_long(path, insp, long) from None
                    continue
            nl, en = UNREADABLE
            raise Rejected(nl.format(line=line), en.format(line=line), line=line) from None
        start = stop
    if violation:
        raise violation.rejection


def _segment(
    path: Path, insp: Inspection, start: int, stop: int, line: int, block: int, violation: _Violation | None
) -> Iterator[TextBatch]:
    """The records in bytes [start, stop), the first of them on `line`, parsed in blocks of `block` bytes.
    `violation`: the structural error at `stop`, if any, which wins over pyarrow's at the same record."""
    names = [f"c{i}" for i in range(len(insp.header))]
    bad = _FirstBadRow(line)
    records = _Records(path, insp, start, stop)
    try:
        reader = pcsv.open_csv(
            records,
            read_options=pcsv.ReadOptions(column_names=names, block_size=block, use_threads=False),
            parse_options=pcsv.ParseOptions(
                delimiter=insp.delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                # An empty line is a record of one empty field: too few fields, as COPY said.
                ignore_empty_lines=False,
                invalid_row_handler=bad,
            ),
            # sniff.inspect decoded the whole file already: the bytes are valid UTF-8 here.
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,
            ),
        )
        for batch in _joined(reader):
            yield TextBatch(np.arange(line, line + batch.num_rows, dtype=np.int64), batch.columns)
            line += batch.num_rows
    except pa.ArrowInvalid:
        # A quoted field open at the end of the file: pyarrow's error there is that one.
        late = violation.rejection if violation and violation.at_end else None
        if bad.row is None:
            raise late or _Straddled() from None
        found = bad.rejection()
        raise (late if late and (found.line is None or late.line <= found.line) else found) from None
    finally:
        records.close()


# --- records too long for a block -----------------------------------------------------------------


@dataclass
class _Span:
    """One record: bytes [start, end), on `line`."""

    start: int
    end: int
    line: int


_QUOTE, _LF, _CR, _TEXT = ord('"'), ord("\n"), ord("\r"), ord("x")


def _growth(insp: Inspection) -> int:
    """How many times longer a record gets as the UTF-8 pyarrow reads (a Windows-1252 € takes 3 bytes)."""
    return 3 if insp.encoding == "cp1252" else 1


def _toggling(data: np.ndarray, at: np.ndarray, inside: int, before: int, delimiter: str) -> np.ndarray:
    """Which of the quotes at `at` open or close a quoted field as pyarrow reads them; the others are text.

    A quote opens a field only where one starts (after a delimiter or a line feed), or doubles a
    quote that just closed one. `inside`: whether the chunk starts in a quoted field; `before`: the
    byte before it (_TEXT for a quote that was text).
    """
    starts = np.zeros(256, dtype=bool)
    starts[[ord(delimiter), _LF]] = True
    prev = np.where(at > 0, data[at - 1], before)
    # The usual case: every quote toggles, so that one after a quote follows a closing one.
    opening = (np.arange(len(at)) + inside) % 2 == 0
    if (starts[prev[opening]] | (prev[opening] == _QUOTE)).all():
        return np.ones(len(at), dtype=bool)
    toggles = np.zeros(len(at), dtype=bool)
    quoted, closed = bool(inside), -1 if before == _QUOTE else -2
    for j, (p, b) in enumerate(zip(at.tolist(), prev.tolist(), strict=True)):
        if quoted:
            quoted, closed, toggles[j] = False, p, True
        elif p == closed + 1 or starts[b]:
            quoted = toggles[j] = True
    return toggles


def _quote_masks(path: Path, start: int, stop: int, delimiter: str) -> Iterator[tuple[int, np.ndarray, object]]:
    """Per chunk of bytes [start, stop) (`start` begins a record): its offset, its bytes, and which of them
    lie in quoted fields as pyarrow reads them: a bool array, or one bool for a chunk without quotes.
    Vectorised, except in a chunk with a quote inside an unquoted field."""
    inside, before = 0, _LF
    with open(path, "rb") as fh:
        fh.seek(start)
        pos = start
        while pos < stop and (chunk := fh.read(min(CHUNK, stop - pos))):
            data = np.frombuffer(chunk, dtype=np.uint8)
            at = np.flatnonzero(data == _QUOTE)
            quoted: object
            if len(at):
                toggles = _toggling(data, at, inside, before, delimiter)
                marks = np.zeros(len(data), dtype=np.uint8)
                marks[at[toggles]] = 1
                # A running count of toggles (mod 256 keeps its parity): odd inside a quoted field.
                quoted = ((np.cumsum(marks, dtype=np.uint8) + inside) & 1).astype(bool)
                inside = int(quoted[-1])
                before = _TEXT if at[-1] == len(data) - 1 and not toggles[-1] else int(data[-1])
            else:
                quoted = bool(inside)
                before = int(data[-1])
            yield pos, data, quoted
            pos += len(data)


def _unquoted(path: Path, start: int, stop: int, byte: int, delimiter: str) -> Iterator[tuple[int, np.ndarray]]:
    """Per chunk of bytes [start, stop) (`start` begins a record): its offset, and where `byte` stands outside
    quoted fields."""
    for pos, data, quoted in _quote_masks(path, start, stop, delimiter):
        if quoted is True:
            yield pos, np.zeros(0, dtype=np.int64)
        elif quoted is False:
            yield pos, np.flatnonzero(data == byte)
        else:
            yield pos, np.flatnonzero((data == byte) & ~quoted)


def _find_long(path: Path, insp: Inspection, start: int, end: int, skip: int, line: int) -> tuple[int, _Span | None]:
    """From the record on `line` at `start`: where the record `skip` records on begins, and the first
    record from there that may not fit a block (None when there is none)."""
    limit = BLOCK_SIZE // _growth(insp)
    record, count = start, 0  # the record being scanned, and how many ended before it
    resume = start if skip == 0 else None
    for offset, feeds in _unquoted(path, start, end, _LF, insp.delimiter):
        if not len(feeds):
            continue
        ends = feeds + (offset + 1)  # one past each record's line feed
        begins = np.concatenate(([record], ends[:-1]))
        if resume is None and count + len(ends) >= skip:
            resume = int(ends[skip - count - 1])
        index = count + np.arange(len(ends))
        long = np.flatnonzero((index >= skip) & (ends - begins >= limit))
        if long.size:
            i = int(long[0])
            return resume, _Span(int(begins[i]), int(ends[i]), line + count + i)  # type: ignore[return-value]
        record, count = int(ends[-1]), count + len(ends)
    if resume is None and count == skip:
        resume = record
    if resume is None or end - record < limit:
        return start, None
    return resume, _Span(record, end, line + count)


def _too_long(path: Path, insp: Inspection, span: _Span) -> Rejected:
    """The rejection of a record over MAX_RECORD_BYTES, naming the column of its longest value."""
    best, best_size, field, begin = 0, -1, 0, span.start
    for offset, cuts in _unquoted(path, span.start, span.end, ord(insp.delimiter), insp.delimiter):
        if len(cuts):
            cuts = cuts + offset
            sizes = cuts - np.concatenate(([begin], cuts[:-1] + 1))
            i = int(sizes.argmax())
            if sizes[i] > best_size:
                best, best_size = field + i, int(sizes[i])
            field, begin = field + len(cuts), int(cuts[-1]) + 1
    if span.end - begin > best_size:
        best = field
    column = insp.header[best] if best < len(insp.header) and insp.header[best] else str(best + 1)
    nl, en = TOO_LONG
    mb = MAX_RECORD_BYTES >> 20
    return Rejected(nl.format(mb=mb, column=column), en.format(mb=mb, column=column), line=span.line)


# --- XLSX ---------------------------------------------------------------------------------------


def _xlsx_batches(rows: Iterator[tuple[int, list[str | None]]], width: int) -> Iterator[TextBatch]:
    lines: list[int] = []
    cells: list[list[str]] = [[] for _ in range(width)]

    def flush() -> TextBatch:
        batch = TextBatch(np.array(lines, dtype=np.int64), [strings(c) for c in cells])
        lines.clear()
        for c in cells:
            c.clear()
        return batch

    try:
        for number, values in rows:
            # Rows without any value (Excel keeps formatted empty rows) carry no data.
            if any(v is not None and v.strip() for v in values):
                lines.append(number)
                for column, value in zip(cells, values, strict=True):
                    column.append("" if value is None else value)
                if len(lines) >= XLSX_BATCH_ROWS:
                    yield flush()
    finally:
        rows.close()  # type: ignore[attr-defined]
    if lines:
        yield flush()
