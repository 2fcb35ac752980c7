"""The BI dashboard "Voortgang Offensief" as code (docker/metabase/), tested without Metabase.

Metabase cannot run here, so the definitions are held to the real warehouse: every question's SQL runs as
bi_reader on the published marts (the sample build, with the analysis run's tables) and returns rows. The API payloads init.py sends are built from the
same files, and the dbt exposure names the dashboard's URL pattern.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import wap
import yaml

ROOT = Path(__file__).resolve().parents[1]
METABASE = ROOT / "docker" / "metabase"
SPEC = json.loads((METABASE / "dashboard.json").read_text())
pytestmark = pytest.mark.timeout(900)


def _init_module():
    spec = importlib.util.spec_from_file_location("metabase_init", METABASE / "init.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def published(pg_admin_url: str, sample_build: str) -> Iterator[str]:
    """The whole sample (every delivery, the measures too) published, with the analysis run's tables (forecast,
    Wat werkt) published after the count."""
    from explosion_monitor import publish
    from explosion_monitor.analysis.runner import run_analysis

    with wap.gx_isolated():
        url = wap.clone(pg_admin_url, wap.db_name(sample_build))
        assert publish.gate_and_publish(url=url, run_id="metabase").outcome == "published"
        result = run_analysis(url=url, run_id="metabase")
    assert result.outcome == "published", result
    yield url
    wap.drop(pg_admin_url, url)


def test_the_definition_is_complete() -> None:
    assert SPEC["dashboard"]["name"] == "Voortgang Offensief"
    slugs = [q["slug"] for q in SPEC["questions"]]
    assert sorted(slugs) == sorted(p.stem for p in (METABASE / "questions").glob("*.sql"))
    assert len({q["name"] for q in SPEC["questions"]}) == len(slugs)
    # target progress, the running-year forecast, the month series, the municipality table, Wat werkt
    assert {"doelvoortgang", "prognose", "maandreeks", "gemeenten", "wat_werkt"} <= set(slugs)
    cells = set()
    for q in SPEC["questions"]:
        lay = q["layout"]
        assert lay["col"] >= 0 and lay["col"] + lay["size_x"] <= 24, q["slug"]
        cell = {
            (r, c)
            for r in range(lay["row"], lay["row"] + lay["size_y"])
            for c in range(lay["col"], lay["col"] + lay["size_x"])
        }
        assert not cells & cell, f"{q['slug']} overlaps another card"
        cells |= cell


def test_init_builds_the_api_payloads_from_the_files() -> None:
    init = _init_module()
    spec = init.definition()
    card = init.card_payload(spec["questions"][0], database_id=7, collection_id=3)
    assert card["dataset_query"] == {
        "type": "native",
        "database": 7,
        "native": {"query": (METABASE / "questions" / "doelvoortgang.sql").read_text()},
    }
    assert card["collection_id"] == 3 and card["name"] == "Doel per jaar en niveau"
    dashcards = init.dashcards({"doelvoortgang": 11, "maandreeks": 12}, spec)
    assert [(d["card_id"], d["id"]) for d in dashcards] == [(11, -1), (12, -2)]
    assert dashcards[1]["size_x"] == 12


def test_the_exposure_names_the_dashboard_url_pattern() -> None:
    doc = yaml.safe_load((ROOT / "dbt_project" / "models" / "marts" / "_exposures.yml").read_text())
    exposure = next(e for e in doc["exposures"] if e["label"] == SPEC["dashboard"]["name"])
    assert exposure["url"] == SPEC["dashboard"]["url_pattern"]
    assert exposure["url"].format(id=4).endswith("/dashboard/4-voortgang-offensief")


@pytest.mark.parametrize("question", SPEC["questions"], ids=[q["slug"] for q in SPEC["questions"]])
def test_every_question_runs_as_bi_reader_and_returns_rows(published: str, question: dict) -> None:
    sql_text = (METABASE / "questions" / f"{question['slug']}.sql").read_text()
    with psycopg.connect(wap.login_url(published, "bi_reader"), autocommit=True) as conn:
        if question.get("requires"):  # a table of the analysis run: published after the count
            assert conn.execute("select to_regclass(%s)", (question["requires"],)).fetchone()[0] is not None
        assert conn.execute("select current_user").fetchone()[0] == "bi_reader"
        rows = conn.execute(sql_text).fetchall()
    assert rows, f"{question['slug']} returns no rows on the published sample marts"
