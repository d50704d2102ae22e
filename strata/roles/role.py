"""Roles as objects: what a node is decides how it answers, written once per role.

A node is one of three roles:

- ``EmbeddedRole`` -- ``strata serve``: proxy and target in one process tree, metadata in local files.
  It serves everything itself.
- ``ProxyRole`` -- a gateway of an etcd cluster: metadata, redirects (307) to the node that holds the
  bytes, and fan-outs to every target; it never reads or writes object bytes.
- ``TargetRole`` -- a storage node of a cluster: it stores objects, runs its part of every job, and
  reaches its peers (get-from-neighbour, GetBatch entries, copies to their owners).

Fronts ask the node's role instead of asking what kind of node this is. The questions:

1. route this object request (``route_object``) -- and where else an object may be (``neighbour``);
2. run this bucket action (``bucket_action``), from one table (``strata.roles.actions``);
3. list (``list_objects``, ``summary``, ``bucket_info``);
4. start this job, stop jobs, query them (``start_job``, ``stop_jobs``, ``job_query``);
5. serve this batch (``serve_batch``);
6. report the cluster's savings ledger (``savings``).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import ClassVar

from strata.cluster.rebalance import find_on_neighbours
from strata.cluster.smap import NodeInfo
from strata.core.names import BucketRef
from strata.core.query import Query
from strata.core.wire import ActionMsg
from strata.getbatch.model import BatchPlan
from strata.getbatch.sources import EntrySource
from strata.jobs.kinds import startable_kind
from strata.roles import actions, batch, bucket_jobs, jobs, listing, proxy
from strata.roles import savings as savings_report
from strata.roles.node import Node
from strata.server.http import Request, Response, waits_for_answer

Answer = Response | Awaitable[Response]


class Role(ABC):
    name: ClassVar[str]
    stores_objects: ClassVar[bool]  # mountpaths, object files, local jobs
    in_cluster: ClassVar[bool]  # other nodes exist: objects may live elsewhere, jobs span targets

    # 1. objects ------------------------------------------------------------------------------------

    @abstractmethod
    def route_object(self, node: Node, request: Request, bck: BucketRef, object_name: str) -> Response | None:
        """An answer that sends the request elsewhere (a redirect), or None: serve it here."""

    def neighbour(self, node: Node, bck: BucketRef, object_name: str) -> Awaitable[NodeInfo | None] | None:
        """Another node that may hold an object missing here (a rebalance has not moved it yet)."""
        return None

    # 2. buckets -------------------------------------------------------------------------------------

    def bucket_created(self, node: Node, bck: BucketRef) -> None:
        """A new bucket is about to enter the BMD: a node that stores objects makes room for it."""
        return None

    def bucket_destroyed(self, node: Node, bck: BucketRef) -> None:
        """A bucket left the BMD through this node: remove its data now where that is this node's job."""
        return None

    def bucket_action(
        self, node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg
    ) -> Answer:
        action = actions.find(request.method, msg.action)
        if action is None:
            return actions.unserved(node, bck, msg.action, request.method)
        handler = action.local if self.stores_objects else action.cluster
        return handler(node, request, bck, query, msg)

    # 3. listing ---------------------------------------------------------------------------------------

    @abstractmethod
    def list_objects(self, node: Node, request: Request, bck: BucketRef, msg: ActionMsg) -> Answer: ...

    @abstractmethod
    def summary(
        self, node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg
    ) -> Answer: ...

    @abstractmethod
    def bucket_info(
        self, node: Node, request: Request, bck: BucketRef, query: Query, prefix: str
    ) -> Answer: ...

    # 4. jobs --------------------------------------------------------------------------------------------

    @abstractmethod
    def job_query(self, node: Node, request: Request, what: str) -> Answer: ...

    @abstractmethod
    def start_job(self, node: Node, request: Request, query: Query, msg: ActionMsg) -> Answer: ...

    @abstractmethod
    def stop_jobs(self, node: Node, request: Request, msg: ActionMsg) -> Answer: ...

    # 5. GetBatch ----------------------------------------------------------------------------------------

    @abstractmethod
    def serve_batch(
        self, node: Node, request: Request, plan: BatchPlan, query: Query
    ) -> Awaitable[Response]: ...

    # 6. reports -----------------------------------------------------------------------------------------

    def savings(self, node: Node, request: Request, query: Query) -> Answer:
        """The cluster's savings ledger: every target's, added up per bucket."""
        return savings_report.from_targets(node, request, query)


