"""The DAGs and their steps against a real PostgreSQL and real buckets.

- dag.test() of `ingest_politie` on a good and a bad file, and of `warehouse` (published, and blocked);
- reconciliation of missed files; reingest after a fix; rebuild from the archive equals the live marts;
- the notifier's channels (log, a real webhook server, e-mail through Airflow's SMTP provider to a real
  SMTP listener) and the failure callback.

dag.test() costs seconds, dbt builds more: these tests share one migrated Airflow database
(tests/airflow_harness.py) and keep builds few.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socketserver
import threading
import types
from collections.abc import Iterator
from typing import ClassVar

import airflow_harness
import psycopg
import pytest
from partner_files import csv_bytes, politie_row

pytestmark = pytest.mark.timeout(600)

CONTACT = "politie-contact@example.nl"


@pytest.fixture(scope="module", autouse=True)
def airflow_db() -> None:
    airflow_harness.configure()
    airflow_harness.migrate()


@pytest.fixture(autouse=True)
def _contacts(monkeypatch):
    monkeypatch.setenv("EXPLOSION_MONITOR_CONTACT_POLITIE", CONTACT)
    monkeypatch.setenv("EXPLOSION_MONITOR_ALERT_EMAIL", "data@example.nl")
    monkeypatch.setenv("EXPLOSION_MONITOR_NOTIFIER", "log")


@pytest.fixture
def publish_module() -> types.ModuleType:
    import explosion_monitor.publish as publish

    return publish


# --- helpers ------------------------------------------------------------------------------------------------


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _good(n: int, start: int = 1, peildatum: str = "2025-01-15") -> bytes:
    return csv_bytes([politie_row(i, peildatum=peildatum) for i in range(start, start + n)])


def _bad() -> bytes:
    return csv_bytes([politie_row(1), politie_row(2, gemeente_code="GM9999"), politie_row(3, doelwit="raket")])


def _asset_events(asset_name: str, run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == asset_name, AssetEvent.source_run_id == run_id)
        ).all()
        return [dict(e.extra or {}) for e in events]


def _task_states(dag_run) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}


# --- ingest -------------------------------------------------------------------------------------------------


def test_ingest_dag_loads_the_good_file_and_quarantines_the_bad(warehouse_url, local_buckets):
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration.dag_factory import ingest_dag

    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("goed.csv", _good(20))
    bucket.put_incoming("fout.csv", _bad())

    dag = ingest_dag("politie")
    dr = dag.test(run_conf={"keys": ["goed.csv", "fout.csv"]})

    assert str(dr.state) == "success", _task_states(dr)
    ledger = dict(_rows(warehouse_url, "select object_key, status from ops.ledger"))
    assert ledger == {"goed.csv": "loaded", "fout.csv": "quarantined"}
    assert _rows(warehouse_url, "select count(*) from raw.politie") == [(20,)]
    assert bucket.list_incoming() == []
    [(reasons,)] = _rows(warehouse_url, "select message from ops.ledger where status = 'quarantined'")
    assert "GM9999" in reasons or "line" in reasons
    # The partner hears of the refusal, addressed to their contact.
    notes = _rows(warehouse_url, "select kind, recipients, subject from ops.notifications")
    assert [(k, r) for k, r, _ in notes] == [("quarantine", [CONTACT])]
    assert "fout.csv" in notes[0][2]
    # One raw event, for the loaded file only: it schedules the warehouse DAG.
    events = _asset_events("raw.politie", dr.run_id)
    assert len(events) == 1 and events[0]["rows"] == 20 and len(events[0]["file_ids"]) == 1


def test_coalesced_events_each_key_once():
    from explosion_monitor.orchestration.steps import event_payloads

    def ev(key, modified="2025-01-01T00:00:00+00:00", feed="politie"):
        return types.SimpleNamespace(
            extra={
                "from_trigger": True,
                "payload": {"feed": feed, "key": key, "size": 1, "modified": modified, "url": "", "claim_id": 1},
            }
        )

    events = {
        "incoming.politie": [
            ev("b.csv", "2025-01-02T00:00:00+00:00"),
            ev("a.csv"),
            ev("a.csv"),
            ev("x.csv", feed="verzekeraars"),
        ]
    }
    assert [p["key"] for p in event_payloads(events, "politie")] == ["a.csv", "b.csv"]
    assert event_payloads(None, "politie") == []


def test_raw_event_counts_what_an_earlier_attempt_of_the_run_loaded(warehouse_url, local_buckets):
    """A retried ingest task finds its files gone from incoming/; the ledger still knows this run loaded them."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import steps

    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("a.csv", _good(4))
    first_try = steps.ingest_keys("politie", [{"key": "a.csv"}], run_id="run-1")
    retry = steps.ingest_keys("politie", [{"key": "a.csv"}], run_id="run-1")
    assert [o["status"] for o in first_try + retry] == ["loaded", "gone"]
    assert steps.raw_event_extra("politie", retry) is None
    extra = steps.raw_event_extra("politie", retry, run_id="run-1")
    assert extra == {"feed": "politie", "file_ids": [first_try[0]["file_id"]], "rows": 4, "full_refresh": False}


