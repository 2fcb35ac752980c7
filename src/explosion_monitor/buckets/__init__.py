"""Partner drop buckets: one interface over a local folder (``file://``) and S3 (``s3://``).

Every feed has three areas::

    <feed root>/incoming/<name>                         what the partner dropped
    <feed root>/archive/<file_id>/<name>                loaded files
    <feed root>/quarantine/<file_id>/<name>             refused files ...
    <feed root>/quarantine/<file_id>/<name>.rapport.txt ... with the reason beside them

Where the feed root lives follows ``EXPLOSION_MONITOR_BUCKETS``:

* ``file:///srv/drops``       -> ``/srv/drops/<feed>``
* ``s3://``                   -> one bucket per feed: ``s3://<feed>``
* ``s3://bucket/some/prefix`` -> ``s3://bucket/some/prefix/<feed>``

S3 credentials and endpoint follow the AWS conventions: ``AWS_ENDPOINT_URL_S3`` (wins) or
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_DEFAULT_REGION`` (or ``AWS_REGION``) and ``AWS_MAX_ATTEMPTS``.  Without keys botocore's
usual credential chain applies.

Rules this module keeps:

* A partner's file is never deleted.  A move is copy, verify the size, then delete the
  source (locally: a hard link, falling back to a copy, then unlink).  On any failure the
  file stays in ``incoming/``, whatever we copied is removed again, and :class:`BucketError`
  is raised.  A move never overwrites an existing target.  The one exception is retention:
  :meth:`Bucket.delete_stored` removes a file (or report) the pipeline itself stored under
  ``archive/<file_id>/`` or ``quarantine/<file_id>/``, named by its URL and file id, for
  ``explosion-monitor purge`` (``explosion_monitor.retention``) only.  Nothing in
  ``incoming/`` is ever deleted.
* Nothing is written outside the feed root.  The *source* name is used exactly as listed
  (it is the partner's key), but every *target* path goes through :func:`safe_name`:
  ``/``-separated segments, empty and ``.`` segments dropped, a ``..`` segment becomes
  ``_..``, NUL becomes ``_``, a name that ends up empty becomes ``_``.  Quotes, ``;``,
  newlines, non-ASCII and leading dots are kept as they are, so such files stay findable
  under their own name.  Locally every path is also resolved and must stay under the
  (resolved) feed root with no symbolic link below it.
* Symbolic links (and other non-regular files) inside a local feed root are never
  followed: they are not listed, not opened, not moved.  Only the buckets root and the
  feed root themselves may be (reached through) symbolic links.

Listing is recursive on both backends (a partner's sub folder becomes part of the name, as
an S3 key would), folders and folder markers are skipped, and so are our own temporary
files (``.explosion-monitor-tmp-*``); other dot files are partner files and are listed.
URLs are not percent-encoded: ``file://`` + the resolved absolute path, ``s3://bucket/key``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from explosion_monitor.buckets.base import (
    AREAS,
    REPORT_SUFFIX,
    TEMP_PREFIX,
    Bucket,
    BucketError,
    DropObject,
    StoredObject,
    report_name,
    safe_name,
)
from explosion_monitor.buckets.local import LocalBucket
from explosion_monitor.buckets.s3 import S3Bucket, s3_options
from explosion_monitor.config import FEEDS, Settings, get_settings

__all__ = [
    "AREAS",
    "REPORT_SUFFIX",
    "TEMP_PREFIX",
    "Bucket",
    "BucketError",
    "DropObject",
    "LocalBucket",
    "S3Bucket",
    "StoredObject",
    "all_buckets",
    "get_bucket",
    "report_name",
    "s3_options",
    "safe_name",
]


# --------------------------------------------------------------------------- factory


def _location(settings: Settings | None) -> tuple[str, str, str]:
    """``(scheme, netloc, path)`` of the configured buckets URL."""
    url = (settings or get_settings()).buckets
    parts = urlsplit(url)
    if parts.scheme not in ("file", "s3"):
        raise BucketError(f"EXPLOSION_MONITOR_BUCKETS must be a file:// or s3:// URL, not {url!r}.")
    return parts.scheme, parts.netloc, parts.path


def get_bucket(feed: str, settings: Settings | None = None) -> Bucket:
    """The bucket of one feed, as configured by ``EXPLOSION_MONITOR_BUCKETS``."""
    if feed not in FEEDS:
        raise BucketError(f"Unknown feed {feed!r}; the feeds are {', '.join(FEEDS)}.")
    scheme, netloc, path = _location(settings)
    if scheme == "file":
        if netloc not in ("", "localhost"):
            raise BucketError(f"A file:// buckets URL cannot name a host ({netloc!r}); use file:///folder.")
        return LocalBucket(feed, Path(unquote(path)))
    return S3Bucket(feed, netloc or None, unquote(path))


def all_buckets(settings: Settings | None = None) -> dict[str, Bucket]:
    """The buckets of all feeds, by feed name.  They share one S3 client."""
    settings = settings or get_settings()
    buckets = {feed: get_bucket(feed, settings) for feed in FEEDS}
    shared = None
    for bucket in buckets.values():
        if isinstance(bucket, S3Bucket):
            if shared is None:
                shared = bucket.fs
            bucket._fs = shared
    return buckets
