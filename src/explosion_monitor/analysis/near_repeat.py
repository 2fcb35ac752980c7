"""Analysis step `near_repeat`: is the risk raised near an attack for some weeks, and where is it raised now?

Reads the published `marts.fct_explosie_incidenten` (counted incidents), `marts.dim_postcode4` (CBS centroids)
and `marts.dim_gemeenten` (police units); writes `near_repeat` and `verhoogd_risico`.

Method (README, "Neighbourhoods and aftercare"):
1. Per police unit, every counted incident whose postcode4 is in the CBS reference, placed at its postcode4's
   centroid (a postcode4 missing from the reference is unknown and left out, never an error).
2. Knox test, as in Ratcliffe's Near Repeat Calculator: for every pair of incidents, its distance band (same
   postcode4; another postcode4 within 1 km; 1-2 km) and time band (0-7, 8-14, 15-30, 31-60 days). The observed
   number of pairs per cell is compared with its distribution when the dates are permuted over the incidents
   (Monte Carlo, `PERMUTATIONS` = 4,999 permutations, seeded by unit and peildatum; with 999 the smallest
   possible p, 0.001, could never pass the correction over ~120 cells): Knox ratio = observed / mean of the
   permutations, p = (1 + permutations with at least as many pairs) / (1 + permutations). Only pairs within
   2 km are enumerated (a sparse pair list), so a permutation costs one gather per pair.
3. Multiple testing: the p-values of all cells of all units are corrected together with Benjamini-Hochberg
   (statsmodels `multipletests`, FDR 5%). A cell shows a near-repeat pattern when its corrected p < 0.05 and its
   Knox ratio > 1.
4. `verhoogd_risico`: in a unit with a pattern, the risk window is the widest significant time band and the risk
   radius the widest significant distance band. As of the newest police peildatum (never the clock), every
   postcode4 whose centroid lies within the radius of an attack of the last `window` days (the same postcode4 when
   only that band is significant) is listed, with the window's end date (attack date + window).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

PERMUTATIONS = 4999  # the smallest p (1/5000) must pass Benjamini-Hochberg over ~120 cells (0.05/120)
ALPHA = 0.05
#: (name, lower km, upper km); band 0 is "same postcode4" (distance 0 by definition).
DISTANCE_BANDS = (("zelfde_postcode4", 0.0, 0.0), ("tot_1km", 0.0, 1.0), ("1_tot_2km", 1.0, 2.0))
TIME_BANDS = ((0, 7), (8, 14), (15, 30), (31, 60))
MAX_KM = DISTANCE_BANDS[-1][2]
MAX_DAYS = TIME_BANDS[-1][1]
_CHUNK = 64  # permutations per vectorised block


@dataclass
class Events:
    unit: str
    postcode4: np.ndarray  # str
    x: np.ndarray  # km east
    y: np.ndarray  # km north
    day: np.ndarray  # days since 1970-01-01
    date: list[dt.date]
    gemeente: list[str]


def project(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equirectangular km around 52.1 N: within a police unit the error is well under 1%."""
    return (lon - 5.3) * 111.32 * math.cos(math.radians(52.1)), (lat - 52.1) * 110.57


