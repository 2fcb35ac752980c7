"""The dbt project against a real PostgreSQL: builds, counts, history, links, unit tests and docs.

Every test database is created fresh on the project's embedded PostgreSQL by the fixture
`pg_server_url`, the one place that says which server the tests use.
dbt costs seconds per invocation, so the tests share a few session-scoped builds and read their results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from explosion_monitor import transform
from explosion_monitor.config import get_settings
from explosion_monitor.contracts import get_contract
from explosion_monitor.contracts.dbt import sources_yaml, stale_sources
from explosion_monitor.schema import ensure_schema

pytestmark = pytest.mark.timeout(900)

SCHEMA = "build"


# --- the server and fresh databases (the one place that chooses the server) --------------------------


@pytest.fixture(scope="session")
def pg_server_url(pg_admin_url: str) -> str:
    """A superuser URL of the project's embedded PostgreSQL, where the tests create their databases."""
    return pg_admin_url


@contextlib.contextmanager
def fresh_database(server_url: str, label: str) -> Iterator[str]:
    """A new database with raw/ops/ref set up (schema.ensure_schema); dropped afterwards."""
    name = f"em_test_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            ensure_schema(conn, get_settings())
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


# --- deliveries ---------------------------------------------------------------------------------------


def deliver(url: str, feed: str, rows: list[dict], arrived: str) -> int:
    """One accepted file: a ledger row (status loaded) and its rows in raw.<feed>; returns the file id."""
    columns = get_contract(feed).column_names
    arrived_at = dt.datetime.fromisoformat(arrived).replace(tzinfo=dt.UTC)
    digest = hashlib.sha256(repr((feed, rows, arrived)).encode()).hexdigest()
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        file_id = conn.execute(
            "insert into ops.ledger (feed, bucket, object_key, sha256, size_bytes, arrived_at, status, rows_loaded) "
            "values (%s, %s, %s, %s, 1, %s, 'loaded', %s) returning file_id",
            (feed, feed, f"{feed}_{arrived}.csv", digest, arrived_at, len(rows)),
        ).fetchone()[0]
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * (len(columns) + 3))
        conn.cursor().executemany(
            f"insert into raw.{feed} ({names}, _file_id, _line_number, _arrived_at) values ({marks})",
            [(*(row.get(c) for c in columns), file_id, line, arrived_at) for line, row in enumerate(rows, start=2)],
        )
    return file_id


def inc(incident_id: str, peil: str, datum: str, gm: str, **kw: object) -> dict:
    row = {
        "incident_id": incident_id, "peildatum": peil, "incident_datum": datum, "gemeente_code": gm,
        "postcode4": None, "doelwit": "woning", "uitkomst": "afgegaan", "explosief": "zwaar_vuurwerk",
        "telt_mee": True, "gewonden": 0, "doden": 0, "ingetrokken": None,
    }  # fmt: skip
    row.update(kw)
    return row


P1, P2 = "2025-01-15", "2025-04-15"

