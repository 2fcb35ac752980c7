"""No SQL text of the pipeline needs a PostgreSQL newer than 15, the oldest supported (tests/sqlcompat.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlcompat

from explosion_monitor import quality
from explosion_monitor.config import get_settings

ROOT = get_settings().root


def test_no_sql_text_needs_a_server_newer_than_15() -> None:
    texts = list(sqlcompat.sql_texts(ROOT))
    wheres = {w.split(" ")[0].split(":")[0] for w, _ in texts}
    # the scan really reaches every kind of SQL text
    assert any(w.startswith("expectations/") for w in wheres)
    assert any(w.startswith("dbt_project/models/") for w in wheres)
    assert any(w.startswith("dbt_project/macros/") for w in wheres)
    assert any(w.startswith("src/explosion_monitor/") for w in wheres)
    findings = [f for where, text in texts for f in sqlcompat.scan(text, where)]
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize(
    "sql",
    [
        "select n from (select 1 as n) where n > 0",
        "select * from t join (select 1 as k) on true",
        "with x as (select jaar from (select * from batch_table where true) group by jaar) select * from x",
        "select any_value(a) from t group by b",
        "select json_array(1, 2)",
        "select json_object('a' : 1)",
        "select json_object('a' value 1)",
        "select json_arrayagg(a) from t",
        "select * from json_table('[]'::jsonb, '$[*]' columns (a int path '$')) as j",
        "select x is json from t",
        "merge into t using s on t.k = s.k when matched then update set v = s.v returning *",
        "set reserved_connections = 3",
        "select current_setting('transaction_timeout')",
        "grant em_loader to pipeline with inherit true",
        "select 1_000_000 as n",
        "update t set a = 1 returning old.a, new.a",
        "select uuidv7()",
    ],
)
def test_the_scan_finds_what_15_rejects(sql: str) -> None:
    assert sqlcompat.scan(sql, "case"), sql


@pytest.mark.parametrize(
    "sql",
    [
        "select n from (select 1 as n) as s where n > 0",
        "select n from (select 1 as n) s where n > 0",
        "select * from t left join lateral (select 1 as k) as l on true",
        "select extract(year from (d)) from t",
        "select json_object(array['a', '1']), json_array_length('[]'), json_object_keys('{}'::json)",
        "select 'from (select 1) where' as text_not_sql -- from (select 1) where",
        "merge into t using s on t.k = s.k when matched then update set v = s.v",
        "select m_2024_01 from t",
        (
            "select case when current_setting('server_version_num')::int >= 160000 "
            "then current_setting('reserved_connections') end"
        ),
    ],
)
def test_the_scan_passes_what_15_accepts(sql: str) -> None:
    assert not sqlcompat.scan(sql, "case"), sqlcompat.scan(sql, "case")


def test_dbt_jinja_is_neutral() -> None:
    text = sqlcompat.dbt_sql(
        "select * from {{ ref('stg_politie__incidenten') }} {% if is_incremental() %}where x{% endif %}"
    )
    assert "jinja_ref" in text and "{%" not in text


def test_a_suite_with_an_unaliased_batch_does_not_load(tmp_path: Path) -> None:
    path = tmp_path / "kapot.yml"
    path.write_text(
        "suite: kapot\nlevel: blocking\nasset: {table: target_progress}\nexpectations:\n"
        "  - type: unexpected_rows_expectation\n    description: x\n"
        "    kwargs: {unexpected_rows_query: 'select * from {batch} where aanslagen < 0'}\n"
    )
    with pytest.raises(quality.SuiteError, match=r"\{batch\} as <alias>.*PostgreSQL 15"):
        quality._load_suite(path)


def test_gx_gets_exactly_one_alias_for_every_batch() -> None:
    # without a JOIN, GX adds `AS subselect` itself: the suite's alias goes around a wrapper
    assert quality._gx_batch_query("select * from {batch} as b where x < 0") == (
        "select * from (select * from {batch}) as b where x < 0"
    )
    # with a JOIN, GX leaves the alias to the query
    joined = "select * from {batch} as t left join {batch} as v on v.k = t.k"
    assert quality._gx_batch_query(joined) == joined
