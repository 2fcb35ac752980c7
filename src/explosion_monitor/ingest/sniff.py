"""Recognise what a partner sent: format, encoding, delimiter and header, in one streaming pass.

Nothing here trusts the file name: a PDF called `.csv` is still a PDF.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from explosion_monitor.contracts import Contract
from explosion_monitor.ingest.header_help import HeaderContext, csv_peek, header_details

CHUNK = 1 << 20
MAX_HEADER_BYTES = 64 * 1024
MAX_COLUMNS = 20_000
BOM = codecs.BOM_UTF8
LONE_CR = (
    "De kopregel bevat een los CR-teken: regels moeten eindigen op CRLF of LF (niet alleen CR).",
    "The header contains a lone CR: lines must end in CRLF or LF (not CR alone).",
)


# Excel's delimiter hint, a first line before the header; Excel writes it bare, others quote it.
SEP_LINE = re.compile(r'"?sep=([;,])"?[;,]*', re.IGNORECASE)


class Rejected(Exception):
    """The whole file breaks the contract. `nl` and `en` are the sentences for the report."""

    def __init__(self, nl: str, en: str, line: int | None = None, details: list[tuple[str, str]] | None = None) -> None:
        super().__init__(en)
        self.nl = nl
        self.en = en
        self.line = line
        # What was found, and hints at the cause: (Dutch, English) lines for the report.
        self.details = details or []


@dataclass
class Inspection:
    sha256: str
    size: int
    kind: str  # "csv" | "xlsx" | "empty"
    encoding: str = "utf-8"  # Python codec name
    delimiter: str = ","
    header: list[str] = field(default_factory=list)
    # Byte offset where content ends once trailing blank lines are dropped.
    content_end: int = 0
    newline: bytes = b"\n"
    # Lines above the header: 1 when the file starts with Excel's `sep=;` / `sep=,` line.
    skip_lines: int = 0

    @property
    def header_line(self) -> int:
        return 1 + self.skip_lines

    @property
    def pg_encoding(self) -> str:
        return "WIN1252" if self.encoding == "cp1252" else "UTF8"

    @property
    def description(self) -> str:
        if self.kind == "xlsx":
            return "xlsx"
        delim = "semicolon" if self.delimiter == ";" else "comma"
        return f"csv; {self.encoding}; {delim}" + ("; sep= line" if self.skip_lines else "")


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _reject_binary(head: bytes) -> None:
    stripped = head.lstrip(BOM).lstrip()
    lowered = stripped[:64].lower()
    if head.startswith(b"\x1f\x8b"):
        raise Rejected(
            "Het bestand is een gzip-archief, geen CSV of XLSX.", "The file is a gzip archive, not CSV or XLSX."
        )
    if head.startswith(b"%PDF"):
        raise Rejected("Het bestand is een PDF, geen CSV of XLSX.", "The file is a PDF, not CSV or XLSX.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise Rejected(
            "Het bestand is een oud Excel-bestand (XLS); lever XLSX of CSV.",
            "The file is an old Excel file (XLS); deliver XLSX or CSV.",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Rejected(
            "Het bestand is UTF-16 gecodeerd; lever UTF-8 of Windows-1252.",
            "The file is UTF-16 encoded; deliver UTF-8 or Windows-1252.",
        )
    if lowered.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise Rejected("Het bestand is een HTML- of XML-pagina, geen CSV.", "The file is an HTML or XML page, not CSV.")


def _check_text(path: Path, size: int, has_bom: bool) -> tuple[str, int]:
    """Decide between UTF-8 and Windows-1252, refuse NUL bytes, and find where content ends."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    utf8_ok = True
    offset = 0
    content_end = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            nul = chunk.find(b"\x00")
            if nul >= 0:
                raise Rejected(
                    f"Het bestand bevat NUL-bytes (bij byte {offset + nul}); het is geen tekstbestand.",
                    f"The file contains NUL bytes (at byte {offset + nul}); it is not a text file.",
                )
            if utf8_ok:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False
            trimmed = chunk.rstrip(b" \t\r\n")
            if trimmed:
                content_end = offset + len(trimmed)
            offset += len(chunk)
        if utf8_ok:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8_ok = False
    if utf8_ok:
        return ("utf-8-sig" if has_bom else "utf-8"), content_end
    if has_bom:
        line, at, value = _first_bad_byte(path, "utf-8") or (1, 1, 0)
        raise Rejected(
            "Het bestand begint met een UTF-8-markering (BOM) maar bevat tekens die geen UTF-8 zijn; de eerste "
            f"ongeldige byte (0x{value:02X}) staat op regel {line}, byte {at} van het bestand.",
            "The file starts with a UTF-8 byte order mark but contains bytes that are not UTF-8; the first bad "
            f"byte (0x{value:02X}) is on line {line}, byte {at} of the file.",
            line=line,
        )
    # Windows-1252 leaves five byte values undefined; a file with them is neither encoding.
    bad = _first_bad_byte(path, "cp1252")
    if bad is not None:
        line, at, value = bad
        raise Rejected(
            f"De tekencodering is geen UTF-8 en geen Windows-1252: de eerste ongeldige byte (0x{value:02X}) staat "
            f"op regel {line}, byte {at} van het bestand.",
            f"The character encoding is neither UTF-8 nor Windows-1252: the first bad byte (0x{value:02X}) is on "
            f"line {line}, byte {at} of the file.",
            line=line,
        )
    return "cp1252", content_end


