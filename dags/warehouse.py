"""Airflow DAG `warehouse`: on new raw rows, one dbt build, the quality gate, then the publication.

Logic: explosion_monitor.orchestration (dags.warehouse_dag, steps).
"""

from explosion_monitor.orchestration.dag_factory import warehouse_dag

warehouse = warehouse_dag()
