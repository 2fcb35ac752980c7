"""The estimate behind `marts.wat_werkt`: a stacked Poisson difference-in-differences with an event study, and its
interval from randomisation inference over placebo areas and start dates.

1. Effect: `pyfixest.fepois` (PPML, the ppmlhdfe algorithm) of the quarterly counts (event time -4..3) of all
   stacks, `n ~ behandeld_na | eenheid^stack + kwartaal^stack`: area and period fixed effects per stack, so each measure is
   compared only with its own clean comparison areas in its own window (no comparison of later with earlier
   treated areas: valid under staggered adoption). effect = exp(beta) - 1. Standard error clustered by area.
2. Interval: with few treated areas a clustered standard error is too small, so its critical value comes from
   randomisation inference: `PLACEBO_RUNS` times, every stack's treatment moves to as many areas drawn from its
   comparison pool, with a start month drawn near the real one; the same model on those placebo stacks gives
   t-statistics under no effect. The critical value is the 95th percentile of |t| (never below 1.96), the
   interval beta +/- c * se (a studentised randomisation test, robust to unequal variances); `ri_p` is the
   share of placebo |t| at least as large as the observed one.
3. Pre-trend: the same model with treated x quarter-of-event-time dummies (-4..3, reference the quarter before
   the start); `voortrend_p` is the p-value of the joint Wald test (chi2, Poisson model-based variance) that the
   three earlier pre-quarters are zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explosion_monitor.analysis.wat_werkt_panel import VENSTER, Data, Stack, series

PLACEBO_RUNS = 49
#: A placebo draw counts only when its treated areas hold this many attacks in the window (as a real soort must).
MIN_PLACEBO_AANSLAGEN = 30
POGINGEN = 20  # draws tried per placebo run before it is skipped (drawing is cheap, fitting is not)
VERSCHUIVING = 12  # a placebo start lies up to this many months from the real start (similar attack levels)
Z95 = 1.959963984540054
KWARTALEN = (-4, -3, -2, 0, 1, 2, 3)  # quarters of event time; -1 (the three months before the start) is the reference


@dataclass
class Schatting:
    beta: float
    se: float
    kritiek: float  # the critical value from the placebo runs
    ri_p: float | None
    voortrend_p: float | None
    kwartalen: dict[int, tuple[float, float]]  # quarter -> (beta, se) of the event study
    placebo_runs: int


def frame(data: Data, stacks: list[Stack], treated: list[list] | None = None) -> pd.DataFrame:
    """Long table: one row per stack, unit and quarter of event time (-4..3; units without any attack left out).

    Quarters, not months: the treatment is constant within each, so nothing is lost for the effect, the event
    study is per quarter anyway, and the model (fitted some fifty times per soort) gets three times fewer rows.
    Fixed effects are integer codes: unit = stack and area, period = stack and quarter.
    """
    ys, stack_of, clusters, is_treated = [], [], [], []
    for s_idx, stack in enumerate(stacks):
        chosen = stack.treated if treated is None else treated[s_idx]
        chosen_set = set(chosen)
        table = data.gemeente_counts if stack.niveau == "gemeente" else data.area_counts
        lo = stack.start - VENSTER - data.eerste
        for key in [*chosen, *stack.controls]:
            counts = table.get(key)
            if counts is None:
                continue
            y = counts[lo : lo + 2 * VENSTER]
            if not y.any():
                continue  # a unit without any attack in the window carries no information in a Poisson model
            ys.append(y.reshape(-1, 3).sum(axis=1))
            stack_of.append(s_idx)
            clusters.append(str(key))
            is_treated.append(key in chosen_set)
    if not ys:
        return pd.DataFrame()
    n, q = len(ys), 2 * VENSTER // 3
    kwartaal = np.arange(-q // 2, q // 2)
    df = pd.DataFrame(
        {
            "n": np.concatenate(ys),
            "eenheid": np.repeat(np.arange(n), q),
            "cluster": np.repeat(pd.factorize(pd.Series(clusters))[0], q),
            "maand": np.repeat(np.array(stack_of), q) * q + np.tile(np.arange(q), n),
            "rel": np.tile(kwartaal, n),
            "behandeld": np.repeat(np.array(is_treated, dtype=int), q),
        }
    )
    df["behandeld_na"] = ((df["behandeld"] == 1) & (df["rel"] >= 0)).astype(float)
    return df


def _fit(df: pd.DataFrame, formula: str, lean: bool = False, vcov: str | dict = "CRV1"):
    import pyfixest as pf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # placebo fits (lean) skip pyfixest's separation check: units without attacks are already left out, and a
        # draw that does not converge is dropped
        return pf.fepois(
            formula,
            data=df,
            vcov={"CRV1": "cluster"} if vcov == "CRV1" else vcov,
            lean=lean,
            store_data=False,
            separation_check=[] if lean else None,
        )


def did(df: pd.DataFrame, lean: bool = False) -> tuple[float, float] | None:
    """beta and its clustered se of behandeld_na; None when the model cannot be estimated."""
    if df.empty or df.loc[df["behandeld"] == 1, "n"].sum() == 0 or df.loc[df["behandeld"] == 0, "n"].sum() == 0:
        return None
    try:
        fit = _fit(df, "n ~ behandeld_na | eenheid + maand", lean)
        beta, se = float(fit.coef()["behandeld_na"]), float(fit.se()["behandeld_na"])
    except Exception:
        return None
    if not (np.isfinite(beta) and np.isfinite(se)) or se <= 0:
        return None
    return beta, se


def event_study(df: pd.DataFrame) -> tuple[dict[int, tuple[float, float]], float | None]:
    """Quarter effects (beta, se) and the p-value of the joint test that the pre-quarters -4..-2 are zero."""
    df = df.copy()
    quarter = df["rel"].to_numpy()
    names = []
    for q in KWARTALEN:
        name = f"k_{'m' if q < 0 else 'p'}{abs(q)}"
        df[name] = ((df["behandeld"] == 1) & (quarter == q)).astype(float)
        names.append(name)
    try:
        # model-based (Poisson) variance: the clustered one over-rejects with few treated areas (on synthetic data
        # without any trend it flagged 6 of 15 draws at 5%, the model-based one 1 of 15; tests/test_wat_werkt.py)
        fit = _fit(df, "n ~ " + " + ".join(names) + " | eenheid + maand", vcov="iid")
        coef, se = fit.coef(), fit.se()
    except Exception:
        return {}, None
    out = {q: (float(coef[n]), float(se[n])) for q, n in zip(KWARTALEN, names, strict=False) if n in coef.index}
    pre = [n for q, n in zip(KWARTALEN, names, strict=False) if q < -1 and n in coef.index]
    if len(pre) < 3:
        return out, None
    r = np.zeros((len(pre), len(coef)))
    for i, n in enumerate(pre):
        r[i, list(coef.index).index(n)] = 1.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(fit.wald_test(R=r, distribution="chi2")["pvalue"])
    except Exception:
        p = None
    return out, (p if p is not None and np.isfinite(p) else None)


def placebo_t(data: Data, stacks: list[Stack], rng: np.random.Generator, runs: int = PLACEBO_RUNS) -> list[float]:
    """t-statistics of the same model on placebo stacks: treatment moved to comparison areas and a random start.

    Areas are drawn with probability proportional to their attacks over the whole period (measures go where the
    attacks are), the start up to `VERSCHUIVING` months from the real one, and a draw counts only when its treated areas hold as many attacks in their windows as a real
    soort needs for an estimate (`MIN_PLACEBO_AANSLAGEN`); otherwise it is drawn again (`POGINGEN` times).
    """
    table = {"gemeente": data.gemeente_counts, "postcode4": data.area_counts}
    weights = [np.array([table[s.niveau][c].sum() for c in s.controls]) + 0.5 for s in stacks]
    weights = [w / w.sum() if len(w) else w for w in weights]
    out = []
    for _ in range(runs):
        for _attempt in range(POGINGEN):
            fake, chosen, total = [], [], 0.0
            for stack, weight in zip(stacks, weights, strict=False):
                pool = stack.controls
                k = len(stack.treated)
                if len(pool) <= k:
                    continue
                lo = max(data.eerste + VENSTER, stack.start - VERSCHUIVING)
                hi = min(data.laatste - VENSTER + 1, stack.start + VERSCHUIVING)
                start = int(rng.integers(lo, hi + 1))
                picked = [pool[i] for i in rng.choice(len(pool), size=k, replace=False, p=weight)]
                fake_stack = Stack(stack.maatregel, start, stack.niveau, picked, [c for c in pool if c not in picked])
                total += sum(series(data, fake_stack, c).sum() for c in picked)
                fake.append(fake_stack)
                chosen.append(picked)
            if fake and total >= MIN_PLACEBO_AANSLAGEN:
                break
        else:
            continue
        est = did(frame(data, fake, chosen), lean=True)
        if est is not None:
            out.append(est[0] / est[1])
    return out


def estimate(data: Data, stacks: list[Stack], rng: np.random.Generator, runs: int = PLACEBO_RUNS) -> Schatting | None:
    df = frame(data, stacks)
    est = did(df)
    if est is None:
        return None
    beta, se = est
    kwartalen, voortrend_p = event_study(df)
    t = placebo_t(data, stacks, rng, runs)
    abs_t = np.abs(np.array(t)) if t else np.array([])
    kritiek = max(Z95, float(np.quantile(abs_t, 0.95))) if len(abs_t) else Z95
    ri_p = float((1 + np.sum(abs_t >= abs(beta / se))) / (1 + len(abs_t))) if len(abs_t) else None
    return Schatting(beta, se, kritiek, ri_p, voortrend_p, kwartalen, len(abs_t))
