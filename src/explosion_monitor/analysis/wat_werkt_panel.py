"""The stacked panel behind `marts.wat_werkt`: per measure a stack of treated areas and clean comparison areas.

A measure is one stack (its areas share one start). Months are integers (year * 12 + month - 1); the window is
the 12 months before the start month and the 12 months from it on (event time -12..11). A stack is used only when
its whole window lies within the police data that is complete (`Data.eerste`..`Data.laatste`).

The comparison pool of a stack (README, "Wat werkt"):
- postcode4 measures: the postcode4 areas of the same police unit that the same soort has not treated by the end
  of the window (never or not yet treated), without the areas within `NEAR_KM` of the centroid of any area the
  soort treats (displaced attacks would bias the comparison), and without areas under an area measure of another
  soort during the window (clean comparisons);
- whole-municipality measures: the municipalities of the same police unit that the soort has not treated (as a
  whole or in any area) by the end of the window.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import psycopg

VENSTER = 12  # months before and after the start
NEAR_KM = 1.0
#: Months before the newest police delivery that still miss late registrations; they are left out.
REGISTRATIE_MARGE = 2


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Maatregel:
    gemeente_code: str
    gemeente_code_geleverd: str
    maatregel_id: str
    soort: str
    fase: str
    start: dt.date
    eind: dt.date | None
    postcodes: tuple[str, ...]  # () = the whole municipality
    kosten: float | None  # None when any row's cost is unknown
    #: per area row (postcode4, or None for the whole municipality): attacks 12 months before and after (dbt)
    tellingen: tuple[tuple[str | None, int, int], ...] = ()

    @property
    def hele_gemeente(self) -> bool:
        return not self.postcodes


@dataclass
class Data:
    """Everything the estimate reads from the published marts."""

    eerste: int  # first month of police data
    laatste: int  # last complete month used
    maatregelen: list[Maatregel]
    area_unit: dict[tuple[str, str], str]  # (gemeente_code, postcode4) -> police unit
    centroid: dict[tuple[str, str], tuple[float, float]]
    gemeente_unit: dict[str, str]
    area_counts: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # per month from `eerste`
    gemeente_counts: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_months(self) -> int:
        return self.laatste - self.eerste + 1


def read(conn: psycopg.Connection) -> Data | None:
    """The data from the published marts; None when there are no measures or no police data."""
    peil = conn.execute("select max(peildatum) from marts.fct_explosie_incidenten").fetchone()[0]
    first = conn.execute("select min(incident_datum) from marts.fct_explosie_incidenten").fetchone()[0]
    if peil is None or first is None:
        return None
    eerste, laatste = month_index(first), month_index(peil) - 1 - REGISTRATIE_MARGE
    rows = conn.execute(
        "select gemeente_code, gemeente_code_geleverd, maatregel_id, soort, fase, start_datum, eind_datum, "
        "postcode4, kosten_eur, aanslagen_12m_voor, aanslagen_12m_na from marts.maatregelen "
        "order by gemeente_code_geleverd, maatregel_id, postcode4"
    ).fetchall()
    grouped: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for r in rows:
        grouped[(r[1], r[2])].append(r)
    measures = []
    for (_geleverd, _id), rs in sorted(grouped.items()):
        r0 = rs[0]
        costs = [r[8] for r in rs]
        measures.append(
            Maatregel(
                r0[0],
                r0[1],
                r0[2],
                r0[3],
                r0[4],
                min(r[5] for r in rs),
                r0[6],
                () if any(r[7] is None for r in rs) else tuple(sorted(r[7] for r in rs)),
                None if any(c is None for c in costs) else float(sum(costs)),
                tuple((r[7], r[9], r[10]) for r in rs),
            )
        )
    data = Data(eerste, laatste, measures, {}, {}, {})
    for pc4, gm, unit, lat, lon in conn.execute(
        "select postcode4, gemeente_code, politie_eenheid, lat, lon from marts.dim_postcode4"
    ):
        data.area_unit[(gm, pc4)] = unit
        data.centroid[(gm, pc4)] = (lat, lon)
    data.gemeente_unit = dict(conn.execute("select gemeente_code, politie_eenheid from marts.dim_gemeenten").fetchall())
    # measure areas whose postcode lies in another municipality by geometry still get a centroid
    by_pc4 = {key[1]: key for key in data.centroid}
    for m in measures:
        for pc4 in m.postcodes:
            key = (m.gemeente_code, pc4)
            if key not in data.centroid and pc4 in by_pc4:
                data.centroid[key] = data.centroid[by_pc4[pc4]]
                data.area_unit[key] = data.gemeente_unit.get(m.gemeente_code, data.area_unit[by_pc4[pc4]])
    n = data.n_months
    for gm, pc4, year, month, count in conn.execute(
        "select gemeente_code, coalesce(postcode4, ''), extract(year from incident_datum)::int, "
        "extract(month from incident_datum)::int, count(*) from marts.fct_explosie_incidenten "
        "group by 1, 2, 3, 4"
    ):
        k = year * 12 + month - 1 - eerste
        if not 0 <= k < n:
            continue
        data.gemeente_counts.setdefault(gm, np.zeros(n))[k] += count
        if pc4 and (gm, pc4) in data.area_unit:
            data.area_counts.setdefault((gm, pc4), np.zeros(n))[k] += count
    return data


def km(a: tuple[float, float], b: np.ndarray) -> np.ndarray:
    """Distances from centroid `a` to the centroids `b` (n x 2, degrees), equirectangular: exact within a city."""
    lat1, lon1 = np.radians(a[0]), np.radians(a[1])
    lat2, lon2 = np.radians(b[:, 0]), np.radians(b[:, 1])
    return 6371.0 * np.hypot((lon2 - lon1) * np.cos((lat1 + lat2) / 2), lat2 - lat1)


@dataclass
class Stack:
    """One measure's window: treated units and comparison units (keys into the count tables)."""

    maatregel: Maatregel
    start: int  # start month index
    niveau: str  # postcode4 | gemeente
    treated: list
    controls: list
    n_voor: int = 0
    n_na: int = 0

    @property
    def months(self) -> range:
        return range(self.start - VENSTER, self.start + VENSTER)