class _StoringRole(Role):
    """What embedded nodes and targets share: they hold objects and run jobs themselves."""

    stores_objects = True

    def bucket_created(self, node: Node, bck: BucketRef) -> None:
        node.objects.create_bucket(bck)

    def route_object(self, node: Node, request: Request, bck: BucketRef, object_name: str) -> Response | None:
        if node.scheme == "https" and waits_for_answer(request):
            # over HTTPS the SDK first asks a "proxy" where to send a body: that is here
            host = request.headers.get("host", f"{node.host}:{node.port}")
            location = f"https://{host}{request.path}" + (f"?{request.query}" if request.query else "")
            return Response(307, [("Location", location)], b"")
        return None

    def list_objects(self, node: Node, request: Request, bck: BucketRef, msg: ActionMsg) -> Answer:
        return listing.list_objects(node, request, bck, msg)

    def summary(self, node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
        return bucket_jobs.summary(node, bck, query, msg)

    def bucket_info(self, node: Node, request: Request, bck: BucketRef, query: Query, prefix: str) -> Answer:
        return bucket_jobs.info(node, bck, query, prefix)

    def job_query(self, node: Node, request: Request, what: str) -> Answer:
        return jobs.answer_query(node, request, what)

    def start_job(self, node: Node, request: Request, query: Query, msg: ActionMsg) -> Answer:
        return jobs.start_job(node, msg, job_id=query.get("xid"))

    def stop_jobs(self, node: Node, request: Request, msg: ActionMsg) -> Answer:
        return jobs.stop_jobs(node, msg)


class EmbeddedRole(_StoringRole):
    name = "embedded"
    in_cluster = False

    def bucket_destroyed(self, node: Node, bck: BucketRef) -> None:
        node.objects.destroy_bucket(bck)  # a target does it when it sees the BMD change (daemons)

    def serve_batch(self, node: Node, request: Request, plan: BatchPlan, query: Query) -> Awaitable[Response]:
        return batch.assemble(node, plan, batch.local_source(node), threaded=False)

    def savings(self, node: Node, request: Request, query: Query) -> Answer:
        return savings_report.local(node, query)  # the one node is the whole cluster


class TargetRole(_StoringRole):
    name = "target"
    in_cluster = True

    def neighbour(self, node: Node, bck: BucketRef, object_name: str) -> Awaitable[NodeInfo | None] | None:
        return self._ask_neighbours(node, bck, object_name)  # runs when awaited, on the event loop

    @staticmethod
    async def _ask_neighbours(node: Node, bck: BucketRef, object_name: str) -> NodeInfo | None:
        cluster_map = node.cluster_map()
        return await asyncio.get_running_loop().run_in_executor(
            None, find_on_neighbours, cluster_map, node.node_id, bck, object_name
        )

    def serve_batch(self, node: Node, request: Request, plan: BatchPlan, query: Query) -> Awaitable[Response]:
        local = batch.local_source(node)
        source: EntrySource = local
        if not query.flag("local"):
            # the designated target: entries on peers come over the network (a peer's own share of
            # a batch arrives with local=true and is served from its disks only)
            source = batch.routing_source(node, plan, local)
        return batch.assemble(node, plan, source, threaded=True)  # peers are waited for on a thread


class ProxyRole(Role):
    name = "proxy"
    stores_objects = False
    in_cluster = True

    def route_object(self, node: Node, request: Request, bck: BucketRef, object_name: str) -> Response:
        node.metrics.add("redirect_count")  # a gateway never touches object bytes
        return proxy.redirect(node, request, bck, object_name)

    def list_objects(self, node: Node, request: Request, bck: BucketRef, msg: ActionMsg) -> Answer:
        return proxy.list_objects(node, request, bck, msg)

    def summary(self, node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
        node.bucket_props(bck)
        return proxy.forward_summary(node, request, bck)

    def bucket_info(self, node: Node, request: Request, bck: BucketRef, query: Query, prefix: str) -> Answer:
        # the objects are on the targets: each counts its own, the proxy adds up
        return bucket_jobs.cluster_info(node, request, bck)

    def job_query(self, node: Node, request: Request, what: str) -> Answer:
        jobs.query_args(request)  # a bad query is refused here, once, rather than by every target
        return proxy.job_query(node, request, what)  # jobs run on the targets: ask them all

    def start_job(self, node: Node, request: Request, query: Query, msg: ActionMsg) -> Answer:
        startable_kind(jobs.job_args(msg.value).Kind)  # 400/501 from the gateway, before any target
        return proxy.forward_job(node, request)

    def stop_jobs(self, node: Node, request: Request, msg: ActionMsg) -> Answer:
        return proxy.forward_job(node, request)

    def serve_batch(self, node: Node, request: Request, plan: BatchPlan, query: Query) -> Awaitable[Response]:
        return batch.to_designated_target(node, request)


ROLES: dict[str, type[Role]] = {role.name: role for role in (EmbeddedRole, ProxyRole, TargetRole)}
