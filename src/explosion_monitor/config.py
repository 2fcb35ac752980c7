"""The environment, read in one place: `get_settings()` returns every setting as one frozen `Settings`.

No other module reads a variable of the environment (tests/test_architecture.py checks it); they receive
`Settings` as a parameter or call get_settings(). Passing the whole environment on to a child process (dbt,
Airflow, PostgreSQL's programs) and writing variables for a library are not reads of a setting.
Every setting has a working default so that `make demo` runs on a fresh machine.

Settings is a frozen dataclass rather than a pydantic-settings model: tests and callers derive variants with
`dataclasses.replace(get_settings(), ...)`, and `functools.cache` keys on it (it must stay hashable).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
class S3Settings:
    """The S3 client's settings, from the AWS_* variables as the AWS tools name them."""

    endpoint_url: str | None = None  # AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL
    region: str | None = None  # AWS_DEFAULT_REGION, else AWS_REGION
    key: str | None = field(default=None, repr=False)  # AWS_ACCESS_KEY_ID
    secret: str | None = field(default=None, repr=False)  # AWS_SECRET_ACCESS_KEY
    token: str | None = field(default=None, repr=False)  # AWS_SESSION_TOKEN
    max_attempts: int | None = None  # AWS_MAX_ATTEMPTS (botocore reads it too)

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> S3Settings:
        attempts = env.get("AWS_MAX_ATTEMPTS", "").strip()
        return cls(
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or None,
            key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret=env.get("AWS_SECRET_ACCESS_KEY") or None,
            token=env.get("AWS_SESSION_TOKEN") or None,
            max_attempts=int(attempts) if attempts.isdigit() and int(attempts) > 0 else None,
        )


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
    # Passwords of the reader logins set by the deployment (EXPLOSION_MONITOR_BI_READER_PASSWORD, ..._OPEN_DATA_READER_,
    # ..._ANALIST_; docker-compose's .env gives them to the BI tool too), by role; a role not here gets a generated one.
    login_passwords: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # S3 client settings (AWS_*), for the s3:// buckets.
    s3: S3Settings = S3Settings()
    # --- orchestration ---
    # How the watchers wake up (EXPLOSION_MONITOR_WATCH): poll, or postgres (MinIO notifications).
    watch: str = "poll"
    # Seconds between polls (EXPLOSION_MONITOR_WATCH_INTERVAL); None: 1 on file://, 10 on S3.
    watch_interval: float | None = None
    # The Celery queue per feed (EXPLOSION_MONITOR_FEED_QUEUES=feed=queue,...); other feeds use Airflow's default.
    feed_queues: tuple[tuple[str, str], ...] = ()
    # The manifest Cosmos renders from (EXPLOSION_MONITOR_DBT_MANIFEST); None: dbt_project/target/parse/manifest.json.
    dbt_manifest: Path | None = None
    # The schema dbt builds (EM_DBT_SCHEMA); None: transform.DEFAULT_SCHEMA.
    dbt_schema: str | None = None
    # Airflow's log level as the user set it (AIRFLOW__LOGGING__LOGGING_LEVEL); the CLI's Airflow runs quieter.
    airflow_logging_level: str | None = None
    # --- notifications (orchestration/notify.py) ---
    notifier: str | None = None  # EXPLOSION_MONITOR_NOTIFIER: log (default), email, webhook or module:Class
    smtp_conn_id: str | None = None  # EXPLOSION_MONITOR_SMTP_CONN_ID; None: smtp_default
    webhook_url: str | None = field(default=None, repr=False)  # EXPLOSION_MONITOR_WEBHOOK_URL
    alert_email: str | None = None  # EXPLOSION_MONITOR_ALERT_EMAIL: the engineers, comma-separated
    # The partners' contacts: every EXPLOSION_MONITOR_CONTACT_* variable (each contract names its own), by name.
    partner_contacts: tuple[tuple[str, str], ...] = ()
    # --- prod-local (orchestration/prod_local.py) ---
    # The warehouse login of the prod-local stack (EXPLOSION_MONITOR_PROD_WAREHOUSE_LOGIN).
    prod_warehouse_login: str = "postgres"
    # Port overrides of the prod-local stack (EXPLOSION_MONITOR_PROD_{PG,REDIS,S3,API}_PORT), as given, by name.
    prod_ports: tuple[tuple[str, str], ...] = ()
    # The name of this Celery worker (EXPLOSION_MONITOR_WORKER_NAME), in its Airflow hostname.
    worker_name: str = "worker"

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
        raise ConfigError(
            "EXPLOSION_MONITOR_ROLE_PREFIX must be empty or up to 30 lower-case letters, digits and "
            f"underscores starting with a letter, such as acc_, not {raw!r}."
        )
    return raw


LOGIN_PASSWORD_ENV = {
    "bi_reader": "EXPLOSION_MONITOR_BI_READER_PASSWORD",
    "open_data_reader": "EXPLOSION_MONITOR_OPEN_DATA_READER_PASSWORD",
    "analist": "EXPLOSION_MONITOR_ANALIST_PASSWORD",
}
CONTACT_PREFIX = "EXPLOSION_MONITOR_CONTACT_"
PROD_PORTS = ("PG", "REDIS", "S3", "API")


def _float_env(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}.") from None


def _feed_queues_env() -> tuple[tuple[str, str], ...]:
    raw = os.environ.get("EXPLOSION_MONITOR_FEED_QUEUES", "").replace(" ", "")
    return tuple(tuple(item.split("=", 1)) for item in raw.split(",") if "=" in item)  # type: ignore[misc]


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
        login_passwords=tuple(
            (role, os.environ[env]) for role, env in LOGIN_PASSWORD_ENV.items() if os.environ.get(env)
        ),
        s3=S3Settings.from_environ(os.environ),
        watch=os.environ.get("EXPLOSION_MONITOR_WATCH", "poll").strip() or "poll",
        watch_interval=_float_env("EXPLOSION_MONITOR_WATCH_INTERVAL"),
        feed_queues=_feed_queues_env(),
        dbt_manifest=Path(os.environ["EXPLOSION_MONITOR_DBT_MANIFEST"])
        if os.environ.get("EXPLOSION_MONITOR_DBT_MANIFEST")
        else None,
        dbt_schema=os.environ.get("EM_DBT_SCHEMA") or None,
        airflow_logging_level=os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL") or None,
        notifier=os.environ.get("EXPLOSION_MONITOR_NOTIFIER") or None,
        smtp_conn_id=os.environ.get("EXPLOSION_MONITOR_SMTP_CONN_ID") or None,
        webhook_url=os.environ.get("EXPLOSION_MONITOR_WEBHOOK_URL") or None,
        alert_email=os.environ.get("EXPLOSION_MONITOR_ALERT_EMAIL") or None,
        partner_contacts=tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(CONTACT_PREFIX))),
        prod_warehouse_login=os.environ.get("EXPLOSION_MONITOR_PROD_WAREHOUSE_LOGIN", "postgres"),
        prod_ports=tuple(
            (name, os.environ[f"EXPLOSION_MONITOR_PROD_{name}_PORT"])
            for name in PROD_PORTS
            if f"EXPLOSION_MONITOR_PROD_{name}_PORT" in os.environ
        ),
        worker_name=os.environ.get("EXPLOSION_MONITOR_WORKER_NAME", "worker"),
    )
