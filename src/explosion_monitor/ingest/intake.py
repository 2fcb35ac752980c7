"""What in incoming/ is a delivery, and when it is complete: before a file is read.

- Office lock files and operating-system litter (`~$…`, `.~lock.…#`, `._…`, `.DS_Store`, `Thumbs.db`,
  `desktop.ini`) are no deliveries: the loader records them as `ignored` and archives them (retention
  covers them: an Excel lock file holds the clerk's name), without a report or notification.
- On a local folder a partner's copy can take minutes. A file is *stable* when two observations about
  a second apart, by the pipeline's own clock, show the same size and modification time; the
  modification time is never compared with now (a file dated 2100 or 2000 is judged the same way).
  S3 uploads are atomic: an object that is listed is complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from explosion_monitor.buckets import Bucket, DropObject

# Two observations this far apart, by the pipeline's clock, decide that a local file is complete.
STABLE_INTERVAL_S = 1.0
# `explosion-monitor run` waits at most this long for files still being written; they wait for the next run.
STABLE_TIMEOUT_S = 15 * 60
_SYSTEM_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


def is_system_file(name: str) -> bool:
    """An Office lock file or operating-system litter, by its base name (case-insensitive where Windows is)."""
    base = PurePosixPath(name).name
    if base.lower() in _SYSTEM_NAMES:
        return True
    return base.startswith(("~$", "._")) or (base.startswith(".~lock.") and base.endswith("#"))


def needs_settling(bucket: Bucket) -> bool:
    """Only a local folder can show a file that is still being written."""
    return bucket.root_url.startswith("file://")


def _version(obj: DropObject) -> tuple[int, object]:
    return obj.size, obj.modified


def wait_until_stable(
    bucket: Bucket,
    objects: Sequence[DropObject],
    *,
    interval: float = STABLE_INTERVAL_S,
    timeout: float = STABLE_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DropObject]:
    """The files among `objects` that are complete, as they are now, in the order given (see `stable_files`)."""
    return stable_files([(bucket, objects)], interval=interval, timeout=timeout, sleep=sleep)[0]


def stable_files(
    listings: Sequence[tuple[Bucket, Sequence[DropObject]]],
    *,
    interval: float = STABLE_INTERVAL_S,
    timeout: float = STABLE_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> list[list[DropObject]]:
    """Per listing, the files that are complete, as they are now, in the order given.

    Local files are observed again after `interval` seconds (one wait for all listings) until two
    observations agree, for at most `timeout` seconds in all; a file still changing then, or one that
    disappeared, is left out (the next run takes it). On S3 every listed object is complete.
    """
    stable: list[dict[str, DropObject]] = [{} for _ in listings]
    last: dict[tuple[int, str], DropObject] = {}
    for i, (bucket, objects) in enumerate(listings):
        for obj in objects:
            if needs_settling(bucket):
                last[(i, obj.name)] = obj
            else:
                stable[i][obj.name] = obj
    deadline = time.monotonic() + timeout
    while last:
        sleep(interval)
        changed: dict[tuple[int, str], DropObject] = {}
        for (i, name), before in last.items():
            current = listings[i][0].stat_incoming(name)
            if current is None:
                continue  # gone (moved by another worker, or withdrawn by the partner)
            if _version(current) == _version(before):
                stable[i][name] = current
            else:
                changed[(i, name)] = current
        last = changed
        if time.monotonic() >= deadline:
            break
    return [
        [found[o.name] for o in objects if o.name in found]
        for found, (_, objects) in zip(stable, listings, strict=False)
    ]