# January 2025: the first police extract.
POLITIE_P1 = [
    inc("I2020-H", P1, "2020-11-11", "GM0788"),  # Haaren, split in 2021: counted in Oisterwijk
    inc("I2021-W", P1, "2021-06-01", "GM0457", postcode4="1381"),  # Weesp, Amsterdam since 2022-03-24
    inc("I2021-A", P1, "2021-03-03", "GM0363"),
    inc("I2021-NC", P1, "2021-04-04", "GM0599", telt_mee=False),  # gas leak
    inc("I2023-1", P1, "2023-02-02", "GM0014"),
    inc("I2024-1", P1, "2024-01-01", "GM0599", postcode4="3011"),
    inc("I2024-2", P1, "2024-02-02", "GM0599", postcode4="3012", doelwit="bedrijf", adres_pseudoniem="2A" * 32),
    inc("I2024-3", P1, "2024-03-03", "GM0518"),
    inc("I2024-4", P1, "2024-04-04", "GM0344", adres_pseudoniem="4A" * 32),  # upper case: the same address
    inc("I2024-5", P1, "2024-05-05", "GM0772", telt_mee=False),
    inc("I2024-6", P1, "2024-06-06", "GM1992", adres_pseudoniem="6a" * 32),
]
# April 2025: changed records only; revisions, withdrawals, late registrations and 2025 so far.
POLITIE_P2 = [
    inc("I2024-2", P2, "2024-02-02", "GM0599", postcode4="3012", doelwit="bedrijf", telt_mee=False),
    inc("I2024-3", P2, "2024-03-03", "GM0518", ingetrokken=True),
    inc("I2024-4", P2, "2024-04-04", "GM0344", doelwit="bedrijf", adres_pseudoniem="4b" * 32),  # address corrected
    inc("I2024-5", P2, "2024-05-05", "GM0772", telt_mee=True, adres_pseudoniem=" 5A" + "5a" * 31),
    inc("I2024-7", P2, "2024-12-31", "GM0363", postcode4="1011"),
    inc("I2024-8", P2, "2024-11-11", "GM0599"),
    inc("I2025-1", P2, "2025-01-01", "GM0599", postcode4="3011"),
    inc("I2025-2", P2, "2025-02-02", "GM0363", postcode4="1012", uitkomst="poging"),
    inc("I2025-3", P2, "2025-03-03", "GM0014", uitkomst="aangetroffen"),
]
# A correction with the same peildatum that arrived later: it wins (I2025-3 withdrawn after all).
POLITIE_P2_CORRECTIE = [inc("I2025-3", P2, "2025-03-03", "GM0014", uitkomst="aangetroffen", ingetrokken=True)]

# October 2025: an extract with an older peildatum arrives late; it withdraws I2024-6, which April did not mention.
P_LAAT = "2025-02-01"
POLITIE_LAAT = [inc("I2024-6", P_LAAT, "2024-06-06", "GM1992", ingetrokken=True)]

EXPECTED_AFTER_P1 = {2020: 1, 2021: 2, 2023: 1, 2024: 5}
EXPECTED = {2020: 1, 2021: 2, 2023: 1, 2024: 5, 2025: 2}
EXPECTED_AS_OF = {
    P1: EXPECTED_AFTER_P1,
    P_LAAT: {2020: 1, 2021: 2, 2023: 1, 2024: 4},
    P2: EXPECTED,
}


def claim(claim_id: str, pid: str | None, gm: str, pc4: str | None, datum: str, **kw: object) -> dict:
    row = {
        "verzekeraar_code": "VV0104", "claim_id": claim_id, "peildatum": "2025-05-01", "schadedatum": datum,
        "gemeente_code": gm, "postcode4": pc4, "branche": "opstal", "oorzaak": "explosie_opzet",
        "politie_incident_id": pid, "schade_geraamd_eur": 10000, "uitgekeerd_eur": None, "status": "open",
        "tijdelijke_huisvesting": False,
    }  # fmt: skip
    row.update(kw)
    return row


CLAIMS_V1 = [
    claim("c1", "I2024-1", "GM0599", "3011", "2024-01-01"),
    claim("c2", "I2024-3", "GM0518", None, "2024-03-03", status="afgehandeld", schade_geraamd_eur=5000),
    claim("c3", "I2024-2", "GM0599", "3012", "2024-02-02", oorzaak="explosie_overig", branche="bedrijf"),
    claim("c4", "I2026-X", "GM0599", None, "2025-04-01"),
    claim("c5", None, "GM0599", "3011", "2025-01-02", status="afgewezen"),
    claim("c6", None, "GM0599", None, "2025-01-02"),
]
# October 2025: claim c1 revised (settled, higher estimate).
CLAIMS_V2 = [
    claim(
        "c1",
        "I2024-1",
        "GM0599",
        "3011",
        "2024-01-01",
        peildatum="2025-10-01",
        status="afgehandeld",
        schade_geraamd_eur=12000,
        uitgekeerd_eur=8000,
    )
]


