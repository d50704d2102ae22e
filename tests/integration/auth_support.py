"""Tokens for the auth tests, minted with PyJWT here (never through Strata's own code), and clients.

``Keys`` holds what a test cluster trusts: an HMAC secret and an RSA key pair made with
``cryptography``. ``mint`` signs claims AIStore's way (``sub``, ``exp``, ``aud``, ``admin``,
``clusters``/``buckets`` with permissions as decimal strings).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import jwt
import requests
from botocore.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "strata-test"
SECRET = "test-hmac-secret-that-is-long-enough-for-hs512-0123456789abcdefghij"
ACCESS_RO = 771
ACCESS_RW = 831
ACCESS_GET = 1
ACCESS_PUT = 4
ACCESS_CLUSTER_RO = 12288


def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Keys:
    secret: str = SECRET
    rsa: rsa.RSAPrivateKey = field(default_factory=rsa_private_key)


def mint(
    subject: str = "user",
    *,
    key: Any = SECRET,
    algorithm: str = "HS256",
    expires_in: float = 3600,
    audience: Any = (AUDIENCE,),
    admin: bool | None = None,
    buckets: list[tuple[str, int]] | None = None,
    cluster_uuid: str = "",
    cluster_perm: int | None = None,
    headers: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    """A signed token. ``buckets``: (bucket name, perm) grants in the cluster ``cluster_uuid``."""
    claims: dict[str, Any] = {"sub": subject, "exp": int(time.time() + expires_in), "iat": int(time.time())}
    if audience is not None:
        claims["aud"] = list(audience) if not isinstance(audience, str) else audience
    if admin is not None:
        claims["admin"] = admin
    if buckets:
        claims["buckets"] = [
            {
                "bck": {"name": name, "provider": "ais", "namespace": {"uuid": cluster_uuid, "name": ""}},
                "perm": str(perm),
            }
            for name, perm in buckets
        ]
    if cluster_perm is not None:
        claims["clusters"] = [{"id": cluster_uuid, "perm": str(cluster_perm)}]
    claims.update(extra)
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_config(path: Path, auth: dict[str, Any], **other: Any) -> Path:
    path.write_text(json.dumps({"auth": auth, **other}))
    return path


def cluster_uuid(endpoint: str, token: str) -> str:
    answer = requests.get(f"{endpoint}/v1/daemon", params={"what": "smap"}, headers=bearer(token), timeout=10)
    answer.raise_for_status()
    return str(answer.json()["uuid"])


def create_bucket(endpoint: str, token: str, name: str | None = None) -> str:
    name = name or f"auth-{uuid.uuid4().hex[:10]}"
    answer = requests.post(
        f"{endpoint}/v1/buckets/{name}", json={"action": "create-bck"}, headers=bearer(token), timeout=10
    )
    assert answer.status_code == 200, answer.text
    return name


def s3_client(endpoint: str, session_token: str | None = None) -> Any:
    """boto3 at ``/s3`` with any access key (the JWT, passed as the session token, grants access)."""
    return boto3.client(
        "s3",
        endpoint_url=f"{endpoint}/s3",
        aws_access_key_id="AKIAANYTHING00000",
        aws_secret_access_key="anything",
        aws_session_token=session_token,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def check_download_access(endpoint: str, admin: str, user: Any) -> None:
    """``/v1/download`` with auth on, through ``endpoint`` (a node or a proxy): starting, watching,
    listing and removing a download all take PUT on its bucket; others are refused, or not shown it.
    ``user(name, grants)`` mints a token with ``(bucket, perm)`` grants in the cluster."""
    bucket, other = create_bucket(endpoint, admin), create_bucket(endpoint, admin)
    reader = user("reader", [(bucket, ACCESS_RO)])
    writer = user("downloader", [(bucket, ACCESS_RW)])
    stranger = user("stranger", [(other, ACCESS_RW)])

    def call(method: str, token: str, path: str = "", **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{endpoint}/v1/download{path}", headers=bearer(token), timeout=30,
                                **kwargs)  # fmt: skip

    body = {
        "type": "single",
        "bucket": {"name": bucket, "provider": "ais", "namespace": {"uuid": "", "name": ""}},
        "link": f"{endpoint}/v1/health",
        "object_name": "downloaded",
    }
    refused = call("POST", reader, json=body)
    assert refused.status_code == 403 and bucket in refused.text, refused.text
    started = call("POST", writer, json=body)
    assert started.status_code == 200, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline and status.get("finished_cnt") != 1:
        answer = call("GET", writer, params={"id": job_id})
        assert answer.status_code == 200, answer.text
        status = answer.json()
        time.sleep(0.1)
    assert status["finished_cnt"] == 1 and status["error_cnt"] == 0, status
    for outsider in (reader, stranger):
        assert call("GET", outsider, params={"id": job_id}).status_code == 403
        assert call("DELETE", outsider, "/remove", json={"id": job_id}).status_code == 403
    assert job_id in [entry["id"] for entry in call("GET", writer).json()]
    assert job_id not in [entry["id"] for entry in call("GET", stranger).json()]
    got = requests.get(f"{endpoint}/v1/objects/{bucket}/downloaded", headers=bearer(writer), timeout=30)
    assert got.status_code == 200 and got.content == requests.get(f"{endpoint}/v1/health", timeout=30).content
    assert call("DELETE", writer, "/remove", json={"id": job_id}).status_code == 200
    assert call("GET", admin, params={"id": job_id}).status_code == 404
    assert call("DELETE", writer, "/remove", json={"id": job_id}).status_code == 404  # gone: not a 403
