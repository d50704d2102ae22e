"""Defaults shared by the argument parser and the verbs.

Kept free of imports on purpose: ``strata serve`` and ``strata --help`` build the whole parser, and
should not pay for loading the ``aistore`` SDK (about 0.35 s) that only the client verbs need.
"""

from __future__ import annotations

DEFAULT_LIST_PROPS = "name,size"
ALL_LIST_PROPS = "name,size,checksum,atime,version,location,copies,cached,status"
DEFAULT_UPLOAD_CONCURRENCY = 4
