"""The null check of `wat_werkt`: placebo measures on areas no measure ever touched, with random start dates.

Nothing happened in those areas at those dates, so a sound method gives minder_aanslagen or meer_aanslagen in
about 5% of the runs at most. Each run replaces the real measures by one placebo soort: `GEBIEDEN` areas in
pairs, each pair in a police unit drawn at random with one start month (drawn from the months that leave a full
year before and after), areas drawn with probability proportional to their attacks (measures go where attacks
are), never within 1 km of a treated area (displaced attacks are not "nothing happened"). The estimate, interval, pre-trend test and oordeel are exactly the production
step's (`wat_werkt.evaluate`). `bench/wat_werkt/run.py` runs it 50 times (seeds 1..50).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from explosion_monitor.analysis import wat_werkt
from explosion_monitor.analysis import wat_werkt_panel as panel

GEBIEDEN = 24
POGINGEN = 200  # draws per run until the placebo soort has the data an estimate needs
PER_MAATREGEL = 2


def _pool(data: panel.Data) -> list[tuple[str, str]]:
    """Areas no measure touched, not within NEAR_KM of a treated area (displacement), with at least one attack."""
    treated = [(m.gemeente_code, pc4) for m in data.maatregelen for pc4 in m.postcodes]
    treated_gm = {m.gemeente_code for m in data.maatregelen if m.hele_gemeente}
    keys = list(data.area_unit)
    coords = np.array([data.centroid[k] for k in keys])
    near = set()
    for key in treated:
        if key in data.centroid:
            near.update(keys[i] for i in np.flatnonzero(panel.km(data.centroid[key], coords) <= panel.NEAR_KM))
    return [
        k
        for k, counts in data.area_counts.items()
        if k not in near and k not in treated and k[0] not in treated_gm and counts.sum() > 0
    ]


def _draw(data: panel.Data, pool: list, rng: np.random.Generator, seed: int) -> list[panel.Maatregel]:
    units = sorted({data.area_unit[k] for k in pool})
    measures, used = [], set()
    for i in range(GEBIEDEN // PER_MAATREGEL):
        unit = units[int(rng.integers(len(units)))]
        cands = [k for k in pool if data.area_unit[k] == unit and k not in used]
        if not cands:
            continue
        weight = np.array([data.area_counts[k].sum() for k in cands], dtype=float)
        picked = [
            cands[j]
            for j in rng.choice(len(cands), size=min(PER_MAATREGEL, len(cands)), replace=False, p=weight / weight.sum())
        ]
        used.update(picked)
        start = int(rng.integers(data.eerste + panel.VENSTER, data.laatste - panel.VENSTER + 2))
        k = start - data.eerste
        for key in picked:  # one measure per area: the pair may lie in two municipalities
            counts = data.area_counts[key]
            telling = (key[1], int(counts[k - panel.VENSTER : k].sum()), int(counts[k : k + panel.VENSTER].sum()))
            measures.append(
                panel.Maatregel(
                    key[0],
                    key[0],
                    f"PLACEBO-{seed}-{i}-{key[1]}",
                    "placebo",
                    "preventie",
                    panel.month_start(start),
                    None,
                    (key[1],),
                    None,
                    (telling,),
                )
            )
    return measures


def placebo_data(data: panel.Data, seed: int) -> panel.Data:
    """`data` with its measures replaced by placebo measures on never-treated areas (soort `placebo`).

    Drawn again (up to `POGINGEN` times) until the placebo soort has the attacks an estimate needs, as the
    randomisation inference does: a run that ends in te_weinig_gegevens would say nothing about the method.
    """
    rng = np.random.default_rng(seed)
    pool = _pool(data)
    for _ in range(POGINGEN):
        measures = _draw(data, pool, rng, seed)
        if sum(v + n for m in measures for _p, v, n in m.tellingen) >= wat_werkt.MIN_AANSLAGEN:
            break
    return dataclasses.replace(data, maatregelen=measures)


def run(data: panel.Data, seeds: range = range(1, 51)) -> list[dict]:
    """One row per seed: the placebo soort's oordeel, effect and interval."""
    out = []
    for seed in seeds:
        fake = placebo_data(data, seed)
        rij, _ = wat_werkt.evaluate(fake, "placebo")
        out.append(
            {
                "seed": seed,
                "oordeel": rij.oordeel,
                "effect_pct": rij.effect_pct,
                "ci_laag_pct": rij.ci_laag_pct,
                "ci_hoog_pct": rij.ci_hoog_pct,
                "voortrend_p": rij.voortrend_p,
                "n_gebieden": rij.n_gebieden,
                "aanslagen": rij.n_aanslagen_voor + rij.n_aanslagen_na,
            }
        )
    return out
