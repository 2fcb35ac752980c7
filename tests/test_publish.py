"""Write, audit, publish against a real PostgreSQL: what BI tools see only ever passed the blocking checks.

A clean build publishes; a duplicated incident, a negative count and an unknown municipality each block
publication and leave marts/open_data byte-identical (md5 of every table before and after); the police's
revision of 2024 from 1,244 to 1,543 publishes with a warning; rollback restores the previous publication
byte for byte; a concurrent reader never sees a half-published state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import wap

from explosion_monitor import erasure, publish, quality

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(autouse=True)
def _gx_output_in_tmp() -> Iterator[None]:
    with wap.gx_isolated():
        yield


@pytest.fixture
def built_db(pg_admin_url: str) -> Iterator[str]:
    url = wap.clone(pg_admin_url, wap.built_template(pg_admin_url))
    yield url
    wap.drop(pg_admin_url, url)


@pytest.fixture
def published_db(pg_admin_url: str) -> Iterator[str]:
    url = wap.clone(pg_admin_url, wap.published_template(pg_admin_url))
    yield url
    wap.drop(pg_admin_url, url)


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def log_row(conn: psycopg.Connection, run_id: str) -> dict:
    rows = [r for r in publish.publication_log(conn, limit=50) if r["run_id"] == run_id]
    assert len(rows) == 1, rows
    return rows[0]


# --- a clean build --------------------------------------------------------------------------------


def test_clean_build_publishes(built_db: str) -> None:
    with connect(built_db) as conn:
        build_before = publish.checksums(conn, ["build"])

    result = publish.gate_and_publish(url=built_db, run_id="clean")

    assert result.outcome == "published" and result.publication_id is not None
    assert result.failed_checks == []
    assert Path(result.data_docs).is_file()
    with connect(built_db) as conn:
        # marts holds exactly the build's marts, open_data the build's open_data__* tables, plus the stamps
        marts = publish.checksums(conn, ["marts"])
        open_data = publish.checksums(conn, ["open_data"])
        build = publish.checksums(conn, ["build"])
        assert build == build_before, "publishing must not touch the build (dbt's incremental state)"
        build_marts = {k: v for k, v in build.items() if not k.startswith("build.open_data__")}
        build_open = {k: v for k, v in build.items() if k.startswith("build.open_data__")}
        assert build_open, "the open data models are built"
        assert {k.removeprefix("marts.") for k in marts} == {k.removeprefix("build.") for k in build_marts} | {
            "publicatie"
        }
        for name, digest in build_marts.items():
            assert marts[name.replace("build.", "marts.", 1)] == digest, name
        for name, digest in build_open.items():
            assert open_data[name.replace("build.open_data__", "open_data.", 1)] == digest, name
        assert wap.national(conn, "marts")[2024] == 1244
        stamp = conn.execute(
            "select publicatie_id, run_id, peildatum::text, tot_en_met_file_id from marts.publicatie"
        ).fetchone()
        assert stamp == (result.publication_id, "clean", "2025-01-15", 4)
        row = log_row(conn, "clean")
        assert row["outcome"] == "published" and row["finished_at"] is not None
        assert row["failed_checks"] == []
    # the published national figure for 2024 (1,543) is ahead of the January delivery: a warning, not a block
    assert [w["suite"] for w in result.warnings] == ["reconciliatie_landelijk"]
    assert result.warnings[0]["sample_rows"][0]["jaar"] == 2024
    assert row["warnings"] == result.warnings


# --- bad data is blocked and the published schema stays byte-identical ---------------------------


def _duplicate_incident(conn: psycopg.Connection) -> str:
    # dbt enforces the primary key; a faulty build is simulated by dropping it first
    pk = conn.execute(
        "select conname from pg_constraint where conrelid = 'build.fct_explosie_incidenten'::regclass and contype = 'p'"
    ).fetchone()[0]
    conn.execute(f'alter table build.fct_explosie_incidenten drop constraint "{pk}"')
    incident = conn.execute("select min(incident_id) from build.fct_explosie_incidenten").fetchone()[0]
    conn.execute(
        "insert into build.fct_explosie_incidenten select * from build.fct_explosie_incidenten where incident_id = %s",
        (incident,),
    )
    return incident


def _negative_count(conn: psycopg.Connection) -> int:
    conn.execute(
        "update build.target_progress set aanslagen = -3 where niveau = 'gemeente' and code = 'GM0363' and jaar = 2024"
    )
    return -3


def _unknown_municipality(conn: psycopg.Connection) -> str:
    conn.execute(
        "update build.fct_explosie_incidenten set gemeente_code = 'GM9999' "
        "where incident_id = (select min(incident_id) from build.fct_explosie_incidenten)"
    )
    return "GM9999"


BAD_DATA = {
    # injection, suite, check (description), column in the sample rows holding the bad value
    "duplicated incident": (_duplicate_incident, "fct_explosie_incidenten", "Unique incident ids", "incident_id"),
    "negative count": (_negative_count, "target_progress", "No negative counts (aanslagen)", "aanslagen"),
    "unknown municipality": (
        _unknown_municipality,
        "fct_explosie_incidenten",
        "Every municipality is in today's list",
        "gemeente_code",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_blocks_publication_and_leaves_marts_byte_identical(published_db: str, case: str) -> None:
    inject, suite, check, column = BAD_DATA[case]
    with connect(published_db) as conn:
        before = publish.checksums(conn)
        bad_value = inject(conn)

    with pytest.raises(publish.PublicationBlocked) as blocked:
        publish.gate_and_publish(url=published_db, run_id=f"bad-{case}")

    exc = blocked.value
    assert "blocked" in str(exc) and check in str(exc), str(exc)
    failure = next(f for f in exc.result.failed_checks if f["suite"] == suite and f["expectation"].startswith(check))
    if column in erasure.PERSONAL_ID_COLUMNS:  # a victim's id never reaches a sample row or the log (issue 12)
        hidden = {row.get(column) for row in failure["sample_rows"]}
        assert hidden == {erasure.HIDDEN}, failure
        assert str(bad_value) not in exc.report
    else:
        assert bad_value in [row.get(column) for row in failure["sample_rows"]], failure
        assert str(bad_value) in exc.report
    with connect(published_db) as conn:
        assert publish.checksums(conn) == before, "a blocked run must leave marts and open_data byte-identical"
        assert conn.execute("select to_regnamespace('marts_next') is null").fetchone()[0]
        row = log_row(conn, f"bad-{case}")
    assert row["outcome"] == "blocked" and row["finished_at"] is not None
    assert check in row["message"]
    logged = next(f for f in row["failed_checks"] if f["expectation"].startswith(check))
    assert logged["sample_rows"] == failure["sample_rows"]


# --- a legitimate revision publishes with a warning; rollback restores the previous state ----------


def test_revision_publishes_with_warning_and_rollback_restores(published_db: str) -> None:
    with connect(published_db) as conn:
        first = publish.checksums(conn)
        assert wap.national(conn, "marts")[2024] == 1244
    outcomes = wap.deliver(published_db, [wap.sample_files()[wap.REVISION_DROP]])
    assert [o.status for o in outcomes] == ["loaded"]
    wap.build(published_db)

    result = publish.gate_and_publish(url=published_db, run_id="revision")

    assert result.outcome == "published"
    jump = next(w for w in result.warnings if w["suite"] == "target_progress_wijziging")
    assert [(r["jaar"], r["gepubliceerd"], r["nieuw"]) for r in jump["sample_rows"]] == [(2024, 1244, 1543)]
    with connect(published_db) as conn:
        assert wap.national(conn, "marts")[2024] == 1543
        assert log_row(conn, "revision")["warnings"] == result.warnings
        newest_file = conn.execute("select max(file_id) from ops.ledger").fetchone()[0]
        assert conn.execute("select tot_en_met_file_id from marts.publicatie").fetchone()[0] == newest_file
        second = publish.checksums(conn)

    back = publish.rollback(url=published_db, run_id="rollback")

    assert back.outcome == "rolled_back"
    with connect(published_db) as conn:
        assert publish.checksums(conn) == first, "rollback restores the previous publication byte for byte"
        assert wap.national(conn, "marts")[2024] == 1244
        assert log_row(conn, "rollback")["outcome"] == "rolled_back"
        assert wap.national(conn, "build")[2024] == 1543, "the build is untouched"
    publish.rollback(url=published_db, run_id="roll-forward")
    with connect(published_db) as conn:
        assert publish.checksums(conn) == second


# --- readers never see a half-published state -----------------------------------------------------


READS = {
    "publicatie": "select publicatie_id from marts.publicatie",
    "land": "select aanslagen from marts.target_progress where niveau = 'land' and jaar = 2021",
    "inwoners": "select inwoners from marts.dim_gemeenten where gemeente_code = 'GM0363'",
}


def _reader(url: str, order: list[str] | None, seen: list, errors: list, stop: threading.Event) -> None:
    """Read the publication stamp and two marts in one REPEATABLE READ transaction (in `order`), or in one
    statement (order None)."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                if order:
                    got = {}
                    with conn.transaction():
                        conn.execute("set transaction isolation level repeatable read")
                        for name in order:
                            row = conn.execute(READS[name]).fetchone()
                            got[name] = row and row[0]
                            time.sleep(0.003)
                    seen.append((got["publicatie"], got["land"], got["inwoners"]))
                else:
                    row = conn.execute(
                        """
                        select d.inwoners, p.publicatie_id, t.aanslagen
                        from marts.dim_gemeenten as d, marts.publicatie as p, marts.target_progress as t
                        where d.gemeente_code = 'GM0363' and t.niveau = 'land' and t.jaar = 2021
                        """
                    ).fetchone()
                    seen.append((row[1], row[2], row[0]) if row else (None, None, None))
                time.sleep(0.01)  # readers come and go, as BI queries do
    except Exception as exc:
        errors.append(repr(exc))


