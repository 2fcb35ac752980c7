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
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from explosion_monitor.contracts import Contract
from explosion_monitor.ingest import xlsx
from explosion_monitor.ingest.arrays import strings
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
                _, rows = xlsx.read_rows(self.path)
            return _xlsx_batches(rows, len(self.header))
        return _csv_batches(self.path, self.inspection)


def open_source(path: Path, insp: Inspection, contract: Contract) -> Source:
    if insp.kind == "xlsx":
        names, rows = xlsx.read_rows(path)
        return Source(path, insp, normalise_header(names, contract), ",", rows)
    return Source(path, insp, insp.header, insp.delimiter)


# --- CSV ----------------------------------------------------------------------------------------


class _Records(io.RawIOBase):
    """The bytes of records from `start` (after the header line) to `stop`, as UTF-8.

    On the way it checks what pyarrow would accept but PostgreSQL's COPY refused: line
    endings that differ from the header's, outside quotes, and a quote left open at the end.
    Clean chunks cost a few `bytes.count`s; only a chunk with a suspicious byte is split on
    quotes (which toggle wherever they appear, as in COPY). A violation ends the data at the
    record it is in, so that pyarrow still reports any earlier error first; `violation` holds it.
    """

    def __init__(self, path: Path, insp: Inspection, data_start: int, start: int, stop: int) -> None:
        self._path = path
        self._fh = open(path, "rb")
        self._fh.seek(start)
        self._start = data_start  # lines are counted from here
        self._offset = start
        self._end = stop
        self._crlf = insp.newline == b"\r\n"
        self._encoding = insp.encoding
        self._delimiter = insp.delimiter
        self._quotes = 0
        self._carry = b""  # a CR at the end of a chunk, judged with the next one
        self._cp1252 = insp.encoding == "cp1252"
        self._pending = b""  # transcoded bytes not yet handed out
        self._done = False
        self.violation: Rejected | None = None

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
        while len(self._pending) < size and not self._done:
            self._pending += self._next_chunk(size)  # transcoded: longer than what was read
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def readinto(self, buf) -> int:  # type: ignore[override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def _next_chunk(self, size: int) -> bytes:
        if self._done:
            return b""
        chunk = self._fh.read(min(size, self._end - self._offset)) if self._offset < self._end else b""
        if not chunk:
            self._done = True
            if self._quotes % 2:  # a stray quote inside a field, or one never closed
                line = self._open_quote_line()
                if line is not None:
                    self.violation = _line_error(OPEN_QUOTE, line)
            return b""
        bad = self._check(chunk)
        if bad is not None:
            line, start = self._record_at(bad)
            self.violation = _line_error(MIXED_ENDINGS, line)
            self._done = True
            chunk = chunk[: max(0, start - self._offset)]
        self._offset += len(chunk)
        return chunk.decode("cp1252").encode("utf-8") if self._cp1252 else chunk

    def _check(self, chunk: bytes) -> int | None:
        """The offset of a line ending the file's style forbids, outside quotes, or None."""
        quotes = chunk.count(b'"')
        start = self._offset - len(self._carry)
        data = self._carry + chunk
        self._carry = b""
        if self._crlf:
            if data.endswith(b"\r"):
                data, self._carry = data[:-1], b"\r"
            suspicious = not (data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r"))
        else:
            suspicious = b"\r" in data
        bad = self._unquoted_ending(data, start) if suspicious else None
        self._quotes += quotes
        return bad

    def _unquoted_ending(self, data: bytes, start: int) -> int | None:
        at = start
        for i, part in enumerate(data.split(b'"')):
            if (self._quotes + i) % 2 == 0:
                bad = _bad_ending(part, self._crlf)
                if bad >= 0:
                    return at + bad
            at += len(part) + 1
        return None

    def _open_quote_line(self) -> int | None:
        """The line of the record whose quoted field runs to the end of the file, if any.

        pyarrow, like Excel and Python's csv module, reads a quote inside an unquoted field
        as a character; csv in strict mode tells an open quote at the end from such strays.
        """
        with open(self._path, "rb") as raw:
            raw.seek(self._start)
            text = io.TextIOWrapper(raw, encoding=self._encoding, newline="")
            reader = csv.reader(text, delimiter=self._delimiter, strict=True)
            records = 0
            while True:
                try:
                    next(reader)
                except StopIteration:
                    return None
                except csv.Error as exc:
                    if "unexpected end of data" in str(exc):
                        return records + 2
                records += 1

    def _record_at(self, offset: int) -> tuple[int, int]:
        """(line, first byte) of the record holding byte `offset`: line endings outside quotes count."""
        line, quotes, record = 2, 0, self._start
        with open(self._path, "rb") as fh:
            fh.seek(self._start)
            pos = self._start
            while pos < offset:
                chunk = fh.read(min(CHUNK, offset - pos))
                if not chunk:
                    break
                at = pos
                for i, part in enumerate(chunk.split(b'"')):
                    if (quotes + i) % 2 == 0 and (count := part.count(b"\n")):
                        line += count
                        record = at + part.rfind(b"\n") + 1
                    at += len(part) + 1
                quotes += chunk.count(b'"')
                pos += len(chunk)
        return line, record


_LONE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def _bad_ending(part: bytes, crlf: bool) -> int:
    """Offset of the first line ending in `part` (outside quotes) that the file's style forbids, or -1."""
    if not crlf:
        return part.find(b"\r")
    if part.count(b"\n") == part.count(b"\r\n") == part.count(b"\r"):
        return -1
    found = _LONE_CR_OR_LF.search(part)
    return found.start() if found else -1


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
        data_start = len(fh.readline())  # the header line, as sniff read it
    if data_start >= insp.content_end:  # a header only; pyarrow refuses empty input
        return
    start, line = data_start, 2
    long: _Span | None = None  # the next record that needs a block of its own
    while start < insp.content_end:
        alone = long is not None and long.start == start
        if alone:
            stop, block = long.end, (long.end - long.start) * _growth(insp) + 1
            long = None
        else:
            stop, block = (long.start if long else insp.content_end), BLOCK_SIZE
        first = line
        try:
            for batch in _segment(path, insp, data_start, start, stop, line, block):
                yield batch
                line += len(batch)
        except _Straddled:
            if not alone:
                start, long = _find_long(path, insp, start, line - first, first)
                # Only a long record within this segment explains the stop (and lets us progress).
                if long is not None and long.start < stop:
                    if long.end - long.start > MAX_RECORD_BYTES:
                        raise _too_long(path, insp, long) from None
                    continue
            nl, en = UNREADABLE
            raise Rejected(nl.format(line=line), en.format(line=line), line=line) from None
        start = stop


def _segment(
    path: Path, insp: Inspection, data_start: int, start: int, stop: int, line: int, block: int
) -> Iterator[TextBatch]:
    """The records in bytes [start, stop), the first of them on `line`, parsed in blocks of `block` bytes."""
    names = [f"c{i}" for i in range(len(insp.header))]
    bad = _FirstBadRow(line)
    records = _Records(path, insp, data_start, start, stop)
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
        # The data ends where a line-ending violation starts; an error at that record is the violation.
        late = records.violation
        if bad.row is None:
            raise late or _Straddled() from None
        found = bad.rejection()
        raise (late if late and (found.line is None or late.line <= found.line) else found) from None
    finally:
        records.close()
    if records.violation is not None:
        raise records.violation


# --- records too long for a block -----------------------------------------------------------------


@dataclass
class _Span:
    """One record: bytes [start, end), on `line`."""

    start: int
    end: int
    line: int


_QUOTE, _LF, _TEXT = ord('"'), ord("\n"), ord("x")


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


def _unquoted(path: Path, start: int, stop: int, byte: int, delimiter: str) -> Iterator[tuple[int, np.ndarray]]:
    """Per chunk of bytes [start, stop) (`start` begins a record): its offset, and where `byte` stands outside
    quoted fields. Vectorised, except in a chunk with a quote inside an unquoted field."""
    inside, before = 0, _LF
    with open(path, "rb") as fh:
        fh.seek(start)
        pos = start
        while pos < stop and (chunk := fh.read(min(CHUNK, stop - pos))):
            data = np.frombuffer(chunk, dtype=np.uint8)
            at = np.flatnonzero(data == _QUOTE)
            if len(at):
                toggles = _toggling(data, at, inside, before, delimiter)
                marks = np.zeros(len(data), dtype=np.uint8)
                marks[at[toggles]] = 1
                # A running count of toggles (mod 256 keeps its parity): odd inside a quoted field.
                quoted = ((np.cumsum(marks, dtype=np.uint8) + inside) & 1).astype(bool)
                hits = np.flatnonzero((data == byte) & ~quoted)
                inside = int(quoted[-1])
                before = _TEXT if at[-1] == len(data) - 1 and not toggles[-1] else int(data[-1])
            else:
                hits = np.flatnonzero(data == byte) if not inside else np.zeros(0, dtype=np.int64)
                before = int(data[-1])
            yield pos, hits
            pos += len(data)


def _find_long(path: Path, insp: Inspection, start: int, skip: int, line: int) -> tuple[int, _Span | None]:
    """From the record on `line` at `start`: where the record `skip` records on begins, and the first
    record from there that may not fit a block (None when there is none)."""
    limit = BLOCK_SIZE // _growth(insp)
    record, count = start, 0  # the record being scanned, and how many ended before it
    resume = start if skip == 0 else None
    for offset, feeds in _unquoted(path, start, insp.content_end, _LF, insp.delimiter):
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
    if resume is None or insp.content_end - record < limit:
        return start, None
    return resume, _Span(record, insp.content_end, line + count)


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
