"""The measures feed (contract v2): what municipalities do against explosive attacks.

The rows come from one small table, `MEASURES`: a few municipalities, several kinds of measure,
some for the whole municipality (empty postcode4) and some for a few postal areas (one row per
area, the same maatregel_id). Two deliveries by the Netwerk Explosies in Gemeenten:

- G1, mid 2025, as a clerk exports it from Dutch Excel: a `sep=;` line, Windows-1252, dates
  written as date-times without leading zeros (`1-3-2024 0:00`), `WAAR`/`ONWAAR`, decimal comma;
- G2, early 2026, an XLSX with typed cells (Excel date-times, booleans): the full list again,
  with measures that ended, costs that grew, one row withdrawn and new measures.

Nothing here draws from the generator's random stream: the table is the truth. `sample.effecten` plants
the effects the analysis has to find in the police incidents of these areas (cameratoezicht halves the
attacks in its areas, wijkaanpak changes nothing, gebiedsverbod is taken in one area only).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from explosion_monitor.sample.common import FEED_COLUMNS, SampleFile, as_date, to_xlsx_bytes

G1_PEIL = dt.datetime(2025, 6, 30, 16, 45)
G2_PEIL = dt.datetime(2026, 1, 5, 9, 12)


@dataclass(frozen=True)
class Measure:
    gemeente: str
    id: str
    soort: str
    fase: str
    postcodes: tuple[str, ...]  # () = the whole municipality
    start: str
    kosten: float | None  # cost so far per area row, as of G1 (or G2 for later measures)
    omschrijving: str
    eind: str | None = None  # known from the first delivery on
    since: int = 1  # the first delivery that lists it: 1 (G1) or 2 (G2)
    eind_in_g2: str | None = None  # ended between G1 and G2
    withdrawn_in_g2: tuple[str, ...] = ()  # area rows G2 withdraws (delivered in error)


MEASURES: tuple[Measure, ...] = (
    # cameratoezicht: the planted effect (sample.effecten): half the attacks in its areas after the start
    Measure(
        "GM0599",
        "RTD-2024-014",
        "cameratoezicht",
        "repressie",
        ("3061", "3062", "3063"),
        "2024-03-01",
        18512.40,
        "Tijdelijke camera's bij woningen na een reeks aanslagen; beelden 28 dagen bewaard.",
    ),
    Measure(
        "GM0796",
        "SHB-24-07",
        "cameratoezicht",
        "repressie",
        ("5211", "5212"),
        "2024-04-01",
        13975.35,
        "Cameratoezicht in de binnenstad na aanslagen op horeca (cafés en snackbars).",
    ),
    Measure(
        "GM0363",
        "AMS-2024-055",
        "cameratoezicht",
        "repressie",
        ("1051", "1052"),
        "2024-06-01",
        15400.00,
        "Camera's in twee woonstraten met herhaalde aanslagen; na een jaar geëvalueerd.",
    ),
    Measure(
        "GM0518",
        "DH-2024-09",
        "cameratoezicht",
        "repressie",
        ("2511", "2512"),
        "2024-09-01",
        21099.95,
        "Vaste camera's op de hoek van twee winkelstraten.",
    ),
    # wijkaanpak: planted without effect (the attacks in its areas stay at their level)
    Measure(
        "GM0518",
        "DH-2024-12",
        "wijkaanpak",
        "preventie",
        ("2525", "2526"),
        "2024-01-15",
        30250.60,
        "Wijkaanpak met bewoners, woningcorporatie en politie; buurtavonden en schouwen.",
        withdrawn_in_g2=("2526",),
    ),
    Measure(
        "GM0034",
        "ALM-2024-11",
        "wijkaanpak",
        "preventie",
        ("1312", "1313"),
        "2024-02-01",
        11800.00,
        "Buurtpreventie met bewoners en jongerenwerk in twee wijken.",
    ),
    Measure(
        "GM0599",
        "RTD-2024-030",
        "wijkaanpak",
        "preventie",
        ("3081", "3082", "3083"),
        "2024-05-01",
        None,
        "Wijkaanpak Charlois: schouwen, bewonersavonden en extra wijkagenten.",
    ),
    # gebiedsverbod: taken in one area only, too recently to tell
    Measure(
        "GM0363",
        "AMS-2025-040",
        "gebiedsverbod",
        "repressie",
        ("1102",),
        "2025-09-15",
        2500.0,
        "Gebiedsverbod voor betrokkenen bij herhaalde aanslagen.",
        since=2,
    ),
    Measure(
        "GM0599",
        "RTD-2024-003",
        "sluitingsbeleid",
        "repressie",
        (),
        "2024-02-01",
        None,
        "Strenger sluitingsbeleid: woning sluiten na een explosie (art. 13b Opiumwet / 174a Gemeentewet).",
    ),
    Measure(
        "GM0599",
        "RTD-2024-021",
        "nazorgteam",
        "nazorg",
        (),
        "2024-05-15",
        41980.75,
        "Nazorgteam bezoekt bewoners en buren binnen 48 uur na een aanslag.",
        eind_in_g2="2025-12-31",
    ),
    Measure(
        "GM0363",
        "AMS-2023-101",
        "veiligheidsrisicogebied",
        "repressie",
        ("1102", "1103", "1104"),
        "2023-11-01",
        9120.50,
        "Preventief fouilleren in Zuidoost; telkens voor drie maanden verlengd.",
        eind="2025-10-31",
    ),
    Measure(
        "GM0363",
        "AMS-2024-007",
        "jongerenaanpak",
        "preventie",
        ("1061", "1062"),
        "2024-03-01",
        64890.25,
        "Jongerenwerk en voorlichting tegen rekrutering voor aanslagen via sociale media.",
    ),
    Measure(
        "GM0034",
        "ALM/2024/5",
        "weerbaarheid_ondernemers",
        "weerbaarheid",
        (),
        "2024-06-01",
        12500.0,
        "Ondernemers krijgen advies over inbraakwerend glas, verlichting en camera's.",
    ),
    Measure(
        "GM0796",
        "SHB-25-02",
        "nazorgteam",
        "nazorg",
        (),
        "2025-10-01",
        7999.99,
        "Nazorgteam met maatschappelijk werk; start na evaluatie.",
        since=2,
    ),
    Measure(
        "GM0344",
        "UTR-2024-31",
        "overig",
        "preventie",
        ("3531",),
        "2024-09-01",
        4012.10,
        "Voorlichting aan verhuurders over signalen van ondermijning.",
        eind="2025-03-31",
    ),
)


def _rows(peil: dt.datetime, delivery: int) -> list[dict]:
    rows = []
    for m in MEASURES:
        if m.since > delivery:
            continue
        eind = m.eind_in_g2 if delivery == 2 and m.eind_in_g2 else m.eind
        ongoing = delivery == 2 and m.since == 1 and (eind is None or as_date(eind) > as_date("2025-06-30"))
        kosten = round(m.kosten * 1.4, 2) if ongoing and m.kosten is not None else m.kosten
        for pc4 in m.postcodes or ("",):
            rows.append(
                {
                    "gemeente_code": m.gemeente,
                    "maatregel_id": m.id,
                    "peildatum": peil,
                    "soort": m.soort,
                    "fase": m.fase,
                    "postcode4": pc4,
                    "start_datum": as_date(m.start),
                    "eind_datum": eind and as_date(eind),
                    "kosten_eur": kosten,
                    "omschrijving": m.omschrijving,
                    "ingetrokken": True if delivery == 2 and pc4 in m.withdrawn_in_g2 else (False if pc4 else None),
                }
            )
    return rows


def _dutch_excel_cell(v: object) -> str:
    """A cell as Dutch Excel writes it to CSV: date-times without leading zeros, WAAR/ONWAAR, decimal comma."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "WAAR" if v else "ONWAAR"
    if isinstance(v, dt.datetime):
        return f"{v.day}-{v.month}-{v.year} {v.hour}:{v.minute:02d}"
    if isinstance(v, dt.date):
        return f"{v.day}-{v.month}-{v.year} 0:00"
    if isinstance(v, float):
        return f"{v:.2f}".replace(".", ",")
    return str(v)


