"""Analysis step `nazorg_duur`: how long displaced households wait, counting those still waiting (Kaplan-Meier).

Reads the published `marts.nazorg_meldingen` (one row per housing report with displaced households: days
displaced, or days so far when no `terugkeer_datum` yet, censored at the newest delivery's peildatum) and writes
`nazorg_duur` per municipality of today and incident year, with national rows ('NL').

The plain median in `marts.nazorg_per_gemeente` (dbt) uses only finished cases and so understates the wait. Here
the still-displaced reports are right-censored observations: statsmodels `SurvfuncRight` gives the Kaplan-Meier
survival curve, its median (the first day the share still displaced is at most one half; null when that share
never falls to one half: "niet bereikt") and the median's 95% confidence interval (Brookmeyer-Crowley, as
statsmodels computes it; an unbounded upper end is null).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import psycopg
from psycopg import sql


def km_median(days: list[int], returned: list[bool]) -> tuple[float | None, float | None, float | None]:
    """Kaplan-Meier median and its 95% interval; None where not reached or unbounded."""
    from statsmodels.duration.survfunc import SurvfuncRight

    if not days:
        return None, None, None
    time = np.maximum(np.array(days, dtype=float), 0.0)
    status = np.array(returned, dtype=float)
    if status.sum() == 0:
        return None, None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sf = SurvfuncRight(time, status)
        median = float(sf.quantile(0.5))
        try:
            low, high = (float(v) for v in sf.quantile_ci(0.5))
        except (ValueError, FloatingPointError, ZeroDivisionError):
            low, high = math.nan, math.nan

    def clean(v: float) -> float | None:
        return None if v is None or not math.isfinite(v) else v

    return clean(median), clean(low), clean(high)


def run(conn: psycopg.Connection, schema: str) -> None:
    rows = conn.execute(
        "select gemeente_code, jaar, dagen_ontheemd, is_teruggekeerd, huishoudens_ontheemd, censuur_peildatum "
        "from marts.nazorg_meldingen order by gemeente_code, jaar"
    ).fetchall()
    groups: dict[tuple[str, int], list[tuple]] = {}
    for r in rows:
        groups.setdefault((r[0], r[1]), []).append(r)
        groups.setdefault(("NL", r[1]), []).append(r)
    target = sql.Identifier(schema, "nazorg_duur")
    conn.execute(
        sql.SQL("""
        create table {} (
            gemeente_code text not null, jaar integer not null, meldingen_ontheemd integer not null,
            meldingen_teruggekeerd integer not null, meldingen_nog_ontheemd integer not null,
            huishoudens_nog_ontheemd integer not null, km_mediaan_dagen_ontheemd double precision,
            km_mediaan_laag double precision, km_mediaan_hoog double precision, mediaan_bereikt boolean not null,
            censuur_peildatum date, primary key (gemeente_code, jaar))""").format(target)
    )
    conn.execute(
        sql.SQL("comment on table {} is {}").format(
            target,
            sql.Literal(
                "Days displaced per municipality of today and incident year ('NL': national): the Kaplan-Meier median "
                "(statsmodels SurvfuncRight) over housing reports with displaced households, the still-displaced ones "
                "right-censored at the newest delivery's peildatum, with its 95% interval; null when not reached."
            ),
        )
    )
    out = []
    for (gm, jaar), rs in sorted(groups.items()):
        days = [r[2] for r in rs]
        back = [bool(r[3]) for r in rs]
        median, low, high = km_median(days, back)
        out.append(
            (
                gm,
                jaar,
                len(rs),
                sum(back),
                len(rs) - sum(back),
                sum(r[4] for r in rs if not r[3]),
                median,
                low,
                high,
                median is not None,
                rs[0][5],
            )
        )
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("insert into {} values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)").format(target), out
        )
