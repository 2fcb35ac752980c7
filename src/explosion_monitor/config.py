"""The environment, read in one place.

Every setting has a working default so that `make demo` runs on a fresh machine.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from explosion_monitor.db import libpq_url

FEEDS: tuple[str, ...] = ("politie", "verzekeraars", "corporaties", "gemeenten")


class ConfigError(ValueError):
    """A setting in the environment is unusable; the message is one sentence for the user."""


def project_root() -> Path:
    """The checkout (where pyproject.toml lives), or the working directory when installed elsewhere."""
    override = os.environ.get("EXPLOSION_MONITOR_HOME")
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "dbt_project").is_dir():
            return parent
    return Path.cwd().resolve()


@dataclass(frozen=True)
class Settings:
    root: Path
    # None means: start and use the embedded PostgreSQL.
    warehouse_url: str | None
    pg_port: int
    buckets: str
    airflow_home: Path
    reports_dir: Path
    retention_days: int
    # None means: the warehouse module picks the data directory (see warehouse.py).
    pgdata: Path | None = None
    # Airflow's own AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, when the user set it; None means the warehouse server.
    airflow_db_url: str | None = None
    # Prefix of the warehouse's cluster-wide role names (EXPLOSION_MONITOR_ROLE_PREFIX); None: chosen at bootstrap
    # (plain names when free, else `<database>_`; see access.choose_prefix).
    role_prefix: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / ".data"

    @property
    def dbt_project_dir(self) -> Path:
        return self.root / "dbt_project"

    @property
    def expectations_dir(self) -> Path:
        return self.root / "expectations"

    @property
    def dags_dir(self) -> Path:
        return self.root / "dags"

    @property
    def gx_dir(self) -> Path:
        """Where Great Expectations' file data context lives (git-ignored): suites as GX stores them, results,
        Data Docs."""
        return self.data_dir / "gx"

    @property
    def embedded(self) -> bool:
        return self.warehouse_url is None


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must lie between {low} and {high}, not {value}.")
    return value


def validate_warehouse_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigError(
            "WAREHOUSE_URL must be a PostgreSQL URL such as "
            f"postgresql://user:password@host:5432/dbname, not one starting with {parts.scheme or 'nothing'!r}."
        )
    if not parts.path.strip("/"):
        raise ConfigError("WAREHOUSE_URL must name a database, as in postgresql://user@host:5432/dbname.")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigError("WAREHOUSE_URL has a port that is not a number.") from None
    return libpq_url(url)


def validate_buckets(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("file", "s3"):
        raise ConfigError(
            "EXPLOSION_MONITOR_BUCKETS must be a file:// folder or an s3:// URL "
            f"(s3:// for one bucket per feed, s3://bucket/prefix for one folder per feed), not {url!r}."
        )
    if parts.scheme == "file" and not parts.path:
        raise ConfigError("EXPLOSION_MONITOR_BUCKETS=file:// needs an absolute folder, as in file:///srv/drops.")
    return url


def _pgdata_env() -> Path | None:
    raw = os.environ.get("EXPLOSION_MONITOR_PGDATA")
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise ConfigError(f"EXPLOSION_MONITOR_PGDATA must be an absolute folder, not {raw!r}.")
    return path


def _role_prefix_env() -> str | None:
    raw = os.environ.get("EXPLOSION_MONITOR_ROLE_PREFIX")
    if raw is None:
        return None
    if not re.fullmatch(r"([a-z][a-z0-9_]{0,29})?", raw):
        raise ConfigError("EXPLOSION_MONITOR_ROLE_PREFIX must be empty or up to 30 lower-case letters, digits and "
                          f"underscores starting with a letter, such as acc_, not {raw!r}.")
    return raw


def get_settings() -> Settings:
    root = project_root()
    url = os.environ.get("WAREHOUSE_URL") or None
    buckets = os.environ.get("EXPLOSION_MONITOR_BUCKETS") or (root / ".data" / "buckets").as_uri()
    return Settings(
        root=root,
        warehouse_url=validate_warehouse_url(url) if url else None,
        pg_port=_int_env("EXPLOSION_MONITOR_PG_PORT", 54329, 1024, 65535),
        buckets=validate_buckets(buckets),
        airflow_home=Path(os.environ.get("AIRFLOW_HOME") or root / ".data" / "airflow"),
        reports_dir=Path(os.environ.get("EXPLOSION_MONITOR_REPORTS") or root / "reports"),
        retention_days=_int_env("EXPLOSION_MONITOR_RETENTION_DAYS", 5 * 365, 30, 100 * 365),
        pgdata=_pgdata_env(),
        airflow_db_url=os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or None,
        role_prefix=_role_prefix_env(),
    )
