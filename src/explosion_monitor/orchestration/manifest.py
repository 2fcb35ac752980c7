"""The dbt manifest Cosmos renders the nightly DAG from, built ahead of time with `dbt parse`.

`dbt parse` needs no database: the connection settings in profiles.yml have defaults. The manifest is
written to `dbt_project/target/parse/manifest.json` (or `$EXPLOSION_MONITOR_DBT_MANIFEST`), a path no
`dbt build` writes to, and replaced atomically, so a DAG parse never reads half a file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from explosion_monitor.config import Settings, get_settings


def manifest_path(settings: Settings | None = None) -> Path:
    """The manifest.json Cosmos renders from: `explosion-monitor dbt-manifest` writes it (dbt parse)."""
    settings = settings or get_settings()
    return settings.dbt_manifest or settings.dbt_project_dir / "target" / "parse" / "manifest.json"


class ManifestError(RuntimeError):
    """dbt parse failed; the message is one sentence."""


def build_manifest(settings: Settings | None = None) -> Path:
    """Run `dbt parse` and put manifest.json where the DAGs expect it; returns its path."""
    settings = settings or get_settings()
    target = manifest_path(settings)
    work = target.parent / ".work"
    project = settings.dbt_project_dir
    dbt = Path(sys.executable).with_name("dbt")
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
    }
    command = [
        str(dbt), "parse", "--project-dir", str(project), "--profiles-dir", str(project),
        "--target-path", str(work), "--log-path", str(project / "logs"), "--no-use-colors", "--quiet",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=project)
    produced = work / "manifest.json"
    if result.returncode != 0 or not produced.is_file():
        detail = " ".join((result.stdout + result.stderr).split())[-600:] or f"exit code {result.returncode}"
        raise ManifestError(f"dbt parse failed: {detail}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(produced, target)
    return target