def _first_bad_byte(path: Path, codec: str) -> tuple[int, int, int] | None:
    """(line, byte position counted from 1, value) of the first byte `codec` cannot decode, or None."""
    decoder = codecs.getincrementaldecoder(codec)()
    offset = lines = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # Bytes the decoder held back from the previous chunk count as part of this one.
                held = len(exc.object) - len(chunk)
                at = offset - held + exc.start
                with open(path, "rb") as again:
                    before = again.read(at)
                    value = again.read(1)[0]
                return before.count(b"\n") + 1, at + 1, value
            offset += len(chunk)
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:  # the file ends inside a multi-byte sequence: where it starts
            with open(path, "rb") as again:
                again.seek(max(0, offset - 4))
                tail = again.read()
            start = (
                max(i for i in range(len(tail)) if tail[i] >= 0xC0) if any(b >= 0xC0 for b in tail) else len(tail) - 1
            )
            at = offset - len(tail) + start
            return lines + 1 - tail[start:].count(b"\n"), at + 1, tail[start]
    return None


def _first_line(path: Path, encoding: str, start: int = 0) -> tuple[str, bytes]:
    """The header line (the line at byte `start`) and the file's line ending."""
    with open(path, "rb") as fh:
        fh.seek(start)
        head = fh.read(MAX_HEADER_BYTES + 1)
    end = head.find(b"\n")
    if end < 0:
        if b"\r" in head.rstrip(b"\r"):  # a file from an old Mac: CR alone ends its lines
            raise Rejected(*LONE_CR, line=1)
        if len(head) > MAX_HEADER_BYTES:
            raise Rejected(
                "De eerste regel is langer dan 64 kB; dat is geen kopregel met kolomnamen.",
                "The first line is longer than 64 kB; that is not a header of column names.",
                line=1,
            )
        end = len(head)
    newline = b"\r\n" if head[:end].endswith(b"\r") else b"\n"
    return head[:end].decode(encoding).rstrip("\r"), newline


