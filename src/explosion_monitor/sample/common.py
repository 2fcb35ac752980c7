"""What every sample feed shares: the public calibration constants, the reference data
(municipalities and mergers), geography and date helpers, and the CSV/XLSX writers.

Nothing here reads the clock or draws from a global random state, so the files built from it
depend on the seed alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from random import Random

from explosion_monitor.config import project_root
from explosion_monitor.contracts import all_contracts

# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

#: Target metric per year of incident_datum, as known in the newest police delivery.
INTENDED_COUNTS: dict[int, int] = {2021: 212, 2022: 343, 2023: 902, 2024: 1543, 2025: 1525}

#: Target metric as known after each good police delivery (keyed by its peildatum).
#: Years without any counted incident are absent.
INTENDED_AS_OF: dict[str, dict[int, int]] = {
    "2025-01-15": {2021: 212, 2022: 343, 2023: 902, 2024: 1244},
    "2025-04-15": {2021: 212, 2022: 343, 2023: 902, 2024: 1543, 2025: 300},
    "2025-07-15": {2021: 212, 2022: 343, 2023: 902, 2024: 1543, 2025: 713},
    "2026-01-15": {2021: 212, 2022: 343, 2023: 902, 2024: 1543, 2025: 1525},
}

#: Other published figures the police deliveries are calibrated to (final state).
INTENDED_H1_2025: dict[str, int] = {"totaal": 678, "afgegaan": 610, "poging": 68}
INTENDED_DOELWIT_2024: dict[str, int] = {
    "woning": 1119,
    "bedrijf": 230,
    "voertuig": 154,
    "geldautomaat": 22,
    "overig": 18,
}
#: 2024, final state: Rotterdam, Amsterdam, Den Haag, Almere, 's-Hertogenbosch.
INTENDED_TOP5_2024: dict[str, int] = {"GM0599": 168, "GM0363": 142, "GM0518": 117, "GM0034": 74, "GM0796": 58}
INTENDED_ZWAAR_VUURWERK_SHARE = 0.80

#: Every column of each feed's contract (version 2), in the contract's order: the generator writes what it says.
FEED_COLUMNS: dict[str, tuple[str, ...]] = {feed: c.column_names for feed, c in all_contracts().items()}

#: The optional columns contract version 2 added: files without them are version-1 files, still valid.
V2_COLUMNS: dict[str, tuple[str, ...]] = {"politie": ("adres_pseudoniem",), "corporaties": ("terugkeer_datum",)}


def v1_columns(feed: str) -> tuple[str, ...]:
    return tuple(c for c in FEED_COLUMNS[feed] if c not in V2_COLUMNS.get(feed, ()))


@dataclass(frozen=True)
class SampleFile:
    feed: str  # politie | verzekeraars | corporaties | gemeenten
    name: str  # file name as a partner would name it (names carry no meaning to the pipeline)
    data: bytes
    expect: str  # "loaded" | "quarantined" | "empty" (header only: accepted, loads nothing)
    why: str  # one line: what this file demonstrates


# ---------------------------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------------------------

SHARED_REFERENCE = Path("/work/shared/reference")
_REFERENCE_FILES = ("gemeenten_2025.csv", "gemeentelijke_herindelingen.csv")


def reference_dir() -> Path:
    """The vendored copy in dbt_project/seeds when present, else the shared reference folder."""
    vendored = project_root() / "dbt_project" / "seeds"
    if all((vendored / name).is_file() for name in _REFERENCE_FILES):
        return vendored
    return SHARED_REFERENCE


@dataclass(frozen=True)
class _Gemeente:
    code: str
    naam: str
    provincie: str
    politie_eenheid: str
    inwoners: int


@dataclass
class Reference:
    gemeenten: dict[str, _Gemeente]
    ends: dict[str, dt.date]  # historic code -> first day it no longer exists
    created: dict[str, dt.date]  # code of a municipality formed by a merger -> first day
    predecessors: dict[str, list[tuple[dt.date, str]]]  # today's code -> (merger date, old code)

    def valid(self, code: str, day: dt.date) -> bool:
        """Whether `code` is a CBS municipality code on `day`."""
        if code in self.ends:
            return day < self.ends[code]
        if code in self.gemeenten:
            return day >= self.created.get(code, dt.date.min)
        return False


def load_reference() -> Reference:
    folder = reference_dir()
    with open(folder / "gemeenten_2025.csv", encoding="utf-8", newline="") as fh:
        gemeenten = {
            r["gm_code"]: _Gemeente(r["gm_code"], r["naam"], r["provincie"], r["politie_eenheid"], int(r["inwoners"]))
            for r in csv.DictReader(fh)
        }
    with open(folder / "gemeentelijke_herindelingen.csv", encoding="utf-8", newline="") as fh:
        mergers = list(csv.DictReader(fh))
    ends: dict[str, dt.date] = {}
    predecessors: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)
    whole: Counter[tuple[str, dt.date]] = Counter()
    for r in mergers:
        day = dt.date.fromisoformat(r["ingangsdatum"])
        old, new = r["oude_gm_code"], r["nieuwe_gm_code"]
        ends[old] = min(ends.get(old, day), day)
        predecessors[new].append((day, old))
        if not r["opmerking"].lower().startswith("splitsing"):
            whole[(new, day)] += 1
    # A successor that absorbs two or more whole municipalities on one day is a new municipality
    # with a new code (Dijk en Waard, Land van Cuijk, Voorne aan Zee, ...); one that absorbs a single
    # municipality or part of a split keeps its code (Amsterdam + Weesp, Purmerend + Beemster).
    # This holds for every merger since 2021, the period the samples cover.
    created: dict[str, dt.date] = {}
    for (new, day), n in whole.items():
        if n >= 2:
            created[new] = min(created.get(new, day), day)
    return Reference(gemeenten, ends, created, dict(predecessors))


# ---------------------------------------------------------------------------------------------
# Geography helpers
# ---------------------------------------------------------------------------------------------

TOP5 = tuple(INTENDED_TOP5_2024)
# Boost of the five big hot spots in years without an exact target.
TOP5_BOOST = {"GM0599": 3.2, "GM0363": 2.0, "GM0518": 2.6, "GM0034": 4.5, "GM0796": 4.8}
WEESP, AMSTERDAM = "GM0457", "GM0363"

POLICE_UNIT = {
    "Noord-Nederland": 1,
    "Oost-Nederland": 2,
    "Midden-Nederland": 3,
    "Noord-Holland": 4,
    "Amsterdam": 5,
    "Den Haag": 6,
    "Rotterdam": 7,
    "Zeeland-West-Brabant": 8,
    "Oost-Brabant": 9,
    "Limburg": 10,
}

CITY_PC4 = {
    "GM0599": (3011, 3089),
    "GM0363": (1011, 1109),
    "GM0518": (2491, 2597),
    "GM0034": (1311, 1363),
    "GM0796": (5211, 5248),
    "GM0344": (3511, 3585),
    "GM0457": (1381, 1384),
    "GM0772": (5611, 5658),
    "GM0855": (5011, 5049),
    "GM0014": (9711, 9747),
    "GM0202": (6811, 6846),
    "GM0268": (6511, 6546),
}
_PROVINCE_PC4 = {
    "Groningen": [(9350, 9999)],
    "Fryslân": [(8400, 9299)],
    "Drenthe": [(7730, 7999), (9400, 9599)],
    "Overijssel": [(7400, 7699), (8000, 8299)],
    "Flevoland": [(8200, 8319)],
    "Gelderland": [(6500, 7399), (3770, 3899), (4000, 4199)],
    "Utrecht": [(3400, 3999)],
    "Noord-Holland": [(1000, 2199)],
    "Zuid-Holland": [(2200, 3399)],
    "Zeeland": [(4300, 4599)],
    "Noord-Brabant": [(4600, 5799)],
    "Limburg": [(5800, 6499)],
}


def pc4_pool(g: _Gemeente) -> list[str]:
    """A stable set of plausible postcode areas for a municipality (independent of the seed)."""
    if g.code in CITY_PC4:
        lo, hi = CITY_PC4[g.code]
        return [f"{n:04d}" for n in range(lo, hi + 1)]
    r = Random(f"pc4|{g.code}")
    lo, hi = r.choice(_PROVINCE_PC4.get(g.provincie, [(1000, 9999)]))
    size = max(1, min(40, g.inwoners // 6000))
    base = r.randint(lo, max(lo, hi - size))
    return [f"{n:04d}" for n in range(base, min(base + size, 9999) + 1)]


class Picker:
    """Weighted choice with precomputed cumulative weights."""

    def __init__(self, items: Sequence[str], weights: Sequence[float]):
        self.items = list(items)
        self.cum = list(accumulate(weights))

    def pick(self, rng: Random) -> str:
        return self.items[bisect(self.cum, rng.random() * self.cum[-1])]


def _day_weight(d: dt.date) -> float:
    if (d.month, d.day) == (1, 1):
        return 14.0  # New Year's night
    if (d.month, d.day) == (12, 31):
        return 6.0
    if d.month == 1 and d.day <= 7:
        return 2.5
    if d.month in (11, 12, 1, 2):
        return 1.3
    return 1.0


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(n) for n in range((end - start).days + 1)]


def spread_dates(rng: Random, start: dt.date, end: dt.date, n: int, late_bias: float = 0.0) -> list[dt.date]:
    days = _days(start, end)
    span = max(1, len(days) - 1)
    weights = [_day_weight(d) * (1 + late_bias * i / span) for i, d in enumerate(days)]
    return rng.choices(days, weights=weights, k=n)


def as_date(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


# ---------------------------------------------------------------------------------------------
# File writers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    delimiter: str = ","
    encoding: str = "utf-8"  # utf-8 | utf-8-sig | cp1252
    newline: str = "\n"
    dates: str = "iso"  # iso | nl
    bools: tuple[str, str] = ("true", "false")
    quoting: int = csv.QUOTE_MINIMAL

    def cell(self, v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return self.bools[0] if v else self.bools[1]
        if isinstance(v, dt.date):
            return v.isoformat() if self.dates == "iso" else v.strftime("%d-%m-%Y")
        if isinstance(v, float):
            text = f"{v:.2f}"
            return text.replace(".", ",") if self.delimiter == ";" else text
        return str(v)


def to_csv_bytes(
    style: Style,
    columns: Sequence[str],
    rows: Sequence[dict],
    header: dict[str, str] | None = None,
) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=style.delimiter, lineterminator=style.newline, quoting=style.quoting)
    w.writerow([(header or {}).get(c, c) for c in columns])
    for row in rows:
        w.writerow([style.cell(row.get(c)) for c in columns])
    return buf.getvalue().encode(style.encoding)


_XLSX_TIME = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:(?:created|modified)>)")


def to_xlsx_bytes(columns: Sequence[str], rows: Sequence[dict], when: dt.date, creator: str, sheet: str) -> bytes:
    from openpyxl import Workbook  # local: only needed for the XLSX deliveries

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(columns))
    for row in rows:
        ws.append([None if row.get(c) == "" else row.get(c) for c in columns])
    for col_cells in ws.iter_cols(min_row=2):
        for c in col_cells:
            if isinstance(c.value, dt.datetime) and c.value.time() != dt.time(0):
                c.number_format = "DD-MM-YYYY HH:MM"
            elif isinstance(c.value, dt.date):
                c.number_format = "DD-MM-YYYY"
            elif isinstance(c.value, float):
                c.number_format = "#,##0.00"
    stamp = dt.datetime(when.year, when.month, when.day, 7, 30)
    wb.properties.creator = creator
    wb.properties.created = stamp
    raw = io.BytesIO()
    wb.save(raw)
    # openpyxl stamps "now" into docProps/core.xml and the zip entries; pin both to `when`.
    out = io.BytesIO()
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            content = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _XLSX_TIME.sub(lambda m: m.group(1) + iso + m.group(2), content)
            zi = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, content)
    return out.getvalue()


PDF_BYTES = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
    b"4 0 obj\n<< /Length 58 >>\nstream\nBT /F1 12 Tf 72 770 Td (Meldingen explosies Q3 2025) Tj ET\nendstream\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
