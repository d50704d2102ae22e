"""Who a request acts for, and the one permission check every front and the object service share.

A ``Principal`` answers one question -- may it do these access bits on this bucket (or, with no
bucket, on the cluster)? -- and ``require`` turns a "no" into 403. Three kinds:

- ``TokenPrincipal``: a verified JWT, checked in AIStore's order (wave-2 contract 1.2): ``admin``
  allows everything; cluster bits need this cluster's ``clusters`` entry (else the ``id: ""`` one);
  object/bucket bits are decided by a matching ``buckets`` entry alone, else by the cluster entry.
  System buckets (``.name``) also need ADMIN.
- ``S3UserPrincipal``: an S3 user whose SigV4 signature verified; S3's owner/ACL rules expressed in the
  same bits (an admin user: everything; a bucket's owner, or any user on a bucket nobody owns: all
  of the bucket's bits; others: what the bucket's canned ACL grants).
- ``AnonymousPrincipal``: no credentials while S3 users are configured: only what a canned ACL grants
  to everyone.

The bucket's own ``access`` bits are checked after this, by the object service (``ObjectService.bucket``),
for every principal and for none.

``CURRENT`` holds the principal of the request being served. The fronts set it around each request's
work (``acting_as``); the object service reads it wherever it checks a bucket's access, so a bucket a
request reaches only through its body (a copy's destination, a GetBatch entry) is checked for the same
principal. ``None`` means no client is in scope: auth is off, or the work is the cluster's own (a job
already authorized when it started, a rebalance, a peer's call).
"""

from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from strata.auth.tokens import Claims
from strata.config.access import (
    ACCESS_ADMIN,
    ACCESS_APPEND,
    ACCESS_CREATE_BUCKET,
    ACCESS_DELETE_OBJECT,
    ACCESS_DESTROY_BUCKET,
    ACCESS_GET,
    ACCESS_HEAD_BUCKET,
    ACCESS_HEAD_OBJECT,
    ACCESS_LIST_BUCKETS,
    ACCESS_LIST_OBJECTS,
    ACCESS_MOVE_BUCKET,
    ACCESS_MOVE_OBJECT,
    ACCESS_PATCH,
    ACCESS_PROMOTE,
    ACCESS_PUT,
    ACCESS_SET_BUCKET_ACL,
    ACCESS_SHOW_CLUSTER,
    ACCESS_UPDATE_OBJECT,
)
from strata.core.errors import Forbidden
from strata.core.names import BucketRef

T = TypeVar("T")

CLUSTER_BITS = (
    ACCESS_LIST_BUCKETS | ACCESS_SHOW_CLUSTER | ACCESS_CREATE_BUCKET | ACCESS_DESTROY_BUCKET
    | ACCESS_MOVE_BUCKET | ACCESS_ADMIN
)  # fmt: skip
BIT_NAMES = {
    ACCESS_GET: "GET",
    ACCESS_HEAD_OBJECT: "OBJ_HEAD",
    ACCESS_PUT: "PUT",
    ACCESS_APPEND: "APPEND",
    ACCESS_DELETE_OBJECT: "OBJ_DELETE",
    ACCESS_MOVE_OBJECT: "OBJ_MOVE",
    ACCESS_PROMOTE: "PROMOTE",
    ACCESS_UPDATE_OBJECT: "OBJ_UPDATE",
    ACCESS_HEAD_BUCKET: "BCK_HEAD",
    ACCESS_LIST_OBJECTS: "OBJ_LIST",
    ACCESS_PATCH: "PATCH",
    ACCESS_SET_BUCKET_ACL: "BCK_SET_ACL",
    ACCESS_LIST_BUCKETS: "LIST_BUCKETS",
    ACCESS_SHOW_CLUSTER: "SHOW_CLUSTER",
    ACCESS_CREATE_BUCKET: "CREATE_BUCKET",
    ACCESS_DESTROY_BUCKET: "DESTROY_BUCKET",
    ACCESS_MOVE_BUCKET: "MOVE_BUCKET",
    ACCESS_ADMIN: "ADMIN",
}  # fmt: skip (the SDK's AccessAttr names)

# S3's three kinds of permission, in bits
S3_READ = ACCESS_GET | ACCESS_HEAD_OBJECT | ACCESS_HEAD_BUCKET | ACCESS_LIST_OBJECTS
S3_WRITE = ACCESS_PUT | ACCESS_APPEND | ACCESS_DELETE_OBJECT | ACCESS_MOVE_OBJECT | ACCESS_UPDATE_OBJECT
S3_OWNER = ACCESS_PATCH | ACCESS_SET_BUCKET_ACL | ACCESS_DESTROY_BUCKET
S3_ANY_USER = ACCESS_LIST_BUCKETS | ACCESS_CREATE_BUCKET  # every S3 user may list and create buckets


def describe_bits(bits: int) -> str:
    names = [name for bit, name in BIT_NAMES.items() if bits & bit]
    rest = bits & ~sum(BIT_NAMES)
    return ", ".join(names + ([str(rest)] if rest else []))