def _dutch_excel_csv(columns: tuple[str, ...], rows: list[dict]) -> bytes:
    buf = io.StringIO()
    buf.write("sep=;\r\n")
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_dutch_excel_cell(row.get(c)) for c in columns])
    return buf.getvalue().encode("cp1252")


def measure_files() -> dict[str, SampleFile]:
    cols = FEED_COLUMNS["gemeenten"]
    g1, g2 = _rows(G1_PEIL, 1), _rows(G2_PEIL, 2)
    return {
        "G1": SampleFile(
            "gemeenten",
            "Maatregelen explosies juni 2025.csv",
            _dutch_excel_csv(cols, g1),
            "loaded",
            f"First measures delivery ({len(g1)} rows, peildatum 30-6-2025) as Dutch Excel saves it: a 'sep=;' line, "
            "Windows-1252, dates as date-times without leading zeros, WAAR/ONWAAR, decimal comma; empty postcode4 is "
            "the whole municipality.",
        ),
        "G2": SampleFile(
            "gemeenten",
            "maatregelen_2026-01.xlsx",
            to_xlsx_bytes(cols, g2, G2_PEIL.date(), "Netwerk Explosies in Gemeenten", "Maatregelen"),
            "loaded",
            f"Full measures list at peildatum 2026-01-05 ({len(g2)} rows), XLSX with typed cells (an Excel date-time "
            "as peildatum, booleans): measures ended, costs grown, one area row withdrawn, two new measures.",
        ),
    }
