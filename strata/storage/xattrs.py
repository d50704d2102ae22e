"""Reading an extended attribute whose size the caller already knows, in one system call.

``os.getxattr`` first tries a 128-byte buffer and, for a larger value, asks again with a 64 KiB one:
two calls and a fresh 64 KiB allocation (page faults) per read. The hot cache probes an object's
metadata record on every hit; a record with a few user metadata keys passes 128 bytes, and the second
call doubled the kernel time of such a GET. Given the expected size, libc's ``getxattr`` fills a buffer
of that size (plus one byte, to see a value that grew) at once. (A ctypes call costs more than
``os.getxattr``'s first try, ~2 vs ~0.8 us: that is why a cached remote object keeps its backend's facts
apart -- ``metadata.FACTS_XATTR`` -- and its record under 128 bytes.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

PYTHON_FIRST_TRY = 128  # os.getxattr's first buffer: values up to this size take one call anyway

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_getxattr = _libc.getxattr
_getxattr.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)
_getxattr.restype = ctypes.c_ssize_t


def read_xattr(path: str, name: str, expected_size: int) -> bytes:
    """The value of ``name`` on ``path``, read with one call when it is at most ``expected_size`` bytes
    (a larger value -- it changed -- is read the ordinary way). ``OSError`` as ``os.getxattr``."""
    if expected_size <= PYTHON_FIRST_TRY:
        return os.getxattr(path, name)
    buffer = ctypes.create_string_buffer(expected_size + 1)
    size = _getxattr(os.fsencode(path), name.encode(), buffer, expected_size + 1)
    if size >= 0:
        return buffer.raw[:size]
    code = ctypes.get_errno()
    if code == errno.ERANGE:
        return os.getxattr(path, name)
    raise OSError(code, os.strerror(code), path)
