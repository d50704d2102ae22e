"""Revoked tokens: what ``DELETE /v1/tokens`` (AuthN's push) records, refused by every worker and node.

A revocation list holds SHA-256 digests of tokens (never the tokens) with their expiry; an entry is
dropped once its token has expired anyway. Two stores with one interface (``RevokedTokens``):

- ``FileRevokedTokens`` (embedded): ``<data>/meta/auth/revoked.json``, replaced atomically under a file
  lock; every worker process re-reads it when its mtime changes, looking at most every
  ``RECHECK_S`` (a ``stat`` per request would cost the hot path more than the rest of auth), so a
  revocation through one worker holds there at once and on every other worker within 50 ms;
- the etcd store (``strata.cluster.etcd_store``: ``auth/revoked/<digest>`` keys under a lease that ends
  with the token), watched by every node of a cluster.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable
from typing import Protocol

import msgspec


class RevokedTokens(Protocol):
    def is_revoked(self, digest: str) -> bool: ...

    def revoke(self, entries: Iterable[tuple[str, float]]) -> None:
        """Record ``(digest, expires)`` pairs (expires: seconds since the epoch)."""


class NoRevocations:
    """For nodes and tests with nowhere to keep a list."""

    def is_revoked(self, digest: str) -> bool:
        return False

    def revoke(self, entries: Iterable[tuple[str, float]]) -> None:
        raise NotImplementedError("this node keeps no revocation list")


_decode = msgspec.json.Decoder(dict[str, float]).decode


RECHECK_S = 0.05


class FileRevokedTokens:
    def __init__(self, meta_dir: str) -> None:
        self.dir = os.path.join(meta_dir, "auth")
        self.path = os.path.join(self.dir, "revoked.json")
        self._entries: dict[str, float] = {}
        self._stamp: tuple[int, int] = (-1, -1)
        self._checked = -RECHECK_S  # time.monotonic() of the last look at the file

    def _current(self) -> dict[str, float]:
        now = time.monotonic()
        if now - self._checked < RECHECK_S:
            return self._entries
        self._checked = now
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._entries, self._stamp = {}, (-1, -1)
            return self._entries
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp:
            with open(self.path, "rb") as file:
                self._entries = _decode(file.read())
            self._stamp = stamp
        return self._entries

    def is_revoked(self, digest: str) -> bool:
        return digest in self._current()

    def revoke(self, entries: Iterable[tuple[str, float]]) -> None:
        os.makedirs(self.dir, exist_ok=True)
        lock = os.open(os.path.join(self.dir, "revoked.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self.path, "rb") as file:
                    current = _decode(file.read())
            except FileNotFoundError:
                current = {}
            now = time.time()
            current = {digest: expires for digest, expires in current.items() if expires > now}
            current.update((digest, expires) for digest, expires in entries if expires > now)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as file:
                file.write(msgspec.json.encode(current))
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.path)
            self._checked = -RECHECK_S  # this worker sees it on its next check, without waiting
        finally:
            os.close(lock)
