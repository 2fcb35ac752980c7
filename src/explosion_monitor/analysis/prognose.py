"""Analysis step `doel_prognose`: a forecast of the year's final count with its interval, and its track record.

Reads the published `marts.doel_stand` (the counts and the arithmetic, from dbt), `marts.aanslagen_per_maand_historie`
(what was known per month at each police delivery) and `marts.target_progress` (the counts as known now), and
writes `doel_prognose` and `doel_prognose_backtest`. Every forecast uses only what was known at its peildatum,
so the forecasts at earlier deliveries are honest replays.

The method (README, "The forecast"):
1. Revisions: for each lag (whole months between a month's end and a delivery), how much the national count of
   past months grew from that delivery to the newest one known at the peildatum: R = sum(newer) / sum(then),
   with the spread of the monthly log ratios as its uncertainty. Months a year or more old count as final.
2. Seasonality: a Poisson GLM (statsmodels) of the national monthly counts of all years known at the peildatum,
   with year and month-of-year effects and log(1/R) of each month's lag as offset (recent months are incomplete).
3. Per unit: a Poisson GLM of the unit's complete months of the year (intercept only), with the national month
   effects and the same completeness as offset: the unit's level for the year.
4. Simulation (4,000 draws, seeded by unit, year and peildatum): parameters from their estimated normal
   distributions, the months still to come as Poisson draws, the known months grown by one revision factor per
   draw (revisions move together). The forecast is the mean, the interval the 5th to 95th percentile (90%).
5. Status: op_koers if the upper bound is within the target, buiten_bereik if the lower bound is above it,
   risico otherwise; te_vroeg and te_weinig_gegevens come from the count (doel_stand.status_telling).
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import math
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor.analysis.tables import write_table

DRAWS = 4000
INTERVAL_PCT = 90
#: Below this many attacks in the previous year a unit gets no forecast (as the status te_weinig_gegevens).
MIN_BASIS = 20
METHODE = "poisson_glm_maandeffecten_revisies"
FINAL_LAG = 12  # months a year or more after their end are taken as final

STAND_COLUMNS = (
    "niveau",
    "code",
    "naam",
    "jaar",
    "peildatum",
    "is_lopend_jaar",
    "maanden_compleet",
    "aanslagen_tot_nu",
    "zelfde_periode_vorig_jaar",
    "vorig_jaar_zelfde_stand",
    "verandering_pct_tot_nu",
    "doel",
    "doel_aangenomen",
    "doel_bron",
    "nog_toegestaan",
    "nodig_per_maand",
    "status_telling",
)


def lag(year: int, month: int, peil: dt.date) -> int:
    """Whole months between the end of (year, month) and `peil`; negative while the month is not complete."""
    last_day = peil.day == calendar.monthrange(peil.year, peil.month)[1]
    return (peil.year - year) * 12 + peil.month - month - 1 + (1 if last_day else 0)


@dataclass(frozen=True)
class Revisions:
    """Per lag 0..11: the expected growth factor of a month's count and the spread of its log."""

    factor: dict[int, float]
    spread: dict[int, float]

    def at(self, lag_months: int) -> tuple[float, float]:
        if lag_months >= FINAL_LAG or not self.factor:
            return 1.0, 0.0
        return self.factor[lag_months], self.spread[lag_months]


