"""Running the pipeline in Airflow 3: event triggers, DAG builders, task steps and notifications.

The DAG files in `dags/` are declarations that call `explosion_monitor.orchestration.dag_factory`; everything that
does work lives here and in the stage modules it calls (`ingest`, `transform`, `quality`, `publish`), so
the CLI and the DAGs share one implementation.

Modules:
- `store`: the orchestration tables in `ops` (drop claims, pipeline failures, notifications, MinIO events);
- `triggers`: `IncomingFilesTrigger`, the AssetWatcher trigger that turns a new file in a bucket into one
  asset event (polling, or woken by MinIO bucket notifications in PostgreSQL);
- `steps`: what each task does (ingest the event keys, reconcile, plan and run the dbt build, gate and publish);
- `reingest`, `rebuild`: the two manual maintenance jobs;
- `notify`: the one pluggable notifier (log, e-mail through Airflow's SMTP provider, webhook);
- `dag_factory`: the DAG builders, default_args, tags and failure callbacks (named so beside the `dags/` folder);
- `maintenance_dags`: the builders of the DAGs that keep the pipeline whole (reconcile, freshness, reingest, retention, rebuild);
- `connections`: the CLI's settings as Airflow Connections; `manifest`: the dbt manifest Cosmos renders from;
- `local_run`: `explosion-monitor run`, the DAGs in this process with `dag.test()`;
- `prod_local`, `prod_smoke`: the compose topology as native processes, and its end-to-end scenario.

Nothing here imports Airflow, dbt or Great Expectations at module level except `dag_factory` and `triggers`,
which need Airflow (and are only imported by Airflow processes).
"""
