"""The planted truth for "what works": the measures of `sample.gemeenten` get a known effect on the police incidents.

`plant(gen)` runs inside the police generator, after the incidents have their municipalities and postcodes and
before the address pseudonyms are drawn. It only moves incidents between postal areas of the same municipality
(same day, same municipality, same everything else), so every municipal, yearly, monthly and national figure, and
`INTENDED_COUNTS` / `INTENDED_AS_OF`, stay exactly as they were. It draws from its own random stream, so no other
feed moves.

For every postal area of a planted measure (`EFFECT` names its soort), in its municipality:
- before the start, the area gets `SHARE[municipality]` of the municipality's incidents (a hot spot, as measures
  follow attacks), from 2021 on, so its trend runs parallel to the rest;
- from the start on, it keeps `EFFECT[soort]` of that share; the rest is displaced to its neighbours (areas of
  the same municipality whose centroid lies within `NEAR_KM`, else the nearest one), as crime is;
- the areas outside the hot spots and their neighbours keep exactly the share they had.

So cameratoezicht halves the attacks in its treated areas (a true effect of -50%), wijkaanpak changes nothing,
and gebiedsverbod (one area, started late in 2025) has too little to estimate. Withdrawn area rows (delivered in
error) are not treated. Incidents in 2026 (`sample.lopend_jaar`) are not moved: every planted window ends before.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from random import Random
from typing import Any

from explosion_monitor.sample.gemeenten import MEASURES

#: The planted multiplicative effect on the attacks in a treated area from the start on.
EFFECT: dict[str, float] = {"cameratoezicht": 0.5, "wijkaanpak": 1.0}
#: The share of its municipality's attacks each hot-spot area holds before the start.
SHARE: dict[str, float] = {"GM0599": 0.10, "GM0518": 0.12, "GM0363": 0.12, "GM0796": 0.16, "GM0034": 0.12}
NEAR_KM = 1.0
#: Incidents after this day are not moved (the 2026 deliveries are drawn elsewhere).
LAST_DAY = dt.date(2025, 12, 31)


def _centroids() -> dict[str, tuple[float, float]]:
    from explosion_monitor.sample.common import SHARED_REFERENCE, reference_dir

    path = reference_dir() / "postcode4.csv"
    if not path.is_file():
        path = Path(SHARED_REFERENCE) / "postcode4.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        return {r["postcode4"]: (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(fh)}


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance between two centroids (equirectangular; exact enough within a city)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    return 6371.0 * math.hypot((lon2 - lon1) * math.cos((lat1 + lat2) / 2), lat2 - lat1)


def planted_areas() -> dict[str, dict[str, tuple[dt.date, float]]]:
    """Per municipality: each treated area of a planted soort with its start and effect (withdrawn rows left out)."""
    out: dict[str, dict[str, tuple[dt.date, float]]] = {}
    for m in MEASURES:
        if m.soort not in EFFECT:
            continue
        for pc4 in m.postcodes:
            if pc4 in m.withdrawn_in_g2:
                continue
            out.setdefault(m.gemeente, {})[pc4] = (dt.date.fromisoformat(m.start), EFFECT[m.soort])
    return out


def plant(gen: Any) -> None:
    """Move the generator's incidents between postal areas so the planted effects hold (see the module doc)."""
    rng = Random(f"effecten|{gen.seed}")
    where = _centroids()
    for code, hot in sorted(planted_areas().items()):
        pool = [p for p in gen.pc4[code] if p not in hot]
        near: dict[str, list[str]] = {}
        for pc4 in hot:
            dist = sorted((km(where[pc4], where[p]), p) for p in pool if p in where)
            near[pc4] = [p for d, p in dist if d <= NEAR_KM] or [dist[0][1]]
        share = SHARE[code]
        spots = sorted(hot)
        for inc in gen.incidents:
            if inc.today != code or inc.gm != code or not inc.pc4 or inc.date > LAST_DAY:
                continue
            u, acc, placed = rng.random(), 0.0, False
            for pc4 in spots:
                start, effect = hot[pc4]
                kept = share * (effect if inc.date >= start else 1.0)
                if u < acc + kept:
                    inc.pc4, placed = pc4, True
                    break
                acc += kept
                moved = share - kept
                if u < acc + moved:
                    inc.pc4, placed = rng.choice(near[pc4]), True
                    break
                acc += moved
            if not placed and inc.pc4 in hot:  # drawn there at random: goes where the rest goes
                inc.pc4 = rng.choice(pool)