def melding(melding_id: str, pid: str | None, gm: str, pc4: str | None, datum: str, **kw: object) -> dict:
    row = {
        "corporatie_code": "L0560", "melding_id": melding_id, "peildatum": "2025-06-01", "incident_datum": datum,
        "gemeente_code": gm, "postcode4": pc4, "politie_incident_id": pid, "woningen_beschadigd": 1,
        "woningen_onbewoonbaar": 0, "huishoudens_ontheemd": 0, "herstelkosten_eur": 1500,
        "nazorg_aangeboden": True, "sluiting": "geen", "sluiting_start": None, "sluiting_eind": None,
    }  # fmt: skip
    row.update(kw)
    return row


MELDINGEN_C1 = [
    melding(
        "m1",
        "I2024-1",
        "GM0599",
        "3011",
        "2024-01-01",
        woningen_beschadigd=3,
        woningen_onbewoonbaar=1,
        huishoudens_ontheemd=1,
        sluiting="art174a_gemeentewet",
        sluiting_start="2024-01-10",
        sluiting_eind="2024-07-10",
    ),
    # Weesp's incident of 2021, reported with Amsterdam's code and without police id: inferred link
    melding("m2", None, "GM0363", "1381", "2021-06-02"),
    melding("m3", None, "GM0344", "3511", "2024-04-10", nazorg_aangeboden=False),
]


# --- the builds the tests read ---------------------------------------------------------------------------


@dataclasses.dataclass
class Builds:
    url: str
    after_p1: dict[int, int]
    after_all: dict[str, list[tuple]]
    results: list[transform.DbtResult]


def national(url: str) -> dict[int, int]:
    rows = query(url, f"select jaar, aanslagen from {SCHEMA}.target_progress where niveau = 'land' and aanslagen > 0")
    return dict(rows)


BOOKKEEPING = ("bijgewerkt_op", "eerst_verwerkt_op", "verwerkt_op")
SNAPSHOT_TABLES = (
    *(
        f"{SCHEMA}.{t}"
        for t in (
            "fct_explosie_incidenten",
            "target_progress",
            "target_progress_maandelijks",
            "target_progress_historie",
            "reconciliatie_landelijk",
            "koppelingskwaliteit",
            "schade_en_woningimpact_per_gemeente",
            "nazorg_per_gemeente",
            "dim_gemeenten",
            "aanslagen_per_maand_historie",
            "doel_stand",
            "telling_per_definitie",
            "reconciliatie_per_definitie",
            "aanslagen_per_postcode4",
        )
    ),
    *(
        f"{SCHEMA}_intermediate.{t}"
        for t in (
            "int_politie__incident_versies",
            "int_politie__leveringen",
            "int_politie__aanslagen_per_dag",
            "int_politie__maandstanden",
            "int_buurt__aanslagen",
        )
    ),
)


def snapshot(url: str) -> dict[str, list[tuple]]:
    """The rows of every mart and incremental model, without bookkeeping timestamps, sorted."""
    out = {}
    for table in SNAPSHOT_TABLES:
        schema, name = table.split(".")
        cols = [
            c
            for (c,) in query(
                url,
                "select column_name from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, name),
            )
            if c not in BOOKKEEPING
        ]
        out[table] = sorted(query(url, f"select {', '.join(cols)} from {table}"), key=repr)
    return out


