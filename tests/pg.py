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
from explosion_monitor.schema import ensure_schema

TEMPLATE = "em_test_template"


def with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def admin_url() -> str:
    return warehouse.start(get_settings())


def make_template(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(TEMPLATE)))
    with psycopg.connect(with_db(url, TEMPLATE)) as conn:
        ensure_schema(conn)
        conn.commit()


def fresh_database(url: str, prefix: str = "em_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(TEMPLATE)))
    return with_db(url, name)


def drop_database(url: str, db_url: str) -> None:
    name = urlsplit(db_url).path.strip("/")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
