"""Airflow DAG `analysis`: after each publication of the count, the statistics, gated and published on their own.

Logic: explosion_monitor.analysis (runner, steps) and explosion_monitor.orchestration.dag_factory.analysis_dag.
"""

from explosion_monitor.orchestration.dag_factory import analysis_dag

analysis = analysis_dag()