def test_ingest_run_also_takes_claimed_files_whose_event_it_missed(warehouse_url, local_buckets):
    """In a burst Airflow can create a run between two events and drop the second: the next run of the feed
    takes every file a watcher claimed that is still waiting; unclaimed (unsettled) files are left alone."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import steps, store

    bucket = get_bucket("politie")
    bucket.ensure()
    announced = bucket.put_incoming("a.csv", _good(2))
    lost = bucket.put_incoming("b.csv", _good(3, start=10))
    bucket.put_incoming("c.csv", _good(4, start=20))  # not claimed: may still be being written
    with store.connect() as conn:
        for obj in (announced, lost):
            store.claim(conn, "politie", obj.name, obj.size, obj.modified, via="watcher", by="t")
    outcomes = steps.ingest_keys("politie", [{"key": "a.csv"}], run_id="run-1")
    assert [(o["name"], o["status"], o["rows"]) for o in outcomes] == [("a.csv", "loaded", 2), ("b.csv", "loaded", 3)]
    assert [o.name for o in bucket.list_incoming()] == ["c.csv"]
    extra = steps.raw_event_extra("politie", outcomes, run_id="run-1")
    assert extra["rows"] == 5 and len(extra["file_ids"]) == 2
    # its arrival is the claim's time (the watcher's first sighting went with the lost event)
    [(arrived, claimed)] = _rows(
        warehouse_url,
        "select l.arrived_at, c.claimed_at from ops.ledger l join "
        "ops.drop_claims c on c.object_key = l.object_key "
        "where l.object_key like %s",
        ("%b.csv",),
    )
    assert arrived == claimed
    # a second run finds nothing more to sweep, and loads nothing twice
    assert steps.ingest_keys("politie", [{"key": "a.csv"}], run_id="run-2")[0]["status"] == "gone"
    assert _rows(warehouse_url, "select count(*) from raw.politie") == [(5,)]


def test_plan_builds_every_feed_with_unpublished_files(warehouse_url, local_buckets):
    """A lost raw event strands no feed: a build triggered by one feed also builds the others with files loaded
    after the current publication."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import steps

    assert steps.unpublished_feeds() == set()
    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("a.csv", _good(2))
    steps.ingest_keys("politie", [{"key": "a.csv"}], run_id="run-1")
    assert steps.unpublished_feeds() == {"politie"}
    plan = steps.plan_build([{"feed": "verzekeraars", "file_ids": [9]}])
    assert plan["feeds"] == ["politie", "verzekeraars"]
    # a run without raw events (manual) keeps its own plan: everything
    assert steps.plan_build([])["feeds"] == []


def test_reconcile_processes_only_missed_files(warehouse_url, local_buckets):
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import steps, store

    bucket = get_bucket("politie")
    bucket.ensure()
    missed = bucket.put_incoming("gemist.csv", _good(3))
    announced = bucket.put_incoming("onderweg.csv", _good(3, start=10))
    with store.connect() as conn:
        store.claim(conn, "politie", announced.name, announced.size, announced.modified, via="watcher", by="t")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=steps.RECONCILE_GRACE_S + 5)

    # An unclaimed, stable file is processed at once (how long it lay there is not told by its own timestamp,
    # contract v2); one announced just now is left to its ingest run, which may still be on its way.
    early = steps.reconcile(["politie"], now=dt.datetime.now(dt.UTC))
    assert [(o["name"], o["status"]) for o in early] == [("gemist.csv", "loaded")]
    # Ten minutes on, the announced one too (its event was lost).
    outcomes = steps.reconcile(["politie"], now=later)
    assert [(o["name"], o["status"]) for o in outcomes] == [("onderweg.csv", "loaded")]
    claims = dict(_rows(warehouse_url, "select object_key, via from ops.drop_claims"))
    assert claims == {"gemist.csv": "reconcile", "onderweg.csv": "watcher"}
    assert missed.name not in [o.name for o in bucket.list_incoming()]
    assert steps.reconcile(["politie"], now=later) == []


