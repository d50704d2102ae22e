"""The cluster key: signed 307 redirects (proxy -> target) and signed node-to-node calls.

A redirect a proxy answers carries, in its ``Location`` query (wave-2 contract 1.6): ``pid`` (the
proxy's id), ``utm`` (its clock, Unix ns, base 36), ``vpams`` (cluster map version, base 36), ``x``
(a nonce, base 36) and ``u``: HMAC-SHA256 (``hmac`` from the standard library) over
``METHOD \\0 path \\0 pid \\0`` + 8-byte big-endian map version, Content-Length, nonce and time,
base64url without padding (43 characters). A target recomputes it with the current key and the keys
replaced less than ``rotation_grace`` ago, refuses a redirect older than ``nonce_window``, and
remembers each ``(pid, x)`` for that long in a ledger its worker processes share (``NonceLedger``), so a
redirect URL works once.

Node-to-node calls (the peer client) carry the same kind of MAC in headers instead (``Ais-Caller-Id``,
``Ais-Caller-Time``, ``Ais-Caller-Nonce``, ``Ais-Caller-Sig``), over method, path, caller, time and
nonce: a target can tell a peer's call from a client's, and refuse clients' direct writes.

The keys live in etcd (``strata.cluster.etcd_store``: ``auth/cluster_key``) as a ``KeyRing``: random
16-byte keys with versions, the newest signs; rotation adds a key and dates the previous one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
import struct
import threading
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

import msgspec

from strata.core.errors import Forbidden, InvalidRequest, Unauthorized

KEY_BYTES = 16
SIGNATURE_CHARS = 43  # base64url of 32 bytes without padding
CLOCK_SKEW_NS = 5 * 10**9  # a signature dated this far in the future is still accepted
REDIRECT_PARAMS = ("pid", "utm", "vpams", "x", "u")
CALLER_ID = "ais-caller-id"
CALLER_TIME = "ais-caller-time"
CALLER_NONCE = "ais-caller-nonce"
CALLER_SIG = "ais-caller-sig"


class ClusterKey(msgspec.Struct, frozen=True):
    version: int
    key: str  # base64 of KEY_BYTES random bytes
    created_ns: int
    retired_ns: int = 0  # when a newer key replaced it (0: current)

    @property
    def secret(self) -> bytes:
        return base64.b64decode(self.key)


class KeyRing(msgspec.Struct, frozen=True):
    """The cluster's keys, newest last."""

    keys: list[ClusterKey] = msgspec.field(default_factory=list)

    @property
    def current(self) -> ClusterKey | None:
        return self.keys[-1] if self.keys else None

    def verifying(self, now_ns: int, grace_s: float) -> list[bytes]:
        """Keys a signature may be made with: the current one, and those retired within the grace."""
        limit = now_ns - int(grace_s * 1e9)
        return [key.secret for key in reversed(self.keys) if not key.retired_ns or key.retired_ns >= limit]

    def rotated(self, now_ns: int, grace_s: float) -> KeyRing:
        """A new current key; the old one retired now; keys past their grace dropped."""
        limit = now_ns - int(grace_s * 1e9)
        kept = [
            key if key.retired_ns else msgspec.structs.replace(key, retired_ns=now_ns)
            for key in self.keys
            if not key.retired_ns or key.retired_ns >= limit
        ]
        version = (self.keys[-1].version + 1) if self.keys else 1
        fresh = ClusterKey(version, base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode(), now_ns)
        return KeyRing([*kept, fresh])


def encode_ring(ring: KeyRing) -> bytes:
    return msgspec.json.encode(ring)


def decode_ring(data: bytes) -> KeyRing:
    return msgspec.json.decode(data, type=KeyRing)


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if number == 0:
        return "0"
    out = []
    while number:
        number, rest = divmod(number, 36)
        out.append(digits[rest])
    return "".join(reversed(out))