class Principal(ABC):
    """A request's identity and what it may do."""

    name: str
    admin: bool

    @abstractmethod
    def allows(self, bits: int, bck: BucketRef | None) -> bool:
        """May it do every one of ``bits`` on ``bck`` (None: on the cluster)?"""


def require(principal: Principal, bits: int, bck: BucketRef | None = None) -> None:
    """403 unless ``principal`` may do all of ``bits`` on ``bck`` (the cluster when None)."""
    if bits and not principal.allows(bits, bck):
        where = f" on {bck.uri}" if bck is not None else ""
        user, names = principal.name, describe_bits(bits)
        raise Forbidden(f"user `{user}` has insufficient permissions: [{names}]{where}: access denied")


class TokenPrincipal(Principal):
    """A verified token's claims, resolved for this cluster once (cluster entry, bucket entries)."""

    __slots__ = ("_buckets", "_cluster", "admin", "claims", "name")

    def __init__(self, claims: Claims, cluster_uuid: str) -> None:
        self.claims = claims
        self.name = claims.subject
        self.admin = claims.admin
        exact = [perm for cluster, perm in claims.clusters if cluster and cluster == cluster_uuid]
        anywhere = [perm for cluster, perm in claims.clusters if not cluster]
        self._cluster: int | None = exact[0] if exact else (anywhere[0] if anywhere else None)
        self._buckets = {
            (grant.provider, grant.name): grant.perm
            for grant in claims.buckets
            if grant.cluster == cluster_uuid
        }

    def allows(self, bits: int, bck: BucketRef | None) -> bool:
        if self.admin:
            return True
        if bck is not None and bck.name.startswith("."):
            bits |= ACCESS_ADMIN  # system buckets
        cluster = self._cluster
        cluster_bits = bits & CLUSTER_BITS
        if cluster_bits and (cluster is None or cluster & cluster_bits != cluster_bits):
            return False
        object_bits = bits & ~CLUSTER_BITS
        if not object_bits:
            return True
        if bck is not None and not bck.ns_uuid:
            perm = self._buckets.get((bck.provider, bck.name))
            if perm is not None:
                return perm & object_bits == object_bits
        return cluster is not None and cluster & object_bits == object_bits


class OwnerRecord(Protocol):
    """What S3 remembers of a bucket (``strata.s3.users.BucketRecord``)."""

    @property
    def owner(self) -> str: ...
    @property
    def acl(self) -> str: ...


OwnerLookup = Callable[[str], "OwnerRecord | None"]


def _acl_allows(acl: str, bits: int, authenticated: bool) -> bool:
    if bits & ~(S3_READ | S3_WRITE):
        return False
    if bits & S3_WRITE:
        return acl == "public-read-write"
    return acl in ("public-read", "public-read-write") or (acl == "authenticated-read" and authenticated)


class S3UserPrincipal(Principal):
    """An S3 user (``s3.users``) whose request signature verified."""

    def __init__(self, name: str, admin: bool, owners: OwnerLookup) -> None:
        self.name = name
        self.admin = admin
        self._owners = owners

    def allows(self, bits: int, bck: BucketRef | None) -> bool:
        if self.admin:
            return True
        if bits & ~(S3_READ | S3_WRITE | S3_OWNER | S3_ANY_USER):
            return False  # cluster administration, moves, promotes: admin users only
        if bck is None:
            return not bits & ~S3_ANY_USER
        bits &= ~S3_ANY_USER
        if not bits:
            return True  # creating or listing: the bucket's owner does not matter
        record = self._owners(bck.name) if bck.provider == "ais" and not bck.ns_uuid else None
        owner = record.owner if record is not None else ""
        if not owner or owner == self.name:
            return True  # one's own bucket, or a shared one nobody owns
        assert record is not None
        return _acl_allows(record.acl, bits, authenticated=True)


class AnonymousPrincipal(Principal):
    """No credentials while S3 users are configured: what a bucket's canned ACL grants everyone."""

    def __init__(self, owners: OwnerLookup) -> None:
        self.name = "anonymous"
        self.admin = False
        self._owners = owners

    def allows(self, bits: int, bck: BucketRef | None) -> bool:
        if bck is None or bck.provider != "ais" or bck.ns_uuid:
            return False
        record = self._owners(bck.name)
        return (
            record is not None and bool(record.owner) and _acl_allows(record.acl, bits, authenticated=False)
        )


# -- the request's principal ----------------------------------------------------------------------

CURRENT: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("strata_principal", default=None)


def current() -> Principal | None:
    return CURRENT.get()


def call_as(principal: Principal | None, call: Callable[[], T]) -> T:
    """``call()`` with ``principal`` as the request's principal (restored after)."""
    token = CURRENT.set(principal)
    try:
        return call()
    finally:
        CURRENT.reset(token)


async def await_as(principal: Principal | None, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` with ``principal`` as the request's principal: for a coroutine a handler
    returned, which runs later in the server's task rather than inside ``call_as``."""
    token = CURRENT.set(principal)
    try:
        return await awaitable
    finally:
        CURRENT.reset(token)
