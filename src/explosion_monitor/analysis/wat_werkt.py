"""Analysis step `wat_werkt`: what the municipalities' measures did to the number of attacks, per kind of measure.

Reads the published `marts.maatregelen` (dbt: the measures with their attacks before and after), `marts.dim_postcode4`,
`marts.dim_gemeenten` and `marts.fct_explosie_incidenten`, and writes
- `wat_werkt`: one row per soort: the treated areas and their attacks, the effect with its 95% interval, the
  oordeel, the pre-trend test and, where the effect is minder_aanslagen and the costs are known, the cost per
  prevented attack with its interval;
- `wat_werkt_voortrend`: the event study per soort and quarter of event time (the 12 months before the start and
  the 12 after), to show whether the areas were already on another course before the start.

The panel is `wat_werkt_panel`, the estimator and its inference `wat_werkt_schatting` (README, "Wat werkt").
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import psycopg

from explosion_monitor.analysis import wat_werkt_panel as panel
from explosion_monitor.analysis.tables import write_table
from explosion_monitor.analysis.wat_werkt_schatting import (
    PLACEBO_RUNS,
    Z95,
    Schatting,
    estimate,
)

#: Below this many treated areas (with a full year before and after) a soort gets no estimate.
MIN_GEBIEDEN = 3
#: Below this many attacks in the treated areas (before + after) a soort gets no estimate.
MIN_AANSLAGEN = 30
#: A pre-trend p-value below this keeps the oordeel at geen_verschil_aangetoond.
VOORTREND_ALPHA = 0.05
METHODE = "gestapelde_poisson_did_placebo_ri"
OORDELEN = ("minder_aanslagen", "meer_aanslagen", "geen_verschil_aangetoond", "te_weinig_gegevens")


@dataclass
class Rij:
    soort: str
    fase: str
    n_maatregelen: int
    n_gemeenten: int
    n_gebieden: int
    n_aanslagen_voor: int
    n_aanslagen_na: int
    effect_pct: float | None
    ci_laag_pct: float | None
    ci_hoog_pct: float | None
    methode: str | None
    oordeel: str
    voortrend_p: float | None
    ri_p: float | None
    placebo_runs: int | None
    kosten_eur: float | None
    kosten_per_voorkomen_eur: float | None
    kosten_per_voorkomen_laag_eur: float | None
    kosten_per_voorkomen_hoog_eur: float | None
    periode_van: object
    periode_tot: object
    toelichting: str


def _pct(x: float) -> float:
    return round(100.0 * math.expm1(x), 1)


def oordeel(ci_laag: float, ci_hoog: float, voortrend_p: float | None) -> str:
    """From the interval, with the pre-trend as a brake: a trend before the start blocks a verdict."""
    if voortrend_p is None or voortrend_p < VOORTREND_ALPHA:
        return "geen_verschil_aangetoond"
    if ci_hoog < 0:
        return "minder_aanslagen"
    if ci_laag > 0:
        return "meer_aanslagen"
    return "geen_verschil_aangetoond"


def kosten_per_voorkomen(kosten: float | None, n_na: int, laag: float, effect: float, hoog: float) -> tuple:
    """Cost per prevented attack with its interval (effects as fractions, all below 0); prevented = n_na/(1+e) - n_na."""
    if kosten is None or not hoog < 0:
        return None, None, None

    def voorkomen(e: float) -> float:
        return n_na / (1.0 + e) - n_na

    if voorkomen(hoog) <= 0:
        return None, None, None
    return (
        round(kosten / voorkomen(effect), 2),
        round(kosten / voorkomen(laag), 2),
        round(kosten / voorkomen(hoog), 2),
    )


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def evaluate(data: panel.Data, soort: str, runs: int = PLACEBO_RUNS) -> tuple[Rij, Schatting | None]:
    """The row of one soort (and its estimate, for the event study)."""
    measures = [m for m in data.maatregelen if m.soort == soort]
    fasen = sorted({m.fase for m in measures})
    stacks = panel.stacks(data, soort)
    n_gebieden = sum(len(s.treated) for s in stacks)
    voor, na = sum(s.n_voor for s in stacks), sum(s.n_na for s in stacks)
    base = {
        "soort": soort,
        "fase": fasen[0] if len(fasen) == 1 else "gemengd",
        "n_maatregelen": len(measures),
        "n_gemeenten": len({m.gemeente_code for m in measures}),
        "n_gebieden": n_gebieden,
        "n_aanslagen_voor": voor,
        "n_aanslagen_na": na,
        "periode_van": panel.month_start(data.eerste),
        "periode_tot": panel.month_start(data.laatste),
    }
    empty = dict.fromkeys(
        (
            "effect_pct",
            "ci_laag_pct",
            "ci_hoog_pct",
            "methode",
            "voortrend_p",
            "ri_p",
            "placebo_runs",
            "kosten_eur",
            "kosten_per_voorkomen_eur",
            "kosten_per_voorkomen_laag_eur",
            "kosten_per_voorkomen_hoog_eur",
        )
    )
    if n_gebieden < MIN_GEBIEDEN or voor + na < MIN_AANSLAGEN:
        why = (
            f"{n_gebieden} behandelde gebieden met een jaar voor- en nameting (minimaal {MIN_GEBIEDEN}) en "
            f"{voor + na} aanslagen daarin (minimaal {MIN_AANSLAGEN}): te weinig om een effect te schatten."
        )
        return Rij(**base, **empty, oordeel="te_weinig_gegevens", toelichting=why), None
    rng = np.random.default_rng(_seed("wat_werkt", soort, data.eerste, data.laatste))
    est = estimate(data, stacks, rng, runs)
    if est is None:
        return Rij(
            **base,
            **empty,
            oordeel="te_weinig_gegevens",
            toelichting="Het model is niet te schatten (geen aanslagen in de vergelijkingsgebieden).",
        ), None
    laag, hoog = est.beta - est.kritiek * est.se, est.beta + est.kritiek * est.se
    verdict = oordeel(laag, hoog, est.voortrend_p)
    kosten = None if any(s.maatregel.kosten is None for s in stacks) else sum(s.maatregel.kosten for s in stacks)
    per = (
        kosten_per_voorkomen(kosten, na, math.expm1(laag), math.expm1(est.beta), math.expm1(hoog))
        if verdict == "minder_aanslagen"
        else (None, None, None)
    )
    why = {
        "minder_aanslagen": "Het hele interval ligt onder nul: na de start minder aanslagen dan in de vergelijking.",
        "meer_aanslagen": "Het hele interval ligt boven nul: na de start meer aanslagen dan in de vergelijking.",
        "geen_verschil_aangetoond": "Het interval bevat nul: een effect is niet aangetoond (en ook niet uitgesloten).",
    }[verdict]
    if est.voortrend_p is None or est.voortrend_p < VOORTREND_ALPHA:
        why = (
            "De gebieden liepen voor de start al anders dan de vergelijking (of dat is niet te toetsen): "
            "geen oordeel over het effect."
        )
    return Rij(
        **base,
        effect_pct=_pct(est.beta),
        ci_laag_pct=_pct(laag),
        ci_hoog_pct=_pct(hoog),
        methode=METHODE,
        oordeel=verdict,
        voortrend_p=None if est.voortrend_p is None else round(est.voortrend_p, 4),
        ri_p=None if est.ri_p is None else round(est.ri_p, 4),
        placebo_runs=est.placebo_runs,
        kosten_eur=kosten,
        kosten_per_voorkomen_eur=per[0],
        kosten_per_voorkomen_laag_eur=per[1],
        kosten_per_voorkomen_hoog_eur=per[2],
        toelichting=why,
    ), est


def voortrend_rows(soort: str, est: Schatting) -> list[dict]:
    out = [
        {
            "soort": soort,
            "kwartaal": -1,
            "maanden": "-3..-1",
            "effect_pct": 0.0,
            "ci_laag_pct": None,
            "ci_hoog_pct": None,
            "is_referentie": True,
        }
    ]
    for q, (beta, se) in sorted(est.kwartalen.items()):
        out.append(
            {
                "soort": soort,
                "kwartaal": q,
                "maanden": f"{3 * q}..{3 * q + 2}",
                "effect_pct": _pct(beta),
                "ci_laag_pct": _pct(beta - Z95 * se),
                "ci_hoog_pct": _pct(beta + Z95 * se),
                "is_referentie": False,
            }
        )
    return sorted(out, key=lambda r: r["kwartaal"])


WAT_WERKT_DDL = """
create table {t} (
    soort text primary key, fase text not null, n_maatregelen integer not null, n_gemeenten integer not null,
    n_gebieden integer not null, n_aanslagen_voor integer not null, n_aanslagen_na integer not null,
    effect_pct numeric(8,1), ci_laag_pct numeric(8,1), ci_hoog_pct numeric(8,1), methode text,
    oordeel text not null, voortrend_p numeric(6,4), ri_p numeric(6,4), placebo_runs integer,
    kosten_eur numeric(14,2), kosten_per_voorkomen_eur numeric(14,2), kosten_per_voorkomen_laag_eur numeric(14,2),
    kosten_per_voorkomen_hoog_eur numeric(14,2), periode_van date not null, periode_tot date not null,
    toelichting text not null
)
"""
WAT_WERKT_COMMENT = (
    "What works: per kind of measure (soort) the treated areas with a full year before and after the start, their "
    "attacks, the estimated change in attacks caused by the measure (effect_pct) with a 95% interval (stacked Poisson "
    "difference-in-differences, pyfixest; interval from randomisation inference over placebo areas and start dates), "
    "the oordeel (minder_aanslagen / meer_aanslagen / geen_verschil_aangetoond / te_weinig_gegevens, the latter "
    f"without an estimate: fewer than {MIN_GEBIEDEN} areas or {MIN_AANSLAGEN} attacks), the pre-trend test "
    "(voortrend_p; below 0.05 no verdict) and the cost per prevented attack where known."
)
VOORTREND_DDL = """
create table {t} (
    soort text not null, kwartaal integer not null, maanden text not null, effect_pct numeric(8,1),
    ci_laag_pct numeric(8,1), ci_hoog_pct numeric(8,1), is_referentie boolean not null,
    primary key (soort, kwartaal)
)
"""
VOORTREND_COMMENT = (
    "Event study per soort: the difference between treated and comparison areas per quarter of event time (months "
    "-12..-10 to 9..11 from the start; -3..-1 is the reference), with a 95% interval from the clustered standard "
    "error. Pre-start quarters far from zero mean the areas were already on another course (see wat_werkt.voortrend_p)."
)


def compute(data: panel.Data | None, runs: int = PLACEBO_RUNS) -> tuple[list[dict], list[dict]]:
    if data is None:
        return [], []
    rows, trend = [], []
    for soort in sorted({m.soort for m in data.maatregelen}):
        rij, est = evaluate(data, soort, runs)
        rows.append(dict(rij.__dict__))
        if est is not None:
            trend.extend(voortrend_rows(soort, est))
    return rows, trend


def run(conn: psycopg.Connection, schema: str) -> None:
    """The step: read the published marts, write wat_werkt and wat_werkt_voortrend into `schema`."""
    rows, trend = compute(panel.read(conn))
    write_table(conn, schema, "wat_werkt", WAT_WERKT_DDL, WAT_WERKT_COMMENT, rows)
    write_table(conn, schema, "wat_werkt_voortrend", VOORTREND_DDL, VOORTREND_COMMENT, trend)