def test_concurrent_reader_never_sees_a_half_published_state(published_db: str) -> None:
    with connect(published_db) as conn:
        first = conn.execute("select publicatie_id from marts.publicatie").fetchone()[0]
        land = wap.national(conn, "marts")[2021]
        inwoners = conn.execute("select inwoners from marts.dim_gemeenten where gemeente_code = 'GM0363'").fetchone()[0]
    expected = {first: (land, inwoners)}
    reader_url = wap.login_url(published_db, "bi_reader")
    stop = threading.Event()
    errors: list[str] = []
    seen_rr: list[tuple] = []
    seen_rr_reversed: list[tuple] = []
    seen_single: list[tuple] = []
    readers = [
        threading.Thread(target=_reader, args=(reader_url, ["publicatie", "land", "inwoners"], seen_rr, errors, stop)),
        threading.Thread(
            target=_reader, args=(reader_url, ["inwoners", "land", "publicatie"], seen_rr_reversed, errors, stop)
        ),
        threading.Thread(target=_reader, args=(reader_url, None, seen_single, errors, stop)),
    ]
    for t in readers:
        t.start()
    try:
        for k in range(1, 6):
            # each publication carries its own number in two different marts
            with connect(published_db) as conn:
                conn.execute(
                    "update build.target_progress set aanslagen = %s where niveau = 'land' and jaar = 2021", (k,)
                )
                conn.execute("update build.dim_gemeenten set inwoners = %s where gemeente_code = 'GM0363'", (k,))
            result = publish.publish(url=published_db, run_id=f"concurrent-{k}")
            expected[result.publication_id] = (k, k)
            time.sleep(0.2)
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert not errors, errors
    for observation in seen_rr + seen_rr_reversed + seen_single:
        pub, land_seen, inwoners_seen = observation
        assert pub in expected, observation
        assert (land_seen, inwoners_seen) == expected[pub], f"a mix of publications: {observation}"
    for seen in (seen_rr, seen_rr_reversed, seen_single):
        assert len({o[0] for o in seen}) >= 3, "every reader should have seen several publications"


