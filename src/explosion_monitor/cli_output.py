"""What the command line prints: the consoles, --json (one JSON document on stdout, everything else on stderr),
the table of processed deliveries and the one-sentence error of an orchestration step."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

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


def json_mode(enabled: bool) -> None:
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


def emit_json(document: dict[str, Any]) -> None:
    stream = _json_stream or sys.stdout
    stream.write(json.dumps(document, default=json_default, ensure_ascii=False, indent=2) + "\n")
    stream.flush()


def json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)  # Decimal and the like: exact, as text


def print_outcomes(outcomes: list) -> None:
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


def orchestration_error(exc: Exception) -> None:
    err.print(f"[red]Error:[/red] {exc}")
    sys.exit(1)
