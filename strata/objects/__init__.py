"""The object service: the one object path under every front.

``ObjectService`` (``service.py``; the writes it hands out, ``ObjectPut``, in ``put.py``) owns every
operation on an object -- read (whole, range), write (streamed PUT, append and flush, multipart
complete, copy, rename), head, delete, metadata update -- and is the one place that applies what
must hold whichever front a request came through:

- the bucket's ``access`` bits (AIStore's ``apc.Access*``): 403 on every front alike;
- checksum validation on read (``checksum.validate_warm_get``): a corrupted object is refused with
  ``ObjectCorrupted`` (422, never retried), counted in ``err_cksum_count`` and logged;
- versioning and the ``Fsync-PUT`` bucket feature on every write;
- the Prometheus counters (``get_count``, ``put_bytes``, ``err_get_count``...);
- the hot cache of whole small-object responses (``hotcache.py``), validated by the object's exact
  metadata record through the storage's probe;
- get-from-neighbour (``elsewhere``): where else a missing object may be, as the node's role answers
  (a target asks its peers during a rebalance; an embedded node has nowhere else);
- compression at rest (``compression.py``): per write, the bucket's ``compression`` props decide the
  stored form (as is, or zstd seekable frames); reads of a compressed version decode only the frames
  they touch, whichever front or job asks. CPU-heavy pieces run in codec threads, off the event loop;
- remote buckets (``remote.py``): a cloud bucket, or an ais bucket with a ``backend_bck``, is a cache
  in front of its backend (``strata.backends``): cold GET, warm GET with version checks, write-through
  PUT and DELETE.

Callers: the AIS ``/v1`` object handlers (``strata.api.objects``), the S3 handlers
(``strata.s3.objects``), both fronts' listings, GetBatch sources, the jobs (copies, deletes, archives,
move-bck, summary, resilver, cleanup) and rebalance senders and receivers. They parse their protocol
or walk their selection, call one method per object, and shape the answer; none of them applies an
access bit, bumps an object counter or computes where an object's file is.

Next in this room, in the order ARCHITECTURE.md stacks them: the chunk layout, replicas, and the
authorizer.
"""
