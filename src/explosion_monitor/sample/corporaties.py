"""The housing-corporation feed: reports on damaged social housing, closures, and their deliveries."""

from __future__ import annotations

import datetime as dt
from random import Random
from typing import ClassVar

from explosion_monitor.sample.common import (
    FEED_COLUMNS,
    PDF_BYTES,
    Picker,
    Reference,
    SampleFile,
    Style,
    as_date,
    spread_dates,
    to_csv_bytes,
    to_xlsx_bytes,
    v1_columns,
)
from explosion_monitor.sample.links import LinkMixin
from explosion_monitor.sample.politie import Inc


class CorporationMixin(LinkMixin):
    """Housing reports and the corporation files; part of the sample generator."""

    rng: Random
    seed: int
    ref: Reference
    pc4: dict[str, list[str]]
    boosted: Picker
    incidents: list[Inc]

    _CORP_CITY: ClassVar[dict[str, list[str]]] = {
        "GM0599": ["L1801", "L1833"],
        "GM0363": ["L0560", "L0581"],
        "GM0518": ["L2104"],
        "GM0034": ["L0742"],
        "GM0796": ["L1290"],
    }
    _CORP_REGION: ClassVar[dict[str, str]] = {
        "Groningen": "L0655",
        "Fryslân": "L0655",
        "Drenthe": "L0655",
        "Overijssel": "L1417",
        "Gelderland": "L1417",
        "Flevoland": "L1417",
        "Utrecht": "L0930",
        "Noord-Holland": "L0930",
        "Zuid-Holland": "L0930",
        "Zeeland": "L2220",
        "Noord-Brabant": "L2220",
        "Limburg": "L2220",
    }

    def _corp_for(self, gm: str) -> str:
        if gm in self._CORP_CITY:
            return self.rng.choice(self._CORP_CITY[gm])
        return self._CORP_REGION.get(self.ref.gemeenten[gm].provincie, "L0930")

    def _reports(self) -> None:
        rng = self.rng
        peils = [as_date("2025-03-03"), as_date("2025-09-01"), as_date("2026-01-12")]
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
            reports.append(
                {
                    "corporatie_code": code,
                    "melding_id": melding_id(code),
                    "incident_datum": link["date"],
                    "gemeente_code": link["gm"],
                    "postcode4": link["pc4"],
                    "politie_incident_id": link["pid"],
                    "woningen_beschadigd": damaged,
                    "woningen_onbewoonbaar": unfit,
                    "huishoudens_ontheemd": moved,
                    "herstelkosten_eur": round(damaged * rng.lognormvariate(8.6, 0.7), 2),
                    "nazorg_aangeboden": rng.random() < 0.85,
                    "_sluiting": (sluiting, start, end),
                    "_first": first,
                }
            )

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

    def _with_return_date(self, rows: list[dict]) -> list[dict]:
        """`rows` with terugkeer_datum (contract v2): the day the last displaced household was housed again.

        Empty while any is still displaced; drawn per report from its own stream, so it is the same in
        every delivery and the version-1 columns stay as they were.
        """
        out = []
        for r in rows:
            back = None
            if r.get("huishoudens_ontheemd"):
                rr = Random(f"terugkeer|{self.seed}|{r['corporatie_code']}|{r['melding_id']}")
                day = r["incident_datum"] + dt.timedelta(int(rr.lognormvariate(4.3, 0.8)))
                back = day if day <= r["peildatum"] else None
            out.append({**r, "terugkeer_datum": back})
        return out

    def _corporation_files(self) -> dict[str, SampleFile]:
        rng = self.rng
        self._reports()
        cols = v1_columns("corporaties")
        c1, c2, c3 = (
            sorted(r, key=lambda r: (r["corporatie_code"], r["incident_datum"], r["melding_id"]))
            for r in self.report_rows
        )
        v2 = FEED_COLUMNS["corporaties"]
        c2, c3 = self._with_return_date(c2), self._with_return_date(c3)
        out: dict[str, SampleFile] = {}
        out["C1"] = SampleFile(
            "corporaties",
            "aedes_explosiemeldingen_2025-03.csv",
            to_csv_bytes(Style(";", "utf-8-sig", "\r\n", "iso", ("ja", "nee")), cols, c1),
            "loaded",
            f"First housing delivery at peildatum 2025-03-03 ({len(c1)} reports): UTF-8 with BOM, ';', decimal "
            "comma, ja/nee; repair costs still empty for recent reports.",
        )
        out["C2"] = SampleFile(
            "corporaties",
            "corporaties_meldingen_2025-09-01.xlsx",
            to_xlsx_bytes(v2, c2, self.report_peils[1], "Aedes", "Meldingen"),
            "loaded",
            f"XLSX with typed cells at peildatum 2025-09-01 ({len(c2)} rows): new reports and revisions "
            "(repair costs, closures under art. 174a Gemeentewet / 13b Opiumwet, closure ends in the future); "
            "contract v2 column terugkeer_datum.",
        )
        out["C3"] = SampleFile(
            "corporaties",
            "meldingen_2026-01-12.csv",
            to_csv_bytes(Style(",", "utf-8", "\n", "nl", ("j", "n")), v2, c3),
            "loaded",
            f"New and revised reports at peildatum 2026-01-12 ({len(c3)} rows): UTF-8 LF, Dutch dates, j/n, "
            "decimal point; some closures extended; terugkeer_datum where every household is back.",
        )

        peil = as_date("2025-08-11")
        rows = []
        for k, day in enumerate(sorted(spread_dates(rng, as_date("2025-06-01"), as_date("2025-07-31"), 6))):
            gm = self.boosted.pick(rng)
            while True:
                mid = f"M{rng.randrange(10**8):08d}"
                if ("L0930", mid) not in self.report_ids:
                    self.report_ids.add(("L0930", mid))
                    break
            damaged = rng.randint(1, 3)
            rows.append(
                {
                    "corporatie_code": "L0930",
                    "melding_id": mid,
                    "peildatum": peil,
                    "incident_datum": day,
                    "gemeente_code": gm,
                    "postcode4": rng.choice(self.pc4[gm]),
                    "politie_incident_id": None,
                    "woningen_beschadigd": damaged,
                    "woningen_onbewoonbaar": damaged + 1 if k == 2 else 0,
                    "huishoudens_ontheemd": 0,
                    "herstelkosten_eur": float(rng.randrange(1500, 20000, 50)),
                    "nazorg_aangeboden": True,
                    "sluiting": "geen",
                }
            )
        out["B2"] = SampleFile(
            "corporaties",
            "L0930_meldingen_aug2025.csv",
            to_csv_bytes(Style(";", "utf-8", "\r\n", "nl", ("ja", "nee")), cols, rows),
            "quarantined",
            f"Data row 3 has woningen_onbewoonbaar {rows[2]['woningen_onbewoonbaar']} greater than woningen_beschadigd "
            f"{rows[2]['woningen_beschadigd']}.",
        )
        out["B4"] = SampleFile(
            "corporaties",
            "meldingen_Q3_2025.csv",
            PDF_BYTES,
            "quarantined",
            "A PDF document (starts with %PDF-) renamed to .csv: not an accepted format.",
        )
        return out
