"""A death at any step of any object change leaves the savings ledger equal to a recount.

Deterministic kill points: each operation runs in a forked child that traces the storage code line by
line (``sys.settrace``) and SIGKILLs itself at line N; the parent then reopens the store on the same
files (a restart, or another worker), takes the stripe locks of the objects involved as the next
writer would (that settles what the dead one left; every other run, the start settles it), and
compares ``Ledger.totals()`` with a recount.
N runs over every line the operation executes in the ledger, bookkeeping and store modules (a line in
a loop counts its first three runs), so every gap between two writes -- intent, rename, apply record,
cells, clears -- is a kill point.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from strata.core.names import BucketRef
from strata.storage import append, bookkeeping, housekeeping, ledger, multipart, objects
from strata.storage.ledger import STRIPES, Footprint
from strata.storage.metadata import ObjectMetadata
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore, place_file

A = BucketRef.parse("a")
B = BucketRef.parse("b")
TRACED = {os.path.realpath(m.__file__ or "") for m in (bookkeeping, ledger)}
# in the store module, the functions that change objects (not the ones that stream bytes)
TRACED_STORE = (
    os.path.realpath(objects.__file__ or ""),
    {
        "_publish",
        "_place",
        "place_file",
        "delete",
        "update_metadata",
        "rename",
        "destroy_bucket",
        "rename_bucket",
    },
)
LOOP_CAP = 3  # a line run more often than this (a loop over stripes, rows, files) is a kill point 3 times


def _put(store: ObjectStore, bck: BucketRef, name: str, size: int, fill: bytes = b"x") -> None:
    writer = store.writer(bck, name, "xxhash")
    writer.write(fill * size)
    writer.commit(versioning=False)


@dataclass
class Scenario:
    setup: Callable[[ObjectStore], None]
    action: Callable[[ObjectStore], Any]
    # the object locations whose stripes the next writer takes (whole-bucket changes need any one)
    touched: Callable[[ObjectStore], list[str]]
    mountpaths: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def _loc(bck: BucketRef, *names: str) -> Callable[[ObjectStore], list[str]]:
    return lambda store: [store.location(bck, name) for name in names]


def _append_flush(store: ObjectStore) -> None:
    handle = append.append(store, A, "log", "", b"more" * 10)
    append.flush(store, A, "log", handle, checksum_type="xxhash", versioning=False)


def _multipart_setup(store: ObjectStore) -> None:
    _put(store, A, "mp", 3)
    upload = multipart.create(store, A, "mp")
    for part in (1, 2):
        writer = multipart.PartWriter(store, A, "mp", upload, part)
        writer.write(b"p" * 100)
        writer.commit()
    (Path(store.mountpaths.all[0].root) / "upload-id").write_text(upload)


def _multipart_complete(store: ObjectStore) -> None:
    upload = (Path(store.mountpaths.all[0].root) / "upload-id").read_text()
    multipart.complete(store, A, "mp", upload, [1, 2], checksum_type="xxhash", versioning=False)


def _grow(md: ObjectMetadata) -> ObjectMetadata:
    """A metadata change that changes the footprint: the same 10 bytes on disk now say they are the
    stored form of 25 original bytes."""
    return ObjectMetadata(25, md.checksum_type, md.checksum_value, codec="zstd", stored_size=md.size)


def _two_buckets(store: ObjectStore) -> None:
    for i in range(3):
        _put(store, A, f"d/o{i}", 10 + i)
    _put(store, B, "other", 5)


def _merge_setup(store: ObjectStore) -> None:
    """``a`` renamed into ``b`` whose directory exists: overlapping names, newer wins."""
    _put(store, B, "old", 50)  # older than a's "old": replaced
    _put(store, A, "old", 5)
    _put(store, A, "new", 6)
    _put(store, A, "only-a", 7)
    _put(store, B, "new", 60)  # newer than a's "new": a's copy is dropped
    _put(store, B, "only-b", 8)


def _misplaced_setup(store: ObjectStore) -> None:
    """Objects on the mountpath HRW does not pick for them (as after adding a mountpath), some with an
    older copy at home; then the ledger is recounted (what a start over such a tree does)."""
    for i in range(4):
        name = f"m{i}"
        _put(store, A, name, 10 + i)
        home = store.mountpaths.for_object(A, name)
        other = store.mountpaths.others(home)[0]
        src = home.object_path(A, name)
        place_file(src, other.object_path(A, name), other.content_dir(A, "%ob"))
        if i % 2:
            _put(store, A, name, 3)  # a different, older-looking copy at home
    books = store.books
    assert books is not None
    with store.locks.hold_all():
        books.ledger.rebuild(store.recount())


def _resilver(store: ObjectStore) -> None:
    for _moved in housekeeping.resilver(store, A):
        pass


def _resilver_across_devices(store: ObjectStore) -> None:
    """Every rename between mountpaths fails with EXDEV, as between two filesystems: copy, then remove."""

    def place(src: str, dst: str) -> None:
        if "%wk" not in src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        place_file(src, dst, os.path.dirname(dst))

    for mp in store.mountpaths.all:
        for name in sorted(store.iter_names(A)):
            home = store.mountpaths.for_object(A, name)
            if home is mp:
                continue
            bookkeeping.move_object_file(
                store.locks,
                store.books,
                A,
                mp.object_path(A, name),
                home.object_path(A, name),
                work_path=home.work_path(A),
                place=place,
            )


def _all_names(store: ObjectStore) -> list[str]:
    return [mp.object_path(A, f"m{j}") for mp in store.mountpaths.all for j in range(4)]


SCENARIOS: dict[str, Scenario] = {
    "put": Scenario(lambda s: None, lambda s: _put(s, A, "o", 10), _loc(A, "o")),
    "overwrite": Scenario(lambda s: _put(s, A, "o", 10), lambda s: _put(s, A, "o", 33), _loc(A, "o")),
    "delete": Scenario(lambda s: _put(s, A, "o", 10), lambda s: s.delete(A, "o"), _loc(A, "o")),
    "rename-over": Scenario(
        lambda s: (_put(s, A, "x", 10), _put(s, A, "y", 20)),
        lambda s: s.rename(A, "x", "y", versioning=False),
        _loc(A, "x", "y"),
    ),
    "copy-over": Scenario(
        lambda s: (_put(s, A, "src", 10), _put(s, B, "dst", 3)),
        lambda s: s.copy(A, "src", B, "dst", checksum_type="xxhash", versioning=False),
        _loc(B, "dst"),
    ),
    "append-flush": Scenario(lambda s: _put(s, A, "log", 5), _append_flush, _loc(A, "log")),
    "multipart-complete": Scenario(_multipart_setup, _multipart_complete, _loc(A, "mp")),
    "metadata-footprint": Scenario(
        lambda s: _put(s, A, "o", 10), lambda s: s.update_metadata(A, "o", _grow), _loc(A, "o")
    ),
    "destroy": Scenario(_two_buckets, lambda s: s.destroy_bucket(A), _loc(B, "other"), mountpaths=2),
    "move-bck": Scenario(
        _two_buckets, lambda s: s.rename_bucket(A, BucketRef.parse("c")), _loc(B, "other"), mountpaths=2
    ),
    "move-bck-merge": Scenario(_merge_setup, lambda s: s.rename_bucket(A, B), _loc(B, "old")),
    "resilver": Scenario(_misplaced_setup, _resilver, _all_names, mountpaths=2),
    "resilver-xdev": Scenario(_misplaced_setup, _resilver_across_devices, _all_names, mountpaths=2),
}


ONE_OBJECT = {
    "put",
    "overwrite",
    "delete",
    "rename-over",
    "copy-over",
    "append-flush",
    "multipart-complete",
    "metadata-footprint",
}


def _open(root: Path, count: int) -> ObjectStore:
    return ObjectStore(Mountpaths([str(root / f"mp{i}") for i in range(count)]))


def _run_child(root: Path, scenario: Scenario, kill_at: int, report: int) -> None:
    """In the forked child: run the action, SIGKILL at traced line ``kill_at`` (0: never); report the
    number of lines traced on ``report`` when it completes."""
    code = 1
    try:
        store = _open(root, scenario.mountpaths)
        lines = 0
        seen: dict[tuple[str, int], int] = {}

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal lines
            if event == "line":
                where = (frame.f_code.co_filename, frame.f_lineno)
                seen[where] = seen.get(where, 0) + 1
                if seen[where] <= LOOP_CAP:
                    lines += 1
                    if lines == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
            return local

        def tracer(frame: FrameType, event: str, arg: Any) -> Any:
            code = frame.f_code
            if code.co_filename in TRACED or (
                code.co_filename == TRACED_STORE[0] and code.co_name in TRACED_STORE[1]
            ):
                return local
            return None

        sys.settrace(tracer)
        try:
            scenario.action(store)
        finally:
            sys.settrace(None)
        os.write(report, str(lines).encode())
        code = 0
    finally:
        os._exit(code)


def _fork(root: Path, scenario: Scenario, kill_at: int) -> tuple[bool, int]:
    """(killed, lines traced when it completed)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _run_child(root, scenario, kill_at, write_end)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    lines = os.read(read_end, 64)
    os.close(read_end)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True, 0
    assert os.WEXITSTATUS(status) == 0, "the action failed in the child"
    return False, int(lines)


