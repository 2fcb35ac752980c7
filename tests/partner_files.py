"""Builders for partner files as partners really write them."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

POLITIE_COLUMNS = [
    "incident_id",
    "peildatum",
    "incident_datum",
    "gemeente_code",
    "postcode4",
    "doelwit",
    "uitkomst",
    "explosief",
    "telt_mee",
    "gewonden",
    "doden",
    "ingetrokken",
]
VERZEKERAARS_COLUMNS = [
    "verzekeraar_code",
    "claim_id",
    "peildatum",
    "schadedatum",
    "gemeente_code",
    "postcode4",
    "branche",
    "oorzaak",
    "politie_incident_id",
    "schade_geraamd_eur",
    "uitgekeerd_eur",
    "status",
    "tijdelijke_huisvesting",
]
CORPORATIES_COLUMNS = [
    "corporatie_code",
    "melding_id",
    "peildatum",
    "incident_datum",
    "gemeente_code",
    "postcode4",
    "politie_incident_id",
    "woningen_beschadigd",
    "woningen_onbewoonbaar",
    "huishoudens_ontheemd",
    "herstelkosten_eur",
    "nazorg_aangeboden",
    "sluiting",
    "sluiting_start",
    "sluiting_eind",
]

GEMEENTEN_COLUMNS = [
    "gemeente_code",
    "maatregel_id",
    "peildatum",
    "soort",
    "fase",
    "postcode4",
    "start_datum",
    "eind_datum",
    "kosten_eur",
    "omschrijving",
    "ingetrokken",
]
# Contract version 2's optional columns; the lists above are version 1's, still valid.
POLITIE_V2_COLUMNS = [*POLITIE_COLUMNS, "adres_pseudoniem"]
CORPORATIES_V2_COLUMNS = [*CORPORATIES_COLUMNS, "terugkeer_datum"]


def pseudoniem(address: int) -> str:
    """An address pseudonym as the police deliver it: 64 hex characters (HMAC-SHA256)."""
    import hashlib

    return hashlib.sha256(f"adres-{address}".encode()).hexdigest()


def politie_row(i: int = 1, **over: str) -> dict[str, str]:
    row = {
        "incident_id": f"PL-{i}",
        "peildatum": "2025-01-15",
        "incident_datum": "2024-03-01",
        "gemeente_code": "GM0363",
        "postcode4": "1012",
        "doelwit": "woning",
        "uitkomst": "afgegaan",
        "explosief": "zwaar_vuurwerk",
        "telt_mee": "ja",
        "gewonden": "0",
        "doden": "",
        "ingetrokken": "nee",
    }
    row.update(over)
    return row


def claim_row(i: int = 1, **over: str) -> dict[str, str]:
    row = {
        "verzekeraar_code": "VV0101",
        "claim_id": f"C-{i}",
        "peildatum": "2025-02-01",
        "schadedatum": "2024-12-30",
        "gemeente_code": "GM0599",
        "postcode4": "3011",
        "branche": "opstal",
        "oorzaak": "explosie_opzet",
        "politie_incident_id": "",
        "schade_geraamd_eur": "1234.50",
        "uitgekeerd_eur": "",
        "status": "open",
        "tijdelijke_huisvesting": "nee",
    }
    row.update(over)
    return row


def melding_row(i: int = 1, **over: str) -> dict[str, str]:
    row = {
        "corporatie_code": "L1234",
        "melding_id": f"M-{i}",
        "peildatum": "2025-02-01",
        "incident_datum": "2024-11-02",
        "gemeente_code": "GM0518",
        "postcode4": "2511",
        "politie_incident_id": "",
        "woningen_beschadigd": "3",
        "woningen_onbewoonbaar": "1",
        "huishoudens_ontheemd": "1",
        "herstelkosten_eur": "15000",
        "nazorg_aangeboden": "ja",
        "sluiting": "geen",
        "sluiting_start": "",
        "sluiting_eind": "",
    }
    row.update(over)
    return row


def maatregel_row(i: int = 1, **over: str) -> dict[str, str]:
    row = {
        "gemeente_code": "GM0363",
        "maatregel_id": f"AMS-{i}",
        "peildatum": "2025-02-01",
        "soort": "cameratoezicht",
        "fase": "repressie",
        "postcode4": "1012",
        "start_datum": "2024-06-01",
        "eind_datum": "",
        "kosten_eur": "1000.00",
        "omschrijving": "Camera's bij woningen",
        "ingetrokken": "nee",
    }
    row.update(over)
    return row


def csv_bytes(
    rows: Sequence[dict[str, str]],
    columns: Sequence[str] | None = None,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    newline: str = "\n",
    header: Sequence[str] | None = None,
    quote_all: bool = False,
) -> bytes:
    """A CSV as written by hand: `header` may differ in case/spaces from `columns`."""
    columns = list(columns or (rows[0].keys() if rows else POLITIE_COLUMNS))
    head = list(header or columns)

    def field(value: str) -> str:
        if quote_all or any(ch in value for ch in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [delimiter.join(field(h) for h in head)]
    lines += [delimiter.join(field(r.get(c, "")) for c in columns) for r in rows]
    text = newline.join(lines) + newline
    return text.encode(encoding)


def dutch(date_iso: str) -> str:
    d = dt.date.fromisoformat(date_iso)
    return d.strftime("%d-%m-%Y")


def xlsx_bytes(columns: Sequence[str], rows: Sequence[Sequence[object]], *, formulas: bool = False) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(columns))
    for row in rows:
        ws.append(list(row))
    if formulas:
        ws.cell(row=2, column=columns.index("gewonden") + 1, value="=1+1")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