def estimate_revisions(land: dict[dt.date, dict[tuple[int, int], int]], peil: dt.date) -> Revisions:
    """Growth of past national monthly counts from each earlier delivery to the newest one known at `peil`."""
    now = land.get(peil, {})
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    logs: dict[int, list[float]] = defaultdict(list)
    for q, months in land.items():
        if q >= peil:
            continue
        for (year, month), then in months.items():
            ell = lag(year, month, q)
            if not 0 <= ell < FINAL_LAG or then <= 0:
                continue
            newer = now.get((year, month), 0)
            sums[ell][0] += newer
            sums[ell][1] += then
            if newer > 0:
                logs[ell].append(math.log(newer / then))
    if not sums:
        return Revisions({}, {})
    factor, spread = {}, {}
    known = sorted(sums)
    for ell in range(FINAL_LAG):
        # a lag without history borrows from the nearest one that has it (the later one on a tie)
        src = min(known, key=lambda k: (abs(k - ell), -k))
        r = sums[src][0] / sums[src][1]
        values = logs[src]
        s = float(np.std(values, ddof=1)) if len(values) >= 2 else abs(math.log(r)) / 2
        factor[ell], spread[ell] = r, s
    return Revisions(factor, spread)


@dataclass(frozen=True)
class Seasonality:
    """Month-of-year effects (log scale, January = 0) pooled over all years, with draws for the simulation."""

    beta: np.ndarray  # (12,)
    draws: np.ndarray  # (DRAWS, 12)


def fit_seasonality(
    land_now: dict[tuple[int, int], int], peil: dt.date, revisions: Revisions, rng: np.random.Generator
) -> Seasonality | None:
    """Poisson GLM: national count ~ year + month-of-year, offset log(completeness at the month's lag)."""
    import statsmodels.api as sm

    years = sorted({y for (y, _m) in land_now})
    rows, y, offset = [], [], []
    for year in range(years[0], peil.year + 1) if years else []:
        for month in range(1, 13):
            ell = lag(year, month, peil)
            if ell < 0:
                continue
            factor, _ = revisions.at(ell)
            rows.append((year, month))
            y.append(land_now.get((year, month), 0))
            offset.append(-math.log(factor))
    used_years = sorted({r[0] for r in rows})
    if len(rows) < 24 or len({r[1] for r in rows}) < 12:
        return None
    x = np.zeros((len(rows), len(used_years) + 11))
    for i, (year, month) in enumerate(rows):
        x[i, used_years.index(year)] = 1.0
        if month > 1:
            x[i, len(used_years) + month - 2] = 1.0
    fit = sm.GLM(np.array(y, dtype=float), x, family=sm.families.Poisson(), offset=np.array(offset)).fit()
    k = len(used_years)
    beta = np.concatenate([[0.0], fit.params[k:]])
    cov = np.asarray(fit.cov_params())[k:, k:]
    draws = np.zeros((DRAWS, 12))
    draws[:, 1:] = rng.multivariate_normal(fit.params[k:], cov, size=DRAWS, method="cholesky")
    return Seasonality(beta, draws)


@dataclass(frozen=True)
class Forecast:
    verwacht: int
    laag: int
    hoog: int


def forecast_year(
    known: dict[int, int],
    complete: int,
    year: int,
    peil: dt.date,
    season: Seasonality,
    revisions: Revisions,
    rng: np.random.Generator,
) -> Forecast:
    """The final count of `year` for one unit: its complete months `known` (1..complete) as known at `peil`."""
    import statsmodels.api as sm

    months = range(1, complete + 1)
    counts = np.array([known.get(m, 0) for m in months], dtype=float)
    growth = [revisions.at(lag(year, m, peil)) for m in months]
    offset = np.array([season.beta[m - 1] - math.log(g[0]) for m, g in zip(months, growth, strict=False)])
    if counts.sum() > 0:
        fit = sm.GLM(counts, np.ones((len(counts), 1)), family=sm.families.Poisson(), offset=offset).fit()
        alpha = rng.normal(float(fit.params[0]), float(np.sqrt(fit.cov_params()[0, 0])), size=DRAWS)
    else:  # nothing counted yet: the Jeffreys posterior of the level (the GLM has no finite estimate)
        exposure = float(np.exp(offset).sum())
        alpha = np.log(rng.gamma(0.5, 1.0 / exposure, size=DRAWS))
    z = rng.standard_normal(DRAWS)
    total = np.zeros(DRAWS)
    for m, (factor, spread) in zip(months, growth, strict=False):
        n = known.get(m, 0)
        r = np.exp(math.log(factor) + z * spread)
        total += n + rng.poisson(n * np.clip(r - 1, 0, None)) - rng.binomial(n, np.clip(1 - r, 0, 1))
    for m in range(complete + 1, 13):
        total += rng.poisson(np.exp(np.clip(alpha + season.draws[:, m - 1], None, 20)))
    low, high = np.percentile(total, [(100 - INTERVAL_PCT) / 2, 100 - (100 - INTERVAL_PCT) / 2])
    return Forecast(round(float(total.mean())), math.floor(low), math.ceil(high))


