"""`explosion-monitor`: the command line for engineers. The DAGs call the same functions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import sys
import time
import traceback
from importlib.metadata import version as _dist_version
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from explosion_monitor.config import FEEDS, ConfigError, get_settings

# Plain click help (rich_markup_mode=None): typer's rich panels print `<bool>` beside --help.
app = typer.Typer(
    help="Partner drops to published target metrics for the Offensief tegen explosies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
warehouse_app = typer.Typer(help="The embedded PostgreSQL warehouse.", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")
# Piped output (make, CI logs) gets wide tables instead of 80 columns of wrapped text.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print one JSON document on stdout (docs/cli-json.md); progress and messages go to stderr."
    ),
]


_json_stream: TextIO | None = None


def _json_mode(enabled: bool) -> None:
    """With --json, stdout carries only the JSON document: everything else goes to stderr instead.

    Not only what `out` prints: Airflow, Cosmos and dbt log through handlers that may hold file descriptor 1
    itself, so that descriptor is pointed at stderr too and the JSON goes out through a copy of the original."""
    global _json_stream
    if not enabled:
        return
    out.file = sys.stderr
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stdout (tests): nothing else writes to it
        return
    sys.stdout.flush()
    _json_stream = os.fdopen(os.dup(fd), "w", encoding="utf-8", closefd=True)
    os.dup2(sys.stderr.fileno(), fd)


def _emit_json(document: dict[str, Any]) -> None:
    stream = _json_stream or sys.stdout
    stream.write(json.dumps(document, default=_json_default, ensure_ascii=False, indent=2) + "\n")
    stream.flush()


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)  # Decimal and the like: exact, as text


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"explosion-monitor {_dist_version('explosion-monitor')}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """Partner drops to published target metrics for the Offensief tegen explosies."""


@warehouse_app.command("start")
def warehouse_start() -> None:
    """Start the embedded warehouse (or check WAREHOUSE_URL) and set up what the pipeline needs."""
    from explosion_monitor import db, warehouse
    from explosion_monitor.db.ready import connect_ready

    settings = get_settings()
    with connect_ready(settings):
        pass
    info = warehouse.status(settings)
    out.print(f"Warehouse ready at {info.get('url') or db.redact(settings.warehouse_url or '')}")


@warehouse_app.command("stop")
def warehouse_stop() -> None:
    """Stop the embedded warehouse (does nothing with WAREHOUSE_URL)."""
    from explosion_monitor import warehouse

    warehouse.stop(get_settings())
    out.print("Warehouse stopped.")


@warehouse_app.command("status")
def warehouse_status() -> None:
    """Show whether the embedded warehouse runs, where, and on which port."""
    from explosion_monitor import warehouse

    for key, value in warehouse.status(get_settings()).items():
        out.print(f"{key}: {value}")


@app.command()
def sample(seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same files.")] = 2025) -> None:
    """Write realistic sample deliveries for all three feeds into the buckets' incoming/."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.sample import write_samples

    settings = get_settings()
    buckets = {feed: get_bucket(feed, settings) for feed in FEEDS}
    for bucket in buckets.values():
        bucket.ensure()
    files = write_samples(lambda feed, name, data: buckets[feed].put_incoming(name, data), seed=seed)
    for f in files:
        out.print(f"{f.feed:13} {f.name:45} expect {f.expect:11} {f.why}")
    out.print(f"{len(files)} files written under {settings.buckets}")


def _ingest_with_progress(feeds: list[str]) -> list:
    from rich.progress import Progress

    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.pending import ingest_pending

    settings = get_settings()
    total = sum(len(get_bucket(f, settings).list_incoming()) for f in feeds)
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("Ingesting drops", total=total)
        return ingest_pending(feeds, settings, on_file=lambda _: progress.advance(task))


