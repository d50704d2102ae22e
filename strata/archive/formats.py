"""Which archive format a shard (or a requested output) is, from an explicit mime or the name.

AIStore accepts a format both as a "mime" (``.tar``, ``tar``, ``application/x-tar``, ...) and, when none
is given, by the object name's extension. ``.tgz`` and ``.tar.gz`` are one format: ``format_of`` answers
the canonical ``.tgz`` for both, so callers compare against one spelling.
"""

from __future__ import annotations

from strata.core.errors import InvalidRequest

TAR = ".tar"
TGZ = ".tgz"
ZIP = ".zip"
TAR_LZ4 = ".tar.lz4"

FORMATS = (".tar", ".tgz", ".tar.gz", ".zip", ".tar.lz4")

# Everything a client may spell; keys are lower-case.
_BY_MIME: dict[str, str] = {
    ".tar": TAR,
    "tar": TAR,
    "application/x-tar": TAR,
    ".tgz": TGZ,
    "tgz": TGZ,
    ".tar.gz": TGZ,
    "tar.gz": TGZ,
    "application/gzip": TGZ,
    "application/x-gzip": TGZ,
    "application/x-compressed-tar": TGZ,
    "application/tar+gzip": TGZ,
    ".zip": ZIP,
    "zip": ZIP,
    "application/zip": ZIP,
    "application/x-zip-compressed": ZIP,
    ".tar.lz4": TAR_LZ4,
    "tar.lz4": TAR_LZ4,
    "application/x-lz4": TAR_LZ4,
    "application/x-tar+lz4": TAR_LZ4,
}

# Longest extensions first so ".tar.gz" is not mistaken for something ending in ".gz".
_BY_EXTENSION = ((".tar.lz4", TAR_LZ4), (".tar.gz", TGZ), (".tgz", TGZ), (".tar", TAR), (".zip", ZIP))

# What a streamed archive is labelled with on the wire (ais-wire-contract, GetBatch strm:true).
_CONTENT_TYPES = {TAR: "application/x-tar", TGZ: "application/gzip", ZIP: "application/zip"}
_CONTENT_TYPES[TAR_LZ4] = "application/x-lz4"


def format_of(name: str, mime: str = "") -> str:
    """The canonical format (one of ``.tar``, ``.tgz``, ``.zip``, ``.tar.lz4``).

    An explicit ``mime`` wins over the name; an unknown mime is an error even when the name has a
    known extension, because the client asked for something we cannot honour.
    """
    if mime:
        fmt = _BY_MIME.get(mime.strip().lower())
        if fmt is None:
            raise InvalidRequest(
                f'unsupported archive format "{mime}" (expecting one of {", ".join(FORMATS)})'
            )
        return fmt
    lowered = name.lower()
    for extension, fmt in _BY_EXTENSION:
        if lowered.endswith(extension):
            return fmt
    raise InvalidRequest(f'"{name}" is not a supported archive (expecting one of {", ".join(FORMATS)})')


def content_type(fmt: str) -> str:
    """The Content-Type of a streamed archive of this format."""
    return _CONTENT_TYPES[format_of("", fmt)]
