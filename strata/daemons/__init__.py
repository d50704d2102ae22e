"""The processes a node runs as: the top of the stack, which composes everything below it.

- ``embedded``: ``strata serve`` -- proxy and target in one process tree, metadata in local files.
- ``cluster_node``: ``strata proxy`` / ``strata target`` -- a node of an etcd cluster: registration
  under a lease (membership), the rebalance coordinator (proxies) or mover (targets).
- ``supervisor``: the socket, the worker processes, restarts, and death with the supervisor.
- ``worker``: one worker's event loop serving the node's application.
- ``app``: that application -- ``/metrics``, the AIS ``/v1`` front and the S3 front side by side.

Nothing imports this package except the CLI.
"""
