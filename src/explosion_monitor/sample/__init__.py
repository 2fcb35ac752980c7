"""Realistic, deterministic partner deliveries for the four feeds (partner contract version 2).

`generate(seed)` returns the files partners would drop, in delivery order: police
extracts that revise each other, insurer claims and housing-corporation reports that
point at (a share of) the police incidents, the municipalities' measures, and a few files a
partner gets wrong. Version-2 files carry the new columns (adres_pseudoniem, terugkeer_datum)
and Excel's realities (a `sep=;` line, date-times, WAAR/ONWAAR); the others are version-1
files, which stay valid.
Everything is drawn from `random.Random(seed)`; nothing reads the clock, so the same
seed always gives the same bytes.

The police incidents are calibrated to the published figures: the target metric
(distinct incidents with `telt_mee` true and not withdrawn, by year of
`incident_datum`, newest `peildatum` per `incident_id`) is exactly `INTENDED_COUNTS`
over all good police files, and exactly `INTENDED_AS_OF[p]` over the good police files
up to the delivery with peildatum `p`. Those numbers do not depend on the seed; the
seed only moves dates, municipalities, postcodes, identifiers and the other features.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from explosion_monitor.sample.common import (
    CITY_PC4,
    FEED_COLUMNS,
    INTENDED_AS_OF,
    INTENDED_COUNTS,
    INTENDED_DOELWIT_2024,
    INTENDED_H1_2025,
    INTENDED_TOP5_2024,
    INTENDED_ZWAAR_VUURWERK_SHARE,
    TOP5,
    TOP5_BOOST,
    WEESP,
    Picker,
    Reference,
    SampleFile,
    load_reference,
    pc4_pool,
    reference_dir,  # noqa: F401 (kept importable: tests read it)
)
from explosion_monitor.sample.corporaties import CorporationMixin
from explosion_monitor.sample.gemeenten import measure_files
from explosion_monitor.sample.lopend_jaar import INTENDED_2026_AS_OF, INTENDED_COUNT_2026, running_year_deliveries
from explosion_monitor.sample.politie import Inc, PoliceMixin
from explosion_monitor.sample.verzekeraars import InsurerMixin

__all__ = [
    "FEED_COLUMNS",
    "INTENDED_AS_OF",
    "INTENDED_COUNTS",
    "INTENDED_DOELWIT_2024",
    "INTENDED_H1_2025",
    "INTENDED_TOP5_2024",
    "INTENDED_ZWAAR_VUURWERK_SHARE",
    "SampleFile",
    "generate",
    "write_samples",
]

# The running year 2026 (sample.lopend_jaar): three deliveries that leave 2021-2025 as they are.
INTENDED_COUNTS[2026] = INTENDED_COUNT_2026
INTENDED_AS_OF.update({p: {**INTENDED_AS_OF["2026-01-15"], 2026: n} for p, n in INTENDED_2026_AS_OF.items()})


def generate(seed: int = 2025) -> list[SampleFile]:
    """All sample deliveries for `seed`, in delivery order."""
    gen = _Generator(seed, load_reference())
    return gen.run() + running_year_deliveries(gen)


def write_samples(put: Callable[[str, str, bytes], object], seed: int = 2025) -> list[SampleFile]:
    """Generate the samples and hand each to `put(feed, name, data)`, in delivery order."""
    files = generate(seed)
    for f in files:
        put(f.feed, f.name, f.data)
    return files


class _Generator(PoliceMixin, InsurerMixin, CorporationMixin):
    """One seeded random stream shared by every feed, so the whole set is one deterministic draw."""

    def __init__(self, seed: int, ref: Reference):
        self.rng = Random(seed)
        self.seed = seed
        self.ref = ref
        g = ref.gemeenten
        self.pc4 = {code: pc4_pool(gem) for code, gem in g.items()}
        self.pc4[WEESP] = [f"{n:04d}" for n in range(*CITY_PC4[WEESP])] + ["1384"]
        codes = sorted(g)
        self.boosted = Picker(codes, [g[c].inwoners ** 1.1 * TOP5_BOOST.get(c, 1.0) for c in codes])
        self.rest_codes = [c for c in codes if c not in TOP5]
        self.by_population = Picker(codes, [g[c].inwoners for c in codes])
        self.incidents: list[Inc] = []

    def run(self) -> list[SampleFile]:
        self._police_incidents()
        police = self._police_files()
        insurers = self._insurer_files()
        housing = self._corporation_files()
        files = {**police, **insurers, **housing, **measure_files()}
        order = [
            "P1",
            "B1",
            "C1",
            "V1",
            "P2",
            "B5",
            "E1",
            "P3",
            "B2",
            "C2",
            "V2",
            "B4",
            "G1",
            "B3",
            "C3",
            "P4",
            "G2",
            "V3",
        ]
        return [files[k] for k in order]
