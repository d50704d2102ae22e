"""The node's one HTTP application: ``/metrics``, the AIS ``/v1`` front and the S3 front side by side.

The transport (``strata.server.http``) calls ``begin`` for every request and ``error_response`` when
one fails; this class only picks the front by path (and Host, for S3 virtual hosts), so that each
front answers errors in its own shape: AIS JSON for ``/v1``, S3 XML for S3 clients.
"""

from __future__ import annotations

from strata.api.router import AisApp
from strata.core.errors import NotFound
from strata.core.metrics import ledger_exposition
from strata.roles.node import Node
from strata.s3 import S3Application
from strata.server.http import Exchange, FixedExchange, Request, Response

_PROMETHEUS = ("Content-Type", "text/plain; version=0.0.4")


class NodeApp:
    """``Application`` for the HTTP server: one per worker process."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.ais = AisApp(node)
        self.s3 = S3Application(node)

    def begin(self, request: Request) -> Exchange:
        path = request.path
        if path.startswith("/v1/"):
            return self.ais.begin(request)
        if path == "/metrics":
            node = self.node
            body = node.metrics.exposition(node.role.name, node.node_id)
            # the savings ledger's gauges (none when it is off); a gateway stores nothing: names only
            ledger = node.objects.ledger if node.role.stores_objects else None
            if ledger is not None or not node.role.stores_objects:
                body += ledger_exposition(node.node_id, ledger.totals() if ledger is not None else {})
            return FixedExchange(Response(200, [_PROMETHEUS], body))
        if self.s3.handles(request):  # /s3/..., or / when configured, or <bucket>.<domain>
            return self.s3.begin(request)
        raise NotFound(f'invalid path "{path}": the API lives under /v1/')

    def error_response(self, request: Request, exc: BaseException) -> Response:
        if not request.path.startswith("/v1/") and self.s3.handles(request):
            return self.s3.error_response(request, exc)  # S3 clients get S3's XML errors
        return self.ais.error_response(request, exc)
