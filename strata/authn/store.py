"""AuthN's data in one local JSON file: users, roles, clusters, revoked tokens, RSA signing keys.

Every change works on a copy of the data, writes the whole file (``atomic_write``: work file, fsync,
rename) and only then becomes the data readers see: a failed write changes nothing, a ``kill -9``
leaves the last complete version. The data is small (people and roles, not objects), so a whole-file
write per change is simple and cheap. The file holds password hashes and private keys: mode 0600.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec

from strata.authn.files import atomic_write
from strata.authn.model import Cluster, Role, User

DB_FILE = "authn.db.json"


class SigningKey(msgspec.Struct):
    """An RSA key; ``retired`` (Unix seconds) is when a rotation replaced it, 0 while it signs."""

    kid: str
    private_pem: str
    created: int
    retired: int = 0


class Database(msgspec.Struct):
    users: dict[str, User] = msgspec.field(default_factory=dict)
    roles: dict[str, Role] = msgspec.field(default_factory=dict)
    clusters: dict[str, Cluster] = msgspec.field(default_factory=dict)
    revoked: dict[str, int] = msgspec.field(default_factory=dict)  # token -> its exp (Unix seconds)
    revocation_version: int = 0
    keys: list[SigningKey] = msgspec.field(default_factory=list)

    def cluster(self, id_or_alias: str) -> Cluster | None:
        found = self.clusters.get(id_or_alias)
        if found is None:
            found = next((c for c in self.clusters.values() if c.alias and c.alias == id_or_alias), None)
        return found


class StoreError(Exception):
    """The data file cannot be read: the service must not start on top of it."""


class Store:
    def __init__(self, data_dir: str) -> None:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(data_dir, DB_FILE)
        self._lock = threading.Lock()
        self._data = self._load()

    def _load(self) -> Database:
        try:
            with open(self.path, "rb") as file:
                raw = file.read()
        except FileNotFoundError:
            return Database()
        try:
            return msgspec.json.decode(raw, type=Database)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StoreError(f"{self.path} is damaged: {exc}") from None

    @property
    def data(self) -> Database:
        """The current version; read-only for callers (changes go through ``change``)."""
        return self._data

    @contextmanager
    def change(self) -> Iterator[Database]:
        """A copy to change; on a clean exit it is written and becomes current, on an error it is dropped."""
        with self._lock:
            draft = msgspec.json.decode(msgspec.json.encode(self._data), type=Database)
            yield draft
            atomic_write(self.path, msgspec.json.encode(draft))
            self._data = draft
