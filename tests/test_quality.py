"""The quality suites: readable files, split into blocking and warning, faithful to the contracts, run by GX
on a real PostgreSQL, from Python and from an Airflow DAG with the GX provider's operator.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import wap

from explosion_monitor import quality
from explosion_monitor.contracts import get_contract

pytestmark = pytest.mark.timeout(900)

FEEDS = ("politie", "verzekeraars", "corporaties", "gemeenten")


# --- the suite files (no database) ---------------------------------------------------------------


def _readme_levels() -> dict[str, str]:
    text = (wap.REAL_SETTINGS.expectations_dir / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `(\w+)` \| (blocking|warning) \|", text, flags=re.MULTILINE))


def test_suites_are_split_into_blocking_and_warning_as_the_readme_says() -> None:
    suites = quality.load_suites()
    assert _readme_levels() == {name: spec.level for name, spec in suites.items()}
    assert set(quality.warning_suites()) == {"target_progress_wijziging", "reconciliatie_landelijk"}
    assert {
        "raw_politie",
        "raw_verzekeraars",
        "raw_corporaties",
        "raw_leveringen",
        "fct_explosie_incidenten",
        "target_progress",
    } <= set(quality.blocking_suites())
    for spec in suites.values():
        assert all(e["description"].strip() for e in spec.expectations), spec.name


def test_suites_load_without_great_expectations() -> None:
    # DAG files call blocking_suites() at parse time; importing GX there would cost seconds
    code = (
        "import sys; from explosion_monitor import quality; quality.blocking_suites(); "
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("feed", FEEDS)
def test_raw_suites_follow_the_contract(feed: str) -> None:
    spec = quality.load_suites()[f"raw_{feed}"]
    contract = get_contract(feed)
    by_kind: dict[str, dict[str, dict]] = {}
    for e in spec.expectations:
        if "column" in e["kwargs"]:
            by_kind.setdefault(e["type"], {})[e["kwargs"]["column"]] = e["kwargs"]
    for column in contract.columns:
        if column.required:
            assert column.name in by_kind["expect_column_values_to_not_be_null"], column.name
        if column.values:
            assert by_kind["expect_column_values_to_be_in_set"][column.name]["value_set"] == list(column.values)
        if column.min is not None:
            assert by_kind["expect_column_values_to_be_between"][column.name]["min_value"] == column.min


def test_a_broken_suite_file_is_named(tmp_path: Path) -> None:
    settings = dataclasses.replace(wap.REAL_SETTINGS, root=tmp_path)
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "kapot.yml").write_text(
        "suite: kapot\nlevel: blocking\nasset: {table: t}\nexpectations:\n  - type: expect_column_to_exist\n"
        "    kwargs: {column: x}\n"
    )
    with pytest.raises(quality.SuiteError, match=r"kapot.yml: expectation 1 .* needs a description"):
        quality.load_suites(settings)


def test_every_suite_builds_into_gx_expectations() -> None:
    window = quality.Window(0, 10)
    for spec in quality.load_suites().values():
        built = quality.gx_expectations(spec, spec.values(window, "build"))
        assert len(built) == len(spec.expectations), spec.name
        for expectation in built:
            query = getattr(expectation, "unexpected_rows_query", None)
            if query:
                assert "{batch}" in query and not re.search(r"(?<!\{)\{(?!batch\})\w+\}", query), spec.name


# --- the gate on a real PostgreSQL ---------------------------------------------------------------


@pytest.fixture
def built_db(pg_admin_url: str) -> Iterator[str]:
    url = wap.clone(pg_admin_url, wap.built_template(pg_admin_url))
    yield url
    wap.drop(pg_admin_url, url)


def test_raw_suites_check_every_delivery_since_the_last_publication(built_db: str, pg_admin_url: str) -> None:
    with psycopg.connect(built_db, autocommit=True) as conn:
        # a police row whose target is not in the contract, and an insurer row lost from its delivery
        bad = conn.execute(
            "update raw.politie set doelwit = 'raket' where ctid = (select min(ctid) from raw.politie) "
            "returning _file_id, _line_number, incident_id"
        ).fetchone()
        lost = conn.execute(
            "delete from raw.verzekeraars where ctid = (select min(ctid) from raw.verzekeraars) returning _file_id"
        ).fetchone()[0]
        # a published mart that lacks the columns the change warning compares: it cannot be evaluated
        conn.execute("create table marts.target_progress_maandelijks (x integer)")
    with wap.gx_isolated():
        gate = quality.run_gate(url=built_db)

    assert not gate.passed
    assert gate.window == quality.Window(0, 4)
    assert gate.suites["raw_politie"] == "failed" and gate.suites["raw_leveringen"] == "failed"
    assert gate.suites["target_progress"] == "passed"
    # a warning suite that cannot be evaluated is a warning, never a block
    assert gate.suites["target_progress_wijziging"] == "warned"
    unevaluated = next(w for w in gate.warnings if w.suite == "target_progress_wijziging")
    assert "could not be evaluated" in unevaluated.details and "does not exist" in unevaluated.details
    assert not any(f.suite == "target_progress_wijziging" for f in gate.failures)
    doelwit = next(f for f in gate.failures if f.suite == "raw_politie" and f.column == "doelwit")
    # the row is found by file and line; the victim's incident id never reaches a sample (issue 12)
    assert doelwit.sample_rows == [
        {"_file_id": bad[0], "_line_number": bad[1], "incident_id": "(verborgen)", "doelwit": "raket"}
    ]
    assert bad[2] not in gate.report()
    completeness = next(f for f in gate.failures if f.suite == "raw_leveringen")
    assert completeness.column == "rows_loaded/rijen_in_raw"
    assert [row["file_id"] for row in completeness.sample_rows] == [lost]
    assert gate.data_docs is not None and gate.data_docs.is_file()

    # after a publication the raw suites look only at newer deliveries
    published = wap.clone(pg_admin_url, wap.published_template(pg_admin_url))
    try:
        assert quality.delivery_window(published) == quality.Window(4, 4)
    finally:
        wap.drop(pg_admin_url, published)


def test_a_window_without_rows_of_a_feed_skips_its_row_wise_suite(pg_admin_url: str) -> None:
    """After a police drop, the raw suites of the other feeds have no rows in the window: every check of theirs
    is per row, so they are recorded as skipped without GX; the police rows are still checked, and a bad one
    still blocks."""
    specs = quality.load_suites()
    assert all(specs[f"raw_{feed}"].row_wise for feed in ("politie", "verzekeraars", "corporaties", "gemeenten"))
    counted = dataclasses.replace(
        specs["raw_politie"],
        expectations=(
            *specs["raw_politie"].expectations,
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "description": "rows"},
        ),
    )
    assert not counted.row_wise, "a table-level check is not row-wise: it must run on an empty window"

    url = wap.clone(pg_admin_url, wap.published_template(pg_admin_url))
    try:
        assert [o.status for o in wap.deliver(url, [wap.sample_files()[wap.REVISION_DROP]])] == ["loaded"]
        wap.build(url)
        with wap.gx_isolated():
            gate = quality.run_gate(url=url)
        assert gate.passed, gate.report()
        assert {
            name: gate.suites[f"raw_{name}"] for name in ("politie", "verzekeraars", "corporaties", "gemeenten")
        } == {
            "politie": "passed",
            "verzekeraars": "skipped",
            "corporaties": "skipped",
            "gemeenten": "skipped",
        }
        assert gate.suites["raw_leveringen"] == "passed"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "update raw.politie set doelwit = 'raket' where ctid = (select min(ctid) from raw.politie "
                "where _file_id = (select max(_file_id) from raw.politie))"
            )
        with wap.gx_isolated():
            blocked = quality.run_gate(url=url)
        assert not blocked.passed and blocked.suites["raw_politie"] == "failed"
        assert blocked.suites["raw_corporaties"] == "skipped"
    finally:
        wap.drop(pg_admin_url, url)


# --- Airflow: GXValidateCheckpointOperator with a file data context ------------------------------

DAG_FILE = """
from airflow.sdk import DAG
from great_expectations_provider.operators.validate_checkpoint import GXValidateCheckpointOperator