@pytest.fixture(scope="session")
def builds(pg_server_url: str) -> Iterator[Builds]:
    with fresh_database(pg_server_url, "dbt") as url:
        results = []
        deliver(url, "politie", POLITIE_P1, "2025-01-16T08:00:00")
        results.append(transform.build(url=url, selector="volledig"))
        after_p1 = national(url)

        # The correction's ledger row comes first (lower file id) but it arrived later, so it wins.
        deliver(url, "politie", POLITIE_P2_CORRECTIE, "2025-04-20T08:00:00")
        deliver(url, "politie", POLITIE_P2, "2025-04-16T08:00:00")
        deliver(url, "verzekeraars", CLAIMS_V1, "2025-05-02T08:00:00")
        deliver(url, "corporaties", MELDINGEN_C1, "2025-06-02T08:00:00")
        results.append(transform.build(url=url))  # incremental, per-drop selector
        deliver(url, "verzekeraars", CLAIMS_V2, "2025-10-02T08:00:00")
        deliver(url, "politie", POLITIE_LAAT, "2025-10-05T08:00:00")
        results.append(transform.build(url=url))  # incremental: a linked claim and an old extract
        after_all = snapshot(url)
        yield Builds(url, after_p1, after_all, results)


# --- tests ------------------------------------------------------------------------------------------------


def test_sources_yaml_is_up_to_date() -> None:
    assert stale_sources() == [], "run `python -m explosion_monitor.contracts.dbt` and commit the result"
    text = sources_yaml("politie")
    assert "loaded_at_field: _loaded_at" in text and "count: 35" in text and "count: 70" in text


def test_build_passes_with_full_suite_then_incrementally(builds: Builds) -> None:
    first, *later = builds.results
    assert first.success and not first.failed
    assert any(n.unique_id.endswith("assert_versies_gelijk_aan_staging") for n in first.nodes)
    assert all(r.success for r in later)
    assert first.role == "em_transformer"


def test_national_counts_follow_the_newest_delivery(builds: Builds) -> None:
    assert builds.after_p1 == EXPECTED_AFTER_P1
    assert national(builds.url) == EXPECTED


def test_revision_and_withdrawal_change_the_counts(builds: Builds) -> None:
    fct = {
        r[0]: r[1:]
        for r in query(builds.url, f"select incident_id, doelwit, uitkomst from {SCHEMA}.fct_explosie_incidenten")
    }
    assert "I2024-2" not in fct  # telt_mee turned false
    assert "I2024-3" not in fct  # withdrawn
    assert "I2025-3" not in fct  # withdrawn by the later-arrived file with the same peildatum
    assert fct["I2024-5"] == ("woning", "afgegaan")  # telt_mee turned true
    assert fct["I2024-4"][0] == "bedrijf"  # revised target
    assert "I2021-NC" not in fct
    assert fct["I2025-2"][1] == "poging"  # attempts count
    assert "I2024-6" not in fct  # withdrawn by the late extract; April's extract did not mention it


def test_historic_codes_report_in_todays_municipality(builds: Builds) -> None:
    rows = dict(query(builds.url, f"select incident_id, gemeente_code from {SCHEMA}.fct_explosie_incidenten"))
    assert rows["I2021-W"] == "GM0363"  # Weesp 2021 appears in Amsterdam
    assert rows["I2020-H"] == "GM0824"  # Haaren: the legal successor Oisterwijk
    amsterdam_2021 = query(
        builds.url,
        f"select aanslagen from {SCHEMA}.target_progress where niveau = 'gemeente' and code = 'GM0363' and jaar = 2021",
    )
    assert amsterdam_2021 == [(2,)]
    assert query(builds.url, f"select count(*) from {SCHEMA}.target_progress where code = 'GM0457'") == [(0,)]
    mapping = dict(
        query(
            builds.url,
            "select gemeente_code, gemeente_code_actueel from build_intermediate.int_gemeenten__code_mapping",
        )
    )
    # the documented rule for split municipalities: the legal successor, else the largest part
    assert mapping["GM0788"] == "GM0824"  # Haaren -> Oisterwijk
    assert mapping["GM0140"] == "GM1900"  # Littenseradiel -> Súdwest-Fryslân
    assert mapping["GM0053"] == "GM1966"  # Winsum -> Het Hogeland
    assert mapping["GM0457"] == "GM0363" and mapping["GM0501"] == "GM1992"
    assert len(mapping) == 342 + 63  # today's codes and every code abolished since 2018


