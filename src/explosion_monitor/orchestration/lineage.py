"""OpenLineage from the DAGs: the project's assets as OpenLineage datasets.

Airflow's OpenLineage provider turns a task's inlets and outlets (also those emitted at run time through an asset
alias, as `ingest` does) into the input and output datasets of its events, but only for URI schemes some provider
can translate. The project's own scheme, `x-explosion-monitor://warehouse/...`, is registered here (the
`apache_airflow_provider` entry point in pyproject.toml): `raw/<feed>` becomes the table `raw.<feed>` and `marts`
the published schema, named as the OpenLineage spec names PostgreSQL datasets (namespace
`postgres://host:port`, name `database.schema[.table]`). The buckets' `file://` assets are translated by Airflow's
common-io provider; dbt's models by Cosmos through dbt's own OpenLineage integration.

Events go to a file (`airflow_env.lineage_transport`: one JSON event per line under `<data>/lineage/`), so nothing
leaves the machine; point AIRFLOW__OPENLINEAGE__TRANSPORT at Marquez or another backend instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

SCHEME = "x-explosion-monitor"


def provider_info() -> dict[str, Any]:
    """What Airflow's provider discovery reads from the entry point: only the asset URI scheme and its converter."""
    from importlib.metadata import version

    return {
        "package-name": "explosion-monitor",
        "name": "explosion-monitor",
        "description": "The explosion-monitor pipeline's asset URIs, for OpenLineage.",
        "versions": [version("explosion-monitor")],
        "asset-uris": [
            {
                "schemes": [SCHEME],
                "handler": None,  # the URIs are ours and already normal
                "to_openlineage_converter": "explosion_monitor.orchestration.lineage.to_openlineage",
            }
        ],
    }


def warehouse_namespace_and_database() -> tuple[str, str]:
    """`postgres://host:port` and the database name of the warehouse this process writes to."""
    from explosion_monitor.config import get_settings
    from explosion_monitor.warehouse import DEFAULT_DB

    settings = get_settings()
    if settings.warehouse_url:
        parts = urlsplit(settings.warehouse_url)
        host, port, database = parts.hostname or "localhost", parts.port or 5432, parts.path.lstrip("/")
    else:
        host, port, database = "127.0.0.1", settings.pg_port, DEFAULT_DB
    return f"postgres://{host}:{port}", database


def dataset_name(uri: str, database: str) -> str:
    """`x-explosion-monitor://warehouse/raw/politie` -> `<database>.raw.politie`; `.../marts` -> `<database>.marts`."""
    parts = urlsplit(uri)
    if parts.scheme != SCHEME or parts.netloc != "warehouse" or not parts.path.strip("/"):
        raise ValueError(f"not a warehouse asset URI: {uri}")
    return ".".join([database, *parts.path.strip("/").split("/")])


def to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """The provider's converter: an Airflow asset of our scheme as an OpenLineage dataset."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, database = warehouse_namespace_and_database()
    return Dataset(namespace=namespace, name=dataset_name(asset.uri, database))
