"""The bucket interface: what a feed root offers (list, read, move to archive or quarantine, store a report),
the objects it lists, the name rules every backend keeps, and BucketError. The package docstring
(buckets/__init__.py) has the rules in full; local.py and s3.py are the two backends.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from explosion_monitor.config import FEEDS

Area = Literal["incoming", "archive", "quarantine"]
AREAS: tuple[Area, ...] = ("incoming", "archive", "quarantine")

#: Suffix of the reason file written beside a quarantined file.
REPORT_SUFFIX = ".rapport.txt"
#: Our own temporary files start with this; listings skip them.
TEMP_PREFIX = ".explosion-monitor-tmp-"
#: Longest file name (one path segment) in bytes on common local file systems.
MAX_SEGMENT_BYTES = 255
COPY_CHUNK = 8 * 1024 * 1024


class BucketError(RuntimeError):
    """A bucket operation failed; the message is one sentence for the user."""


@dataclass(frozen=True)
class DropObject:
    """A file in a feed's ``incoming/`` area."""

    feed: str
    #: Path relative to ``incoming/``; may contain ``/`` (sub folders, S3 keys).
    name: str
    size: int
    #: Arrival time, timezone-aware UTC (local mtime, S3 LastModified).
    modified: datetime
    #: Full URL: ``file:///...`` (not percent-encoded) or ``s3://bucket/key``.
    url: str


@dataclass(frozen=True)
class StoredObject:
    """A file in a feed's ``archive/`` or ``quarantine/`` area."""

    feed: str
    area: Area
    #: The ``<file_id>`` folder it sits in; None when that folder is not a number.
    file_id: int | None
    #: Path relative to ``<area>/<file_id>/`` (or to ``<area>/`` when file_id is None).
    name: str
    size: int
    modified: datetime
    url: str
    #: Quarantine only: URL of the ``.rapport.txt`` beside the file, when there is one.
    report_url: str | None = None


# --------------------------------------------------------------------------- names


def safe_name(name: str) -> str:
    """The relative path under which ``name`` is written inside an area.

    Keeps the name as it is where that is safe; see the module docstring for the rules.
    """
    segments: list[str] = []
    for segment in name.replace("\x00", "_").split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            segment = "_.."
        segments.append(segment)
    if not segments:
        return "_"
    if segments[-1].startswith(TEMP_PREFIX):
        segments[-1] = "_" + segments[-1]
    return "/".join(segments)


def report_name(name: str) -> str:
    """The name of the report beside the quarantined ``name``: ``<name>.rapport.txt``.

    When the last segment would become longer than 255 bytes it is shortened and ``~``
    marks the cut (``<shortened name>~.rapport.txt``).
    """
    head, sep, last = name.rpartition("/")
    segment = last + REPORT_SUFFIX
    if len(segment.encode("utf-8", "surrogateescape")) > MAX_SEGMENT_BYTES:
        budget = MAX_SEGMENT_BYTES - len(REPORT_SUFFIX) - 1
        cut = last.encode("utf-8", "surrogateescape")[:budget].decode("utf-8", "ignore")
        segment = cut + "~" + REPORT_SUFFIX
    return head + sep + segment


def is_temp(name: str) -> bool:
    return name.rpartition("/")[2].startswith(TEMP_PREFIX)


def check_file_id(file_id: int) -> int:
    if isinstance(file_id, bool) or not isinstance(file_id, int) or file_id < 0:
        raise BucketError(f"A file id must be a whole number of zero or more, not {file_id!r}.")
    return file_id


def split_stored(area: Area, rel: str) -> tuple[int | None, str]:
    """``"12/a.csv"`` -> ``(12, "a.csv")``; anything not under a numeric folder -> ``(None, rel)``."""
    first, sep, rest = rel.partition("/")
    if sep and rest and first.isascii() and first.isdigit():
        return int(first), rest
    return None, rel


def pair_reports(area: Area, entries: list[tuple[str, int, datetime, str]], feed: str) -> list[StoredObject]:
    """Turn ``(rel, size, modified, url)`` rows into StoredObjects; in quarantine, pair reports."""
    by_rel = {rel: (size, modified, url) for rel, size, modified, url in entries}
    reports: dict[str, str] = {}
    if area == "quarantine":
        for rel in by_rel:
            candidate = report_name(rel)
            if candidate != rel and candidate in by_rel:
                reports[rel] = candidate
    report_rels = set(reports.values())
    result = []
    for rel, (size, modified, url) in by_rel.items():
        if rel in report_rels:
            continue
        file_id, name = split_stored(area, rel)
        report_rel = reports.get(rel)
        result.append(
            StoredObject(
                feed=feed,
                area=area,
                file_id=file_id,
                name=name,
                size=size,
                modified=modified,
                url=url,
                report_url=by_rel[report_rel][2] if report_rel else None,
            )
        )
    result.sort(key=lambda o: (o.file_id is None, o.file_id or 0, o.name))
    return result


def describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.rstrip(".")


def url_of(obj: DropObject | StoredObject | str) -> str:
    return obj if isinstance(obj, str) else obj.url


# --------------------------------------------------------------------------- interface


class Bucket(ABC):
    """One feed's drop location.  Use :func:`get_bucket` rather than constructing one."""

    feed: str

    def __init__(self, feed: str) -> None:
        if feed not in FEEDS:
            raise BucketError(f"Unknown feed {feed!r}; the feeds are {', '.join(FEEDS)}.")
        self.feed = feed
        # incoming/ names whose last move kept a newer upload in place (see S3Bucket._move); read by the loader
        self.move_races: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.feed!r}, {self.root_url!r})"

    # -- to implement ---------------------------------------------------------------

    @property
    @abstractmethod
    def root_url(self) -> str:
        """URL of the feed root (the folder holding incoming/, archive/, quarantine/)."""

    @property
    @abstractmethod
    def fs(self) -> Any:
        """The fsspec file system behind this bucket (for callers that need fsspec)."""

    @abstractmethod
    def ensure(self) -> None:
        """Create what is missing: local folders, or in ``s3://`` mode the feed's bucket."""

    @abstractmethod
    def _list(self, area: Area) -> list[tuple[str, int, datetime, str]]:
        """``(path relative to the area, size, modified, url)`` of the files in an area."""

    @abstractmethod
    def stat_incoming(self, name: str) -> DropObject | None:
        """The file ``incoming/<name>``, or None when there is no such (regular) file."""

    @abstractmethod
    def open(self, url_or_key: str, mode: str = "rb", encoding: str = "utf-8") -> IO[Any]:
        """Open a file of this feed for streaming reading.

        ``url_or_key`` is a URL as returned by this module, or a path relative to the
        feed root such as ``incoming/a.csv``.  Only ``"rb"`` and ``"r"`` (text) are allowed.
        """

    @abstractmethod
    def local_copy(self, obj: DropObject | StoredObject | str) -> contextlib.AbstractContextManager[Path]:
        """A local path to the file's bytes for the duration of the ``with`` block."""

    @abstractmethod
    def put_incoming(self, name: str, data: bytes) -> DropObject:
        """Drop ``data`` as ``incoming/<safe_name(name)>``, replacing a file of that name.

        This plays the partner (sample generator, tests).  Locally the write is atomic
        (temporary file, then rename).
        """

    @abstractmethod
    def _move(self, src_rel: str, dst_rel: str) -> str:
        """Move ``<root>/<src_rel>`` to ``<root>/<dst_rel>`` safely; return the new URL."""

    @abstractmethod
    def _copy_new(self, src_rel: str, dst_rel: str) -> None:
        """Copy without overwriting; the copy gets a fresh modification time."""

    @abstractmethod
    def _exists(self, rel: str) -> bool: ...

    @abstractmethod
    def _write_report(self, rel: str, text: str) -> None: ...

    @abstractmethod
    def _remove_own(self, rel: str) -> None:
        """Remove a file this module wrote itself (best effort is up to the caller)."""

    @abstractmethod
    def _rel_from_url(self, url: str) -> str:
        """The path relative to the feed root of one of this feed's URLs (BucketError if not)."""

    @abstractmethod
    def _delete_stored(self, rel: str) -> bool:
        """Delete ``<root>/<rel>`` (checked by delete_stored); False when it was not there."""

    # -- shared ---------------------------------------------------------------------

    def list_incoming(self) -> list[DropObject]:
        """Files in ``incoming/``, oldest first (by modified, then name).

        Folders, symbolic links and our own temporary files are skipped.
        """
        objects = [
            DropObject(feed=self.feed, name=rel, size=size, modified=modified, url=url)
            for rel, size, modified, url in self._list("incoming")
            if not is_temp(rel)
        ]
        objects.sort(key=lambda o: (o.modified, o.name))
        return objects

    # -- files that are not read (contract v2) ----------------------------------------

    def refusal(self, name: str) -> str | None:
        """Why ``incoming/<name>`` must not be read (a hard-linked file), or None. S3 objects are always readable."""
        return None

    def list_unreadable(self) -> list[tuple[str, int, str]]:
        """``(name, size, reason)`` of entries in ``incoming/`` that are not regular files. None on S3."""
        return []

    def list_archive(self) -> list[StoredObject]:
        """Files in ``archive/``, by file id then name."""
        return pair_reports("archive", self._list("archive"), self.feed)

    def list_quarantine(self) -> list[StoredObject]:
        """Files in ``quarantine/`` (reports not listed separately but as ``report_url``)."""
        return pair_reports("quarantine", self._list("quarantine"), self.feed)

    def archive(self, obj: DropObject, file_id: int) -> str:
        """Move ``incoming/<name>`` to ``archive/<file_id>/<name>``; return the new URL."""
        self._check_own(obj)
        target = f"archive/{check_file_id(file_id)}/{safe_name(obj.name)}"
        return self._move(f"incoming/{obj.name}", target)

    def quarantine(self, obj: DropObject, file_id: int, report: str) -> tuple[str, str]:
        """Move the file to ``quarantine/<file_id>/<name>`` with ``<name>.rapport.txt`` beside it.

        The report (UTF-8) is written first; when the move then fails, a report we created
        is removed again and the file stays in ``incoming/``.  Returns (file URL, report URL).
        """
        self._check_own(obj)
        base = f"quarantine/{check_file_id(file_id)}/{safe_name(obj.name)}"
        report_rel = report_name(base)
        if self.stat_incoming(obj.name) is None:
            raise BucketError(f"Cannot quarantine {obj.name!r}: it is no longer in incoming/ of {self.feed}.")
        if self._exists(base):
            raise BucketError(f"Cannot quarantine {obj.name!r}: {base!r} already exists in {self.feed}.")
        report_existed = self._exists(report_rel)
        self._write_report(report_rel, report)
        try:
            file_url = self._move(f"incoming/{obj.name}", base)
        except BaseException:
            if not report_existed:
                with contextlib.suppress(Exception):
                    self._remove_own(report_rel)
            raise
        return file_url, self._url_for(report_rel)

    def restore_to_incoming(self, url: str) -> DropObject:
        """Copy an archived or quarantined file back into ``incoming/`` (for re-ingest).

        The archived copy stays.  Refuses when ``incoming/`` already holds that name, and
        refuses quarantine reports.
        """
        rel = self._rel_from_url(url)
        area, _, inner = rel.partition("/")
        if area not in ("archive", "quarantine") or not inner:
            raise BucketError(f"Only archived or quarantined files can be restored, not {url!r}.")
        if area == "quarantine" and inner.endswith(REPORT_SUFFIX):
            if self._exists(f"{area}/{inner[: -len(REPORT_SUFFIX)]}"):
                raise BucketError(f"{url!r} is a quarantine report, not a partner file.")
        _, name = split_stored(area, inner)
        target = safe_name(name)
        if self._exists(f"incoming/{target}"):
            raise BucketError(f"Cannot restore {url!r}: incoming/ of {self.feed} already holds {target!r}.")
        self._copy_new(rel, f"incoming/{target}")
        restored = self.stat_incoming(target)
        if restored is None:  # pragma: no cover - only under a concurrent delete
            raise BucketError(f"Restored {url!r}, but the copy in incoming/ of {self.feed} disappeared.")
        return restored

    def delete_stored(self, url: str, file_id: int) -> bool:
        """Delete one archived or quarantined file (or quarantine report) of ``file_id``: retention only.

        ``url`` must lie under ``archive/<file_id>/`` or ``quarantine/<file_id>/`` of this feed; anything
        else (``incoming/`` above all) is refused with BucketError.  Returns False when the file was
        already gone, so a purge that was interrupted can simply run again.
        """
        rel = self._rel_from_url(url)
        area, _, inner = rel.partition("/")
        folder, name = split_stored(area, inner) if area in ("archive", "quarantine") else (None, "")
        if folder is None or folder != check_file_id(file_id) or not name:
            raise BucketError(
                f"Refusing to delete {url!r}: only files under archive/{file_id}/ or quarantine/{file_id}/ "
                f"of {self.feed} can be purged."
            )
        return self._delete_stored(rel)

    def take_move_race(self, name: str) -> str | None:
        """What happened when the last move of ``incoming/<name>`` found a newer upload in its place, or None."""
        return self.move_races.pop(name, None)

    def _check_own(self, obj: DropObject) -> None:
        if obj.feed != self.feed:
            raise BucketError(f"{obj.name!r} belongs to feed {obj.feed}, not to {self.feed}.")

    @abstractmethod
    def _url_for(self, rel: str) -> str: ...
