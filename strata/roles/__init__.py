"""The node and its role: what depends on a node being embedded, a proxy or a target, in one place.

- ``node``: ``Node``, one worker process's context (identity, metadata store, object service, jobs,
  metrics, clock) with its ``role``.
- ``role``: ``EmbeddedRole``, ``ProxyRole``, ``TargetRole`` -- objects answering "route this object
  request", "run this bucket action", "list", "start this job", "serve this batch"; the fronts ask them
  instead of asking what kind of node this is.
- ``actions``: the one table of bucket actions (local and cluster handler per action), driven by the
  job kinds table.
- What the roles run, shared by both fronts: ``buckets`` (create, destroy), ``bucket_jobs`` (copy,
  move, archive, delete, summary), ``jobs`` (start, stop, queries), ``listing`` (a target's pages),
  ``batch`` (GetBatch: validate, then assemble here or redirect), ``proxy`` (a proxy's fan-outs,
  merged listings and redirects, over the peer client).
"""
