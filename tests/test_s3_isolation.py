"""Partner isolation in the S3 store, enforced by a real S3 server with the production policy documents.

The local S3 server (the JuiceFS gateway, tests/s3server.py) embeds MinIO's IAM: users, canned policies and
policy attachment through MinIO's admin API, as `mc admin user add` / `mc admin policy add|set` call it (mc
RELEASE.2021-04-22; there is no mc binary here, so tests/s3server.py signs the calls itself and encrypts the
add-user body the way madmin does). This module sets the server up as docker/minio/init.sh sets up MinIO: the
three feed buckets, one key per partner under docker/minio/policies/partner-<feed>.json and the pipeline's key
under pipeline.json, the documents read from disk unchanged. Then it proves, request by request, that:

* a partner may drop files into its own incoming/ (single and multipart upload), list its own incoming/ and
  quarantine/, and read its own quarantine reports; nothing else in its own bucket (no reading or deleting
  drops, no archive, no forged reports) and nothing at all in another partner's bucket (read, write, list);
* a partner cannot list buckets, create or delete one, set a bucket policy or call the admin API (so it
  cannot widen its own rights);
* the pipeline's key runs the real loader in `s3://` mode (one bucket per feed): it loads a good drop,
  quarantines a bad one, and the partner then reads its report, but not the archived file, while another
  partner reads neither.

The gateway is a dedicated one per module: the session's shared server keeps no IAM users.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from partner_files import POLITIE_COLUMNS, csv_bytes, politie_row
from s3server import S3Server, start_s3_server

from explosion_monitor.config import FEEDS

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "docker" / "minio" / "policies"
pytestmark = pytest.mark.timeout(300)

SEEDED = {  # what the pipeline has left in every bucket, for the partners to try to reach
    "incoming/waiting.csv": b"incident_id\nPL-1\n",
    "archive/9001/oud.csv": b"incident_id\nPL-0\n",
    "quarantine/9002/oud-fout.csv": b"kapot",
    "quarantine/9002/oud-fout.csv.rapport.txt": b"GEWEIGERD / REJECTED",
}


Keys = dict[str, tuple[str, str]]  # (access key, secret key) by user: partner-<feed>, pipeline


_CLIENTS: dict[tuple[str, str, str], Any] = {}


def client_for(server: S3Server, access_key: str, secret_key: str) -> Any:
    """One botocore client per key (creating one costs a quarter of a second)."""
    key = (server.endpoint_url, access_key, secret_key)
    if key not in _CLIENTS:
        _CLIENTS[key] = server.client(access_key, secret_key)
    return _CLIENTS[key]


@pytest.fixture(scope="module")
def iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, Keys]]:
    """A gateway set up as docker/minio/init.sh sets up MinIO."""
    try:
        server = start_s3_server(tmp_path_factory.mktemp("s3iam"))
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    keys: Keys = {}
    try:
        for feed in FEEDS:
            server.create_bucket(feed)
            for key, data in SEEDED.items():
                server.call("put_object", Bucket=feed, Key=key, Body=data)
        users = {f"partner-{feed}": POLICIES / f"partner-{feed}.json" for feed in FEEDS}
        users["pipeline"] = POLICIES / "pipeline.json"
        for name, document in users.items():
            access, secret = f"{name}-{secrets.token_hex(3)}", secrets.token_urlsafe(24)
            server.admin_add_policy(name, document.read_bytes())  # the committed document, unchanged
            server.admin_add_user(access, secret)
            server.admin_attach_policy(name, access)
            keys[name] = (access, secret)
        yield server, keys
    finally:
        server.stop()


def error_code(call: Callable[[], Any]) -> str | None:
    """None when the request succeeds, else the S3 error code."""
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        return exc.response.get("Error", {}).get("Code") or str(
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        )
    return None


def _multipart(c: Any, bucket: str) -> None:
    upload = c.create_multipart_upload(Bucket=bucket, Key="incoming/groot.csv")
    part = c.upload_part(
        Bucket=bucket, Key="incoming/groot.csv", UploadId=upload["UploadId"], PartNumber=1, Body=b"incident_id\nPL-7\n"
    )
    c.complete_multipart_upload(
        Bucket=bucket,
        Key="incoming/groot.csv",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )


def _policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


# Each operation on a bucket, and whether a partner may do it in its OWN bucket; in any other bucket, never.
OPERATIONS: dict[str, tuple[Callable[[Any, str], Any], bool]] = {
    "put incoming/": (lambda c, b: c.put_object(Bucket=b, Key="incoming/nieuw.csv", Body=b"incident_id\n"), True),
    "multipart upload into incoming/": (_multipart, True),
    "list incoming/": (lambda c, b: c.list_objects_v2(Bucket=b, Prefix="incoming/"), True),
    "list quarantine/": (lambda c, b: c.list_objects_v2(Bucket=b, Prefix="quarantine/"), True),
    "get a quarantine report": (
        lambda c, b: c.get_object(Bucket=b, Key="quarantine/9002/oud-fout.csv.rapport.txt"),
        True,
    ),
    "get bucket location": (lambda c, b: c.get_bucket_location(Bucket=b), True),
    "get a file in incoming/": (lambda c, b: c.get_object(Bucket=b, Key="incoming/waiting.csv"), False),
    "delete a file in incoming/": (lambda c, b: c.delete_object(Bucket=b, Key="incoming/waiting.csv"), False),
    "get a quarantined file": (lambda c, b: c.get_object(Bucket=b, Key="quarantine/9002/oud-fout.csv"), False),
    "put a report (forged)": (
        lambda c, b: c.put_object(Bucket=b, Key="quarantine/9002/x.rapport.txt", Body=b"ok"),
        False,
    ),
    "get archive/": (lambda c, b: c.get_object(Bucket=b, Key="archive/9001/oud.csv"), False),
    "put archive/": (lambda c, b: c.put_object(Bucket=b, Key="archive/9001/oud.csv", Body=b"vervalst"), False),
    "delete archive/": (lambda c, b: c.delete_object(Bucket=b, Key="archive/9001/oud.csv"), False),
    "put at the bucket's top": (lambda c, b: c.put_object(Bucket=b, Key="los.csv", Body=b"x"), False),
    "list archive/": (lambda c, b: c.list_objects_v2(Bucket=b, Prefix="archive/"), False),
    "list the whole bucket": (lambda c, b: c.list_objects_v2(Bucket=b), False),
    "copy archive/ into incoming/": (
        lambda c, b: c.copy_object(
            Bucket=b, Key="incoming/kopie.csv", CopySource={"Bucket": b, "Key": "archive/9001/oud.csv"}
        ),
        False,
    ),
    "set a bucket policy": (lambda c, b: c.put_bucket_policy(Bucket=b, Policy=_policy(b)), False),
    "delete the bucket": (lambda c, b: c.delete_bucket(Bucket=b), False),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("target", FEEDS)
@pytest.mark.parametrize("partner", FEEDS)
def test_partner_key_reaches_only_its_own_incoming_and_reports(iam, partner: str, target: str, operation: str) -> None:
    server, keys = iam
    call, allowed_in_own = OPERATIONS[operation]
    client = client_for(server, *keys[f"partner-{partner}"])
    code = error_code(lambda: call(client, target))
    if partner == target and allowed_in_own:
        assert code is None, f"{partner} may {operation} in its own bucket, got {code}"
    else:
        assert code == "AccessDenied", f"{partner} must not {operation} in bucket {target}, got {code or 'success'}"
    # Whatever was tried, the pipeline's files are as they were.
    root = client_for(server, server.access_key, server.secret_key)
    for key, data in SEEDED.items():
        assert root.get_object(Bucket=target, Key=key)["Body"].read() == data, (target, key)


@pytest.mark.parametrize("partner", FEEDS)
def test_partner_key_has_no_account_level_rights(iam, partner: str) -> None:
    server, keys = iam
    access, secret = keys[f"partner-{partner}"]
    client = client_for(server, access, secret)
    assert error_code(client.list_buckets) == "AccessDenied"
    assert error_code(lambda: client.create_bucket(Bucket=f"{partner}-eigen")) == "AccessDenied"
    # The admin API: neither read the users nor give itself more rights.
    everything = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}],
        }
    ).encode()
    for method, action, body, query in [
        ("GET", "list-users", b"", {}),
        ("PUT", "add-canned-policy", everything, {"name": "alles"}),
        (
            "PUT",
            "set-user-or-group-policy",
            b"",
            {"policyName": "readwrite", "userOrGroup": access, "isGroup": "false"},
        ),
    ]:
        status, _ = server.admin(method, action, body, access_key=access, secret_key=secret, **query)
        assert status == 403, (action, status)
    assert server.admin_users()[access] == {"policyName": f"partner-{partner}", "status": "enabled"}


def test_a_partner_key_with_a_wrong_secret_gets_nothing(iam) -> None:
    server, keys = iam
    access, _ = keys["partner-politie"]
    client = client_for(server, access, "verkeerd-" + secrets.token_hex(8))
    assert error_code(lambda: client.put_object(Bucket="politie", Key="incoming/x.csv", Body=b"x")) in (
        "SignatureDoesNotMatch",
        "AccessDenied",
    )


def test_users_and_policies_are_as_init_sh_makes_them(iam) -> None:
    server, keys = iam
    users = server.admin_users()
    assert {u: v["policyName"] for u, v in users.items()} == {access: name for name, (access, _) in keys.items()}
    assert all(v["status"] == "enabled" for v in users.values())


def test_pipeline_key_runs_the_loader_and_each_partner_reads_only_its_own_report(
    iam, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explosion_monitor.ingest.pending import ingest_pending

    server, keys = iam
    pipeline_access, pipeline_secret = keys["pipeline"]
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", pipeline_access)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", pipeline_secret)
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", "s3://")  # one bucket per feed, as docker-compose.yml has it
    for key in server.keys("politie", "incoming/"):  # the seeded objects and earlier tests' drops: out of the way
        if not key.endswith("/"):
            server.call("delete_object", Bucket="politie", Key=key)
    politie = client_for(server, *keys["partner-politie"])
    politie.put_object(
        Bucket="politie", Key="incoming/goed.csv", Body=csv_bytes([politie_row(1), politie_row(2)], POLITIE_COLUMNS)
    )
    politie.put_object(
        Bucket="politie", Key="incoming/fout.csv", Body=csv_bytes([politie_row(3, gewonden="veel")], POLITIE_COLUMNS)
    )
    try:
        outcomes = {o.name: o for o in ingest_pending(["politie"])}
    finally:
        server.call("put_object", Bucket="politie", Key="incoming/waiting.csv", Body=SEEDED["incoming/waiting.csv"])
    assert {n: o.status for n, o in outcomes.items()} == {"goed.csv": "loaded", "fout.csv": "quarantined"}
    report_key = outcomes["fout.csv"].report_url.removeprefix("s3://politie/")
    archived_key = outcomes["goed.csv"].final_url.removeprefix("s3://politie/")
    quarantined_key = outcomes["fout.csv"].final_url.removeprefix("s3://politie/")
    assert report_key.startswith("quarantine/") and archived_key.startswith("archive/")

    report = politie.get_object(Bucket="politie", Key=report_key)["Body"].read().decode()
    assert "GEWEIGERD" in report and "gewonden" in report
    assert error_code(lambda: politie.get_object(Bucket="politie", Key=archived_key)) == "AccessDenied"
    assert error_code(lambda: politie.get_object(Bucket="politie", Key=quarantined_key)) == "AccessDenied"
    for other in ("verzekeraars", "corporaties"):
        client = client_for(server, *keys[f"partner-{other}"])
        assert error_code(lambda c=client: c.get_object(Bucket="politie", Key=report_key)) == "AccessDenied"
    # The pipeline's own key: the three buckets' objects, but no buckets of its own and no admin API.
    pipeline = client_for(server, pipeline_access, pipeline_secret)
    assert error_code(lambda: pipeline.create_bucket(Bucket="pipeline-eigen")) == "AccessDenied"
    assert error_code(lambda: pipeline.put_bucket_policy(Bucket="politie", Policy=_policy("politie"))) == (
        "AccessDenied"
    )
    status, _ = server.admin("GET", "list-users", access_key=pipeline_access, secret_key=pipeline_secret)
    assert status == 403
