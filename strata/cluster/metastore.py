"""Where cluster metadata lives: the BMD and the cluster config, versioned, shared by all workers.

One interface, ``MetaStore``; two implementations: ``LocalMetaStore`` (files, for embedded mode)
and the etcd one (cluster mode). Code above it cannot tell which one it has.

``LocalMetaStore`` makes a change visible to the very next request on any worker process: a
change is written under an exclusive file lock (temp file, fsync, rename) and then a version
counter in a shared memory-mapped file is bumped. Each request compares that counter with the
version it holds (a 16-byte read) and reloads only when it moved.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Protocol

from strata.cluster.bmd import BucketMetadata
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.config.cluster import (
    ClusterConfig,
    cluster_config_to_json,
    default_cluster_config,
    load_cluster_config,
)

_COUNTERS = struct.Struct("<QQ")  # bmd version, config version


class MetaStore(Protocol):
    def bmd(self) -> BucketMetadata: ...
    def update_bmd(self, change: Callable[[BucketMetadata], BucketMetadata]) -> BucketMetadata: ...
    def config(self) -> ClusterConfig: ...
    def update_config(self, change: Callable[[ClusterConfig], ClusterConfig]) -> ClusterConfig: ...
    def cluster_map(self) -> ClusterMap:
        """The nodes of the cluster: registered under leases (etcd), or the one embedded node (local)."""
        ...

    def refresh(self) -> None:
        """Catch up now with changes made elsewhere (another node); a local store is always current."""
        ...

    def close(self) -> None: ...


def _write_atomically(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class LocalMetaStore:
    """File-backed metadata for one node; safe to share between forked worker processes."""

    def __init__(
        self, meta_dir: str, config_path: str | None = None, *, members: Sequence[NodeInfo] = ()
    ) -> None:
        """``members``: the node this store serves, as its proxy and its target (``embedded_members``)."""
        self._map = ClusterMap(1, "", list(members), {})
        os.makedirs(meta_dir, exist_ok=True)
        self.bmd_path = os.path.join(meta_dir, "bmd.json")
        self.config_path = os.path.join(meta_dir, "config.json")
        self.lock_path = os.path.join(meta_dir, "meta.lock")
        counters_path = os.path.join(meta_dir, "versions")
        with self._locked():
            if config_path is not None:  # an explicit --config wins over what was stored
                _write_atomically(
                    self.config_path,
                    cluster_config_to_json(load_cluster_config(config_path), mask_secrets=False),
                )
            elif not os.path.exists(self.config_path):
                _write_atomically(
                    self.config_path, cluster_config_to_json(default_cluster_config(), mask_secrets=False)
                )
            if not os.path.exists(self.bmd_path):
                empty = BucketMetadata(1, uuidlib.uuid4().hex[:12], {})
                _write_atomically(self.bmd_path, empty.to_json())
            if not os.path.exists(counters_path) or os.path.getsize(counters_path) != _COUNTERS.size:
                with open(counters_path, "wb") as f:
                    f.write(_COUNTERS.pack(0, 0))
        self._counters_file = open(counters_path, "r+b")  # noqa: SIM115 (lives as long as the store)
        self._counters = mmap.mmap(self._counters_file.fileno(), _COUNTERS.size)
        self._bmd: BucketMetadata | None = None
        self._bmd_seen = -1
        self._config: ClusterConfig | None = None
        self._config_seen = -1

    def cluster_map(self) -> ClusterMap:
        return self._map

    def refresh(self) -> None:
        pass  # every read already checks the shared version counters

    def close(self) -> None:
        """Release the shared version counters (a worker holds them for its whole life)."""
        self._counters.close()
        self._counters_file.close()

    def _locked(self) -> _FileLock:
        return _FileLock(self.lock_path)

    def _read_counters(self) -> tuple[int, int]:
        bmd_counter, config_counter = _COUNTERS.unpack_from(self._counters, 0)
        return bmd_counter, config_counter

    def _bump(self, index: int) -> None:
        values = list(self._read_counters())
        values[index] += 1
        _COUNTERS.pack_into(self._counters, 0, *values)

    # -- BMD -------------------------------------------------------------------------------------

    def bmd(self) -> BucketMetadata:
        counter = _COUNTERS.unpack_from(self._counters, 0)[0]
        if counter != self._bmd_seen or self._bmd is None:
            with open(self.bmd_path, "rb") as f:
                self._bmd = BucketMetadata.from_json(f.read())
            self._bmd_seen = counter
        return self._bmd

    def update_bmd(self, change: Callable[[BucketMetadata], BucketMetadata]) -> BucketMetadata:
        with self._locked():
            with open(self.bmd_path, "rb") as f:
                current = BucketMetadata.from_json(f.read())
            updated = change(current)
            if updated is current:
                return current
            _write_atomically(self.bmd_path, updated.to_json())
            self._bump(0)
            self._bmd, self._bmd_seen = updated, self._read_counters()[0]
        return updated

    # -- cluster config ----------------------------------------------------------------------------

    def config(self) -> ClusterConfig:
        counter = _COUNTERS.unpack_from(self._counters, 0)[1]
        if counter != self._config_seen or self._config is None:
            self._config = load_cluster_config(self.config_path)
            self._config_seen = counter
        return self._config

    def update_config(self, change: Callable[[ClusterConfig], ClusterConfig]) -> ClusterConfig:
        with self._locked():
            current = load_cluster_config(self.config_path)
            updated = change(current)
            _write_atomically(self.config_path, cluster_config_to_json(updated, mask_secrets=False))
            self._bump(1)
            self._config, self._config_seen = updated, self._read_counters()[1]
        return updated


class _FileLock:
    """An exclusive ``flock`` held for a ``with`` block: serializes metadata writers across processes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _FileLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
