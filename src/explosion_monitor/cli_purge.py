"""`explosion-monitor purge`: the retention purge from the command line (registered in cli.py)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from explosion_monitor.cli_output import JsonOption, emit_json, err, json_mode, orchestration_error, out


def decision_table(title: str, decisions: list, *, removed: bool) -> Table:
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

    json_mode(as_json)
    document: dict[str, Any] = {"applied": apply}
    try:
        with err.status("Retention: finding and removing what is past the period"):
            result = retention.purge(apply=apply, retention_days=retention_days, feeds=feed)
    except retention.PurgeError as exc:
        if as_json:
            emit_json({**document, "errors": [str(exc)]})
        orchestration_error(exc)
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
        out.print(decision_table("Removed" if apply else "Would remove (dry run)", going, removed=True))
    if result.plan.keep:
        out.print(decision_table("Kept although older than the cutoff", result.plan.keep, removed=False))
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
            emit_json(document)
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
                emit_json({**document, "errors": [*result.errors, str(exc)]})
            sys.exit(1)
        document["publication_id"] = refreshed["publish"]["publication_id"]
        out.print(
            f"Rebuilt the marts in full and published them (publication {refreshed['publish']['publication_id']})."
        )
    if as_json:
        emit_json(document)
    if result.errors:
        sys.exit(1)