def status(row: dict, forecast: Forecast | None) -> str | None:
    if row["status_telling"]:
        return row["status_telling"]
    if row["doel"] is None or forecast is None:
        return None
    if forecast.hoog <= row["doel"]:
        return "op_koers"
    if forecast.laag > row["doel"]:
        return "buiten_bereik"
    return "risico"


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


# --- reading and writing ---------------------------------------------------------------------------------


def _dicts(conn: psycopg.Connection, query: sql.Composable) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchall()


def compute(
    stand: list[dict], maanden: Iterable[dict], definitief: dict[tuple[str, str, int], int]
) -> tuple[list[dict], list[dict]]:
    """doel_prognose and doel_prognose_backtest rows from the published counts (pure: no database)."""
    per_unit: dict[tuple[dt.date, str, str], dict[tuple[int, int], int]] = defaultdict(dict)
    land: dict[dt.date, dict[tuple[int, int], int]] = defaultdict(dict)
    for r in maanden:
        per_unit[(r["peildatum"], r["niveau"], r["code"])][(r["jaar"], r["maand"])] = r["aanslagen"]
        if r["niveau"] == "land":
            land[r["peildatum"]][(r["jaar"], r["maand"])] = r["aanslagen"]
    models: dict[dt.date, tuple[Revisions, Seasonality | None]] = {}
    out = []
    for row in sorted(stand, key=lambda r: (r["peildatum"], r["niveau"], r["code"], r["jaar"])):
        peil, year, complete = row["peildatum"], row["jaar"], row["maanden_compleet"]
        if peil not in models:
            revisions = estimate_revisions({q: m for q, m in land.items() if q <= peil}, peil)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                season = fit_seasonality(land.get(peil, {}), peil, revisions, np.random.default_rng(_seed(peil)))
            models[peil] = (revisions, season)
        revisions, season = models[peil]
        months = per_unit.get((peil, row["niveau"], row["code"]), {})
        previous = sum(n for (y, _m), n in months.items() if y == year - 1)
        forecast = None
        if complete >= 1 and season is not None and previous >= MIN_BASIS and row["status_telling"] is None:
            known = {m: n for (y, m), n in months.items() if y == year and m <= complete}
            rng = np.random.default_rng(_seed(row["niveau"], row["code"], year, peil))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                forecast = forecast_year(known, complete, year, peil, season, revisions, rng)
        out.append(
            {
                **{c: row[c] for c in STAND_COLUMNS if c != "status_telling"},
                "verwacht_jaar": forecast.verwacht if forecast else None,
                "verwacht_laag": forecast.laag if forecast else None,
                "verwacht_hoog": forecast.hoog if forecast else None,
                "interval_pct": INTERVAL_PCT if forecast else None,
                "status": status(row, forecast),
                "methode": METHODE if forecast else None,
            }
        )
    return out, backtest(out, definitief)


