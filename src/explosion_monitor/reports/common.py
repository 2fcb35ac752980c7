"""What every report shares: Dutch number and date formatting, the publication the marts come from, the page
template environment (templates/), and writing a page so a reader never sees half of it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor.permissions import PRIVATE_FILE

MAANDEN = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


MAANDNAMEN = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip


class NothingPublished(RuntimeError):
    """The schema the report reads holds no published marts yet."""


def getal(value: float | int | Decimal | None, decimalen: int = 0) -> str:
    """1543 -> '1.543'; 115.67 with 1 decimal -> '115,7'; None -> '–'."""
    if value is None:
        return "–"
    text = f"{float(value):,.{decimalen}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def procent(value: float | Decimal | None) -> str:
    """-1.2 -> '−1,2%'; +3 -> '+3,0%'."""
    if value is None:
        return "–"
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{getal(abs(float(value)), 1)}%"


def euro_mln(value: float | Decimal | None) -> str:
    return "–" if value is None else f"€ {getal(float(value) / 1e6, 1)} mln"


def datum(value: dt.date | None) -> str:
    """2026-01-15 -> '15 januari 2026'."""
    return "onbekend" if value is None else f"{value.day} {MAANDNAMEN[value.month - 1]} {value.year}"


def tijdstip(value: dt.datetime | None) -> str:
    """A timestamp in Dutch local time, e.g. '15 januari 2026, 09:30 (Nederlandse tijd)'."""
    if value is None:
        return "onbekend"
    try:
        from zoneinfo import ZoneInfo

        local = value.astimezone(ZoneInfo("Europe/Amsterdam"))
        zone = "Nederlandse tijd"
    except Exception:
        local, zone = value.astimezone(dt.UTC), "UTC"
    return f"{datum(local.date())}, {local:%H:%M} ({zone})"


def fetch_rows(conn: psycopg.Connection, query: sql.Composable, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def has_table(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',)).fetchone()[0]


def table_ref(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


@dataclass
class Publicatie:
    """The publication the marts come from, as ops.publication_log knows it."""

    publication_id: int | None = None
    run_id: str | None = None
    gepubliceerd_op: dt.datetime | None = None
    waarschuwingen: list[str] = field(default_factory=list)


def _warning_line(w: Any) -> str:
    if not isinstance(w, dict):
        return str(w)
    parts = [str(w[k]) for k in ("suite", "expectation") if w.get(k)]
    line = ": ".join(parts) or "waarschuwing"
    if w.get("column"):
        line += f" (kolom {w['column']})"
    if w.get("details"):
        line += f" – {w['details']}"
    return line


def publication(conn: psycopg.Connection, schema: str) -> Publicatie | None:
    """The log row of the publication in `schema` (its `publicatie` table), else the latest published row."""
    if not has_table(conn, "ops", "publication_log"):
        return None
    publication_id = None
    if has_table(conn, schema, "publicatie"):
        row = conn.execute(
            sql.SQL("select max(publicatie_id) from {}").format(table_ref(schema, "publicatie"))
        ).fetchone()
        publication_id = row[0] if row else None
    where = sql.SQL("publication_id = %s") if publication_id is not None else sql.SQL("outcome = 'published'")
    rows = fetch_rows(
        conn,
        sql.SQL(
            "select publication_id, run_id, coalesce(finished_at, started_at) as op, warnings "
            "from ops.publication_log where {} order by publication_id desc limit 1"
        ).format(where),
        (publication_id,) if publication_id is not None else (),
    )
    if not rows:
        return None
    r = rows[0]
    warnings = r["warnings"] if isinstance(r["warnings"], list) else []
    return Publicatie(r["publication_id"], r["run_id"], r["op"], [_warning_line(w) for w in warnings])


def environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("explosion_monitor", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(getal=getal, procent=procent, euro_mln=euro_mln, datum=datum, tijdstip=tijdstip)
    return env


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, PRIVATE_FILE)  # also when an older, looser tmp was left behind
    os.replace(tmp, path)
