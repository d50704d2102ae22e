"""Cluster metadata and node-to-node plumbing: what several nodes share, under etcd.

- ``smap`` (the cluster map: proxies, targets, flags, HRW owner of a name) and ``bmd`` (the bucket
  metadata) -- values, not services.
- ``metastore``: the ``MetaStore`` interface (BMD, config, cluster map, refresh) and its local-file
  implementation; ``etcd_store`` the etcd one (watched caches, compare-and-swap, leases), over
  ``etcd``, a small client of etcd's JSON gateway. Code above cannot tell which it has.
- ``peers``: the one peer client for node-to-node HTTP (one pool per process, timeouts from the
  config's ``timeout`` section by kind of call, ``PeerUnreachable``), and ``FakePeerClient`` for tests.
- ``transfer`` (object URLs and sends between nodes) and ``rebalance`` (the rebalance record, the
  coordinator that starts one when targets change, get-from-neighbour); the mover is a job
  (``strata.jobs.rebalance``).
- ``devcluster``: ``strata cluster up`` -- etcd and nodes as local processes.
"""
