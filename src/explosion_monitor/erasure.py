"""Erasure: a purge reaches every copy of a purged record, not only `raw` (called by retention.purge).

The record ids a purge removes for good (no version of the record is left in raw) are erased from:

- the previous and half-made publications (`marts_prev`, `open_data_prev`, `*_next`, `*_rollback`): dropped,
  and publish.py never parks a publication older than a purge as `*_prev` again, so a rollback cannot bring a
  purged record back;
- the build, staging, intermediate and nightly schemas (`build*`, `nightly*`): dropped; the full-refresh build
  that follows every purge makes them again from what raw still holds;
- the published marts and open data: rows carrying a purged id go at once (figures follow with the refresh);
- the ledger's free text (`message`) of purged files, and the sample rows in `ops.publication_log`;
- files: GX results and Data Docs, Airflow task logs, reports: every occurrence of an id is replaced;
- Airflow's metadata database (`airflow` on the same server, when reachable): XComs and rendered task fields
  that quote an id are deleted.

The database part runs in the purge's own transaction; files and Airflow follow once it committed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from explosion_monitor import db
from explosion_monitor.config import Settings

log = logging.getLogger(__name__)

#: Columns whose values identify a victim's case: never in a sample row, erased everywhere by a purge.
PERSONAL_ID_COLUMNS = frozenset({"incident_id", "claim_id", "melding_id", "politie_incident_id"})
#: Per feed: the column of raw.<feed> whose value is the record's personal id.
FEED_ID_COLUMN = {"politie": "incident_id", "verzekeraars": "claim_id", "corporaties": "melding_id"}
HIDDEN = "(verborgen)"
ERASED = "[verwijderd]"
#: Schemas that hold copies of published or built data; all are made again by the next full build/publication.
COPY_SCHEMA_PATTERNS = (
    "marts\\_prev",
    "open\\_data\\_prev",
    "marts\\_next",
    "open\\_data\\_next",
    "marts\\_rollback",
    "open\\_data\\_rollback",
    "build",
    "build\\_%",
    "nightly",
    "nightly\\_%",
)
_TEXT_SUFFIXES = {".json", ".html", ".txt", ".log", ".md", ".csv", ".yml", ".yaml", ""}


def redact_sample(row: Any, column: str | None = None) -> Any:
    """A failed check's sample row without personal ids (`_file_id` and `_line_number` still find the row)."""
    if not isinstance(row, dict):
        return row
    out = {}
    for key, value in row.items():
        personal = key in PERSONAL_ID_COLUMNS or (key == "value" and column in PERSONAL_ID_COLUMNS)
        out[key] = HIDDEN if personal and value not in (None, "") else value
    return out


@dataclass
class Erased:
    """What one purge erased besides raw rows."""

    ids: int = 0
    schemas_dropped: list[str] = field(default_factory=list)
    published_rows: int = 0
    log_entries: int = 0
    files: int = 0
    airflow_rows: int = 0


def _id_pattern(ids: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({i for i in ids if i}, key=len, reverse=True)
    if not words:
        return None
    # Whole ids only: M-1 must not match inside M-10.
    return re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, words)) + r")(?![\w-])")


def gone_ids(conn: psycopg.Connection, feed: str, removed: Sequence[str]) -> list[str]:
    """Of the ids whose rows were just removed from raw.<feed>, those with no version left."""
    if not removed:
        return []
    column = sql.Identifier(FEED_ID_COLUMN[feed])
    rows = conn.execute(
        sql.SQL(
            "select i from unnest(%s::text[]) as i where not exists (select 1 from raw.{} as r where r.{} = i)"
        ).format(sql.Identifier(feed), column),
        (sorted(set(removed)),),
    ).fetchall()
    return [r[0] for r in rows]


def erase_in_database(conn: psycopg.Connection, ids: Sequence[str], file_ids: Sequence[int]) -> Erased:
    """Inside the purge's transaction: drop the copies, erase the ids from published tables and the logs."""
    done = Erased(ids=len(set(ids)))
    schemas = [
        r[0]
        for r in conn.execute(
            "select nspname from pg_namespace where nspname like any(%s) order by 1", (list(COPY_SCHEMA_PATTERNS),)
        )
    ]
    for schema in schemas:
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
    done.schemas_dropped = schemas
    conn.execute(
        "update ops.ledger set message = null where file_id = any(%s) and message is not null", (list(file_ids),)
    )
    if not ids:
        return done
    id_list = sorted(set(ids))
    columns = conn.execute(
        """
        select n.nspname, c.relname, a.attname
        from pg_attribute as a join pg_class as c on c.oid = a.attrelid join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname in ('marts', 'open_data') and c.relkind in ('r', 'p') and a.attnum > 0
          and not a.attisdropped and a.attname = any(%s)
        """,
        (sorted(PERSONAL_ID_COLUMNS),),
    ).fetchall()
    for schema, table, column in columns:
        done.published_rows += conn.execute(
            sql.SQL("delete from {} where {}::text = any(%s)").format(
                sql.Identifier(schema, table), sql.Identifier(column)
            ),
            (id_list,),
        ).rowcount
    done.log_entries = _erase_publication_log(conn, id_list)
    return done


