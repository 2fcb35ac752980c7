"""Files private by default (README, section Security): what the pipeline writes is 0600 in 0700 folders, also
under a usual login umask of 022, and a partner's file becomes 0600 once moved into archive/ or quarantine/."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from partner_files import csv_bytes, politie_row

EM = [sys.executable, "-m", "explosion_monitor.cli"]


def _modes(top: Path) -> dict[str, str]:
    """Mode of every folder and file below `top` (itself included), by relative path."""
    out = {".": oct(stat.S_IMODE(top.stat().st_mode))}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            out[str(path.relative_to(top))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return out


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    old = os.umask(0o022)  # the umask a user usually logs in with: the command must tighten it itself
    try:
        return subprocess.run([*EM, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    finally:
        os.umask(old)


def test_ingest_leaves_buckets_archive_and_quarantine_private(warehouse_url: str, tmp_path: Path) -> None:
    buckets = tmp_path / "buckets"
    env = {"WAREHOUSE_URL": warehouse_url, "EXPLOSION_MONITOR_BUCKETS": buckets.as_uri()}
    assert _run("sample", env=env).returncode == 0
    # a partner writes world-readable (and even world-writable) files of its own into incoming/
    incoming = buckets / "politie" / "incoming"
    good, bad = incoming / "partner_goed.csv", incoming / "partner_fout.csv"
    good.write_bytes(csv_bytes([politie_row(1, incident_id="MODE-1")]))
    bad.write_bytes(b"dit is geen csv\x00")
    for path in (good, bad):
        path.chmod(0o666)
    result = _run("ingest", env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    modes = _modes(buckets)
    assert [p for p in modes if "/archive/" in p and p.endswith("partner_goed.csv")]
    assert [p for p in modes if "/quarantine/" in p and p.endswith("partner_fout.csv")]
    assert [p for p in modes if "/quarantine/" in p and p.endswith(".rapport.txt")]
    loose = {p: m for p, m in modes.items() if m != ("0o700" if (buckets / p).is_dir() else "0o600")}
    assert loose == {}, loose


def test_a_linked_partner_file_becomes_private_in_the_archive(local_buckets: str) -> None:
    """The local move hard-links when it can: the partner's inode is ours after the move, and made 0600."""
    from explosion_monitor.buckets import get_bucket

    bucket = get_bucket("politie")
    bucket.ensure()
    obj = bucket.put_incoming("gedeeld.csv", b"x")
    Path(obj.url.removeprefix("file://")).chmod(0o664)
    url = bucket.archive(obj, 7)
    assert oct(stat.S_IMODE(os.stat(url.removeprefix("file://")).st_mode)) == "0o600"


@pytest.mark.parametrize("command", [["airflow", "version"]])
def test_airflow_command_runs_with_a_private_umask(tmp_path: Path, command: list[str]) -> None:
    """`explosion-monitor airflow ...` (what `make airflow` runs): AIRFLOW_HOME and what Airflow writes are private."""
    home = tmp_path / "airflow"
    result = _run(*command, env={"AIRFLOW_HOME": str(home)})
    assert result.returncode == 0, result.stderr[-2000:]
    modes = _modes(home)
    loose = {p: m for p, m in modes.items() if m != ("0o700" if (home / p).is_dir() else "0o600")}
    assert loose == {}, loose