# --- the command line -----------------------------------------------------------------------------


def test_cli_publish_fails_loudly_and_rolls_back(published_db: str) -> None:
    from typer.testing import CliRunner

    from explosion_monitor import cli

    with connect(published_db) as conn:
        _negative_count(conn)
    runner = CliRunner()
    blocked = runner.invoke(cli.app, ["publish"], env={"WAREHOUSE_URL": published_db})
    assert blocked.exit_code == 1, blocked.output
    assert "Publication blocked" in blocked.output
    assert '"aanslagen": -3' in blocked.output, "the failing rows are shown"

    back = runner.invoke(cli.app, ["publish", "--rollback"], env={"WAREHOUSE_URL": published_db})
    assert back.exit_code == 0, back.output
    assert "Rolled back" in back.output
    with connect(published_db) as conn:
        # the state before the first publication: the empty schemas ensure_schema created
        assert conn.execute("select to_regclass('marts.target_progress') is null").fetchone()[0]
        again = runner.invoke(cli.app, ["publish", "--rollback"], env={"WAREHOUSE_URL": published_db})
        assert again.exit_code == 0, again.output
        assert wap.national(conn, "marts")[2024] == 1244


# --- the delivery window is fixed when the build starts ------------------------------------------------


def test_a_file_loaded_while_the_build_ran_waits_whole_for_the_next_build(published_db: str) -> None:
    """A file loaded after a build started is not named as published by it, and is in the next gate's window,
    so that the raw checks see it; the incremental models, which take new files from the ledger, leave it
    whole to the next build."""
    files = wap.sample_files()
    assert [o.status for o in wap.deliver(published_db, [files[wap.REVISION_DROP]])] == ["loaded"]
    with connect(published_db) as conn:
        before = conn.execute("select max(tot_en_met_file_id) from marts.publicatie").fetchone()[0]
    wap.build(published_db)
    late = files[7]  # a police extract that arrives while the build runs (after its window was fixed)
    assert late.feed == "politie" and [o.status for o in wap.deliver(published_db, [late])] == ["loaded"]
    with connect(published_db) as conn:
        in_build, late_id = conn.execute("select max(file_id) - 1, max(file_id) from ops.ledger").fetchone()
        assert conn.execute("select count(*) from raw.politie where _file_id = %s", (late_id,)).fetchone()[0] > 0
        # the incremental models take their new files from the ledger view, which stops at the build's window
        assert conn.execute(
            "select count(*) from build_staging.stg_ops__leveringen where file_id = %s", (late_id,)
        ).fetchone() == (0,)
    assert quality.delivery_window(published_db) == quality.Window(before, in_build)

    first = publish.gate_and_publish(url=published_db, run_id="tijdens-de-build")

    assert first.outcome == "published"
    with connect(published_db) as conn:
        assert conn.execute("select max(tot_en_met_file_id) from marts.publicatie").fetchone() == (in_build,)
        assert steps_unpublished(published_db) == {"politie"}
    partial_build(published_db)  # as the warehouse DAG builds after a police drop: source:politie+ only
    assert quality.delivery_window(published_db) == quality.Window(in_build, late_id)
    second = publish.gate_and_publish(url=published_db, run_id="daarna")
    assert second.outcome == "published"
    with connect(published_db) as conn:
        assert conn.execute("select max(tot_en_met_file_id) from marts.publicatie").fetchone() == (late_id,)
        assert conn.execute(
            "select count(*) > 0 from build_intermediate.int_politie__incident_versies where file_id = %s", (late_id,)
        ).fetchone() == (True,)