def backtest(rows: list[dict], definitief: dict[tuple[str, str, int], int]) -> list[dict]:
    """Per level and closed year: how often the final count (as known now) fell inside the replayed interval."""
    running = max((r["jaar"] for r in rows if r["is_lopend_jaar"]), default=None)
    groups: dict[tuple[str, int], list[tuple[dict, int]]] = defaultdict(list)
    for r in rows:
        final = definitief.get((r["niveau"], r["code"], r["jaar"]))
        if r["verwacht_jaar"] is None or final is None or running is None or r["jaar"] >= running:
            continue
        groups[(r["niveau"], r["jaar"])].append((r, final))
    out = []
    for (niveau, year), items in sorted(groups.items()):
        inside = sum(1 for r, final in items if r["verwacht_laag"] <= final <= r["verwacht_hoog"])
        errors = [100.0 * (r["verwacht_jaar"] - final) / final for r, final in items if final]
        out.append(
            {
                "niveau": niveau,
                "jaar": year,
                "prognoses": len(items),
                "binnen_interval": inside,
                "dekking_pct": round(100.0 * inside / len(items), 1),
                "interval_pct": INTERVAL_PCT,
                "gemiddelde_afwijking_pct": round(sum(errors) / len(errors), 1) if errors else None,
                "eerste_peildatum": min(r["peildatum"] for r, _ in items),
                "laatste_peildatum": max(r["peildatum"] for r, _ in items),
            }
        )
    return out


PROGNOSE_DDL = """
create table {t} (
    niveau text not null, code text not null, naam text, jaar integer not null, peildatum date not null,
    is_lopend_jaar boolean not null, maanden_compleet integer not null, aanslagen_tot_nu integer not null,
    zelfde_periode_vorig_jaar integer not null, vorig_jaar_zelfde_stand integer not null,
    verandering_pct_tot_nu numeric(8,1), doel integer, doel_aangenomen boolean, doel_bron text,
    nog_toegestaan integer, nodig_per_maand numeric, verwacht_jaar integer, verwacht_laag integer,
    verwacht_hoog integer, interval_pct integer, status text, methode text,
    primary key (niveau, code, jaar, peildatum)
)
"""
PROGNOSE_COMMENT = (
    "The target in the running year with a forecast of the final count: doel_stand (counts and arithmetic, dbt) "
    "plus verwacht_jaar/laag/hoog (90% interval; Poisson GLM with month-of-year effects and the revisions still "
    "to come, simulated) and status (op_koers, risico, buiten_bereik, te_vroeg, te_weinig_gegevens). One row per "
    "niveau/code for the running year (is_lopend_jaar) and for each year as it stood at every police delivery."
)
BACKTEST_DDL = """
create table {t} (
    niveau text not null, jaar integer not null, prognoses integer not null, binnen_interval integer not null,
    dekking_pct numeric(5,1) not null, interval_pct integer not null, gemiddelde_afwijking_pct numeric(8,1),
    eerste_peildatum date, laatste_peildatum date,
    primary key (niveau, jaar)
)
"""
BACKTEST_COMMENT = (
    "The forecast's track record: for each closed year and level, the forecasts replayed at every police delivery "
    "(using only what was known then) and how often the final count as known now fell inside the 90% interval."
)


def run(conn: psycopg.Connection, schema: str) -> None:
    """The step: read the published counts, write doel_prognose and doel_prognose_backtest into `schema`."""
    stand = _dicts(
        conn, sql.SQL("select {} from marts.doel_stand").format(sql.SQL(", ").join(map(sql.Identifier, STAND_COLUMNS)))
    )
    maanden = _dicts(
        conn, sql.SQL("select peildatum, niveau, code, jaar, maand, aanslagen from marts.aanslagen_per_maand_historie")
    )
    definitief = {
        (r["niveau"], r["code"], r["jaar"]): r["aanslagen"]
        for r in _dicts(conn, sql.SQL("select niveau, code, jaar, aanslagen from marts.target_progress"))
    }
    prognose, track = compute(stand, maanden, definitief)
    write_table(conn, schema, "doel_prognose", PROGNOSE_DDL, PROGNOSE_COMMENT, prognose)
    write_table(conn, schema, "doel_prognose_backtest", BACKTEST_DDL, BACKTEST_COMMENT, track)
