"""Neighbourhood level and aftercare (issue 14) on the sample, through the real loader, dbt, publication and the
analysis run: the planted repeat addresses and displaced households counted exactly, the planted near-repeat cluster
found (and no pattern in the control unit), the risk areas recomputed, row-level security for two municipality
logins, analist and bi_reader, kept through a second count publication, and the municipality page's content.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import os
import re
import stat
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import numpy as np
import psycopg
import pytest
import wap
from pg import drop_database, fresh_database

pytestmark = [pytest.mark.timeout(1800)]

PROTECTED = (
    "aanslagen_per_postcode4",
    "herhaling_adressen",
    "nazorg_meldingen",
    "verhoogd_risico",
    "hotspots_postcode4",
)
OWN, OTHER = "GM0599", "GM0363"


@dataclasses.dataclass
class World:
    url: str
    gen: object
    logins: dict
    tmp: Path


@pytest.fixture(scope="module")
def world(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from explosion_monitor import access, publish, transform
    from explosion_monitor.analysis.runner import run_analysis
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.config import get_settings
    from explosion_monitor.ingest.pending import ingest_pending
    from explosion_monitor.sample import _Generator, generate, load_reference

    url = fresh_database(pg_admin_url, prefix="em_test_buurt")
    try:
        tmp = tmp_path_factory.mktemp("buurt")
        folder = tmp / "buckets"
        folder.mkdir()
        settings = dataclasses.replace(get_settings(), warehouse_url=url, buckets=folder.as_uri())
        for f in generate():
            get_bucket(f.feed, settings).put_incoming(f.name, f.data)
        ingest_pending(settings=settings)
        transform.build(url=url, target_dir=tmp / "dbt_target")
        with wap.gx_isolated():
            publish.publish(settings=settings, url=url, run_id="buurt-1")
            with psycopg.connect(url, autocommit=True) as conn:
                logins = {code: access.issue_municipality_login(conn, code, tmp / "logins") for code in (OWN, OTHER)}
            run_analysis(settings=settings, url=url, run_id="buurt-analyse")
            # a second count publication: the policies must survive the schema swap
            publish.publish(settings=settings, url=url, run_id="buurt-2")
        gen = _Generator(2025, load_reference())
        gen.run()
        yield World(url, gen, logins, tmp)
    finally:
        drop_database(pg_admin_url, url)


def rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def login_url(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"))


# --- repeat attacks -------------------------------------------------------------------------------------------


def test_planted_repeat_addresses_counted_exactly(world: World) -> None:
    from explosion_monitor.sample import buurt

    got = {
        (g, j): r
        for g, j, *r in rows(
            world.url,
            """
        select gemeente_code, jaar, aanslagen, adressen, adressen_herhaald, aanslagen_herhaald, zonder_pseudoniem
        from marts.herhaling_per_gemeente""",
        )
    }
    keys = ("aanslagen", "adressen", "adressen_herhaald", "aanslagen_herhaald", "zonder_pseudoniem")
    for gemeente, key in ((OWN, OWN), (None, "NL")):
        expected = buurt.repeat_addresses(world.gen.incidents, 2025, gemeente)
        assert dict(zip(keys, got[(key, 2025)], strict=False)) == expected
    # the planted chains: every chain's first two attacks share an address, three chains a third one
    assert got[(OWN, 2025)][2] >= world.gen.planted_chains == buurt.CHAINS
    # no pseudonyms before contract v2: every counted 2024 incident is without one
    assert got[("NL", 2024)][1] == 0 and got[("NL", 2024)][4] == got[("NL", 2024)][0] == 1543


def test_rolling_365_days_and_time_between_repeats(world: World) -> None:
    series: dict[str, list] = defaultdict(list)
    for i in world.gen.incidents:
        if i.counted and i.pseudoniem:
            series[i.pseudoniem.lower()].append((i.date, i.today))
    repeats: Counter = Counter()
    addresses: dict = defaultdict(set)
    gaps = []
    for address, hits in series.items():
        hits.sort()
        for (before, _), (when, gm) in itertools.pairwise(hits):
            gaps.append((gm, (when - before).days))
            if (when - before).days <= 365:
                repeats[(gm, when.year)] += 1
                addresses[(gm, when.year)].add(address)
    got = {
        (g, j): (a, h)
        for g, j, a, h in rows(
            world.url,
            """
        select gemeente_code, jaar, adressen_herhaald_365, herhalingen_365 from marts.herhaling_365_dagen""",
        )
    }
    assert got[(OWN, 2025)] == (len(addresses[(OWN, 2025)]), repeats[(OWN, 2025)])
    assert got[("NL", 2025)][1] == sum(n for (g, y), n in repeats.items() if y == 2025)
    own_gaps = sorted(d for gm, d in gaps if gm == OWN)
    published = sorted(
        r[0]
        for r in rows(
            world.url,
            """
        select dagen_sinds_vorige from marts.herhaling_adressen
        where gemeente_code = %s and dagen_sinds_vorige is not null""",
            (OWN,),
        )
    )
    assert published == own_gaps
    assert all(
        re.fullmatch(r"[0-9a-f]{64}", p)
        for (p,) in rows(world.url, "select distinct adres_pseudoniem from marts.herhaling_adressen")
    )


def test_postcode4_counts_add_up_and_unknown_areas_are_kept(world: World) -> None:
    per = dict(
        rows(world.url, "select gemeente_code, sum(aanslagen)::int from marts.aanslagen_per_postcode4 group by 1")
    )
    fct = dict(rows(world.url, "select gemeente_code, count(*)::int from marts.fct_explosie_incidenten group by 1"))
    assert per == fct
    unknown = rows(
        world.url,
        """
        select distinct a.postcode4 from marts.aanslagen_per_postcode4 as a
        where a.postcode4 is not null and not a.is_postcode4_bekend""",
    )
    reference = {r[0] for r in rows(world.url, "select postcode4 from marts.dim_postcode4")}
    assert unknown and not {u for (u,) in unknown} & reference


# --- near repeat and hotspots ---------------------------------------------------------------------------------


def test_planted_near_repeat_cluster_is_found_and_the_control_unit_shows_none(world: World) -> None:
    from explosion_monitor.sample import buurt

    cells = rows(
        world.url,
        """
        select politie_eenheid, afstandsband_nr, tijdband_nr, knox_ratio, p_waarde, p_bh, is_significant
        from marts.near_repeat""",
    )
    assert len(cells) == 10 * 12
    cluster = {(d, t): (ratio, p, q, s) for unit, d, t, ratio, p, q, s in cells if unit == buurt.CLUSTER_UNIT}
    ratio, _p, q, significant = cluster[(0, 0)]  # same postcode4, 0-7 days: where the chains were planted
    assert significant and ratio > 2 and q < 0.05
    assert not any(s for unit, *_rest, s in cells if unit == buurt.CONTROL_UNIT)
    assert all(q >= p - 1e-12 for *_x, p, q, _s in cells)
    # only the unit with planted structure has significant cells: the chains (0-7 days) and the attacks the
    # measures' planted effect (sample.effecten) displaces to neighbouring areas after the cameras went up
    assert {unit for unit, *_r, s in cells if s} == {buurt.CLUSTER_UNIT}


def test_risk_areas_are_recomputed_from_the_published_incidents(world: World) -> None:
    from explosion_monitor.analysis.near_repeat import DISTANCE_BANDS, project

    (peil,) = rows(world.url, "select max(peildatum) from marts.publicatie")[0]
    sig = rows(
        world.url,
        """select politie_eenheid, max(dagen_tot), max(afstandsband_nr) from marts.near_repeat
                             where is_significant group by 1""",
    )
    assert [s[0] for s in sig] == ["Rotterdam"]
    unit, window, band = sig[0]
    grid = rows(world.url, "select postcode4, gemeente_code, lat, lon from marts.dim_postcode4")
    gx, gy = project(np.array([g[2] for g in grid]), np.array([g[3] for g in grid]))
    attacks = rows(
        world.url,
        """
        select f.postcode4, p.lat, p.lon, f.incident_datum from marts.fct_explosie_incidenten as f
        join marts.dim_gemeenten as g using (gemeente_code) join marts.dim_postcode4 as p using (postcode4)
        where g.politie_eenheid = %s and f.incident_datum between %s and %s""",
        (unit, peil - dt.timedelta(window), peil),
    )
    expected: dict = {}
    for pc, lat, lon, when in attacks:
        x, y = project(np.array([lat]), np.array([lon]))
        for k, g in enumerate(grid):
            inside = g[0] == pc if band == 0 else math.hypot(gx[k] - x[0], gy[k] - y[0]) <= DISTANCE_BANDS[band][2]
            if inside:
                expected[(g[1], g[0])] = max(expected.get((g[1], g[0]), when), when) + dt.timedelta(0)
    got = {
        (g, pc): (end, last)
        for g, pc, end, last in rows(
            world.url, "select gemeente_code, postcode4, venster_eind, laatste_aanslag from marts.verhoogd_risico"
        )
    }
    assert attacks and set(got) == set(expected)
    assert all(end == expected[k] + dt.timedelta(window) and last == expected[k] for k, (end, last) in got.items())


def test_hotspots_are_consistent(world: World) -> None:
    found = rows(world.url, "select categorie, hot_laatste_jaar, jaren_hot, jaren from marts.hotspots_postcode4")
    assert found and {c for c, *_ in found} <= {"persistent", "opkomend", "afnemend", "sporadisch"}
    assert all(last for c, last, *_ in found if c in ("persistent", "opkomend"))
    assert all(1 <= n <= total for _c, _l, n, total in found)


# --- aftercare ------------------------------------------------------------------------------------------------


def _final_reports(gen: object) -> list[dict]:
    """The newest version of every housing report as the sample delivered it (C1 has no terugkeer_datum)."""
    newest: dict = {}
    for k, delivery in enumerate(gen.report_rows):
        versions = gen._with_return_date(delivery) if k else [{**r, "terugkeer_datum": None} for r in delivery]
        for r in versions:
            newest[(r["corporatie_code"], r["melding_id"])] = r
    return list(newest.values())


def _km_median(days: list[int], events: list[bool]) -> float | None:
    """Product-limit estimate, written out here independently of statsmodels."""
    surv = 1.0
    for t in sorted({d for d, e in zip(days, events, strict=False) if e}):
        at_risk = sum(1 for d in days if d >= t)
        died = sum(1 for d, e in zip(days, events, strict=False) if e and d == t)
        surv *= 1 - died / at_risk
        if surv <= 0.5:
            return float(t)
    return None


def test_planted_displaced_households_exactly(world: World) -> None:
    reports = _final_reports(world.gen)
    censor = max(r["peildatum"] for r in reports)
    got = {
        j: r
        for j, *r in rows(
            world.url,
            """
        select jaar, huishoudens_ontheemd, huishoudens_nog_ontheemd, meldingen_met_terugkeer, mediaan_dagen_ontheemd,
               p90_dagen_ontheemd from marts.nazorg_per_gemeente where gemeente_code = 'NL'""",
        )
    }
    km = dict(
        rows(world.url, "select jaar, km_mediaan_dagen_ontheemd from marts.nazorg_duur where gemeente_code = 'NL'")
    )
    for year in (2024, 2025):
        ours = [r for r in reports if r["incident_datum"].year == year]
        displaced = [r for r in ours if r["huishoudens_ontheemd"]]
        back = [(r["terugkeer_datum"] - r["incident_datum"]).days for r in displaced if r["terugkeer_datum"]]
        waiting = [r for r in displaced if not r["terugkeer_datum"]]
        assert back and waiting  # planted: displaced households with and without a return date
        households, still, returned, median, p90 = got[year]
        assert households == sum(r["huishoudens_ontheemd"] or 0 for r in ours)
        assert still == sum(r["huishoudens_ontheemd"] for r in waiting)
        assert returned == len(back)
        assert float(median) == pytest.approx(float(np.percentile(back, 50)), abs=0.05)
        assert float(p90) == pytest.approx(float(np.percentile(back, 90)), abs=0.05)
        days = [(r["terugkeer_datum"] or censor) - r["incident_datum"] for r in displaced]
        expected_km = _km_median([d.days for d in days], [bool(r["terugkeer_datum"]) for r in displaced])
        assert km[year] == expected_km
        if expected_km is not None:
            assert km[year] >= float(median)  # the finished cases alone understate the wait


# --- row-level security ---------------------------------------------------------------------------------------


def test_each_municipality_sees_only_its_own_rows_and_bi_reader_none(world: World) -> None:
    for code, login in world.logins.items():
        assert stat.S_IMODE(os.stat(login.password_file).st_mode) == 0o600
        password = login.password_file.read_text().strip()
        with psycopg.connect(login_url(world.url, login.role, password), autocommit=True) as conn:
            for table in PROTECTED:
                seen = conn.execute(f"select gemeente_code, count(*) from marts.{table} group by 1").fetchall()
                assert {g for g, _ in seen} <= {code}, table
            assert conn.execute("select count(*) from marts.aanslagen_per_postcode4").fetchone()[0] > 0
            assert conn.execute("select count(*) from marts.herhaling_per_gemeente").fetchone()[0] > 0  # aggregates
    with psycopg.connect(wap.login_url(world.url, "bi_reader"), autocommit=True) as conn:
        for table in PROTECTED:  # neither a grant nor a policy: BI tools cannot even count the rows
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select count(*) from marts.{table}")
    with psycopg.connect(world.url, autocommit=True) as conn:
        totals = {
            t: conn.execute(f"select count(distinct gemeente_code) from marts.{t}").fetchone()[0] for t in PROTECTED
        }
        conn.execute("set role analist")
        for table in PROTECTED:
            seen = conn.execute(f"select count(distinct gemeente_code) from marts.{table}").fetchone()[0]
            assert seen == totals[table], table
        assert totals["aanslagen_per_postcode4"] > 2


def test_a_login_needs_a_municipality_code(world: World) -> None:
    from explosion_monitor import access

    with psycopg.connect(world.url, autocommit=True) as conn:
        for bad in ("GM99", "gemeente_gm0363; drop table x", "GM9999"):
            with pytest.raises(access.AccessError):
                access.issue_municipality_login(conn, bad, world.tmp / "logins")


# --- the municipality page ------------------------------------------------------------------------------------


def test_municipality_page_content(world: World) -> None:
    from explosion_monitor.config import get_settings
    from explosion_monitor.reports.gemeente import write_pages

    settings = dataclasses.replace(get_settings(), warehouse_url=world.url)
    (path,) = write_pages([OWN], settings=settings, url=world.url, out_dir=world.tmp / "reports")
    assert path == world.tmp / "reports" / "gemeenten" / f"{OWN}.html"
    page = path.read_text(encoding="utf-8")
    assert "VERTROUWELIJK" in page and "Rotterdam" in page
    assert not re.search(r"[0-9a-fA-F]{64}", page)  # no pseudonym
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "<script" not in page
    (count,) = rows(
        world.url,
        """select aanslagen from marts.target_progress where niveau = 'gemeente' and code = %s
                                  and jaar = (select extract(year from max(peildatum)) from marts.publicatie)""",
        (OWN,),
    )[0]
    assert f'id="aanslagen-doeljaar">{count}<' in page
    repeat = rows(
        world.url,
        """select jaar, aanslagen, adressen, adressen_herhaald, aanslagen_herhaald
                                from marts.herhaling_per_gemeente where gemeente_code = %s and jaar = 2025""",
        (OWN,),
    )[0]
    assert "<td>" + "</td><td>".join(map(str, repeat)) + "</td>" in page
    nazorg = rows(
        world.url,
        """select huishoudens_nog_ontheemd from marts.nazorg_per_gemeente
                                where gemeente_code = %s and jaar = 2025""",
        (OWN,),
    )[0][0]
    assert f"<td>{nazorg}</td>" in page
    # neighbourhoods: every postcode4 in a table cell or chart label is one of the municipality's own
    own = {
        r[0]
        for r in rows(
            world.url,
            """
        select postcode4 from marts.aanslagen_per_postcode4 where gemeente_code = %(g)s and postcode4 is not null
        union select postcode4 from marts.hotspots_postcode4 where gemeente_code = %(g)s
        union select postcode4 from marts.verhoogd_risico where gemeente_code = %(g)s""",
            {"g": OWN},
        )
    }
    shown = set(re.findall(r'<td class="pc4">(\d{4})', page)) | set(re.findall(r"<title>(\d{4}): ", page))
    assert shown and shown <= own
    others = {
        r[0]
        for r in rows(
            world.url,
            """select postcode4 from marts.aanslagen_per_postcode4
                                               where gemeente_code <> %s and postcode4 is not null""",
            (OWN,),
        )
    } - own
    assert not shown & others
    measures = rows(world.url, "select distinct maatregel_id from marts.maatregelen where gemeente_code = %s", (OWN,))
    assert measures and 'id="maatregelen-tabel"' in page and "#wat-werkt" in page
    assert all(m in page for (m,) in measures)


def test_cli_writes_pages_and_refuses_bad_codes(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from explosion_monitor.cli import app

    monkeypatch.setenv("WAREHOUSE_URL", world.url)
    monkeypatch.setenv("EXPLOSION_MONITOR_REPORTS", str(world.tmp / "cli_reports"))
    result = CliRunner().invoke(app, ["report", "--gemeente", "GM0599", "--gemeente", "gm0363"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (world.tmp / "cli_reports" / "gemeenten").iterdir()} == {"GM0599.html", "GM0363.html"}
    assert CliRunner().invoke(app, ["report", "--gemeente", "GM9999"]).exit_code == 1  # not a municipality
    assert CliRunner().invoke(app, ["access", "gemeente", "GM99"]).exit_code == 1
    assert not (world.tmp / "cli_reports" / "gemeenten" / "GM9999.html").exists()