# --- warehouse ----------------------------------------------------------------------------------------------


def test_warehouse_dag_builds_gates_and_publishes(warehouse_url, local_buckets, publish_module, monkeypatch):
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import steps
    from explosion_monitor.orchestration.dag_factory import warehouse_dag

    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("a.csv", _good(30))
    steps.ingest_keys("politie", [{"key": "a.csv"}], run_id="test")

    dr = warehouse_dag().test()
    assert str(dr.state) == "success", _task_states(dr)
    assert _rows(warehouse_url, "select count(*) > 50 from ops.dbt_run_results") == [(True,)]
    [(count,)] = _rows(
        warehouse_url, "select aanslagen from marts.target_progress where niveau = 'land' and jaar = 2024"
    )
    assert count == 30
    assert len(_asset_events("marts", dr.run_id)) == 1
    assert _task_states(dr) == {
        "dbt_build": "success",
        "blocking_checks": "success",
        "warning_checks": "success",
        "publish": "success",
        "record_blocked": "skipped",
        "data_docs": "success",
    }
    # The GX tasks leave their Data Docs to the last task: this run's results of both levels are rendered there.
    from explosion_monitor import quality
    from explosion_monitor.config import get_settings

    site = quality.gx_root(get_settings()) / "gx" / "uncommitted" / "data_docs" / "local_site" / "validations"
    for suite in ("target_progress", "reconciliatie_landelijk"):
        assert list((site / suite).rglob("*.html")), suite
    [(outcome, through)] = _rows(
        warehouse_url,
        "select l.outcome, p.tot_en_met_file_id from ops.publication_log l "
        "join marts.publicatie p on p.publicatie_id = l.publication_id "
        "where l.run_id = %s",
        (dr.run_id,),
    )
    assert outcome == "published" and through >= 1

    # The next drop touches only politie: a partial build of source:politie+ on the healthy build schema ...
    plan = steps.plan_build([{"feed": "politie", "file_ids": [2]}])
    assert plan["select"] == ["source:politie+"] and not plan["full_refresh"]
    assert steps.plan_build([{"feed": "politie", "full_refresh": True}])["full_refresh"] is True
    # ... unless the dbt project changed since the last complete build (a deploy): then everything again.
    monkeypatch.setattr(steps, "project_version", lambda settings=None: "another version")
    assert steps.plan_build([{"feed": "politie", "file_ids": [2]}])["select"] is None


def test_warehouse_dag_blocked_gate_keeps_marts_and_notifies(warehouse_url, publish_module, monkeypatch):
    """A failed blocking suite: the GX task fails (GXValidationFailed, no retry), the block is logged in
    ops.publication_log, the failure recorded, the engineers told, the marts unchanged; warnings never fail."""
    from explosion_monitor import quality
    from explosion_monitor.orchestration import dag_factory
    from explosion_monitor.orchestration.dag_factory import warehouse_dag

    failure = quality.CheckFailure(
        "target_progress",
        "doel_niet_negatief",
        "aanslagen",
        "expect_column_values_to_be_between: 1 of 10 rows",
        [{"aanslagen": -3}],
    )

    class FailingCheckpoint:
        name = "blocking"

        def run(self, **kwargs):
            return quality.GateRun(
                [quality.SuiteResult("target_progress", quality.BLOCKING, [failure], None, quality.Window(0, 1))],
                quality.Window(0, 1),
            )

    monkeypatch.setattr(dag_factory, "_blocking_checkpoint", lambda context: FailingCheckpoint())
    dr = warehouse_dag().test(mark_success_pattern="dbt_build")
    assert str(dr.state) == "failed"
    states = _task_states(dr)
    assert states == {
        "dbt_build": "success",
        "blocking_checks": "failed",
        "warning_checks": "success",
        "publish": "upstream_failed",
        "record_blocked": "success",
        "data_docs": "success",
    }
    failures = _rows(warehouse_url, "select task_id, kind, message from ops.pipeline_failures order by failure_id")
    assert failures[0][:2] == ("blocking_checks", "publication_failed")
    assert "GXValidationFailed" in failures[0][2]
    [(outcome, message, failed)] = _rows(
        warehouse_url,
        "select outcome, message, failed_checks from ops.publication_log where run_id = %s",
        (dr.run_id,),
    )
    assert outcome == "blocked" and "doel_niet_negatief" in message
    assert failed[0]["sample_rows"] == [{"aanslagen": -3}]
    notes = _rows(warehouse_url, "select kind, recipients from ops.notifications")
    assert notes == [("publication_failed", ["data@example.nl"])]
    assert _rows(warehouse_url, "select to_regclass('marts.target_progress')") == [(None,)]


