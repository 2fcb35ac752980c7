"""The report for mayors, from published marts on a real PostgreSQL: figures, offline charts, the command line.

The sample warehouse is built once per session (conftest `sample_build`); this module copies its marts into `marts`
itself, as a publication would, so the report does not depend on the publish step.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import types
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest
import wap
from psycopg import sql
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

import explosion_monitor
from explosion_monitor.cli import app
from explosion_monitor.config import get_settings
from explosion_monitor.reports import common
from explosion_monitor.reports import landelijk as report

pytestmark = pytest.mark.timeout(600)

MARTS = (
    "target_progress", "target_progress_maandelijks", "target_progress_historie", "reconciliatie_landelijk",
    "koppelingskwaliteit", "schade_en_woningimpact_per_gemeente", "nazorg_per_gemeente", "dim_gemeenten",
    "fct_explosie_incidenten",
)  # fmt: skip
RUN_ID = "test-rapport-run"
WARNING = {"suite": "target_progress", "expectation": "expect_column_values_to_be_between",
           "column": "verandering_pct", "details": "2 van 342 rijen buiten het bereik", "sample_rows": []}  # fmt: skip
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _fake_quality(index: Path | None, fail: bool = False) -> types.ModuleType:
    module = types.ModuleType("explosion_monitor.quality")

    def data_docs_index(settings: object = None) -> Path | None:
        if fail:
            raise RuntimeError("no Great Expectations here")
        return index

    module.data_docs_index = data_docs_index  # type: ignore[attr-defined]
    return module


def _use_quality(mp: pytest.MonkeyPatch, module: types.ModuleType) -> None:
    mp.setitem(sys.modules, "explosion_monitor.quality", module)
    mp.setattr(explosion_monitor, "quality", module, raising=False)


@pytest.fixture(scope="module")
def published(sample_build: str, pg_admin_url: str) -> Iterator[str]:
    """A clone of the sample build (others share it) with its marts copied into `marts`, a publication and one
    warning in ops.publication_log."""
    url = wap.clone(pg_admin_url, wap.db_name(sample_build), prefix="em_test_report")
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for name in MARTS:
            conn.execute(sql.SQL("create table marts.{} as select * from build.{}").format(
                sql.Identifier(name), sql.Identifier(name)))  # fmt: skip
        publication_id = conn.execute(
            "insert into ops.publication_log (run_id, started_at, finished_at, outcome, warnings) "
            "values (%s, %s, %s, 'published', %s) returning publication_id",
            (
                RUN_ID,
                dt.datetime(2026, 1, 16, 7, 0, tzinfo=dt.UTC),
                dt.datetime(2026, 1, 16, 7, 5, tzinfo=dt.UTC),
                Jsonb([WARNING]),
            ),
        ).fetchone()[0]
        conn.execute("create table marts.publicatie as select %s::bigint as publicatie_id", (publication_id,))
    try:
        yield url
    finally:
        wap.drop(pg_admin_url, url)


@pytest.fixture(scope="module")
def written(published: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """`explosion-monitor report` against the published marts; yields the report's path and the command's output."""
    reports = tmp_path_factory.mktemp("reports")
    docs = tmp_path_factory.mktemp("gx") / "index.html"
    docs.write_text("<html>Data Docs</html>", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WAREHOUSE_URL", published)
        mp.setenv("EXPLOSION_MONITOR_REPORTS", str(reports))
        _use_quality(mp, _fake_quality(docs))
        result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 0, result.output
    yield reports / "target_progress.html", result.output


class _Resources(HTMLParser):
    """Every URL the page loads or links to."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[tuple[str, str]] = []  # (tag, url) the browser fetches by itself
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        for attr in ("src", "srcset", "data", "poster"):
            if values.get(attr):
                self.loads.append((tag, values[attr] or ""))
        if tag == "link" and values.get("href"):
            self.loads.append((tag, values["href"] or ""))


def test_command_prints_the_path(written: tuple[Path, str]) -> None:
    path, output = written
    assert path.is_file()
    assert f"Report written to {path}" in " ".join(output.split())


def test_report_names_the_figures(written: tuple[Path, str]) -> None:
    text = written[0].read_text(encoding="utf-8")
    assert '<html lang="nl">' in text
    # the national figures, in Dutch notation, and the verdict
    # 2026 is the running year (its target assumed: floor(0.9 x 1,525) = 1,372); 2025, closed, missed its target
    for figure in (
        "1.543",
        "1.525",
        "max. 1.372",
        "(aangenomen)",
        "114,3",
        "−1,2%",
        "max. 1.388",
        "Doel niet gehaald",
        "137 boven het doel",
    ):
        assert figure in text, figure
    assert "15 oktober 2026" in text  # peildatum of the newest police delivery
    # every section, with Dutch labels
    for label in ("Kerncijfers", "Heel Nederland per maand, 2024–2026", "Gemeenten met de meeste aanslagen in 2026",
                  "G4, G40 en overige gemeenten", "Politie-eenheden",
                  "Schade bij verzekeraars en gevolgen voor woningen",
                  "Aansluiting op de gepubliceerde landelijke cijfers", "Wat we wisten bij elke politielevering",
                  "Toelichting op de cijfers", "Rotterdam", "Eenheid Limburg", "Overige gemeenten"):  # fmt: skip
        assert label in text, label
    # the explanation of the metric
    for phrase in ("inclusief pogingen", "aangetroffen", "nieuwste peildatum", "Gemeentegrenzen van nu"):
        assert phrase in text, phrase


