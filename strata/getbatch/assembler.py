"""The assembler: entries in, archive out -- strictly in request order, one regular file per entry.

``Assembler.items()`` is a generator of output items (``bytes`` and zero-copy ``FileRegion``) that the
HTTP layer sends as they come (``strm: true``) or that the multipart path spools (``strm: false``).
Memory stays bounded whatever the batch size: at most one entry is open at a time, small outputs are
coalesced into chunks of ``COALESCE`` bytes (one write instead of dozens -- per-item overhead is what
limits a stream of small files), and the per-entry metadata is kept only when the multipart answer
needs it.

Errors: with ``coer`` a missing entry (``NotFound``, and any other 4xx an entry alone is to blame for,
like a range past the end) becomes a zero-size ``__404__/<name>`` member and counts as a soft error;
once soft errors exceed ``get_batch.max_soft_errs`` the request fails (``SoftErrorLimit``). Without
``coer`` the first failing entry's error is raised as it is (404 names ``ais://bucket/object``). A 5xx
(an I/O failure) always fails the request -- except ``PeerUnreachable``: a target that is down makes
only its own entries unavailable, so with ``coer`` they are soft errors like missing ones (and past
the limit the request fails with its 503: the entries may exist, retry later). Raised before the
first byte, these become the HTTP status; after it they can only truncate the stream.

A ``FileRegion`` item stays valid until the consumer asks for the next item: the generator only
closes the entry's descriptor when it resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from strata.archive import Output, new_writer
from strata.core.errors import PeerUnreachable, StrataError
from strata.getbatch.model import MISSING_DIR, BatchPlan, Entry, MossOut, member_name
from strata.getbatch.sources import EntrySource

COALESCE = 256 << 10  # small outputs are joined until this many bytes are pending
TALLY_EVERY = 1024  # entries between updates of the job and metrics counters
WARM_BLOCK = 64  # entries handed to the warm-up workers at a time, one block ahead of the writer


class SoftErrorLimit(StrataError):
    """Too many soft errors in one work item; the status is the last soft error's (a 4xx, or 503 for
    a peer that did not answer)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Tally:
    """What one work item has sent so far; ``flush`` hands the increments to ``sink`` (job + metrics)."""

    __slots__ = ("file_bytes", "files", "obj_bytes", "objects", "sink", "soft_errors")

    def __init__(self, sink: Callable[[Tally], None] | None = None) -> None:
        self.objects = self.files = self.obj_bytes = self.file_bytes = 0
        self.soft_errors = 0
        self.sink = sink

    def flush(self) -> None:
        if self.sink is not None:
            self.sink(self)
        self.objects = self.files = self.obj_bytes = self.file_bytes = self.soft_errors = 0


class Assembler:
    def __init__(
        self,
        plan: BatchPlan,
        source: EntrySource,
        *,
        max_soft_errs: int,
        keep_metadata: bool,
        tally: Tally | None = None,
        warm: Callable[[list[Entry]], None] | None = None,
    ) -> None:
        self.plan = plan
        self.source = source
        self.max_soft_errs = max_soft_errs
        self.out: list[MossOut] | None = [] if keep_metadata else None
        self.tally = tally if tally is not None else Tally()
        self.warm = warm
        self.soft_errors = 0

    def items(self) -> Generator[Output, None, None]:
        """The archive, item by item; closes the source when done (or when the consumer stops early)."""
        plan, source, tally, out = self.plan, self.source, self.tally, self.out
        writer = new_writer(plan.fmt)
        onob = plan.onob
        pending: list[bytes] = []
        pending_size = 0
        try:
            for index, entry in enumerate(plan.entries):
                if self.warm is not None and index % WARM_BLOCK == 0:
                    self.warm(plan.entries[index + WARM_BLOCK : index + 2 * WARM_BLOCK])
                if index % TALLY_EVERY == TALLY_EVERY - 1:
                    tally.flush()
                name = member_name(entry, onob)
                try:
                    payload = source.fetch(entry)
                except StrataError as exc:
                    if not plan.coer or (exc.status >= 500 and not isinstance(exc, PeerUnreachable)):
                        raise
                    self._soft_error(exc)
                    for item in writer.add(f"{MISSING_DIR}/{name}", 0, b""):
                        pending.append(item)  # type: ignore[arg-type]  # a zero-size member is bytes
                        pending_size += len(item)  # type: ignore[arg-type]
                    if out is not None:
                        out.append(_out(entry, 0, exc.message))
                    continue
                try:
                    for item in writer.add(name, payload.size, payload.source):
                        if type(item) is bytes:
                            pending.append(item)
                            pending_size += len(item)
                            if pending_size >= COALESCE:
                                yield b"".join(pending)
                                pending, pending_size = [], 0
                        else:
                            if pending:
                                yield b"".join(pending)
                                pending, pending_size = [], 0
                            yield item
                finally:
                    payload.close()
                if payload.archived:
                    tally.files += 1
                    tally.file_bytes += payload.size
                else:
                    tally.objects += 1
                    tally.obj_bytes += payload.size
                if out is not None:
                    out.append(_out(entry, payload.size, ""))
            for tail in writer.finish():
                pending.append(tail)
            yield b"".join(pending)
        finally:
            source.close()
            tally.flush()

    def _soft_error(self, exc: StrataError) -> None:
        self.soft_errors += 1
        self.tally.soft_errors += 1
        if self.soft_errors > self.max_soft_errs:
            raise SoftErrorLimit(
                f"get-batch: too many soft errors ({self.soft_errors}, get_batch.max_soft_errs is "
                f"{self.max_soft_errs}); the last one: {exc.message}",
                exc.status,
            )


def _out(entry: Entry, size: int, error: str) -> MossOut:
    return MossOut(
        objname=entry.name,
        bucket=entry.bck.name,
        provider=entry.bck.provider,
        size=size,
        archpath=entry.archpath,
        err_msg=error,
        opaque=entry.opaque,
    )