from explosion_monitor import quality

with DAG(dag_id="quality_gate_test", schedule=None, catchup=False) as dag:
    for suite in ("dim_gemeenten", "target_progress", "reconciliatie_landelijk"):
        GXValidateCheckpointOperator(
            task_id=suite,
            configure_checkpoint=quality.checkpoint_factory(suite),
            context_type="file",
            configure_file_data_context=quality.file_context,
        )
"""

RUN_DAG = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("quality_gate_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
run = module.dag.test()
print("RESULT " + json.dumps({ti.task_id: str(ti.state) for ti in run.get_task_instances()}))
"""


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str) -> dict[str, str]:
    """Environment for an Airflow process: its own home and DAG folder, metadata in `airflow_test_quality`."""
    from explosion_monitor import db

    name = "airflow_test_quality"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
    # the database is the superuser's (made above), so Airflow uses the superuser's URL for it
    sync = db.sqlalchemy_url(db.database_url(pg_admin_url, name))
    async_ = db.sqlalchemy_url(sync, "psycopg_async")
    home = tmp_path_factory.mktemp("airflow")
    (home / "dags").mkdir()
    (home / "dags" / "quality_gate_test.py").write_text(textwrap.dedent(DAG_FILE))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sync,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_,
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
        "EXPLOSION_MONITOR_HOME": str(wap.gx_home()),
    }
    airflow = Path(sys.executable).with_name("airflow")
    migrated = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    return env


