"""What the DAG tasks do, as plain functions (no Airflow import), so they can be called and tested directly.

Each step calls the stage functions the CLI calls too (`ingest.load.ingest_object`, `transform.build`,
`transform.source_freshness`, `publish.gate_and_publish`) and returns JSON-friendly dicts for XCom.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from explosion_monitor.config import FEEDS, Settings, get_settings
from explosion_monitor.locks import file_lock

log = logging.getLogger(__name__)

#: Files still in incoming/ this long after they changed and were claimed are "missed" (reconciliation).
RECONCILE_GRACE_S = 300
#: dbt tests that scan the whole police history; they run in the nightly full build, not after each drop.
FULL_HISTORY_TAG = "volledige_historie"
LOADED = ("loaded", "empty")


def _outcome_dict(outcome: Any) -> dict[str, Any]:
    return dataclasses.asdict(outcome)


# --- ingest ---------------------------------------------------------------------------------------------


def event_payloads(events: Any, feed: str) -> list[dict[str, Any]]:
    """The watcher payloads for `feed` in a run's triggering asset events, one per key, oldest first.

    `events` is Airflow's `triggering_asset_events` (a mapping of asset to events, each with `.extra`), or
    any mapping/iterable of such events or of extra dicts. Coalesced events simply yield several keys.
    """
    if not events:
        return []
    groups: Iterable[Any] = events.values() if isinstance(events, Mapping) else [events]
    by_key: dict[str, dict[str, Any]] = {}
    for group in groups:
        for event in group or ():
            extra = event if isinstance(event, Mapping) else (getattr(event, "extra", None) or {})
            payload = extra.get("payload", extra)
            if isinstance(payload, Mapping) and payload.get("feed") == feed and payload.get("key"):
                by_key[str(payload["key"])] = dict(payload)
    return sorted(by_key.values(), key=lambda p: (str(p.get("modified", "")), p["key"]))


def _drop_object(bucket: Any, feed: str, payload: Mapping[str, Any]) -> Any:
    from explosion_monitor.buckets import DropObject

    try:
        modified = dt.datetime.fromisoformat(str(payload["modified"]))
        return DropObject(feed, str(payload["key"]), int(payload["size"]), modified, str(payload.get("url") or ""))
    except (KeyError, TypeError, ValueError):
        # A key without details (a manual run): whatever is in incoming/ under that name now.
        return bucket.stat_incoming(str(payload["key"])) or DropObject(
            feed, str(payload["key"]), 0, dt.datetime.now(dt.UTC), ""
        )


def _seen_at(payload: Mapping[str, Any]) -> dt.datetime | None:
    """When the watcher first saw the file (the pipeline's clock): the file's arrival."""
    try:
        return dt.datetime.fromisoformat(str(payload["seen_at"]))
    except (KeyError, TypeError, ValueError):
        return None


def ingest_keys(
    feed: str,
    payloads: Sequence[Mapping[str, Any]],
    *,
    run_id: str | None = None,
    settings: Settings | None = None,
    notify_partner: bool = True,
) -> list[dict[str, Any]]:
    """Claim, validate and load (or quarantine) each announced file; notify the partner of refusals.

    With no payloads (a manual run without keys) every file now in the feed's incoming/ is processed.
    Outcomes `busy` (another worker holds the claim) and `gone` (already processed) are normal.
    """
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.load import ingest_object
    from explosion_monitor.orchestration import notify, store

    settings = settings or get_settings()
    bucket = get_bucket(feed, settings)
    outcomes = []
    with store.connect(settings) as conn:
        if payloads:
            objects = [_drop_object(bucket, feed, p) for p in payloads]
        else:
            bucket.ensure()
            objects = bucket.list_incoming()
            for obj in objects:
                store.claim(conn, feed, obj.name, obj.size, obj.modified, via="manual", by=run_id or "manual")
        seen = {str(p.get("key")): _seen_at(p) for p in payloads or ()}
        done: set[str] = set()
        for sweep in (False, True):
            for obj in objects:
                outcome = ingest_object(conn, bucket, obj, run_id=run_id, seen_at=seen.get(obj.name))
                log.info(
                    "%s/%s: %s (%d rows, %d errors) %s",
                    feed,
                    obj.name,
                    outcome.status,
                    outcome.rows,
                    outcome.errors,
                    outcome.message,
                )
                if outcome.status == "quarantined" and notify_partner:
                    notify.notify(notify.quarantined(feed, outcome))
                outcomes.append(_outcome_dict(outcome))
                done.add(obj.name)
            if sweep or not payloads:
                break
            # Then, once, the files a watcher claimed whose event this run did not get: in a burst Airflow can
            # create a run between two events and drop the second (see the README). One round, so the raw event
            # of what this run loaded is not held back by a stream of new files (the next run takes those).
            waiting = claimed_waiting(conn, bucket, feed, exclude=done)
            objects = list(waiting)
            for obj, at in waiting.items():
                seen[obj.name] = at  # when the watcher claimed it: its arrival, as reconcile records it
                log.info(
                    "%s/%s: claimed by the watcher, its event not among this run's; ingesting it too", feed, obj.name
                )
    return outcomes


def claimed_waiting(conn: Any, bucket: Any, feed: str, *, exclude: Iterable[str] = ()) -> dict[Any, dt.datetime]:
    """Files in the feed's incoming/ whose present version was claimed (so it was stable), not in `exclude`, with
    their claim times.

    Still in incoming/ means not processed yet (processing moves a file); the ledger still guards every load.
    """
    from explosion_monitor.orchestration import store

    skip = set(exclude)
    listed = [o for o in bucket.list_incoming() if o.name not in skip]
    claims = store.claimed_at(conn, feed, [(o.name, o.size, o.modified) for o in listed])
    return {o: claims[(o.name, o.size, o.modified)] for o in listed if (o.name, o.size, o.modified) in claims}


def raw_event_extra(
    feed: str,
    outcomes: Sequence[Mapping[str, Any]],
    full_refresh: bool = False,
    *,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> dict | None:
    """The extra of the `raw.<feed>` asset event, or None when nothing reached raw (no event then).

    With `run_id`, the ledger decides: every file of the feed that this run loaded, including those loaded by
    an earlier attempt of the same task (a retry sees them as `gone` from incoming/).
    """
    loaded = {o["file_id"]: int(o["rows"]) for o in outcomes if o["feed"] == feed and o["status"] in LOADED}
    if run_id:
        from explosion_monitor.orchestration import store

        with store.connect(settings) as conn:
            rows = conn.execute(
                "select file_id, rows_loaded from ops.ledger where feed = %s and run_id = %s and status in "
                "('loaded', 'empty')",
                (feed, run_id),
            ).fetchall()
        loaded.update({file_id: int(n) for file_id, n in rows})
    if not loaded:
        return None
    return {
        "feed": feed,
        "file_ids": sorted(loaded),
        "rows": sum(loaded.values()),
        "full_refresh": bool(full_refresh),
    }


def reconcile(
    feeds: Iterable[str] = FEEDS,
    *,
    grace_s: float = RECONCILE_GRACE_S,
    run_id: str | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Process files the watchers missed: stable in incoming/ (local folders), unclaimed or claimed `grace_s` ago.

    Files still being written, or announced recently (their ingest run may be on its way), are left alone.
    A missed file is claimed first (via `reconcile`), so a watcher that sees it later stays silent.
    Then the ledger gets the final URL of files whose loader died between moving and recording them.
    """
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.intake import stable_files
    from explosion_monitor.ingest.load import ingest_object, record_unrecorded_moves
    from explosion_monitor.ingest.pending import record_unreadable
    from explosion_monitor.orchestration import notify, store

    settings = settings or get_settings()
    now = now or dt.datetime.now(dt.UTC)
    outcomes = []
    with store.connect(settings) as conn:
        buckets = {feed: get_bucket(feed, settings) for feed in feeds}
        for bucket in buckets.values():
            bucket.ensure()
            record_unreadable(conn, bucket, run_id)
        # A local file still being written is left for later: stable means two equal observations a second
        # apart, by our clock (a file's own timestamp, past or future, decides nothing). One wait for all feeds.
        seen = dt.datetime.now(dt.UTC)
        listings = stable_files([(bucket, bucket.list_incoming()) for bucket in buckets.values()])
        for (feed, bucket), objects in zip(buckets.items(), listings, strict=True):
            claims = store.claimed_at(conn, feed, [(o.name, o.size, o.modified) for o in objects])
            for obj in objects:
                at = claims.get((obj.name, obj.size, obj.modified))
                if at is not None and (now - at).total_seconds() < grace_s:
                    continue
                if at is None:
                    store.claim(conn, feed, obj.name, obj.size, obj.modified, via="reconcile", by=run_id or "reconcile")
                outcome = ingest_object(conn, bucket, obj, run_id=run_id, seen_at=at or seen)
                log.warning("Reconciled a missed file: %s/%s -> %s", feed, obj.name, outcome.status)
                if outcome.status == "quarantined":
                    notify.notify(notify.quarantined(feed, outcome))
                outcomes.append(_outcome_dict(outcome))
            for file_id in record_unrecorded_moves(conn, bucket):
                log.warning(
                    "Recorded the final place of %s file %d: its loader died right after moving it", feed, file_id
                )
    return outcomes


def dbt_lock(settings: Settings | None = None) -> contextlib.AbstractContextManager[None]:
    """One dbt invocation at a time per checkout: they share dbt_project/target (run_results, partial parse)."""
    settings = settings or get_settings()
    return file_lock(settings.dbt_project_dir / "target" / ".explosion-monitor-dbt.lock")


# --- the warehouse build --------------------------------------------------------------------------------


def raw_event_extras(events: Any) -> list[dict[str, Any]]:
    """The extras of a warehouse run's triggering `raw.<feed>` events."""
    if not events:
        return []
    groups: Iterable[Any] = events.values() if isinstance(events, Mapping) else [events]
    extras = []
    for group in groups:
        for event in group or ():
            extra = event if isinstance(event, Mapping) else (getattr(event, "extra", None) or {})
            if isinstance(extra, Mapping) and extra.get("feed") in FEEDS:
                extras.append(dict(extra))
    return extras


PROJECT_STATE_KEY = "dbt_project_sha256:{schema}"
_PROJECT_PARTS = ("models", "seeds", "macros", "tests", "snapshots", "analyses")


def project_version(settings: Settings | None = None) -> str:
    """A hash of the dbt project's sources (models, seeds, macros, tests, dbt_project.yml, selectors.yml)."""
    import hashlib

    settings = settings or get_settings()
    root = settings.dbt_project_dir
    files = [root / "dbt_project.yml", root / "selectors.yml"]
    for part in _PROJECT_PARTS:
        if (root / part).is_dir():
            files += sorted(p for p in (root / part).rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _purge_pending(settings: Settings) -> bool:
    from explosion_monitor import retention
    from explosion_monitor.orchestration import store

    with store.connect(settings) as conn:
        return retention.full_refresh_pending(conn)


def _build_is_healthy(settings: Settings, schema: str) -> bool:
    """Whether the build schema holds a complete, successful build of this very dbt project version.

    A partial build may only follow such a build: after a first, a failed, or a build of other model code
    (a deploy changed the project), everything is built again.
    """
    from explosion_monitor.orchestration import store

    with store.connect(settings) as conn:
        marts = conn.execute("select to_regclass(%s) is not null", (f"{schema}.target_progress",)).fetchone()[0]
        if not marts:
            return False
        if store.get_state(conn, PROJECT_STATE_KEY.format(schema=schema)) != project_version(settings):
            return False
        failed = conn.execute(
            """
            with last as (
                select invocation_id from ops.dbt_run_results order by generated_at desc nulls last limit 1
            )
            select count(*) from ops.dbt_run_results r join last using (invocation_id)
            where r.status in ('error', 'fail', 'runtime error')
            """
        ).fetchone()[0]
    return failed == 0


def unpublished_feeds(settings: Settings | None = None) -> set[str]:
    """Feeds with files loaded after the newest delivery of the current publication."""
    from explosion_monitor.orchestration import store

    with store.connect(settings) as conn:
        published = conn.execute("select to_regclass('marts.publicatie') is not null").fetchone()[0]
        through = (
            conn.execute("select coalesce(max(tot_en_met_file_id), 0) from marts.publicatie").fetchone()[0]
            if published
            else 0
        )
        rows = conn.execute(
            "select distinct feed from ops.ledger where status in ('loaded', 'empty') and file_id > %s",
            (through,),
        ).fetchall()
    return {feed for (feed,) in rows if feed in FEEDS}


def plan_build(
    extras: Sequence[Mapping[str, Any]],
    *,
    full_refresh: bool = False,
    settings: Settings | None = None,
    schema: str = "build",
) -> dict[str, Any]:
    """What this warehouse run builds: only what the new data touches, where that is safe.

    - triggered by raw.<feed> events, on a healthy build schema: `source:<feed>+` for the feeds that changed
      (their staging, intermediate and mart models and tests), without the full-history and unit tests;
    - otherwise (a manual run, a first or failed earlier build, a changed dbt project): `per_levering`;
    - a full refresh when asked for (manual param) or when an event says raw rows were replaced (reingest).
    """
    settings = settings or get_settings()
    feeds = sorted({e["feed"] for e in extras if e.get("feed") in FEEDS})
    if feeds:  # and every other feed with loaded files not yet published (a lost raw event strands none)
        feeds = sorted(set(feeds) | unpublished_feeds(settings))
    full_refresh = full_refresh or any(bool(e.get("full_refresh")) for e in extras)
    if full_refresh:
        return {"select": None, "full_refresh": True, "feeds": feeds, "reason": "full refresh requested"}
    if _purge_pending(settings):
        return {
            "select": None,
            "full_refresh": True,
            "feeds": feeds,
            "reason": "a purge removed raw rows the incremental models still hold: full refresh",
        }
    if not feeds:
        return {"select": None, "full_refresh": False, "feeds": [], "reason": "no raw events: per_levering"}
    if not _build_is_healthy(settings, schema):
        return {
            "select": None,
            "full_refresh": False,
            "feeds": feeds,
            "reason": "no complete earlier build: per_levering",
        }
    return {
        "select": [f"source:{feed}+" for feed in feeds],
        "full_refresh": False,
        "feeds": feeds,
        "reason": f"new data in {', '.join(feeds)}",
    }


def _record_project_version(settings: Settings | None, url: str | None, schema: str, version: str) -> None:
    from explosion_monitor.orchestration import store

    with store.connect(settings, url) as conn:
        store.set_state(conn, PROJECT_STATE_KEY.format(schema=schema), version)


def run_build(plan: Mapping[str, Any], *, settings: Settings | None = None, url: str | None = None) -> dict:
    """One `dbt build` (one dbt process) as planned; raises TransformError with one sentence on failure."""
    from explosion_monitor import transform

    select = plan.get("select")
    if select:
        # transform.build passes `select` after --select. Left out after a drop: the tests over the whole police
        # history, and the unit tests (they check model logic, which a drop cannot change); both run in the
        # full builds (a first or repairing build here, and the nightly warehouse_full).
        # The delivery window is selected in every build: it fixes which ledger files the build takes in.
        select = [*select, transform.WINDOW_MODEL, "--exclude", f"tag:{FULL_HISTORY_TAG}", "test_type:unit"]
    version = project_version(settings)
    full_refresh = bool(plan.get("full_refresh"))
    if full_refresh:  # the purges before this moment are reflected once it succeeds
        from explosion_monitor.orchestration import store

        with store.connect(settings, url) as conn:
            started = conn.execute("select clock_timestamp()").fetchone()[0]
    with dbt_lock(settings):
        result = transform.build(settings=settings, url=url, select=select, full_refresh=full_refresh)
    if not plan.get("select"):  # a complete build of this project version: partial builds may follow it
        _record_project_version(settings, url, transform.DEFAULT_SCHEMA, version)
    if full_refresh:
        from explosion_monitor import retention

        with store.connect(settings, url) as conn:
            retention.mark_refreshed(conn, started)  # the incremental models no longer hold purged rows
    return {
        "invocation_id": result.invocation_id,
        "nodes": len(result.nodes),
        "warnings": [n.unique_id for n in result.warned],
        "elapsed_s": round(result.elapsed_s, 1),
        "role": result.role,
        "plan": dict(plan),
    }


def gate_and_publish(run_id: str | None, *, settings: Settings | None = None, url: str | None = None) -> dict:
    """The GX gate, then the atomic publication (or the blocked record); raises PublicationBlocked."""
    from explosion_monitor import publish  # imported here: GX is heavy and must stay out of DAG parsing

    result = publish.gate_and_publish(settings=settings, url=url, run_id=run_id)
    return {
        "run_id": result.run_id,
        "outcome": result.outcome,
        "publication_id": result.publication_id,
        "warnings": list(result.warnings or ()),
    }


def publish_checked(
    run_id: str | None,
    blocking: Mapping[str, Any] | None,
    warnings: Mapping[str, Any] | None,
    *,
    settings: Settings | None = None,
    url: str | None = None,
) -> dict:
    """Publish after the DAG's GX tasks passed: their results (XCom) give the warnings and the delivery window."""
    from explosion_monitor import publish, quality

    if not blocking or not blocking.get("success"):
        raise RuntimeError("The blocking checks have no successful result; nothing is published.")
    gate = quality.gate_from_results([blocking, *([warnings] if warnings else [])])
    if not gate.passed:  # never publish past a failed blocking check, whatever the task states say
        raise RuntimeError(f"Not published: {gate.sentence()}")
    through = gate.window.tot_en_met_file_id if gate.window else None
    result = publish.publish(settings=settings, url=url, run_id=run_id, warnings=gate.warnings, through_file_id=through)
    return {
        "run_id": result.run_id,
        "outcome": result.outcome,
        "publication_id": result.publication_id,
        "warnings": list(result.warnings or ()),
    }


def render_gate_docs(settings: Settings | None = None) -> str:
    """The Data Docs of the gate's suites (both levels), rendered after the publication instead of inside the
    GX tasks, where they cost each of them most of a second before the publication could start."""
    from explosion_monitor import quality

    settings = settings or get_settings()
    return str(quality.update_newest_docs(settings, list(quality.load_suites(settings))))


def record_blocked_checks(
    run_id: str | None,
    blocking: Mapping[str, Any] | None,
    warnings: Mapping[str, Any] | None,
    *,
    settings: Settings | None = None,
    url: str | None = None,
) -> dict | None:
    """Log a run whose blocking GX checks failed as blocked in ops.publication_log; None when nothing blocked.

    Without a result from the blocking task (the build failed, or the checks could not run) there is no
    block to record: the task's own failure is in ops.pipeline_failures.
    """
    from explosion_monitor import publish, quality

    if not blocking or blocking.get("success"):
        return None
    gate = quality.gate_from_results([blocking, *([warnings] if warnings else [])])
    if gate.passed:  # unsuccessful without a failed check named: say so rather than log "all passed"
        gate.failures.append(
            quality.CheckFailure(
                "gate", "the blocking checks did not succeed", None, "GX reported an unsuccessful result", []
            )
        )
        gate.passed = False
    result = publish.record_blocked(settings=settings, url=url, run_id=run_id, gate=gate)
    return {
        "run_id": result.run_id,
        "outcome": result.outcome,
        "publication_id": result.publication_id,
        "failed_checks": result.failed_checks,
        "warnings": list(result.warnings or ()),
    }


def check_partner_freshness(*, settings: Settings | None = None, notify_partners: bool = True) -> dict[str, dict]:
    """`dbt source freshness`; notifies the partner of each late feed (warn or error). Returns the results."""
    from explosion_monitor import transform
    from explosion_monitor.orchestration import notify

    with dbt_lock(settings):
        results = transform.source_freshness(settings=settings)
    report = {}
    for source, info in results.items():
        feed = source.split(".", 1)[0]
        status = str(info.get("status"))
        report[source] = {"status": status, "age_s": info.get("age_s"), "max_loaded_at": str(info.get("max_loaded_at"))}
        if feed in FEEDS and status in ("warn", "error") and notify_partners:
            notify.notify(notify.partner_late(feed, source, status, info.get("age_s"), info.get("max_loaded_at")))
    return report


def refresh_after_purge(settings: Settings | None = None, *, run_id: str | None = None) -> dict[str, Any]:
    """After a purge (retention.purge): full-refresh dbt build (the incremental models forget the purged rows), then
    the gate and the publication.

    Raises TransformError when the build fails and publish.PublicationBlocked when a blocking check fails; the
    purge stays pending for a full refresh until a build succeeds.
    """
    settings = settings or get_settings()
    built = run_build({"select": None, "full_refresh": True}, settings=settings)  # marks the purges refreshed
    published = gate_and_publish(run_id, settings=settings)
    return {"build": built, "publish": published}