def _print_outcomes(outcomes: list) -> None:
    if not outcomes:
        out.print("No drops were waiting in incoming/.")
        return
    table = Table(title="Drops processed")
    for col in ("feed", "file", "outcome", "rows", "errors", "note"):
        wide = col in ("file", "note")
        table.add_column(col, overflow="fold", no_wrap=not wide, min_width=12 if wide else None)
    for o in outcomes:
        table.add_row(o.feed, o.name, o.status, str(o.rows), str(o.errors), (o.message or "")[:80])
    out.print(table)


@app.command()
def ingest(feed: Annotated[list[str] | None, typer.Option(help="Only this feed (repeatable).")] = None) -> None:
    """Validate and load every file waiting in incoming/ now, without building the marts."""
    _print_outcomes(_ingest_with_progress(feed or list(FEEDS)))


@app.command()
def run(as_json: JsonOption = False) -> None:
    """Process every pending drop, then build, check and publish, through the production DAGs (dag.test())."""
    _json_mode(as_json)
    from explosion_monitor import ledger
    from explosion_monitor.db.ready import connect_ready
    from explosion_monitor.orchestration.local_run import LocalRunError, run_pipeline
    from explosion_monitor.reports.landelijk import national_progress, progress_table
    from explosion_monitor.reports.lopend_jaar import running_year_sentence

    with connect_ready() as conn:
        before = conn.execute("select coalesce(max(file_id), 0) from ops.ledger").fetchone()[0]
    try:
        with err.status("Airflow: reconcile_incoming (ingest), then warehouse (dbt build, GX checks, publish)"):
            dags = run_pipeline()
    except LocalRunError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        if as_json:
            _emit_json({"ok": False, "error": str(exc), "dag_runs": [], "files": {}, "progress": []})
        raise typer.Exit(1) from None
    out.print("DAG runs: " + ", ".join(f"{d.dag_id} {d.state}" for d in dags))
    with connect_ready() as conn:
        new = [r for r in ledger.rows(conn, None, 1000) if r["file_id"] > before]
        rows = national_progress(conn, "marts")
        lopend = running_year_sentence(conn, "marts")
    if as_json:
        _emit_json(
            {
                "ok": True,
                "dag_runs": [{"dag_id": d.dag_id, "state": str(d.state)} for d in dags],
                "files": {
                    status: sum(1 for r in new if r["status"] == status)
                    for status in sorted({r["status"] for r in new})
                },
                "progress": rows,
                "running_year": lopend,
            }
        )
        return
    if new:
        out.print(
            f"{len(new)} drops processed: "
            + ", ".join(
                f"{status} {sum(1 for r in new if r['status'] == status)}"
                for status in sorted({r["status"] for r in new})
            )
        )
    else:
        out.print("No drops were waiting in incoming/.")
    out.print(progress_table(rows, "Aanslagen met explosieven (incl. pogingen), landelijk — gepubliceerd (marts)"))
    if lopend:
        out.print(lopend, markup=False, highlight=False)


