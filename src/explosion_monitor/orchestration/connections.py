"""The one place where the CLI's settings (WAREHOUSE_URL, AWS_*) become Airflow Connections.

The DAGs reach the warehouse and the buckets through Airflow Connections: `AIRFLOW_CONN_<ID>` in the
environment here and in Compose, a secrets backend in production. `airflow_connections()` derives them from
the CLI's variables, so one setting feeds both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

WAREHOUSE_CONN_ID = "explosion_monitor_warehouse"
BUCKETS_CONN_ID = "explosion_monitor_buckets"


def env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def airflow_connections(env: Mapping[str, str]) -> dict[str, str]:
    """AIRFLOW_CONN_* variables for the warehouse (a postgres URI) and the buckets (an aws connection as JSON)."""
    out: dict[str, str] = {}
    url = env.get("WAREHOUSE_URL")
    if url:
        out[env_name(WAREHOUSE_CONN_ID)] = "postgres://" + url.split("://", 1)[1]
    if env.get("AWS_ACCESS_KEY_ID"):
        extra = {"region_name": env.get("AWS_DEFAULT_REGION") or "us-east-1"}
        if env.get("AWS_ENDPOINT_URL"):
            extra["endpoint_url"] = env["AWS_ENDPOINT_URL"]
        out[env_name(BUCKETS_CONN_ID)] = json.dumps({
            "conn_type": "aws", "login": env["AWS_ACCESS_KEY_ID"], "password": env.get("AWS_SECRET_ACCESS_KEY", ""),
            "extra": extra,
        })  # fmt: skip
    return out


def settings_from_connections(warehouse: object | None, buckets: object | None) -> dict[str, str]:
    """The CLI's variables (WAREHOUSE_URL, AWS_*) from Airflow Connection objects; the inverse of the above."""
    from urllib.parse import quote

    out: dict[str, str] = {}
    if warehouse is not None and getattr(warehouse, "host", None):
        login = quote(getattr(warehouse, "login", "") or "", safe="")
        password = getattr(warehouse, "password", None)
        auth = f"{login}:{quote(password, safe='')}@" if password else (f"{login}@" if login else "")
        port = f":{warehouse.port}" if getattr(warehouse, "port", None) else ""
        out["WAREHOUSE_URL"] = f"postgresql://{auth}{warehouse.host}{port}/{getattr(warehouse, 'schema', '') or ''}"
    if buckets is not None and getattr(buckets, "login", None):
        extra = getattr(buckets, "extra_dejson", None) or {}
        out["AWS_ACCESS_KEY_ID"] = buckets.login
        out["AWS_SECRET_ACCESS_KEY"] = getattr(buckets, "password", "") or ""
        if extra.get("endpoint_url"):
            out["AWS_ENDPOINT_URL"] = extra["endpoint_url"]
        if extra.get("region_name"):
            out["AWS_DEFAULT_REGION"] = extra["region_name"]
    return out


def use_airflow_connections(context: object = None) -> None:
    """Task pre_execute hook: point this task process at the warehouse and buckets of the Airflow Connections.

    Where a connection is not defined (`explosion-monitor run` with dag.test(), `make airflow`), the task keeps
    WAREHOUSE_URL and AWS_* from the environment.
    """
    import os

    from airflow.sdk import Connection

    found = []
    for conn_id in (WAREHOUSE_CONN_ID, BUCKETS_CONN_ID):
        try:
            found.append(Connection.get(conn_id))
        except Exception:
            found.append(None)
    os.environ.update(settings_from_connections(*found))
