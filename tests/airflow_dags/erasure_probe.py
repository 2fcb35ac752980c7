"""A DAG of the tests only (bundle `test-dags`, tests/airflow_harness.py): its task's templated argument and
return value quote the incident id given in the run's conf, as a project task's XCom or rendered field could."""

from __future__ import annotations

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param


def _echo(incident: str) -> dict[str, str]:
    return {"incident_id": incident}


with DAG("erasure_probe", schedule=None, catchup=False, params={"incident": Param("PL-0", type="string")}):
    PythonOperator(task_id="noemt_incident", python_callable=_echo, op_kwargs={"incident": "{{ params.incident }}"})
