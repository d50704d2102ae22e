"""One S3 request as the handlers see it: where it points, who sent it, and the access check."""

from __future__ import annotations

from urllib.parse import unquote

from strata.auth import Principal
from strata.auth.principals import TokenPrincipal
from strata.config.access import ACCESS_DESTROY_BUCKET, ACCESS_GET, ACCESS_PUT
from strata.config.bucket_props import BucketProps
from strata.core.errors import BucketNotFound
from strata.core.names import BucketRef
from strata.objects.remote import remote_of
from strata.roles.node import Node
from strata.s3.auth import Signature
from strata.s3.errors import S3Error, no_such_bucket
from strata.s3.users import Owners, Permission, User
from strata.server.http import Request


def decode_component(raw: str, what: str) -> str:
    if "%" not in raw:
        return raw
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise S3Error("InvalidURI", f"Couldn't parse the specified URI: the {what} is not UTF-8.") from None


def parse_query(raw: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The raw ``(key, value)`` pairs (signatures need them as sent) and a decoded dict."""
    if not raw:
        return [], {}
    pairs: list[tuple[str, str]] = []
    decoded: dict[str, str] = {}
    for item in raw.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((key, value))
        name = decode_component(key.replace("+", "%20"), "query")
        decoded.setdefault(name, decode_component(value.replace("+", "%20"), "query"))
    return pairs, decoded


def resolve_bucket(node: Node, name: str) -> BucketRef:
    """The bucket an S3 name means: the ``ais://`` bucket of that name, else a cloud bucket of that name
    already in the BMD (referenced once through ``/v1``, e.g. ``strata ls s3://name``) -- AIStore's
    lookup by name only. A name that is neither is an ``ais://`` bucket that does not exist (404)."""
    ais = BucketRef.parse(name, "ais")
    bmd = node.meta.bmd()
    if bmd.get(ais) is not None:
        return ais
    for provider in CLOUD_ORDER:
        cloud = BucketRef.parse(name, provider)
        if bmd.get(cloud) is not None:
            return cloud
    return ais


CLOUD_ORDER = ("aws", "gcp", "azure")  # which cloud bucket an S3 name means when several share it


class S3Context:
    """Request, target (bucket and key, decoded), query, signature; ``bck``/``props`` on demand."""

    __slots__ = (
        "_bck", "auth_enabled", "bucket", "key", "node", "owners", "principal", "query", "region", "request",
        "signature",
    )  # fmt: skip

    def __init__(
        self,
        node: Node,
        request: Request,
        bucket: str,
        key: str,
        query: dict[str, str],
        signature: Signature | None,
        *,
        auth_enabled: bool,
        owners: Owners,
        region: str,
        principal: Principal | None = None,
    ) -> None:
        self.node = node
        self.request = request
        self.bucket = bucket
        self.key = key
        self.query = query
        self.signature = signature
        self.auth_enabled = auth_enabled
        self.owners = owners
        self.region = region
        self.principal = principal  # who the request acts for (strata.auth); None: auth is off
        self._bck: BucketRef | None = None

    @property
    def user(self) -> User | None:
        """The S3 user whose signature verified (None: anonymous, or a token's holder)."""
        return self.signature.user if self.signature is not None else None

    @property
    def owner_name(self) -> str:
        """The name a bucket created by this request is recorded under: the S3 user, or the token's
        subject; "" when nobody is authenticated."""
        if self.user is not None:
            return self.user.name
        if isinstance(self.principal, TokenPrincipal):
            return self.principal.name
        return ""

    @property
    def bck(self) -> BucketRef:
        if self._bck is None:
            self._bck = resolve_bucket(self.node, self.bucket)
        return self._bck

    @property
    def remote(self) -> bool:
        """Whether the bucket has a backend (a cloud bucket, or ``backend_bck``): its objects may not be
        cached yet and its listing is the backend's."""
        try:
            props = self.node.bucket_props(self.bck)
        except BucketNotFound:
            return False
        return remote_of(self.bck, props) is not None

    def props(self, permission: Permission, bucket: str | None = None) -> BucketProps:
        """The bucket's props after checking it exists and that this caller may do ``permission``.

        The request's own bucket was checked for the exact bits of the request when it was dispatched
        (``S3Application``); another bucket it reads or writes (a copy's source) is checked here, for
        the request's principal (``strata.auth``: S3 user, token or anonymous).
        """
        name = self.bucket if bucket is None else bucket
        bck = self.bck if bucket is None else resolve_bucket(self.node, name)
        if name != self.bucket:
            self.node.authorize(_PERMISSION_BITS[permission], bck)
        try:
            return self.node.bucket_props(bck)
        except BucketNotFound:
            raise no_such_bucket(name) from None


_PERMISSION_BITS = {
    Permission.READ: ACCESS_GET,
    Permission.WRITE: ACCESS_PUT,
    Permission.OWNER: ACCESS_DESTROY_BUCKET,
}
