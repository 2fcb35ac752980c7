"""The configured warehouse, started and with its schema set up: what every entry point connects to.

`connect_ready` starts the embedded server when needed (warehouse.py) and runs the idempotent DDL
(schema.py) once per process; `warehouse_url` gives the URL of the same, or the `url` a caller passed
(a rebuild's target, a test's clone), always in the plain postgresql:// form psycopg takes.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from explosion_monitor import warehouse
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import connect, database_url, libpq_url
from explosion_monitor.schema import ensure_schema

_READY: set[str] = set()


def connect_ready(settings: Settings | None = None, *, autocommit: bool = True) -> psycopg.Connection:
    """A connection to the warehouse with everything set up; the schema check runs once per process."""
    settings = settings or get_settings()
    url = warehouse.start(settings)
    conn = connect(url, autocommit=autocommit)
    if url not in _READY:
        ensure_schema(conn, settings)
        _READY.add(url)
    return conn


def warehouse_url(settings: Settings | None = None, url: str | None = None) -> str:
    """`url`, or the configured warehouse (started, with its schema set up); plain postgresql:// either way."""
    if url:
        return libpq_url(url)
    settings = settings or get_settings()
    with connect_ready(settings):
        pass
    return libpq_url(warehouse.start(settings))


def connect_to(settings: Settings | None, url: str | None, *, autocommit: bool = True) -> psycopg.Connection:
    """An autocommit connection to `url` when given (a rebuild's target, a report's source), else connect_ready."""
    return connect(url, autocommit=autocommit) if url else connect_ready(settings, autocommit=autocommit)


def recreate_database(admin_url: str, name: str, *, setup: bool = True) -> str:
    """Drop and create database `name` on the server of `admin_url` (benchmarks, rebuilds); returns its URL."""
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = database_url(admin_url, name)
    if setup:
        with connect(url, autocommit=True) as conn:
            ensure_schema(conn, get_settings())
    return url
