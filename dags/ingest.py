"""Airflow DAGs `ingest_<feed>`: one per partner feed, scheduled on the feed's bucket (an AssetWatcher).

A new file in <feed>/incoming/ starts its run within seconds: claim, validate, load or quarantine, and a
`raw.<feed>` asset event for the warehouse DAG. Logic: explosion_monitor.orchestration.
"""

from explosion_monitor.config import FEEDS
from explosion_monitor.orchestration.dag_factory import ingest_dag

for _feed in FEEDS:
    globals()[f"ingest_{_feed}"] = ingest_dag(_feed)