@app.command()
def status(
    feed: Annotated[str | None, typer.Option(help="Only this feed.")] = None,
    limit: Annotated[int, typer.Option(help="How many files, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Per-file outcomes from the ledger."""
    _json_mode(as_json)
    from explosion_monitor import ledger
    from explosion_monitor.db.ready import connect_ready

    with connect_ready() as conn:
        rows = ledger.rows(conn, feed, limit)
        purged = dict(
            conn.execute(
                "select file_id, purged_at from ops.ledger where purged_at is not null and file_id = any(%s)",
                ([r["file_id"] for r in rows],),
            ).fetchall()
        )
    if as_json:
        _emit_json({"files": [{**r, "purged_at": purged.get(r["file_id"])} for r in rows]})
        return
    table = Table(title="Ledger: one row per dropped file")
    for col in ("id", "feed", "file", "status", "rows", "errors", "warn", "arrived", "message"):
        wide = col in ("file", "message")
        table.add_column(col, overflow="fold", no_wrap=not wide, min_width=12 if wide else None)
    for r in rows:
        table.add_row(
            str(r["file_id"]),
            r["feed"],
            r["object_key"],
            r["status"] + (f", purged {purged[r['file_id']]:%Y-%m-%d}" if r["file_id"] in purged else ""),
            str(r["rows_loaded"]),
            str(r["error_count"]),
            str(r["warning_count"]),
            f"{r['arrived_at']:%m-%d %H:%M}",
            (r["message"] or "")[:60],
        )
    out.print(table)


@app.command("publish")
def publish_command(
    rollback: Annotated[bool, typer.Option("--rollback", help="Put the previous publication back.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the build with the quality gate and publish it to marts/open_data for BI (or roll back)."""
    from explosion_monitor import publish

    _json_mode(as_json)
    try:
        if rollback:
            result = publish.rollback()
        else:
            with err.status("Quality gate (expectations/) and publication"):
                result = publish.gate_and_publish()
    except publish.PublicationBlocked as exc:
        err.print(f"[red]{exc}[/red]")
        err.print(exc.report, markup=False, highlight=False)
        if as_json:
            _emit_json({**dataclasses.asdict(exc.result), "error": str(exc)})
        raise typer.Exit(1) from None
    except publish.PublishError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        if as_json:
            _emit_json({"outcome": "error", "error": str(exc)})
        raise typer.Exit(1) from None
    if as_json:
        _emit_json(dataclasses.asdict(result))
        return
    out.print(result.message)
    for line in publish.format_warnings(result.warnings):
        out.print(f"[yellow]Warning:[/yellow] {line}", markup=True, highlight=False)
    if result.data_docs:
        out.print(f"Data Docs: {result.data_docs}")


@app.command()
def analysis() -> None:
    """Run the analysis steps on the published count, check them and publish them (what the analysis DAG does)."""
    from explosion_monitor.analysis.runner import AnalysisError, run_analysis

    try:
        with err.status("Analysis run: steps, checks (expectations/analysis/), publication"):
            result = run_analysis()
    except AnalysisError as exc:
        err.print(f"[red]Error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(result.message, markup=False, highlight=False)


@app.command()
def report(
    netwerk: Annotated[
        bool,
        typer.Option(
            "--netwerk",
            help="Write reports/netwerk_wat_werkt.html for the VNG "
            "network instead: each measure type, its municipalities and effect.",
        ),
    ] = False,
    gemeente: Annotated[
        list[str] | None,
        typer.Option(
            help="Write the confidential page of this municipality (e.g. GM0363) to reports/gemeenten/; repeatable."
        ),
    ] = None,
    alle_gemeenten: Annotated[
        bool, typer.Option("--alle-gemeenten", help="Write a page for every municipality that had a counted attack.")
    ] = False,
) -> None:
    """Write reports/target_progress.html (charts in reports/img/) from the published marts, or municipality pages."""
    from explosion_monitor.reports.common import NothingPublished
    from explosion_monitor.reports.gemeente import UnknownMunicipality, stderr_progress, write_pages
    from explosion_monitor.reports.landelijk import write_report
    from explosion_monitor.reports.wat_werkt import write_netwerk

    try:
        if gemeente or alle_gemeenten:
            started = time.monotonic()
            paths = write_pages(None if alle_gemeenten else gemeente, progress=stderr_progress)
            where = paths[0] if len(paths) == 1 else (paths[0].parent if paths else "nowhere")
            out.print(
                f"{len(paths)} municipality page(s) written to {where} in {time.monotonic() - started:.1f} s "
                "(vertrouwelijk: for the local triangle only)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return
        path = write_netwerk() if netwerk else write_report()
    except (NothingPublished, UnknownMunicipality) as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    out.print(f"Report written to {path}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def docs() -> None:
    """Build the dbt docs site and the GX Data Docs side by side in reports/docs/, with an index page."""
    from explosion_monitor.docsite import DocsError, build_docs

    try:
        path = build_docs()
    except DocsError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    out.print(f"Docs written to {path}", markup=False, highlight=False, soft_wrap=True)


access_app = typer.Typer(help="Logins with row-level security (municipalities).", no_args_is_help=True)
app.add_typer(access_app, name="access")


@access_app.command("gemeente")
def access_gemeente(code: Annotated[str, typer.Argument(help="Municipality code, e.g. GM0363.")]) -> None:
    """Create the login of one municipality (or give it a new password); it sees only its own neighbourhood rows."""
    from explosion_monitor.access import AccessError, issue_municipality_login
    from explosion_monitor.db.ready import connect_ready

    settings = get_settings()
    try:
        with connect_ready(settings) as conn:
            login = issue_municipality_login(conn, code, settings.data_dir / "logins")
    except AccessError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    out.print(
        f"Login {login.role} for {login.gemeente_code} is ready. Password written to {login.password_file} "
        "(mode 0600).",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def airflow(ctx: typer.Context) -> None:
    """Run `airflow ...` against the warehouse server's metadata DB, e.g. `explosion-monitor airflow standalone`."""
    from explosion_monitor.airflow_env import exec_airflow

    args = list(ctx.args) or ["standalone"]
    if args[0] == "standalone":
        settings = get_settings()
        out.print(
            f"Airflow on http://127.0.0.1:8080 ; user admin, password in "
            f"{settings.airflow_home / 'simple_auth_manager_passwords.json.generated'}"
        )
    exec_airflow(args)


# --- orchestration (explosion_monitor.orchestration): the same steps the Airflow DAGs run ---------------


def _orchestration_error(exc: Exception) -> None:
    err.print(f"[red]Error:[/red] {exc}")
    sys.exit(1)


@app.command("dbt-manifest")
def dbt_manifest() -> None:
    """Build the dbt manifest.json the Airflow DAGs are rendered from (dbt parse; no database needed)."""
    from explosion_monitor.orchestration.manifest import ManifestError, build_manifest

    try:
        path = build_manifest(get_settings())
    except ManifestError as exc:
        _orchestration_error(exc)
    out.print(f"Manifest written to {path}")


@app.command("reconcile")
def reconcile_cmd(
    grace: Annotated[int, typer.Option(help="Seconds a file must wait unclaimed before it counts as missed.")] = 300,
    as_json: JsonOption = False,
) -> None:
    """Process files in incoming/ that no watcher announced (what the reconcile_incoming DAG does)."""
    _json_mode(as_json)
    from explosion_monitor.ingest.load import Outcome
    from explosion_monitor.orchestration import steps

    outcomes = [Outcome(**o) for o in steps.reconcile(grace_s=grace, run_id="cli-reconcile")]
    if as_json:
        _emit_json({"files": outcomes})
        return
    _print_outcomes(outcomes)


@app.command("reingest")
def reingest_cmd(
    feed: Annotated[str, typer.Argument(help="politie, verzekeraars, corporaties or gemeenten.")],
    file: Annotated[str, typer.Argument(help="Ledger file id, or the archive/quarantine URL of the file.")],
) -> None:
    """Reprocess one quarantined or archived file after a fix (what the reingest DAG does)."""
    from explosion_monitor.ingest.load import Outcome
    from explosion_monitor.orchestration.reingest import ReingestError, reingest

    try:
        with err.status(f"Reingesting {file} ({feed})"):
            result = reingest(feed, file, run_id="cli-reingest")
    except ReingestError as exc:
        _orchestration_error(exc)
    _print_outcomes([Outcome(**result["outcome"])])
    out.print(f"File {result['old_file_id']} ({result['old_status']}) is now marked reingested.")
    if result["full_refresh"]:
        out.print("Raw rows were replaced: run `dbt build --full-refresh` (transform.build(full_refresh=True)).")


@app.command("rebuild")
def rebuild_cmd(
    database: Annotated[str | None, typer.Option(help="Target database (default <warehouse db>_rebuild).")] = None,
) -> None:
    """Replay the whole archive into an empty database and compare its marts with the live ones."""
    from explosion_monitor.orchestration.rebuild import RebuildError, run

    try:
        with err.status("Replaying the archive into an empty database, building and comparing the marts"):
            result = run(get_settings(), database, run_id="cli-rebuild")
    except RebuildError as exc:
        _orchestration_error(exc)
    compared = result["compare"]
    out.print(f"Replayed {result['replayed']['files']} files into {result['target_database']}.")
    for name, info in compared["tables"].items():
        out.print(
            f"{name:45} live {info['rows_live']:>8} rebuild {info['rows_rebuild']:>8} "
            f"{'equal' if info['equal'] else 'DIFFERENT'}"
        )
    for difference in compared["differences"]:
        err.print(f"[red]{difference}[/red]")
    if not compared["equal"]:
        sys.exit(1)


def _decision_table(title: str, decisions: list, *, removed: bool) -> Table:
    table = Table(title=title)
    columns = (
        ("id", "feed", "file", "status", "arrived", "rows", "objects", "reason")
        if removed
        else ("id", "feed", "file", "status", "arrived", "why")
    )
    for col in columns:
        wide = col in ("file", "reason", "why")
        table.add_column(col, overflow="fold", no_wrap=not wide, min_width=12 if wide else None)
    for d in decisions:
        cells = [str(d.file_id), d.feed, escape(d.object_key), d.status, f"{d.arrived_at:%Y-%m-%d}"]
        if removed:
            rows = d.rows_removed if d.rows_removed is not None else d.rows
            objects = d.objects_removed if d.objects_removed is not None else len(d.objects)
            cells += [f"{rows:,}", str(objects), escape(f"{d.reason}: {d.detail}")]
        else:
            cells += [escape(d.detail)]
        table.add_row(*cells)
    return table


@app.command("purge")
def purge_cmd(
    apply: Annotated[
        bool,
        typer.Option(
            "--apply/--dry-run",
            help="Remove what is past retention (--apply), or only show it (--dry-run, the default).",
        ),
    ] = False,
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days", help="Retention in days for this run (default EXPLOSION_MONITOR_RETENTION_DAYS, 1825)."
        ),
    ] = None,
    feed: Annotated[list[str] | None, typer.Option(help="Only this feed (repeatable).")] = None,
    build: Annotated[
        bool,
        typer.Option(
            "--build/--no-build", help="After removing raw rows: full-refresh dbt build, quality gate and publication."
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Remove raw rows and archived/quarantined files older than the retention period that no figure needs."""
    from explosion_monitor import retention
    from explosion_monitor.db.ready import connect_ready

    _json_mode(as_json)
    document: dict[str, Any] = {"applied": apply}
    try:
        with err.status("Retention: finding and removing what is past the period"):
            result = retention.purge(apply=apply, retention_days=retention_days, feeds=feed)
    except retention.PurgeError as exc:
        if as_json:
            _emit_json({**document, "errors": [str(exc)]})
        _orchestration_error(exc)
    per = result.plan.period
    document.update(
        {
            "retention_days": per.retention_days,
            "cutoff": per.cutoff,
            "event_cutoff": per.event_cutoff,
            "files": result.removed if apply else result.plan.purge,
            "kept": result.plan.keep,
            "rows_removed": result.rows_removed,
            "objects_removed": result.objects_removed,
            "notifications_removed": result.notifications_removed,
            "errors": result.errors,
            "run_id": result.run_id,
            "publication_id": None,
        }
    )
    out.print(
        f"Retention {per.retention_days} days: files that arrived before {per.cutoff:%Y-%m-%d %H:%M} UTC "
        f"may go; events before {per.event_cutoff} lie outside the period.",
        highlight=False,
    )
    if result.plan.unfinished and apply:
        out.print(
            f"Finished {len(result.finished)} of {len(result.plan.unfinished)} earlier purge(s) whose bucket "
            "objects were not all removed."
        )
    elif result.plan.unfinished:
        out.print(
            f"{len(result.plan.unfinished)} earlier purge(s) did not remove all their bucket objects; "
            "--apply finishes them."
        )
    going = result.removed if apply else result.plan.purge
    if going:
        out.print(_decision_table("Removed" if apply else "Would remove (dry run)", going, removed=True))
    if result.plan.keep:
        out.print(_decision_table("Kept although older than the cutoff", result.plan.keep, removed=False))
    for problem in result.errors:
        err.print(f"[red]Error:[/red] {escape(problem)}", highlight=False)
    if not apply:
        if going:
            out.print(
                f"Dry run: nothing was removed. `explosion-monitor purge --apply` removes these {len(going)} "
                f"files ({sum(d.rows for d in going):,} raw rows)."
            )
        else:
            out.print("Dry run: nothing is past retention.")
        if as_json:
            _emit_json(document)
        return
    out.print(
        f"Removed {len(going)} files: {result.rows_removed:,} raw rows, {result.objects_removed} bucket objects, "
        f"{result.notifications_removed} notifications; recorded in ops.purge_log (run {result.run_id})."
    )
    with connect_ready() as conn:
        pending = retention.full_refresh_pending(conn)
    if pending and not build:
        out.print(
            "[yellow]The build schema still holds the purged rows:[/yellow] run `explosion-monitor purge "
            "--apply` again (it only rebuilds then), or the warehouse DAG with full_refresh=true."
        )
    elif pending:
        from explosion_monitor import publish  # GX is heavy: only when it is needed
        from explosion_monitor.orchestration.steps import refresh_after_purge
        from explosion_monitor.transform import TransformError

        try:
            with err.status("Full-refresh dbt build, quality gate and publication"):
                refreshed = refresh_after_purge(run_id=result.run_id)
        except (TransformError, publish.PublishError) as exc:
            err.print(f"[red]The purge is done, but the marts were not rebuilt and published:[/red] {escape(str(exc))}")
            if isinstance(exc, publish.PublicationBlocked):
                err.print(exc.report, markup=False, highlight=False)
            if as_json:
                _emit_json({**document, "errors": [*result.errors, str(exc)]})
            sys.exit(1)
        document["publication_id"] = refreshed["publish"]["publication_id"]
        out.print(
            f"Rebuilt the marts in full and published them (publication {refreshed['publish']['publication_id']})."
        )
    if as_json:
        _emit_json(document)
    if result.errors:
        sys.exit(1)


def _user_errors() -> tuple[type[BaseException], ...]:
    import psycopg

    from explosion_monitor.buckets import BucketError
    from explosion_monitor.transform import TransformError
    from explosion_monitor.warehouse import WarehouseError

    return (ConfigError, WarehouseError, BucketError, TransformError, psycopg.OperationalError)


def main() -> None:
    from explosion_monitor.permissions import private_umask

    private_umask()  # everything this command writes, and its children (dbt, Airflow), is private
    logging.basicConfig(level=logging.WARNING)
    try:
        # Standalone mode: click (typer's bundled copy) prints usage errors with the usage and exits 2, and
        # turns typer.Exit and Ctrl-C into exit codes; every other exception reaches the handler below.
        app(standalone_mode=True)
    except Exception as exc:
        if isinstance(exc, _user_errors()):
            err.print(f"[red]Error:[/red] {exc}")
            sys.exit(1)
        log = _crash_log(exc)
        err.print(f"[red]Unexpected error:[/red] {type(exc).__name__}: {exc}. Details were written to {log}.")
        sys.exit(1)


def _crash_log(exc: BaseException) -> str:
    try:
        settings = get_settings()
        path = settings.data_dir / "logs" / "cli-errors.log"
    except ConfigError:
        return "(no log: configuration error)"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # tracebacks may quote data: private
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(f"--- {dt.datetime.now(dt.UTC).isoformat()}\n")
        fh.write("".join(traceback.format_exception(exc)))
    return str(path)


if __name__ == "__main__":
    main()
