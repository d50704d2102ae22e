"""Strata's error tree: one class per HTTP status, mapped to the wire in one place.

    StrataError (500)                    -- a bug or an unexpected I/O failure
    +-- InvalidRequest (400)             -- malformed input: bad names, bad JSON, bad values
    |   +-- InvalidName (400)            -- bucket or object name that breaks the naming rules
    +-- Unauthorized (401)               -- no credentials, or ones that do not verify (auth)
    +-- Forbidden (403)                  -- access bits or a token's permissions deny the operation
    +-- NotFound (404)
    |   +-- BucketNotFound (404)         -- message names ``ais://bucket`` (the SDK classifies by it)
    |   +-- ObjectNotFound (404)         -- message names ``ais://bucket/object``
    +-- MethodNotAllowed (405)
    +-- Conflict (409)
    |   +-- BucketAlreadyExists (409)
    +-- PreconditionFailed (412)
    +-- PayloadTooLarge (413)
    +-- RangeNotSatisfiable (416)
    +-- ObjectCorrupted (422)            -- stored bytes fail their checksum: retrying cannot help
    +-- FailedDependency (424)           -- a remote backend (S3, GCS, Azure, HTTP, remote AIS) failed
    |   +-- BackendUnreachable (424)     -- it could not be reached or did not answer in time
    +-- TooManyRequests (429)            -- carries ``retry_after`` seconds
    +-- NotImplementedYet (501)          -- answered at once so the SDK does not retry
    +-- ServiceUnavailable (503)         -- the cluster cannot serve it now (no target); retry later
    |   +-- PeerUnreachable (503)        -- another node did not answer (carries ``node_id``)
    +-- InsufficientStorage (507)        -- the disk is full; nothing stored is harmed

The official SDK retries 429/500/502/503/504 for about 90 seconds, so a client mistake must never
surface as one of those: raise the precise subclass instead.
"""

from __future__ import annotations


class StrataError(Exception):
    """Base class; ``status`` is the HTTP status the API front answers with."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(StrataError):
    status = 400


class PeerRefused(StrataError):
    """A peer's answer that is the client's to hear (a 4xx, or a backend's 424/507), passed on as given."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class InvalidName(InvalidRequest):
    pass


class Unauthorized(StrataError):
    """The request carries no credentials, or ones that do not verify (a bad, expired or revoked token)."""

    status = 401


class Forbidden(StrataError):
    status = 403


class NotFound(StrataError):
    status = 404


class BucketNotFound(NotFound):
    def __init__(self, bucket_uri: str) -> None:
        super().__init__(f'bucket "{bucket_uri}" does not exist')


class ObjectNotFound(NotFound):
    def __init__(self, object_uri: str, detail: str = "") -> None:
        super().__init__(f"{object_uri} does not exist" + (f" ({detail})" if detail else ""))


class MethodNotAllowed(StrataError):
    status = 405


class Conflict(StrataError):
    status = 409


class BucketAlreadyExists(Conflict):
    def __init__(self, bucket_uri: str) -> None:
        super().__init__(f'bucket "{bucket_uri}" already exists')


class PreconditionFailed(StrataError):
    status = 412


class PayloadTooLarge(StrataError):
    status = 413


class RangeNotSatisfiable(StrataError):
    status = 416

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class ObjectCorrupted(StrataError):
    """A read found the stored bytes do not match their checksum (bit rot, a damaged disk).

    Not a 5xx: the SDK would retry for 90 seconds a read that cannot succeed.
    """

    status = 422


class FailedDependency(StrataError):
    """A remote backend answered with a fault of its own (a 5xx other than 503, a reply it should not give).

    424 on purpose: the SDK (``aistore/sdk/retry_config.py``: 429, 500, 502, 503, 504) and boto3 retry
    the 5xx statuses for about 90 seconds, and a dependency that is broken now is rarely mended in that
    time; the user should hear at once, with the backend's own words in the message. A backend's 503
    ("slow down") and 429 map to ``ServiceUnavailable`` / ``TooManyRequests`` instead: those retries help.
    """

    status = 424


class BackendUnreachable(FailedDependency):
    """The backend could not be reached: connection refused, DNS failure, TLS failure, a timeout.

    The backend clients themselves retry a few times within seconds (``strata.backends.settings``);
    past that the answer is 424 at once, not 502/504, so a client is not kept waiting 90 s by its own
    retries for an endpoint that is down or mistyped.
    """

    def __init__(self, provider: str, endpoint: str, detail: str) -> None:
        super().__init__(f"{provider} backend at {endpoint or '(default endpoint)'} is unreachable: {detail}")
        self.provider = provider
        self.endpoint = endpoint


class TooManyRequests(StrataError):
    status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotImplementedYet(StrataError):
    status = 501


class ServiceUnavailable(StrataError):
    """The cluster cannot serve the request right now (no target to send it to, a node down).

    503 on purpose: the request itself is fine and a retry may succeed once the cluster map has
    caught up, so the SDK's and boto3's retries are the right reaction.
    """

    status = 503


class PeerUnreachable(ServiceUnavailable):
    """Another node of the cluster did not answer: connection refused or reset, a timeout, or an
    answer broken off mid-body. Raised only by the peer client (``strata.cluster.peers``).

    Never a 404: the object may well exist on the node that is down, and a 404 would tell clients
    (and get-from-neighbour logic) that it does not.
    """

    def __init__(self, node_id: str, detail: str) -> None:
        super().__init__(f"node {node_id} is unreachable: {detail}")
        self.node_id = node_id


class InsufficientStorage(StrataError):
    status = 507
