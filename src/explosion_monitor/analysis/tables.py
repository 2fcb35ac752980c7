"""Writing a step's result table into the analysis build schema: create it, comment it, copy the rows in."""

from __future__ import annotations

import psycopg
from psycopg import sql


def write_table(conn: psycopg.Connection, schema: str, table: str, ddl: str, comment: str, rows: list[dict]) -> None:
    """`ddl` creates the table with `{t}` for its name; `rows` are dicts with the same keys, in column order."""
    target = sql.Identifier(schema, table)
    conn.execute(sql.SQL(ddl).format(t=target))
    conn.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(comment)))
    if not rows:
        return
    columns = list(rows[0])
    with conn.cursor().copy(
        sql.SQL("copy {} ({}) from stdin").format(target, sql.SQL(", ").join(map(sql.Identifier, columns)))
    ) as copy:
        for r in rows:
            copy.write_row([r[c] for c in columns])
