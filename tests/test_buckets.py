"""Buckets over a local folder and over a real S3 server (the juicefs gateway, see s3server.py)."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from explosion_monitor.buckets import (
    REPORT_SUFFIX,
    TEMP_PREFIX,
    Bucket,
    BucketError,
    DropObject,
    LocalBucket,
    S3Bucket,
    all_buckets,
    get_bucket,
    report_name,
    s3_options,
    safe_name,
)
from explosion_monitor.buckets import local as bucket_module
from explosion_monitor.config import FEEDS

pytestmark = pytest.mark.timeout(60)

FEED = "politie"
TEST_BUCKET = "tests"
HOSTILE = ["../x.csv", 'a"b;c.csv', "new\nline.csv", "café ☃.csv", ".hidden.csv", "sub/../../y.csv", "z/..", "/abs.csv"]
KEPT = ['a"b;c.csv', "new\nline.csv", "café ☃.csv", ".hidden.csv"]  # stored under their own name


@dataclass
class Drop:
    """A bucket under test plus direct (non-Bucket) access to what it stored."""

    kind: str
    bucket: Bucket
    #: Every stored file or key this test wrote, relative to the test's buckets root.
    stored: Callable[[], list[str]]
    #: Bytes of ``<feed root>/<rel>``, read without the Bucket class.
    raw: Callable[[str], bytes]
    #: Create a plain file at ``<feed root>/<rel>`` (blocks a folder of that name).
    plant: Callable[[str, bytes], None]


@pytest.fixture
def s3_env(s3_server, monkeypatch: pytest.MonkeyPatch):
    s3_server.apply_env(monkeypatch)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # a local server: failures should fail fast
    return s3_server


def _local_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feed: str = FEED) -> Drop:
    base = tmp_path / "drops"
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", base.as_uri())
    bucket = get_bucket(feed)
    bucket.ensure()
    root = base / feed

    def stored() -> list[str]:
        return sorted(os.path.relpath(os.path.join(d, f), base) for d, _, files in os.walk(tmp_path) for f in files)

    def plant(rel: str, data: bytes) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)

    return Drop("file", bucket, stored, lambda rel: (root / rel).read_bytes(), plant)


def _s3_drop(server, monkeypatch: pytest.MonkeyPatch, feed: str = FEED) -> Drop:
    server.create_bucket(TEST_BUCKET)
    run = f"run-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", f"s3://{TEST_BUCKET}/{run}")
    bucket = get_bucket(feed)
    bucket.ensure()
    fs = server.filesystem()
    top = f"{run}/{feed}/"

    def stored() -> list[str]:
        return sorted(key[len(run) + 1 :] for key in server.keys(TEST_BUCKET, run + "/"))

    def raw(rel: str) -> bytes:
        return fs.cat_file(f"{TEST_BUCKET}/{top}{rel}")

    def plant(rel: str, data: bytes) -> None:
        server.call("put_object", Bucket=TEST_BUCKET, Key=top + rel, Body=data)

    return Drop("s3", bucket, stored, raw, plant)


@pytest.fixture(params=["file", "s3"])
def drop(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drop:
    if request.param == "file":
        return _local_drop(tmp_path, monkeypatch)
    return _s3_drop(request.getfixturevalue("s3_env"), monkeypatch)


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drop:
    return _local_drop(tmp_path, monkeypatch)


def _all_inside(drop: Drop) -> None:
    outside = [path for path in drop.stored() if not path.startswith(f"{FEED}/")]
    assert outside == [], f"written outside the feed root: {outside}"


# --------------------------------------------------------------------------- names


def test_safe_name_keeps_ordinary_and_awkward_names() -> None:
    for name in KEPT + ["sub/dir/file.csv", "...csv", ". leading space.csv"]:
        assert safe_name(name) == name
    assert safe_name("../x.csv") == "_../x.csv"
    assert safe_name("sub/../../y.csv") == "sub/_../_../y.csv"
    assert safe_name("a//b/./c.csv") == "a/b/c.csv"
    assert safe_name("/abs.csv") == "abs.csv"
    assert safe_name("..") == "_.."
    assert safe_name("") == "_" and safe_name("./") == "_"
    assert safe_name("nul\x00byte.csv") == "nul_byte.csv"
    assert safe_name(TEMP_PREFIX + "x") == "_" + TEMP_PREFIX + "x"


def test_report_name_beside_and_bounded() -> None:
    assert report_name("12/a.csv") == "12/a.csv" + REPORT_SUFFIX
    long = "é" * 127 + ".csv"  # 258 bytes: too long with the suffix
    shortened = report_name(f"3/{long}")
    last = shortened.rpartition("/")[2]
    assert shortened.startswith("3/é") and last.endswith("~" + REPORT_SUFFIX)
    assert len(last.encode()) <= 255


def test_unknown_feed_and_bad_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", tmp_path.as_uri())
    with pytest.raises(BucketError, match="Unknown feed"):
        get_bucket("brandweer")
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", "file://otherhost/srv")
    with pytest.raises(BucketError, match="host"):
        get_bucket(FEED)


def test_file_url_with_spaces_and_percent_encoding(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = tmp_path / "map met spatie %"
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", base.as_uri())  # percent-encoded
    buckets = all_buckets()
    assert set(buckets) == set(FEEDS)
    for feed, bucket in buckets.items():
        assert isinstance(bucket, LocalBucket)
        bucket.ensure()
        assert (base / feed / "incoming").is_dir()
    assert buckets[FEED].root_url == "file://" + str((base / FEED).resolve())


def test_s3_options_follow_aws_conventions() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://general:1",
        "AWS_ENDPOINT_URL_S3": "http://s3-specific:2",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    options = s3_options(env)
    assert options["client_kwargs"] == {"endpoint_url": "http://s3-specific:2", "region_name": "eu-west-1"}
    assert (options["key"], options["secret"], options["token"]) == ("id", "secret", None)
    del env["AWS_ENDPOINT_URL_S3"]
    assert s3_options(env)["client_kwargs"]["endpoint_url"] == "http://general:1"
    assert "endpoint_url" not in s3_options({})["client_kwargs"]


# --------------------------------------------------------------------------- both backends


def test_put_list_stat(drop: Drop) -> None:
    bucket = drop.bucket
    assert bucket.list_incoming() == []
    first = bucket.put_incoming("a.csv", b"1,2\n")
    second = bucket.put_incoming("sub/b.csv", b"x" * 10)
    drop.plant(f"incoming/{TEMP_PREFIX}abc", b"half written")
    if drop.kind == "s3":
        drop.bucket.fs.pipe_file(f"{bucket.bucket}/{bucket.prefix}incoming/folder/", b"")  # a folder marker
    else:
        (bucket.root / "incoming" / "empty folder").mkdir()

    listed = bucket.list_incoming()
    assert sorted(o.name for o in listed) == ["a.csv", "sub/b.csv"]  # temp files and folders skipped
    assert listed == sorted(listed, key=lambda o: (o.modified, o.name))
    assert {o.name: o.size for o in listed} == {"a.csv": 4, "sub/b.csv": 10}
    for obj in listed:
        assert obj.feed == FEED and obj.modified.utcoffset() == timedelta(0)
        assert obj.url == bucket.root_url.rstrip("/") + "/incoming/" + obj.name
        assert bucket.stat_incoming(obj.name) == obj
    assert first in listed and second in listed
    assert bucket.stat_incoming("missing.csv") is None
    assert bucket.stat_incoming(f"{TEMP_PREFIX}abc") is None

    replaced = bucket.put_incoming("a.csv", b"1,2,3\n")  # a partner upload replaces a file of that name
    assert replaced.size == 6 and bucket.stat_incoming("a.csv") == replaced


def test_open_and_local_copy(drop: Drop) -> None:
    bucket = drop.bucket
    data = bytes(range(256)) * 100
    obj = bucket.put_incoming("data.csv", data)
    with bucket.open(obj.url) as handle:
        assert handle.read() == data
    with bucket.open("incoming/data.csv") as handle:
        assert handle.read(3) == data[:3]
    bucket.put_incoming("text.csv", "naam;plaats\nJoë;Zwolle\n".encode())
    with bucket.open("incoming/text.csv", "r") as handle:
        assert handle.read() == "naam;plaats\nJoë;Zwolle\n"
    with pytest.raises(BucketError, match="reading only"):
        bucket.open(obj.url, "wb")
    with pytest.raises(BucketError):
        bucket.open("incoming/missing.csv")
    other = "file:///etc/passwd" if drop.kind == "file" else "s3://elsewhere/incoming/data.csv"
    with pytest.raises(BucketError):
        bucket.open(other)

    with bucket.local_copy(obj) as path:
        assert path.read_bytes() == data
        if drop.kind == "file":
            assert path == bucket.root / "incoming" / "data.csv"
        else:
            assert path.suffix == ".csv"
    if drop.kind == "s3":
        assert not path.exists()  # the download is removed afterwards
    assert drop.raw("incoming/data.csv") == data


def test_archive_moves_byte_identical(drop: Drop) -> None:
    bucket = drop.bucket
    data = "datum;gemeente\n2025-01-01;’s-Hertogenbosch\n".encode() + bytes(range(256))
    obj = bucket.put_incoming("2025/week 1.csv", data)
    url = bucket.archive(obj, 7)

    assert url == bucket.root_url.rstrip("/") + "/archive/7/2025/week 1.csv"
    assert drop.raw("archive/7/2025/week 1.csv") == data
    assert bucket.list_incoming() == []
    [archived] = bucket.list_archive()
    assert (archived.area, archived.file_id, archived.name, archived.size, archived.url) == (
        "archive",
        7,
        "2025/week 1.csv",
        len(data),
        url,
    )
    with bucket.open(url) as handle:
        assert handle.read() == data
    with pytest.raises(BucketError, match="no longer|not a regular|no such"):
        bucket.archive(obj, 8)  # already moved

    again = bucket.put_incoming("2025/week 1.csv", b"another upload")
    with pytest.raises(BucketError, match="already exists"):
        bucket.archive(again, 7)  # never overwrites
    assert bucket.list_incoming() == [again]
    assert drop.raw("archive/7/2025/week 1.csv") == data
    with pytest.raises(BucketError, match="file id"):
        bucket.archive(again, -1)
    _all_inside(drop)


def test_quarantine_writes_report_beside_file(drop: Drop) -> None:
    bucket = drop.bucket
    data = b"kapot;bestand\n\xff\xfe"
    report = "Kolom ‘datum’ ontbreekt op regel 3 – bestand geweigerd ☃\n"
    obj = bucket.put_incoming("fout.csv", data)
    file_url, report_url = bucket.quarantine(obj, 9, report)

    assert file_url.endswith("/quarantine/9/fout.csv")
    assert report_url == file_url + REPORT_SUFFIX
    assert drop.raw("quarantine/9/fout.csv") == data
    assert drop.raw("quarantine/9/fout.csv" + REPORT_SUFFIX) == report.encode("utf-8")
    assert bucket.list_incoming() == []
    [item] = bucket.list_quarantine()
    assert (item.file_id, item.name, item.url, item.report_url) == (9, "fout.csv", file_url, report_url)

    # A partner file that itself ends in .rapport.txt is still told apart from its report.
    tricky = bucket.put_incoming("x" + REPORT_SUFFIX, b"partner data")
    bucket.quarantine(tricky, 10, "leeg")
    listed = {(o.file_id, o.name): o.report_url for o in bucket.list_quarantine()}
    assert set(listed) == {(9, "fout.csv"), (10, "x" + REPORT_SUFFIX)}
    assert listed[(10, "x" + REPORT_SUFFIX)].endswith(REPORT_SUFFIX + REPORT_SUFFIX)
    with pytest.raises(BucketError, match="report"):
        bucket.restore_to_incoming(report_url)
    _all_inside(drop)


def test_hostile_names_stay_inside(drop: Drop) -> None:
    bucket = drop.bucket
    objects = [bucket.put_incoming(name, name.encode("utf-8")) for name in HOSTILE]
    assert [o.name for o in objects] == [safe_name(n) for n in HOSTILE]
    for name in KEPT:
        assert bucket.stat_incoming(name) is not None, name  # findable under its own name
    for number, obj in enumerate(objects):
        if number % 2:
            bucket.archive(obj, number)
        else:
            bucket.quarantine(obj, number, f"rapport voor {obj.name}")
    assert bucket.list_incoming() == []
    stored = {(o.file_id, o.name) for o in bucket.list_archive() + bucket.list_quarantine()}
    assert stored == {(number, safe_name(name)) for number, name in enumerate(HOSTILE)}
    for number, name in enumerate(HOSTILE):
        area = "archive" if number % 2 else "quarantine"
        assert drop.raw(f"{area}/{number}/{safe_name(name)}") == name.encode("utf-8")
    _all_inside(drop)


def test_handmade_hostile_object_is_refused(drop: Drop) -> None:
    bucket = drop.bucket
    drop.plant("x.csv", b"not a partner file")  # what incoming/../x.csv would point at
    forged = DropObject(FEED, "../x.csv", 18, bucket.put_incoming("dummy.csv", b"").modified, "forged")
    with pytest.raises(BucketError):
        bucket.archive(forged, 1)
    with pytest.raises(BucketError):
        bucket.quarantine(forged, 2, "rapport")
    assert drop.raw("x.csv") == b"not a partner file"
    assert bucket.list_archive() == [] and bucket.list_quarantine() == []
    with pytest.raises(BucketError):
        bucket.archive(DropObject("verzekeraars", "dummy.csv", 0, forged.modified, "x"), 1)


def test_failing_move_leaves_file_in_incoming(drop: Drop) -> None:
    bucket = drop.bucket
    obj = bucket.put_incoming("blijft.csv", b"important")
    drop.plant("archive/5", b"a file where the folder should be")
    with pytest.raises(BucketError):
        bucket.archive(obj, 5)
    assert bucket.list_incoming() == [obj]
    assert drop.raw("incoming/blijft.csv") == b"important"

    drop.plant("quarantine/6", b"a file where the folder should be")
    with pytest.raises(BucketError):
        bucket.quarantine(obj, 6, "rapport")
    assert bucket.list_incoming() == [obj]
    assert all(not path.startswith(f"{FEED}/quarantine/6/") for path in drop.stored())


def test_move_failure_after_report_removes_report(drop: Drop, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = drop.bucket
    obj = bucket.put_incoming("blijft.csv", b"important")

    def broken_move(src_rel: str, dst_rel: str) -> str:
        raise BucketError("simulated failure")

    monkeypatch.setattr(bucket, "_move", broken_move)
    with pytest.raises(BucketError, match="simulated"):
        bucket.quarantine(obj, 3, "rapport")
    assert bucket.list_incoming() == [obj]
    assert [p for p in drop.stored() if "/quarantine/" in p] == []


def test_failing_delete_rolls_back_the_copy(drop: Drop, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = drop.bucket
    obj = bucket.put_incoming("blijft.csv", b"important")

    def broken_delete(_: str) -> None:
        raise PermissionError(errno.EACCES, "simulated: not allowed to delete")

    monkeypatch.setattr(bucket, "_delete_source", broken_delete)
    with pytest.raises(BucketError, match="after copying"):
        bucket.archive(obj, 4)
    assert bucket.list_incoming() == [obj]
    assert drop.raw("incoming/blijft.csv") == b"important"
    assert bucket.list_archive() == []
    monkeypatch.undo()
    bucket.archive(obj, 4)  # a retry with the same id works
    assert drop.raw("archive/4/blijft.csv") == b"important"


def test_delete_that_worked_but_reported_an_error_keeps_the_copy(drop: Drop, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = drop.bucket
    obj = bucket.put_incoming("weg.csv", b"only copy")
    real_delete = bucket._delete_source

    def delete_then_fail(where: str) -> None:
        real_delete(where)
        raise OSError(errno.EIO, "simulated: answer lost after the delete")

    monkeypatch.setattr(bucket, "_delete_source", delete_then_fail)
    url = bucket.archive(obj, 5)  # the move did complete; the copy must not be rolled back
    assert bucket.list_incoming() == []
    assert drop.raw("archive/5/weg.csv") == b"only copy" and url.endswith("/archive/5/weg.csv")


def test_restore_to_incoming_copies(drop: Drop) -> None:
    bucket = drop.bucket
    archived_url = bucket.archive(bucket.put_incoming("terug.csv", b"v1"), 11)
    restored = bucket.restore_to_incoming(archived_url)
    assert (restored.name, restored.size) == ("terug.csv", 2)
    assert drop.raw("incoming/terug.csv") == b"v1"
    assert drop.raw("archive/11/terug.csv") == b"v1"  # copied, not moved
    with pytest.raises(BucketError, match="already holds"):
        bucket.restore_to_incoming(archived_url)  # never overwrites a partner file
    with pytest.raises(BucketError, match="Only archived"):
        bucket.restore_to_incoming(restored.url)

    file_url, _ = bucket.quarantine(restored, 12, "opnieuw fout")
    again = bucket.restore_to_incoming(file_url)
    assert again.name == "terug.csv" and bucket.list_incoming() == [again]
    assert drop.raw("quarantine/12/terug.csv") == b"v1"


# --------------------------------------------------------------------------- S3 modes


def test_s3_bucket_per_feed(s3_env, monkeypatch: pytest.MonkeyPatch) -> None:
    for feed in FEEDS:
        s3_env.wipe_bucket(feed)
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", "s3://")
    buckets = all_buckets()
    assert all(isinstance(b, S3Bucket) and b.root_url == f"s3://{f}/" for f, b in buckets.items())
    with pytest.raises(BucketError, match="does not exist"):
        buckets[FEED].list_incoming()
    for bucket in buckets.values():
        bucket.ensure()
        bucket.ensure()  # idempotent
    assert set(FEEDS) <= set(s3_env.buckets())

    obj = buckets[FEED].put_incoming("a.csv", b"politie")
    other = buckets["verzekeraars"].put_incoming("a.csv", b"verzekeraars")
    assert obj.url == "s3://politie/incoming/a.csv" and other.url == "s3://verzekeraars/incoming/a.csv"
    assert buckets["corporaties"].list_incoming() == []
    assert buckets[FEED].archive(obj, 1) == "s3://politie/archive/1/a.csv"
    assert s3_env.keys("politie") == ["archive/1/a.csv"]
    assert s3_env.keys("verzekeraars") == ["incoming/a.csv"]
    with pytest.raises(BucketError):
        buckets["verzekeraars"].archive(obj, 1)  # an object of another feed


def test_s3_bucket_with_prefix(s3_env, monkeypatch: pytest.MonkeyPatch) -> None:
    s3_env.create_bucket(TEST_BUCKET)
    prefix = f"some/prefix-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", f"s3://{TEST_BUCKET}/{prefix}/")
    bucket = get_bucket("corporaties")
    assert bucket.root_url == f"s3://{TEST_BUCKET}/{prefix}/corporaties/"
    bucket.ensure()
    obj = bucket.put_incoming("woningen.xlsx", b"PK\x03\x04")
    file_url, report_url = bucket.quarantine(obj, 2, "geen werkblad")
    assert s3_env.keys(TEST_BUCKET, prefix) == [
        f"{prefix}/corporaties/quarantine/2/woningen.xlsx",
        f"{prefix}/corporaties/quarantine/2/woningen.xlsx{REPORT_SUFFIX}",
    ]
    assert file_url == f"s3://{TEST_BUCKET}/{prefix}/corporaties/quarantine/2/woningen.xlsx"

    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x")
    with pytest.raises(BucketError, match="does not exist"):
        get_bucket(FEED).ensure()


# --------------------------------------------------------------------------- local only


def test_symlinks_are_not_followed(local: Drop, tmp_path: Path) -> None:
    bucket = local.bucket
    incoming = bucket.root / "incoming"
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.csv"
    secret.write_bytes(b"do not touch")
    (incoming / "evil.csv").symlink_to(secret)
    (incoming / "linkdir").symlink_to(outside, target_is_directory=True)
    real = bucket.put_incoming("real.csv", b"ok")
    (incoming / "inner.csv").symlink_to(incoming / "real.csv")

    assert bucket.list_incoming() == [real]
    assert bucket.stat_incoming("evil.csv") is None
    assert bucket.stat_incoming("linkdir/secret.csv") is None
    forged = DropObject(FEED, "evil.csv", 12, real.modified, "file://" + str(incoming / "evil.csv"))
    with pytest.raises(BucketError):
        bucket.archive(forged, 1)
    with pytest.raises(BucketError):
        bucket.open("incoming/evil.csv")
    with pytest.raises(BucketError):
        bucket.open("incoming/linkdir/secret.csv")
    with pytest.raises(BucketError), bucket.local_copy(forged):
        pass
    with pytest.raises(BucketError):
        bucket.put_incoming("linkdir/new.csv", b"would land outside")
    assert secret.read_bytes() == b"do not touch" and sorted(os.listdir(outside)) == ["secret.csv"]
    assert (incoming / "evil.csv").is_symlink()

    # An area folder replaced by a link out of the root is refused too.
    (bucket.root / "archive").rmdir()
    (bucket.root / "archive").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BucketError):
        bucket.archive(real, 2)
    with pytest.raises(BucketError, match="symbolic link"):
        bucket.list_archive()
    assert bucket.list_incoming() == [real] and sorted(os.listdir(outside)) == ["secret.csv"]


def test_local_move_without_hard_links(local: Drop, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = local.bucket
    data = os.urandom(100_000)
    obj = bucket.put_incoming("groot.bin", data)

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "simulated: cross-device link")

    monkeypatch.setattr(bucket_module.os, "link", no_links)
    bucket.archive(obj, 1)
    monkeypatch.undo()
    assert local.raw("archive/1/groot.bin") == data and bucket.list_incoming() == []


def test_local_file_with_other_hard_links_is_copied(local: Drop, tmp_path: Path) -> None:
    bucket = local.bucket
    obj = bucket.put_incoming("gedeeld.csv", b"shared inode")
    other_name = tmp_path / "partner-side-link"
    os.link(bucket.root / "incoming" / "gedeeld.csv", other_name)
    bucket.archive(obj, 1)
    archived = bucket.root / "archive" / "1" / "gedeeld.csv"
    assert archived.read_bytes() == b"shared inode"
    assert archived.stat().st_ino != other_name.stat().st_ino  # later writes to the other name cannot reach it


def test_local_missing_root_lists_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", (tmp_path / "nothing yet").as_uri())
    bucket = get_bucket(FEED)
    assert bucket.list_incoming() == [] and bucket.list_archive() == []
    obj = bucket.put_incoming("eerste.csv", b"1")  # creates what it needs
    assert bucket.list_incoming() == [obj]


def test_bucket_code_uses_only_public_s3fs_apis() -> None:
    """No private s3fs/fsspec call (such as _call_s3): the pinned range of both may change their internals."""
    import re
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "src" / "explosion_monitor" / "buckets"
    text = "\n".join(path.read_text() for path in sorted(folder.glob("*.py")))
    assert "class S3Bucket" in text
    assert "_call_s3" not in text
    assert not re.findall(r"\bfs\._\w+", text)
    assert "fsspec.asyn" not in text