def _prepare(root: Path, scenario: Scenario) -> None:
    """The scenario's starting state in ``root``, from scratch but for the lock files (slow to create)."""
    for thread in threading.enumerate():  # a destroy empties the trash on a thread: let it finish first
        if "empty_trash" in thread.name:
            thread.join()
    for mountpath in root.glob("mp*"):
        for entry in mountpath.iterdir():
            if entry.name == ".locks":
                continue
            if entry.is_dir():
                while entry.exists():  # the trash may be emptied by a thread meanwhile
                    shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()
    store = _open(root, scenario.mountpaths)
    for bck in (A, B):
        store.create_bucket(bck)
    scenario.setup(store)
    store.close()


def _settle_and_check(root: Path, scenario: Scenario, by_next_writer: bool = False) -> dict[str, Footprint]:
    """Reopen (a restart: nothing is recounted) and compare with a recount. A start settles what was
    left at once; with ``by_next_writer`` it does not, and the next writers of the objects do it."""
    real = bookkeeping.Bookkeeper.settle_pending
    if by_next_writer:
        bookkeeping.Bookkeeper.settle_pending = lambda self: 0  # type: ignore[method-assign]
    try:
        store = _open(root, scenario.mountpaths)
    finally:
        bookkeeping.Bookkeeper.settle_pending = real  # type: ignore[method-assign]
    ledger_ = store.ledger
    assert ledger_ is not None and not ledger_.stale
    for location in scenario.touched(store):  # the next writers of these objects settle what was left
        with store.locks.hold(location):
            pass
    assert not ledger_.bucket_op_pending()
    left = [ledger_.pending_location(s) for s in range(STRIPES) if ledger_.pending(s)]
    assert not left, f"intents still pending: {left}"
    totals = ledger_.totals()
    counted = store.recount()
    store.close()
    assert totals == counted
    return totals


