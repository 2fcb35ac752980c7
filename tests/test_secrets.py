"""No secret in the repository, and none in what a run writes: output, logs, reports, the database, the server log.

The secrets are the ones configured here and now: the passwords in the local secrets file (.data/secrets.json:
the embedded server's superuser, bi_reader, open_data_reader), the warehouse URL's password, and an S3 secret
key. Failing assertions name files and kinds of secret, never the secret itself (pytest output lands in CI logs).

* the repository (every file git tracks or would add: `git ls-files --cached --others --exclude-standard`)
  holds none of the configured passwords and nothing that looks like a real secret (private keys, AWS keys,
  generated-looking passwords in URLs or assignments); examples in docs and tests use obvious placeholders;
  the places that hold real secrets locally (.data/, .env) are git-ignored;
* a real `explosion-monitor sample` + `explosion-monitor run` (the production DAGs through dag.test(), in a
  subprocess, against a fresh database with statement logging on, fresh buckets and its own AIRFLOW_HOME)
  whose dbt build fails on purpose (error paths leak most) and which re-applies the schema (so the BI roles'
  passwords are set again) leaves no secret in its stdout/stderr (dag.test() writes the task logs there,
  tracebacks of the failed tasks included), its AIRFLOW_HOME, dbt's logs and target folder, the buckets
  (quarantine reports), the ops tables (ledger, findings, failures, notifications, run results) or the
  PostgreSQL server log of the run (every statement of its database logged), and every URL it prints is
  redacted;
* a wrong warehouse password and a wrong or unreachable S3 endpoint give a short error without the secret.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from explosion_monitor import warehouse
from explosion_monitor.config import get_settings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = get_settings()
EM = [sys.executable, "-m", "explosion_monitor.cli"]

pytestmark = pytest.mark.timeout(900)


def configured_secrets() -> dict[str, str]:
    """The generated passwords of this checkout, by name (flags and short values are no secrets)."""
    return {k: v for k, v in warehouse.load_secrets(SETTINGS).items() if isinstance(v, str) and len(v) >= 12}


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def found_in(blobs: dict[str, bytes], secret_values: dict[str, str]) -> list[tuple[str, str]]:
    """(where, which secret) for every secret found; never the value itself."""
    hits = []
    for where, blob in blobs.items():
        for name, value in secret_values.items():
            for form in {value, quote(value, safe="")}:
                if form.encode() in blob:
                    hits.append((where, name))
    return sorted(set(hits))


# --- the repository ------------------------------------------------------------------------------------------------


def test_no_configured_password_is_in_a_repository_file(pg_admin_url: str) -> None:
    values = configured_secrets()
    assert values, "no secrets file: start the warehouse once (the test session does)"
    blobs = {str(p.relative_to(ROOT)): p.read_bytes() for p in repository_files()}
    assert len(blobs) > 100
    assert found_in(blobs, values) == []


def looks_generated(value: str) -> bool:
    """A value a person would not type as an example: long, with several kinds of characters."""
    if value.startswith(("${", "$", "<", "{{", "%(", "os.environ", "env")) or "..." in value:
        return False
    lower, upper, digit, other = (bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if len(value) >= 12 and lower + upper + digit + other >= 3 and lower + upper + digit >= 2:
        return True
    return len(value) >= 20 and digit and (lower or upper)  # e.g. a hex token; not an identifier like a_b_c


SECRET_PATTERNS = {
    "private key": re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(rb"(?i)aws_?secret_?access_?key['\"]?\s*[:=]\s*['\"]?[A-Za-z0-9/+]{40}\b"),
    "Slack/GitHub token": re.compile(rb"\b(?:xox[bpas]-[0-9A-Za-z-]{10,}|gh[pousr]_[0-9A-Za-z]{36,})\b"),
}
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/@:'\"?#]+:([^\s/@'\"?#]+)@")
ASSIGNED_SECRET = re.compile(
    r"(?i)\b[\w.-]*(?:password|passwd|secret|token|api_?key|fernet_?key)[\w.-]*['\"]?\s*[:=]\s*['\"]([^'\"\s]+)['\"]"
)


def test_looks_generated_tells_placeholders_from_secrets() -> None:
    for placeholder in (
        "pw",
        "password",
        "secret",
        "hunter2",
        "s3cret-pw",
        "${PIPELINE_DB_PASSWORD}",
        "<password>",
        "...",
        "changeme",
        "postgres_superuser_password",
        "EXPLOSION_MONITOR_PASSWORD",
    ):
        assert not looks_generated(placeholder), placeholder
    for real in (secrets.token_urlsafe(24), secrets.token_hex(16), "Xk9#mPq2vL7wR4tZ"):
        assert looks_generated(real), "a generated value was not recognised"


def test_no_secret_looking_text_in_the_repository() -> None:
    hits = []
    for path in repository_files():
        name = str(path.relative_to(ROOT))
        if name == "uv.lock":
            continue  # package hashes and URLs only
        blob = path.read_bytes()
        for kind, pattern in SECRET_PATTERNS.items():
            if pattern.search(blob):
                hits.append((name, kind))
        text = blob.decode("utf-8", errors="replace")
        for match in URL_PASSWORD.finditer(text):
            if looks_generated(match.group(1)):
                hits.append((name, "password in a URL"))
        for match in ASSIGNED_SECRET.finditer(text):
            if looks_generated(match.group(1)):
                hits.append((name, f"literal secret at offset {match.start()}"))
    assert hits == []


@pytest.mark.parametrize(
    "path",
    [
        ".data/secrets.json",
        ".data/postgres/server.log",
        ".env",
        "docker/.env",
        "dbt_project/target/run_results.json",
        "dbt_project/logs/dbt.log",
        ".data/airflow/simple_auth_manager_passwords.json.generated",
    ],
)
def test_where_real_secrets_live_is_git_ignored(path: str) -> None:
    checked = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT)
    assert checked.returncode == 0, f"{path} is not git-ignored"


# --- a run -----------------------------------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EM, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout, cwd=ROOT
    )


def files_under(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 200_000_000:
            yield str(path), path.read_bytes()


def unredacted_urls(text: str) -> list[str]:
    """Scheme and host of every URL in `text` that still carries a password."""
    return [m.group(0).split("://")[0] + "://…@" for m in URL_PASSWORD.finditer(text)]


def _tail(path: Path, offset: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read()


@pytest.fixture
def run_secrets(warehouse_url: str) -> dict[str, str]:
    values = configured_secrets()
    values["warehouse URL password"] = urlsplit(warehouse_url).password or ""
    values["S3 secret key"] = "s3geheim-" + secrets.token_urlsafe(18)
    assert all(values.values())
    return values


@pytest.mark.slow  # over 50 s: make test-slow (CI keeps make test under 30 min)
def test_a_failing_pipeline_run_leaves_no_secret_anywhere(
    warehouse_url: str,
    local_buckets: str,
    db: psycopg.Connection,
    run_secrets: dict[str, str],
    tmp_path: Path,
) -> None:
    dbname = urlsplit(warehouse_url).path.strip("/")
    data_dir = Path(db.execute("select current_setting('data_directory')").fetchone()[0])
    server_log = data_dir / "server.log"
    server_log_offset = server_log.stat().st_size
    started = time.time()
    # Every statement of this database goes to the server log; the schema is set up again (so the BI roles get
    # their passwords from the secrets file once more); and dbt will fail: raw.politie loses a column it reads.
    db.execute(sql.SQL("alter database {} set log_statement = 'all'").format(sql.Identifier(dbname)))
    db.execute("delete from ops.schema_version")
    db.execute("alter table raw.politie rename column _loaded_at to _geladen_op")
    airflow_home = tmp_path / "airflow"
    env = {
        "WAREHOUSE_URL": warehouse_url,
        "EXPLOSION_MONITOR_BUCKETS": local_buckets,
        "AIRFLOW_HOME": str(airflow_home),
        "AWS_SECRET_ACCESS_KEY": run_secrets["S3 secret key"],  # set, though this run uses file://
        "AWS_ACCESS_KEY_ID": "pipeline",
    }
    sample = run_cli("sample", env=env)
    assert sample.returncode == 0, sample.stderr[-2000:]
    run = run_cli("run", env=env)
    assert run.returncode == 1, "the dbt build should have failed"
    assert "The warehouse DAG failed in" in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert "Task failed with exception" in run.stdout, "the failed task's log (an error path) was not captured"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        assert conn.execute("select count(*) from ops.ledger where status = 'quarantined'").fetchone()[0] > 0
        ops_rows = {}
        for (table,) in conn.execute("select table_name from information_schema.tables where table_schema = 'ops'"):
            rows = conn.execute(sql.SQL("select t::text from ops.{} as t").format(sql.Identifier(table))).fetchall()
            ops_rows[f"ops.{table}"] = "\n".join(r[0] for r in rows).encode()

    outputs = {
        "sample stdout": sample.stdout.encode(),
        "sample stderr": sample.stderr.encode(),
        "run stdout": run.stdout.encode(),
        "run stderr": run.stderr.encode(),
    }
    logs = {
        **dict(files_under(airflow_home)),
        # dbt.log rotates at 10 MB: every file written during the run, whole (other runs' lines are scanned too)
        **{
            str(p): p.read_bytes()
            for p in (SETTINGS.dbt_project_dir / "logs").glob("dbt.log*")
            if p.stat().st_mtime >= started - 1
        },
        **dict(files_under(SETTINGS.dbt_project_dir / "target")),
        **dict(files_under(Path(urlsplit(local_buckets).path))),
    }
    server = {f"{server_log} (this run)": _tail(server_log, server_log_offset)}
    assert logs, "the run wrote nothing to scan"
    assert any(p.name.endswith(".rapport.txt") for p in Path(urlsplit(local_buckets).path).rglob("*"))
    assert b"insert into ops.ledger" in server[f"{server_log} (this run)"], "no statement of the run in the server log"
    everything = {**outputs, **logs, **server, **ops_rows}
    assert found_in(everything, run_secrets) == []
    for where, blob in {**outputs, **logs}.items():
        text = blob.decode("utf-8", errors="replace")
        if where.endswith("airflow.cfg"):  # Airflow's own commented examples (postgres:airflow@postgres) are not ours
            text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert unredacted_urls(text) == [], f"an unredacted URL in {where}"


def test_a_wrong_warehouse_password_is_one_sentence_without_it(warehouse_url: str) -> None:
    wrong = "falsch-" + secrets.token_urlsafe(16)
    parts = urlsplit(warehouse_url)
    url = urlunsplit(parts._replace(netloc=f"{parts.username}:{wrong}@{parts.hostname}:{parts.port}"))
    for command in (["status"], ["ingest"], ["run"]):
        result = run_cli(*command, env={"WAREHOUSE_URL": url}, timeout=300)
        assert result.returncode == 1, command
        assert wrong not in result.stdout + result.stderr, command
        assert quote(wrong, safe="") not in result.stdout + result.stderr, command
        assert "Traceback" not in result.stderr, command
        assert "password was rejected" in result.stderr, (command, result.stderr[-500:])
        assert len(result.stderr.strip().splitlines()) <= 3, (command, result.stderr[-1000:])
        assert unredacted_urls(result.stdout + result.stderr) == [], command


@pytest.mark.parametrize("endpoint", ["unreachable", "wrong secret"])
def test_an_s3_error_never_echoes_the_secret_key(warehouse_url: str, s3_server, endpoint: str) -> None:
    secret = "s3geheim-" + secrets.token_urlsafe(18)
    env = {
        "WAREHOUSE_URL": warehouse_url,
        "EXPLOSION_MONITOR_BUCKETS": "s3://",
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9" if endpoint == "unreachable" else s3_server.endpoint_url,
    }
    result = run_cli("ingest", env=env, timeout=300)
    assert result.returncode != 0
    assert secret not in result.stdout + result.stderr
    assert quote(secret, safe="") not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) <= 5, result.stderr[-2000:]
