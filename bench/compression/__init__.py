"""Compression at rest (issue 10): Strata against anchors measured in the same run.

    python -m bench.compression --quick                        # 32 MiB files: a smoke run (~2 min)
    python -m bench.compression                                # 256 MiB files, all benchmarks
    python -m bench.compression --only access range            # some of them
    python -m bench.compression --results bench/RESULTS.md     # and append a dated section

Benchmarks (``--only NAME``), each Strata against its anchor and target:

- ``access``, ``columnar``: ratio original/stored of one PUT (the object's file in the data dir)
  against ``zstd -3`` of the file (>= 0.9x); PUT MB/s of the whole file against
  ``zstd -3 -T2 file -c > /dev/null`` (>= 0.6x); GET MB/s against ``zstd -d -c file.zst > /dev/null``
  (>= 0.7x).
- ``random``: stored bytes against the original (<= 1.001x); PUT MB/s into a compressing bucket
  against the same PUT into an uncompressed one (>= 0.8x).
- ``multipart``: the ratio of the log uploaded by ``aws s3 cp`` with 8 MiB parts against the ratio of
  its single PUT (0.9x .. 1.1x).
- ``range``: 4 KiB range GETs at random offsets in a 1 GiB object (4x the log): p50 and p99 against
  the same GETs on an uncompressed copy; frames decoded per request (``/metrics``) against the frames
  the ranges touch by the seek table (<= 1x).
- ``getbatch``: 10,000 x 4 KiB log slices through the SDK's Batch API (.tar stream) against the same
  from an uncompressed bucket (>= 0.5x).
- ``ledger``: PUT 4 KiB obj/s into a compressing bucket, 16 connections, against a second server
  started with ``STRATA_LEDGER=0`` (>= 0.9x).

Data (``bench.compression.data``) is generated from fixed seeds into ``/tmp/strata-bench-data`` and
reused. Servers are real ``python -m strata serve`` processes on free ports with scratch data dirs,
stopped at the end. A benchmark measures and reports; it never fails a build, and it is never a test.
"""
