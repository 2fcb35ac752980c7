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

import contextlib
import errno
import io
import os
import re
import shutil
import stat
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import unquote, urlsplit

from explosion_monitor.config import FEEDS, S3Settings, Settings, get_settings

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

Area = Literal["incoming", "archive", "quarantine"]
AREAS: tuple[Area, ...] = ("incoming", "archive", "quarantine")

#: Suffix of the reason file written beside a quarantined file.
REPORT_SUFFIX = ".rapport.txt"
#: Our own temporary files start with this; listings skip them.
TEMP_PREFIX = ".explosion-monitor-tmp-"
#: Longest file name (one path segment) in bytes on common local file systems.
_MAX_SEGMENT_BYTES = 255
_COPY_CHUNK = 8 * 1024 * 1024


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
    if len(segment.encode("utf-8", "surrogateescape")) > _MAX_SEGMENT_BYTES:
        budget = _MAX_SEGMENT_BYTES - len(REPORT_SUFFIX) - 1
        cut = last.encode("utf-8", "surrogateescape")[:budget].decode("utf-8", "ignore")
        segment = cut + "~" + REPORT_SUFFIX
    return head + sep + segment


def _is_temp(name: str) -> bool:
    return name.rpartition("/")[2].startswith(TEMP_PREFIX)


def _check_file_id(file_id: int) -> int:
    if isinstance(file_id, bool) or not isinstance(file_id, int) or file_id < 0:
        raise BucketError(f"A file id must be a whole number of zero or more, not {file_id!r}.")
    return file_id


def _split_stored(area: Area, rel: str) -> tuple[int | None, str]:
    """``"12/a.csv"`` -> ``(12, "a.csv")``; anything not under a numeric folder -> ``(None, rel)``."""
    first, sep, rest = rel.partition("/")
    if sep and rest and first.isascii() and first.isdigit():
        return int(first), rest
    return None, rel


def _pair_reports(
    area: Area, entries: list[tuple[str, int, datetime, str]], feed: str
) -> list[StoredObject]:
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
        file_id, name = _split_stored(area, rel)
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


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.rstrip(".")


def _url_of(obj: DropObject | StoredObject | str) -> str:
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
            if not _is_temp(rel)
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
        return _pair_reports("archive", self._list("archive"), self.feed)

    def list_quarantine(self) -> list[StoredObject]:
        """Files in ``quarantine/`` (reports not listed separately but as ``report_url``)."""
        return _pair_reports("quarantine", self._list("quarantine"), self.feed)

    def archive(self, obj: DropObject, file_id: int) -> str:
        """Move ``incoming/<name>`` to ``archive/<file_id>/<name>``; return the new URL."""
        self._check_own(obj)
        target = f"archive/{_check_file_id(file_id)}/{safe_name(obj.name)}"
        return self._move(f"incoming/{obj.name}", target)

    def quarantine(self, obj: DropObject, file_id: int, report: str) -> tuple[str, str]:
        """Move the file to ``quarantine/<file_id>/<name>`` with ``<name>.rapport.txt`` beside it.

        The report (UTF-8) is written first; when the move then fails, a report we created
        is removed again and the file stays in ``incoming/``.  Returns (file URL, report URL).
        """
        self._check_own(obj)
        base = f"quarantine/{_check_file_id(file_id)}/{safe_name(obj.name)}"
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
        _, name = _split_stored(area, inner)
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
        folder, name = _split_stored(area, inner) if area in ("archive", "quarantine") else (None, "")
        if folder is None or folder != _check_file_id(file_id) or not name:
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


