"""PostgreSQL URLs and connections, in one place.

This package is the only code that rewrites a PostgreSQL URL or opens a connection from one:

- `libpq_url` turns a SQLAlchemy-style URL (postgresql+psycopg://, as Airflow and Great Expectations want it)
  into the plain postgresql:// that psycopg takes; `sqlalchemy_url` goes the other way; `database_url` swaps
  the database; `redact` drops the password for printing;
- `connect(url)` opens a psycopg connection and turns a failure into one sentence (`WarehouseError`);
- `set_role` / `reset_role` switch the session to one of the pipeline's roles (em_loader, em_publisher, ...).

This module depends on nothing else in the package, so config and the embedded server (warehouse.py) use it.
The connection to *the configured warehouse*, started and with its schema set up, is one layer up:
`explosion_monitor.db.ready` (`connect_ready`, `warehouse_url`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

CONNECT_TIMEOUT_S = 10


class WarehouseError(RuntimeError):
    """The warehouse cannot be used; the message is one sentence for the user."""


class ConnectError(WarehouseError, psycopg.OperationalError):
    """A connection that could not be made: one sentence, and still the psycopg.OperationalError that code which
    handles a lost or refused server catches."""

    def __init__(self, message: str) -> None:
        psycopg.OperationalError.__init__(self, message)


# --- URLs -------------------------------------------------------------------------------------------


def with_scheme(url: str, scheme: str) -> str:
    return scheme + url[url.index("://") :]


def libpq_url(url: str) -> str:
    """psycopg wants plain postgresql://; SQLAlchemy-style driver suffixes (postgresql+psycopg://) are dropped."""
    scheme = url.split("://", 1)[0]
    return with_scheme(url, "postgresql") if scheme.startswith(("postgresql+", "postgres")) else url


def sqlalchemy_url(url: str, driver: str = "psycopg") -> str:
    """The SQLAlchemy form (postgresql+<driver>://) of a PostgreSQL URL, for Airflow and Great Expectations."""
    scheme = url.split("://", 1)[0]
    return with_scheme(url, f"postgresql+{driver}") if scheme.startswith("postgres") else url


def database_url(url: str, name: str) -> str:
    """`url` with its database replaced by `name`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.strip("/")


def redact(url: str) -> str:
    """The URL without its password, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}@{hostinfo}"))


# --- errors -----------------------------------------------------------------------------------------


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message").rstrip(".")


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"host {parts.hostname}:{parts.port or 5432}" if parts.hostname else "the local socket"


_REASONS = (
    ("Connection refused", "connection refused"),
    ("timeout expired", "no answer within the connection timeout"),
    ("could not translate host name", "the host name is unknown"),
    ("failed to resolve host", "the host name is unknown"),
    ("password authentication failed", "the user name or password was rejected"),
    ("no password supplied", "the server wants a password and the URL has none"),
    ("no pg_hba.conf entry", "the server does not accept this client (pg_hba.conf)"),
    ("starting up", "the server is still starting"),
)


def _reason(error: Exception, url: str) -> str:
    """One short clause for a failed connection, never containing the password."""
    text = str(error)
    reason = next((short for needle, short in _REASONS if needle in text), None)
    if reason is None:
        reason = first_line(text).rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip()
        reason = reason[:1].lower() + reason[1:]
    password = urlsplit(url).password
    return reason.replace(password, "***") if password else reason


def connection_error(error: Exception, url: str, what: str) -> ConnectError:
    """The one sentence for a connection to `url` (described as `what`) that failed."""
    return ConnectError(f"Cannot connect to the PostgreSQL at {what} ({_where(url)}): {_reason(error, url)}.")


# --- connections ------------------------------------------------------------------------------------


def connect(url: str, *, what: str = "the warehouse URL", **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg 3 connection to `url` (any PostgreSQL URL form); a failure to connect is one sentence."""
    target = libpq_url(url)
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    try:
        return psycopg.connect(target, **kwargs)
    except psycopg.OperationalError as e:
        raise connection_error(e, target, what) from None


def set_role(conn: psycopg.Connection[Any] | psycopg.Cursor[Any], role: str, *, local: bool = True) -> None:
    """Act as `role` (the cluster's name, see access.role): until the transaction ends (`local`) or reset_role."""
    statement = "set local role {}" if local else "set role {}"
    conn.execute(sql.SQL(statement).format(sql.Identifier(role)))


def reset_role(conn: psycopg.Connection[Any] | psycopg.Cursor[Any]) -> None:
    """Back to the login's own rights."""
    conn.execute("reset role")
