"""The S3 backend (``s3://``) over s3fs: copy, verify the size, then delete the source; credentials and endpoint
from the S3 settings (config.S3Settings, the AWS_* conventions)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from explosion_monitor.buckets.base import (
    COPY_CHUNK,
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
from explosion_monitor.config import S3Settings, get_settings

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
            except Exception as exc:
                raise BucketError(f"Cannot set up the S3 client: {describe(exc)}.") from exc
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
        return f"{describe(exc)} (S3 at {endpoint or 'AWS'})"

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
        except Exception as exc:
            raise BucketError(f"Cannot reach S3 bucket {self.bucket!r}: {self._what(exc)}.") from exc
        try:
            # s3fs asks for the client's region_name as the LocationConstraint itself (none for us-east-1)
            self.fs.mkdir(self.bucket)
        except FileExistsError:
            pass  # created meanwhile, by us or someone else
        except Exception as exc:
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
        except Exception as exc:
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
        except Exception as exc:
            raise BucketError(f"Cannot look up {rel!r} of {self.feed}: {self._what(exc)}.") from exc
        for item in items:
            if item["name"] == self._path(key):
                return {"Size": int(item["size"]), "LastModified": item["LastModified"]}
        return None

    def stat_incoming(self, name: str) -> DropObject | None:
        if is_temp(name):
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
        except Exception as exc:
            raise BucketError(f"Cannot open {url_or_key!r}: {self._what(exc)}.") from exc
        if mode == "rb":
            return raw
        return io.TextIOWrapper(raw, encoding=encoding, newline="")

    @contextlib.contextmanager
    def local_copy(self, obj: DropObject | StoredObject | str) -> Iterator[Path]:
        url = url_of(obj)
        rel = self._rel_from_url(url)
        fd, tmp = tempfile.mkstemp(prefix="explosion-monitor-", suffix=_safe_suffix(rel))
        try:
            try:
                with os.fdopen(fd, "wb") as out, self.open(url, "rb") as source:
                    shutil.copyfileobj(source, out, COPY_CHUNK)
            except OSError as exc:
                raise BucketError(f"Cannot download {url!r}: {describe(exc)}.") from exc
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
        except Exception as exc:
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
        except Exception as exc:
            raise BucketError(f"Cannot write the report {rel!r} of {self.feed}: {self._what(exc)}.") from exc

    def _remove_own(self, rel: str) -> None:
        self.fs.rm_file(self._path(self._key(rel)))

    def _delete_stored(self, rel: str) -> bool:
        if self._head(rel) is None:
            return False
        try:
            self.fs.rm_file(self._path(self._key(rel)))
        except Exception as exc:
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
        except Exception as exc:
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
            raise BucketError(f"Cannot remove {src_rel!r} of {self.feed} after copying it: {self._what(exc)}.") from exc
        return self._url_for(dst_rel)

    def _copy_new(self, src_rel: str, dst_rel: str) -> None:
        self._copy(src_rel, dst_rel, "copy")
