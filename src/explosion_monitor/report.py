"""What mayors read: progress on the Offensief's target."""

from __future__ import annotations

from decimal import Decimal

import psycopg
from psycopg import sql
from rich.table import Table


def national_progress(conn: psycopg.Connection, schema: str) -> list[dict]:
    """The country's rows of target_progress, oldest year first."""
    query = sql.SQL(
        "select jaar, aanslagen, aanslagen_vorig_jaar, verandering_pct, doel, doel_gehaald, peildatum "
        "from {}.target_progress where niveau = 'land' order by jaar"
    ).format(sql.Identifier(schema))
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(query).fetchall()


def _pct(value: Decimal | float | None) -> str:
    return "" if value is None else f"{float(value):+.1f}%"


def progress_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for col in ("jaar", "aanslagen", "vorig jaar", "verandering", "doel (max.)", "doel gehaald"):
        table.add_column(col, justify="right")
    for r in rows:
        reached = {True: "ja", False: "nee", None: ""}[r["doel_gehaald"]]
        table.add_row(
            str(r["jaar"]), f"{r['aanslagen']:,}".replace(",", "."),
            "" if r["aanslagen_vorig_jaar"] is None else f"{r['aanslagen_vorig_jaar']:,}".replace(",", "."),
            _pct(r["verandering_pct"]), "" if r["doel"] is None else f"{r['doel']:,}".replace(",", "."), reached,
        )
    return table
