"""The quality gate: the Great Expectations suites in `expectations/`, run with GX 1.x on PostgreSQL.

Each file `expectations/<suite>.yml` is one suite, readable in review: its level (`blocking` catches data
that is wrong and stops publication; `warning` catches data that is surprising and is only reported), the
table or query it validates, and its expectations in GX's own shape (`type`, `kwargs`, `description`).
`expectations/README.md` lists them.

The suites are turned into GX objects only when a check runs (never when a DAG file is parsed: importing
great_expectations costs seconds), in a file data context under `.data/gx/` so that every validation result
is kept and rendered into Data Docs (`data_docs_index()`). The CLI (`run_gate`) and the Airflow DAGs
(`GXValidateCheckpointOperator(configure_checkpoint=checkpoint_factory(...), context_type="file",
configure_file_data_context=file_context)`) run the same suites through the same code: the `warehouse` DAG
runs `checkpoint_factory(level=BLOCKING)` (one checkpoint, a validation definition per blocking suite) and
`checkpoint_factory(level=WARNING)`, both resolved from expectations/ when the task runs.

Tables are named without a schema in the suites: they resolve in the schema under validation (`build` by
default) through the connection's search_path. The raw suites validate the deliveries since the last
publication: `{vanaf_file_id}` and `{tot_en_met_file_id}` are filled in when the check runs.

The package: `suites` (the YAML files, the outcome types), `context` (connection, GX file data context, Data
Docs), `checkpoints` (suites as GX checkpoints, the gate). Everything is importable from here.
"""

from explosion_monitor.quality.checkpoints import (
    GateCheckpoint,
    GateRun,
    SuiteCheckpoint,
    SuiteResult,
    UnrunnableSuite,
    checkpoint_factory,
    gx_batch_query,
    gx_expectations,
    run_gate,
)
from explosion_monitor.quality.context import (
    data_docs_index,
    delivery_window,
    file_context,
    gx_lock,
    gx_root,
    update_newest_docs,
)
from explosion_monitor.quality.suites import (
    BLOCKING,
    DEFAULT_SCHEMA,
    KEEP_RESULTS_PER_SUITE,
    LEVELS,
    SAMPLE_ROWS,
    WARNING,
    CheckFailure,
    GateResult,
    SuiteError,
    SuiteSpec,
    Window,
    blocking_suites,
    gate_from_results,
    jsonable,
    load_suite,
    load_suites,
    warning_suites,
)

__all__ = [
    "BLOCKING",
    "DEFAULT_SCHEMA",
    "KEEP_RESULTS_PER_SUITE",
    "LEVELS",
    "SAMPLE_ROWS",
    "WARNING",
    "CheckFailure",
    "GateCheckpoint",
    "GateResult",
    "GateRun",
    "SuiteCheckpoint",
    "SuiteError",
    "SuiteResult",
    "SuiteSpec",
    "UnrunnableSuite",
    "Window",
    "blocking_suites",
    "checkpoint_factory",
    "data_docs_index",
    "delivery_window",
    "file_context",
    "gate_from_results",
    "gx_batch_query",
    "gx_expectations",
    "gx_lock",
    "gx_root",
    "jsonable",
    "load_suite",
    "load_suites",
    "run_gate",
    "update_newest_docs",
    "warning_suites",
]
