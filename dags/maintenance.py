"""Airflow DAGs that keep the pipeline whole:

- `reconcile_incoming` (every 10 min): process files the watchers missed;
- `partner_freshness` (daily): tell partners whose feed is late (dbt source freshness);
- `reingest` (manual): reprocess one quarantined or archived file after a fix;
- `rebuild` (manual): replay the whole archive into an empty database and compare the marts;
- `retention_purge` (monthly): remove what the retention period no longer needs.

Logic: explosion_monitor.orchestration.maintenance_dags.
"""

from explosion_monitor.orchestration.maintenance_dags import (
    freshness_dag,
    rebuild_dag,
    reconcile_dag,
    reingest_dag,
    retention_dag,
)

reconcile_incoming = reconcile_dag()
partner_freshness = freshness_dag()
reingest = reingest_dag()
rebuild = rebuild_dag()
retention_purge = retention_dag()