def _scrub_json(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, dict):
        return {k: _scrub_json(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_json(v, pattern) for v in value]
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    return value


def _erase_publication_log(conn: psycopg.Connection, ids: list[str]) -> int:
    pattern = _id_pattern(ids)
    assert pattern is not None
    rows = conn.execute(
        """
        select publication_id, failed_checks, warnings, message from ops.publication_log as l
        where exists (select 1 from unnest(%s::text[]) as i
                      where strpos(l.failed_checks::text || l.warnings::text || coalesce(l.message, ''), i) > 0)
        """,
        (ids,),
    ).fetchall()
    changed = 0
    for publication_id, failed, warnings, message in rows:
        new = (_scrub_json(failed, pattern), _scrub_json(warnings, pattern), _scrub_json(message, pattern))
        if new != (failed, warnings, message):
            conn.execute(
                "update ops.publication_log set failed_checks = %s, warnings = %s, message = %s "
                "where publication_id = %s",
                (Jsonb(new[0]), Jsonb(new[1]), new[2], publication_id),
            )
            changed += 1
    return changed


def file_roots(settings: Settings) -> list[Path]:
    """Folders whose files may quote record ids: GX results and Data Docs, Airflow's task logs, reports."""
    return [settings.gx_dir, settings.airflow_home / "logs", settings.reports_dir]


def erase_files(roots: Iterable[Path], ids: Sequence[str]) -> int:
    """Replace every occurrence of an id in the text files under `roots`; returns the number of files changed."""
    pattern = _id_pattern(ids)
    if pattern is None:
        return 0
    changed = 0
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                path = Path(dirpath, name)
                if path.suffix.lower() not in _TEXT_SUFFIXES or path.is_symlink():
                    continue
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                new = pattern.sub(ERASED, text)
                if new != text:
                    tmp = path.with_name(f".{name}.erase.tmp")
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        fh.write(new)
                    os.replace(tmp, path)
                    changed += 1
    return changed


# Airflow metadata tables whose rows can quote a task's return value or arguments.
_AIRFLOW_TABLES = {"xcom": "value", "rendered_task_instance_fields": "rendered_fields"}


def airflow_db_url(settings: Settings, url: str) -> str:
    """Airflow's metadata database: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, else `airflow` on the warehouse server."""
    if settings.airflow_db_url and settings.airflow_db_url.split("://", 1)[0].startswith("postgres"):
        return db.libpq_url(settings.airflow_db_url)
    return db.database_url(url, "airflow")


def erase_airflow(airflow_url: str, ids: Sequence[str]) -> int:
    """Delete XComs and rendered task fields that quote an id from Airflow's metadata database."""
    if not ids:
        return 0
    removed = 0
    try:
        with db.connect(airflow_url, autocommit=True, connect_timeout=5) as conn:
            for table, column in _AIRFLOW_TABLES.items():
                if conn.execute("select to_regclass(%s) is null", (f"public.{table}",)).fetchone()[0]:
                    continue
                removed += conn.execute(
                    sql.SQL(
                        "delete from {} as t where exists (select 1 from unnest(%s::text[]) as i "
                        "where strpos(t.{}::text, i) > 0)"
                    ).format(sql.Identifier(table), sql.Identifier(column)),
                    (sorted(set(ids)),),
                ).rowcount
    except psycopg.Error as exc:  # no airflow database, or no right to it: nothing of ours to erase there
        log.info("Airflow metadata not erased (%s)", " ".join(str(exc).split())[:200])
    return removed


def erase_outside(settings: Settings, url: str, ids: Sequence[str], done: Erased) -> Erased:
    """After the purge's transaction committed: files and Airflow's metadata."""
    with contextlib.suppress(OSError):
        done.files += erase_files(file_roots(settings), ids)
    done.airflow_rows += erase_airflow(airflow_db_url(settings, url), ids)
    return done
