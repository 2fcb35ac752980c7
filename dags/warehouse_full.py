"""Airflow DAG `warehouse_full`: the nightly full dbt build, one task per model, rendered by Cosmos.

Rendered from dbt_project/target/parse/manifest.json (`explosion-monitor dbt-manifest`), never `dbt ls`.
Logic: explosion_monitor.orchestration.dag_factory.warehouse_full_dag.
"""

from explosion_monitor.orchestration.dag_factory import warehouse_full_dag

warehouse_full = warehouse_full_dag()
