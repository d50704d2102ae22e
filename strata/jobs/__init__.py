"""Jobs (AIStore's xactions): every long operation, with one life cycle and one snapshot shape.

- ``kinds``: the one table of job kinds (scope, idling, startable, built or not) that decides what may
  be started and what is a 501.
- ``registry``: job records any worker process reads, the runner (threads, throttling, abort), and
  settling after a restart; ``snapshots`` the SDK's JobSnap shapes.
- ``load``: the unified load vector (memory, CPU, disk, fds) that throttles jobs and admits work.
- The work itself, through the object service so copies and shards are counted, versioned PUTs:
  ``bucket_ops`` (copy, delete, summarize), ``archive_job``, ``sources`` (where members come from),
  ``maintenance`` (resilver, cleanup), ``rebalance`` (a target's mover), ``templates`` (list/range),
  ``lru`` (eviction), ``blob_download`` and ``downloader`` (remote objects fetched into buckets).
- ``starters``: what the jobs a node starts by itself (cleanup above ``cleanupwm``, LRU above
  ``highwm``) share: one per node across worker processes, a rate limit per process.
"""
