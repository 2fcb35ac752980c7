"""Contracts grow without losing data: a warehouse loaded under contract version 1 upgrades in place.

The warehouse is first made and loaded exactly as version 1 made it (the raw tables of the version-1
contracts: no adres_pseudoniem, no terugkeer_datum, no raw.gemeenten; their schema version recorded).
On its next start under version 2 it gains the new columns and table: no raw row is lost, old rows
show the new columns empty, the dbt sources are still the contracts', and the upgraded warehouse gives
the same marts as a rebuild from the archive.
"""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
from partner_files import (
    CORPORATIES_V2_COLUMNS,
    GEMEENTEN_COLUMNS,
    POLITIE_V2_COLUMNS,
    VERZEKERAARS_COLUMNS,
    claim_row,
    csv_bytes,
    maatregel_row,
    melding_row,
    politie_row,
    pseudoniem,
)

from explosion_monitor import schema
from explosion_monitor.contracts import Contract, all_contracts
from explosion_monitor.contracts.dbt import stale_sources

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

V2_ONLY = {"politie": ("adres_pseudoniem",), "corporaties": ("terugkeer_datum",)}


def version_1_contracts() -> dict[str, Contract]:
    """The contracts as version 1 had them: without the new columns (and their rules) and the new feed."""
    out = {}
    for feed, contract in all_contracts().items():
        if feed == "gemeenten":
            continue
        dropped = set(V2_ONLY.get(feed, ()))
        out[feed] = dataclasses.replace(
            contract,
            columns=tuple(c for c in contract.columns if c.name not in dropped),
            rules=tuple(r for r in contract.rules if r.left not in dropped and r.right not in dropped),
        )
    return out


def _columns(conn: psycopg.Connection, table: str) -> set[str]:
    return {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = %s",
            (table,),
        )
    }


def test_a_version_1_warehouse_upgrades_in_place(warehouse_url, local_buckets, pg_admin_url, monkeypatch):
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import rebuild, steps

    def deliver(feed: str, name: str, data: bytes) -> None:
        bucket = get_bucket(feed)
        bucket.ensure()
        bucket.put_incoming(name, data)

    # --- the warehouse as version 1 made it, and loaded --------------------------------------------------
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("drop schema raw cascade")
        conn.execute("delete from ops.schema_version")
        with monkeypatch.context() as m:  # the pipeline of version 1: its schema, at every start
            m.setattr(schema, "all_contracts", version_1_contracts)
            assert schema.ensure_schema(conn) is True
            assert "adres_pseudoniem" not in _columns(conn, "politie")
            assert "terugkeer_datum" not in _columns(conn, "corporaties")
            assert not _columns(conn, "gemeenten")
            v1_version = conn.execute("select version from ops.schema_version").fetchall()

            deliver("politie", "p1.csv", csv_bytes([politie_row(i, peildatum="2025-01-15") for i in range(1, 21)]))
            deliver(
                "verzekeraars",
                "v1.csv",
                csv_bytes([claim_row(i, politie_incident_id=f"PL-{i}") for i in range(1, 6)], VERZEKERAARS_COLUMNS),
            )
            deliver(
                "corporaties", "c1.csv", csv_bytes([melding_row(i, politie_incident_id=f"PL-{i}") for i in range(1, 6)])
            )
            outcomes = [
                o
                for feed in ("politie", "verzekeraars", "corporaties")
                for o in steps.ingest_keys(feed, [], notify_partner=False)
            ]
            assert {o["status"] for o in outcomes} == {"loaded"}
            assert conn.execute("select version from ops.schema_version").fetchall() == v1_version
        before = {
            t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0]
            for t in ("politie", "verzekeraars", "corporaties")
        }
        assert before == {"politie": 20, "verzekeraars": 5, "corporaties": 5}

        # --- the next start, under version 2 --------------------------------------------------------------
        assert schema.ensure_schema(conn) is True
        assert conn.execute("select version from ops.schema_version").fetchall() != v1_version
        assert "adres_pseudoniem" in _columns(conn, "politie")
        assert "terugkeer_datum" in _columns(conn, "corporaties")
        assert set(GEMEENTEN_COLUMNS) <= _columns(conn, "gemeenten")
        after = {t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in before}
        assert after == before  # no raw row lost
        assert conn.execute("select count(*) from raw.politie where adres_pseudoniem is not null").fetchone()[0] == 0
        assert conn.execute("select count(*) from raw.corporaties where terugkeer_datum is not null").fetchone()[0] == 0
        assert schema.ensure_schema(conn) is False  # once
    assert stale_sources() == []  # the dbt sources are still generated from the contracts

    # --- version-2 deliveries into the upgraded warehouse ------------------------------------------------------
    deliver(
        "politie",
        "p2.csv",
        csv_bytes(
            [politie_row(i, peildatum="2025-04-15", adres_pseudoniem=pseudoniem(i % 4)) for i in range(15, 31)],
            POLITIE_V2_COLUMNS,
        ),
    )
    deliver(
        "corporaties",
        "c2.csv",
        csv_bytes(
            [melding_row(i, peildatum="2025-04-01", terugkeer_datum="2025-01-10") for i in range(3, 8)],
            CORPORATIES_V2_COLUMNS,
        ),
    )
    deliver(
        "gemeenten",
        "g1.csv",
        csv_bytes([maatregel_row(1), maatregel_row(1, postcode4=""), maatregel_row(2)], GEMEENTEN_COLUMNS),
    )
    outcomes = [
        o for feed in ("politie", "corporaties", "gemeenten") for o in steps.ingest_keys(feed, [], notify_partner=False)
    ]
    assert {o["status"] for o in outcomes} == {"loaded"}, outcomes
    steps.run_build({"select": None})
    # models renamed or removed since: their views, as the build role made them, go at the next build
    stale = ("stg_politie__incidentversies", "stg_politie__adrespseudoniemen")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        owner = conn.execute(
            "select nspowner::regrole::text from pg_namespace where nspname = 'build_staging'"
        ).fetchone()[0]
        for name in stale:
            conn.execute(f"create view build_staging.{name} as select * from raw.politie")
            conn.execute(f"alter view build_staging.{name} owner to {owner}")
    steps.run_build({"select": None})
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for name in stale:
            assert conn.execute("select to_regclass(%s)", (f"build_staging.{name}",)).fetchone()[0] is None, name
    steps.gate_and_publish("live")

    # --- a rebuild from the archive gives the same marts ------------------------------------------------------
    database = "em_evolution_" + warehouse_url.rsplit("_", 1)[-1]
    try:
        result = rebuild.run(database=database, run_id="test-evolution")
        assert result["replayed"]["files"] == 6
        assert result["compare"]["equal"], result["compare"]["differences"]
        assert result["compare"]["tables"]["marts.target_progress"]["rows_live"] > 0
        with psycopg.connect(rebuild.target_url(database=database), autocommit=True) as conn:
            # the rebuild has the version-2 shape from the start; the upgraded warehouse has the same rows
            assert conn.execute("select count(*) from raw.gemeenten").fetchone()[0] == 3
            assert conn.execute("select count(distinct adres_pseudoniem) from raw.politie").fetchone()[0] == 4
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{database}" with (force)')
