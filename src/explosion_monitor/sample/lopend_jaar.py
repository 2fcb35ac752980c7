"""The running year in the sample: three police deliveries that cover part of 2026.

`running_year_deliveries(gen)` adds, after the 2021-2025 deliveries of `explosion_monitor.sample`, full 2026
extracts at peildatum 2026-04-15, 2026-07-15 and 2026-10-15. They plant what the forecast in
`marts.doel_prognose` has to find, and they do not depend on the seed (the seed only moves days, places and
identifiers):

- the year's final count is `PLANTED_FINAL_2026` (1,600), spread over the months as `PLANTED_MONTHS_2026`
  (high in January and December, the New Year peak), well above the assumed 2026 target floor(0.9 x 1,525) =
  1,372;
- the police register late: a month is `COMPLETENESS[lag]` complete in a delivery `lag` whole months after
  it ended (85% in the first, 99% after six months), and the running month is half over and 70% known. Each
  later delivery therefore revises earlier months upward; some attacks are never in any delivery yet, so the
  newest count (`INTENDED_COUNT_2026`) is below the planted final;
- the police unit `PLANTED_HALVED_UNIT` (Den Haag) has half its 2025 rate in 2026: on course for its assumed
  target while the country is not.

2021-2025 are untouched: their final counts and `INTENDED_AS_OF` for the earlier deliveries stay valid.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from random import Random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the generator lives in explosion_monitor.sample, which calls this module
    from explosion_monitor.sample.common import SampleFile

#: Peildata of the 2026 police deliveries, in delivery order.
PEILDATA_2026: tuple[dt.date, ...] = (dt.date(2026, 4, 15), dt.date(2026, 7, 15), dt.date(2026, 10, 15))
#: The planted truth: counted attacks per month of 2026 once every registration is in.
PLANTED_MONTHS_2026: dict[int, int] = {
    1: 260,
    2: 115,
    3: 105,
    4: 100,
    5: 100,
    6: 100,
    7: 105,
    8: 105,
    9: 110,
    10: 115,
    11: 135,
    12: 250,
}
PLANTED_FINAL_2026 = sum(PLANTED_MONTHS_2026.values())  # 1,600
#: Share of a month's attacks registered in a delivery `lag` whole months after the month ended.
COMPLETENESS: dict[int, float] = {0: 0.85, 1: 0.92, 2: 0.96, 3: 0.98, 4: 0.98, 5: 0.98}
COMPLETENESS_LATER = 0.99
#: The month a delivery falls in: half of it has passed (the 15th) and 70% of that half is registered.
COMPLETENESS_RUNNING_MONTH = 0.70
#: The police unit whose 2026 rate is half its 2025 rate (by name, as in gemeenten_2025.csv).
PLANTED_HALVED_UNIT = "Den Haag"
#: Non-counted incidents (gas leaks, accidents) per delivery, first registered there.
NOT_COUNTED_PER_DELIVERY = 6


def _lag(year: int, month: int, peil: dt.date) -> int:
    """Whole months between the end of (year, month) and `peil` (peil mid-month): -1 for peil's own month."""
    return (peil.year - year) * 12 + peil.month - month - 1


def known(month: int, peil: dt.date) -> int:
    """How many of the month's planted 2026 attacks the delivery at `peil` holds (exact, seed-free)."""
    lag = _lag(2026, month, peil)
    if lag < -1:
        return 0
    if lag == -1:
        return round(PLANTED_MONTHS_2026[month] * 0.5 * COMPLETENESS_RUNNING_MONTH)
    return round(PLANTED_MONTHS_2026[month] * COMPLETENESS.get(lag, COMPLETENESS_LATER))


#: Counted 2026 attacks as known at each 2026 delivery.
INTENDED_2026_AS_OF: dict[str, int] = {
    p.isoformat(): sum(known(m, p) for m in PLANTED_MONTHS_2026) for p in PEILDATA_2026
}
#: 2026 as known in the newest delivery.
INTENDED_COUNT_2026 = INTENDED_2026_AS_OF[PEILDATA_2026[-1].isoformat()]


def _month_days(month: int, first: int, last: int | None = None) -> list[dt.date]:
    start = dt.date(2026, month, 1)
    end = (dt.date(2026, month + 1, 1) if month < 12 else dt.date(2027, 1, 1)) - dt.timedelta(days=1)
    return [
        d
        for d in (start + dt.timedelta(n) for n in range((end - start).days + 1))
        if d.day >= first and (last is None or d.day <= last)
    ]