# --------------------------------------------------------------------------- local


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class LocalBucket(Bucket):
    """A feed root in a local folder: ``<buckets root>/<feed>``."""

    def __init__(self, feed: str, base: Path) -> None:
        super().__init__(feed)
        if not base.is_absolute():
            raise BucketError(f"The buckets folder must be an absolute path, not {str(base)!r}.")
        self._configured_root = os.path.normpath(os.path.join(base, feed))

    # -- paths -----------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The resolved feed root folder."""
        return Path(self._root_real())

    def _root_real(self) -> str:
        return os.path.realpath(self._configured_root)

    @property
    def root_url(self) -> str:
        return "file://" + self._root_real()

    @property
    def fs(self) -> Any:
        import fsspec

        return fsspec.filesystem("file")

    def _url_for(self, rel: str) -> str:
        return "file://" + os.path.join(self._root_real(), rel)

    def _path(self, rel: str) -> str:
        """The absolute path of ``rel``; BucketError unless it stays under the root, link-free."""
        root = self._root_real()
        path = os.path.join(root, rel)
        if (
            not rel
            or "\x00" in rel
            or os.path.normpath(rel) != rel  # '..', '.', '//', leading '/'
            or rel.startswith(("/", "../"))
            or os.path.realpath(path) != path
        ):
            raise BucketError(
                f"Refusing {rel!r} in {self.feed}: it would lead outside the feed folder or through a symbolic link."
            )
        return path

    def _rel_from_url(self, url: str) -> str:
        if url.startswith("file://"):
            raw = url[len("file://") :]
            if raw.startswith("localhost/"):
                raw = raw[len("localhost") :]
            path = os.path.normpath(raw)
            for root in (self._root_real(), self._configured_root):
                if path.startswith(root + os.sep):
                    return path[len(root) + 1 :]
            raise BucketError(f"{url!r} is not inside the folder of feed {self.feed}.")
        if "://" in url:
            raise BucketError(f"{url!r} is not a file:// URL of feed {self.feed}.")
        return url.lstrip("/")

    def _regular(self, rel: str) -> tuple[str, os.stat_result] | None:
        try:
            path = self._path(rel)
            st = os.lstat(path)
        except (BucketError, OSError):
            return None
        return (path, st) if stat.S_ISREG(st.st_mode) else None

    def _makedirs(self, rel_dir: str) -> str:
        path = self._path(rel_dir)
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise BucketError(f"Cannot create folder {path!r}: {_describe(exc)}.") from exc
        return self._path(rel_dir)  # re-check: nothing in between may be a link

    # -- interface -------------------------------------------------------------------

    def ensure(self) -> None:
        for area in AREAS:
            self._makedirs(area)

    def _list(self, area: Area) -> list[tuple[str, int, datetime, str]]:
        try:
            top = self._path(area)
        except BucketError:
            raise BucketError(f"The {area}/ folder of {self.feed} is a symbolic link; refusing to follow it.") from None
        if not os.path.isdir(top):
            return []

        def fail(exc: OSError) -> None:
            if isinstance(exc, FileNotFoundError) and exc.filename != top:
                return  # a sub folder removed while we looked
            raise BucketError(f"Cannot read {exc.filename!r}: {_describe(exc)}.") from exc

        rows = []
        for dirpath, _dirnames, filenames in os.walk(top, onerror=fail, followlinks=False):
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue  # removed while we looked
                if not stat.S_ISREG(st.st_mode):
                    continue  # symbolic links, sockets, pipes
                rel = os.path.relpath(path, top)
                rows.append((rel, st.st_size, _mtime(st), "file://" + path))
        return rows

    def stat_incoming(self, name: str) -> DropObject | None:
        if _is_temp(name):
            return None
        found = self._regular(f"incoming/{name}")
        if found is None or name != os.path.normpath(name):
            return None
        path, st = found
        return DropObject(self.feed, name, st.st_size, _mtime(st), "file://" + path)

    def refusal(self, name: str) -> str | None:
        found = self._regular(f"incoming/{name}")
        if found is not None and found[1].st_nlink > 1:
            # Another name can change it while we read, or it is someone else's file linked in.
            return (
                f"Niet gelezen: het bestand heeft {found[1].st_nlink} harde koppelingen (hard links). / "
                f"Not read: the file has {found[1].st_nlink} hard links."
            )
        return None

    def list_unreadable(self) -> list[tuple[str, int, str]]:
        try:
            top = self._path("incoming")
        except BucketError:
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            for entry in [*filenames, *dirnames]:
                path = os.path.join(dirpath, entry)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or _is_temp(entry):
                    continue
                nl, en = ("een symbolische koppeling", "a symbolic link") if stat.S_ISLNK(st.st_mode) else (
                    "geen gewoon bestand", "not a regular file")
                found.append((os.path.relpath(path, top), st.st_size, f"Niet gelezen: dit is {nl}. / Not read: this is {en}."))
        return sorted(found)

    def open(self, url_or_key: str, mode: str = "rb", encoding: str = "utf-8") -> IO[Any]:
        if mode not in ("rb", "r"):
            raise BucketError(f"Buckets open files for reading only ('rb' or 'r'), not {mode!r}.")
        rel = self._rel_from_url(url_or_key)
        path = self._path(rel)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise BucketError(f"Cannot open {url_or_key!r}: {_describe(exc)}.") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BucketError(f"Cannot open {url_or_key!r}: it is not a regular file.")
        if mode == "rb":
            return os.fdopen(fd, "rb")
        return os.fdopen(fd, "r", encoding=encoding, newline="")

    @contextlib.contextmanager
    def local_copy(self, obj: DropObject | StoredObject | str) -> Iterator[Path]:
        rel = self._rel_from_url(_url_of(obj))
        found = self._regular(rel)
        if found is None:
            raise BucketError(f"{_url_of(obj)!r} is not a regular file in the folder of feed {self.feed}.")
        yield Path(found[0])

    def put_incoming(self, name: str, data: bytes) -> DropObject:
        rel = safe_name(name)
        target = self._path(f"incoming/{rel}")
        parent = self._makedirs(os.path.dirname(f"incoming/{rel}"))
        tmp = os.path.join(parent, TEMP_PREFIX + uuid.uuid4().hex)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise BucketError(f"Cannot write {rel!r} into incoming/ of {self.feed}: {_describe(exc)}.") from exc
        _fsync_dir(parent)
        dropped = self.stat_incoming(rel)
        if dropped is None:  # pragma: no cover - only under a concurrent delete
            raise BucketError(f"Wrote {rel!r} into incoming/ of {self.feed}, but it disappeared.")
        return dropped

    def _exists(self, rel: str) -> bool:
        return os.path.lexists(self._path(rel))

    def _write_report(self, rel: str, text: str) -> None:
        target = self._path(rel)
        parent = self._makedirs(os.path.dirname(rel))
        tmp = os.path.join(parent, TEMP_PREFIX + uuid.uuid4().hex)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(text.encode("utf-8", "backslashreplace"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise BucketError(f"Cannot write the report {rel!r} of {self.feed}: {_describe(exc)}.") from exc

    def _remove_own(self, rel: str) -> None:
        os.unlink(self._path(rel))

    def _delete_stored(self, rel: str) -> bool:
        path = self._path(rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BucketError(f"Cannot delete {rel!r} of {self.feed}: {_describe(exc)}.") from exc
        if not stat.S_ISREG(st.st_mode):
            raise BucketError(f"Refusing to delete {rel!r} of {self.feed}: it is not a regular file.")
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BucketError(f"Cannot delete {rel!r} of {self.feed}: {_describe(exc)}.") from exc
        # Tidy up the <area>/<file_id>/ folders left empty; the area folder itself stays.
        area_dir = self._path(rel.partition("/")[0])
        parent = os.path.dirname(path)
        while parent != area_dir and parent.startswith(area_dir + os.sep):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)
        _fsync_dir(parent)
        return True

    def _delete_source(self, path: str) -> None:
        os.unlink(path)

    def _place(self, src: str, dst: str, *, link: bool) -> None:
        """Make ``dst`` a new name (hard link) or a new copy of ``src``; never overwrite ``dst``."""
        if link and os.lstat(src).st_nlink == 1:
            # A file with other hard links is copied: those other names could still change it.
            try:
                os.link(src, dst, follow_symlinks=False)
                try:
                    os.chmod(dst, 0o600)  # ours now: private, whatever mode the partner gave it
                    return
                except OSError:
                    os.unlink(dst)  # not ours to change (another owner): take a copy of our own below
            except FileExistsError:
                raise
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS):
                    raise
        # Copy into a file that must not exist yet (O_EXCL): no overwrite, no link followed.
        src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except BaseException:
            os.close(src_fd)
            raise
        try:
            with os.fdopen(fd, "wb") as out, os.fdopen(src_fd, "rb") as source:
                shutil.copyfileobj(source, out, _COPY_CHUNK)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(dst)
            raise

    def _move(self, src_rel: str, dst_rel: str) -> str:
        found = self._regular(src_rel)
        if found is None:
            raise BucketError(f"Cannot move {src_rel!r} of {self.feed}: it is not a regular file there (any more).")
        src, st = found
        dst = self._path(dst_rel)
        if os.path.lexists(dst):
            raise BucketError(f"Cannot move {src_rel!r} of {self.feed}: {dst_rel!r} already exists.")
        dst_dir = self._makedirs(os.path.dirname(dst_rel))
        try:
            self._place(src, dst, link=True)
        except FileExistsError as exc:
            raise BucketError(f"Cannot move {src_rel!r} of {self.feed}: {dst_rel!r} already exists.") from exc
        except OSError as exc:
            raise BucketError(f"Cannot move {src_rel!r} of {self.feed} to {dst_rel!r}: {_describe(exc)}.") from exc
        try:
            copied = os.lstat(dst)
            if not stat.S_ISREG(copied.st_mode) or copied.st_size != st.st_size:
                raise BucketError(
                    f"Moving {src_rel!r} of {self.feed} failed: the copy has {copied.st_size} bytes, not {st.st_size}."
                )
            _fsync_dir(dst_dir)
            try:
                self._delete_source(src)
            except OSError as exc:
                if not os.path.lexists(src):  # gone after all: the move is complete
                    return "file://" + dst
                raise BucketError(
                    f"Cannot remove {src_rel!r} of {self.feed} after copying it: {_describe(exc)}."
                ) from exc
        except BaseException:
            if os.path.lexists(src):  # only ever remove the copy while the original is still there
                with contextlib.suppress(OSError):
                    os.unlink(dst)
            raise
        _fsync_dir(os.path.dirname(src))
        return "file://" + dst

    def _copy_new(self, src_rel: str, dst_rel: str) -> None:
        found = self._regular(src_rel)
        if found is None:
            raise BucketError(f"Cannot copy {src_rel!r} of {self.feed}: it is not a regular file there.")
        src, st = found
        dst = self._path(dst_rel)
        parent = self._makedirs(os.path.dirname(dst_rel))
        tmp = os.path.join(parent, TEMP_PREFIX + uuid.uuid4().hex)
        try:
            self._place(src, tmp, link=False)
            if os.lstat(tmp).st_size != st.st_size:
                raise BucketError(f"Copying {src_rel!r} of {self.feed} produced a file of the wrong size.")
            os.link(tmp, dst, follow_symlinks=False)  # fails instead of overwriting
        except FileExistsError as exc:
            raise BucketError(f"Cannot copy {src_rel!r} of {self.feed}: {dst_rel!r} already exists.") from exc
        except OSError as exc:
            raise BucketError(f"Cannot copy {src_rel!r} of {self.feed} to {dst_rel!r}: {_describe(exc)}.") from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _fsync_dir(parent)


# --------------------------------------------------------------------------- S3


def s3_options(s3: S3Settings | Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``s3fs.S3FileSystem`` from the S3 settings (config.S3Settings, the AWS_* variables);
    a mapping is read as such variables. None: the settings of this process's environment, now."""
    if s3 is None:
        s3 = get_settings().s3
    elif not isinstance(s3, S3Settings):
        s3 = S3Settings.from_environ(s3)
    client_kwargs: dict[str, Any] = {}
    if s3.endpoint_url:
        client_kwargs["endpoint_url"] = s3.endpoint_url
    if s3.region:
        client_kwargs["region_name"] = s3.region
    options: dict[str, Any] = {
        "key": s3.key,
        "secret": s3.secret,
        "token": s3.token,
        "client_kwargs": client_kwargs,
        "use_listings_cache": False,
    }
    if s3.max_attempts:
        # botocore reads this variable too; passing it makes it part of fsspec's instance cache key.
        options["config_kwargs"] = {"retries": {"max_attempts": s3.max_attempts}}
    return options


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _safe_suffix(name: str) -> str:
    suffix = os.path.splitext(name.rpartition("/")[2])[1]
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""


class S3Bucket(Bucket):
    """A feed root on S3: ``s3://<feed>`` or ``s3://<bucket>/<prefix>/<feed>``."""

    def __init__(self, feed: str, bucket: str | None, prefix: str = "", *, filesystem: Any = None) -> None:
        super().__init__(feed)
        self.bucket_per_feed = not bucket
        self.bucket = bucket or feed
        parts = [p for p in prefix.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise BucketError(f"The S3 prefix {prefix!r} must not contain '..'.")
        if not self.bucket_per_feed:
            parts.append(feed)
        self.prefix = "".join(p + "/" for p in parts)  # "" or "a/b/politie/"
        self._fs = filesystem

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            try:
                self._fs = fsspec.filesystem("s3", **s3_options())
            except Exception as exc:  # noqa: BLE001 - anything from botocore's setup
                raise BucketError(f"Cannot set up the S3 client: {_describe(exc)}.") from exc
        return self._fs

    @property
    def root_url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, rel: str) -> str:
        return self.prefix + rel

    def _url_for(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self._key(rel)}"

    def _rel_from_url(self, url: str) -> str:
        if url.startswith("s3://"):
            head = f"s3://{self.bucket}/{self.prefix}"
            if not url.startswith(head) or len(url) == len(head):
                raise BucketError(f"{url!r} is not inside {head} (feed {self.feed}).")
            return url[len(head) :]
        if "://" in url:
            raise BucketError(f"{url!r} is not an s3:// URL of feed {self.feed}.")
        return url

    def _path(self, key: str) -> str:
        """The s3fs path of a key in this bucket (public s3fs/fsspec API only: no private client calls)."""
        return f"{self.bucket}/{key}"

    def _listing(self, folder: str, prefix: str = "") -> list[dict[str, Any]]:
        """Objects under folder/ (whose name starts with prefix), from an S3 listing: LastModified to the ms."""
        found = self.fs.find(self._path(folder.rstrip("/")), detail=True, prefix=prefix)
        return [info for info in found.values() if info.get("type") != "directory" and "LastModified" in info]

    def _what(self, exc: BaseException) -> str:
        endpoint = (getattr(self._fs, "client_kwargs", None) or {}).get("endpoint_url")
        return f"{_describe(exc)} (S3 at {endpoint or 'AWS'})"

    # -- interface -------------------------------------------------------------------

    def ensure(self) -> None:
        try:
            self.fs.info(self.bucket)
            return
        except FileNotFoundError:
            if not self.bucket_per_feed:
                raise BucketError(
                    f"S3 bucket {self.bucket!r} does not exist; create it or point EXPLOSION_MONITOR_BUCKETS elsewhere."
                ) from None
        except Exception as exc:  # noqa: BLE001
            raise BucketError(f"Cannot reach S3 bucket {self.bucket!r}: {self._what(exc)}.") from exc
        try:
            # s3fs asks for the client's region_name as the LocationConstraint itself (none for us-east-1)
            self.fs.mkdir(self.bucket)
        except FileExistsError:
            pass  # created meanwhile, by us or someone else
        except Exception as exc:  # noqa: BLE001
            raise BucketError(f"Cannot create S3 bucket {self.bucket!r}: {self._what(exc)}.") from exc

    def _list(self, area: Area) -> list[tuple[str, int, datetime, str]]:
        top = self._key(area + "/")
        rows = []
        try:
            items = self._listing(top)
            if not items:
                self.fs.info(self.bucket)  # an empty listing of a missing bucket is an error, not "no files"
        except FileNotFoundError as exc:
            raise BucketError(f"S3 bucket {self.bucket!r} does not exist; run the setup (ensure) first.") from exc
        except Exception as exc:  # noqa: BLE001
            raise BucketError(f"Cannot list {area}/ of {self.feed}: {self._what(exc)}.") from exc
        for item in items:
            key = item["name"].split("/", 1)[1]
            if key.endswith("/"):
                continue  # folder marker
            rows.append((key[len(top) :], int(item["size"]), _utc(item["LastModified"]), f"s3://{self.bucket}/{key}"))
        return rows

    def _head(self, rel: str) -> dict[str, Any] | None:
        """Size and LastModified of exactly this key (from a listing: millisecond precision)."""
        key = self._key(rel)
        if not rel or key.endswith("/"):
            return None
        folder, _, name = key.rpartition("/")
        try:
            items = self._listing(folder, prefix=name)
        except FileNotFoundError as exc:
            raise BucketError(f"S3 bucket {self.bucket!r} does not exist; run the setup (ensure) first.") from exc
        except Exception as exc:  # noqa: BLE001
            raise BucketError(f"Cannot look up {rel!r} of {self.feed}: {self._what(exc)}.") from exc
        for item in items:
            if item["name"] == self._path(key):
                return {"Size": int(item["size"]), "LastModified": item["LastModified"]}
        return None

    def stat_incoming(self, name: str) -> DropObject | None:
        if _is_temp(name):
            return None
        item = self._head(f"incoming/{name}")
        if item is None:
            return None
        return DropObject(
            self.feed, name, int(item["Size"]), _utc(item["LastModified"]), self._url_for(f"incoming/{name}")
        )

    def open(self, url_or_key: str, mode: str = "rb", encoding: str = "utf-8") -> IO[Any]:
        if mode not in ("rb", "r"):
            raise BucketError(f"Buckets open files for reading only ('rb' or 'r'), not {mode!r}.")
        rel = self._rel_from_url(url_or_key)
        try:
            raw = self.fs.open(f"{self.bucket}/{self._key(rel)}", "rb")
        except FileNotFoundError as exc:
            raise BucketError(f"Cannot open {url_or_key!r}: there is no such file.") from exc
        except Exception as exc:  # noqa: BLE001
            raise BucketError(f"Cannot open {url_or_key!r}: {self._what(exc)}.") from exc
        if mode == "rb":
            return raw
        return io.TextIOWrapper(raw, encoding=encoding, newline="")

    @contextlib.contextmanager
    def local_copy(self, obj: DropObject | StoredObject | str) -> Iterator[Path]:
        url = _url_of(obj)
        rel = self._rel_from_url(url)
        fd, tmp = tempfile.mkstemp(prefix="explosion-monitor-", suffix=_safe_suffix(rel))
        try:
            try:
                with os.fdopen(fd, "wb") as out, self.open(url, "rb") as source:
                    shutil.copyfileobj(source, out, _COPY_CHUNK)
            except OSError as exc:
                raise BucketError(f"Cannot download {url!r}: {_describe(exc)}.") from exc
            expected = getattr(obj, "size", None)
            if expected is not None and os.path.getsize(tmp) != expected:
                raise BucketError(f"Downloading {url!r} gave {os.path.getsize(tmp)} bytes instead of {expected}.")
            yield Path(tmp)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def put_incoming(self, name: str, data: bytes) -> DropObject:
        rel = safe_name(name)
        try:
            self.fs.pipe_file(self._path(self._key(f"incoming/{rel}")), data)
        except Exception as exc:  # noqa: BLE001
            raise BucketError(f"Cannot write {rel!r} into incoming/ of {self.feed}: {self._what(exc)}.") from exc
        dropped = self.stat_incoming(rel)
        if dropped is None:  # pragma: no cover - only under a concurrent delete
            raise BucketError(f"Wrote {rel!r} into incoming/ of {self.feed}, but it disappeared.")
        return dropped

    def _exists(self, rel: str) -> bool:
        return self._head(rel) is not None

    def _write_report(self, rel: str, text: str) -> None:
        try:
            self.fs.pipe_file(
                self._path(self._key(rel)),
                text.encode("utf-8", "backslashreplace"),
                ContentType="text/plain; charset=utf-8",
            )
        except Exception as exc:  # noqa: BLE001
            raise BucketError(f"Cannot write the report {rel!r} of {self.feed}: {self._what(exc)}.") from exc

    def _remove_own(self, rel: str) -> None:
        self.fs.rm_file(self._path(self._key(rel)))

    def _delete_stored(self, rel: str) -> bool:
        if self._head(rel) is None:
            return False
        try:
            self.fs.rm_file(self._path(self._key(rel)))
        except Exception as exc:  # noqa: BLE001
            raise BucketError(f"Cannot delete {rel!r} of {self.feed}: {self._what(exc)}.") from exc
        return True

    def _delete_source(self, key: str) -> None:
        self.fs.rm_file(self._path(key))

    def _copy(self, src_rel: str, dst_rel: str, verb: str) -> dict[str, Any]:
        """Copy to a key that does not exist yet; verify the size; return the source's listing entry."""
        source = self._head(src_rel)
        if source is None:
            raise BucketError(f"Cannot {verb} {src_rel!r} of {self.feed}: there is no such file (any more).")
        if self._exists(dst_rel):
            raise BucketError(f"Cannot {verb} {src_rel!r} of {self.feed}: {dst_rel!r} already exists.")
        size = int(source["Size"])
        try:
            # cp_file (not copy): no glob expansion of '[', '*', '?' in partner names.
            self.fs.cp_file(f"{self.bucket}/{self._key(src_rel)}", f"{self.bucket}/{self._key(dst_rel)}")
            copied = self._head(dst_rel)
            if copied is None or int(copied["Size"]) != size:
                got = "nothing" if copied is None else f"{copied['Size']} bytes"
                raise BucketError(f"Cannot {verb} {src_rel!r} of {self.feed}: the copy has {got}, not {size} bytes.")
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self._remove_own(dst_rel)
            if isinstance(exc, BucketError) or not isinstance(exc, Exception):
                raise
            raise BucketError(f"Cannot {verb} {src_rel!r} of {self.feed} to {dst_rel!r}: {self._what(exc)}.") from exc
        return source

    def _move(self, src_rel: str, dst_rel: str) -> str:
        source = self._copy(src_rel, dst_rel, "move")
        # A partner may upload the same name again between the copy and the delete. This server has no
        # conditional delete, so look just before deleting: another ETag (or size) is a new upload, which
        # stays in incoming/ for the next run; the race is recorded by the caller (take_move_race).
        now = self._head(src_rel)
        if now is None:
            return self._url_for(dst_rel)  # already gone: nothing left to delete
        if now.get("ETag") != source.get("ETag") or int(now["Size"]) != int(source["Size"]):
            self.move_races[src_rel.removeprefix("incoming/")] = (
                f"a new upload (ETag {now.get('ETag')}, {now['Size']} bytes) replaced {src_rel!r} between the copy "
                f"to {dst_rel!r} and the delete; it stays in incoming/ for the next run"
            )
            return self._url_for(dst_rel)
        try:
            self._delete_source(self._key(src_rel))
        except Exception as exc:  # noqa: BLE001
            # The delete may have gone through with only the answer lost: look before rolling back,
            # so that the copy is only removed while the original is certainly still there.
            try:
                source_left = self._head(src_rel) is not None
            except BucketError:
                raise BucketError(
                    f"Cannot remove {src_rel!r} of {self.feed} after copying it to {dst_rel!r} "
                    f"({self._what(exc)}); it may now be in both places."
                ) from exc
            if not source_left:
                return self._url_for(dst_rel)
            with contextlib.suppress(Exception):
                self._remove_own(dst_rel)
            raise BucketError(
                f"Cannot remove {src_rel!r} of {self.feed} after copying it: {self._what(exc)}."
            ) from exc
        return self._url_for(dst_rel)

    def _copy_new(self, src_rel: str, dst_rel: str) -> None:
        self._copy(src_rel, dst_rel, "copy")


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
