"""The local-folder backend (``file://``): hard links or verified copies, never following a symbolic link, every
path resolved and kept under the feed root."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from explosion_monitor.buckets.base import (
    AREAS,
    COPY_CHUNK,
    TEMP_PREFIX,
    Area,
    Bucket,
    BucketError,
    DropObject,
    StoredObject,
    describe,
    is_temp,
    safe_name,
    url_of,
)

# --------------------------------------------------------------------------- local


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


def fsync_dir(path: str) -> None:
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
            raise BucketError(f"Cannot create folder {path!r}: {describe(exc)}.") from exc
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
            raise BucketError(f"Cannot read {exc.filename!r}: {describe(exc)}.") from exc

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
        if is_temp(name):
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
                if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or is_temp(entry):
                    continue
                nl, en = (
                    ("een symbolische koppeling", "a symbolic link")
                    if stat.S_ISLNK(st.st_mode)
                    else ("geen gewoon bestand", "not a regular file")
                )
                found.append(
                    (os.path.relpath(path, top), st.st_size, f"Niet gelezen: dit is {nl}. / Not read: this is {en}.")
                )
        return sorted(found)

    def open(self, url_or_key: str, mode: str = "rb", encoding: str = "utf-8") -> IO[Any]:
        if mode not in ("rb", "r"):
            raise BucketError(f"Buckets open files for reading only ('rb' or 'r'), not {mode!r}.")
        rel = self._rel_from_url(url_or_key)
        path = self._path(rel)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise BucketError(f"Cannot open {url_or_key!r}: {describe(exc)}.") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BucketError(f"Cannot open {url_or_key!r}: it is not a regular file.")
        if mode == "rb":
            return os.fdopen(fd, "rb")
        return os.fdopen(fd, "r", encoding=encoding, newline="")

    @contextlib.contextmanager
    def local_copy(self, obj: DropObject | StoredObject | str) -> Iterator[Path]:
        rel = self._rel_from_url(url_of(obj))
        found = self._regular(rel)
        if found is None:
            raise BucketError(f"{url_of(obj)!r} is not a regular file in the folder of feed {self.feed}.")
        yield Path(found[0])

    def put_incoming(self, name: str, data: bytes) -> DropObject:
        rel = safe_name(name)
        parent = self._write_whole(f"incoming/{rel}", data, f"Cannot write {rel!r} into incoming/ of {self.feed}")
        fsync_dir(parent)
        dropped = self.stat_incoming(rel)
        if dropped is None:  # pragma: no cover - only under a concurrent delete
            raise BucketError(f"Wrote {rel!r} into incoming/ of {self.feed}, but it disappeared.")
        return dropped

    def _exists(self, rel: str) -> bool:
        return os.path.lexists(self._path(rel))

    def _write_report(self, rel: str, text: str) -> None:
        self._write_whole(
            rel, text.encode("utf-8", "backslashreplace"), f"Cannot write the report {rel!r} of {self.feed}"
        )

    def _write_whole(self, rel: str, data: bytes, failure: str) -> str:
        """Write `data` to `rel` all at once (a private temporary file, fsynced, renamed over it); returns the
        folder. Raises BucketError(`failure`: the reason)."""
        target = self._path(rel)
        parent = self._makedirs(os.path.dirname(rel))
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
            raise BucketError(f"{failure}: {describe(exc)}.") from exc
        return parent

    def _remove_own(self, rel: str) -> None:
        os.unlink(self._path(rel))

    def _delete_stored(self, rel: str) -> bool:
        path = self._path(rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BucketError(f"Cannot delete {rel!r} of {self.feed}: {describe(exc)}.") from exc
        if not stat.S_ISREG(st.st_mode):
            raise BucketError(f"Refusing to delete {rel!r} of {self.feed}: it is not a regular file.")
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BucketError(f"Cannot delete {rel!r} of {self.feed}: {describe(exc)}.") from exc
        # Tidy up the <area>/<file_id>/ folders left empty; the area folder itself stays.
        area_dir = self._path(rel.partition("/")[0])
        parent = os.path.dirname(path)
        while parent != area_dir and parent.startswith(area_dir + os.sep):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)
        fsync_dir(parent)
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
                shutil.copyfileobj(source, out, COPY_CHUNK)
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
            raise BucketError(f"Cannot move {src_rel!r} of {self.feed} to {dst_rel!r}: {describe(exc)}.") from exc
        try:
            copied = os.lstat(dst)
            if not stat.S_ISREG(copied.st_mode) or copied.st_size != st.st_size:
                raise BucketError(
                    f"Moving {src_rel!r} of {self.feed} failed: the copy has {copied.st_size} bytes, not {st.st_size}."
                )
            fsync_dir(dst_dir)
            try:
                self._delete_source(src)
            except OSError as exc:
                if not os.path.lexists(src):  # gone after all: the move is complete
                    return "file://" + dst
                raise BucketError(
                    f"Cannot remove {src_rel!r} of {self.feed} after copying it: {describe(exc)}."
                ) from exc
        except BaseException:
            if os.path.lexists(src):  # only ever remove the copy while the original is still there
                with contextlib.suppress(OSError):
                    os.unlink(dst)
            raise
        fsync_dir(os.path.dirname(src))
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
            raise BucketError(f"Cannot copy {src_rel!r} of {self.feed} to {dst_rel!r}: {describe(exc)}.") from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        fsync_dir(parent)