def running_year_deliveries(gen: Any) -> list[SampleFile]:
    """The three 2026 police deliveries, from the generator that made 2021-2025 (its reference data and pools)."""
    from explosion_monitor.sample import common, politie

    class s:
        FEED_COLUMNS, SampleFile, POLICE_UNIT, Picker, Style, to_csv_bytes = (
            common.FEED_COLUMNS,
            common.SampleFile,
            common.POLICE_UNIT,
            common.Picker,
            common.Style,
            common.to_csv_bytes,
        )
        DOELWIT_W, EXPLOSIEF_REST_W, UITKOMST_W = politie.DOELWIT_W, politie.EXPLOSIEF_REST_W, politie.UITKOMST_W

    rng = Random(f"2026|{gen.rng.random()}")
    ref = gen.ref
    units: dict[str, list[str]] = {}
    for code, g in sorted(ref.gemeenten.items()):
        units.setdefault(g.politie_eenheid, []).append(code)
    per_unit_2025 = Counter(
        ref.gemeenten[i.today].politie_eenheid for i in gen.incidents if i.counted and i.date.year == 2025
    )
    unit_names = sorted(units)
    unit_weights = [per_unit_2025[u] * (0.5 if u == PLANTED_HALVED_UNIT else 1.0) + 1 for u in unit_names]
    pickers = {u: s.Picker(units[u], [ref.gemeenten[c].inwoners ** 1.1 for c in units[u]]) for u in unit_names}

    def place() -> tuple[str, str]:
        unit = rng.choices(unit_names, unit_weights)[0]
        code = pickers[unit].pick(rng)
        pool = gen.pc4[code]
        return code, ("" if rng.random() < 0.04 else rng.choice(pool))

    # Each attack: its day and the delivery it is first registered in (None: not yet by the newest).
    incidents: list[dict] = []
    for month, final in PLANTED_MONTHS_2026.items():
        first_known = [0] + [known(month, p) for p in PEILDATA_2026]
        running = next((p for p in PEILDATA_2026 if p.month == month), None)
        if running is not None:  # the first half (up to the 15th) holds exactly what can be known then
            half = round(final * 0.5)
            days = [
                *rng.choices(_month_days(month, 1, running.day), k=half),
                *rng.choices(_month_days(month, running.day + 1), k=final - half),
            ]
        else:
            days = rng.choices(_month_days(month, 1), k=final)
        days.sort()
        order = list(range(final))
        if running is not None:  # the ones known at the running delivery come from its first half
            first_half, rest = order[:half], order[half:]
            rng.shuffle(first_half)
            rng.shuffle(rest)
            order = first_half + rest
        else:
            rng.shuffle(order)
        arrival: list[int | None] = [None] * final
        for k in range(len(PEILDATA_2026)):
            for idx in order[first_known[k] : first_known[k + 1]]:
                arrival[idx] = k
        for idx, day in enumerate(days):
            incidents.append({"day": day, "first": arrival[idx], "counted": True})
    for k, peil in enumerate(PEILDATA_2026):
        start = PEILDATA_2026[k - 1] if k else dt.date(2026, 1, 1)
        span = (peil - start).days
        for _ in range(NOT_COUNTED_PER_DELIVERY):
            incidents.append({"day": start + dt.timedelta(rng.randrange(span)), "first": k, "counted": False})

    serial = 100 + rng.randrange(500)
    incidents.sort(key=lambda i: (i["first"] if i["first"] is not None else 99, i["day"]))
    for inc in incidents:
        code, pc4 = place()
        serial += rng.randint(1, 9)
        unit = s.POLICE_UNIT.get(ref.gemeenten[code].politie_eenheid, 0)
        counted = inc["counted"]
        inc.update(
            {
                "incident_id": f"PL{unit:02d}00-2026{serial:06d}",
                "incident_datum": inc["day"],
                "gemeente_code": code,
                "postcode4": pc4,
                "doelwit": rng.choices(list(s.DOELWIT_W), list(s.DOELWIT_W.values()))[0]
                if counted
                else rng.choice(["woning", "bedrijf", "overig"]),
                "uitkomst": rng.choices(list(s.UITKOMST_W), list(s.UITKOMST_W.values()))[0] if counted else "afgegaan",
                "explosief": ("zwaar_vuurwerk" if rng.random() < 0.8 else rng.choice(list(s.EXPLOSIEF_REST_W)))
                if counted
                else rng.choice(["overig", "onbekend"]),
                "telt_mee": counted,
                "gewonden": rng.choices([0, 1, 2], [94, 5, 1])[0],
                "doden": 0,
                "ingetrokken": False,
            }
        )

    cols = common.v1_columns("politie")  # version-1 extracts (no adres_pseudoniem)
    out = []
    for k, peil in enumerate(PEILDATA_2026):
        rows = [
            {c: i[c] for c in cols if c != "peildatum"} | {"peildatum": peil}
            for i in incidents
            if i["first"] is not None and i["first"] <= k
        ]
        rows.sort(key=lambda r: (r["incident_datum"], r["incident_id"]))
        n = INTENDED_2026_AS_OF[peil.isoformat()]
        out.append(
            s.SampleFile(
                "politie",
                f"politie_extract_{peil.isoformat()}.csv",
                s.to_csv_bytes(s.Style(",", "utf-8", "\n", "iso", ("true", "false")), cols, rows),
                "loaded",
                f"Full 2026 extract at peildatum {peil.isoformat()} ({len(rows)} rows; 2026 counts {n:,} so far): "
                "late registrations revise the earlier months of 2026 upward.",
            )
        )
    return out
