"""Prometheus metrics with AIStore's names, counted by every worker process of a node.

Counters live in one memory-mapped file per node: each worker owns a row (its slot) and bumps its
own cells without locks; ``/metrics`` sums the rows. A bump is one ``struct.pack_into`` (well under a
microsecond), so the GET/PUT hot paths can afford it.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Mapping
from typing import Protocol

# name, help, AIStore metric name (the exposition adds the role prefix)
COUNTERS: tuple[tuple[str, str], ...] = (
    ("get_count", "GET object requests"),
    ("get_bytes", "bytes sent by GET object requests"),
    ("put_count", "PUT object requests"),
    ("put_bytes", "bytes stored by PUT object requests"),
    ("delete_count", "DELETE object requests"),
    ("head_count", "HEAD object requests"),
    ("append_count", "append requests"),
    ("lst_count", "list-objects requests"),
    ("err_get_count", "failed GET object requests"),
    ("err_put_count", "failed PUT object requests"),
    ("err_head_count", "failed HEAD object requests"),
    ("err_delete_count", "failed DELETE object requests"),
    ("err_lst_count", "failed list-objects requests"),
    ("getbatch_count", "GetBatch requests"),
    ("getbatch_obj_count", "objects sent by GetBatch"),
    ("getbatch_file_count", "archived files sent by GetBatch"),
    ("getbatch_obj_bytes", "object bytes sent by GetBatch"),
    ("getbatch_file_bytes", "archived-file bytes sent by GetBatch"),
    ("getbatch_gfn_count", "GetBatch entries fetched from a neighbour"),
    ("getbatch_rxwait_ns", "time GetBatch waited for peers, ns"),
    ("getbatch_throttle_ns", "time GetBatch was throttled, ns"),
    ("err_getbatch_count", "failed GetBatch requests"),
    ("err_soft_getbatch_count", "GetBatch soft errors"),
    ("err_gfn_getbatch_count", "failed GetBatch get-from-neighbour"),
    ("redirect_count", "requests redirected to a target (proxy)"),
    ("hot_hit_count", "GETs answered from the hot cache"),
    ("err_cksum_count", "reads refused because the stored bytes fail their checksum"),
    ("compressed_put_count", "writes stored compressed (zstd frames)"),
    ("passthrough_put_count", "writes to a compressing bucket stored as they are (already compressed, "
     "too small, or not shrinking)"),
    ("frames_decoded_count", "compressed frames decoded to serve reads"),
)
INDEX = {name: i for i, (name, _help) in enumerate(COUNTERS)}
# Strata's own names for counters that have no AIStore equivalent, exported beside the ais_* series
# (which stay as they are): what the Grafana dashboard (contrib/grafana/strata-savings.json) queries.
STRATA_NAMES: dict[str, str] = {
    "compressed_put_count": "strata_compressed_puts_total",
    "passthrough_put_count": "strata_passthrough_puts_total",
    "frames_decoded_count": "strata_frames_decoded_total",
}
# the savings ledger's per-bucket gauges: metric name, help, the footprint field it shows
LEDGER_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("strata_ledger_original_bytes", "bytes clients wrote to the bucket (original sizes)", "original_bytes"),
    ("strata_ledger_stored_bytes", "bytes the bucket's objects take on disk", "stored_bytes"),
    ("strata_ledger_objects", "objects the savings ledger counts in the bucket", "objects"),
)
MAX_WORKERS = 64
_CELL = struct.Struct("<Q")
_ROW = len(COUNTERS) * _CELL.size
_MASK = 0xFFFFFFFFFFFFFFFF  # counters wrap as uint64, as Prometheus expects of a counter


class Metrics:
    """``path`` is the node's shared counters file; None keeps the counters in this process only (the
    supervisor's rebalance works through an object service, but it moves objects: nothing it does is
    a client request to count)."""

    def __init__(self, path: str | None, slot: int = 0) -> None:
        size = _ROW * MAX_WORKERS
        if path is None:
            self._map = mmap.mmap(-1, size)
            self.slot = 0
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                if os.fstat(fd).st_size != size:
                    os.ftruncate(fd, size)
                self._map = mmap.mmap(fd, size)
            finally:
                os.close(fd)
            self.slot = slot % MAX_WORKERS
        self._base = self.slot * _ROW
        # each counter's cell in this worker's row, found once: a bump is then one dict lookup
        self._offsets = {name: self._base + i * _CELL.size for name, i in INDEX.items()}

    def close(self) -> None:
        self._map.close()

    def add(self, name: str, value: int = 1) -> None:
        offset = self._offsets[name]
        mapped = self._map
        _CELL.pack_into(mapped, offset, (_CELL.unpack_from(mapped, offset)[0] + value) & _MASK)

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(INDEX, 0)
        for row in range(MAX_WORKERS):
            base = row * _ROW
            for name, i in INDEX.items():
                out[name] += _CELL.unpack_from(self._map, base + i * _CELL.size)[0]
        return out

    def exposition(self, role: str, node_id: str) -> bytes:
        """The Prometheus text format: ``ais_<role>_<name>{node_id="..."} <value>``, then the
        counters with Strata names (``STRATA_NAMES``) under those names too."""
        prefix = "ais_target" if role != "proxy" else "ais_proxy"
        lines = []
        totals = self.totals()
        labels = f'{{node_id="{escape_label(node_id)}"}}'
        help_texts = dict(COUNTERS)
        for name, help_text in COUNTERS:
            metric = f"{prefix}_{name}"
            lines.append(f"# HELP {metric} {help_text}")
            lines.append(f"# TYPE {metric} counter")
            lines.append(f"{metric}{labels} {totals[name]}")
        for name, metric in STRATA_NAMES.items():
            lines.append(f"# HELP {metric} {help_texts[name]}")
            lines.append(f"# TYPE {metric} counter")
            lines.append(f"{metric}{labels} {totals[name]}")
        return ("\n".join(lines) + "\n").encode()


class BucketFootprint(Protocol):
    """What the ledger gauges read of a bucket's footprint (``strata.storage.ledger.Footprint``)."""

    @property
    def original_bytes(self) -> int: ...

    @property
    def stored_bytes(self) -> int: ...

    @property
    def objects(self) -> int: ...


def escape_label(value: str) -> str:
    """A label value as the Prometheus text format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def ledger_exposition(node_id: str, footprints: Mapping[str, BucketFootprint]) -> bytes:
    """The savings ledger as gauges, one series per bucket (keyed ``ais://b``), in the text format.

    Gauges, not counters: a delete or an overwrite that compresses better makes them go down. HELP and
    TYPE are written even with no bucket yet, so a scrape always names the metrics.
    """
    node = escape_label(node_id)
    lines = []
    for metric, help_text, field in LEDGER_GAUGES:
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} gauge")
        for bucket in sorted(footprints):
            value = int(getattr(footprints[bucket], field))
            lines.append(f'{metric}{{bucket="{escape_label(bucket)}",node_id="{node}"}} {value}')
    return ("\n".join(lines) + "\n").encode()
