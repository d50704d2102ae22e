"""A one-line progress meter on stderr, redrawn with carriage returns; no third-party dependency.

Uploads run on a few threads, so every counter sits behind a lock and redraws are throttled (10 per
second) to keep a fast loop of small files from spending its time printing. When stderr is not a
terminal the meter stays silent unless forced, so logs and test captures do not fill with ``\\r`` lines;
the verbs print their one-line summary either way.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, TextIO

from strata.cli.formatting import human_rate, human_size

_REDRAW_INTERVAL_SECONDS = 0.1


class TransferProgress:
    """Counts files and bytes moved against known totals and draws ``12/40 files  3.00MiB/9.00MiB ...``.

    ``total_files`` may be 0 for a single-object transfer, in which case only bytes are shown.
    """

    def __init__(
        self,
        out: TextIO,
        *,
        total_bytes: int,
        total_files: int = 0,
        label: str = "",
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = out
        self._label = label
        self._enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        self.total_bytes = total_bytes
        self.total_files = total_files
        self.done_bytes = 0
        self.done_files = 0
        self.started = clock()
        self._last_draw = 0.0
        self._drawn_width = 0

    def add_bytes(self, count: int) -> None:
        """Record ``count`` more bytes moved (negative when a retry rewinds a stream)."""
        with self._lock:
            self.done_bytes += count
            self._maybe_draw()

    def file_done(self) -> None:
        """Record one more whole file moved."""
        with self._lock:
            self.done_files += 1
            self._maybe_draw()

    @property
    def elapsed(self) -> float:
        """Seconds since the transfer started."""
        return max(self._clock() - self.started, 1e-9)

    def line(self) -> str:
        """The current meter text, without the carriage return."""
        rate = human_rate(self.done_bytes / self.elapsed)
        parts = [self._label] if self._label else []
        if self.total_files:
            parts.append(f"{self.done_files}/{self.total_files} files")
        total = f"/{human_size(self.total_bytes)}" if self.total_bytes else ""  # 0: not known in advance
        parts.append(f"{human_size(self.done_bytes)}{total}")
        if self.total_bytes:
            parts.append(f"{min(100, 100 * self.done_bytes // self.total_bytes)}%")
        parts.append(rate)
        return "  ".join(parts)

    def finish(self) -> None:
        """Draw the final state and end the line, so following output starts on a clean row."""
        with self._lock:
            if self._enabled:
                self._draw()
                self._out.write("\n")
                self._out.flush()

    def _maybe_draw(self) -> None:
        if not self._enabled:
            return
        now = self._clock()
        if now - self._last_draw >= _REDRAW_INTERVAL_SECONDS:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        text = self.line()
        padding = " " * max(0, self._drawn_width - len(text))
        self._out.write("\r" + text + padding)
        self._out.flush()
        self._drawn_width = len(text)


def stderr_is_terminal(out: TextIO) -> bool:
    """Whether a progress meter would be seen by a person rather than land in a log."""
    try:
        return out.isatty()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False


class CountingReader(io.RawIOBase):
    """A read-only file that reports every byte read to a ``TransferProgress``.

    It keeps ``fileno`` and ``mode`` (so ``requests`` sizes the body with ``fstat`` and sends a
    Content-Length; without them it silently falls back to chunked transfer encoding) and
    ``seek``/``tell`` (so a retry can rewind; the meter is told about the rewind as negative progress).
    """

    def __init__(self, raw: BinaryIO, progress: TransferProgress) -> None:
        super().__init__()
        self._raw = raw
        self._progress = progress

    @property
    def mode(self) -> str:
        """``requests`` checks for ``b`` here before trusting ``fstat`` for the Content-Length."""
        return "rb"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        before = self._raw.tell()
        after = self._raw.seek(offset, whence)
        self._progress.add_bytes(after - before)
        return after

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._progress.add_bytes(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()
