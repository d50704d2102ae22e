"""Shared helpers for the archive tests (imported by the other test_archive_* modules; no tests here)."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import lz4.frame  # type: ignore[import-untyped]

from strata.archive import FileRegion, Output

ALL_FORMATS = (".tar", ".tgz", ".zip", ".tar.lz4")
MTIME = 1_700_000_000


def stdlib_shard(
    path: Path, fmt: str, members: Iterable[tuple[str, bytes]], tar_format: int = tarfile.PAX_FORMAT
) -> Path:
    """Write a shard of ``members`` with Python's own tarfile/zipfile (and lz4.frame for .tar.lz4)."""
    if fmt == ".zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
                info.compress_type = zipfile.ZIP_DEFLATED if len(data) % 2 else zipfile.ZIP_STORED
                archive.writestr(info, data)
        return path
    raw: io.BufferedIOBase = lz4.frame.open(path, "wb") if fmt == ".tar.lz4" else open(path, "wb")  # noqa: SIM115
    mode = "w:gz" if fmt == ".tgz" else "w"
    with raw, tarfile.open(fileobj=raw, mode=mode, format=tar_format) as archive:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            archive.addfile(info, io.BytesIO(data))
    return path


class OpenShard:
    """An open shard file: ``fd`` and ``size``; closes on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self.fd).st_size

    def __enter__(self) -> OpenShard:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def collect(items: Iterable[Output], into: bytearray) -> list[Output]:
    """Append writer output to ``into`` (reading FileRegions with pread); return the items seen."""
    seen = []
    for item in items:
        seen.append(item)
        if isinstance(item, FileRegion):
            into += os.pread(item.fd, item.count, item.offset)
        else:
            into += item
    return seen


def write_archive(fmt: str, members: Iterable[tuple[str, bytes]]) -> bytes:
    from strata.archive import new_writer

    writer = new_writer(fmt)
    out = bytearray()
    for name, data in members:
        collect(writer.add(name, len(data), data, MTIME), out)
    collect(writer.finish(), out)
    return bytes(out)


def iter_stdlib(fmt: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every regular member, read by the stdlib (and lz4.frame)."""
    if fmt == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.testzip() is None
            for info in archive.infolist():
                yield info.filename, archive.read(info)
        return
    stream: io.BufferedIOBase = io.BytesIO(data)
    if fmt == ".tar.lz4":
        stream = lz4.frame.open(io.BytesIO(data), "rb")
    with tarfile.open(fileobj=stream, mode="r|*") as archive:
        for info in archive:
            extracted = archive.extractfile(info)
            assert extracted is not None
            yield info.name, extracted.read()


# -------------------------------------------------------------------- shards with hostile entries

# Regular files whose names must never be handed out (see strata.archive.model.served_name).
UNSAFE_NAMES = [
    "../../etc/x",
    "/abs/path",
    "a/../../b",
    "a/../b",  # does not escape, but one simple rule: no ".." segment at all
    "..\\..\\win.txt",
    "C:/win/x",
    "nul\0../../x",  # a NUL: C-string readers see "nul", others the whole name
]
# Regular files with safe names, in archive order, as they are served (spelled `raw` in the shard).
SAFE_MEMBERS = [
    ("ok/a.txt", "ok/a.txt", b"plain and safe"),
    ("./dot/b.txt", "dot/b.txt", b"dot-slash normalised"),
    ("x//y.txt", "x/y.txt", b"empty segment normalised"),
]
# Entries that are not regular files, with perfectly safe names: never members either.
NOT_REGULAR = ["dir/", "link", "evil-link", "hard", "dev", "fifo"]


def hostile_shard(fmt: str) -> bytes:
    """A shard of ``fmt`` with SAFE_MEMBERS, UNSAFE_NAMES and NOT_REGULAR entries interleaved.

    Every unsafe or non-regular entry carries bytes ("EVIL...") that must never reach a client.
    """
    if fmt == ".zip":
        return _hostile_zip()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for (raw, _, data), unsafe in zip(SAFE_MEMBERS, UNSAFE_NAMES, strict=False):
            _tar_add(archive, raw, tarfile.REGTYPE, data)
            _tar_add(archive, unsafe, tarfile.REGTYPE, b"EVIL " + unsafe.encode())
        for unsafe in UNSAFE_NAMES[len(SAFE_MEMBERS) :]:
            _tar_add(archive, unsafe, tarfile.REGTYPE, b"EVIL " + unsafe.encode())
        _tar_add(archive, "dir/", tarfile.DIRTYPE)
        _tar_add(archive, "link", tarfile.SYMTYPE, link="ok/a.txt")
        _tar_add(archive, "evil-link", tarfile.SYMTYPE, link="/etc/passwd")
        _tar_add(archive, "hard", tarfile.LNKTYPE, link="ok/a.txt")
        _tar_add(archive, "dev", tarfile.CHRTYPE)
        _tar_add(archive, "fifo", tarfile.FIFOTYPE)
    data = buf.getvalue()
    if fmt == ".tgz":
        return gzip.compress(data)
    if fmt == ".tar.lz4":
        return bytes(lz4.frame.compress(data))
    return data


def _tar_add(archive: tarfile.TarFile, name: str, kind: bytes, data: bytes = b"", link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data)
    info.mtime = MTIME
    if "\0" in name:  # tarfile would cut the ustar name at the NUL: say the whole name in a PAX record
        info.pax_headers = {"path": name}
    archive.addfile(info, io.BytesIO(data) if data else None)


def _hostile_zip() -> bytes:
    buf = io.BytesIO()
    # zipfile cuts a name at a NUL when it is given one: write a stand-in and patch the bytes after.
    stand_in = {name: name.replace("\0", "\x01") for name in UNSAFE_NAMES}
    with zipfile.ZipFile(buf, "w") as archive:
        for (raw, _, data), unsafe in zip(SAFE_MEMBERS, UNSAFE_NAMES, strict=False):
            archive.writestr(raw, data)
            archive.writestr(stand_in[unsafe], b"EVIL " + unsafe.encode())
        for unsafe in UNSAFE_NAMES[len(SAFE_MEMBERS) :]:
            archive.writestr(stand_in[unsafe], b"EVIL " + unsafe.encode())
        archive.writestr("dir/", b"")
        for name, kind, data in (
            ("link", stat.S_IFLNK, b"ok/a.txt"),
            ("evil-link", stat.S_IFLNK, b"/etc/passwd"),
            ("dev", stat.S_IFCHR, b""),
            ("fifo", stat.S_IFIFO, b""),
        ):
            info = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
            info.create_system = 3  # unix: the type bits in external_attr mean what they say
            info.external_attr = (kind | 0o777) << 16
            archive.writestr(info, data)
    data = buf.getvalue()
    for name, stand in stand_in.items():
        data = data.replace(stand.encode(), name.encode())  # same length: offsets and CRCs still hold
    return data
