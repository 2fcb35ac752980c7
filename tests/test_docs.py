"""`explosion-monitor docs`: dbt docs and GX Data Docs side by side in reports/docs/, with an index page."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import wap

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def published(pg_admin_url: str) -> Iterator[str]:
    with wap.gx_isolated():
        url = wap.clone(pg_admin_url, wap.published_template(pg_admin_url))
    yield url
    wap.drop(pg_admin_url, url)


def test_docs_builds_both_sites_and_an_index(published: str, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    env = {**os.environ, "WAREHOUSE_URL": published, "EXPLOSION_MONITOR_REPORTS": str(reports),
           "EXPLOSION_MONITOR_HOME": str(wap.gx_home())}  # fmt: skip
    cli = Path(sys.executable).with_name("explosion-monitor")
    done = subprocess.run([str(cli), "docs"], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    index = reports / "docs" / "index.html"
    assert f"Docs written to {index}" in " ".join(done.stdout.split())
    page = index.read_text()
    for link in ("dbt/index.html", "gx/index.html"):
        assert f'href="{link}"' in page and (index.parent / link).is_file(), link
    assert "target_progress" in page and "(blocking)" in page and "publicatie_id 1" in page
    dbt_site = (reports / "docs" / "dbt" / "index.html").read_text()
    # the static site carries the manifest: models and the dashboard exposure are in it
    assert "model.explosion_monitor.target_progress" in dbt_site and "voortgang_offensief" in dbt_site
    gx_site = (reports / "docs" / "gx" / "index.html").read_text()
    assert "target_progress" in gx_site


def test_docs_fails_with_one_sentence_without_a_warehouse(tmp_path: Path) -> None:
    env = {**os.environ, "WAREHOUSE_URL": "postgresql://nobody:x@127.0.0.1:9/none",
           "EXPLOSION_MONITOR_REPORTS": str(tmp_path), "EXPLOSION_MONITOR_HOME": str(wap.gx_home())}  # fmt: skip
    cli = Path(sys.executable).with_name("explosion-monitor")
    done = subprocess.run([str(cli), "docs"], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