def _other_area_measures(data: Data, soort: str, months: range) -> set[tuple[str, str]]:
    """Areas under an area measure of another soort at some month of the window."""
    out = set()
    for m in data.maatregelen:
        if m.soort == soort or m.hele_gemeente:
            continue
        active_from = month_index(m.start)
        active_to = month_index(m.eind) if m.eind else 10**9
        if active_from <= months[-1] and active_to >= months[0]:
            out.update((m.gemeente_code, pc4) for pc4 in m.postcodes)
    return out


def stacks(data: Data, soort: str) -> list[Stack]:
    """The stacks of every measure of `soort` whose whole window lies within the complete data."""
    measures = [m for m in data.maatregelen if m.soort == soort]
    treated_areas: dict[tuple[str, str], int] = {}
    treated_gm: dict[str, int] = {}
    for m in measures:
        s = month_index(m.start)
        treated_gm[m.gemeente_code] = min(treated_gm.get(m.gemeente_code, 10**9), s)
        for pc4 in m.postcodes:
            treated_areas[(m.gemeente_code, pc4)] = min(treated_areas.get((m.gemeente_code, pc4), 10**9), s)
    whole_gm = {m.gemeente_code: month_index(m.start) for m in measures if m.hele_gemeente}
    keys = list(data.area_unit)
    coords = np.array([data.centroid[k] for k in keys])
    near: set[tuple[str, str]] = set()
    for key in treated_areas:
        if key in data.centroid:
            d = km(data.centroid[key], coords)
            near.update(keys[i] for i in np.flatnonzero(d <= NEAR_KM))
    out = []
    for m in measures:
        start = month_index(m.start)
        if start - VENSTER < data.eerste or start + VENSTER - 1 > data.laatste:
            continue  # not enough history or follow-up
        end = start + VENSTER - 1
        unit = data.gemeente_unit.get(m.gemeente_code)
        if m.hele_gemeente:
            treated = [m.gemeente_code]
            controls = [
                g
                for g, u in data.gemeente_unit.items()
                if u == unit and treated_gm.get(g, 10**9) > end and g in data.gemeente_counts
            ]
            voor = sum(v for pc4, v, _n in m.tellingen if pc4 is None)
            na = sum(n for pc4, _v, n in m.tellingen if pc4 is None)
            out.append(Stack(m, start, "gemeente", treated, controls, voor, na))
            continue
        treated = [(m.gemeente_code, pc4) for pc4 in m.postcodes if (m.gemeente_code, pc4) in data.area_unit]
        if not treated:
            continue
        used = {pc4 for _gm, pc4 in treated}
        voor = sum(v for pc4, v, _n in m.tellingen if pc4 in used)
        na = sum(n for pc4, _v, n in m.tellingen if pc4 in used)
        busy = _other_area_measures(data, soort, range(start - VENSTER, end + 1))
        controls = [
            k
            for k, u in data.area_unit.items()
            if u == unit
            and k not in near
            and treated_areas.get(k, 10**9) > end
            and whole_gm.get(k[0], 10**9) > end
            and k not in busy
            and k in data.area_counts
        ]
        out.append(Stack(m, start, "postcode4", treated, controls, voor, na))
    return out


def series(data: Data, stack: Stack, key) -> np.ndarray:
    """The monthly counts of one unit over the stack's window."""
    table = data.gemeente_counts if stack.niveau == "gemeente" else data.area_counts
    counts = table.get(key)
    lo = stack.start - VENSTER - data.eerste
    return np.zeros(2 * VENSTER) if counts is None else counts[lo : lo + 2 * VENSTER]