def test_a_file_of_any_feed_loaded_after_the_window_was_fixed_reaches_none_of_the_builds_models(
    published_db: str,
) -> None:
    """The staging views that read a raw table whole stop at the build's delivery window too (a literal, read
    when each view is built), so an insurer file loaded after the window was fixed is in none of the build's
    models; the next build takes it in."""
    from explosion_monitor import transform
    from explosion_monitor.orchestration import steps

    late = wap.sample_files()[10]
    assert late.feed == "verzekeraars"
    home = str(wap.REAL_SETTINGS.root)
    impact = "select * from build.schade_en_woningimpact_per_gemeente order by gemeente_code, jaar"
    with connect(published_db) as conn:
        before = conn.execute(impact).fetchall()
    assert [o.status for o in wap.deliver(published_db, [late])] == ["loaded"]
    with connect(published_db) as conn:
        late_id = conn.execute("select max(file_id) from ops.ledger").fetchone()[0]
    # the rest of a build whose window was fixed before the file was loaded: its window model is not rebuilt
    with wap.environment(WAREHOUSE_URL=published_db, EXPLOSION_MONITOR_HOME=home):
        transform.build(url=published_db, select=["source:verzekeraars+", "--exclude", transform.WINDOW_MODEL])
    with connect(published_db) as conn:
        assert conn.execute(
            "select count(*) from build_staging.stg_verzekeraars__claims where file_id = %s", (late_id,)
        ).fetchone() == (0,)
        assert conn.execute(impact).fetchall() == before
    with wap.environment(WAREHOUSE_URL=published_db, EXPLOSION_MONITOR_HOME=home):
        steps.run_build({"select": ["source:verzekeraars+"], "feeds": ["verzekeraars"]})
    with connect(published_db) as conn:
        assert conn.execute(
            "select count(*) > 0 from build_staging.stg_verzekeraars__claims where file_id = %s", (late_id,)
        ).fetchone() == (True,)
        assert conn.execute(impact).fetchall() != before


def partial_build(url: str) -> None:
    """The warehouse DAG's build after a police drop: the police lineage and the window, nothing else. The
    staging views must survive it (the ledger's depends on the window, which is never re-created)."""
    from explosion_monitor.orchestration import steps

    with wap.environment(WAREHOUSE_URL=url, EXPLOSION_MONITOR_HOME=str(wap.REAL_SETTINGS.root)):
        result = steps.run_build({"select": ["source:politie+"], "feeds": ["politie"]})
    assert result["nodes"] < 200, result  # a partial build indeed
    with connect(url) as conn:
        for view in ("stg_ops__leveringen", "stg_verzekeraars__claims", "stg_corporaties__meldingen"):
            assert conn.execute("select to_regclass(%s)", (f"build_staging.{view}",)).fetchone()[0], view


def steps_unpublished(url: str) -> set[str]:
    """The feeds the warehouse DAG would add to its next build (files loaded after the publication)."""
    from explosion_monitor.orchestration import steps

    with wap.environment(WAREHOUSE_URL=url):
        return steps.unpublished_feeds()