def _task_log(output: str, task_id: str) -> str:
    """The lines dag.test() printed for one task; the whole output when Airflow printed no task markers."""
    start = output.find(f"[DAG TEST] starting task_id={task_id} ")
    end = output.find(f"[DAG TEST] end task task_id={task_id} ", max(start, 0))
    return output[start:end] if 0 <= start < end else output


def test_airflow_gx_operator_fails_blocking_suites_only(built_db: str, airflow_env: dict[str, str]) -> None:
    with psycopg.connect(built_db, autocommit=True) as conn:
        conn.execute(
            "update build.target_progress set aanslagen = -3 "
            "where niveau = 'gemeente' and code = 'GM0363' and jaar = 2024"
        )
    home = Path(airflow_env["AIRFLOW_HOME"])
    (home / "run_dag.py").write_text(RUN_DAG)
    done = subprocess.run(
        [sys.executable, str(home / "run_dag.py"), str(home / "dags" / "quality_gate_test.py")],
        env={**airflow_env, "WAREHOUSE_URL": built_db},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, so a task's lines stay between its markers
        text=True,
        timeout=600,
    )
    output = done.stdout
    result = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    assert result, output[-5000:]
    states = json.loads(result.removeprefix("RESULT "))
    assert states == {"dim_gemeenten": "success", "target_progress": "failed", "reconciliatie_landelijk": "success"}

    failed = _task_log(output, "target_progress")
    assert "GXValidationFailed" in failed
    assert '"aanslagen": -3' in failed, "the failing rows are in the task log"

    warned = _task_log(output, "reconciliatie_landelijk")
    assert "Warning: reconciliatie_landelijk" in warned and '"aanslagen_warehouse": 1244' in warned
    if warned is not output:  # the failing task's traceback is elsewhere in the whole output
        assert "Traceback" not in warned and "Traceback" not in _task_log(output, "dim_gemeenten")

    # results persist in the file data context and are rendered into Data Docs
    docs = wap.gx_home() / ".data" / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"
    for suite in ("dim_gemeenten", "target_progress", "reconciliatie_landelijk"):
        assert list((docs / "validations" / suite).rglob("*.html")), suite


def test_gate_setup_writes_the_gx_config_once_with_every_data_source(tmp_path: Path, pg_admin_url: str) -> None:
    """The gate defers GX's rewrite of great_expectations.yml (one per data source change) to one write at the
    end of its set-up; a context loaded afterwards from disk has every data source. The data sources are the
    gate's own kind: PostgreSQL, the URL in an environment variable."""
    import great_expectations as gx

    from explosion_monitor.config import get_settings
    from explosion_monitor.quality.checkpoints import _one_config_save
    from explosion_monitor.quality.context import connection_env

    context = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    config = tmp_path / "gx" / "great_expectations.yml"
    before = config.read_text()
    with _one_config_save(context, get_settings()):
        for n in range(3):
            context.data_sources.add_or_update_postgres(
                name=f"bron_{n}", connection_string="${" + connection_env(pg_admin_url) + "}"
            )
        assert config.read_text() == before  # nothing written yet
    assert type(context)._save_project_config is not None and "_save_project_config" not in vars(context)
    reloaded = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    assert {f"bron_{n}" for n in range(3)} <= set(reloaded.data_sources.all())
