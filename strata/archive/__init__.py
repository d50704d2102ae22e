"""Archives (shards): TAR, TGZ, ZIP and TAR.LZ4 readers, and streaming writers GetBatch reuses.

Reading: ``ArchiveReader(source, size, fmt)`` over an open shard -- list, find, match, read ranges, or get
a zero-copy ``FileRegion`` of a member. ``source`` is a file descriptor, or a ``RandomAccess`` (``pread``
at an offset) for a shard stored in another form, e.g. compressed: then ``region()`` is None and reads
decode only what they touch. ``build_tar_index``/``TarIndex`` make one member of a huge TAR cheap to
reach and can be persisted by the caller. Writing: ``new_writer(fmt)`` yields ``bytes`` and
``FileRegion`` items to stream. Errors: malformed archives, bad patterns and unknown formats are
``InvalidRequest`` (400), missing members ``NotFound`` (404), a source that breaks its announced size
``SourceSizeMismatch`` (500, truncate the stream), an unreadable persisted index ``CorruptIndex``.

Which entries are members (one rule, ``served_name`` in ``strata.archive.model``, applied by every reader
as it walks a shard): a regular file whose name, after dropping empty and ``.`` segments (``./a//b`` is
``a/b``), is a non-empty relative path with no ``..`` segment, no NUL, no backslash and no drive prefix.
Directories, symlinks, hardlinks, devices, FIFOs, sparse files and unsafe names (``../../etc/x``,
``/abs/path``, ``a/../../b``, ``..\\x``) are not members: not listed, not found by ``archpath`` (404, as
a missing member), not matched by ``archregx``, not served to GetBatch. A requested name is normalised
by the same rule before lookup. So no name Strata hands out escapes the directory it is extracted into.
"""

from strata.archive.formats import FORMATS, TAR, TAR_LZ4, TGZ, ZIP, content_type, format_of
from strata.archive.matching import MODES, wds_key
from strata.archive.model import (
    CorruptIndex,
    FileRegion,
    Member,
    Output,
    RandomAccess,
    Source,
    SourceSizeMismatch,
)
from strata.archive.reader import ArchiveReader
from strata.archive.tar_index import TarIndex, build_tar_index
from strata.archive.writer import ArchiveWriter, new_writer

__all__ = [
    "FORMATS",
    "MODES",
    "TAR",
    "TAR_LZ4",
    "TGZ",
    "ZIP",
    "ArchiveReader",
    "ArchiveWriter",
    "CorruptIndex",
    "FileRegion",
    "Member",
    "Output",
    "RandomAccess",
    "Source",
    "SourceSizeMismatch",
    "TarIndex",
    "build_tar_index",
    "content_type",
    "format_of",
    "new_writer",
    "wds_key",
]
