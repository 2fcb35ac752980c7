"""A purge reaches Airflow's metadata: XComs and rendered task fields that quote a purged id are removed.

Real DAG runs (dag.test() of tests/airflow_dags/erasure_probe.py against the migrated `airflow_test` database on
the embedded PostgreSQL) push a return value and render a templated argument that quote an incident id; another
run quotes an id that stays. Then erasure.erase_airflow removes exactly the rows that quote the purged id.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import airflow_harness
import psycopg
import pytest

pytestmark = pytest.mark.timeout(300)
PROBE = Path(__file__).parent / "airflow_dags" / "erasure_probe.py"


@pytest.fixture(scope="module")
def airflow_url() -> str:
    env = airflow_harness.configure()
    airflow_harness.migrate()
    return env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg://", "postgresql://", 1)


def _quoting(url: str, needle: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            table: conn.execute(
                f"select count(*) from {table} where dag_id = 'erasure_probe' and strpos({column}::text, %s) > 0",
                (needle,),
            ).fetchone()[0]
            for table, column in (("xcom", "value"), ("rendered_task_instance_fields", "rendered_fields"))
        }


def _probe(incident: str) -> str:
    """A real run of tests/airflow_dags/erasure_probe.py; returns its run id."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROBE)).get_dag("erasure_probe")
    run = dag.test(run_conf={"incident": incident})
    assert str(run.state) == "success"
    return run.run_id


def test_erase_airflow_removes_the_xcoms_and_rendered_fields_that_quote_a_purged_id(airflow_url: str) -> None:
    from explosion_monitor import erasure

    purged, kept = f"PL-PURGE-{uuid.uuid4().hex[:8]}", f"PL-KEEP-{uuid.uuid4().hex[:8]}"
    _probe(purged)
    _probe(kept)
    assert _quoting(airflow_url, purged) == {"xcom": 1, "rendered_task_instance_fields": 1}
    assert _quoting(airflow_url, kept) == {"xcom": 1, "rendered_task_instance_fields": 1}

    removed = erasure.erase_airflow(airflow_url, [purged])

    assert removed == 2
    assert _quoting(airflow_url, purged) == {"xcom": 0, "rendered_task_instance_fields": 0}
    assert _quoting(airflow_url, kept) == {"xcom": 1, "rendered_task_instance_fields": 1}


def test_erase_airflow_without_a_metadata_database_erases_nothing_and_says_why(caplog) -> None:
    from explosion_monitor import erasure

    missing = "postgresql://nobody@127.0.0.1:1/airflow"
    with caplog.at_level("INFO"):
        assert erasure.erase_airflow(missing, ["PL-1"]) == 0
    assert "Airflow metadata not erased" in caplog.text
