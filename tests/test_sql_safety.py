"""SQL is never built from file names, header text or cell values: hostile drops prove it on a real server.

Partners choose file names, header names and cell values; all of them reach PostgreSQL only as data (bind
parameters or COPY rows), never as SQL text. The test drops files named like SQL injections (quotes,
semicolons, comments, dollar quotes, backslashes, newlines), a header with extra columns named like SQL and
cell values that are SQL, runs the real loader (`ingest_pending`) and checks that:

* every drop gets its normal outcome under the contract (loaded with a warning for unknown columns, or
  quarantined for a bad cell), the names and values are stored verbatim as data, and every table still exists;
* the server itself saw none of it as SQL: statement logging (`log_statement = 'all'`) is switched on for the
  test's database only, and in the embedded server's log (`<data directory>/server.log`) every hostile text
  (each carries a unique marker) appears only in `DETAIL: Parameters:` entries, never in a statement's text
  (`statement:`, `execute ...:`, `STATEMENT:` or an `SQL statement` context).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from partner_files import (
    POLITIE_COLUMNS,
    VERZEKERAARS_COLUMNS,
    claim_row,
    csv_bytes,
    politie_row,
)
from psycopg import sql

from explosion_monitor.buckets import get_bucket
from explosion_monitor.config import FEEDS
from explosion_monitor.ingest.pending import ingest_pending

pytestmark = pytest.mark.timeout(120)

MARKER = "zq" + secrets.token_hex(4)  # unique per run: finds our text in a server log other tests write to too


def m(tag: str) -> str:
    return f"{MARKER}{tag}"


@dataclass
class Drop:
    feed: str
    name: str
    data: bytes
    status: str
    markers: tuple[str, ...]


def hostile_drops() -> list[Drop]:
    good = csv_bytes([politie_row(1)], POLITIE_COLUMNS)
    sql_header = [
        *POLITIE_COLUMNS,
        f'incident_id"; drop table ops.ledger; --{m("hdr1")}',
        f"{m('hdr2')}'); truncate raw.politie; --",
        f"$${m('hdr3')}$$",
    ]
    sql_cells = [
        politie_row(10, incident_id=f"';drop table ops.ledger--{m('cel1')}"),
        politie_row(11, incident_id=f'"{m("cel2")}");select pg_sleep(5)--'),
    ]
    bad_cell = [politie_row(20), politie_row(21, gewonden=f"1; delete from ops.file_findings; --{m('cel3')}")]
    return [
        Drop("politie", f"x'; drop table raw.politie; --{m('n1')}.csv", good, "loaded", (m("n1"),)),
        Drop(
            "politie",
            f'"; select pg_sleep(5); --{m("n2")}.csv',
            csv_bytes([politie_row(2)], POLITIE_COLUMNS),
            "loaded",
            (m("n2"),),
        ),
        Drop("politie", f"$${m('n3')}$$.csv", csv_bytes([politie_row(3)], POLITIE_COLUMNS), "loaded", (m("n3"),)),
        Drop(
            "politie",
            f"regel\n{m('n4')}'); delete from ops.ledger; --\r.csv",
            csv_bytes([politie_row(4)], POLITIE_COLUMNS),
            "loaded",
            (m("n4"),),
        ),
        Drop(
            "politie",
            f"{m('n5')}\\'; E'\\\\x27 $tag$ drop schema raw cascade $tag$.csv",
            csv_bytes([politie_row(5)], POLITIE_COLUMNS),
            "loaded",
            (m("n5"),),
        ),
        Drop(
            "politie",
            f"kolommen-{m('n6')}.csv",
            csv_bytes([politie_row(6)], sql_header),
            "loaded",
            (m("n6"), m("hdr1"), m("hdr2"), m("hdr3")),
        ),
        # Contract v2: such identifiers are row errors; their text reaches the server as findings, as data.
        Drop(
            "politie",
            f"cellen-{m('n7')}.csv",
            csv_bytes(sql_cells, POLITIE_COLUMNS),
            "quarantined",
            (m("n7"), m("cel1"), m("cel2")),
        ),
        Drop(
            "politie", f"fout'-{m('n8')}.csv", csv_bytes(bad_cell, POLITIE_COLUMNS), "quarantined", (m("n8"), m("cel3"))
        ),
        Drop(
            "verzekeraars",
            f"'||(select pg_sleep(5))||'{m('n9')}.csv",
            csv_bytes([claim_row(1)], VERZEKERAARS_COLUMNS),
            "loaded",
            (m("n9"),),
        ),
    ]


# --- the server log ------------------------------------------------------------------------------------------------

_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[\d+\] ([A-Z]+):  ", re.M)
_STATEMENT_TEXT = re.compile(r"(?:duration: [\d.]+ ms\s+)?(?:statement|execute [^:]*|parse [^:]*|bind [^:]*): ")


def log_entries(text: str) -> list[tuple[str, str]]:
    """(level, message) of every entry; a message runs on over the following lines until the next entry."""
    starts = list(_ENTRY.finditer(text))
    return [
        (s.group(1), text[s.end() : starts[i + 1].start() if i + 1 < len(starts) else len(text)])
        for i, s in enumerate(starts)
    ]


def is_sql_text(level: str, message: str) -> bool:
    return (
        (level == "LOG" and _STATEMENT_TEXT.match(message) is not None)
        or level == "STATEMENT"
        or (level == "CONTEXT" and "SQL statement" in message)
    )


def test_log_parser_tells_statements_from_parameters() -> None:
    text = (
        "2026-01-01 10:00:00.000 UTC [1] LOG:  execute <unnamed>: insert into t values ($1)\n"
        "2026-01-01 10:00:00.000 UTC [1] DETAIL:  parameters: $1 = 'a\n\tb'\n"
        "2026-01-01 10:00:00.001 UTC [1] LOG:  statement: select 1\n"
        "2026-01-01 10:00:00.002 UTC [1] ERROR:  boom\n"
        "2026-01-01 10:00:00.002 UTC [1] STATEMENT:  select\n\tx\n"
    )
    entries = log_entries(text)
    assert [level for level, _ in entries] == ["LOG", "DETAIL", "LOG", "ERROR", "STATEMENT"]
    assert entries[1][1] == "parameters: $1 = 'a\n\tb'\n"
    assert [is_sql_text(*e) for e in entries] == [True, False, True, False, True]


# --- the test ------------------------------------------------------------------------------------------------------


def _server_log(conn: psycopg.Connection) -> Path:
    data_dir = Path(conn.execute("select current_setting('data_directory')").fetchone()[0])
    log = data_dir / "server.log"  # pg_ctl -l, see warehouse._pg_ctl_start
    if not log.is_file():
        pytest.fail(f"The embedded server's log {log} is not readable by this user; run the tests as its owner.")
    return log


def test_hostile_names_headers_and_cells_reach_the_server_only_as_data(
    warehouse_url: str, local_buckets: str, db: psycopg.Connection
) -> None:
    dbname = urlsplit(warehouse_url).path.strip("/")
    log = _server_log(db)
    db.execute(sql.SQL("alter database {} set log_statement = 'all'").format(sql.Identifier(dbname)))
    db.execute(sql.SQL("alter database {} set log_parameter_max_length = -1").format(sql.Identifier(dbname)))
    drops = hostile_drops()
    for drop in drops:
        bucket = get_bucket(drop.feed)
        bucket.ensure()
        bucket.put_incoming(drop.name, drop.data)
    offset = log.stat().st_size

    started = time.monotonic()
    outcomes = ingest_pending(list(FEEDS))  # new connections: they log every statement
    elapsed = time.monotonic() - started

    # Normal outcomes, per contract.
    assert sorted((o.name, o.status) for o in outcomes) == sorted((d.name, d.status) for d in drops)
    loaded = {o.name: o for o in outcomes if o.status == "loaded"}
    assert any("unknown columns ignored" in (o.message or "") for o in loaded.values())
    # Every table is still there, and the texts are stored verbatim, as data.
    for table in (
        "raw.politie",
        "raw.verzekeraars",
        "raw.corporaties",
        "ops.ledger",
        "ops.file_findings",
        "ops.publication_log",
        "ops.dbt_run_results",
        "ref.gemeente_codes",
    ):
        assert db.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0], table
    keys = {r[0] for r in db.execute("select object_key from ops.ledger").fetchall()}
    assert keys == {d.name for d in drops}
    assert db.execute("select count(*) from raw.politie").fetchone()[0] == 6  # 6 loaded files of one row
    values = {r[0] for r in db.execute("select value from ops.file_findings").fetchall()}
    assert f"1; delete from ops.file_findings; --{m('cel3')}" in values
    assert {f"';drop table ops.ledger--{m('cel1')}", f'"{m("cel2")}");select pg_sleep(5)--'} <= values
    assert db.execute("select count(*) from ref.gemeente_codes").fetchone()[0] > 300
    assert elapsed < 60

    # A canary: a text composed into SQL on the client (as building SQL from a name would) must be caught.
    canary = m("canary")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(sql.SQL("select {}").format(sql.Literal(f"{canary}.csv")))

    # What the server saw.
    time.sleep(0.2)  # the log is written by the backends themselves; give the last lines a moment
    with open(log, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", errors="replace")
    ours = [(level, message) for level, message in log_entries(text) if MARKER in message]
    assert ours, f"no entry of this run in {log}: is log_statement honoured?"
    statements = [(level, message) for level, message in log_entries(text) if is_sql_text(level, message)]
    assert any("insert into ops.ledger" in msg.lower() for _, msg in statements), "statement logging is off"
    leaked = [(level, message[:300]) for level, message in ours if is_sql_text(level, message)]
    assert [entry for entry in leaked if canary in entry[1]], "the log check would not see SQL built from a name"
    leaked = [entry for entry in leaked if canary not in entry[1]]
    assert leaked == [], "a partner's text became part of SQL"
    as_parameters = " ".join(
        message for level, message in ours if level == "DETAIL" and message.lower().startswith("parameters: ")
    )
    for drop in drops:  # each file name reached the server, as a bind parameter
        assert drop.markers[0] in as_parameters, drop.name
