"""docker-compose.yml, the production shape, checked without Docker (none runs on these machines).

The file is parsed and held to what the code expects: services and their commands, ports, volumes, every
environment variable name the pipeline reads (and nothing it does not), valid warehouse and bucket settings,
MinIO's notification target and its table, partner policies that allow exactly their own incoming/ and
quarantine reports, the pipeline's policy (the three feed buckets only), which service holds which S3 key, and
the init jobs' files. The notification table's SQL is run on the real PostgreSQL; tests/test_s3_isolation.py
enforces the same policy documents on a real S3 server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
FEEDS = ("politie", "verzekeraars", "corporaties", "gemeenten")
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-corporaties",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _substitute(value: str) -> str:
    """${VAR:?msg} / ${VAR:-default} / ${VAR} as Compose would, with a stand-in for unset variables."""
    return re.sub(r"\$\{([A-Z0-9_]+)(?::[-?]([^}]*))?\}", lambda m: f"x{m.group(1).lower()}", value)


def _env(service: dict) -> dict:
    """A service's environment as Compose builds it: its env_file(s) (docker/airflow.env), then environment."""
    from explosion_monitor.orchestration.prod_local import read_env_file

    env: dict = {}
    for path in service.get("env_file", []):
        env.update(read_env_file(ROOT / path))
    return {**env, **(service.get("environment") or {})}


def _names_the_code_reads() -> set[str]:
    names = set()
    for path in (ROOT / "src" / "explosion_monitor").rglob("*.py"):
        names |= set(re.findall(r"[\"']((?:EXPLOSION_MONITOR|AWS|WAREHOUSE)_[A-Z0-9_]+)[\"']", path.read_text()))
    for path in (ROOT / "src" / "explosion_monitor" / "contracts").glob("*.yml"):
        names |= set(re.findall(r"partner_contact_env:\s*(\S+)", path.read_text()))
    return names


