"""What every handler gets: the service (config, store, signer, cluster caller) and the call itself.

``Call.claims()`` checks the Bearer token the way AuthN's API needs it: signed by this AuthN, not
expired, not revoked. ``require_admin`` adds the ``admin`` claim. Login, ``GET /roles``,
``GET /clusters``, the public key and the discovery documents do not look at the token at all.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from strata.authn.config import Settings
from strata.authn.errors import Unauthorized
from strata.authn.remote import ClusterCaller
from strata.authn.store import Store
from strata.authn.tokens import Signer
from strata.core.errors import Forbidden, NotFound
from strata.core.query import Query

log = logging.getLogger("strata.authn")


class Service:
    def __init__(self, settings: Settings, store: Store, signer: Signer, admin_name: str) -> None:
        self.settings = settings
        self.store = store
        self.signer = signer
        self.admin_name = admin_name
        self.caller = ClusterCaller(signer, admin_name)
        # revocation pushes run here, after the revoke has been answered
        self.background = ThreadPoolExecutor(2, thread_name_prefix="authn-push")

    def push_revocations(self) -> None:
        """Send every registered cluster the live revoked tokens (in the background)."""
        self.background.submit(self._push_all)

    def _push_all(self) -> None:
        data = self.store.data
        tokens = live_revoked(data.revoked)
        for cluster in data.clusters.values():
            try:
                self.caller.push_revoked(cluster, tokens, data.revocation_version)
            except Exception:
                log.exception("pushing revoked tokens to cluster %s failed", cluster.id)


def live_revoked(revoked: dict[str, int]) -> list[str]:
    """The revoked tokens that have not expired yet (an expired token needs no revoking)."""
    now = int(time.time())
    return [token for token, expiry in revoked.items() if expiry > now]


class Call:
    """One request: method, the path segments after the resource, query, body, and its token."""

    def __init__(
        self,
        service: Service,
        method: str,
        segments: list[str],
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        self.service = service
        self.method = method
        self.segments = segments
        self.query = Query(query)
        self.headers = headers
        self.body = body
        self._claims: dict[str, Any] | None = None

    def name(self, what: str) -> str | None:
        """The one path segment after the resource (``/users/<name>``), or None; more is a 404."""
        if len(self.segments) > 1:
            raise NotFound(f"unknown {what} path: /{'/'.join(self.segments)}")
        return self.segments[0] if self.segments else None

    def token(self) -> str:
        header = self.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise Unauthorized("token required")
        return header[7:].strip()

    def claims(self) -> dict[str, Any]:
        if self._claims is None:
            token = self.token()
            claims = self.service.signer.verify(token)
            if token in self.service.store.data.revoked:
                raise Unauthorized("token revoked")
            self._claims = claims
        return self._claims

    @property
    def user(self) -> str:
        return str(self.claims()["sub"])

    @property
    def is_admin(self) -> bool:
        return self.claims().get("admin") is True

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden(f"{self.user}: only an admin may {self.method} this resource")