@pytest.fixture
def work_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on tmpfs when it keeps user xattrs (thousands of runs: metadata operations add up)."""
    try:
        shm = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="strata-ledger-"))
    except OSError:
        yield tmp_path
        return
    try:
        probe = shm / "probe"
        probe.touch()
        os.setxattr(probe, "user.strata.probe", b"1")
        probe.unlink()
    except OSError:
        shutil.rmtree(shm, ignore_errors=True)
        yield tmp_path
        return
    yield shm
    shutil.rmtree(shm, ignore_errors=True)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_kill_at_any_line_leaves_the_ledger_equal_to_a_recount(work_dir: Path, name: str) -> None:
    tmp_path = work_dir
    scenario = SCENARIOS[name]
    base = tmp_path / "full"
    _prepare(base, scenario)
    before = _settle_and_check(base, scenario)
    killed, lines = _fork(base, scenario, 0)
    assert not killed and lines > 10
    after = _settle_and_check(base, scenario)
    assert after != before, "the operation changes the ledger (else a kill proves nothing)"
    outcomes = set()
    root = tmp_path / "killed"
    for kill_at in range(1, lines + 1):
        _prepare(root, scenario)
        killed, _ = _fork(root, scenario, kill_at)
        assert killed
        outcomes.add(repr(_settle_and_check(root, scenario, by_next_writer=kill_at % 2 == 0)))
    if name in ONE_OBJECT:  # a death early leaves the old counts, a death late the new ones
        assert outcomes == {repr(before), repr(after)}
    else:  # whole-bucket changes finish after a death; a resilver stops between objects
        assert len(outcomes) >= 2
