"""AuthN's calls to registered clusters: the UUID at registration, the token handshake, revocations.

Each call tries the cluster's URLs in order (the next one only when one cannot be reached) and carries
a 5-minute admin token addressed to that cluster. Failures never fail the caller: they come back as one
sentence (cluster, URL, status and the cluster's own message) for the log and for the answer to the
registration, which is how a person learns that a cluster does not trust this AuthN's key yet.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from strata.authn.model import Cluster
from strata.authn.tokens import Signer
from strata.core.errors import FailedDependency, InvalidRequest

log = logging.getLogger("strata.authn")
TIMEOUT = (5.0, 10.0)


def _message(response: requests.Response) -> str:
    text = response.text.strip()
    try:
        body: Any = json.loads(text)
    except ValueError:
        return text.splitlines()[0][:200] if text else "(no message)"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return text[:200]


def fetch_uuid(url: str, token: str) -> str:
    """The cluster UUID from ``GET <url>/v1/daemon?what=smap`` (as the SDK's ``register`` does)."""
    try:
        response = requests.get(
            f"{url.rstrip('/')}/v1/daemon",
            params={"what": "smap"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise FailedDependency(f"cluster at {url} cannot be reached: {exc}") from None
    if response.status_code != 200:
        status = response.status_code
        raise FailedDependency(
            f"cluster at {url}: GET /v1/daemon?what=smap answered {status}: {_message(response)}"
        )
    try:
        uuid = response.json().get("uuid", "")
    except (ValueError, AttributeError):
        uuid = ""
    if not isinstance(uuid, str) or not uuid:
        raise InvalidRequest(f"cluster at {url}: its cluster map has no uuid (is it an AIS cluster?)")
    return uuid


class ClusterCaller:
    def __init__(self, signer: Signer, admin_name: str) -> None:
        self.signer = signer
        self.admin_name = admin_name

    def _call(self, cluster: Cluster, method: str, body: dict[str, Any] | None) -> str | None:
        """None when the cluster answered 2xx; otherwise what went wrong, in one sentence."""
        name = f"cluster {cluster.alias or cluster.id}"
        token = self.signer.cluster_call_token(self.admin_name, cluster.id)
        problem = f"{name} has no URL"
        for url in cluster.urls:
            try:
                response = requests.request(
                    method,
                    f"{url.rstrip('/')}/v1/tokens",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=TIMEOUT,
                )
            except requests.RequestException as exc:
                problem = f"{name} ({url}) cannot be reached: {type(exc).__name__}"
                continue
            if response.ok:
                return None
            problem = (
                f"{name} ({url}): {method} /v1/tokens answered {response.status_code}: {_message(response)}"
            )
            if response.status_code == 401:
                problem += " (the cluster does not accept this AuthN's tokens: check its auth.signature)"
            break
        log.warning("%s", problem)
        return problem

    def handshake(self, cluster: Cluster) -> str | None:
        """``POST /v1/tokens``: the cluster answers 2xx iff it accepts a token signed by this AuthN."""
        return self._call(cluster, "POST", None)

    def push_revoked(self, cluster: Cluster, tokens: list[str], version: int) -> str | None:
        """``DELETE /v1/tokens``: the whole list of live revoked tokens (idempotent; heals missed pushes)."""
        return self._call(cluster, "DELETE", {"tokens": tokens, "version": str(version)})
