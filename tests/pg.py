"""Real PostgreSQL for tests: the project's embedded server, one fresh database per test.

A template database with the schema applied once per session makes a fresh database
cost a file copy instead of a full bootstrap.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from explosion_monitor import warehouse
from explosion_monitor.config import get_settings
from explosion_monitor.schema import _schema_version, ensure_schema

# Named by schema version: concurrent test sessions share it, and a schema change makes a new one.
TEMPLATE = f"em_test_template_{_schema_version(get_settings())}"


def with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def admin_url() -> str:
    """The embedded server's superuser: tests create and drop databases across the cluster."""
    return warehouse.admin_url(get_settings())


def make_template(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (TEMPLATE,)).fetchone():
            return
        building = f"{TEMPLATE}_{uuid.uuid4().hex[:6]}"
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(building)))
    with psycopg.connect(with_db(url, building)) as conn:
        ensure_schema(conn)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(
                sql.SQL("alter database {} rename to {}").format(sql.Identifier(building), sql.Identifier(TEMPLATE))
            )
        except psycopg.errors.DuplicateDatabase:  # another session finished first
            conn.execute(sql.SQL("drop database {}").format(sql.Identifier(building)))


def fresh_database(url: str, prefix: str = "em_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(TEMPLATE)))
    return with_db(url, name)


def drop_database(url: str, db_url: str) -> None:
    name = urlsplit(db_url).path.strip("/")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
