"""``strata serve``: an embedded node (proxy and target in one), with its metadata in local files.

The supervisor prepares the data directory (sweeps work files a crash left behind, settles jobs a
stop interrupted), binds the socket and forks the workers (``supervisor``); each worker serves the
node's fronts (``worker``). Metadata changes reach every worker through the ``LocalMetaStore``.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from strata.auth.gate import open_fronts
from strata.auth.settings import auth_settings
from strata.cluster.metastore import LocalMetaStore
from strata.cluster.smap import embedded_members
from strata.config.cluster import ConfigError, load_cluster_config
from strata.daemons.supervisor import default_data_dir, listen, setup_logging, supervise
from strata.daemons.worker import tls_context, worker_main
from strata.jobs.registry import JobStore
from strata.roles.node import Node, jobs_dir, load_node_id
from strata.roles.role import EmbeddedRole
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore

log = logging.getLogger("strata")


def serve(
    *,
    host: str,
    port: int,
    data_dir: str | None,
    mountpaths: list[str],
    config_path: str | None,
    workers: int,
) -> int:
    setup_logging()
    # 1. directories, config and metadata (fails fast with a clear message)
    data_dir = os.path.abspath(data_dir or default_data_dir())
    meta_dir = os.path.join(data_dir, "meta")
    roots = mountpaths or [os.path.join(data_dir, "mp")]
    try:
        if config_path is not None:
            load_cluster_config(config_path)
        meta = LocalMetaStore(meta_dir, config_path)
        tls_context(meta.config())  # a TLS misconfiguration stops here, not in every worker
        auth = auth_settings(meta.config())  # so does auth turned on with no key to verify tokens
        mounts = Mountpaths(roots)
    except ConfigError as exc:
        print(f"strata: invalid config: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"strata: cannot prepare data directory {data_dir}: {exc}", file=sys.stderr)
        return 2
    swept = mounts.clean_work_dirs(meta.bmd().refs())
    mounts.empty_trash()
    mounts.reset_indexes()
    ObjectStore(mounts).close()  # opens the savings ledger: a stale one is recounted here, not in workers
    node_id = load_node_id(meta_dir)
    interrupted = JobStore(jobs_dir(data_dir), node_id).settle_after_restart()
    if interrupted:
        log.warning("%d job(s) were running when the node stopped; they are recorded as aborted", interrupted)
    # 2. the socket, shared by all workers
    try:
        sock = listen(host, port)
    except OSError as exc:
        print(f"strata: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    count = workers if workers > 0 else (os.cpu_count() or 1)
    log.info(
        "serving on http://%s:%d with %d worker(s); node %s; data in %s; mountpaths %s%s",
        host,
        port,
        count,
        node_id,
        data_dir,
        ", ".join(m.root for m in mounts.all),
        f"; swept {swept} stale work file(s)" if swept else "",
    )
    if auth.enabled:
        log.info("auth: tokens required (%s key from %s)", auth.method, auth.key_source)
    for warning in open_fronts(meta.config(), in_cluster=False):
        log.warning("AUTH: OPEN FRONT: %s", warning)
    # 3. workers, supervised until a signal says stop
    started_ns = time.time_ns()
    scheme = "https" if meta.config().net.http.use_https else "http"

    def make_node() -> Node:
        # its own mapping of the shared version counters
        meta = LocalMetaStore(meta_dir, members=embedded_members(node_id, host, port, started_ns, scheme))
        return Node(
            node_id=node_id,
            host=host,
            port=port,
            meta=meta,
            mountpaths=Mountpaths(roots),
            data_dir=data_dir,
            role=EmbeddedRole(),
        )

    return supervise(sock, count, lambda: worker_main(sock, make_node))


