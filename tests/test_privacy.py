"""Data minimisation, checked on what BI and the public actually get: the sample warehouse, published.

The issue's rule: `marts` holds the police incident id (the partnership's shared key), but no insurer claim ids,
no corporation report ids and no free text; `open_data` holds no identifier and no postcode at all. The checks
are generic: the forbidden identifiers and free-text columns are derived from the contracts, their values are
read from what the partners delivered (raw, and the sample files for columns the contract does not know), and
every column of every published table is searched for every one of those values, whatever it is called.

`sample_build` (tests/conftest.py) holds the generator's sample drops loaded and built into `build`; here a
copy of that database is published (`publish.publish`: the same copy and swap a gated publication does) so
that `marts` and `open_data` themselves are inspected. The April 2025 police extract carries a free-text column
`Toelichting` the contract does not know ("Heronderzoek: gaslek, geen opzet", ...), and claim and report ids are
distinctive ("SCH-...", "M0...") so that any leak would be found.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import psycopg
import pytest
import wap
from psycopg import sql

pytestmark = pytest.mark.timeout(600)

SHARED_KEY_FEED = "politie"  # its key, incident_id, is the partnership's shared key: allowed in marts
LINEAGE = {"_file_id", "_line_number", "_arrived_at", "_loaded_at"}
TEXT_TYPES = ("text", "character varying", "character")


def _contracts() -> dict:
    from explosion_monitor.contracts import all_contracts

    return all_contracts()


#: Feeds whose record ids may be published: a measure's number (gemeenten.maatregel_id) is the municipality's own
#: reference for a public policy, not a record about a person or a claim; marts.maatregelen (analist level, issue 13)
#: names measures by it so the network can find them.
PUBLISHABLE_IDS = ("gemeenten",)


def record_id_columns() -> dict[str, list[str]]:
    """Per partner feed other than the police: the key columns that identify a record (not the partner's code)."""
    return {
        feed: [k for k in c.key if not k.endswith("_code") and c.column(k).type != "postcode4"]
        for feed, c in _contracts().items()
        if feed != SHARED_KEY_FEED and feed not in PUBLISHABLE_IDS
    }


def free_text_columns() -> dict[str, list[str]]:
    """Per feed: contract columns that hold free text (text that is neither a key, an id reference nor a code)."""
    return {
        feed: [
            col.name
            for col in c.columns
            if col.type == "text" and col.name not in c.key and not col.name.endswith(("_id", "_code"))
        ]
        for feed, c in _contracts().items()
    }


def _read_sample(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a sample file as a partner wrote it (CSV in any of the accepted forms, or XLSX)."""
    if data[:2] == b"PK":
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        rows = [["" if v is None else str(v) for v in r] for r in sheet.iter_rows(values_only=True)]
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252")
        if text[:4].lower() == "sep=":  # Excel's delimiter hint above the header (contract v2)
            text = text.split("\n", 1)[1] if "\n" in text else ""
        first = text.split("\n", 1)[0]
        rows = list(
            csv.reader(io.StringIO(text, newline=""), delimiter=";" if first.count(";") > first.count(",") else ",")
        )
    return (rows[0], rows[1:]) if rows else ([], [])


def delivered_free_text() -> tuple[set[str], set[str]]:
    """Column names and values of the columns outside the contract in the loaded sample files."""
    from explosion_monitor.sample import generate

    names, values = set(), set()
    for f in generate():
        if f.expect != "loaded":
            continue
        header, rows = _read_sample(f.data)
        known = set(_contracts()[f.feed].column_names)
        for i, name in enumerate(header):
            if name.strip().lower() not in known:
                names.add(name.strip().lower())
                values |= {r[i].strip() for r in rows if i < len(r) and len(r[i].strip()) >= 4}
    return names, values


# --- the published sample warehouse --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(sample_build: str, pg_admin_url: str) -> Iterator[str]:
    from explosion_monitor import publish

    url = wap.clone(pg_admin_url, wap.db_name(sample_build), prefix="em_test_privacy")
    try:
        result = publish.publish(url=url, run_id="privacy")
        assert result.outcome == "published", result
        yield url
    finally:
        wap.drop(pg_admin_url, url)


@pytest.fixture(scope="module")
def forbidden(published: str) -> dict[str, set[str]]:
    """The values that must never reach marts, by kind, read from what the partners delivered."""
    values: dict[str, set[str]] = {}
    with psycopg.connect(published, autocommit=True) as conn:
        for feed, columns in record_id_columns().items():
            for column in columns:
                query = sql.SQL("select distinct {}::text from raw.{}")
                values[f"{feed}.{column}"] = {
                    v for (v,) in conn.execute(query.format(sql.Identifier(column), sql.Identifier(feed)))
                }
        for feed, columns in free_text_columns().items():
            for column in columns:
                values[f"{feed}.{column}"] = {
                    v
                    for (v,) in conn.execute(
                        sql.SQL("select distinct {}::text from raw.{} where {} is not null").format(
                            sql.Identifier(column), sql.Identifier(feed), sql.Identifier(column)
                        )
                    )
                }
    values["free text outside the contract"] = delivered_free_text()[1]
    return values


def _relations(conn: psycopg.Connection, schema: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in conn.execute(
        "select c.table_name, c.column_name, c.data_type from information_schema.columns c "
        "join information_schema.tables t using (table_schema, table_name) "
        "where c.table_schema = %s order by c.table_name, c.ordinal_position",
        (schema,),
    ).fetchall():
        out.setdefault(table, []).append((column, data_type))
    return out


def find_values(url: str, schema: str, values: dict[str, set[str]], *, text_only: bool = False) -> list[tuple]:
    """(table, column, kind, value) for every column of every relation in `schema` holding one of `values`."""
    hits = []
    with psycopg.connect(url) as conn:  # one transaction: the temporary table lives until the end
        conn.execute("create temporary table verboden (waarde text not null, soort text not null) on commit drop")
        with conn.cursor().copy("copy verboden (waarde, soort) from stdin") as copy:
            for kind, found in values.items():
                for value in found:
                    copy.write_row((value, kind))
        conn.execute("create index on verboden (waarde)")
        conn.execute("analyze verboden")
        for table, columns in _relations(conn, schema).items():
            cols = [c for c, t in columns if not text_only or t in TEXT_TYPES]
            if not cols:
                continue
            pairs = sql.SQL(", ").join(
                sql.SQL("({}::text, {})").format(sql.Identifier(c), sql.Literal(c)) for c in cols
            )
            query = sql.SQL(
                "select distinct v.kolom, f.soort, f.waarde from {}.{} as r "
                "cross join lateral (values {}) as v (waarde, kolom) join verboden as f on f.waarde = v.waarde limit 20"
            ).format(sql.Identifier(schema), sql.Identifier(table), pairs)
            hits += [(table, *row) for row in conn.execute(query).fetchall()]
    return hits


# --- the rule's own premises ------------------------------------------------------------------------------------


def test_the_rule_is_derived_from_the_contracts() -> None:
    assert record_id_columns() == {"verzekeraars": ["claim_id"], "corporaties": ["melding_id"]}
    # Contract v2's one free-text column is the measures' omschrijving; a future one is checked automatically.
    assert free_text_columns() == {"politie": [], "verzekeraars": [], "corporaties": [], "gemeenten": ["omschrijving"]}
    names, values = delivered_free_text()
    assert names == {"toelichting"}
    assert "Heronderzoek: gaslek, geen opzet" in values and len(values) >= 5


def test_the_sample_gives_every_check_something_to_find(published: str, forbidden: dict[str, set[str]]) -> None:
    assert len(forbidden["verzekeraars.claim_id"]) > 500 and len(forbidden["corporaties.melding_id"]) > 200
    assert any(v.startswith("SCH-") for v in forbidden["verzekeraars.claim_id"])
    # the scanner finds identifiers where they are (the staging models BI cannot see) ...
    found = find_values(published, "build_staging", forbidden)
    assert {(t, c) for t, c, _, _ in found} >= {
        ("stg_verzekeraars__claims", "claim_id"),
        ("stg_corporaties__meldingen", "melding_id"),
    }


def test_free_text_outside_the_contract_never_enters_the_warehouse(published: str) -> None:
    """An unknown column is a warning and is not loaded: raw holds exactly the contract's columns."""
    with psycopg.connect(published, autocommit=True) as conn:
        for feed, contract in _contracts().items():
            columns = {
                c
                for (c,) in conn.execute(
                    "select column_name from information_schema.columns where table_schema = 'raw' and table_name = %s",
                    (feed,),
                )
            }
            assert columns == set(contract.column_names) | LINEAGE, feed


# --- marts --------------------------------------------------------------------------------------------------


def test_marts_hold_no_claim_ids_no_report_ids_and_no_free_text(published: str, forbidden) -> None:
    with psycopg.connect(published, autocommit=True) as conn:
        tables = _relations(conn, "marts")
    assert "fct_explosie_incidenten" in tables and len(tables) >= 10
    banned_names = {c for cols in record_id_columns().values() for c in cols}
    banned_names |= {c for cols in free_text_columns().values() for c in cols} | delivered_free_text()[0]
    assert [(t, c) for t, cols in tables.items() for c, _ in cols if c in banned_names] == []
    assert find_values(published, "marts", forbidden) == []


def test_marts_hold_the_police_incident_id(published: str) -> None:
    with psycopg.connect(published, autocommit=True) as conn:
        ids = {v for (v,) in conn.execute("select distinct incident_id from raw.politie")}
    found = find_values(published, "marts", {"politie.incident_id": ids})
    assert ("fct_explosie_incidenten", "incident_id") in {(t, c) for t, c, _, _ in found}
    with psycopg.connect(published, autocommit=True) as conn:
        shown, unknown = conn.execute(
            "select count(*), count(*) filter (where incident_id not in (select incident_id from raw.politie)) "
            "from marts.fct_explosie_incidenten"
        ).fetchone()
    assert shown > 3000 and unknown == 0


# --- open data ----------------------------------------------------------------------------------------------


def test_open_data_holds_no_identifier_and_no_postcode(published: str, forbidden) -> None:
    with psycopg.connect(published, autocommit=True) as conn:
        tables = _relations(conn, "open_data")
        ids = {v for (v,) in conn.execute("select distinct incident_id from raw.politie")}
        postcodes = {
            v
            for (v,) in conn.execute(
                "select postcode4 from raw.politie union select postcode4 from raw.verzekeraars "
                "union select postcode4 from raw.corporaties"
            )
            if v
        }
    assert len(tables) >= 4 and len(postcodes) > 100
    # (publicatie says which publication this is: its ids are publication and ledger numbers)
    assert [
        (t, c)
        for t, cols in tables.items()
        for c, _ in cols
        if t != "publicatie" and ("postcode" in c or c.endswith("_id"))
    ] == []
    assert find_values(published, "open_data", {**forbidden, "politie.incident_id": ids}) == []
    # postcodes look like years (2024 is a Haarlem postcode): text columns only
    assert find_values(published, "open_data", {"postcode4": postcodes}, text_only=True) == []


def test_published_open_data_is_the_audited_build_and_shows_no_small_count(published: str) -> None:
    """tests/test_open_data.py audits the build's open-data models; this is what the public actually gets."""
    from explosion_monitor import publish

    with psycopg.connect(published, autocommit=True) as conn:
        relations = [r for r in publish.publishable_relations(conn) if r.target_schema == "open_data"]
        assert len(relations) >= 4
        suppressed = 0
        for rel in relations:
            columns = [c for c, _ in _relations(conn, "open_data")[rel.name]]
            assert set(columns) == {c for c, _ in _relations(conn, rel.source_schema)[rel.source_name]}
            listed = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            diff = conn.execute(
                sql.SQL(
                    "select count(*) from ((select {c} from {pub} except all select {c} from {src}) union all "
                    "(select {c} from {src} except all select {c} from {pub})) d"
                ).format(c=listed, pub=sql.Identifier("open_data", rel.name), src=rel.source)
            ).fetchone()[0]
            assert diff == 0, rel.name
            if "gemeente_code" in columns:
                small, hidden = conn.execute(
                    sql.SQL(
                        "select count(*) filter (where aanslagen between 1 and 4), count(*) filter (where onderdrukt) "
                        "from {}"
                    ).format(sql.Identifier("open_data", rel.name))
                ).fetchone()
                assert small == 0, rel.name
                suppressed += hidden
    assert suppressed > 2000