# --- reingest and rebuild -----------------------------------------------------------------------------------


def test_reingest_after_a_fix(warehouse_url, local_buckets):
    """Quarantined for an unknown municipality; the reference data is fixed; reingest loads it."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import reingest, steps

    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("nieuw.csv", csv_bytes([politie_row(1, gemeente_code="GM9999")]))
    [first] = steps.ingest_keys("politie", [{"key": "nieuw.csv"}], notify_partner=False)
    assert first["status"] == "quarantined"

    with pytest.raises(reingest.ReingestError, match="belongs to feed politie"):
        reingest.reingest("verzekeraars", first["file_id"])
    _rows(warehouse_url, "insert into ref.gemeente_codes values ('GM9999', 'Nieuwegemeente', null, null) returning 1")
    result = reingest.reingest("politie", first["file_id"], run_id="test")
    assert result["outcome"]["status"] == "loaded" and result["full_refresh"] is False
    ledger = _rows(warehouse_url, "select file_id, status from ops.ledger order by file_id")
    assert ledger == [(first["file_id"], "reingested"), (result["outcome"]["file_id"], "loaded")]
    assert [o.name for o in bucket.list_quarantine()] == ["nieuw.csv"]  # the refused copy stays

    # An archived file: its rows are replaced (not doubled), the warehouse must fully refresh.
    again = reingest.reingest("politie", result["outcome"]["file_id"])
    assert again["full_refresh"] is True and again["raw_rows_removed"] == 1
    assert again["outcome"]["status"] == "loaded"
    assert _rows(warehouse_url, "select count(*) from raw.politie") == [(1,)]
    with pytest.raises(reingest.ReingestError, match="not archived or quarantined"):
        reingest.reingest("politie", result["outcome"]["file_id"])  # now 'reingested' itself


@pytest.mark.slow  # over 50 s: make test-slow (CI keeps make test under 30 min)
def test_rebuild_replays_the_archive_and_equals_the_marts(
    warehouse_url, local_buckets, publish_module, pg_admin_url, record_property
):
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import rebuild, steps

    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("jan.csv", _good(15))
    bucket.put_incoming("feb.csv", _good(10, start=5, peildatum="2025-02-15"))  # revises 5..14, adds 15..19
    bucket.put_incoming("fout.csv", _bad())
    steps.ingest_keys("politie", [], notify_partner=False)
    steps.run_build({"select": None})
    steps.gate_and_publish("live")

    database = "em_rebuild_" + warehouse_url.rsplit("_", 1)[-1]
    try:
        result = rebuild.run(database=database, run_id="test-rebuild")
        assert result["replayed"] == {"files": 2, "rows": 25}
        record_property("rebuild_match", int(result["compare"]["equal"]))  # read by bench/reliability
        assert result["compare"]["equal"], result["compare"]["differences"]
        assert result["compare"]["tables"]["marts.target_progress"]["rows_live"] > 0
        target = rebuild.target_url(database=database)
        # The comparison does see a difference in a business column.
        _rows(target, "update marts.target_progress set aanslagen = aanslagen + 1 where niveau = 'land' returning 1")
        changed = rebuild.compare(rebuild.current_url(), target)
        assert not changed["equal"] and "marts.target_progress" in changed["differences"][0]
        with pytest.raises(rebuild.RebuildError, match="live warehouse"):
            rebuild.target_url(database=warehouse_url.rsplit("/", 1)[-1])
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{database}" with (force)')


def test_retention_dag_purges_what_the_period_no_longer_needs_and_asks_for_a_full_refresh(
    warehouse_url, local_buckets, monkeypatch
):

    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import steps
    from explosion_monitor.orchestration.maintenance_dags import retention_dag

    bucket = get_bucket("politie")
    bucket.ensure()
    # An extract delivered in January 2025 about 2024, and one delivered today.
    bucket.put_incoming("januari-2025.csv", _good(3))
    bucket.put_incoming("vandaag.csv", _good(2, start=10))
    # Arrival is when the watcher first saw a file (its payload's seen_at), not the file's own time.
    steps.ingest_keys(
        "politie",
        [{"key": "januari-2025.csv", "seen_at": "2025-01-20T00:00:00+00:00"}, {"key": "vandaag.csv"}],
        notify_partner=False,
    )
    # 300 days: the period starts in 2026, so the 2024 incidents of the old extract lie before it.
    monkeypatch.setenv("EXPLOSION_MONITOR_RETENTION_DAYS", "300")

    dry = retention_dag().test(run_conf={"dry_run": True})
    assert str(dry.state) == "success", _task_states(dry)
    assert _rows(warehouse_url, "select count(*) from raw.politie") == [(5,)]
    assert _asset_events("raw.politie", dry.run_id) == []

    dr = retention_dag().test()
    assert str(dr.state) == "success", _task_states(dr)
    assert _rows(warehouse_url, "select incident_id from raw.politie order by 1") == [("PL-10",), ("PL-11",)]
    assert _rows(warehouse_url, "select object_key, reason, rows_removed, objects_removed from ops.purge_log") == [
        ("januari-2025.csv", "before_period", 3, 1)
    ]
    assert [o.name for o in bucket.list_archive()] == ["vandaag.csv"]
    [event] = _asset_events("raw.politie", dr.run_id)
    assert event["full_refresh"] is True
    plan = steps.plan_build([])  # whatever triggers the next warehouse run: a full refresh
    assert plan["full_refresh"] is True and "purge" in plan["reason"]


# --- notifications and callbacks ----------------------------------------------------------------------------


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive a message."""

    messages: ClassVar[list] = []

    def handle(self):
        self.wfile.write(b"220 sink\r\n")
        data, lines = False, []
        while line := self.rfile.readline():
            if data:
                if line.rstrip(b"\r\n") == b".":
                    type(self).messages.append(b"".join(lines).decode())
                    data, lines = False, []
                    self.wfile.write(b"250 queued\r\n")
                else:
                    lines.append(line)
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = True
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def server() -> Iterator:
    started = []

    def start(handler, kind):
        srv = kind(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return srv.server_address[1]

    yield start
    for srv in started:
        srv.shutdown()
        srv.server_close()


def test_notifier_channels(warehouse_url, server, monkeypatch, caplog):
    from explosion_monitor.orchestration import notify

    outcome = types.SimpleNamespace(
        name="fout.csv",
        errors=2,
        message="line 3, doelwit: 'raket'",
        report_url="file:///q/1/fout.csv.rapport.txt",
        final_url=None,
        file_id=1,
    )
    note = notify.quarantined("politie", outcome)
    assert note.recipients == (CONTACT,)

    with caplog.at_level("WARNING", logger="explosion_monitor.notify"):
        assert notify.notify(note)
    assert "fout.csv" in caplog.text

    port = server(_Webhook, http.server.ThreadingHTTPServer)
    monkeypatch.setenv("EXPLOSION_MONITOR_NOTIFIER", "webhook")
    monkeypatch.setenv("EXPLOSION_MONITOR_WEBHOOK_URL", f"http://127.0.0.1:{port}/hook")
    assert notify.notify(note)
    assert _Webhook.received[-1]["kind"] == "quarantine" and _Webhook.received[-1]["recipients"] == [CONTACT]

    port = server(_SmtpSink, socketserver.ThreadingTCPServer)
    monkeypatch.setenv("EXPLOSION_MONITOR_NOTIFIER", "email")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {
                    "disable_tls": True,
                    "disable_ssl": True,
                    "from_email": "pipeline@example.nl",
                    "retry_limit": 0,
                },
            }
        ),
    )
    assert notify.notify(note)
    assert CONTACT in _SmtpSink.messages[-1] and "fout.csv" in _SmtpSink.messages[-1]

    # A broken channel never breaks the pipeline: logged instead, recorded as undelivered.
    monkeypatch.setenv("EXPLOSION_MONITOR_WEBHOOK_URL", "http://127.0.0.1:9/nothing")
    monkeypatch.setenv("EXPLOSION_MONITOR_NOTIFIER", "webhook")
    assert notify.notify(note) is False
    delivered = _rows(warehouse_url, "select channel, delivered from ops.notifications order by notification_id")
    assert delivered == [("log", True), ("webhook", True), ("email", True), ("webhook", False)]


