"""Bucket access bits (AIStore api/apc/access.go) and the spellings a client may use for them.

A bucket's ``access`` prop is a uint64 bit set; an operation is allowed when its bit is set. The ``ais``
CLI lets users write ``access=ro`` or ``access=rw``, and raw clients send the number, sometimes as a
string: ``parse_access`` accepts all of these.
"""

from __future__ import annotations

ACCESS_GET = 1 << 0
ACCESS_HEAD_OBJECT = 1 << 1
ACCESS_PUT = 1 << 2
ACCESS_APPEND = 1 << 3
ACCESS_DELETE_OBJECT = 1 << 4
ACCESS_MOVE_OBJECT = 1 << 5
ACCESS_PROMOTE = 1 << 6
ACCESS_UPDATE_OBJECT = 1 << 7
ACCESS_HEAD_BUCKET = 1 << 8
ACCESS_LIST_OBJECTS = 1 << 9
ACCESS_PATCH = 1 << 10
ACCESS_SET_BUCKET_ACL = 1 << 11
ACCESS_LIST_BUCKETS = 1 << 12
ACCESS_SHOW_CLUSTER = 1 << 13
ACCESS_CREATE_BUCKET = 1 << 14
ACCESS_DESTROY_BUCKET = 1 << 15
ACCESS_MOVE_BUCKET = 1 << 16
ACCESS_ADMIN = 1 << 17

ACCESS_NONE = 0
ACCESS_RO = ACCESS_GET | ACCESS_HEAD_OBJECT | ACCESS_HEAD_BUCKET | ACCESS_LIST_OBJECTS  # 771
ACCESS_RW = ACCESS_RO | ACCESS_PUT | ACCESS_APPEND | ACCESS_DELETE_OBJECT | ACCESS_MOVE_OBJECT  # 831
ACCESS_ALL = (1 << 64) - 1  # "su": everything, also bits not yet assigned
ACCESS_BUCKET_ADMIN = ACCESS_UPDATE_OBJECT | ACCESS_PATCH | ACCESS_SET_BUCKET_ACL  # 3200
ACCESS_CLUSTER_RO = ACCESS_LIST_BUCKETS | ACCESS_SHOW_CLUSTER  # 12288
ACCESS_CLUSTER_RW = (  # 126976
    ACCESS_CLUSTER_RO | ACCESS_CREATE_BUCKET | ACCESS_DESTROY_BUCKET | ACCESS_MOVE_BUCKET
)

_NAMED = {"": ACCESS_NONE, "ro": ACCESS_RO, "rw": ACCESS_RW, "su": ACCESS_ALL}
MAX_UINT64 = (1 << 64) - 1


def parse_access(value: int | str) -> int:
    """``"ro"``, ``"rw"``, ``"su"``, ``""`` or a (possibly quoted) uint64 -> the access bits.

    ``ValueError`` for anything else, including numbers outside uint64.
    """
    if isinstance(value, bool):
        raise ValueError(f"access must be ro, rw, su or a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _NAMED:
            return _NAMED[text]
        try:
            number = int(text, 10)
        except ValueError:
            raise ValueError(f'access must be "ro", "rw", "su" or a number, got "{value}"') from None
    else:
        number = value
    if not 0 <= number <= MAX_UINT64:
        raise ValueError(f"access ({number}) must be a uint64")
    return number