def close_pairs(ev: Events) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j within MAX_KM, with their distance band index (0: same postcode4)."""
    n = len(ev.day)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    ii, jj, bb = [], [], []
    for start in range(0, n, 512):  # row blocks keep memory at 512 x n
        rows = np.arange(start, min(start + 512, n))
        dx = ev.x[rows, None] - ev.x[None, :]
        dy = ev.y[rows, None] - ev.y[None, :]
        d = np.hypot(dx, dy)
        same = ev.postcode4[rows, None] == ev.postcode4[None, :]
        upper = np.arange(n)[None, :] > rows[:, None]
        band = np.full(d.shape, -1, dtype=np.int8)
        band[(d <= MAX_KM) & ~same] = 2
        band[(d <= DISTANCE_BANDS[1][2]) & ~same] = 1
        band[same] = 0
        r, c = np.nonzero((band >= 0) & upper)
        ii.append(rows[r])
        jj.append(c)
        bb.append(band[r, c])
    return np.concatenate(ii), np.concatenate(jj), np.concatenate(bb).astype(np.int64)


def _time_band(gap: np.ndarray) -> np.ndarray:
    """Time band index per gap in days, -1 beyond MAX_DAYS."""
    out = np.full(gap.shape, -1, dtype=np.int64)
    for k, (lo, hi) in enumerate(TIME_BANDS):
        out[(gap >= lo) & (gap <= hi)] = k
    return out


def _cell_counts(band: np.ndarray, tband: np.ndarray) -> np.ndarray:
    """Pair counts per (distance band, time band); tband may have a leading permutation axis."""
    nd, nt = len(DISTANCE_BANDS), len(TIME_BANDS)
    cell = np.where(tband >= 0, band * nt + tband, nd * nt)
    if cell.ndim == 1:
        return np.bincount(cell, minlength=nd * nt + 1)[: nd * nt].reshape(nd, nt)
    offs = (np.arange(cell.shape[0]) * (nd * nt + 1))[:, None]
    counts = np.bincount((cell + offs).ravel(), minlength=cell.shape[0] * (nd * nt + 1))
    return counts.reshape(cell.shape[0], nd * nt + 1)[:, : nd * nt].reshape(cell.shape[0], nd, nt)


def knox(ev: Events, seed: int, permutations: int = PERMUTATIONS) -> dict[str, np.ndarray]:
    """Observed and permuted pair counts per cell, the Knox ratio and the Monte Carlo p-value."""
    i, j, band = close_pairs(ev)
    observed = _cell_counts(band, _time_band(np.abs(ev.day[i] - ev.day[j])))
    rng = np.random.default_rng(seed)
    total = np.zeros_like(observed, dtype=np.float64)
    at_least = np.zeros_like(observed, dtype=np.int64)
    done = 0
    while done < permutations:
        k = min(_CHUNK, permutations - done)
        perms = np.argsort(rng.random((k, len(ev.day))), axis=1)  # k independent permutations of the dates
        days = ev.day[perms]
        counts = _cell_counts(np.broadcast_to(band, (k, len(band))), _time_band(np.abs(days[:, i] - days[:, j])))
        total += counts.sum(axis=0)
        at_least += (counts >= observed[None]).sum(axis=0)
        done += k
    expected = total / permutations
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)
    p = (1 + at_least) / (1 + permutations)
    return {"observed": observed, "expected": expected, "ratio": ratio, "p": p}


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def load_events(conn: psycopg.Connection) -> list[Events]:
    rows = conn.execute(
        """
        select g.politie_eenheid, f.postcode4, p.lat, p.lon, f.incident_datum, f.gemeente_code
        from marts.fct_explosie_incidenten as f
        join marts.dim_gemeenten as g on g.gemeente_code = f.gemeente_code
        join marts.dim_postcode4 as p on p.postcode4 = f.postcode4
        order by g.politie_eenheid, f.incident_datum, f.incident_id
        """
    ).fetchall()
    units: dict[str, list[tuple]] = {}
    for r in rows:
        units.setdefault(r[0], []).append(r)
    out = []
    epoch = dt.date(1970, 1, 1)
    for unit, rs in sorted(units.items()):
        lat = np.array([r[2] for r in rs], dtype=float)
        lon = np.array([r[3] for r in rs], dtype=float)
        x, y = project(lat, lon)
        out.append(
            Events(
                unit,
                np.array([r[1] for r in rs]),
                x,
                y,
                np.array([(r[4] - epoch).days for r in rs], dtype=np.int64),
                [r[4] for r in rs],
                [r[5] for r in rs],
            )
        )
    return out


def run(conn: psycopg.Connection, schema: str) -> None:
    from statsmodels.stats.multitest import multipletests

    peildatum = conn.execute("select max(peildatum) from marts.publicatie").fetchone()[0]
    events = load_events(conn)
    rows = []
    for ev in events:
        if len(ev.day) < 2:
            continue
        res = knox(ev, _seed("knox", ev.unit, peildatum))
        for d, (dname, dlo, dhi) in enumerate(DISTANCE_BANDS):
            for t, (tlo, thi) in enumerate(TIME_BANDS):
                ratio = res["ratio"][d, t]
                rows.append(
                    [
                        ev.unit,
                        d,
                        dname,
                        dlo,
                        dhi,
                        t,
                        tlo,
                        thi,
                        len(ev.day),
                        int(res["observed"][d, t]),
                        float(res["expected"][d, t]),
                        None if np.isnan(ratio) else float(ratio),
                        float(res["p"][d, t]),
                    ]
                )
    if rows:
        adjusted = multipletests([r[-1] for r in rows], alpha=ALPHA, method="fdr_bh")[1]
    else:
        adjusted = []
    target = sql.Identifier(schema, "near_repeat")
    conn.execute(
        sql.SQL("""
        create table {} (
            politie_eenheid text not null, afstandsband_nr integer not null, afstandsband text not null,
            afstand_km_van double precision not null, afstand_km_tot double precision not null,
            tijdband_nr integer not null, dagen_van integer not null, dagen_tot integer not null,
            aanslagen integer not null, paren_waargenomen integer not null, paren_verwacht double precision not null,
            knox_ratio double precision, p_waarde double precision not null, p_bh double precision not null,
            is_significant boolean not null, permutaties integer not null, peildatum date,
            primary key (politie_eenheid, afstandsband_nr, tijdband_nr))""").format(target)
    )
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "insert into {} values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(target),
            [
                (*r, float(q), bool(q < ALPHA and r[11] is not None and r[11] > 1), PERMUTATIONS, peildatum)
                for r, q in zip(rows, adjusted, strict=False)
            ],
        )
    conn.execute(
        sql.SQL("comment on table {} is {}").format(
            target,
            sql.Literal(
                "Knox test per police unit over postcode4 centroids: pairs of counted incidents per distance band x time "
                "band, observed against 4,999 permutations of the dates; p-values Benjamini-Hochberg corrected over all cells "
                "(is_significant: p_bh < 0.05 and knox_ratio > 1). Method: README, Neighbourhoods and aftercare."
            ),
        )
    )
    _risk(conn, schema, events, peildatum)


def _risk(conn: psycopg.Connection, schema: str, events: list[Events], peildatum: dt.date | None) -> None:
    target = sql.Identifier(schema, "verhoogd_risico")
    conn.execute(
        sql.SQL("""
        create table {} (
            gemeente_code text not null, postcode4 text not null, politie_eenheid text not null,
            venster_dagen integer not null, straal_km double precision not null, laatste_aanslag date not null,
            aanslagen_in_venster integer not null, venster_eind date not null, peildatum date not null,
            primary key (gemeente_code, postcode4))""").format(target)
    )
    conn.execute(
        sql.SQL("comment on table {} is {}").format(
            target,
            sql.Literal(
                "Postcode4 areas inside a near-repeat risk window as of the newest police peildatum, in units whose Knox "
                "test shows a pattern: within the widest significant distance band of an attack of the last venster_dagen "
                "days (the widest significant time band); venster_eind = that attack's date + venster_dagen. Row-level "
                "security: the municipality's own login and analist."
            ),
        )
    )
    if peildatum is None:
        return
    significant = conn.execute(
        sql.SQL(
            "select politie_eenheid, max(dagen_tot), max(afstandsband_nr) from {} where is_significant "
            "group by politie_eenheid"
        ).format(sql.Identifier(schema, "near_repeat"))
    ).fetchall()
    if not significant:
        return
    grid = conn.execute("select postcode4, gemeente_code, lat, lon from marts.dim_postcode4").fetchall()
    gx, gy = project(np.array([g[2] for g in grid]), np.array([g[3] for g in grid]))
    codes = np.array([g[0] for g in grid])
    by_unit = {ev.unit: ev for ev in events}
    found: dict[tuple[str, str], list] = {}
    for unit, window, band in significant:
        ev = by_unit[unit]
        radius = DISTANCE_BANDS[band][2]
        for k, when in enumerate(ev.date):
            if not (when <= peildatum <= when + dt.timedelta(window)):
                continue
            if band == 0:
                near = np.nonzero(codes == ev.postcode4[k])[0]
            else:
                near = np.nonzero(np.hypot(gx - ev.x[k], gy - ev.y[k]) <= radius)[0]
            for idx in near:
                key = (grid[idx][1], grid[idx][0])
                end = when + dt.timedelta(window)
                prev = found.get(key)
                if prev is None:
                    found[key] = [unit, window, radius, when, 1, end]
                else:
                    prev[3], prev[4], prev[5] = max(prev[3], when), prev[4] + 1, max(prev[5], end)
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("insert into {} values (%s, %s, %s, %s, %s, %s, %s, %s, %s)").format(target),
            [(g, pc, *v, peildatum) for (g, pc), v in sorted(found.items())],
        )