def test_target_progress_levels_and_target(builds: Builds) -> None:
    url = builds.url
    levels = dict(query(url, f"select niveau, count(distinct code) from {SCHEMA}.target_progress group by niveau"))
    assert levels == {"land": 1, "politie_eenheid": 10, "gemeente": 342, "g4": 1, "g40": 1, "overig": 1}
    years = [y for (y,) in query(url, f"select distinct jaar from {SCHEMA}.target_progress order by jaar")]
    assert years == [2020, 2021, 2022, 2023, 2024, 2025]
    row = query(
        url,
        f"""select aanslagen, aanslagen_vorig_jaar, doel, doel_gehaald, verandering_pct, inwoners,
                                inwoners_peiljaar, ytd_tot_datum, aanslagen_ytd, aanslagen_ytd_vorig_jaar, peildatum
                         from {SCHEMA}.target_progress where niveau = 'land' and jaar = 2025""",
    )[0]
    assert row[:4] == (2, 5, 4, True)  # doel = floor(0.9 * 5) = 4
    assert float(row[4]) == -60.0
    assert row[5] == 17_942_942 and row[6] == 2024
    # year to date: up to the newest peildatum, against 2024-01-01 .. 2024-04-15 (I2024-1 and -4; -5 on 5 May)
    assert row[7] == dt.date(2025, 4, 15) and row[8] == 2 and row[9] == 2 and row[10] == dt.date(2025, 4, 15)
    nulls = query(url, f"select count(*) from {SCHEMA}.target_progress where jaar <> 2025 and doel is not null")
    assert nulls == [(0,)]


def test_as_of_history_keeps_what_was_known(builds: Builds) -> None:
    rows = query(builds.url, f"select peildatum, jaar, aanslagen from {SCHEMA}.target_progress_historie")
    by_peil: dict[str, dict[int, int]] = {}
    for peil, jaar, n in rows:
        by_peil.setdefault(peil.isoformat(), {})[jaar] = n
    assert by_peil == EXPECTED_AS_OF


def test_cross_source_links(builds: Builds) -> None:
    url = builds.url
    quality = {
        (b, k, r): n
        for b, k, r, n in query(url, f"select bron, koppeling, reden, aantal from {SCHEMA}.koppelingskwaliteit")
    }
    assert quality == {
        ("verzekeraars", "expliciet", "politie_incident_id"): 1,
        ("verzekeraars", "afgeleid", "gemeente_postcode_datum"): 1,
        ("verzekeraars", "niet_gekoppeld", "incident_ingetrokken"): 1,
        ("verzekeraars", "niet_gekoppeld", "incident_telt_niet_mee"): 1,
        ("verzekeraars", "niet_gekoppeld", "incident_niet_geleverd"): 1,
        ("verzekeraars", "niet_gekoppeld", "geen_postcode"): 1,
        ("corporaties", "expliciet", "politie_incident_id"): 1,
        ("corporaties", "afgeleid", "gemeente_postcode_datum"): 1,
        ("corporaties", "niet_gekoppeld", "geen_overeenkomst"): 1,
    }
    i1 = query(
        url,
        f"""select aantal_claims, schade_geraamd_eur, uitgekeerd_eur, aantal_woningmeldingen,
                               woningen_onbewoonbaar, huishoudens_ontheemd, nazorg_aangeboden, sluiting
                        from {SCHEMA}.fct_explosie_incidenten where incident_id = 'I2024-1'""",
    )[0]
    assert i1 == (1, 12000, 8000, 1, 1, 1, True, "art174a_gemeentewet")  # the October revision of c1
    weesp = query(
        url, f"select aantal_woningmeldingen from {SCHEMA}.fct_explosie_incidenten where incident_id = 'I2021-W'"
    )
    assert weesp == [(1,)]
    # insurer damage per municipality: explosie_opzet and not afgewezen, linked or not
    schade = dict(
        query(
            url,
            f"""select gemeente_code || '-' || jaar, schade_geraamd_eur
                                 from {SCHEMA}.schade_en_woningimpact_per_gemeente where claims > 0""",
        )
    )
    assert schade == {"GM0599-2024": 12000, "GM0518-2024": 5000, "GM0599-2025": 20000}
    # per municipality and incident year now (issue 14); over all years as before, and the national rows agree
    nazorg = dict(
        query(
            url,
            f"""select gemeente_code, round(100.0 * sum(woningmeldingen_met_nazorg) / sum(woningmeldingen))
                                 from {SCHEMA}.nazorg_per_gemeente where woningmeldingen > 0 and gemeente_code <> 'NL'
                                 group by gemeente_code""",
        )
    )
    land = query(
        url,
        f"""select sum(woningmeldingen) filter (where gemeente_code = 'NL'),
                                 sum(woningmeldingen) filter (where gemeente_code <> 'NL')
                          from {SCHEMA}.nazorg_per_gemeente""",
    )[0]
    assert land[0] == land[1]
    assert nazorg == {"GM0599": 100, "GM0363": 100, "GM0344": 0}


