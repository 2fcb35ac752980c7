"""Realistic, deterministic partner deliveries for the three feeds.

`generate(seed)` returns the files partners would drop, in delivery order: police
extracts that revise each other, insurer claims and housing-corporation reports that
point at (a share of) the police incidents, and a few files a partner gets wrong.
Everything is drawn from `random.Random(seed)`; nothing reads the clock, so the same
seed always gives the same bytes.

The police incidents are calibrated to the published figures: the target metric
(distinct incidents with `telt_mee` true and not withdrawn, by year of
`incident_datum`, newest `peildatum` per `incident_id`) is exactly `INTENDED_COUNTS`
over all good police files, and exactly `INTENDED_AS_OF[p]` over the good police files
up to the delivery with peildatum `p`. Those numbers do not depend on the seed; the
seed only moves dates, municipalities, postcodes, identifiers and the other features.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from random import Random

from explosion_monitor.config import project_root
from explosion_monitor.sample_2026 import INTENDED_2026_AS_OF, INTENDED_COUNT_2026, running_year_deliveries

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
# The running year 2026 (explosion_monitor.sample_2026): three deliveries that leave 2021-2025 as they are.
INTENDED_COUNTS[2026] = INTENDED_COUNT_2026
INTENDED_AS_OF.update({p: {**INTENDED_AS_OF["2026-01-15"], 2026: n} for p, n in INTENDED_2026_AS_OF.items()})

#: Other published figures the police deliveries are calibrated to (final state).
INTENDED_H1_2025: dict[str, int] = {"totaal": 678, "afgegaan": 610, "poging": 68}
INTENDED_DOELWIT_2024: dict[str, int] = {
    "woning": 1119, "bedrijf": 230, "voertuig": 154, "geldautomaat": 22, "overig": 18,
}
#: 2024, final state: Rotterdam, Amsterdam, Den Haag, Almere, 's-Hertogenbosch.
INTENDED_TOP5_2024: dict[str, int] = {"GM0599": 168, "GM0363": 142, "GM0518": 117, "GM0034": 74, "GM0796": 58}
INTENDED_ZWAAR_VUURWERK_SHARE = 0.80

FEED_COLUMNS: dict[str, tuple[str, ...]] = {
    "politie": (
        "incident_id", "peildatum", "incident_datum", "gemeente_code", "postcode4", "doelwit",
        "uitkomst", "explosief", "telt_mee", "gewonden", "doden", "ingetrokken",
    ),
    "verzekeraars": (
        "verzekeraar_code", "claim_id", "peildatum", "schadedatum", "gemeente_code", "postcode4",
        "branche", "oorzaak", "politie_incident_id", "schade_geraamd_eur", "uitgekeerd_eur", "status",
        "tijdelijke_huisvesting",
    ),
    "corporaties": (
        "corporatie_code", "melding_id", "peildatum", "incident_datum", "gemeente_code", "postcode4",
        "politie_incident_id", "woningen_beschadigd", "woningen_onbewoonbaar", "huishoudens_ontheemd",
        "herstelkosten_eur", "nazorg_aangeboden", "sluiting", "sluiting_start", "sluiting_eind",
    ),
}


@dataclass(frozen=True)
class SampleFile:
    feed: str  # politie | verzekeraars | corporaties
    name: str  # file name as a partner would name it (names carry no meaning to the pipeline)
    data: bytes
    expect: str  # "loaded" | "quarantined" | "empty" (header only: accepted, loads nothing)
    why: str  # one line: what this file demonstrates


def generate(seed: int = 2025) -> list[SampleFile]:
    """All sample deliveries for `seed`, in delivery order."""
    gen = _Generator(seed, _load_reference())
    return gen.run() + running_year_deliveries(gen)


def write_samples(put: Callable[[str, str, bytes], object], seed: int = 2025) -> list[SampleFile]:
    """Generate the samples and hand each to `put(feed, name, data)`, in delivery order."""
    files = generate(seed)
    for f in files:
        put(f.feed, f.name, f.data)
    return files


# ---------------------------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------------------------

_SHARED_REFERENCE = Path("/work/shared/reference")
_REFERENCE_FILES = ("gemeenten_2025.csv", "gemeentelijke_herindelingen.csv")


def _reference_dir() -> Path:
    """The vendored copy in dbt_project/seeds when present, else the shared reference folder."""
    vendored = project_root() / "dbt_project" / "seeds"
    if all((vendored / name).is_file() for name in _REFERENCE_FILES):
        return vendored
    return _SHARED_REFERENCE


@dataclass(frozen=True)
class _Gemeente:
    code: str
    naam: str
    provincie: str
    politie_eenheid: str
    inwoners: int


@dataclass
class _Reference:
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


def _load_reference() -> _Reference:
    folder = _reference_dir()
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
    return _Reference(gemeenten, ends, created, dict(predecessors))


# ---------------------------------------------------------------------------------------------
# Geography helpers
# ---------------------------------------------------------------------------------------------

_TOP5 = tuple(INTENDED_TOP5_2024)
# Boost of the five big hot spots in years without an exact target.
_TOP5_BOOST = {"GM0599": 3.2, "GM0363": 2.0, "GM0518": 2.6, "GM0034": 4.5, "GM0796": 4.8}
_WEESP, _AMSTERDAM = "GM0457", "GM0363"

_POLICE_UNIT = {
    "Noord-Nederland": 1, "Oost-Nederland": 2, "Midden-Nederland": 3, "Noord-Holland": 4, "Amsterdam": 5,
    "Den Haag": 6, "Rotterdam": 7, "Zeeland-West-Brabant": 8, "Oost-Brabant": 9, "Limburg": 10,
}

_CITY_PC4 = {
    "GM0599": (3011, 3089), "GM0363": (1011, 1109), "GM0518": (2491, 2597), "GM0034": (1311, 1363),
    "GM0796": (5211, 5248), "GM0344": (3511, 3585), "GM0457": (1381, 1384), "GM0772": (5611, 5658),
    "GM0855": (5011, 5049), "GM0014": (9711, 9747), "GM0202": (6811, 6846), "GM0268": (6511, 6546),
}
_PROVINCE_PC4 = {
    "Groningen": [(9350, 9999)], "Fryslân": [(8400, 9299)], "Drenthe": [(7730, 7999), (9400, 9599)],
    "Overijssel": [(7400, 7699), (8000, 8299)], "Flevoland": [(8200, 8319)],
    "Gelderland": [(6500, 7399), (3770, 3899), (4000, 4199)], "Utrecht": [(3400, 3999)],
    "Noord-Holland": [(1000, 2199)], "Zuid-Holland": [(2200, 3399)], "Zeeland": [(4300, 4599)],
    "Noord-Brabant": [(4600, 5799)], "Limburg": [(5800, 6499)],
}


def _pc4_pool(g: _Gemeente) -> list[str]:
    """A stable set of plausible postcode areas for a municipality (independent of the seed)."""
    if g.code in _CITY_PC4:
        lo, hi = _CITY_PC4[g.code]
        return [f"{n:04d}" for n in range(lo, hi + 1)]
    r = Random(f"pc4|{g.code}")
    lo, hi = r.choice(_PROVINCE_PC4.get(g.provincie, [(1000, 9999)]))
    size = max(1, min(40, g.inwoners // 6000))
    base = r.randint(lo, max(lo, hi - size))
    return [f"{n:04d}" for n in range(base, min(base + size, 9999) + 1)]


class _Picker:
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


def _dates(rng: Random, start: dt.date, end: dt.date, n: int, late_bias: float = 0.0) -> list[dt.date]:
    days = _days(start, end)
    span = max(1, len(days) - 1)
    weights = [_day_weight(d) * (1 + late_bias * i / span) for i, d in enumerate(days)]
    return rng.choices(days, weights=weights, k=n)


def _d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


# ---------------------------------------------------------------------------------------------
# File writers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
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


def _csv_bytes(
    style: _Style,
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


def _xlsx_bytes(columns: Sequence[str], rows: Sequence[dict], when: dt.date, creator: str, sheet: str) -> bytes:
    from openpyxl import Workbook  # local: only needed for the XLSX deliveries

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(columns))
    for row in rows:
        ws.append([None if row.get(c) == "" else row.get(c) for c in columns])
    for col_cells in ws.iter_cols(min_row=2):
        for c in col_cells:
            if isinstance(c.value, dt.date):
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


_PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
    b"4 0 obj\n<< /Length 58 >>\nstream\nBT /F1 12 Tf 72 770 Td (Meldingen explosies Q3 2025) Tj ET\nendstream\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


# ---------------------------------------------------------------------------------------------
# The police incidents
# ---------------------------------------------------------------------------------------------

P1, P2, P3, P4 = _d("2025-01-15"), _d("2025-04-15"), _d("2025-07-15"), _d("2026-01-15")

_DOELWIT_W = {"woning": 72, "bedrijf": 15, "voertuig": 10, "geldautomaat": 1.5, "overig": 1.5}
_UITKOMST_W = {"afgegaan": 86, "poging": 10, "aangetroffen": 4}
_EXPLOSIEF_REST_W = {"vuurwerk_brandstof": 6, "ied": 4, "handgranaat": 3, "overig": 2, "onbekend": 5}


@dataclass
class _Inc:
    date: dt.date
    group: str
    telt_mee: bool = True
    ingetrokken: bool = False
    today: str = ""  # municipality on 2025 boundaries
    gm: str = ""  # code valid on `date`
    pc4: str = ""
    doelwit: str = "woning"
    uitkomst: str = "afgegaan"
    explosief: str = "zwaar_vuurwerk"
    gewonden: int | None = 0
    doden: int | None = 0
    id: str = ""
    # peildatum -> overrides of the final attributes; the incident is in that delivery iff present.
    versions: dict[dt.date, dict] = field(default_factory=dict)
    notes: dict[dt.date, str] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        return self.telt_mee and not self.ingetrokken

    def first(self) -> dt.date:
        return min(self.versions)

    def row(self, peil: dt.date) -> dict:
        r = {
            "incident_id": self.id, "peildatum": peil, "incident_datum": self.date, "gemeente_code": self.gm,
            "postcode4": self.pc4, "doelwit": self.doelwit, "uitkomst": self.uitkomst,
            "explosief": self.explosief, "telt_mee": self.telt_mee, "gewonden": self.gewonden,
            "doden": self.doden, "ingetrokken": self.ingetrokken,
        }
        r.update(self.versions[peil])
        return r


class _Generator:
    def __init__(self, seed: int, ref: _Reference):
        self.rng = Random(seed)
        self.ref = ref
        g = ref.gemeenten
        self.pc4 = {code: _pc4_pool(gem) for code, gem in g.items()}
        self.pc4[_WEESP] = [f"{n:04d}" for n in range(*_CITY_PC4[_WEESP])] + ["1384"]
        codes = sorted(g)
        self.boosted = _Picker(codes, [g[c].inwoners ** 1.1 * _TOP5_BOOST.get(c, 1.0) for c in codes])
        self.rest_codes = [c for c in codes if c not in _TOP5]
        self.by_population = _Picker(codes, [g[c].inwoners for c in codes])
        self.incidents: list[_Inc] = []

    # -- building blocks ------------------------------------------------------------------------

    def _group(self, name: str, n: int, start: str, end: str, versions: dict[dt.date, dict],
               late_bias: float = 0.0, **final: object) -> list[_Inc]:
        out = []
        for day in _dates(self.rng, _d(start), _d(end), n, late_bias):
            inc = _Inc(date=day, group=name, versions={p: dict(o) for p, o in versions.items()})
            for k, v in final.items():
                setattr(inc, k, v)
            out.append(inc)
        self.incidents.extend(out)
        return out

    def _code_at(self, today: str, day: dt.date) -> str | None:
        cands = [old for (when, old) in self.ref.predecessors.get(today, []) if day < when and self.ref.valid(old, day)]
        if not self.ref.valid(today, day):
            return self.rng.choice(cands) if cands else None
        if cands and self.rng.random() < 0.05 * len(cands):
            return self.rng.choice(cands)
        return today

    def _place(self, inc: _Inc, today: str) -> bool:
        code = self._code_at(today, inc.date)
        if code is None:
            return False
        inc.today, inc.gm = today, code
        pool = self.pc4[code] if code == _WEESP else self.pc4[today]
        inc.pc4 = "" if self.rng.random() < 0.04 else self.rng.choice(pool)
        return True

    def _place_random(self, inc: _Inc, picker: _Picker) -> None:
        while not self._place(inc, picker.pick(self.rng)):
            pass

    # -- police ---------------------------------------------------------------------------------

    def _police_incidents(self) -> None:
        rng = self.rng
        both = {P1: {}}
        # 2021-2023: all known in January 2025 and stable afterwards.
        c21 = self._group("c21", 212, "2021-01-01", "2021-12-31", both)
        c22 = self._group("c22", 343, "2022-01-01", "2022-12-31", both)
        c23 = self._group("c23", 902, "2023-01-01", "2023-12-31", both)
        for y, (n_nc, n_wd) in {2021: (5, 1), 2022: (8, 2), 2023: (19, 4)}.items():
            self._group(f"nc{y}", n_nc, f"{y}-01-01", f"{y}-12-31", both, telt_mee=False)
            self._group(f"wd{y}", n_wd, f"{y}-01-01", f"{y}-12-31", both, ingetrokken=True)
        # 2024: 1,244 counted in January 2025; April 2025 revises to 1,543.
        k24 = self._group("k24", 1234, "2024-01-01", "2024-12-31", both)
        w24 = self._group("w24", 7, "2024-01-01", "2024-12-31", {P1: {"ingetrokken": False}, P2: {}}, ingetrokken=True)
        fdown = self._group("fdown24", 3, "2024-01-01", "2024-12-31", {P1: {"telt_mee": True}, P2: {}}, telt_mee=False)
        fup = self._group("fup24", 2, "2024-01-01", "2024-12-31", {P1: {"telt_mee": False}, P2: {}})
        a24 = self._group("a24", 307, "2024-01-01", "2024-12-31", {P2: {}}, late_bias=3.0)
        nc24a = self._group("nc24a", 24, "2024-01-01", "2024-12-31", both, telt_mee=False)
        nc24b = self._group("nc24b", 4, "2024-01-01", "2024-12-31", {P2: {}}, telt_mee=False)
        self._group("wd24", 3, "2024-01-01", "2024-12-31", both, ingetrokken=True)
        # 2025: April knows Jan..early April, July has the full first half, January 2026 the full year.
        v234 = {P2: {}, P3: {}, P4: {}}
        h1a = self._group("h1a", 297, "2025-01-01", "2025-04-08", v234)
        x3 = self._group("x3", 3, "2025-01-01", "2025-04-08",
                         {P2: {"ingetrokken": False}, P3: {}, P4: {}}, ingetrokken=True)
        nc25a = self._group("nc25a", 6, "2025-01-01", "2025-04-08", v234, telt_mee=False)
        h1b = self._group("h1b", 60, "2025-01-01", "2025-04-08", {P3: {}, P4: {}})
        h1c = self._group("h1c", 321, "2025-04-09", "2025-06-30", {P3: {}, P4: {}})
        nc25b = self._group("nc25b", 7, "2025-01-01", "2025-07-12", {P3: {}, P4: {}}, telt_mee=False)
        j25 = self._group("j25", 33, "2025-07-01", "2025-07-12", {P3: {}, P4: {}})
        jw25 = self._group("jw25", 2, "2025-07-01", "2025-07-12", {P3: {"ingetrokken": False}, P4: {}}, ingetrokken=True)
        h2 = self._group("h2", 814, "2025-07-01", "2025-12-31", {P4: {}})
        self._group("nc25c", 12, "2025-07-01", "2025-12-31", {P4: {}}, telt_mee=False)
        self._group("wd25", 4, "2025-07-01", "2025-12-31", {P4: {}}, ingetrokken=True)

        incs = self.incidents
        # Features drawn freely first; the calibrated ones are overwritten below.
        for inc in incs:
            if inc.telt_mee:
                inc.doelwit = rng.choices(list(_DOELWIT_W), list(_DOELWIT_W.values()))[0]
                inc.uitkomst = rng.choices(list(_UITKOMST_W), list(_UITKOMST_W.values()))[0]
            else:  # gas leak, accident
                inc.doelwit = rng.choices(["woning", "bedrijf", "overig"], [70, 20, 10])[0]
                inc.uitkomst = "afgegaan"
                inc.explosief = rng.choices(["overig", "onbekend"], [60, 40])[0]
            inc.gewonden = rng.choices([0, 1, 2, 3], [93, 5, 1.5, 0.5])[0]
            inc.doden = 1 if rng.random() < 0.0008 else 0
            if rng.random() < 0.03:
                inc.gewonden = inc.doden = None
            if not inc.telt_mee and rng.random() < 0.3:
                inc.gewonden = rng.randint(1, 3)
        # Explosive type: exactly 80% heavy fireworks among each year's counted incidents.
        for year in INTENDED_COUNTS:
            counted = [i for i in incs if i.counted and i.date.year == year]
            n_zw = round(INTENDED_ZWAAR_VUURWERK_SHARE * len(counted))
            rest = rng.choices(list(_EXPLOSIEF_REST_W), list(_EXPLOSIEF_REST_W.values()), k=len(counted) - n_zw)
            kinds = ["zwaar_vuurwerk"] * n_zw + rest
            rng.shuffle(kinds)
            for inc, kind in zip(counted, kinds):
                inc.explosief = kind
        for inc in w24 + x3 + jw25:
            inc.explosief = rng.choices(["zwaar_vuurwerk", "onbekend"], [80, 20])[0]
        # 2024 by target, exact.
        s24 = k24 + fup + a24
        targets = [k for k, n in INTENDED_DOELWIT_2024.items() for _ in range(n)]
        rng.shuffle(targets)
        for inc, t in zip(s24, targets):
            inc.doelwit = t
        # First half of 2025 by outcome, exact.
        h1 = h1a + h1b + h1c
        outcomes = ["afgegaan"] * INTENDED_H1_2025["afgegaan"] + ["poging"] * INTENDED_H1_2025["poging"]
        rng.shuffle(outcomes)
        for inc, u in zip(h1, outcomes):
            inc.uitkomst = u

        # Municipalities. 2024 counted: the top five exact, the rest by population (capped).
        places = [c for c, n in INTENDED_TOP5_2024.items() for _ in range(n)]
        cap = min(INTENDED_TOP5_2024.values()) - 18
        rest_picker = _Picker(self.rest_codes, [self.ref.gemeenten[c].inwoners ** 1.1 for c in self.rest_codes])
        seen: Counter[str] = Counter()
        while len(places) < len(s24):
            code = rest_picker.pick(rng)
            if seen[code] < cap:
                seen[code] += 1
                places.append(code)
        rng.shuffle(places)
        for inc, code in zip(s24, places):
            self._place(inc, code)  # 2024: no merger after 2023-01-01, every code is valid
        for inc in incs:
            if not inc.gm:
                self._place_random(inc, self.boosted if inc.counted else self.by_population)
        # Historic codes on purpose: Weesp before 24 March 2022, and municipalities merged later.
        weesp = rng.sample(c21, 3) + rng.sample([i for i in c22 if i.date < _d("2022-03-24")], 1)
        for inc in weesp:
            inc.today, inc.gm = _AMSTERDAM, _WEESP
            inc.pc4 = rng.choice(self.pc4[_WEESP])
        for inc, today in zip(rng.sample([i for i in c21 if i.gm == i.today], 2) +
                              rng.sample([i for i in c22 if i.gm == i.today], 1),
                              ["GM1980", "GM1982", "GM1992"]):
            self._place(inc, today)

        # Revisions the April extract brings for records of January.
        rng.shuffle(k24)
        for inc in k24[:25]:
            if inc.explosief != "onbekend":
                inc.versions[P1]["explosief"] = "onbekend"
                inc.versions[P2] = {}
        for inc in k24[25:35]:
            if inc.uitkomst == "afgegaan":
                inc.versions[P1]["uitkomst"] = "poging"
                inc.versions[P2] = {}
        for inc in k24[35:43]:
            inc.versions[P1].update(gewonden=None, doden=None)
            inc.gewonden = max(inc.gewonden or 0, 1)
            inc.versions[P2] = {}
        for inc in k24[43:47]:
            if inc.doelwit == "woning":
                inc.versions[P1]["doelwit"] = "overig"
                inc.versions[P2] = {}
        for inc in rng.sample(c23, 5):
            inc.versions[P1].update(gewonden=None)
            inc.versions[P2] = {}
        for inc in fup:
            inc.versions[P1]["explosief"] = "onbekend"
        for inc in rng.sample(h1a, 20):
            if inc.explosief != "onbekend":
                inc.versions[P2]["explosief"] = "onbekend"
        for inc in rng.sample(j25 + h1c, 8):
            if inc.explosief != "onbekend":
                inc.versions[P3]["explosief"] = "onbekend"

        # Remarks (only the April extract carries the extra column).
        for inc in w24:
            inc.notes[P2] = "Ingetrokken – dubbele registratie"
        for inc in fdown:
            inc.notes[P2] = "Heronderzoek: gaslek, geen opzet"
        for inc in fup:
            inc.notes[P2] = "Heronderzoek: toch opzet"
        for inc in nc24b:
            inc.notes[P2] = "Ongeval; geen opzet"
        phrases = ["Late registratie", "Voordeur woning beschadigd; bewoners ongedeerd", "Schade aan café",
                   "Gevel en ruiten beschadigd", "Schade ± € 5.000 (schatting)", "Auto uitgebrand"]
        for inc in rng.sample(a24, 40) + rng.sample(h1a, 25):
            inc.notes[P2] = rng.choice(phrases)
        for inc in h1a + x3 + nc25a:
            if inc.date.month == 1 and inc.date.day == 1 and P2 not in inc.notes and rng.random() < 0.5:
                inc.notes[P2] = "Jaarwisseling"

        # Identifiers: registration order, per year, with gaps.
        for year in range(2021, 2026):
            ours = sorted((i for i in incs if i.date.year == year), key=lambda i: (i.first(), i.date))
            serial = rng.randint(100, 900)
            for inc in ours:
                serial += rng.randint(1, 40)
                unit = _POLICE_UNIT.get(self.ref.gemeenten[inc.today].politie_eenheid, 0)
                inc.id = f"PL{unit:02d}00-{year}{serial:06d}"
        self.next_serial = {year: 900_000 for year in range(2021, 2026)}

    def _fresh_police_id(self, year: int, today: str) -> str:
        self.next_serial[year] += self.rng.randint(1, 30)
        unit = _POLICE_UNIT.get(self.ref.gemeenten[today].politie_eenheid, 0)
        return f"PL{unit:02d}00-{year}{self.next_serial[year]:06d}"

    def _police_rows(self, peil: dt.date) -> list[dict]:
        rows = [i.row(peil) for i in self.incidents if peil in i.versions]
        rows.sort(key=lambda r: (r["incident_datum"], r["incident_id"]))
        return rows

    def _police_files(self) -> dict[str, SampleFile]:
        rng = self.rng
        cols = FEED_COLUMNS["politie"]
        out: dict[str, SampleFile] = {}

        rows = self._police_rows(P1)
        out["P1"] = SampleFile(
            "politie", "politie_extract_2025-01-15.csv",
            _csv_bytes(_Style(",", "utf-8-sig", "\r\n", "iso", ("true", "false")), cols, rows),
            "loaded",
            f"Full extract 2021-2024 at peildatum 2025-01-15 ({len(rows)} rows; 2024 counts 1,244); "
            "UTF-8 with BOM, ',' ISO dates, true/false; Weesp GM0457 and other pre-merger codes before their merger.",
        )

        rows = self._police_rows(P2)
        by_id = {i.id: i for i in self.incidents}
        for r in rows:
            r["toelichting"] = by_id[r["incident_id"]].notes.get(P2)
        order = list(cols) + ["toelichting"]
        rng.shuffle(order)
        header = {c: c for c in order}
        header.update({"incident_id": " Incident_ID ", "peildatum": "PEILDATUM", "incident_datum": "Incident_Datum",
                       "gemeente_code": "Gemeente_Code ", "telt_mee": "Telt_Mee", "toelichting": "Toelichting"})
        out["P2"] = SampleFile(
            "politie", "Explosies export april 2025.csv",
            _csv_bytes(_Style(";", "cp1252", "\r\n", "nl", ("ja", "nee")), order, rows, header),
            "loaded",
            f"Changes-only extract at peildatum 2025-04-15 ({len(rows)} rows): 2024 revised from 1,244 to 1,543 "
            "(late registrations, withdrawals ingetrokken=ja, telt_mee flips) plus 2025 so far; Windows-1252 ';' "
            "CRLF, Dutch dates, ja/nee, shuffled columns, headers in other case/with spaces, unknown column "
            "'Toelichting' (warning only).",
        )

        out["E1"] = SampleFile(
            "politie", "politie_extract_2025-05-15.csv",
            _csv_bytes(_Style(), cols, []),
            "empty",
            "Header only: an empty delivery is accepted and loads nothing.",
        )

        rows = self._police_rows(P3)
        out["P3"] = SampleFile(
            "politie", "incidenten_2025_tm_juli.csv",
            _csv_bytes(_Style(",", "utf-8", "\n", "iso", ("j", "n")), cols, rows),
            "loaded",
            f"Full 2025 extract at peildatum 2025-07-15 ({len(rows)} rows): first half 678 (610 afgegaan, 68 poging), "
            "three April incidents withdrawn; plain UTF-8 LF, ISO dates, j/n.",
        )

        rows = self._police_rows(P4)
        for r in rows:  # an optional column left empty where false
            if r["ingetrokken"] is False and rng.random() < 0.7:
                r["ingetrokken"] = None
        out["P4"] = SampleFile(
            "politie", "politie_extract_2026-01-15.csv",
            _csv_bytes(_Style(",", "utf-8", "\n", "nl", ("1", "0")), cols, rows),
            "loaded",
            f"Full 2025 extract at peildatum 2026-01-15 ({len(rows)} rows): 2025 counts 1,525 after withdrawals; "
            "UTF-8 LF, Dutch dates, 1/0, ingetrokken mostly empty.",
        )

        # A partner error: Weesp's code for a 2024 incident (Weesp is Amsterdam since 2022-03-24).
        peil = _d("2025-02-03")
        bad = []
        for k, day in enumerate(sorted(_dates(rng, _d("2024-10-01"), _d("2024-12-31"), 5))):
            today = _WEESP if k == 3 else self.boosted.pick(rng)
            owner = _AMSTERDAM if today == _WEESP else today
            bad.append({
                "incident_id": self._fresh_police_id(2024, owner), "peildatum": peil, "incident_datum": day,
                "gemeente_code": today, "postcode4": rng.choice(self.pc4[today]),
                "doelwit": "woning", "uitkomst": "afgegaan", "explosief": "zwaar_vuurwerk",
                "telt_mee": True, "gewonden": 0, "doden": 0, "ingetrokken": False,
            })
        self.bad_weesp = bad[3]
        out["B1"] = SampleFile(
            "politie", "politie_aanvulling_2025-02-03.csv",
            _csv_bytes(_Style(), cols, bad),
            "quarantined",
            f"Data row 4 uses gemeente_code GM0457 (Weesp) for an incident on {bad[3]['incident_datum'].isoformat()}; "
            "Weesp is part of Amsterdam (GM0363) since 2022-03-24, so the code is invalid on that date.",
        )
        return out

    # -- insurers -------------------------------------------------------------------------------

    def _link_fields(self, inc: _Inc, mode: str, peil_last: dt.date) -> dict:
        """Municipality, postcode, date and police id of a record about `inc`."""
        rng = self.rng
        if mode == "id":
            day = inc.date + dt.timedelta(1 if rng.random() < 0.1 else 0)
            pc4 = inc.pc4 if rng.random() < 0.85 else ""
            return {"gm": inc.gm, "pc4": pc4, "date": min(day, peil_last), "pid": inc.id}
        if mode == "infer":
            day = inc.date + dt.timedelta(rng.choice([0, 0, 0, 1, 1, -1]))
            return {"gm": inc.gm, "pc4": inc.pc4, "date": min(day, peil_last), "pid": None}
        # no usable link: no police id, and either no postcode or a date well after the incident
        if rng.random() < 0.5:
            return {"gm": inc.gm, "pc4": "", "date": inc.date, "pid": None}
        return {"gm": inc.gm, "pc4": inc.pc4, "date": min(inc.date + dt.timedelta(rng.randint(3, 9)), peil_last),
                "pid": None}

    def _unambiguous(self) -> set[str]:
        """Counted incidents whose (municipality, postcode4, date ±2) is unique: inferable links."""
        by_place: dict[tuple[str, str], list[dt.date]] = defaultdict(list)
        counted = [i for i in self.incidents if i.counted and i.pc4]
        for i in counted:
            by_place[(i.gm, i.pc4)].append(i.date)
        return {
            i.id for i in counted
            if sum(abs((d - i.date).days) <= 2 for d in by_place[(i.gm, i.pc4)]) == 1
        }

    def _link_mode(self, inc: _Inc, p_id: float, p_infer: float, inferable: set[str]) -> str:
        x = self.rng.random()
        if x < p_id:
            return "id"
        if x < p_id + p_infer and inc.id in inferable:
            return "infer"
        if x < p_id + p_infer:
            return "id"
        return "none"

    def _claims(self) -> list[dict]:
        rng = self.rng
        peils = [_d("2025-04-01"), _d("2025-10-01"), _d("2026-01-20")]
        insurers = _Picker(["VV0104", "VV0221", "VV0317", "VV0452", "VV0588", "VV0731"], [28, 22, 18, 14, 10, 8])
        inferable = self._unambiguous()
        used: set[tuple[str, str]] = set()

        def claim_id(code: str) -> str:
            while True:
                cid = {"VV0104": f"SCH-{rng.getrandbits(40):010X}", "VV0221": f"{rng.randrange(10**9):09d}",
                       "VV0317": f"CLM{rng.getrandbits(32):08x}", "VV0452": f"EXP-{rng.randrange(10**7):07d}",
                       "VV0588": f"S{rng.getrandbits(44):011X}", "VV0731": f"{rng.getrandbits(48):012x}"}[code]
                if (code, cid) not in used:
                    used.add((code, cid))
                    return cid

        claims: list[dict] = []

        def add(link: dict, branche: str, oorzaak: str) -> None:
            code = insurers.pick(rng)
            mu, sigma = {"opstal": (9.4, 0.9), "inboedel": (8.3, 0.8), "bedrijf": (10.3, 1.0),
                         "motorrijtuig": (9.1, 0.6)}[branche]
            amount = min(2_500_000.0, round(rng.lognormvariate(mu, sigma) / 50) * 50.0 + rng.choice([0, 0, 0.5]))
            first_due = link["date"] + dt.timedelta(rng.randint(0, 45))
            first = next((k for k, p in enumerate(peils) if p >= first_due), len(peils) - 1)
            woning = branche in ("opstal", "inboedel")
            claims.append({
                "verzekeraar_code": code, "claim_id": claim_id(code), "schadedatum": link["date"],
                "gemeente_code": link["gm"], "postcode4": link["pc4"], "branche": branche, "oorzaak": oorzaak,
                "politie_incident_id": link["pid"], "schade_geraamd_eur": max(amount, 50.0),
                "tijdelijke_huisvesting": (rng.choices([True, False, None], [12, 60, 28])[0] if woning
                                           else rng.choice([False, None])),
                "_first": first,
            })

        for inc in self.incidents:
            if inc.date.year < 2024:
                continue
            if inc.counted:
                p = {"woning": 0.22, "bedrijf": 0.35, "voertuig": 0.30, "geldautomaat": 0.5, "overig": 0.05}[inc.doelwit]
                if rng.random() >= p:
                    continue
                if inc.doelwit == "woning":
                    branches = rng.choices([["opstal"], ["opstal", "inboedel"], ["opstal", "opstal", "inboedel"],
                                            ["inboedel"]], [55, 20, 10, 15])[0]
                else:
                    branches = [{"bedrijf": "bedrijf", "geldautomaat": "bedrijf", "voertuig": "motorrijtuig",
                                 "overig": "opstal"}[inc.doelwit]]
                for b in branches:
                    add(self._link_fields(inc, self._link_mode(inc, 0.63, 0.15, inferable), peils[-1]),
                        b, "explosie_opzet")
            elif not inc.telt_mee and inc.doelwit in ("woning", "bedrijf") and rng.random() < 0.4:
                add(self._link_fields(inc, "id", peils[-1]),
                    "opstal" if inc.doelwit == "woning" else "bedrijf", "explosie_overig")
            elif inc.ingetrokken and rng.random() < 0.35:
                add(self._link_fields(inc, "id", peils[-1]), "opstal", "explosie_opzet")
        # Claims without any police incident: gas and other explosions, and unreported ones.
        for k, day in enumerate(_dates(rng, _d("2024-01-01"), _d("2025-12-31"), 70)):
            gm = self.by_population.pick(rng)
            pc4 = rng.choice(self.pc4[gm]) if rng.random() < 0.7 else ""
            add({"gm": gm, "pc4": pc4, "date": day, "pid": None},
                rng.choice(["opstal", "opstal", "inboedel", "bedrijf"]), "explosie_overig" if k < 45 else "explosie_opzet")
        # Lifecycle: status per delivery; later deliveries carry only new and changed claims.
        rows_by_delivery: list[list[dict]] = [[] for _ in peils]
        for c in claims:
            first = c.pop("_first")
            age = (peils[first] - c["schadedatum"]).days
            if age > 120:
                status = rng.choices(["afgehandeld", "open", "afgewezen"], [55, 40, 5])[0]
            else:
                status = rng.choices(["open", "afgehandeld", "afgewezen"], [90, 7, 3])[0]
            paid = self._paid(status, c["schade_geraamd_eur"])
            rows_by_delivery[first].append({**c, "peildatum": peils[first], "status": status, "uitgekeerd_eur": paid})
            estimate = c["schade_geraamd_eur"]
            for k in range(first + 1, len(peils)):
                if status != "open" or rng.random() >= 0.6:
                    continue
                status = rng.choices(["afgehandeld", "afgewezen", "open"], [80, 5, 15])[0]
                if status == "open":
                    estimate = round(estimate * rng.uniform(1.0, 1.4), 2)
                paid = self._paid(status, estimate)
                rows_by_delivery[k].append({**c, "peildatum": peils[k], "schade_geraamd_eur": estimate,
                                            "status": status, "uitgekeerd_eur": paid})
        self.claim_rows = rows_by_delivery
        self.claim_peils = peils
        self.claim_ids = used
        return claims

    def _paid(self, status: str, estimate: float) -> float | None:
        rng = self.rng
        if status == "afgehandeld":
            return round(estimate * rng.uniform(0.55, 1.0), 2)
        if status == "afgewezen":
            return 0.0 if rng.random() < 0.5 else None
        return round(estimate * 0.3, 2) if rng.random() < 0.15 else None

    def _insurer_files(self) -> dict[str, SampleFile]:
        rng = self.rng
        self._claims()
        cols = FEED_COLUMNS["verzekeraars"]
        v1, v2, v3 = (sorted(r, key=lambda r: (r["verzekeraar_code"], r["schadedatum"], r["claim_id"]))
                      for r in self.claim_rows)
        out: dict[str, SampleFile] = {}
        out["V1"] = SampleFile(
            "verzekeraars", "VvV_explosieschade_peildatum_2025-04-01.xlsx",
            _xlsx_bytes(cols, v1, self.claim_peils[0], "Verbond van Verzekeraars", "Schadeclaims"),
            "loaded",
            f"First claims delivery, XLSX with typed cells (Excel dates, numbers, booleans), {len(v1)} claims "
            "2024-Q1 2025; ~60% carry politie_incident_id, some only match on municipality, date ±1 and postcode4.",
        )
        out["V2"] = SampleFile(
            "verzekeraars", "claims_explosies_2025-10-01.csv",
            _csv_bytes(_Style(";", "cp1252", "\r\n", "nl", ("ja", "nee")), cols, v2),
            "loaded",
            f"New and revised claims at peildatum 2025-10-01 ({len(v2)} rows; open claims now afgehandeld with "
            "uitgekeerd_eur); Windows-1252 ';' CRLF, decimal comma, Dutch dates, ja/nee.",
        )
        out["V3"] = SampleFile(
            "verzekeraars", "verzekeraars_explosieschade_2026-01-20.csv",
            _csv_bytes(_Style(",", "utf-8", "\n", "iso", ("true", "false"), csv.QUOTE_ALL), cols, v3),
            "loaded",
            f"New and revised claims at peildatum 2026-01-20 ({len(v3)} rows); UTF-8, every field quoted, "
            "decimal point, ISO dates.",
        )

        def fresh(code: str, n: int) -> list[str]:
            out_ids = []
            while len(out_ids) < n:
                cid = f"CLM{rng.getrandbits(32):08x}" if code == "VV0317" else f"S{rng.getrandbits(44):011X}"
                if (code, cid) not in self.claim_ids:
                    self.claim_ids.add((code, cid))
                    out_ids.append(cid)
            return out_ids

        def small_claims(code: str, peil: dt.date, start: str, end: str, n: int) -> list[dict]:
            rows = []
            for cid, day in zip(fresh(code, n), sorted(_dates(rng, _d(start), _d(end), n))):
                gm = self.boosted.pick(rng)
                rows.append({
                    "verzekeraar_code": code, "claim_id": cid, "peildatum": peil, "schadedatum": day,
                    "gemeente_code": gm, "postcode4": rng.choice(self.pc4[gm]), "branche": "opstal",
                    "oorzaak": "explosie_opzet", "politie_incident_id": None,
                    "schade_geraamd_eur": float(rng.randrange(400, 9000, 5)), "uitgekeerd_eur": None,
                    "status": "open", "tijdelijke_huisvesting": False,
                })
            return rows

        rows = small_claims("VV0317", _d("2025-05-06"), "2025-03-01", "2025-04-30", 6)
        rows[2]["schade_geraamd_eur"] = 1234.5
        text = _csv_bytes(_Style(";", "cp1252", "\r\n", "nl", ("ja", "nee")), cols, rows).decode("cp1252")
        text = text.replace(";1234,50;", ";1.234,50;", 1)
        out["B5"] = SampleFile(
            "verzekeraars", "schadeclaims_mei2025.csv", text.encode("cp1252"), "quarantined",
            "Data row 3 has schade_geraamd_eur '1.234,50': a thousands separator, which the contract does not allow.",
        )

        rows = small_claims("VV0588", _d("2025-11-04"), "2025-09-01", "2025-10-31", 8)
        out["B3"] = SampleFile(
            "verzekeraars", "VV0588_export_2025-11.csv",
            _csv_bytes(_Style(), [c for c in cols if c != "schadedatum"], rows),
            "quarantined",
            "The required column schadedatum is missing.",
        )
        return out

    # -- housing corporations -------------------------------------------------------------------

    _CORP_CITY = {"GM0599": ["L1801", "L1833"], "GM0363": ["L0560", "L0581"], "GM0518": ["L2104"],
                  "GM0034": ["L0742"], "GM0796": ["L1290"]}
    _CORP_REGION = {"Groningen": "L0655", "Fryslân": "L0655", "Drenthe": "L0655", "Overijssel": "L1417",
                    "Gelderland": "L1417", "Flevoland": "L1417", "Utrecht": "L0930", "Noord-Holland": "L0930",
                    "Zuid-Holland": "L0930", "Zeeland": "L2220", "Noord-Brabant": "L2220", "Limburg": "L2220"}

    def _corp_for(self, gm: str) -> str:
        if gm in self._CORP_CITY:
            return self.rng.choice(self._CORP_CITY[gm])
        return self._CORP_REGION.get(self.ref.gemeenten[gm].provincie, "L0930")

    def _reports(self) -> None:
        rng = self.rng
        peils = [_d("2025-03-03"), _d("2025-09-01"), _d("2026-01-12")]
        inferable = self._unambiguous()
        used: set[tuple[str, str]] = set()
        reports = []

        def melding_id(code: str) -> str:
            while True:
                mid = f"M{rng.randrange(10**8):08d}"
                if (code, mid) not in used:
                    used.add((code, mid))
                    return mid

        def add(link: dict) -> None:
            code = self._corp_for(link["gm"])
            damaged = rng.choices(range(1, 9), [55, 20, 10, 6, 4, 2, 2, 1])[0]
            unfit = 0 if rng.random() < 0.7 else rng.randint(1, damaged)
            moved = None if rng.random() < 0.2 else rng.randint(0, unfit)
            first_due = link["date"] + dt.timedelta(rng.randint(0, 30))
            first = next((k for k, p in enumerate(peils) if p >= first_due), len(peils) - 1)
            sluiting = rng.choices([None, "geen", "art174a_gemeentewet", "art13b_opiumwet"], [55, 30, 11, 4])[0]
            start = link["date"] + dt.timedelta(rng.randint(2, 21)) if sluiting not in (None, "geen") else None
            end = start + dt.timedelta(rng.choice([90, 91, 182, 183, 365])) if start else None
            reports.append({
                "corporatie_code": code, "melding_id": melding_id(code), "incident_datum": link["date"],
                "gemeente_code": link["gm"], "postcode4": link["pc4"], "politie_incident_id": link["pid"],
                "woningen_beschadigd": damaged, "woningen_onbewoonbaar": unfit, "huishoudens_ontheemd": moved,
                "herstelkosten_eur": round(damaged * rng.lognormvariate(8.6, 0.7), 2),
                "nazorg_aangeboden": rng.random() < 0.85, "_sluiting": (sluiting, start, end), "_first": first,
            })

        for inc in self.incidents:
            if inc.date.year < 2024 or inc.doelwit != "woning":
                continue
            if inc.counted:
                if rng.random() < (0.28 if inc.today in self._CORP_CITY else 0.2):
                    add(self._link_fields(inc, self._link_mode(inc, 0.65, 0.20, inferable), peils[-1]))
            elif rng.random() < 0.3:
                add(self._link_fields(inc, "id", peils[-1]))

        rows_by_delivery: list[list[dict]] = [[] for _ in peils]
        tracked = ("herstelkosten_eur", "sluiting", "sluiting_start", "sluiting_eind", "huishoudens_ontheemd")
        for r in reports:
            first = r.pop("_first")
            sluiting, start, end = r.pop("_sluiting")
            cost = r["herstelkosten_eur"]
            prev: dict | None = None
            for k in range(first, len(peils)):
                peil = peils[k]
                row = {**r, "peildatum": peil, "herstelkosten_eur": cost}
                if prev is None and (peil - r["incident_datum"]).days < 30:
                    row["herstelkosten_eur"] = None  # not estimated yet
                if sluiting in (None, "geen") or start <= peil:
                    row.update(sluiting=sluiting, sluiting_start=start, sluiting_eind=end)
                else:  # the closure is decided after this extract
                    row.update(sluiting=None, sluiting_start=None, sluiting_eind=None)
                if prev is not None and all(row[c] == prev[c] for c in tracked) and rng.random() < 0.12:
                    if end and row["sluiting_eind"] and rng.random() < 0.5:
                        end = end + dt.timedelta(91)  # closure extended
                        row["sluiting_eind"] = end
                    else:
                        cost = round(cost * rng.uniform(1.0, 1.3), 2)
                        row["herstelkosten_eur"] = cost
                if prev is None or any(row[c] != prev[c] for c in tracked):
                    rows_by_delivery[k].append(row)
                    prev = row
        self.report_rows = rows_by_delivery
        self.report_peils = peils
        self.report_ids = used

    def _corporation_files(self) -> dict[str, SampleFile]:
        rng = self.rng
        self._reports()
        cols = FEED_COLUMNS["corporaties"]
        c1, c2, c3 = (sorted(r, key=lambda r: (r["corporatie_code"], r["incident_datum"], r["melding_id"]))
                      for r in self.report_rows)
        out: dict[str, SampleFile] = {}
        out["C1"] = SampleFile(
            "corporaties", "aedes_explosiemeldingen_2025-03.csv",
            _csv_bytes(_Style(";", "utf-8-sig", "\r\n", "iso", ("ja", "nee")), cols, c1),
            "loaded",
            f"First housing delivery at peildatum 2025-03-03 ({len(c1)} reports): UTF-8 with BOM, ';', decimal "
            "comma, ja/nee; repair costs still empty for recent reports.",
        )
        out["C2"] = SampleFile(
            "corporaties", "corporaties_meldingen_2025-09-01.xlsx",
            _xlsx_bytes(cols, c2, self.report_peils[1], "Aedes", "Meldingen"),
            "loaded",
            f"XLSX with typed cells at peildatum 2025-09-01 ({len(c2)} rows): new reports and revisions "
            "(repair costs, closures under art. 174a Gemeentewet / 13b Opiumwet, closure ends in the future).",
        )
        out["C3"] = SampleFile(
            "corporaties", "meldingen_2026-01-12.csv",
            _csv_bytes(_Style(",", "utf-8", "\n", "nl", ("j", "n")), cols, c3),
            "loaded",
            f"New and revised reports at peildatum 2026-01-12 ({len(c3)} rows): UTF-8 LF, Dutch dates, j/n, "
            "decimal point; some closures extended.",
        )

        peil = _d("2025-08-11")
        rows = []
        for k, day in enumerate(sorted(_dates(rng, _d("2025-06-01"), _d("2025-07-31"), 6))):
            gm = self.boosted.pick(rng)
            while True:
                mid = f"M{rng.randrange(10**8):08d}"
                if ("L0930", mid) not in self.report_ids:
                    self.report_ids.add(("L0930", mid))
                    break
            damaged = rng.randint(1, 3)
            rows.append({
                "corporatie_code": "L0930", "melding_id": mid, "peildatum": peil, "incident_datum": day,
                "gemeente_code": gm, "postcode4": rng.choice(self.pc4[gm]), "politie_incident_id": None,
                "woningen_beschadigd": damaged, "woningen_onbewoonbaar": damaged + 1 if k == 2 else 0,
                "huishoudens_ontheemd": 0, "herstelkosten_eur": float(rng.randrange(1500, 20000, 50)),
                "nazorg_aangeboden": True, "sluiting": "geen",
            })
        out["B2"] = SampleFile(
            "corporaties", "L0930_meldingen_aug2025.csv",
            _csv_bytes(_Style(";", "utf-8", "\r\n", "nl", ("ja", "nee")), cols, rows),
            "quarantined",
            f"Data row 3 has woningen_onbewoonbaar {rows[2]['woningen_onbewoonbaar']} greater than woningen_beschadigd "
            f"{rows[2]['woningen_beschadigd']}.",
        )
        out["B4"] = SampleFile(
            "corporaties", "meldingen_Q3_2025.csv", _PDF, "quarantined",
            "A PDF document (starts with %PDF-) renamed to .csv: not an accepted format.",
        )
        return out

    # -- everything -----------------------------------------------------------------------------

    def run(self) -> list[SampleFile]:
        self._police_incidents()
        police = self._police_files()
        insurers = self._insurer_files()
        housing = self._corporation_files()
        files = {**police, **insurers, **housing}
        order = ["P1", "B1", "C1", "V1", "P2", "B5", "E1", "P3", "B2", "C2", "V2", "B4", "B3", "C3", "P4", "V3"]
        return [files[k] for k in order]
