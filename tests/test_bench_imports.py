"""Every benchmark script still imports: a module moved or renamed in the package breaks a benchmark nobody runs
in CI. Each script's top level runs (its imports), not its main()."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted([*BENCH.glob("*/run.py"), BENCH / "reliability" / "fuzz.py"])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(BENCH)))
def test_benchmark_imports(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [str(BENCH), str(script.parent), *sys.path])
    namespace = runpy.run_path(str(script), run_name="bench_import_check")
    assert callable(namespace.get("main"))