def test_reconciliation_flags_deviation(builds: Builds) -> None:
    rows = {
        r[0]: r[1:]
        for r in query(
            builds.url,
            f"""select jaar, aanslagen_warehouse, aantal_gepubliceerd,
                                                               afwijking_boven_drempel from {SCHEMA}.reconciliatie_landelijk""",
        )
    }
    assert rows[2024] == (5, 1543, True)
    assert rows[2021] == (2, None, None)


def test_neighbourhood_incidents_follow_every_revision_incrementally(builds: Builds) -> None:
    """int_buurt__aanslagen after the per-drop builds: the pseudonym of the newest version, in lower case; an
    incident that stopped counting (I2024-2 in April, I2024-6 by the late extract) is gone; one that started
    counting (I2024-5) is in. The full-suite checks against a recomputation pass on it and on the incrementally
    recounted aanslagen_per_postcode4."""
    rows = dict(
        query(
            builds.url,
            f"select incident_id, adres_pseudoniem from {SCHEMA}_intermediate.int_buurt__aanslagen "
            "where incident_id like 'I2024-%%'",
        )
    )
    assert rows == {"I2024-1": None, "I2024-4": "4b" * 32, "I2024-5": "5a" * 32, "I2024-7": None, "I2024-8": None}
    checks = ["assert_buurt_aanslagen_gelijk_aan_staging", "assert_postcode4_gelijk_aan_herberekening"]
    _res, result = transform.run_dbt(["test", "--select", *checks], url=builds.url)
    assert result.success
    assert [n.status for n in result.nodes if n.unique_id.startswith("test.")] == ["pass", "pass"]
    # the recount of changed pairs: I2024-2 (3012) stopped counting, I2025-1 joined I2024-1 in 3011
    per_postcode = query(
        builds.url,
        f"select postcode4, maand::text, aanslagen from {SCHEMA}.aanslagen_per_postcode4 "
        "where gemeente_code = 'GM0599' and postcode4 in ('3011', '3012') order by maand",
    )
    assert per_postcode == [("3011", "2024-01-01", 1), ("3011", "2025-01-01", 1)]