def test_report_shows_the_publication(written: tuple[Path, str]) -> None:
    text = written[0].read_text(encoding="utf-8")
    assert RUN_ID in text
    assert "16 januari 2026, 08:05 (Nederlandse tijd)" in text  # finished_at 07:05 UTC
    assert "Waarschuwingen bij deze publicatie (1)" in text
    assert "expect_column_values_to_be_between (kolom verandering_pct) – 2 van 342 rijen buiten het bereik" in text
    parser = _Resources()
    parser.feed(text)
    docs = [href for href in parser.links if href.endswith("index.html")]
    assert len(docs) == 1 and not docs[0].startswith(("/", "http", "file:"))  # relative to the report
    assert (written[0].parent / docs[0]).resolve().read_text(encoding="utf-8") == "<html>Data Docs</html>"


def test_report_opens_offline_with_local_pngs(written: tuple[Path, str]) -> None:
    path = written[0]
    text = path.read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(text)
    images = [url for tag, url in parser.loads if tag == "img"]
    assert [tag for tag, _ in parser.loads if tag != "img"] == []  # no scripts, stylesheets, frames or objects
    assert len(images) == 6 and len(set(images)) == 6
    for url in images:
        assert re.fullmatch(r"img/[a-z0-9_]+\.png", url), url
        data = (path.parent / url).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82"), url
    assert sorted(p.name for p in (path.parent / "img").iterdir()) == sorted(u.split("/")[1] for u in images)
    assert not re.search(r"https?://", text)
    assert "<script" not in text and "<link" not in text and "@import" not in text and "url(" not in text


def test_report_is_deterministic(written: tuple[Path, str], published: str, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        _use_quality(mp, _fake_quality(None))
        again = report.write_report(url=published, schema="marts", out_dir=tmp_path)
    first = written[0].parent
    for png in sorted((first / "img").iterdir()):
        assert (tmp_path / "img" / png.name).read_bytes() == png.read_bytes(), png.name
    # the same page, except that this time there were no Data Docs to link to
    drop_docs = re.compile(r"\s*<dt>Kwaliteitscontroles</dt><dd>.*?</dd>")
    assert drop_docs.sub("", written[0].read_text(encoding="utf-8")) == again.read_text(encoding="utf-8")


def test_data_docs_link_is_skipped_gracefully(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    _use_quality(monkeypatch, _fake_quality(None, fail=True))
    assert report.data_docs_link(settings, tmp_path) is None
    _use_quality(monkeypatch, _fake_quality(tmp_path / "missing.html"))
    assert report.data_docs_link(settings, tmp_path) is None
    monkeypatch.setitem(sys.modules, "explosion_monitor.quality", None)  # the quality gate is not installed
    monkeypatch.delattr(explosion_monitor, "quality", raising=False)
    assert report.data_docs_link(settings, tmp_path) is None


@pytest.mark.usefixtures("local_buckets")
def test_nothing_published_is_one_sentence(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLOSION_MONITOR_REPORTS", str(tmp_path))
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 1
    assert result.output.strip() == "Nothing is published yet: run `explosion-monitor run` first."
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "target_progress.html").exists()


def test_dutch_number_formatting() -> None:
    assert common.getal(1543) == "1.543" and common.getal(1388 / 12, 1) == "115,7" and common.getal(None) == "–"
    assert common.getal(1234567.891, 2) == "1.234.567,89"
    assert common.procent(-1.17) == "−1,2%" and common.procent(12.7) == "+12,7%" and common.procent(0) == "±0,0%"
    assert common.datum(dt.date(2026, 1, 15)) == "15 januari 2026"
    assert common.euro_mln(8_670_000) == "€ 8,7 mln"


def test_report_files_are_private(written: tuple[Path, str]) -> None:
    """The page and its charts are 0600 in a 0700 img/ folder, whatever the umask (README, section Security)."""
    import stat

    page = written[0]
    files = [page, *sorted((page.parent / "img").iterdir())]
    assert len(files) > 2
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {f.name: "0o600" for f in files}
    assert oct(stat.S_IMODE((page.parent / "img").stat().st_mode)) == "0o700"
