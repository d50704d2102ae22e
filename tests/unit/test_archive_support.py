"""Shared helpers for the archive tests (imported by the other test_archive_* modules; no tests here)."""

from __future__ import annotations

import io
import os
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