def test_partner_late_from_source_freshness(warehouse_url, monkeypatch):
    from explosion_monitor import transform
    from explosion_monitor.orchestration import steps

    old = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(
        transform,
        "source_freshness",
        lambda settings=None, url=None: {
            "politie.incidenten": {"status": "error", "max_loaded_at": old, "age_s": 90 * 86400, "error": None},
            "verzekeraars.claims": {"status": "pass", "max_loaded_at": old, "age_s": 10, "error": None},
        },
    )
    report = steps.check_partner_freshness()
    assert report["politie.incidenten"]["status"] == "error"
    notes = _rows(warehouse_url, "select kind, feed, recipients, body from ops.notifications")
    assert [(k, f, r) for k, f, r, _ in notes] == [("partner_late", "politie", [CONTACT])]
    assert "90 days" in notes[0][3]


def test_failure_callback_records_and_notifies(warehouse_url):
    from explosion_monitor.orchestration.dag_factory import run_failed, task_failed

    ti = types.SimpleNamespace(dag_id="ingest_politie", task_id="ingest", run_id="r1", try_number=3)
    task_failed({"ti": ti, "exception": RuntimeError("S3 unreachable")})
    run_failed({"dag_run": types.SimpleNamespace(dag_id="ingest_politie", run_id="r1"), "reason": "task_failure"})
    run_failed({"dag_run": types.SimpleNamespace(dag_id="rebuild", run_id="r2"), "reason": "timed_out"})
    failures = _rows(
        warehouse_url, "select dag_id, task_id, kind, message from ops.pipeline_failures order by failure_id"
    )
    assert failures == [
        ("ingest_politie", "ingest", "task_failed", "RuntimeError: S3 unreachable"),
        ("ingest_politie", None, "run_failed", "run failed: task_failure"),
        ("rebuild", None, "run_failed", "run failed: timed_out"),
    ]
    assert [k for (k,) in _rows(warehouse_url, "select kind from ops.notifications order by 1")] == [
        "run_failed",
        "task_failed",
    ]


