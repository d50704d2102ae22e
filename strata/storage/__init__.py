"""Storage: where object bytes and their metadata live, below the object service.

``interface`` is the contract the object service relies on; ``objects`` (the POSIX store: one file
per object on its HRW mountpath, metadata in xattrs, atomic work-file-then-rename writes) and
``memory`` (the in-memory twin, memfd readers) implement it, held to the same behaviour by a
conformance test; ``commit`` holds what a finished write becomes, for both. Around the POSIX store:
``mountpaths`` and ``fsnames`` (layout and name encoding), ``metadata`` and ``checksum``, ``locks``,
``listing`` and ``dirindex`` (name-ordered walks in bounded memory), ``append`` and ``multipart`` (work
files that become objects), ``shards`` (persisted TAR indexes), ``housekeeping`` (whole-bucket work:
rename, resilver, usage, cleanup). ``ledger`` is the exact per-bucket savings ledger both stores keep
in step with every object change; ``bookkeeping`` carries its crash-safe protocol over the POSIX files.
"""
