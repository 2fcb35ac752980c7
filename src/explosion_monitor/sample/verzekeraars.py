"""The insurer feed: claims following a share of the police incidents, and their deliveries."""

from __future__ import annotations

import csv
import datetime as dt
from random import Random

from explosion_monitor.sample.common import (
    FEED_COLUMNS,
    Picker,
    SampleFile,
    Style,
    as_date,
    spread_dates,
    to_csv_bytes,
    to_xlsx_bytes,
)
from explosion_monitor.sample.links import LinkMixin
from explosion_monitor.sample.politie import Inc


class InsurerMixin(LinkMixin):
    """Damage claims and the insurer files; part of the sample generator."""

    rng: Random
    pc4: dict[str, list[str]]
    boosted: Picker
    by_population: Picker
    incidents: list[Inc]

    def _claims(self) -> list[dict]:
        rng = self.rng
        peils = [as_date("2025-04-01"), as_date("2025-10-01"), as_date("2026-01-20")]
        insurers = Picker(["VV0104", "VV0221", "VV0317", "VV0452", "VV0588", "VV0731"], [28, 22, 18, 14, 10, 8])
        inferable = self._unambiguous()
        used: set[tuple[str, str]] = set()

        def claim_id(code: str) -> str:
            while True:
                cid = {
                    "VV0104": f"SCH-{rng.getrandbits(40):010X}",
                    "VV0221": f"{rng.randrange(10**9):09d}",
                    "VV0317": f"CLM{rng.getrandbits(32):08x}",
                    "VV0452": f"EXP-{rng.randrange(10**7):07d}",
                    "VV0588": f"S{rng.getrandbits(44):011X}",
                    "VV0731": f"{rng.getrandbits(48):012x}",
                }[code]
                if (code, cid) not in used:
                    used.add((code, cid))
                    return cid

        claims: list[dict] = []

        def add(link: dict, branche: str, oorzaak: str) -> None:
            code = insurers.pick(rng)
            mu, sigma = {
                "opstal": (9.4, 0.9),
                "inboedel": (8.3, 0.8),
                "bedrijf": (10.3, 1.0),
                "motorrijtuig": (9.1, 0.6),
            }[branche]
            amount = min(2_500_000.0, round(rng.lognormvariate(mu, sigma) / 50) * 50.0 + rng.choice([0, 0, 0.5]))
            first_due = link["date"] + dt.timedelta(rng.randint(0, 45))
            first = next((k for k, p in enumerate(peils) if p >= first_due), len(peils) - 1)
            woning = branche in ("opstal", "inboedel")
            claims.append(
                {
                    "verzekeraar_code": code,
                    "claim_id": claim_id(code),
                    "schadedatum": link["date"],
                    "gemeente_code": link["gm"],
                    "postcode4": link["pc4"],
                    "branche": branche,
                    "oorzaak": oorzaak,
                    "politie_incident_id": link["pid"],
                    "schade_geraamd_eur": max(amount, 50.0),
                    "tijdelijke_huisvesting": (
                        rng.choices([True, False, None], [12, 60, 28])[0] if woning else rng.choice([False, None])
                    ),
                    "_first": first,
                }
            )

        for inc in self.incidents:
            if inc.date.year < 2024:
                continue
            if inc.counted:
                p = {"woning": 0.22, "bedrijf": 0.35, "voertuig": 0.30, "geldautomaat": 0.5, "overig": 0.05}[
                    inc.doelwit
                ]
                if rng.random() >= p:
                    continue
                if inc.doelwit == "woning":
                    branches = rng.choices(
                        [["opstal"], ["opstal", "inboedel"], ["opstal", "opstal", "inboedel"], ["inboedel"]],
                        [55, 20, 10, 15],
                    )[0]
                else:
                    branches = [
                        {
                            "bedrijf": "bedrijf",
                            "geldautomaat": "bedrijf",
                            "voertuig": "motorrijtuig",
                            "overig": "opstal",
                        }[inc.doelwit]
                    ]
                for b in branches:
                    add(
                        self._link_fields(inc, self._link_mode(inc, 0.63, 0.15, inferable), peils[-1]),
                        b,
                        "explosie_opzet",
                    )
            elif not inc.telt_mee and inc.doelwit in ("woning", "bedrijf") and rng.random() < 0.4:
                add(
                    self._link_fields(inc, "id", peils[-1]),
                    "opstal" if inc.doelwit == "woning" else "bedrijf",
                    "explosie_overig",
                )
            elif inc.ingetrokken and rng.random() < 0.35:
                add(self._link_fields(inc, "id", peils[-1]), "opstal", "explosie_opzet")
        # Claims without any police incident: gas and other explosions, and unreported ones.
        for k, day in enumerate(spread_dates(rng, as_date("2024-01-01"), as_date("2025-12-31"), 70)):
            gm = self.by_population.pick(rng)
            pc4 = rng.choice(self.pc4[gm]) if rng.random() < 0.7 else ""
            add(
                {"gm": gm, "pc4": pc4, "date": day, "pid": None},
                rng.choice(["opstal", "opstal", "inboedel", "bedrijf"]),
                "explosie_overig" if k < 45 else "explosie_opzet",
            )
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
                rows_by_delivery[k].append(
                    {
                        **c,
                        "peildatum": peils[k],
                        "schade_geraamd_eur": estimate,
                        "status": status,
                        "uitgekeerd_eur": paid,
                    }
                )
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
        v1, v2, v3 = (
            sorted(r, key=lambda r: (r["verzekeraar_code"], r["schadedatum"], r["claim_id"])) for r in self.claim_rows
        )
        out: dict[str, SampleFile] = {}
        out["V1"] = SampleFile(
            "verzekeraars",
            "VvV_explosieschade_peildatum_2025-04-01.xlsx",
            to_xlsx_bytes(cols, v1, self.claim_peils[0], "Verbond van Verzekeraars", "Schadeclaims"),
            "loaded",
            f"First claims delivery, XLSX with typed cells (Excel dates, numbers, booleans), {len(v1)} claims "
            "2024-Q1 2025; ~60% carry politie_incident_id, some only match on municipality, date ±1 and postcode4.",
        )
        out["V2"] = SampleFile(
            "verzekeraars",
            "claims_explosies_2025-10-01.csv",
            to_csv_bytes(Style(";", "cp1252", "\r\n", "nl", ("ja", "nee")), cols, v2),
            "loaded",
            f"New and revised claims at peildatum 2025-10-01 ({len(v2)} rows; open claims now afgehandeld with "
            "uitgekeerd_eur); Windows-1252 ';' CRLF, decimal comma, Dutch dates, ja/nee.",
        )
        out["V3"] = SampleFile(
            "verzekeraars",
            "verzekeraars_explosieschade_2026-01-20.csv",
            to_csv_bytes(Style(",", "utf-8", "\n", "iso", ("true", "false"), csv.QUOTE_ALL), cols, v3),
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
            for cid, day in zip(
                fresh(code, n), sorted(spread_dates(rng, as_date(start), as_date(end), n)), strict=False
            ):
                gm = self.boosted.pick(rng)
                rows.append(
                    {
                        "verzekeraar_code": code,
                        "claim_id": cid,
                        "peildatum": peil,
                        "schadedatum": day,
                        "gemeente_code": gm,
                        "postcode4": rng.choice(self.pc4[gm]),
                        "branche": "opstal",
                        "oorzaak": "explosie_opzet",
                        "politie_incident_id": None,
                        "schade_geraamd_eur": float(rng.randrange(400, 9000, 5)),
                        "uitgekeerd_eur": None,
                        "status": "open",
                        "tijdelijke_huisvesting": False,
                    }
                )
            return rows

        rows = small_claims("VV0317", as_date("2025-05-06"), "2025-03-01", "2025-04-30", 6)
        rows[2]["schade_geraamd_eur"] = 1234.5
        text = to_csv_bytes(Style(";", "cp1252", "\r\n", "nl", ("ja", "nee")), cols, rows).decode("cp1252")
        text = text.replace(";1234,50;", ";1.234,50;", 1)
        out["B5"] = SampleFile(
            "verzekeraars",
            "schadeclaims_mei2025.csv",
            text.encode("cp1252"),
            "quarantined",
            "Data row 3 has schade_geraamd_eur '1.234,50': a thousands separator, which the contract does not allow.",
        )

        rows = small_claims("VV0588", as_date("2025-11-04"), "2025-09-01", "2025-10-31", 8)
        out["B3"] = SampleFile(
            "verzekeraars",
            "VV0588_export_2025-11.csv",
            to_csv_bytes(Style(), [c for c in cols if c != "schadedatum"], rows),
            "quarantined",
            "The required column schadedatum is missing.",
        )
        return out
