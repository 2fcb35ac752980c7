"""The LocalExecutor of `make airflow` and the benchmarks, with the heavy imports paid once, not per task.

Airflow 3's LocalExecutor forks its worker processes from the scheduler, and each task process is a fork of a
worker. Importing Great Expectations (about 4 s on a 2-core machine), dbt (about 2 s) and the pipeline's stage
modules in the scheduler, once, before the workers are forked, means that every task process starts with them
loaded (shared copy-on-write pages), instead of each GX or dbt task importing them afresh.

Only what is safe to import before a fork is preloaded: modules, no connections, threads or data contexts.
A module that fails to import is logged and left to the task (which then reports the error as it always did).
Configured by `explosion_monitor.airflow_env` (AIRFLOW__CORE__EXECUTOR); the Celery deployment is unaffected.
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

CLASSPATH = "explosion_monitor.orchestration.executor.PreloadingLocalExecutor"
#: Imported in the scheduler before the workers fork (order: GX's quiet settings first, see quality.context).
PRELOAD = (
    "explosion_monitor.quality",
    "great_expectations",
    "great_expectations_provider.operators.validate_checkpoint",
    "dbt.cli.main",
    "dbt.adapters.postgres",
    "explosion_monitor.transform",
    "explosion_monitor.publish",
    "explosion_monitor.ingest",
    "explosion_monitor.orchestration.steps",
)


def preload(modules: tuple[str, ...] = PRELOAD) -> dict[str, float]:
    """Import `modules`; the seconds each took (a failure is logged, never raised)."""
    from explosion_monitor.quality.context import quiet_gx

    quiet_gx()  # no GX analytics, before great_expectations is imported
    took = {}
    for name in modules:
        started = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # the task will import it again and report the error
            log.warning("Could not preload %s: %s", name, exc)
            continue
        took[name] = round(time.perf_counter() - started, 2)
    return took


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor whose workers are forked after GX, dbt and the stage modules are imported."""

    def start(self) -> None:
        took = preload()
        log.info("Preloaded for the task processes in %.1f s: %s", sum(took.values()), took)
        super().start()
