"""Who may do what: S3 users (access keys from the config) and bucket owners (a file beside the BMD).

Users come from the cluster config's ``s3.users`` section; with none configured the S3 front does not
authenticate at all, as AIStore does. Bucket props have no owner field, so owners live in
``<data>/meta/s3/buckets.json`` -- ``{bucket: {"owner", "acl", "versioning"}}`` -- written atomically
under a file lock (every worker process shares it) and re-read when its mtime changes.

The rules, applied by ``strata.auth.principals`` (``S3UserPrincipal``, ``AnonymousPrincipal``) in the
same access bits as tokens, so that ``/v1`` refuses what S3 refuses:
- no users configured: everything is allowed;
- an admin user, or the bucket's owner: everything;
- a bucket without a recorded owner (created through ``/v1``): every authenticated user, as a shared
  bucket; anonymous requests are refused;
- another user's bucket, or an anonymous request: only what the bucket's canned ACL grants
  (``public-read``: read; ``public-read-write``: read and write; ``authenticated-read``: read by users).
"""

from __future__ import annotations

import enum
import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from strata.config import S3Conf
from strata.core.errors import InvalidRequest

CANNED_ACLS = ("private", "public-read", "public-read-write", "authenticated-read")


@dataclass(frozen=True)
class User:
    name: str
    access_key: str
    secret_key: str
    admin: bool = False


class Users:
    """The configured users by access key, rebuilt only when the config section changes."""

    def __init__(self) -> None:
        self._conf: S3Conf | None = None
        self._by_key: dict[str, User] = {}

    def load(self, conf: S3Conf | None) -> dict[str, User]:
        if conf is not self._conf:
            self._by_key = _parse_users(conf.users if conf is not None else {})
            self._conf = conf
        return self._by_key


def _parse_users(raw: dict[str, Any]) -> dict[str, User]:
    users: dict[str, User] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise InvalidRequest(
                f'config: s3.users.{name} must be an object with "access_key" and "secret_key"'
            )
        access_key, secret_key = entry.get("access_key"), entry.get("secret_key")
        admin = entry.get("admin", False)
        if (
            not isinstance(access_key, str)
            or not access_key
            or not isinstance(secret_key, str)
            or not secret_key
        ):
            raise InvalidRequest(f"config: s3.users.{name} needs non-empty access_key and secret_key strings")
        if not isinstance(admin, bool):
            raise InvalidRequest(f"config: s3.users.{name}.admin must be a boolean")
        if access_key in users:
            raise InvalidRequest(f'config: s3.users.{name}: access key "{access_key}" is used twice')
        users[access_key] = User(str(name), access_key, secret_key, admin)
    return users


class BucketRecord(msgspec.Struct, omit_defaults=True):
    owner: str = ""
    acl: str = "private"
    versioning: str = ""  # S3's status as last set: "", "Enabled" or "Suspended"


class Permission(enum.Enum):
    READ = "read"  # GET/HEAD objects, list, bucket GETs
    WRITE = "write"  # PUT/DELETE objects, multipart
    OWNER = "owner"  # delete the bucket, change its ACL or versioning


_decode = msgspec.json.Decoder(dict[str, BucketRecord]).decode


class Owners:
    """The S3 records of buckets, shared by all worker processes of a node."""

    def __init__(self, meta_dir: str) -> None:
        self.dir = os.path.join(meta_dir, "s3")
        self.path = os.path.join(self.dir, "buckets.json")
        self._records: dict[str, BucketRecord] = {}
        self._stamp: tuple[int, int] = (-1, -1)

    def all(self) -> dict[str, BucketRecord]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._records, self._stamp = {}, (-1, -1)
            return self._records
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp:
            with open(self.path, "rb") as f:
                self._records = _decode(f.read())
            self._stamp = stamp
        return self._records

    def get(self, bucket: str) -> BucketRecord | None:
        return self.all().get(bucket)

    def update(self, change: Callable[[dict[str, BucketRecord]], None]) -> None:
        """Read-modify-write under an exclusive lock; the file is replaced atomically."""
        os.makedirs(self.dir, exist_ok=True)
        lock = os.open(os.path.join(self.dir, "buckets.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self.path, "rb") as f:
                    records = _decode(f.read())
            except FileNotFoundError:
                records = {}
            change(records)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(msgspec.json.encode(records))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            os.close(lock)

    def set(self, bucket: str, record: BucketRecord) -> None:
        def change(records: dict[str, BucketRecord]) -> None:
            records[bucket] = record

        self.update(change)

    def forget(self, bucket: str) -> None:
        def change(records: dict[str, BucketRecord]) -> None:
            records.pop(bucket, None)

        self.update(change)
