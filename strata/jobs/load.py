"""One load vector per node (AIStore v4.1's ``cmn/load``), consulted by jobs and the request path.

The vector has four dimensions, each graded ok / high / critical:

- memory: available memory against ``memsys.min_free`` (critical below it, high below twice it);
- cpu: the 1-minute load average per core (high above 2, critical above 4);
- disk: the busiest mountpath device's utilisation over the last sample, against
  ``disk.disk_util_high_wm`` / ``disk.disk_util_max_wm``;
- fds: open file descriptors of this process against its limit (high 80%, critical 95%).

Jobs call ``throttle()`` between units of work (through ``Job.check``): they pause briefly when
the node is busy and longer when it is critical. Heavy new requests (starting a job, GetBatch) call
``admit()``, which answers 429 with ``Retry-After`` when any dimension is critical.
Samples are cached for ``SAMPLE_EVERY`` seconds, so consulting the vector costs nothing per request.
"""

from __future__ import annotations

import os
import resource
import threading
import time

import msgspec

from strata.core.errors import TooManyRequests

SAMPLE_EVERY = 0.5
OK, HIGH, CRITICAL = 0, 1, 2
_LEVEL_NAMES = ("ok", "high", "critical")
_PAUSE = {OK: 0.0, HIGH: 0.002, CRITICAL: 0.05}


class LoadVector(msgspec.Struct, frozen=True):
    mem_avail: int
    mem_total: int
    cpu_load: float  # 1-minute load average per core
    disk_util: float  # percent, busiest mountpath device
    fds: int
    fd_limit: int
    memory: int
    cpu: int
    disk: int
    fd: int

    @property
    def level(self) -> int:
        return max(self.memory, self.cpu, self.disk, self.fd)

    def describe(self) -> str:
        parts = [
            ("memory", self.memory),
            ("cpu", self.cpu),
            ("disk", self.disk),
            ("file descriptors", self.fd),
        ]
        hot = [f"{name} {_LEVEL_NAMES[level]}" for name, level in parts if level]
        return ", ".join(hot) or "ok"


def _meminfo() -> tuple[int, int]:
    total = avail = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
            elif line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    return avail, total


def _disk_ticks(devices: set[str]) -> dict[str, int]:
    """``io_ticks`` (ms spent doing I/O) per block device, from /proc/diskstats."""
    ticks = {}
    try:
        with open("/proc/diskstats") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 12 and fields[2] in devices:
                    ticks[fields[2]] = int(fields[12])
    except OSError:
        pass
    return ticks


def _device_names(paths: list[str]) -> set[str]:
    """Block device names (``vda``, ``nvme0n1p1``) holding the given paths."""
    names = set()
    for path in paths:
        try:
            dev = os.stat(path).st_dev
            link = os.readlink(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
            names.add(os.path.basename(link))
        except OSError:
            continue
    return names


class LoadMonitor:
    """Samples the load vector at most every ``SAMPLE_EVERY`` seconds; thread-safe."""

    def __init__(self, mountpaths: list[str], *, min_free: int, disk_high: int, disk_max: int) -> None:
        self.min_free = min_free
        self.disk_high = disk_high
        self.disk_max = disk_max
        self.devices = _device_names(mountpaths)
        self.cores = os.cpu_count() or 1
        self._lock = threading.Lock()
        self._last_ticks = _disk_ticks(self.devices)
        self._last_time = time.monotonic()
        self._vector = self._measure(0.0)

    def _measure(self, disk_util: float) -> LoadVector:
        avail, total = _meminfo()
        cpu_load = os.getloadavg()[0] / self.cores
        try:
            fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            fds = 0
        fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        memory = CRITICAL if avail < self.min_free else HIGH if avail < 2 * self.min_free else OK
        cpu = CRITICAL if cpu_load > 4 else HIGH if cpu_load > 2 else OK
        disk = CRITICAL if disk_util >= self.disk_max else HIGH if disk_util >= self.disk_high else OK
        fd_pct = 100 * fds / fd_limit if fd_limit > 0 else 0
        fd = CRITICAL if fd_pct >= 95 else HIGH if fd_pct >= 80 else OK
        return LoadVector(avail, total, cpu_load, disk_util, fds, fd_limit, memory, cpu, disk, fd)

    def vector(self) -> LoadVector:
        now = time.monotonic()
        if now - self._last_time < SAMPLE_EVERY:
            return self._vector
        with self._lock:
            if now - self._last_time < SAMPLE_EVERY:
                return self._vector
            ticks = _disk_ticks(self.devices)
            elapsed_ms = (now - self._last_time) * 1000
            util = max(
                (100 * (ticks[d] - self._last_ticks.get(d, ticks[d])) / elapsed_ms for d in ticks),
                default=0.0,
            )
            self._last_ticks, self._last_time = ticks, now
            self._vector = self._measure(min(util, 100.0))
            return self._vector

    def throttle(self) -> None:
        """A job's pause between units of work: none when the node is calm."""
        pause = _PAUSE[self.vector().level]
        if pause:
            time.sleep(pause)

    def admit(self, what: str) -> None:
        """Refuse heavy new work with 429 while any dimension of the load is critical."""
        vector = self.vector()
        if vector.level == CRITICAL:
            raise TooManyRequests(
                f"{what}: the node is overloaded ({vector.describe()}); retry later", retry_after=2
            )
