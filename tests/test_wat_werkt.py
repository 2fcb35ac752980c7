"""What works: the measures mart (dbt) and the analysis step wat_werkt on the sample's planted effects.

The sample (`sample.effecten`) plants the truth: cameratoezicht halves the attacks in its areas from the start on,
wijkaanpak changes nothing, gebiedsverbod is taken in one area only and too late to follow. These tests load the
real sample drops, build them with dbt, publish, and run the real analysis run (its GX suites included).
The null check (placebo measures, 50 seeded runs) is `bench/wat_werkt/run.py` (`make wat-werkt`): it takes long.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
import wap
from psycopg.rows import dict_row

from explosion_monitor.analysis import wat_werkt
from explosion_monitor.analysis import wat_werkt_panel as panel
from explosion_monitor.analysis.wat_werkt_schatting import estimate
from explosion_monitor.sample import effecten

# --- the rules, without a database ------------------------------------------------------------------------------


def test_oordeel_follows_the_interval_and_the_pre_trend_brakes_it() -> None:
    assert wat_werkt.oordeel(-0.9, -0.2, 0.5) == "minder_aanslagen"
    assert wat_werkt.oordeel(0.1, 0.6, 0.5) == "meer_aanslagen"
    assert wat_werkt.oordeel(-0.4, 0.3, 0.5) == "geen_verschil_aangetoond"
    # a trend before the start (or none to test): no verdict, however clear the interval
    assert wat_werkt.oordeel(-0.9, -0.2, 0.01) == "geen_verschil_aangetoond"
    assert wat_werkt.oordeel(-0.9, -0.2, None) == "geen_verschil_aangetoond"


def test_cost_per_prevented_attack_and_its_interval() -> None:
    # 50 attacks after the start, effect -50% (interval -75%..-20%): 50 prevented at the estimate
    per, low, high = wat_werkt.kosten_per_voorkomen(100_000.0, 50, -0.75, -0.5, -0.2)
    assert per == pytest.approx(2000.0)
    assert low == pytest.approx(100_000 / 150, abs=0.01) and high == pytest.approx(100_000 / 12.5, abs=0.01)
    assert low <= per <= high
    assert wat_werkt.kosten_per_voorkomen(None, 50, -0.75, -0.5, -0.2) == (None, None, None)


def _synthetic(effect: float, seed: int) -> panel.Data:
    """Two police units of 40 areas each (2 km apart), 8 treated hot spots with staggered starts in unit A."""
    rng = np.random.default_rng(seed)
    eerste, laatste = panel.month_index(dt.date(2021, 1, 1)), panel.month_index(dt.date(2025, 12, 1))
    n = laatste - eerste + 1
    trend = np.exp(np.linspace(0, 0.8, n))  # attacks rise nationally, as they did
    data = panel.Data(eerste, laatste, [], {}, {}, {"GM0001": "A", "GM0002": "B"})
    starts = [dt.date(2023, 3, 1), dt.date(2023, 9, 1), dt.date(2024, 2, 1), dt.date(2024, 6, 1)]
    for u, gm in enumerate(("GM0001", "GM0002")):
        for i in range(40):
            key = (gm, f"{u + 1}{i:03d}")
            data.area_unit[key] = "AB"[u]
            data.centroid[key] = (52.0 + 0.018 * i, 4.0 + 0.5 * u)
            rate = (1.2 if (u == 0 and i < 8) else rng.gamma(2.0, 0.15)) * trend
            if u == 0 and i < 8:
                start = panel.month_index(starts[i // 2]) - eerste
                rate = rate * np.where(np.arange(n) >= start, effect, 1.0)
            data.area_counts[key] = rng.poisson(rate).astype(float)
    for j, start in enumerate(starts):
        pcs = (f"1{2 * j:03d}", f"1{2 * j + 1:03d}")
        k = panel.month_index(start) - eerste
        tel = tuple(
            (
                p,
                int(data.area_counts[("GM0001", p)][k - 12 : k].sum()),
                int(data.area_counts[("GM0001", p)][k : k + 12].sum()),
            )
            for p in pcs
        )
        data.maatregelen.append(
            panel.Maatregel("GM0001", "GM0001", f"M{j}", "proef", "preventie", start, None, pcs, 1000.0, tel)
        )
    data.gemeente_counts = {
        gm: sum(c for k, c in data.area_counts.items() if k[0] == gm) for gm in ("GM0001", "GM0002")
    }
    return data


def test_the_estimator_finds_a_planted_halving_in_synthetic_staggered_data() -> None:
    data = _synthetic(0.5, seed=7)
    stacks = panel.stacks(data, "proef")
    assert len(stacks) == 4 and all(len(s.treated) == 2 for s in stacks)
    # the comparison pool: the same unit, never the soort's own areas, none within 1 km of a treated centroid
    treated = {k for s in stacks for k in s.treated}
    for s in stacks:
        assert s.controls and all(data.area_unit[k] == "A" for k in s.controls)
        assert not treated & set(s.controls)
        for k in s.controls:
            assert min(effecten.km(data.centroid[k], data.centroid[t]) for t in treated) > panel.NEAR_KM
    est = estimate(data, stacks, np.random.default_rng(1), runs=19)
    assert est is not None and est.placebo_runs >= 10
    low, high = est.beta - est.kritiek * est.se, est.beta + est.kritiek * est.se
    assert low < np.log(0.5) < high < 0
    assert est.voortrend_p is not None and est.voortrend_p > 0.05


def test_the_pre_trend_test_keeps_its_size_without_a_trend() -> None:
    """No trend before the start in 15 synthetic draws: the joint pre-trend test flags at most 3 at 5%."""
    from explosion_monitor.analysis.wat_werkt_schatting import event_study, frame

    flagged = 0
    for seed in range(15):
        data = _synthetic(0.5, seed)
        _, p = event_study(frame(data, panel.stacks(data, "proef")))
        assert p is not None
        flagged += p < 0.05
    assert flagged <= 3


def test_a_staggered_not_yet_treated_area_is_a_comparison_only_before_its_own_start() -> None:
    data = _synthetic(1.0, seed=3)
    stacks = {s.maatregel.maatregel_id: s for s in panel.stacks(data, "proef")}
    # M3 starts 2024-06: its areas may compare for M0 (window ends 2024-02) but not for M2 (ends 2025-01)
    m3 = {("GM0001", "1006"), ("GM0001", "1007")}
    assert {k for k in stacks["M0"].controls if k in m3} <= m3
    assert not m3 & set(stacks["M2"].controls)


# --- the sample build: real dbt, real publication, real analysis run ----------------------------------------------


@pytest.fixture(scope="module")
def analysed(sample_build: str, pg_admin_url: str) -> Iterator[str]:
    from explosion_monitor import publish
    from explosion_monitor.analysis.runner import run_analysis

    url = wap.clone(pg_admin_url, wap.db_name(sample_build), prefix="em_test_wat_werkt")
    try:
        assert publish.publish(url=url, run_id="wat_werkt").outcome == "published"
        result = run_analysis(url=url, run_id="wat_werkt")
        assert result.outcome == "published", result.message
        yield url
    finally:
        wap.drop(pg_admin_url, url)


def _rows(url: str, query: str) -> list[dict]:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchall()


def test_planted_effects_get_the_right_oordeel(analysed: str) -> None:
    rows = {r["soort"]: r for r in _rows(analysed, "select * from marts.wat_werkt")}
    camera, wijk, verbod = rows["cameratoezicht"], rows["wijkaanpak"], rows["gebiedsverbod"]
    assert camera["oordeel"] == "minder_aanslagen"
    assert camera["ci_laag_pct"] <= -50 <= camera["ci_hoog_pct"]  # the planted halving lies inside the interval
    assert camera["voortrend_p"] >= 0.05 and camera["n_gebieden"] == 9
    assert (
        camera["kosten_per_voorkomen_laag_eur"]
        <= camera["kosten_per_voorkomen_eur"]
        <= camera["kosten_per_voorkomen_hoog_eur"]
    )
    assert wijk["oordeel"] == "geen_verschil_aangetoond"
    assert wijk["ci_laag_pct"] < 0 < wijk["ci_hoog_pct"] and wijk["kosten_per_voorkomen_eur"] is None
    assert verbod["oordeel"] == "te_weinig_gegevens"
    assert all(verbod[c] is None for c in ("effect_pct", "ci_laag_pct", "ci_hoog_pct", "methode", "voortrend_p"))
    # every other soort of the sample is too thin to estimate, and says so instead of showing a number
    assert {s for s, r in rows.items() if r["oordeel"] == "te_weinig_gegevens"} == set(rows) - {
        "cameratoezicht",
        "wijkaanpak",
    }
    trend = _rows(analysed, "select soort, kwartaal from marts.wat_werkt_voortrend")
    assert {(r["soort"], r["kwartaal"]) for r in trend} == {
        (s, q) for s in ("cameratoezicht", "wijkaanpak") for q in range(-4, 4)
    }


def test_maatregelen_mart_counts_attacks_before_and_after_from_the_incidents(analysed: str) -> None:
    rows = _rows(analysed, "select * from marts.maatregelen")
    keys = {(r["maatregel_id"], r["postcode4"]) for r in rows}
    assert ("DH-2024-12", "2526") not in keys and ("DH-2024-12", "2525") in keys  # withdrawn in G2
    assert ("RTD-2024-021", None) in keys  # a whole-municipality measure
    ended = next(r for r in rows if r["maatregel_id"] == "RTD-2024-021")
    assert ended["eind_datum"] == dt.date(2025, 12, 31)  # ended in the newer delivery
    assert "omschrijving" not in rows[0]  # free text stays out of marts
    recount = {
        (r["maatregel_id"], r["postcode4"]): (r["voor"], r["na"])
        for r in _rows(
            analysed,
            """
        select m.maatregel_id, m.postcode4,
               count(*) filter (where f.incident_datum < m.start_datum) as voor,
               count(*) filter (where f.incident_datum >= m.start_datum) as na
        from marts.maatregelen as m
        join marts.fct_explosie_incidenten as f
          on f.gemeente_code = m.gemeente_code and (m.postcode4 is null or f.postcode4 = m.postcode4)
         and f.incident_datum >= m.start_datum - interval '1 year' and f.incident_datum < m.start_datum + interval '1 year'
        group by 1, 2""",
        )
    }
    for r in rows:
        assert (r["aanslagen_12m_voor"], r["aanslagen_12m_na"]) == recount.get(
            (r["maatregel_id"], r["postcode4"]), (0, 0)
        )
    camera = [r for r in rows if r["soort"] == "cameratoezicht"]
    voor, na = sum(r["aanslagen_12m_voor"] for r in camera), sum(r["aanslagen_12m_na"] for r in camera)
    wat = _rows(analysed, "select * from marts.wat_werkt where soort = 'cameratoezicht'")[0]
    assert (wat["n_aanslagen_voor"], wat["n_aanslagen_na"]) == (voor, na)


def test_the_planted_displacement_is_kept_out_of_the_comparison(analysed: str) -> None:
    with psycopg.connect(analysed, autocommit=True) as conn:
        data = panel.read(conn)
    assert data is not None
    stacks = panel.stacks(data, "cameratoezicht")
    treated = [k for s in stacks for k in s.treated]
    for s in stacks:
        unit = data.gemeente_unit[s.maatregel.gemeente_code]
        assert s.controls and all(data.area_unit[k] == unit for k in s.controls)
        for k in s.controls:
            assert min(panel.km(data.centroid[k], np.array([data.centroid[t] for t in treated]))) > panel.NEAR_KM


def test_the_gate_blocks_an_interval_without_its_estimate_and_a_wrong_count(analysed: str) -> None:
    from explosion_monitor import quality
    from explosion_monitor.config import get_settings

    settings = get_settings()
    with psycopg.connect(analysed, autocommit=True) as conn:
        conn.execute("drop schema if exists wat_werkt_fout cascade")
        conn.execute("create schema wat_werkt_fout")
        from explosion_monitor.analysis.steps import STEPS

        for t in (t for step in STEPS for t in step.tables):  # every suite of the folder finds its table
            conn.execute(f"create table wat_werkt_fout.{t} as select * from marts.{t}")
        conn.execute("update wat_werkt_fout.wat_werkt set effect_pct = ci_hoog_pct + 1 where soort = 'cameratoezicht'")
        conn.execute(
            "update wat_werkt_fout.wat_werkt set n_aanslagen_na = n_aanslagen_na + 1 where soort = 'wijkaanpak'"
        )
        conn.execute(
            "update wat_werkt_fout.wat_werkt set effect_pct = 0, ci_laag_pct = 0, ci_hoog_pct = 0, "
            "methode = 'x' where soort = 'gebiedsverbod'"
        )
    with wap.gx_isolated():
        gate = quality.run_gate(
            dataclasses.replace(settings),
            analysed,
            schema="wat_werkt_fout",
            folder=settings.expectations_dir / "analysis",
        )
    assert not gate.passed
    failed = " ".join(f.sentence() for f in gate.failures if f.suite == "wat_werkt")
    assert "interval contains the estimate" in failed
    assert "recount" in failed
    assert "te_weinig_gegevens rows carry no estimate" in failed


# --- what readers see ------------------------------------------------------------------------------------------


def _rij(oordeel: str, lo: float | None, eff: float | None, hi: float | None, p: float | None = 0.5) -> dict:
    return {
        "oordeel": oordeel,
        "ci_laag_pct": lo,
        "effect_pct": eff,
        "ci_hoog_pct": hi,
        "voortrend_p": p,
        "n_gebieden": 6,
        "n_aanslagen_voor": 40,
        "n_aanslagen_na": 30,
        "kosten_per_voorkomen_eur": None,
    }


def test_the_wording_never_claims_more_than_the_interval() -> None:
    from explosion_monitor.reports.wat_werkt import zin

    minder = zin(_rij("minder_aanslagen", -75.0, -55.0, -25.0))
    assert "minder aanslagen" in minder and "tussen 25% en 75% minder" in minder
    open_ = zin(_rij("geen_verschil_aangetoond", -40.0, 10.0, 90.0))
    assert "niet aangetoond" in open_ and "werkt niet'" in open_ and "minder aanslagen dan" not in open_
    assert "al vóór de start" in zin(_rij("geen_verschil_aangetoond", -80.0, -60.0, -30.0, p=0.01))
    weinig = zin(_rij("te_weinig_gegevens", None, None, None, None))
    assert "Te weinig gegevens" in weinig and "%" not in weinig


def test_report_and_network_page_show_the_effect_but_never_a_postcode(analysed: str, tmp_path) -> None:
    from explosion_monitor.reports.landelijk import write_report
    from explosion_monitor.reports.wat_werkt import write_netwerk

    page = write_report(url=analysed, out_dir=tmp_path).read_text(encoding="utf-8")
    assert 'id="wat-werkt"' in page and "img/wat_werkt.png" in page and (tmp_path / "img" / "wat_werkt.png").is_file()
    assert "Cameratoezicht" in page and "Een effect is niet aangetoond" in page
    netwerk = write_netwerk(url=analysed, out_dir=tmp_path).read_text(encoding="utf-8")
    for name in ("Cameratoezicht", "Wijkaanpak", "Rotterdam", "Amsterdam", "&#39;s-Gravenhage"):
        assert name in netwerk, name
    rows = _rows(analysed, "select distinct postcode4 from marts.maatregelen where postcode4 is not null")
    assert rows and not [r["postcode4"] for r in rows if r["postcode4"] in netwerk]
