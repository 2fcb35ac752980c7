"""Analysis step `hotspots`: persistent and emerging hotspots over the postcode4 grid (Getis-Ord Gi*).

Reads `marts.fct_explosie_incidenten` and `marts.dim_postcode4`; writes `hotspots_postcode4` (row-level security:
the municipality's own login and analist; the municipality is the area's, by the CBS geometry).

Method (README, "Neighbourhoods and aftercare"), after ESRI's emerging hot spot analysis:
1. Counted incidents per postcode4 of the CBS reference and calendar year (a postcode4 missing from the reference
   is unknown and left out), the running year up to the newest police peildatum.
2. Per police unit (the areas of its municipalities, so an area is hot relative to its region) and per year,
   Gi* (esda `G_Local`, star=True, binary weights: every area within `BAND_KM` of the centroid, libpysal
   `DistanceBand`) with its analytical z-score; an area is hot in a year when z > 1.96 (p < 0.05, two-sided)
   and it or a neighbour was hit.
3. Trend: Mann-Kendall (Kendall's tau of the yearly z-scores against the year, scipy).
4. Category: `persistent` when hot in the newest year and in at least 75% of the years; `opkomend` (emerging)
   when hot in the newest year, not persistent, and the trend is upward (tau > 0, p < 0.10) or it was hot in no
   earlier year; `afnemend` when hot in an earlier year, not in the newest, with a downward trend; `sporadisch`
   otherwise when hot in any year. Areas never hot are not listed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import psycopg
from psycopg import sql

BAND_KM = 2.0
Z_HOT = 1.96
FIRST_YEAR = 2021


def run(conn: psycopg.Connection, schema: str) -> None:
    import libpysal
    from esda.getisord import G_Local
    from scipy.stats import kendalltau

    from explosion_monitor.analysis.near_repeat import project

    peildatum = conn.execute("select max(peildatum) from marts.publicatie").fetchone()[0]
    grid = conn.execute(
        "select postcode4, gemeente_code, coalesce(politie_eenheid, ''), lat, lon from marts.dim_postcode4 "
        "order by postcode4"
    ).fetchall()
    index = {g[0]: k for k, g in enumerate(grid)}
    counts_rows = (
        conn.execute(
            "select postcode4, cast(extract(year from incident_datum) as integer), count(*) "
            "from marts.fct_explosie_incidenten where incident_datum <= %s group by 1, 2",
            (peildatum,),
        ).fetchall()
        if peildatum
        else []
    )
    target = sql.Identifier(schema, "hotspots_postcode4")
    conn.execute(
        sql.SQL("""
        create table {} (
            gemeente_code text not null, postcode4 text not null, politie_eenheid text not null,
            categorie text not null, jaren integer not null, jaren_hot integer not null, hot_laatste_jaar boolean not null,
            z_laatste_jaar double precision not null, trend_tau double precision, trend_p double precision,
            aanslagen_totaal integer not null, aanslagen_laatste_jaar integer not null, laatste_jaar integer not null,
            peildatum date not null, primary key (gemeente_code, postcode4))""").format(target)
    )
    conn.execute(
        sql.SQL("comment on table {} is {}").format(
            target,
            sql.Literal(
                "Hotspots over the CBS postcode4 grid: Getis-Ord Gi* per police unit and year (binary weights within 2 km, "
                "star), hot when "
                "z > 1.96; trend by Mann-Kendall; categories persistent, opkomend, afnemend, sporadisch. Row-level "
                "security: the municipality's own login and analist."
            ),
        )
    )
    if not counts_rows:
        return
    years = list(range(max(FIRST_YEAR, min(r[1] for r in counts_rows)), peildatum.year + 1))
    y = np.zeros((len(years), len(grid)))
    for pc, year, n in counts_rows:
        if pc in index and year in years:
            y[years.index(year), index[pc]] = n
    x, yy = project(np.array([g[3] for g in grid]), np.array([g[4] for g in grid]))
    units = sorted({g[2] for g in grid if g[2]})
    rows = []
    for unit in units:  # the unit's postcode4 areas: hot relative to the unit, not to the empty countryside
        members = np.array([i for i, g in enumerate(grid) if g[2] == unit])
        if len(members) < 3 or y[:, members].sum() == 0:
            continue
        rows.extend(
            _unit_rows(
                grid,
                members,
                y[:, members],
                np.column_stack([x[members], yy[members]]),
                years,
                peildatum,
                G_Local,
                libpysal,
                kendalltau,
            )
        )
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("insert into {} values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)").format(target),
            rows,
        )


def _unit_rows(
    grid: list,
    members: np.ndarray,
    y: np.ndarray,
    xy: np.ndarray,
    years: list[int],
    peildatum: object,
    g_local: object,
    libpysal: object,
    kendalltau: object,
) -> list[tuple]:
    """Gi* per year over one unit's areas, the trend and the category of every area hot at least once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands (no neighbour within 2 km) are expected on the grid
        w = libpysal.weights.DistanceBand(xy, threshold=BAND_KM, binary=True, silence_warnings=True)
        z = np.zeros_like(y)
        for k in range(len(years)):
            if y[k].sum() > 0 and np.ptp(y[k]) > 0:
                z[k] = np.nan_to_num(g_local(y[k], w, transform="B", permutations=0, star=True, n_jobs=1).Zs)
    near = np.zeros_like(y, dtype=bool)
    for k in range(len(years)):
        hit = y[k] > 0
        near[k] = hit | np.array(
            [bool(hit[list(w.neighbors[i])].any()) if w.neighbors[i] else False for i in range(len(members))]
        )
    hot = (z > Z_HOT) & near
    rows = []
    for local, i in enumerate(members):
        if not hot[:, local].any():
            continue
        pc, gm, unit = grid[i][0], grid[i][1], grid[i][2]
        n_hot, last = int(hot[:, local].sum()), bool(hot[-1, local])
        tau, p = (None, None)
        if len(years) >= 3 and np.ptp(z[:, local]) > 0:
            res = kendalltau(years, z[:, local])
            tau, p = float(res.statistic), float(res.pvalue)
        if last and n_hot >= math.ceil(0.75 * len(years)):
            category = "persistent"
        elif last and ((tau is not None and tau > 0 and p < 0.10) or n_hot == 1):
            category = "opkomend"
        elif not last and tau is not None and tau < 0 and p < 0.10:
            category = "afnemend"
        else:
            category = "sporadisch"
        rows.append(
            (
                gm,
                pc,
                unit,
                category,
                len(years),
                n_hot,
                last,
                float(z[-1, local]),
                tau,
                p,
                int(y[:, local].sum()),
                int(y[-1, local]),
                years[-1],
                peildatum,
            )
        )
    return rows
