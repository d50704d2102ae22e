"""What AuthN keeps (users, roles, clusters) and the JSON shapes of its REST API.

Stored records are strict (``perm`` is an int, names validated); request bodies are lenient the way the
SDK writes them: ``perm`` as a decimal string, ``clusters``/``buckets`` null, a user's roles as whole
role objects of which only the name counts, the password as ``pass`` (or ``password: null``).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from strata.core.errors import InvalidRequest

ACCESS_RO = 771  # GET | OBJ_HEAD | BCK_HEAD | OBJ_LIST
ACCESS_RW = 831  # ro | PUT | APPEND | OBJ_DELETE | OBJ_MOVE
ACCESS_SU = 2**64 - 1
ADMIN_ROLE = "Admin"
PROVIDERS = ("ais", "aws", "gcp", "azure", "ht")
# (role name prefix, description, cluster permission) of the roles every registered cluster gets
CLUSTER_ROLES = (
    ("ClusterOwner", "Admin access to cluster {}", ACCESS_SU),
    ("BucketOwner", "Full access to buckets in cluster {}", ACCESS_RW),
    ("Guest", "Read-only access to buckets in cluster {}", ACCESS_RO),
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}")


class Namespace(msgspec.Struct):
    uuid: str = ""
    name: str = ""


class Bck(msgspec.Struct):
    name: str
    provider: str = "ais"
    namespace: Namespace = msgspec.field(default_factory=Namespace)


class ClusterACL(msgspec.Struct):
    id: str
    perm: int


class BucketACL(msgspec.Struct):
    bck: Bck
    perm: int


class Role(msgspec.Struct):
    name: str
    desc: str = ""
    clusters: list[ClusterACL] = msgspec.field(default_factory=list)
    buckets: list[BucketACL] = msgspec.field(default_factory=list)
    admin: bool = False


class User(msgspec.Struct):
    id: str
    password_hash: str
    roles: list[str] = msgspec.field(default_factory=list)


class Cluster(msgspec.Struct):
    id: str
    alias: str = ""
    urls: list[str] = msgspec.field(default_factory=list)


# -- request bodies ----------------------------------------------------------------------------------


class NamespaceIn(msgspec.Struct):
    uuid: str = ""
    name: str = ""


class BckIn(msgspec.Struct):
    name: str = ""
    provider: str = "ais"
    namespace: NamespaceIn | None = None


class ClusterACLIn(msgspec.Struct):
    id: str = ""
    perm: str | int = "0"


class BucketACLIn(msgspec.Struct):
    bck: BckIn
    perm: str | int = "0"


class RoleIn(msgspec.Struct):
    name: str = ""
    desc: str = ""
    clusters: list[ClusterACLIn] | None = None
    buckets: list[BucketACLIn] | None = None
    admin: bool = False


class RoleRef(msgspec.Struct):
    name: str = ""


class UserIn(msgspec.Struct):
    id: str = ""
    pass_: str | None = msgspec.field(name="pass", default=None)
    password: str | None = None
    roles: list[RoleRef] | None = None

    @property
    def secret(self) -> str:
        return self.pass_ or self.password or ""


class ClusterIn(msgspec.Struct):
    id: str = ""
    alias: str | None = None
    urls: list[str] | None = None


class LoginIn(msgspec.Struct):
    password: str = ""
    expires_in: int | None = None  # nanoseconds; null = the configured default


class TokenIn(msgspec.Struct):
    token: str = ""


def decode(body: bytes, kind: type[Any], what: str) -> Any:
    """A request body as ``kind``; an empty or malformed body is a 400 naming ``what``."""
    if not body.strip():
        raise InvalidRequest(f"{what}: request body is empty")
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest(f"{what}: invalid request body: {exc}") from None


# -- validation --------------------------------------------------------------------------------------


def check_name(value: str, what: str) -> str:
    if not _NAME.fullmatch(value):
        raise InvalidRequest(
            f'invalid {what} "{value}": use letters, digits and "_.@+-" (not first), at most 128 characters'
        )
    return value


def parse_perm(value: str | int) -> int:
    """Access bits as the SDK sends them (a decimal string) or as a number; within uint64."""
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise InvalidRequest(f'invalid permissions "{value}": expected a decimal number')
        value = int(value)
    if not 0 <= value <= ACCESS_SU:
        raise InvalidRequest(f"invalid permissions {value}: out of range")
    return value


def role_from(message: RoleIn, name: str | None = None) -> Role:
    """A stored role from a request body (``name`` from the URL wins over the body's)."""
    role_name = check_name(name or message.name, "role name")
    clusters = [ClusterACL(id=acl.id, perm=parse_perm(acl.perm)) for acl in message.clusters or []]
    buckets = []
    for acl in message.buckets or []:
        bck = acl.bck
        if not bck.name:
            raise InvalidRequest(f"role {role_name}: a bucket permission needs the bucket's name")
        if bck.provider not in PROVIDERS:
            raise InvalidRequest(f'role {role_name}: unknown provider "{bck.provider}"')
        namespace = Namespace(bck.namespace.uuid, bck.namespace.name) if bck.namespace else Namespace()
        buckets.append(BucketACL(bck=Bck(bck.name, bck.provider, namespace), perm=parse_perm(acl.perm)))
    return Role(name=role_name, desc=message.desc, clusters=clusters, buckets=buckets, admin=message.admin)


# -- answers -----------------------------------------------------------------------------------------


def role_json(role: Role, clusters: dict[str, Cluster]) -> dict[str, Any]:
    """A role as the SDK reads it (``RoleInfo``): perms as decimal strings, cluster aliases filled in."""

    def cluster_entry(acl: ClusterACL) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": acl.id, "perm": str(acl.perm)}
        known = clusters.get(acl.id)
        if known is not None:
            entry["alias"] = known.alias
            entry["urls"] = known.urls
        return entry

    return {
        "name": role.name,
        "desc": role.desc,
        "clusters": [cluster_entry(acl) for acl in role.clusters],
        "buckets": [{"bck": msgspec.to_builtins(acl.bck), "perm": str(acl.perm)} for acl in role.buckets],
        "admin": role.admin,
    }


def user_json(user: User, roles: dict[str, Role], clusters: dict[str, Cluster]) -> dict[str, Any]:
    """A user as the SDK reads it (``UserInfo``): never the password; roles that still exist."""
    return {
        "id": user.id,
        "roles": [role_json(roles[name], clusters) for name in user.roles if name in roles],
    }


def cluster_json(cluster: Cluster) -> dict[str, Any]:
    return {"id": cluster.id, "alias": cluster.alias, "urls": cluster.urls}
