"""The sample deliveries: deterministic, calibrated, and faithful to the partner contract.

The files are parsed here with csv/openpyxl only, independently of any pipeline code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import openpyxl
import pytest

from explosion_monitor import sample

# ---------------------------------------------------------------------------------------------
# The contract, as read from /work/shared/contracts/README.md
# ---------------------------------------------------------------------------------------------

DOELWIT = {"woning", "bedrijf", "voertuig", "geldautomaat", "overig"}
UITKOMST = {"afgegaan", "poging", "aangetroffen"}
EXPLOSIEF = {"zwaar_vuurwerk", "vuurwerk_brandstof", "ied", "handgranaat", "overig", "onbekend"}
BRANCHE = {"opstal", "inboedel", "bedrijf", "motorrijtuig"}
OORZAAK = {"explosie_opzet", "explosie_overig"}
STATUS = {"open", "afgehandeld", "afgewezen"}
SLUITING = {"geen", "art174a_gemeentewet", "art13b_opiumwet"}
SOORT = {
    "cameratoezicht",
    "veiligheidsrisicogebied",
    "gebiedsverbod",
    "sluitingsbeleid",
    "wijkaanpak",
    "weerbaarheid_ondernemers",
    "jongerenaanpak",
    "nazorgteam",
    "overig",
}
FASE = {"preventie", "repressie", "weerbaarheid", "nazorg"}

# column -> (type, required)
SPEC: dict[str, dict[str, tuple[object, bool]]] = {
    "politie": {
        "incident_id": ("id", True),
        "peildatum": ("date", True),
        "incident_datum": ("date", True),
        "gemeente_code": ("gm", True),
        "postcode4": ("pc4", False),
        "doelwit": (DOELWIT, True),
        "uitkomst": (UITKOMST, True),
        "explosief": (EXPLOSIEF, True),
        "telt_mee": ("bool", True),
        "gewonden": ("int", False),
        "doden": ("int", False),
        "ingetrokken": ("bool", False),
        "adres_pseudoniem": ("hex64", False),
    },
    "verzekeraars": {
        "verzekeraar_code": ("text", True),
        "claim_id": ("text", True),
        "peildatum": ("date", True),
        "schadedatum": ("date", True),
        "gemeente_code": ("gm", True),
        "postcode4": ("pc4", False),
        "branche": (BRANCHE, True),
        "oorzaak": (OORZAAK, True),
        "politie_incident_id": ("text", False),
        "schade_geraamd_eur": ("dec", True),
        "uitgekeerd_eur": ("dec", False),
        "status": (STATUS, True),
        "tijdelijke_huisvesting": ("bool", False),
    },
    "corporaties": {
        "corporatie_code": ("text", True),
        "melding_id": ("text", True),
        "peildatum": ("date", True),
        "incident_datum": ("date", True),
        "gemeente_code": ("gm", True),
        "postcode4": ("pc4", False),
        "politie_incident_id": ("text", False),
        "woningen_beschadigd": ("int", True),
        "woningen_onbewoonbaar": ("int", True),
        "huishoudens_ontheemd": ("int", False),
        "herstelkosten_eur": ("dec", False),
        "nazorg_aangeboden": ("bool", True),
        "sluiting": (SLUITING, False),
        "sluiting_start": ("date", False),
        "sluiting_eind": ("date", False),
        "terugkeer_datum": ("date", False),
    },
    "gemeenten": {
        "gemeente_code": ("gm", True),
        "maatregel_id": ("id", True),
        "peildatum": ("date", True),
        "soort": (SOORT, True),
        "fase": (FASE, True),
        "postcode4": ("pc4", False),
        "start_datum": ("date", True),
        "eind_datum": ("date", False),
        "kosten_eur": ("dec", False),
        "omschrijving": ("text", False),
        "ingetrokken": ("bool", False),
    },
}
# Optional columns contract version 2 added: a version-1 file without them stays valid.
V2_ADDED = {"adres_pseudoniem", "terugkeer_datum"}
KEYS = {
    "politie": ("incident_id",),
    "verzekeraars": ("verzekeraar_code", "claim_id"),
    "corporaties": ("corporatie_code", "melding_id"),
    "gemeenten": ("gemeente_code", "maatregel_id", "postcode4"),
}
EVENT_DATE = {
    "politie": "incident_datum",
    "verzekeraars": "schadedatum",
    "corporaties": "incident_datum",
    "gemeenten": "start_datum",
}

# What each file a partner gets wrong must violate, and nothing else: rule -> number of rows.
BAD = {
    "politie_aanvulling_2025-02-03.csv": {"code_invalid_at_date": 1},
    "schadeclaims_mei2025.csv": {"thousands_separator": 1},
    "L0930_meldingen_aug2025.csv": {"onbewoonbaar_gt_beschadigd": 1},
    "meldingen_Q3_2025.csv": {"not_a_table:pdf": 1},
    "VV0588_export_2025-11.csv": {"missing_column:schadedatum": 1},
}
BAD_WHY = {
    "politie_aanvulling_2025-02-03.csv": "GM0457",
    "schadeclaims_mei2025.csv": "1.234,50",
    "L0930_meldingen_aug2025.csv": "woningen_onbewoonbaar",
    "meldingen_Q3_2025.csv": "PDF",
    "VV0588_export_2025-11.csv": "schadedatum",
}


# ---------------------------------------------------------------------------------------------
# Municipality codes valid on a date, from the reference CSVs
# ---------------------------------------------------------------------------------------------


@cache
def municipalities() -> tuple[dict[str, dt.date], dict[str, dt.date], set[str], dict[str, str]]:
    """(ends of historic codes, creation dates of merged codes, today's codes, historic -> today)."""
    folder = sample.reference_dir()
    with open(folder / "gemeenten_2025.csv", encoding="utf-8", newline="") as fh:
        today = {r["gm_code"] for r in csv.DictReader(fh)}
    with open(folder / "gemeentelijke_herindelingen.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ends: dict[str, dt.date] = {}
    successor: dict[str, str] = {}
    whole: Counter[tuple[str, dt.date]] = Counter()
    for r in rows:
        day = dt.date.fromisoformat(r["ingangsdatum"])
        ends[r["oude_gm_code"]] = min(day, ends.get(r["oude_gm_code"], day))
        successor.setdefault(r["oude_gm_code"], r["nieuwe_gm_code"])
        if not r["opmerking"].lower().startswith("splitsing"):
            whole[(r["nieuwe_gm_code"], day)] += 1
    # A municipality formed from two or more whole ones gets a new code on the merger date.
    created = {new: day for (new, day), n in whole.items() if n >= 2}
    return ends, created, today, successor


def code_valid(code: str, day: dt.date) -> bool:
    ends, created, today, _ = municipalities()
    if code in ends:
        return day < ends[code]
    return code in today and day >= created.get(code, dt.date.min)


def on_today_boundaries(code: str) -> str:
    _, _, today, successor = municipalities()
    while code not in today and code in successor:
        code = successor[code]
    return code


# ---------------------------------------------------------------------------------------------
# An independent reader
# ---------------------------------------------------------------------------------------------


class NotATable(Exception):
    pass


class Table:
    def __init__(self, header: list[str], rows: list[list[object]], kind: str, encoding: str = "", newline: str = ""):
        self.raw_header = header
        self.header = [str(h).strip().lower() for h in header]
        self.rows = rows
        self.kind = kind  # "," | ";" | "xlsx"
        self.encoding = encoding
        self.newline = newline
        self.sep_line = False  # a first line `sep=;` / `sep=,` (Excel's delimiter hint)

    def records(self) -> list[dict[str, object]]:
        return [dict(zip(self.header, r, strict=False)) for r in self.rows]


def read_table(data: bytes) -> Table:
    if data.startswith(b"%PDF-"):
        raise NotATable("pdf")
    if data.startswith(b"PK\x03\x04"):
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        wb.close()
        return Table([str(h) for h in rows[0]], [r for r in rows[1:] if any(v not in (None, "") for v in r)], "xlsx")
    if data[:2] == b"\x1f\x8b" or data.lstrip()[:1] == b"<":
        raise NotATable("other")
    try:
        text, encoding = data.decode("utf-8-sig"), ("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError:
        text, encoding = data.decode("cp1252"), "cp1252"
    first = text.split("\n", 1)[0]
    sep = re.fullmatch(r"sep=([;,])\r?", first)  # Excel's delimiter hint above the header (contract v2)
    if sep:
        text = text.split("\n", 1)[1]
    delim = sep.group(1) if sep else (";" if first.count(";") > first.count(",") else ",")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    newline = "\r\n" if "\r\n" in text else "\n"
    table = Table(rows[0], [r for r in rows[1:] if any(v.strip() for v in r)], delim, encoding, newline)
    table.sep_line = bool(sep)
    return table


def empty(v: object) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def as_date(v: object) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    s = str(v).strip()
    timed = re.fullmatch(r"(\S+)[ T]\d{1,2}:\d{2}(:\d{2})?", s)  # a date-time without offset: the date as written
    if timed:
        s = timed.group(1)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return dt.date.fromisoformat(s)
    if re.fullmatch(r"\d{1,2}-\d{1,2}-\d{4}", s):
        return dt.datetime.strptime(s, "%d-%m-%Y").date()
    return None


BOOLS = {
    "ja": True,
    "nee": False,
    "j": True,
    "n": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "waar": True,
    "onwaar": False,
}


def as_bool(v: object) -> bool | None:
    if isinstance(v, bool):
        return v
    return BOOLS.get(str(v).strip().lower())


def as_int(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    s = str(v).strip()
    return int(s) if re.fullmatch(r"\d+", s) else None


def as_dec(v: object, kind: str) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    pattern = r"\d+([.,]\d+)?" if kind == ";" else r"\d+(\.\d+)?"
    return float(s.replace(",", ".")) if re.fullmatch(pattern, s) else None


def text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    return str(v).strip()


def violations(feed: str, data: bytes) -> Counter[str]:
    """Rule -> number of rows (or 1 for file-level problems) that break the contract."""
    found: Counter[str] = Counter()
    try:
        table = read_table(data)
    except NotATable as e:
        found[f"not_a_table:{e}"] += 1
        return found
    spec = SPEC[feed]
    if len(set(table.header)) != len(table.header):
        found["duplicate_header"] += 1
    missing = [c for c, (_, req) in spec.items() if req and c not in table.header]
    for c in missing:
        found[f"missing_column:{c}"] += 1
    if missing:
        return found
    keys: Counter[tuple] = Counter()
    for rec in table.records():
        bad: set[str] = set()
        for col, (kind, req) in spec.items():
            v = rec.get(col)
            if empty(v):
                if req:
                    bad.add(f"required_empty:{col}")
                continue
            if kind == "date":
                ok = as_date(v) is not None
            elif kind == "bool":
                ok = as_bool(v) is not None
            elif kind == "int":
                ok = as_int(v) is not None
            elif kind == "dec":
                ok = as_dec(v, table.kind) is not None
                if not ok and re.fullmatch(r"\d{1,3}([.,]\d{3})+([.,]\d+)?", text(v)):
                    bad.add("thousands_separator")
                    continue
            elif kind == "gm":
                ok = bool(re.fullmatch(r"GM\d{4}", text(v)))
            elif kind == "pc4":
                ok = bool(re.fullmatch(r"\d{4}", text(v))) and 1000 <= int(text(v)) <= 9999
            elif kind == "id":
                ok = 1 <= len(text(v)) <= 40
            elif kind == "hex64":
                ok = bool(re.fullmatch(r"[0-9A-Fa-f]{64}", text(v)))
            elif kind == "text":
                ok = bool(text(v))
            else:
                ok = text(v) in kind
            if not ok:
                bad.add(f"bad_value:{col}")
        event, peil = as_date(rec.get(EVENT_DATE[feed])), as_date(rec.get("peildatum"))
        if event and peil and event > peil:
            bad.add("event_after_peildatum")
        if event and re.fullmatch(r"GM\d{4}", text(rec.get("gemeente_code"))):
            if not code_valid(text(rec["gemeente_code"]), event):
                bad.add("code_invalid_at_date")
        if feed == "corporaties":
            damaged, unfit = as_int(rec.get("woningen_beschadigd")), as_int(rec.get("woningen_onbewoonbaar"))
            if damaged is not None and unfit is not None and unfit > damaged:
                bad.add("onbewoonbaar_gt_beschadigd")
            start, end = as_date(rec.get("sluiting_start")), as_date(rec.get("sluiting_eind"))
            if start and end and end < start:
                bad.add("eind_before_start")
            back = as_date(rec.get("terugkeer_datum"))
            if back and ((event and back < event) or (peil and back > peil)):
                bad.add("terugkeer_outside_incident_peildatum")
        if feed == "gemeenten":
            start, end = as_date(rec.get("start_datum")), as_date(rec.get("eind_datum"))
            if start and end and end < start:
                bad.add("eind_before_start")
        keys[tuple(text(rec.get(k)) for k in KEYS[feed])] += 1
        found.update(bad)
    dup = sum(n - 1 for n in keys.values() if n > 1)
    if dup:
        found["duplicate_key"] += dup
    return found


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files() -> list[sample.SampleFile]:
    return sample.generate(2025)


@pytest.fixture(scope="module")
def tables(files) -> dict[str, Table]:
    return {f.name: read_table(f.data) for f in files if f.expect != "quarantined"}


def feed_records(files, tables, feed: str) -> list[tuple[str, list[dict]]]:
    """(file name, records) of the good files of a feed, in delivery order."""
    return [(f.name, tables[f.name].records()) for f in files if f.feed == feed and f.expect == "loaded"]


def police_state(deliveries: list[tuple[str, list[dict]]]) -> dict[str, dict]:
    """Newest peildatum per incident_id; for the same peildatum the later file wins."""
    state: dict[str, tuple[dt.date, dict]] = {}
    for _, records in deliveries:
        for rec in records:
            key, peil = text(rec["incident_id"]), as_date(rec["peildatum"])
            if key not in state or peil >= state[key][0]:
                state[key] = (peil, rec)
    return {k: rec for k, (_, rec) in state.items()}


def counted(state: dict[str, dict]) -> list[dict]:
    return [
        r
        for r in state.values()
        if as_bool(r["telt_mee"]) and not (not empty(r.get("ingetrokken")) and as_bool(r["ingetrokken"]))
    ]


def by_year(state: dict[str, dict]) -> dict[int, int]:
    return dict(sorted(Counter(as_date(r["incident_datum"]).year for r in counted(state)).items()))


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_deterministic_per_seed(files):
    again = sample.generate(2025)
    assert [(f.feed, f.name, f.expect, f.why, f.data) for f in again] == [
        (f.feed, f.name, f.expect, f.why, f.data) for f in files
    ]
    other = sample.generate(7)
    assert [f.name for f in other] == [f.name for f in files]
    differing = [a.name for a, b in zip(files, other, strict=False) if a.data != b.data]
    assert len(differing) >= 10


def test_other_seed_keeps_the_calibration():
    other = sample.generate(7)
    tabs = {f.name: read_table(f.data) for f in other if f.expect == "loaded" and f.feed == "politie"}
    state = police_state([(f.name, tabs[f.name].records()) for f in other if f.name in tabs])
    assert by_year(state) == sample.INTENDED_COUNTS


def test_write_samples_puts_every_file_in_order(files):
    calls = []
    returned = sample.write_samples(lambda feed, name, data: calls.append((feed, name, data)))
    assert calls == [(f.feed, f.name, f.data) for f in files]
    assert returned == files


def test_reference_dir_prefers_vendored_copy():
    folder = sample.reference_dir()
    vendored = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds"
    if (vendored / "gemeenten_2025.csv").is_file() and (vendored / "gemeentelijke_herindelingen.csv").is_file():
        assert folder == vendored
    else:
        assert folder == Path("/work/shared/reference")


def test_file_list_shape(files):
    assert {f.feed for f in files} == {"politie", "verzekeraars", "corporaties", "gemeenten"}
    assert {f.expect for f in files} == {"loaded", "quarantined", "empty"}
    for feed in ("politie", "verzekeraars", "corporaties", "gemeenten"):
        names = [f.name for f in files if f.feed == feed]
        assert len(names) == len(set(names))
    assert {f.name for f in files if f.expect == "quarantined"} == set(BAD)
    for f in files:
        assert f.why and "\n" not in f.why
    for feed in ("verzekeraars", "corporaties"):
        good = [f for f in files if f.feed == feed and f.expect == "loaded"]
        assert 2 <= len(good) <= 3


def test_format_variants_are_all_used(files, tables):
    good = {f.name: tables[f.name] for f in files if f.expect == "loaded"}
    police = [tables[f.name] for f in files if f.feed == "politie" and f.expect == "loaded"]
    cp = [t for t in police if t.encoding == "cp1252"]
    assert cp and cp[0].kind == ";" and cp[0].newline == "\r\n"
    assert any(
        as_date(v) and re.fullmatch(r"\d{2}-\d{2}-\d{4}", str(v)) for v in (r["peildatum"] for r in cp[0].records())
    )
    assert {text(r["telt_mee"]) for r in cp[0].records()} <= {"ja", "nee"}
    assert any(h != h.strip() for h in cp[0].raw_header) and any(h != h.lower() for h in cp[0].raw_header)
    canonical = [c for c in SPEC["politie"]]
    assert [h for h in cp[0].header if h in SPEC["politie"]] != canonical  # column order shuffled
    assert "toelichting" in cp[0].header  # unknown extra column: a warning, not an error
    raw = next(f.data for f in files if tables.get(f.name) is cp[0])
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    bom = [t for t in police if t.encoding == "utf-8-sig" and t.kind == ","]
    assert bom and {text(r["telt_mee"]) for r in bom[0].records()} <= {"true", "false"}
    plain = [t for t in police if t.encoding == "utf-8" and t.newline == "\n"]
    assert any({text(r["telt_mee"]) for r in t.records()} <= {"1", "0"} for t in plain)
    assert any({text(r["telt_mee"]) for r in t.records()} <= {"j", "n"} for t in plain)
    xlsx = [t for t in good.values() if t.kind == "xlsx"]
    assert xlsx
    for t in xlsx:
        rec = t.records()[0]
        assert isinstance(rec["peildatum"], dt.datetime)
        assert any(isinstance(v, bool) for r in t.records() for v in r.values())
        assert any(isinstance(v, float) for r in t.records() for v in r.values())
    semi_dec = [t for t in good.values() if t.kind == ";" and "schade_geraamd_eur" in t.header]
    assert semi_dec and any("," in text(r["schade_geraamd_eur"]) for r in semi_dec[0].records())


def test_good_files_follow_the_contract(files):
    for f in files:
        if f.expect == "quarantined":
            continue
        assert violations(f.feed, f.data) == Counter(), f.name
        table = read_table(f.data)
        assert set(SPEC[f.feed]) - V2_ADDED <= set(table.header), f.name
        peils = {as_date(r["peildatum"]) for r in table.records()}
        assert len(peils) <= 1, f.name
        assert all(p <= dt.date(2026, 10, 31) for p in peils)  # the running year 2026 reaches October
        if f.expect == "empty":
            assert table.rows == [] and f.feed == "politie"
        else:
            assert table.rows


def test_version_2_files_are_among_them(files, tables):
    """Some deliveries carry contract v2's new columns and Excel's realities; the others stay version 1."""
    by_feed = {feed: [tables[f.name] for f in files if f.feed == feed and f.expect == "loaded"] for feed in SPEC}
    pseudo = [t for t in by_feed["politie"] if "adres_pseudoniem" in t.header]
    assert pseudo and len(pseudo) < len(by_feed["politie"])
    values = [text(r["adres_pseudoniem"]) for t in pseudo for r in t.records() if text(r["adres_pseudoniem"])]
    assert any(v.islower() for v in values) and any(v.isupper() for v in values if not v.isdigit())
    # the same address keeps its pseudonym: repeat attacks are countable
    per_incident: dict[str, set[str]] = defaultdict(set)
    for t in pseudo:
        for r in t.records():
            if text(r["adres_pseudoniem"]):
                per_incident[text(r["incident_id"])].add(text(r["adres_pseudoniem"]).lower())
    assert all(len(v) == 1 for v in per_incident.values())
    repeats = Counter(next(iter(v)) for v in per_incident.values())
    assert any(n > 1 for n in repeats.values())
    back = [t for t in by_feed["corporaties"] if "terugkeer_datum" in t.header]
    assert back and any(not empty(r["terugkeer_datum"]) for t in back for r in t.records())
    measures = by_feed["gemeenten"]
    assert measures and {text(r["soort"]) for t in measures for r in t.records()} >= {"cameratoezicht", "nazorgteam"}
    assert any(empty(r["postcode4"]) for t in measures for r in t.records())  # the whole municipality
    excel = [t for t in measures if t.sep_line]
    assert excel and excel[0].kind == ";" and excel[0].encoding == "cp1252"
    assert {text(r["ingetrokken"]) for r in excel[0].records()} - {""} <= {"WAAR", "ONWAAR"}
    assert all(re.fullmatch(r"\d{1,2}-\d{1,2}-\d{4} \d{1,2}:\d{2}", text(r["start_datum"])) for r in excel[0].records())
    typed = [t for t in measures if t.kind == "xlsx"]
    assert typed and any(
        isinstance(r["peildatum"], dt.datetime) and r["peildatum"].time() != dt.time(0) for r in typed[0].records()
    )


def test_bad_files_violate_exactly_what_they_say(files):
    for f in files:
        if f.expect != "quarantined":
            continue
        assert violations(f.feed, f.data) == Counter(BAD[f.name]), f.name
        assert BAD_WHY[f.name] in f.why
        assert len(f.data) < 2000


def test_target_metric_newest_delivery(files, tables):
    state = police_state(feed_records(files, tables, "politie"))
    assert by_year(state) == sample.INTENDED_COUNTS
    assert sample.INTENDED_COUNTS[2024] == 1543 and sample.INTENDED_COUNTS[2025] == 1525
    assert 880 <= sample.INTENDED_COUNTS[2023] <= 920
    # The extra rows that do not count really are there.
    rows = list(state.values())
    assert sum(not as_bool(r["telt_mee"]) for r in rows) >= 50
    withdrawn = [r for r in rows if not empty(r.get("ingetrokken")) and as_bool(r["ingetrokken"])]
    assert len(withdrawn) >= 15


def test_target_metric_as_of_each_delivery(files, tables):
    deliveries = feed_records(files, tables, "politie")
    seen: set[str] = set()
    for i, (name, records) in enumerate(deliveries):
        peil = as_date(records[0]["peildatum"]).isoformat()
        seen.add(peil)
        assert by_year(police_state(deliveries[: i + 1])) == sample.INTENDED_AS_OF[peil], name
    assert seen == set(sample.INTENDED_AS_OF)


def test_january_2025_extract_alone(files, tables):
    jan = [
        (n, r) for n, r in feed_records(files, tables, "politie") if as_date(r[0]["peildatum"]) == dt.date(2025, 1, 15)
    ]
    assert len(jan) == 1
    assert by_year(police_state(jan))[2024] == 1244


def test_withdrawals_and_revisions_arrive_later(files, tables):
    deliveries = feed_records(files, tables, "politie")
    first = police_state(deliveries[:1])
    final = police_state(deliveries)
    later_withdrawn = [k for k, r in final.items() if k in first and counted({k: first[k]}) and not counted({k: r})]
    assert len(later_withdrawn) >= 5
    changed = [k for k, r in final.items() if k in first and text(first[k]["explosief"]) != text(r["explosief"])]
    assert changed


def test_first_half_2025(files, tables):
    deliveries = feed_records(files, tables, "politie")
    for upto in (3, len(deliveries)):  # as published in July 2025 and as known now
        state = police_state(deliveries[:upto])
        h1 = [r for r in counted(state) if dt.date(2025, 1, 1) <= as_date(r["incident_datum"]) <= dt.date(2025, 6, 30)]
        assert len(h1) == 678
        assert Counter(text(r["uitkomst"]) for r in h1) == {"afgegaan": 610, "poging": 68}


def test_2024_by_target_explosive_and_municipality(files, tables):
    rows = counted(police_state(feed_records(files, tables, "politie")))
    r24 = [r for r in rows if as_date(r["incident_datum"]).year == 2024]
    doelwit = Counter(text(r["doelwit"]) for r in r24)
    assert (doelwit["woning"], doelwit["bedrijf"], doelwit["voertuig"]) == (1119, 230, 154)
    assert doelwit["geldautomaat"] + doelwit["overig"] == 1543 - 1119 - 230 - 154
    share = sum(text(r["explosief"]) == "zwaar_vuurwerk" for r in rows) / len(rows)
    assert 0.75 <= share <= 0.85
    places = Counter(on_today_boundaries(text(r["gemeente_code"])) for r in r24).most_common()
    assert [c for c, _ in places[:5]] == ["GM0599", "GM0363", "GM0518", "GM0034", "GM0796"]
    counts = [n for _, n in places[:6]]
    assert counts == sorted(counts, reverse=True) and len(set(counts[:5])) == 5
    assert counts[4] >= counts[5] + 10  # clearly ahead of the rest
    assert len(places) >= 150  # spread over the country


def test_historic_codes(files, tables):
    _, _, today, _ = municipalities()
    rows = [r for _, recs in feed_records(files, tables, "politie") for r in recs]
    weesp = [as_date(r["incident_datum"]) for r in rows if text(r["gemeente_code"]) == "GM0457"]
    assert len(weesp) >= 3 and all(d < dt.date(2022, 3, 24) for d in weesp)
    assert any(d.year == 2021 for d in weesp) and any(d.year == 2022 for d in weesp)
    historic = {
        (text(r["gemeente_code"]), as_date(r["incident_datum"]).year)
        for r in rows
        if text(r["gemeente_code"]) not in today
    }
    assert any(code != "GM0457" and year == 2021 for code, year in historic)
    assert {on_today_boundaries(c) for c, _ in historic} >= {"GM0363", "GM1980", "GM1982", "GM1992"}


def test_police_values_are_plausible(files, tables):
    rows = [r for _, recs in feed_records(files, tables, "politie") for r in recs]
    pc4 = [text(r["postcode4"]) for r in rows]
    assert 0 < sum(p == "" for p in pc4) < 0.1 * len(pc4)
    hurt = [as_int(r["gewonden"]) for r in rows if not empty(r["gewonden"])]
    assert Counter(hurt)[0] > 0.85 * len(hurt) and max(hurt) <= 5
    final = police_state(feed_records(files, tables, "politie")).values()
    dead = [as_int(r["doden"]) for r in final if not empty(r["doden"])]
    assert sum(dead) <= 10  # deaths are rare


def test_claims_and_reports_link_to_police(files, tables):
    police = police_state(feed_records(files, tables, "politie"))
    counted_ids = {text(r["incident_id"]) for r in counted(police)}
    by_place: dict[tuple[str, str], list[dt.date]] = defaultdict(list)
    for r in counted(police):
        if text(r["postcode4"]):
            by_place[(text(r["gemeente_code"]), text(r["postcode4"]))].append(as_date(r["incident_datum"]))
    for feed, date_col, lo, hi in (
        ("verzekeraars", "schadedatum", 0.5, 0.7),
        ("corporaties", "incident_datum", 0.55, 0.8),
    ):
        deliveries = feed_records(files, tables, feed)
        rows = [r for _, recs in deliveries for r in recs]
        assert 300 <= len(rows) <= 1600, feed
        with_id = [r for r in rows if text(r["politie_incident_id"])]
        assert lo <= len(with_id) / len(rows) <= hi, feed
        named = {text(r["politie_incident_id"]) for r in with_id}
        assert named - counted_ids, feed  # some name a withdrawn or not counted incident
        assert set(police) >= named, feed  # ids are real police ids
        inferable = [
            r
            for r in rows
            if not text(r["politie_incident_id"])
            and text(r["postcode4"])
            and any(
                abs((d - as_date(r[date_col])).days) <= 1
                for d in by_place.get((text(r["gemeente_code"]), text(r["postcode4"])), [])
            )
        ]
        assert len(inferable) >= 0.08 * len(rows), feed
        # A later delivery revises earlier records of the same key with a newer peildatum.
        first: dict[tuple, dict] = {}
        revised = 0
        for _, recs in deliveries:
            for r in recs:
                key = tuple(text(r[k]) for k in KEYS[feed])
                if key in first:
                    assert as_date(r["peildatum"]) > as_date(first[key]["peildatum"])
                    revised += 1
                else:
                    first[key] = r
        assert revised >= 30, feed


def test_claim_revisions_settle_claims(files, tables):
    deliveries = feed_records(files, tables, "verzekeraars")
    latest: dict[tuple, dict] = {}
    settled = 0
    for _, recs in deliveries:
        for r in recs:
            key = (text(r["verzekeraar_code"]), text(r["claim_id"]))
            if key in latest and text(latest[key]["status"]) == "open" and text(r["status"]) == "afgehandeld":
                assert as_dec(r["uitgekeerd_eur"], ";") is not None
                settled += 1
            latest[key] = r
    assert settled >= 50
    codes = {k[0] for k in latest}
    assert all(re.fullmatch(r"VV\d{4}", c) for c in codes) and 3 <= len(codes) <= 10


def test_housing_closures(files, tables):
    rows = [r for _, recs in feed_records(files, tables, "corporaties") for r in recs]
    closures = [r for r in rows if text(r["sluiting"]) in ("art174a_gemeentewet", "art13b_opiumwet")]
    assert closures
    assert all(as_date(r["sluiting_start"]) and as_date(r["sluiting_eind"]) for r in closures)
    assert any(as_date(r["sluiting_eind"]) > as_date(r["peildatum"]) for r in closures)  # ends in the future
    assert any(as_int(r["woningen_onbewoonbaar"]) > 0 for r in rows)