def _mac(key: bytes, method: str, path: str, who: str, numbers: tuple[int, ...]) -> str:
    payload = b"\0".join((method.encode(), path.encode(), who.encode(), b"")) + struct.pack(
        f">{len(numbers)}q", *numbers
    )
    digest = hmac.new(key, payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class NonceSource:
    """Nonces unique per node across its worker processes: microseconds, times 64, plus the worker's
    slot; strictly increasing within a process."""

    def __init__(self, slot: int | None = None) -> None:
        self._slot = (slot if slot is not None else int(os.environ.get("STRATA_WORKER_SLOT", "0"))) % 64
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            candidate = (time.time_ns() // 1000) * 64 + self._slot
            self._last = max(candidate, self._last + 64)
            return self._last


# -- redirects --------------------------------------------------------------------------------------


def sign_redirect(
    location: str, *, method: str, path: str, proxy_id: str, map_version: int, content_length: int,
    key: bytes, nonce: int, now_ns: int,
) -> str:  # fmt: skip
    """``location`` with the signing parameters appended to its query."""
    numbers = (map_version, max(content_length, 0), nonce, now_ns)
    signature = _mac(key, method, path, proxy_id, numbers)
    separator = "&" if "?" in location else "?"
    return (
        f"{location}{separator}pid={proxy_id}&utm={base36(now_ns)}&vpams={base36(map_version)}"
        f"&x={base36(nonce)}&u={signature}"
    )


def redirect_params(raw_query: str) -> dict[str, str] | None:
    """The redirect marker's parameters when both ``pid`` and ``utm`` are present, else None."""
    if "pid=" not in raw_query or "utm=" not in raw_query:
        return None
    found = {
        key: value for key, value in parse_qsl(raw_query, keep_blank_values=True) if key in REDIRECT_PARAMS
    }
    return found if "pid" in found and "utm" in found else None


def _base36(value: str, what: str) -> int:
    try:
        number = int(value, 36)
    except ValueError:
        raise InvalidRequest(f"redirect parameter {what} is not a base-36 number") from None
    if not 0 <= number < 1 << 63:
        raise InvalidRequest(f"redirect parameter {what} is out of range")
    return number


def verify_redirect(
    params: Mapping[str, str], *, method: str, path: str, content_length: int, keys: list[bytes],
    now_ns: int, window_s: float, nonces: NonceLedger,
) -> None:  # fmt: skip
    """Raise unless the redirect's signature verifies, is fresh and was not used before."""
    signature = params.get("u")
    if not signature:
        raise Unauthorized("redirect is not signed (the cluster signs redirects: auth.cluster_key)")
    if len(signature) != SIGNATURE_CHARS:
        raise InvalidRequest(f"invalid redirect signature length {len(signature)}")
    issued = _base36(params["utm"], "utm")
    numbers = (_base36(params.get("vpams", "0"), "vpams"), max(content_length, 0),
               _base36(params.get("x", ""), "x"), issued)  # fmt: skip
    proxy_id = params["pid"]
    if not any(hmac.compare_digest(_mac(key, method, path, proxy_id, numbers), signature) for key in keys):
        raise Unauthorized("HMAC signature mismatch")
    if issued < now_ns - int(window_s * 1e9) or issued > now_ns + CLOCK_SKEW_NS:
        raise Unauthorized("redirect expired (older than auth.cluster_key.nonce_window)")
    if not nonces.first_use(proxy_id, numbers[2], issued + int(window_s * 1e9) + CLOCK_SKEW_NS):
        raise Unauthorized("redirect replayed: its nonce was already used")


# -- node-to-node calls --------------------------------------------------------------------------


def sign_call(method: str, path: str, caller: str, key: bytes, nonce: int, now_ns: int) -> dict[str, str]:
    """Headers proving a call comes from a node of the cluster."""
    return {
        CALLER_ID: caller,
        CALLER_TIME: str(now_ns),
        CALLER_NONCE: str(nonce),
        CALLER_SIG: _mac(key, method, path, caller, (nonce, now_ns)),
    }


def verify_call(
    headers: Mapping[str, str], method: str, path: str, keys: list[bytes], now_ns: int, window_s: float
) -> str:
    """The calling node's id, or 401 when the call's headers do not verify or are stale."""
    caller = headers.get(CALLER_ID, "")
    stamp, nonce, signature = (
        headers.get(CALLER_TIME, ""),
        headers.get(CALLER_NONCE, ""),
        headers.get(CALLER_SIG, ""),
    )
    if not caller or not _decimal(stamp) or not _decimal(nonce) or len(signature) != SIGNATURE_CHARS:
        raise Unauthorized("malformed intra-cluster call signature")
    numbers = (int(nonce), int(stamp))
    if numbers[0] >= 1 << 63 or numbers[1] >= 1 << 63:
        raise Unauthorized("malformed intra-cluster call signature")
    if not any(hmac.compare_digest(_mac(key, method, path, caller, numbers), signature) for key in keys):
        raise Unauthorized("intra-cluster call: HMAC signature mismatch")
    if abs(now_ns - numbers[1]) > int(window_s * 1e9) + CLOCK_SKEW_NS:
        raise Unauthorized("intra-cluster call signature expired")
    return caller


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()  # "²".isdigit() is True too


def direct_access_denied() -> Forbidden:
    return Forbidden("direct target access denied: clients reach targets through a proxy's redirect")


# -- replay protection --------------------------------------------------------------------------


class NonceLedger:
    """The ``(proxy id, nonce)`` pairs a node has accepted, until they expire; shared by its worker
    processes through one SQLite file (WAL, no fsync: a crash forgets them, and the redirects they
    belong to have expired by the time a restarted node serves again... or soon after)."""

    PURGE_EVERY = 1024

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._inserts = 0

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute(
                "CREATE TABLE IF NOT EXISTS used (sender TEXT, nonce INTEGER, expires INTEGER, "
                "PRIMARY KEY (sender, nonce)) WITHOUT ROWID"
            )
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def first_use(self, sender: str, nonce: int, expires_ns: int) -> bool:
        """Record the pair; False when it was recorded before (a replay)."""
        db = self._db()
        self._inserts += 1
        if self._inserts % self.PURGE_EVERY == 0:
            db.execute("DELETE FROM used WHERE expires < ?", (time.time_ns(),))
        try:
            db.execute("INSERT INTO used VALUES (?, ?, ?)", (sender, nonce, expires_ns))
        except sqlite3.IntegrityError:
            return False
        return True
