"""The police feed: incidents calibrated to the published figures, and the police deliveries.

`PoliceMixin` draws every incident with its history over the four extracts (late
registrations, withdrawals, `telt_mee` flips, revised features) so that the target metric is
exactly `INTENDED_COUNTS` / `INTENDED_AS_OF`, then writes the extracts in the styles police
exports really come in, plus one file with a partner error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass, field
from random import Random

from explosion_monitor.sample import effecten
from explosion_monitor.sample.common import (
    AMSTERDAM,
    INTENDED_COUNTS,
    INTENDED_DOELWIT_2024,
    INTENDED_H1_2025,
    INTENDED_TOP5_2024,
    INTENDED_ZWAAR_VUURWERK_SHARE,
    POLICE_UNIT,
    WEESP,
    Picker,
    Reference,
    SampleFile,
    Style,
    as_date,
    spread_dates,
    to_csv_bytes,
    v1_columns,
)

P1, P2, P3, P4 = as_date("2025-01-15"), as_date("2025-04-15"), as_date("2025-07-15"), as_date("2026-01-15")

DOELWIT_W = {"woning": 72, "bedrijf": 15, "voertuig": 10, "geldautomaat": 1.5, "overig": 1.5}
UITKOMST_W = {"afgegaan": 86, "poging": 10, "aangetroffen": 4}
EXPLOSIEF_REST_W = {"vuurwerk_brandstof": 6, "ied": 4, "handgranaat": 3, "overig": 2, "onbekend": 5}


@dataclass
class Inc:
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
    # The police's pseudonym of the address (contract v2); "" when the address is not known.
    pseudoniem: str = ""

    @property
    def counted(self) -> bool:
        return self.telt_mee and not self.ingetrokken

    def first(self) -> dt.date:
        return min(self.versions)

    def row(self, peil: dt.date) -> dict:
        r = {
            "incident_id": self.id,
            "peildatum": peil,
            "incident_datum": self.date,
            "gemeente_code": self.gm,
            "postcode4": self.pc4,
            "doelwit": self.doelwit,
            "uitkomst": self.uitkomst,
            "explosief": self.explosief,
            "telt_mee": self.telt_mee,
            "gewonden": self.gewonden,
            "doden": self.doden,
            "ingetrokken": self.ingetrokken,
            "adres_pseudoniem": self.pseudoniem,
        }
        r.update(self.versions[peil])
        return r


class PoliceMixin:
    """Police incidents and files; part of the sample generator (state lives on the generator)."""

    rng: Random
    seed: int
    ref: Reference
    pc4: dict[str, list[str]]
    boosted: Picker
    by_population: Picker
    rest_codes: list[str]
    incidents: list[Inc]

    # -- building blocks ------------------------------------------------------------------------

    def _group(
        self,
        name: str,
        n: int,
        start: str,
        end: str,
        versions: dict[dt.date, dict],
        late_bias: float = 0.0,
        **final: object,
    ) -> list[Inc]:
        out = []
        for day in spread_dates(self.rng, as_date(start), as_date(end), n, late_bias):
            inc = Inc(date=day, group=name, versions={p: dict(o) for p, o in versions.items()})
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

    def _place(self, inc: Inc, today: str) -> bool:
        code = self._code_at(today, inc.date)
        if code is None:
            return False
        inc.today, inc.gm = today, code
        pool = self.pc4[code] if code == WEESP else self.pc4[today]
        inc.pc4 = "" if self.rng.random() < 0.04 else self.rng.choice(pool)
        return True

    def _place_random(self, inc: Inc, picker: Picker) -> None:
        while not self._place(inc, picker.pick(self.rng)):
            pass

    def _police_incidents(self) -> None:
        self._police_groups()
        self._police_features()
        self._police_places()
        effecten.plant(self)  # the measures' planted effects: moves incidents between areas of one municipality
        self._police_revisions()
        self._police_notes()
        self._police_ids()
        self._police_addresses()
        from explosion_monitor.sample import buurt  # planted neighbourhood truths (issue 14)

        buurt.plant(self)

    def _members(self, group: str) -> list[Inc]:
        """The incidents of one group, in creation order."""
        return [i for i in self.incidents if i.group == group]

    def _police_groups(self) -> None:
        """Every incident with its dates and delivery history; the group sizes are the calibration."""
        both = {P1: {}}
        # 2021-2023: all known in January 2025 and stable afterwards.
        self._group("c21", 212, "2021-01-01", "2021-12-31", both)
        self._group("c22", 343, "2022-01-01", "2022-12-31", both)
        self._group("c23", 902, "2023-01-01", "2023-12-31", both)
        for y, (n_nc, n_wd) in {2021: (5, 1), 2022: (8, 2), 2023: (19, 4)}.items():
            self._group(f"nc{y}", n_nc, f"{y}-01-01", f"{y}-12-31", both, telt_mee=False)
            self._group(f"wd{y}", n_wd, f"{y}-01-01", f"{y}-12-31", both, ingetrokken=True)
        # 2024: 1,244 counted in January 2025; April 2025 revises to 1,543.
        self._group("k24", 1234, "2024-01-01", "2024-12-31", both)
        self._group("w24", 7, "2024-01-01", "2024-12-31", {P1: {"ingetrokken": False}, P2: {}}, ingetrokken=True)
        self._group("fdown24", 3, "2024-01-01", "2024-12-31", {P1: {"telt_mee": True}, P2: {}}, telt_mee=False)
        self._group("fup24", 2, "2024-01-01", "2024-12-31", {P1: {"telt_mee": False}, P2: {}})
        self._group("a24", 307, "2024-01-01", "2024-12-31", {P2: {}}, late_bias=3.0)
        self._group("nc24a", 24, "2024-01-01", "2024-12-31", both, telt_mee=False)
        self._group("nc24b", 4, "2024-01-01", "2024-12-31", {P2: {}}, telt_mee=False)
        self._group("wd24", 3, "2024-01-01", "2024-12-31", both, ingetrokken=True)
        # 2025: April knows Jan..early April, July has the full first half, January 2026 the full year.
        v234 = {P2: {}, P3: {}, P4: {}}
        self._group("h1a", 297, "2025-01-01", "2025-04-08", v234)
        self._group("x3", 3, "2025-01-01", "2025-04-08", {P2: {"ingetrokken": False}, P3: {}, P4: {}}, ingetrokken=True)
        self._group("nc25a", 6, "2025-01-01", "2025-04-08", v234, telt_mee=False)
        self._group("h1b", 60, "2025-01-01", "2025-04-08", {P3: {}, P4: {}})
        self._group("h1c", 321, "2025-04-09", "2025-06-30", {P3: {}, P4: {}})
        self._group("nc25b", 7, "2025-01-01", "2025-07-12", {P3: {}, P4: {}}, telt_mee=False)
        self._group("j25", 33, "2025-07-01", "2025-07-12", {P3: {}, P4: {}})
        self._group("jw25", 2, "2025-07-01", "2025-07-12", {P3: {"ingetrokken": False}, P4: {}}, ingetrokken=True)
        self._group("h2", 814, "2025-07-01", "2025-12-31", {P4: {}})
        self._group("nc25c", 12, "2025-07-01", "2025-12-31", {P4: {}}, telt_mee=False)
        self._group("wd25", 4, "2025-07-01", "2025-12-31", {P4: {}}, ingetrokken=True)

    def _police_features(self) -> None:
        rng, g = self.rng, self._members
        incs = self.incidents
        # Features drawn freely first; the calibrated ones are overwritten below.
        for inc in incs:
            if inc.telt_mee:
                inc.doelwit = rng.choices(list(DOELWIT_W), list(DOELWIT_W.values()))[0]
                inc.uitkomst = rng.choices(list(UITKOMST_W), list(UITKOMST_W.values()))[0]
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
            rest = rng.choices(list(EXPLOSIEF_REST_W), list(EXPLOSIEF_REST_W.values()), k=len(counted) - n_zw)
            kinds = ["zwaar_vuurwerk"] * n_zw + rest
            rng.shuffle(kinds)
            for inc, kind in zip(counted, kinds, strict=False):
                inc.explosief = kind
        for inc in g("w24") + g("x3") + g("jw25"):
            inc.explosief = rng.choices(["zwaar_vuurwerk", "onbekend"], [80, 20])[0]
        # 2024 by target, exact.
        s24 = g("k24") + g("fup24") + g("a24")
        targets = [k for k, n in INTENDED_DOELWIT_2024.items() for _ in range(n)]
        rng.shuffle(targets)
        for inc, t in zip(s24, targets, strict=False):
            inc.doelwit = t
        # First half of 2025 by outcome, exact.
        h1 = g("h1a") + g("h1b") + g("h1c")
        outcomes = ["afgegaan"] * INTENDED_H1_2025["afgegaan"] + ["poging"] * INTENDED_H1_2025["poging"]
        rng.shuffle(outcomes)
        for inc, u in zip(h1, outcomes, strict=False):
            inc.uitkomst = u

    def _police_places(self) -> None:
        rng, g = self.rng, self._members
        incs = self.incidents
        s24 = g("k24") + g("fup24") + g("a24")
        # Municipalities. 2024 counted: the top five exact, the rest by population (capped).
        places = [c for c, n in INTENDED_TOP5_2024.items() for _ in range(n)]
        cap = min(INTENDED_TOP5_2024.values()) - 18
        rest_picker = Picker(self.rest_codes, [self.ref.gemeenten[c].inwoners ** 1.1 for c in self.rest_codes])
        seen: Counter[str] = Counter()
        while len(places) < len(s24):
            code = rest_picker.pick(rng)
            if seen[code] < cap:
                seen[code] += 1
                places.append(code)
        rng.shuffle(places)
        for inc, code in zip(s24, places, strict=False):
            self._place(inc, code)  # 2024: no merger after 2023-01-01, every code is valid
        for inc in incs:
            if not inc.gm:
                self._place_random(inc, self.boosted if inc.counted else self.by_population)
        # Historic codes on purpose: Weesp before 24 March 2022, and municipalities merged later.
        weesp = rng.sample(g("c21"), 3) + rng.sample([i for i in g("c22") if i.date < as_date("2022-03-24")], 1)
        for inc in weesp:
            inc.today, inc.gm = AMSTERDAM, WEESP
            inc.pc4 = rng.choice(self.pc4[WEESP])
        for inc, today in zip(
            rng.sample([i for i in g("c21") if i.gm == i.today], 2)
            + rng.sample([i for i in g("c22") if i.gm == i.today], 1),
            ["GM1980", "GM1982", "GM1992"],
            strict=False,
        ):
            self._place(inc, today)

    def _police_revisions(self) -> None:
        rng, g = self.rng, self._members
        # Revisions the April extract brings for records of January.
        k24 = g("k24")
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
        for inc in rng.sample(g("c23"), 5):
            inc.versions[P1].update(gewonden=None)
            inc.versions[P2] = {}
        for inc in g("fup24"):
            inc.versions[P1]["explosief"] = "onbekend"
        for inc in rng.sample(g("h1a"), 20):
            if inc.explosief != "onbekend":
                inc.versions[P2]["explosief"] = "onbekend"
        for inc in rng.sample(g("j25") + g("h1c"), 8):
            if inc.explosief != "onbekend":
                inc.versions[P3]["explosief"] = "onbekend"

    def _police_notes(self) -> None:
        rng, g = self.rng, self._members
        # Remarks (only the April extract carries the extra column).
        for inc in g("w24"):
            inc.notes[P2] = "Ingetrokken – dubbele registratie"
        for inc in g("fdown24"):
            inc.notes[P2] = "Heronderzoek: gaslek, geen opzet"
        for inc in g("fup24"):
            inc.notes[P2] = "Heronderzoek: toch opzet"
        for inc in g("nc24b"):
            inc.notes[P2] = "Ongeval; geen opzet"
        phrases = [
            "Late registratie",
            "Voordeur woning beschadigd; bewoners ongedeerd",
            "Schade aan café",
            "Gevel en ruiten beschadigd",
            "Schade ± € 5.000 (schatting)",
            "Auto uitgebrand",
        ]
        for inc in rng.sample(g("a24"), 40) + rng.sample(g("h1a"), 25):
            inc.notes[P2] = rng.choice(phrases)
        for inc in g("h1a") + g("x3") + g("nc25a"):
            if inc.date.month == 1 and inc.date.day == 1 and P2 not in inc.notes and rng.random() < 0.5:
                inc.notes[P2] = "Jaarwisseling"

    def _police_ids(self) -> None:
        rng = self.rng
        incs = self.incidents
        # Identifiers: registration order, per year, with gaps.
        for year in range(2021, 2026):
            ours = sorted((i for i in incs if i.date.year == year), key=lambda i: (i.first(), i.date))
            serial = rng.randint(100, 900)
            for inc in ours:
                serial += rng.randint(1, 40)
                unit = POLICE_UNIT.get(self.ref.gemeenten[inc.today].politie_eenheid, 0)
                inc.id = f"PL{unit:02d}00-{year}{serial:06d}"
        self.next_serial = dict.fromkeys(range(2021, 2026), 900000)

    def _police_addresses(self) -> None:
        """Address pseudonyms for 2025 (contract v2): an HMAC of a made-up BAG id under the police's key.

        Some homes and businesses are hit again, at the same address. Drawn from its own random stream,
        so the version-1 columns stay as they were.
        """
        rng = Random(f"adres|{self.seed}")
        key = f"politie-sleutel|{self.seed}".encode()
        seen: dict[tuple[str, str], list[int]] = {}
        next_id = 363_010_000_000_000
        for inc in sorted((i for i in self.incidents if i.date.year == 2025), key=lambda i: (i.date, i.id)):
            if inc.doelwit not in ("woning", "bedrijf") or not inc.pc4 or rng.random() < 0.06:
                continue
            earlier = seen.setdefault((inc.gm, inc.pc4), [])
            if earlier and rng.random() < 0.10:
                bag = rng.choice(earlier)  # a repeat attack on the same address
            else:
                next_id += rng.randint(1, 5000)
                bag = next_id
                earlier.append(bag)
            inc.pseudoniem = hmac.new(key, f"{bag:016d}".encode(), hashlib.sha256).hexdigest()

    def _fresh_police_id(self, year: int, today: str) -> str:
        self.next_serial[year] += self.rng.randint(1, 30)
        unit = POLICE_UNIT.get(self.ref.gemeenten[today].politie_eenheid, 0)
        return f"PL{unit:02d}00-{year}{self.next_serial[year]:06d}"

    def _police_rows(self, peil: dt.date) -> list[dict]:
        rows = [i.row(peil) for i in self.incidents if peil in i.versions]
        rows.sort(key=lambda r: (r["incident_datum"], r["incident_id"]))
        return rows

    def _police_files(self) -> dict[str, SampleFile]:
        rng = self.rng
        cols = v1_columns("politie")
        out: dict[str, SampleFile] = {}

        rows = self._police_rows(P1)
        out["P1"] = SampleFile(
            "politie",
            "politie_extract_2025-01-15.csv",
            to_csv_bytes(Style(",", "utf-8-sig", "\r\n", "iso", ("true", "false")), cols, rows),
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
        header.update(
            {
                "incident_id": " Incident_ID ",
                "peildatum": "PEILDATUM",
                "incident_datum": "Incident_Datum",
                "gemeente_code": "Gemeente_Code ",
                "telt_mee": "Telt_Mee",
                "toelichting": "Toelichting",
            }
        )
        out["P2"] = SampleFile(
            "politie",
            "Explosies export april 2025.csv",
            to_csv_bytes(Style(";", "cp1252", "\r\n", "nl", ("ja", "nee")), order, rows, header),
            "loaded",
            f"Changes-only extract at peildatum 2025-04-15 ({len(rows)} rows): 2024 revised from 1,244 to 1,543 "
            "(late registrations, withdrawals ingetrokken=ja, telt_mee flips) plus 2025 so far; Windows-1252 ';' "
            "CRLF, Dutch dates, ja/nee, shuffled columns, headers in other case/with spaces, unknown column "
            "'Toelichting' (warning only).",
        )

        out["E1"] = SampleFile(
            "politie",
            "politie_extract_2025-05-15.csv",
            to_csv_bytes(Style(), cols, []),
            "empty",
            "Header only: an empty delivery is accepted and loads nothing.",
        )

        rows = self._police_rows(P3)
        v2 = (*cols, "adres_pseudoniem")
        out["P3"] = SampleFile(
            "politie",
            "incidenten_2025_tm_juli.csv",
            to_csv_bytes(Style(",", "utf-8", "\n", "iso", ("j", "n")), v2, rows),
            "loaded",
            f"Full 2025 extract at peildatum 2025-07-15 ({len(rows)} rows): first half 678 (610 afgegaan, 68 poging), "
            "three April incidents withdrawn; plain UTF-8 LF, ISO dates, j/n; contract v2 column adres_pseudoniem "
            "(lower-case hex; repeat attacks share one).",
        )

        rows = self._police_rows(P4)
        for r in rows:  # an optional column left empty where false
            if r["ingetrokken"] is False and rng.random() < 0.7:
                r["ingetrokken"] = None
            r["adres_pseudoniem"] = r["adres_pseudoniem"].upper()  # hex compares without regard to case
        out["P4"] = SampleFile(
            "politie",
            "politie_extract_2026-01-15.csv",
            to_csv_bytes(Style(",", "utf-8", "\n", "nl", ("1", "0")), v2, rows),
            "loaded",
            f"Full 2025 extract at peildatum 2026-01-15 ({len(rows)} rows): 2025 counts 1,525 after withdrawals; "
            "UTF-8 LF, Dutch dates, 1/0, ingetrokken mostly empty; adres_pseudoniem in upper-case hex.",
        )

        # A partner error: Weesp's code for a 2024 incident (Weesp is Amsterdam since 2022-03-24).
        peil = as_date("2025-02-03")
        bad = []
        for k, day in enumerate(sorted(spread_dates(rng, as_date("2024-10-01"), as_date("2024-12-31"), 5))):
            today = WEESP if k == 3 else self.boosted.pick(rng)
            owner = AMSTERDAM if today == WEESP else today
            bad.append(
                {
                    "incident_id": self._fresh_police_id(2024, owner),
                    "peildatum": peil,
                    "incident_datum": day,
                    "gemeente_code": today,
                    "postcode4": rng.choice(self.pc4[today]),
                    "doelwit": "woning",
                    "uitkomst": "afgegaan",
                    "explosief": "zwaar_vuurwerk",
                    "telt_mee": True,
                    "gewonden": 0,
                    "doden": 0,
                    "ingetrokken": False,
                }
            )
        self.bad_weesp = bad[3]
        out["B1"] = SampleFile(
            "politie",
            "politie_aanvulling_2025-02-03.csv",
            to_csv_bytes(Style(), cols, bad),
            "quarantined",
            f"Data row 4 uses gemeente_code GM0457 (Weesp) for an incident on {bad[3]['incident_datum'].isoformat()}; "
            "Weesp is part of Amsterdam (GM0363) since 2022-03-24, so the code is invalid on that date.",
        )
        return out
