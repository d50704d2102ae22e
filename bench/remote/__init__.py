"""Remote buckets (issue 11): Strata as the fast tier in front of S3, against anchors in the same run.

    python -m bench.remote --quick                          # fewer and smaller objects: a smoke run
    python -m bench.remote                                  # the issue's sizes
    python -m bench.remote --only cold prefetch             # some of the cases
    python -m bench.remote --results bench/RESULTS.md       # and append a dated section

The S3 is moto's server (pip ``moto[server]``), started here on a free port; Strata (``python -m strata
serve``) is started with the ordinary ``AWS_*`` variables pointing at it, so its ``s3://`` buckets are
moto's. Both are stopped at the end. Cases (``--only NAME``), each Strata against its anchor:

- ``warm``: GET 4 KiB and 1 MiB objects of an ``s3://`` bucket, all cached already, against the same
  objects in an ``ais://`` bucket of the same server; wrk drives both with the same script, rounds
  alternating (target >= 0.95x req/s).
- ``cold``: GET of 1,000 x 256 KiB objects through Strata, none cached, against boto3 GETs of the same
  objects straight from moto, with the same number of client threads (target >= 0.8x obj/s).
- ``prefetch``: a ``prefetch-listrange`` job over the same 1,000, waited for, against sequential boto3
  GETs of them (target >= 4x).
- ``blob``: a ``blob-download`` job (the SDK's ``Object.blob_download``) of one 1 GiB object, waited for,
  against one boto3 ``download_file`` of it (ratio reported; "not built" while the server answers 501).

Every case prints its ratio, target and verdict, and the machine's load (others' CPU) while it ran: the
machine is shared, so a ratio under load says less than one on a quiet machine. A benchmark measures
and reports; it never fails a build, and it is never a test.
"""
