"""How object names map to paths below a bucket's ``%ob`` directory, and back.

Object stores allow names a filesystem tree cannot hold as-is: ``a`` and ``a/b`` both being objects
(a file and a directory of the same name), ``dir/`` markers, empty segments (``a//b``). So the mapping
keeps leaves and directories apart, and stays injective and readable:

- every ``%`` in the name becomes ``%25``;
- every directory component gets a ``%`` suffix: ``a/b/c`` is stored as ``a%/b%/c``;
- a leaf that cannot be a file name is spelled out: ``""`` -> ``%-``, ``"."`` -> ``%2E``,
  ``".."`` -> ``%2E%2E``.

An encoded leaf never ends in a bare ``%`` and a directory always does, so ``a`` (file ``a``) and
``a/b`` (directory ``a%``) coexist. Listing decodes names back, and sorts by the decoded name.
"""

from __future__ import annotations

from strata.core.errors import InvalidName

MAX_COMPONENT = 255  # bytes in one file name (ext4, xfs)
_LEAF_SPECIAL = {"": "%-", ".": "%2E", "..": "%2E%2E"}
_LEAF_DECODE = {v: k for k, v in _LEAF_SPECIAL.items()}


def encode_object_name(name: str) -> str:
    """The relative path that stores object ``name``; 400 when a component would be too long."""
    encoded = name.replace("%", "%25").replace("/", "%/") if "%" in name or "/" in name else name
    head, slash, leaf = encoded.rpartition("/")
    special = _LEAF_SPECIAL.get(leaf)
    if special is not None:
        encoded = head + slash + special
    if len(encoded) > MAX_COMPONENT and any(len(c.encode()) > MAX_COMPONENT for c in encoded.split("/")):
        raise InvalidName(f'object name "{name[:64]}..." has a path segment over {MAX_COMPONENT - 3} bytes')
    return encoded


def decode_leaf(file_name: str) -> str:
    """The last segment of an object name, from its file name."""
    special = _LEAF_DECODE.get(file_name)
    if special is not None:
        return special
    return file_name.replace("%25", "%") if "%" in file_name else file_name


def decode_dir(dir_name: str) -> str | None:
    """A directory component's segment (without the slash); None for a directory that is not ours."""
    if not dir_name.endswith("%"):
        return None
    segment = dir_name[:-1]
    return segment.replace("%25", "%") if "%" in segment else segment


def encode_dir(segment: str) -> str:
    return segment.replace("%", "%25") + "%"


def encode_dir_path(rel: str) -> str:
    """``a/b/`` (a name prefix ending in a slash) -> ``a%/b%``: the directory holding its names."""
    return "/".join(encode_dir(segment) for segment in rel[:-1].split("/"))