def test_a_neighbourhood_table_from_before_its_watermark_is_rewritten_whole(builds: Builds) -> None:
    """The release before this one built int_buurt__aanslagen as a plain table, without bijgewerkt_op. The next
    per-drop build adds the column and, finding no watermark, rewrites every row: same rows, all stamped."""
    table = f"{SCHEMA}_intermediate.int_buurt__aanslagen"
    before = snapshot(builds.url)[table]
    with psycopg.connect(builds.url, autocommit=True) as conn:
        conn.execute(f"alter table {table} drop column bijgewerkt_op")  # drops its index too
        conn.execute(f"drop index {SCHEMA}_intermediate.int_buurt__aanslagen_incident_id")
    assert transform.build(url=builds.url).success
    assert snapshot(builds.url)[table] == before
    assert query(builds.url, f"select count(*) from {table} where bijgewerkt_op is null") == [(0,)]
    indexes = query(builds.url, "select indexname from pg_indexes where tablename = 'int_buurt__aanslagen'")
    assert sorted(indexes) == [
        ("int_buurt__aanslagen_bijgewerkt_op",),
        ("int_buurt__aanslagen_incident_id",),
        ("int_buurt__aanslagen_paar",),
    ]


def test_incremental_equals_full_refresh(builds: Builds) -> None:
    result = transform.build(url=builds.url, full_refresh=True, selector="volledig")
    assert result.success
    after = snapshot(builds.url)
    for table in SNAPSHOT_TABLES:  # table by table, for a readable failure
        assert after[table] == builds.after_all[table], table


def test_run_results_are_data(builds: Builds) -> None:
    rows = query(
        builds.url,
        """select count(distinct invocation_id), count(*) filter (where resource_type = 'model'),
                                       count(*) filter (where resource_type = 'unit_test'),
                                       count(*) filter (where status in ('error', 'fail', 'runtime error'))
                                from ops.dbt_run_results""",
    )[0]
    assert rows[0] >= 3 and rows[1] > 0 and rows[2] > 0 and rows[3] == 0


def test_unit_tests_pass(builds: Builds) -> None:
    _res, result = transform.run_dbt(["test", "--select", "test_type:unit"], url=builds.url)
    assert result.success, [n.message for n in result.failed]
    names = {n.unique_id.rsplit(".", 1)[-1] for n in result.nodes}
    assert {
        "nieuwste_peildatum_wint",
        "historische_codes_naar_gemeente_van_nu",
        "doel_rekenkunde",
        "ytd_vergelijking",
        "koppeling_tussen_bronnen",
        "versies_geldigheid_en_gemeente_van_nu",
    } <= names


def test_docs_generate_and_every_column_is_documented(builds: Builds) -> None:
    target = transform.docs_generate(url=builds.url)
    assert (target / "index.html").is_file()
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    undocumented = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "seed"):
            continue
        if not node.get("description"):
            undocumented.append(unique_id)
        built = set(catalog["nodes"][unique_id]["columns"])
        described = {name for name, col in node["columns"].items() if col.get("description")}
        undocumented += [f"{unique_id}.{c}" for c in sorted(built - described)]
        if node["resource_type"] == "model" and node["fqn"][1] == "marts":
            assert node["contract"]["enforced"], unique_id
            assert all(col.get("data_type") for col in node["columns"].values()), unique_id
    assert undocumented == []
    exposures = {e["label"] for e in manifest["exposures"].values()}
    assert "Voortgang Offensief" in exposures


def test_source_freshness(builds: Builds) -> None:
    fresh = transform.source_freshness(url=builds.url)
    delivered = {"politie.incidenten", "verzekeraars.claims", "corporaties.meldingen"}
    assert set(fresh) == delivered | {"gemeenten.maatregelen"}  # contract v2's feed has a source too
    # the rows were loaded just now (the loader stamps _loaded_at), so every partner that delivered is on time
    assert {fresh[s]["status"] for s in delivered} == {"pass"}


