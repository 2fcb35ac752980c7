"""Files private by default: what the pipeline writes (buckets, archive, quarantine, reports, logs, secrets) is
readable by its own account only, 0600 files in 0700 folders.

Every entry point (the CLI, `make airflow` and the processes Airflow starts from it, the DAG files) tightens the
process umask, so files and folders written by us or by libraries (dbt, Airflow, matplotlib) are private too. A
partner's file keeps no mode of its own once it is ours: the move into archive/ or quarantine/ sets 0600.
How to give a partner access to its own incoming/ is in the README (section Security).
"""

from __future__ import annotations

import os

PRIVATE_UMASK = 0o077
PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_umask() -> int:
    """Tighten this process's umask (inherited by its children) to at least 077; returns the previous umask."""
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)
    return previous
