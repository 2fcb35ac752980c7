"""Planted neighbourhood truths in the police sample (issue 14): a near-repeat cluster and repeat addresses.

`plant(gen)` runs after the police incidents are placed and their address pseudonyms drawn. It moves counted
incidents of the second half of 2025 that already lie in Rotterdam (GM0599) to new days within that half year
and to Rotterdam postcode4 areas of the CBS reference, in chains: a first attack, then three more within
`CHAIN_DAYS` days at the same postcode4 or the nearest neighbouring one. Year, municipality and delivery
history stay as they were, so the calibrated totals (INTENDED_COUNTS / INTENDED_AS_OF) do not move.

- Near repeat: the police unit Rotterdam holds the cluster (the Knox test finds it); no other unit gets one, so
  `CONTROL_UNIT` (Noord-Nederland) is the unit without a pattern.
- Repeat addresses: in every chain the second attack hits the first one's address (a pseudonym of its own),
  and in `TRIPLE_CHAINS` chains the third one too. The figures the tests expect are counted from the generator's
  incidents (`repeat_addresses`), never typed in.

Drawn from its own random stream, so the rest of the sample is the same bytes as before except these incidents.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import math
from collections import Counter
from random import Random
from typing import Any

from explosion_monitor.sample.common import SHARED_REFERENCE, reference_dir

CLUSTER_GEMEENTE = "GM0599"  # Rotterdam
CLUSTER_UNIT = "Rotterdam"
CONTROL_UNIT = "Noord-Nederland"
CHAINS = 15
CHAIN_SIZE = 4
CHAIN_DAYS = 7
TRIPLE_CHAINS = 3
FIRST_DAY, LAST_DAY = dt.date(2025, 7, 1), dt.date(2025, 12, 20)


def _centroids(gemeente: str) -> dict[str, tuple[float, float]]:
    folder = reference_dir()
    path = folder / "postcode4.csv"
    if not path.is_file():
        path = SHARED_REFERENCE / "postcode4.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        return {
            r["postcode4"]: (float(r["lat"]), float(r["lon"]))
            for r in csv.DictReader(fh)
            if r["gemeente_code"] == gemeente
        }


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * 111.2
    dx = (a[1] - b[1]) * 111.2 * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(dx, dy)


def plant(gen: Any) -> None:
    """Rearrange Rotterdam's counted second-half-2025 incidents into near-repeat chains with repeat addresses."""
    rng = Random(f"buurt|{gen.seed}")
    pool = set(gen.pc4[CLUSTER_GEMEENTE])
    centroids = {pc: xy for pc, xy in _centroids(CLUSTER_GEMEENTE).items() if pc in pool}
    codes = sorted(centroids)
    members = [
        i
        for i in gen.incidents
        if i.group == "h2" and i.counted and i.today == CLUSTER_GEMEENTE and i.gm == CLUSTER_GEMEENTE
    ]
    members.sort(key=lambda i: (i.date, i.pc4))
    n_chains = min(CHAINS, len(members) // CHAIN_SIZE)
    key = f"politie-sleutel|{gen.seed}".encode()
    span = (LAST_DAY - FIRST_DAY).days
    for c in range(n_chains):
        chain = members[c * CHAIN_SIZE : (c + 1) * CHAIN_SIZE]
        home = rng.choice(codes)
        neighbour = min((pc for pc in codes if pc != home), key=lambda pc: _km(centroids[home], centroids[pc]))
        start = FIRST_DAY + dt.timedelta(rng.randrange(span))
        bag = 599_900_000_000_000 + c  # a made-up BAG id of Rotterdam's, apart from the generator's own
        address = hmac.new(key, f"{bag:016d}".encode(), hashlib.sha256).hexdigest()
        for k, inc in enumerate(chain):
            inc.date = start + dt.timedelta(0 if k == 0 else rng.randint(1, CHAIN_DAYS))
            inc.doelwit = "woning"
            inc.pc4 = neighbour if k == CHAIN_SIZE - 1 else home
            same_address = k <= 1 or (k == 2 and c < TRIPLE_CHAINS)
            if same_address:
                inc.pseudoniem = address
            elif inc.pseudoniem:
                # a fresh address of its own (the generator's draw may have been a repeat elsewhere)
                inc.pseudoniem = hmac.new(key, f"{bag + 1000 * (k + 1):016d}".encode(), hashlib.sha256).hexdigest()
    gen.planted_chains = n_chains


def repeat_addresses(incidents: list[Any], year: int, gemeente: str | None = None) -> dict[str, int]:
    """From the generator's incidents: the figures of herhaling_per_gemeente for one year (one municipality or
    the country), counted incidents only, pseudonyms in lower case."""
    ours = [i for i in incidents if i.counted and i.date.year == year and (gemeente is None or i.today == gemeente)]
    per = Counter(i.pseudoniem.lower() for i in ours if i.pseudoniem)
    return {
        "aanslagen": len(ours),
        "adressen": len(per),
        "adressen_herhaald": sum(1 for n in per.values() if n >= 2),
        "aanslagen_herhaald": sum(n for n in per.values() if n >= 2),
        "zonder_pseudoniem": sum(1 for i in ours if not i.pseudoniem),
    }