class _Inbox:
    """aiosmtpd handler: every message the local SMTP server accepted, with its envelope."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_inbox(monkeypatch) -> Iterator[_Inbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 behind Airflow's smtp_default connection."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("EXPLOSION_MONITOR_NOTIFIER", "email")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "pipeline@example.nl", "retry_limit": 0},
    }))  # fmt: skip
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.mark.parametrize("name", [
    "evil.csv\nBcc: attacker@example.com\n\nPlease send your files to attacker@example.com",
    "evil.csv\r\nSubject: forged\r\nX-Evil: 1.csv",
    "esc\x1b[31mrood\x07\tnaam\u2028regel\u202ecsv.txt",
])  # fmt: skip
def test_quarantine_mail_with_control_characters_in_the_name(warehouse_url, local_buckets, smtp_inbox, name):
    """A refused file whose name carries newlines or control characters: the partner still gets one intact mail
    through the real SMTP path, with no header injected and no line forged in the body."""
    import email
    from email import policy

    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.pending import ingest_pending
    from explosion_monitor.orchestration import notify

    get_bucket("politie").put_incoming(name, b"dit is geen csv\x00\x01")
    (outcome,) = ingest_pending(["politie"])
    assert outcome.status == "quarantined" and outcome.name == name
    assert notify.notify(notify.quarantined("politie", outcome), record=False)

    (envelope,) = smtp_inbox.envelopes
    assert envelope.rcpt_tos == [CONTACT]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    headers = [k.lower() for k in message.keys()]  # noqa: SIM118 (an email message, no dict: keys() lists repeats)
    assert sorted(set(headers)) == sorted(headers)  # no header twice (a forged Subject)
    assert not {"bcc", "x-evil"} & set(headers)
    assert message["To"] == CONTACT
    subject = str(message["Subject"])
    assert "\n" not in subject and "\r" not in subject
    assert subject == f"Bestand geweigerd / file refused: {notify.printable(name)} (politie)"
    body = message.get_body(("html", "plain")).get_content()
    assert notify.printable(name) in body.replace("&#x27;", "'")
    lines = body.strip().splitlines()  # the two lines the message has, Dutch and English: none forged
    assert len(lines) == 2 and lines[0].startswith("<pre>Uw bestand ") and lines[1].startswith("Your file "), lines
    assert not any(ch in body for ch in "\x1b\x07\u2028\u202e")
