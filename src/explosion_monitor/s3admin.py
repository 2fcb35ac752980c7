"""MinIO's admin API as `mc admin` calls it: SigV4-signed requests and madmin's body encryption.

The juicefs S3 gateway (`make prod-local`, tests/s3server.py) embeds MinIO's IAM, so users and canned
policies are set up the way docker/minio/init.sh sets them up with `mc`, without an `mc` binary:
``add-user`` bodies are encrypted as madmin does (Argon2id key from the root secret, AES-256-GCM in the
sio-go DARE stream format).
"""

from __future__ import annotations

import secrets
import struct
import urllib.error
import urllib.parse
import urllib.request

REGION = "us-east-1"


_SIO_BUFFER = 16 * 1024  # sio-go's fragment size
_AES_GCM = 0x00  # madmin's AEAD id for AES-256-GCM with an Argon2id key


def _madmin_key(password: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    # madmin: argon2.IDKey(password, salt, time=1, memory=64 MiB, threads=4, 32 bytes)
    return Argon2id(salt=salt, length=32, iterations=1, lanes=4, memory_cost=64 * 1024).derive(password.encode())


def _sio_nonce(prefix: bytes, seq: int) -> bytes:
    return prefix + struct.pack("<I", seq)


def madmin_encrypt(password: str, data: bytes) -> bytes:
    """madmin.EncryptData: salt(32) | AEAD id(1) | nonce(8) | sio-go stream of AES-256-GCM fragments."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, prefix = secrets.token_bytes(32), secrets.token_bytes(8)
    aead = AESGCM(_madmin_key(password, salt))
    # sio-go: the associated data of every fragment is a flag byte and the tag of an empty message at seq 0.
    tag = aead.encrypt(_sio_nonce(prefix, 0), b"", b"")
    out = bytearray(salt + bytes([_AES_GCM]) + prefix)
    seq = 1
    while len(data) > _SIO_BUFFER:
        out += aead.encrypt(_sio_nonce(prefix, seq), data[:_SIO_BUFFER], b"\x00" + tag)
        data, seq = data[_SIO_BUFFER:], seq + 1
    out += aead.encrypt(_sio_nonce(prefix, seq), data, b"\x80" + tag)  # the final fragment
    return bytes(out)


def madmin_decrypt(password: str, blob: bytes) -> bytes:
    """The inverse of madmin_encrypt (the server answers list-users this way)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, aead_id, prefix, rest = blob[:32], blob[32], blob[33:41], blob[41:]
    if aead_id != _AES_GCM:
        raise ValueError(f"unsupported madmin AEAD id {aead_id}")
    aead = AESGCM(_madmin_key(password, salt))
    tag = aead.encrypt(_sio_nonce(prefix, 0), b"", b"")
    out, seq, fragment = bytearray(), 1, _SIO_BUFFER + 16
    while len(rest) > fragment:
        out += aead.decrypt(_sio_nonce(prefix, seq), rest[:fragment], b"\x00" + tag)
        rest, seq = rest[fragment:], seq + 1
    out += aead.decrypt(_sio_nonce(prefix, seq), rest, b"\x80" + tag)
    return bytes(out)


def admin_call(
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    method: str,
    action: str,
    body: bytes = b"",
    *,
    region: str = REGION,
    **query: str,
) -> tuple[int, bytes]:
    """A SigV4-signed MinIO admin API request; returns (HTTP status, body) whatever the status."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{endpoint_url}/minio/admin/v3/{action}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    request = AWSRequest(method=method, url=url, data=body)
    S3SigV4Auth(Credentials(access_key, secret_key), "s3", region).add_auth(request)
    signed = urllib.request.Request(url, data=body or None, method=method, headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(signed, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