def test_failed_build_raises_a_clear_error(builds: Builds) -> None:
    # the last test on this database: a code the reference data does not know breaks a relationships test
    deliver(builds.url, "politie", [inc("I2025-9", "2025-05-15", "2025-05-01", "GM9999")], "2025-05-16T08:00:00")
    with (
        dbt_log() as written,
        pytest.raises(transform.TransformError, match=r"failed in \d+ node\(s\): .*relationships"),
    ):
        transform.build(url=builds.url)
    failed = query(builds.url, "select count(*) from ops.dbt_run_results where status = 'fail'")
    assert failed[0][0] >= 1
    # dbt.log keeps warnings and errors (transform.LOG_DEFAULTS): the failure is there, the statements are not
    lines = written()
    assert any("[error]" in line and "relationships" in line for line in lines), lines[-20:]
    assert not [line for line in lines if "[debug]" in line or "[info ]" in line]


@contextlib.contextmanager
def dbt_log() -> Iterator[Callable[[], list[str]]]:
    """The lines dbt.log gained inside the block (other test workers may add theirs: it is shared)."""
    log = get_settings().dbt_project_dir / "logs" / "dbt.log"
    start = log.stat().st_size if log.exists() else 0

    def written() -> list[str]:
        with open(log, "rb") as fh:
            fh.seek(start if fh.seek(0, 2) >= start else 0)  # rotated: the new file holds the block's lines
            return fh.read().decode("utf-8", "replace").splitlines()

    yield written


# --- the sample drops -------------------------------------------------------------------------------------


@dataclasses.dataclass
class SampleBuilds:
    url: str
    results: list[transform.DbtResult]


@pytest.fixture(scope="session")
def sample_warehouse(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleBuilds]:
    """The generator's sample drops, loaded by the real loader in two batches with a build after each
    (the second incremental, with the full suite of tests)."""
    sample = pytest.importorskip("explosion_monitor.sample")
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.pending import ingest_pending

    with fresh_database(pg_server_url, "sample") as url:
        folder = tmp_path_factory.mktemp("buckets")
        folder.chmod(0o755)
        settings = dataclasses.replace(get_settings(), warehouse_url=url, buckets=folder.as_uri())
        files = sample.generate()
        half = len(files) // 2
        results = []
        for batch, selector in ((files[:half], transform.PER_DROP_SELECTOR), (files[half:], "volledig")):
            for f in batch:
                get_bucket(f.feed, settings).put_incoming(f.name, f.data)
            outcomes = ingest_pending(settings=settings)
            assert sorted((o.feed, o.name, o.status) for o in outcomes) == sorted(
                (f.feed, f.name, f.expect) for f in batch
            )
            results.append(transform.build(url=url, selector=selector))
        yield SampleBuilds(url, results)


def test_sample_drops_give_the_intended_figures(sample_warehouse: SampleBuilds) -> None:
    from explosion_monitor.sample import INTENDED_AS_OF, INTENDED_COUNTS

    url = sample_warehouse.url
    assert national(url) == INTENDED_COUNTS
    rows = query(url, f"select peildatum, jaar, aanslagen from {SCHEMA}.target_progress_historie")
    as_of: dict[str, dict[int, int]] = {}
    for peil, jaar, n in rows:
        as_of.setdefault(peil.isoformat(), {})[jaar] = n
    assert as_of == INTENDED_AS_OF  # e.g. 2024 was 1,244 in January 2025 and 1,543 from April 2025
    weesp = query(
        url,
        f"""select count(*), count(*) filter (where gemeente_code = 'GM0363')
                           from {SCHEMA}.fct_explosie_incidenten where gemeente_code_gemeld = 'GM0457'""",
    )[0]
    assert weesp[0] > 0 and weesp[0] == weesp[1]  # Weesp's incidents of 2021 appear in Amsterdam
    reconciled = query(
        url, f"select jaar, afwijking from {SCHEMA}.reconciliatie_landelijk where aantal_gepubliceerd is not null"
    )
    assert dict(reconciled) == {2024: 0, 2025: 0}


def test_sample_drops_pass_the_full_suite(sample_warehouse: SampleBuilds) -> None:
    first, second = sample_warehouse.results
    assert first.success and second.success and not second.warned
    assert any(n.unique_id.endswith("assert_versies_gelijk_aan_staging") for n in second.nodes)