def _delimiter(line: str) -> str:
    counts = dict.fromkeys(",;", 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    if counts[";"] > counts[","]:
        return ";"
    if counts[","] or "\t" not in line:
        return ","
    raise Rejected(
        "Het scheidingsteken is geen komma of puntkomma (tabs zijn niet toegestaan).",
        "The delimiter is neither a comma nor a semicolon (tabs are not allowed).",
        line=1,
    )


def normalise_header(names: list[str], contract: Contract, context: HeaderContext | None = None) -> list[str]:
    """Header names, lower-cased and trimmed, checked for duplicates and missing required columns.

    A rejection shows the header as read and hints at the usual causes (header_help).
    """
    context = context or HeaderContext()
    line = context.line
    cleaned = [n.strip().lower() for n in names]
    if len(cleaned) > MAX_COLUMNS:
        raise Rejected(
            f"Het bestand heeft {len(cleaned)} kolommen; het contract kent er {len(contract.columns)}.",
            f"The file has {len(cleaned)} columns; the contract has {len(contract.columns)}.",
            line=line,
        )
    seen: set[str] = set()
    # Blank names are unnamed extra columns (Excel's trailing ';;'), ignored like any unknown column.
    doubles = sorted({n for n in cleaned if n and (n in seen or seen.add(n))})  # type: ignore[func-returns-value]
    if doubles:
        shown = ", ".join(repr(d) for d in doubles[:10])
        raise Rejected(
            f"Dubbele kolomnamen in de kopregel: {shown}.",
            f"Duplicate column names in the header: {shown}.",
            line=line,
            details=header_details(names, contract, context)[:2],
        )
    missing = [c for c in contract.required if c not in seen]
    if missing:
        shown = ", ".join(missing)
        raise Rejected(
            f"Verplichte kolom(men) ontbreken: {shown}.",
            f"Required column(s) missing: {shown}.",
            line=line,
            details=header_details(names, contract, context),
        )
    return cleaned


def inspect(path: Path, contract: Contract) -> Inspection:
    """Hash the file and recognise it, or raise Rejected for the whole file."""
    sha256, size = file_digest(path)
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if size == 0:
        raise Rejected(
            "Het bestand is leeg (0 bytes): er is zelfs geen kopregel.",
            "The file is empty (0 bytes): there is not even a header.",
        )
    if head.startswith(b"PK\x03\x04"):
        _check_xlsx_container(path)
        return Inspection(sha256=sha256, size=size, kind="xlsx")
    _reject_binary(head)
    encoding, content_end = _check_text(path, size, head.startswith(BOM))
    if content_end <= (len(BOM) if encoding == "utf-8-sig" else 0):
        raise Rejected(
            "Het bestand bevat alleen witruimte: er is geen kopregel.",
            "The file holds only white space: there is no header.",
        )
    line, newline = _first_line(path, encoding)
    line = line.lstrip("\ufeff")
    skip = start = 0
    sep = SEP_LINE.fullmatch(line.strip())
    if sep:
        # The hint names the delimiter; the header is the next line.
        skip = 1
        with open(path, "rb") as fh:
            start = len(fh.readline())
        if start >= content_end:
            raise Rejected(
                "Het bestand bevat alleen de regel 'sep=': er is geen kopregel.",
                "The file holds only the 'sep=' line: there is no header.",
            )
        line, newline = _first_line(path, encoding, start)
    if "\r" in line:
        raise Rejected(*LONE_CR, line=1 + skip)
    delimiter = sep.group(1) if sep else _delimiter(line)
    names = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    header_start = start if sep else 0
    header = normalise_header(names, contract, HeaderContext(1 + skip, None, csv_peek(path, encoding, header_start)))
    return Inspection(
        sha256=sha256,
        size=size,
        kind="csv",
        encoding=encoding,
        delimiter=delimiter,
        header=header,
        content_end=content_end,
        newline=newline,
        skip_lines=skip,
    )


# A real sheet of a few million rows stays far below this; a zip bomb does not.
MAX_XLSX_UNCOMPRESSED = 2 * 1024**3
MAX_XLSX_RATIO = 200


def _check_xlsx_container(path: Path) -> None:
    not_xlsx = Rejected(
        "Het bestand is een zip-archief maar geen geldig XLSX-bestand.",
        "The file is a zip archive but not a valid XLSX workbook.",
    )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise not_xlsx from None
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise not_xlsx
    total = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if total > MAX_XLSX_UNCOMPRESSED or total / packed > MAX_XLSX_RATIO:
        raise Rejected(
            "Het XLSX-bestand pakt uit tot een onredelijke omvang (mogelijk een zip-bom).",
            "The XLSX file unpacks to an unreasonable size (possibly a zip bomb).",
        )