def test_services(compose):
    services = compose["services"]
    assert set(services) == AIRFLOW_SERVICES | {
        "airflow-init",
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "metabase",
        "metabase-init",
    }
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"][:2] == ["airflow", "api-server"]
    assert commands["airflow-scheduler"] == ["airflow", "scheduler"]
    assert commands["airflow-dag-processor"] == ["airflow", "dag-processor"]
    assert commands["airflow-triggerer"] == ["airflow", "triggerer"]
    assert commands["airflow-worker"] == ["airflow", "celery", "worker", "--queues", "default"]
    assert commands["airflow-worker-corporaties"] == ["airflow", "celery", "worker", "--queues", "corporaties,default"]
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        assert services[name]["build"]["dockerfile"] == "docker/airflow/Dockerfile"
        assert _env(services[name])["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert "airflow db migrate" in " ".join(services["airflow-init"]["command"])
    assert "explosion-monitor warehouse start" in " ".join(services["airflow-init"]["command"])
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:")


def test_workers_scale(compose):
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker


def test_ports_and_volumes(compose):
    services = compose["services"]

    def ports(name):
        return [str(p) for p in services[name].get("ports", [])]

    assert ports("airflow-apiserver") == ["8080:8080"]
    assert ports("minio") == ["9000:9000", "9001:9001"]
    assert ports("metabase") == ["3000:3000"]
    assert ports("postgres") == ["127.0.0.1:5432:5432"]  # never open to the network
    for name in ("redis", "airflow-worker", "airflow-scheduler", "airflow-triggerer", "airflow-dag-processor"):
        assert not ports(name), name
    declared = set(compose["volumes"])
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                used.add(source)
    assert used == declared
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "miniodata:/data" in services["minio"]["volumes"]


def test_dependencies_exist_and_are_healthy_where_needed(compose):
    services = compose["services"]
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
    for name in ("postgres", "redis", "airflow-apiserver"):
        assert "healthcheck" in services[name]


def test_pipeline_environment_matches_the_code(compose):
    from explosion_monitor.config import validate_buckets, validate_warehouse_url

    env = _env(compose["services"]["airflow-worker"])
    known = _names_the_code_reads()
    ours = {k for k in env if k.startswith(("EXPLOSION_MONITOR_", "AWS_", "WAREHOUSE_"))}
    assert ours <= known, f"names the code never reads: {sorted(ours - known)}"
    assert {f"EXPLOSION_MONITOR_CONTACT_{f.upper()}" for f in FEEDS} <= ours
    assert validate_warehouse_url(_substitute(env["WAREHOUSE_URL"])).endswith("@postgres:5432/explosion_monitor")
    assert validate_buckets(env["EXPLOSION_MONITOR_BUCKETS"]) == "s3://"  # one bucket per feed
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert env["EXPLOSION_MONITOR_WATCH"] == "postgres"
    sync, async_ = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"]
    assert sync.startswith("postgresql+psycopg://") and async_.startswith("postgresql+psycopg_async://")
    assert _substitute(sync).split("@")[1] == _substitute(async_).split("@")[1] == "postgres:5432/airflow"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/explosion-monitor/dags"
    # The nightly Cosmos DAG's Airflow connection (read from the source: importing it would import Airflow).
    conn_id = re.search(
        r'WAREHOUSE_CONN_ID = "(\w+)"', (ROOT / "src/explosion_monitor/orchestration/dags.py").read_text()
    ).group(1)
    assert f"AIRFLOW_CONN_{conn_id.upper()}" in env


def test_no_secret_is_written_into_the_file(compose):
    """Every password, secret and key comes from .env as ${...}; passwords inside URLs too."""
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            value = str(value)
            if re.search(r"(PASSWORD|PASS|SECRET|_KEY|FERNET_KEY|JWT_SECRET)$", key):
                assert value.startswith("${") or value == "", f"{name}: {key}"
            for password in re.findall(r"://[^:/@]+:([^@]+)@", value) + re.findall(r"password=(\S+)", value):
                assert password.startswith("${"), f"{name}: {key}"


def test_dockerfile_builds_the_manifest_ahead_of_time():
    dockerfile = (ROOT / "docker" / "airflow" / "Dockerfile").read_text()
    assert "uv sync --frozen" in dockerfile
    assert "explosion-monitor dbt-manifest" in dockerfile
    assert "apache-airflow-providers-celery" in dockerfile
    assert "EXPLOSION_MONITOR_HOME=/opt/explosion-monitor" in dockerfile


def test_minio_notifications_go_to_postgres(compose):
    minio = compose["services"]["minio"]["environment"]
    assert minio["MINIO_NOTIFY_POSTGRES_ENABLE_PIPELINE"] == "on"
    assert minio["MINIO_NOTIFY_POSTGRES_FORMAT_PIPELINE"] == "access"
    assert minio["MINIO_NOTIFY_POSTGRES_TABLE_PIPELINE"] == "ops.minio_events"
    conn = _substitute(minio["MINIO_NOTIFY_POSTGRES_CONNECTION_STRING_PIPELINE"])
    assert "host=postgres" in conn and "dbname=explosion_monitor" in conn and "user=minio_events" in conn
    script = (ROOT / "docker" / "minio" / "init.sh").read_text()
    for feed in FEEDS:
        assert 'mc mb --ignore-existing "local/$feed"' in script or f"local/{feed}" in script
    assert 'mc event add "local/$feed" arn:minio:sqs::PIPELINE:postgresql --event put --prefix incoming/' in script
    assert "for feed in politie verzekeraars corporaties gemeenten" in script


@pytest.mark.parametrize("feed", FEEDS)
def test_partner_policy_allows_only_its_incoming_and_reports(feed):
    policy = json.loads((ROOT / "docker" / "minio" / "policies" / f"partner-{feed}.json").read_text())
    allowed: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert "*" not in action, action
            allowed.setdefault(action, set()).update(statement["Resource"])
    assert allowed["s3:PutObject"] == {f"arn:aws:s3:::{feed}/incoming/*"}
    assert allowed["s3:GetObject"] == {f"arn:aws:s3:::{feed}/quarantine/*.rapport.txt"}
    assert not {"s3:DeleteObject", "s3:PutBucketPolicy", "s3:DeleteBucket"} & set(allowed)
    for resources in allowed.values():
        assert all(r.startswith(f"arn:aws:s3:::{feed}") for r in resources), resources
    script = (ROOT / "docker" / "minio" / "init.sh").read_text()
    assert f'add_partner {feed} "$PARTNER_{feed.upper()}_ACCESS_KEY" "$PARTNER_{feed.upper()}_SECRET_KEY"' in script
    minio_init = yaml.safe_load(COMPOSE.read_text())["services"]["minio-init"]["environment"]
    assert f"PARTNER_{feed.upper()}_ACCESS_KEY" in minio_init


def test_metabase_connects_as_bi_reader(compose):
    init = compose["services"]["metabase-init"]
    assert init["command"] == ["python", "/init/init.py"]
    script = (ROOT / "docker" / "metabase" / "init.py").read_text()
    assert '"user": "bi_reader"' in script and "/api/setup" in script and "/api/database" in script
    assert "marts,open_data" in script
    assert set(init["environment"]) >= {"MB_ADMIN_EMAIL", "MB_ADMIN_PASSWORD", "BI_READER_PASSWORD"}
    metabase = compose["services"]["metabase"]["environment"]
    assert metabase["MB_DB_TYPE"] == "postgres" and metabase["MB_DB_DBNAME"] == "metabase"
    roles = (ROOT / "docker" / "postgres" / "01-roles-and-databases.sh").read_text()
    for needed in (
        "create role bi_reader login",
        "create database explosion_monitor owner pipeline",
        "create database airflow owner airflow",
        "create database metabase owner metabase",
        "create role minio_events login",
    ):
        assert needed in roles


def test_env_example_names_every_variable_compose_needs():
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = (ROOT / "docker" / "env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, flags=re.M))
    assert required <= listed, sorted(required - listed)


def test_minio_events_table_works_with_minios_insert(warehouse_url):
    """The table as the compose init creates it: MinIO's own INSERT works, and it NOTIFYs the watchers."""
    from explosion_monitor.orchestration import store

    raw = (ROOT / "docker" / "postgres" / "sql" / "minio_events.sql").read_text()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        me = conn.execute("select current_user").fetchone()[0]
        sql_text = re.sub(r"(?<![.\w])(pipeline|minio_events)\b(?!\()", f'"{me}"', raw)
        conn.execute(sql_text)
        store.ensure(conn)  # the pipeline's own ensure() accepts the table the init made
        conn.execute("listen explosion_monitor_drops")
        record = {"Records": [{"s3": {"bucket": {"name": "politie"}, "object": {"key": "incoming%2Fa.csv"}}}]}
        conn.execute("INSERT INTO ops.minio_events (event_time, event_data) VALUES (now(), %s)", (json.dumps(record),))
        notes = list(conn.notifies(timeout=5, stop_after=1))
    assert [(n.channel, n.payload) for n in notes] == [("explosion_monitor_drops", "politie")]
    # The same table the orchestration creates by itself (store.DDL), column for column.
    for column in (
        "event_id bigint generated always as identity primary key",
        "event_time timestamptz not null",
        "event_data jsonb",
        "received_at timestamptz not null default now()",
    ):
        assert column in raw and column in store.DDL


# --- S3 access: the policy documents and who gets which key (enforced for real in tests/test_s3_isolation.py) ------

POLICY_DIR = ROOT / "docker" / "minio" / "policies"
ADMIN_OR_BUCKET_ACTIONS = (
    "admin:",
    "s3:PutBucket",
    "s3:DeleteBucket",
    "s3:CreateBucket",
    "s3:PutObjectAcl",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:ReplicateObject",
    "s3:PutReplicationConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:ListAllMyBuckets",
    "sts:",
    "kms:",
)


def _policy(name: str) -> dict:
    return json.loads((POLICY_DIR / f"{name}.json").read_text())


def _statements(policy: dict) -> list[dict]:
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    for statement in statements:
        # Only plain Allow lists: Deny/Not* would make the documents' meaning depend on evaluation order, and a
        # Principal belongs in bucket policies, not in a user's policy.
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement
        assert statement["Effect"] == "Allow"
        assert isinstance(statement["Action"], list) and isinstance(statement["Resource"], list)
    return statements


def test_policy_files_are_exactly_the_ones_init_sh_installs():
    files = {p.stem for p in POLICY_DIR.glob("*.json")}
    assert files == {"pipeline"} | {f"partner-{feed}" for feed in FEEDS}
    script = (ROOT / "docker" / "minio" / "init.sh").read_text()
    assert "mc admin policy create local pipeline /policies/pipeline.json" in script
    assert 'mc admin policy create local "partner-$1" "/policies/partner-$1.json"' in script
    assert 'mc admin policy attach local "partner-$1" --user "$2"' in script
    assert 'mc admin policy attach local pipeline --user "$PIPELINE_S3_ACCESS_KEY"' in script


@pytest.mark.parametrize("feed", FEEDS)
def test_partner_policy_lists_only_its_incoming_and_quarantine_and_has_no_admin_action(feed):
    statements = _statements(_policy(f"partner-{feed}"))
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:GetBucketLocation",
    }
    assert not [a for a in actions if a.startswith(ADMIN_OR_BUCKET_ACTIONS)]
    for statement in statements:
        for resource in statement["Resource"]:
            bucket, _, key = resource.removeprefix("arn:aws:s3:::").partition("/")
            assert bucket == feed, resource  # never another partner's bucket, never a wildcard bucket
            assert key in ("", "incoming/*", "quarantine/*.rapport.txt"), resource
        if "s3:ListBucket" in statement["Action"]:
            assert statement["Resource"] == [f"arn:aws:s3:::{feed}"]
            assert statement["Condition"] == {
                "StringLike": {"s3:prefix": ["incoming/", "incoming/*", "quarantine/", "quarantine/*"]}
            }
        else:
            assert "Condition" not in statement
    # The write and read grants never overlap: a partner cannot read back a drop or overwrite a report.
    writes = {r for s in statements if "s3:PutObject" in s["Action"] for r in s["Resource"]}
    reads = {r for s in statements if "s3:GetObject" in s["Action"] for r in s["Resource"]}
    assert writes == {f"arn:aws:s3:::{feed}/incoming/*"} and reads == {f"arn:aws:s3:::{feed}/quarantine/*.rapport.txt"}


def test_pipeline_policy_covers_exactly_the_three_feed_buckets():
    statements = _statements(_policy("pipeline"))
    actions = {a for s in statements for a in s["Action"]}
    assert not [a for a in actions if "*" in a or a.startswith(ADMIN_OR_BUCKET_ACTIONS)]
    buckets = {r.removeprefix("arn:aws:s3:::").partition("/")[0] for s in statements for r in s["Resource"]}
    assert buckets == set(FEEDS)
    for statement in statements:
        assert "Condition" not in statement
        for resource in statement["Resource"]:
            assert resource.removeprefix("arn:aws:s3:::") in set(FEEDS) | {f"{f}/*" for f in FEEDS}, resource
    # What the loader does: list and read incoming/, move (copy + delete) into archive/ or quarantine/, write reports.
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= actions


def test_each_service_gets_only_its_own_s3_key(compose):
    services = compose["services"]
    partner_vars = {f"PARTNER_{f.upper()}_{k}" for f in FEEDS for k in ("ACCESS_KEY", "SECRET_KEY")}
    for name, service in services.items():
        text = json.dumps(service.get("environment") or {})
        used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
        if name == "minio-init":
            assert (
                partner_vars
                | {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "PIPELINE_S3_ACCESS_KEY", "PIPELINE_S3_SECRET_KEY"}
                <= used
            )
        else:
            assert not used & partner_vars, f"{name} must not hold a partner's key"
        if name not in ("minio", "minio-init"):
            assert not used & {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}, f"{name} must not hold MinIO's root key"
    pipeline_env = services["airflow-worker"]["environment"]
    assert pipeline_env["AWS_ACCESS_KEY_ID"].startswith("${PIPELINE_S3_ACCESS_KEY")
    assert pipeline_env["AWS_SECRET_ACCESS_KEY"].startswith("${PIPELINE_S3_SECRET_KEY")
    example = (ROOT / "docker" / "env.example").read_text()
    access_keys = re.findall(r"^(?:PIPELINE_S3|PARTNER_[A-Z]+)_ACCESS_KEY=(\S*)$", example, flags=re.M)
    assert len(access_keys) == len(FEEDS) + 1 and len(set(access_keys)) == len(access_keys), access_keys
    secret_keys = re.findall(r"^(?:PIPELINE_S3|PARTNER_[A-Z]+)_SECRET_KEY=(\S*)$", example, flags=re.M)
    assert secret_keys == [""] * (len(FEEDS) + 1)  # never a value in the example
