"""Naming rules for buckets and objects (AIStore's cmn/bck.go), checked once at the API edge.

Object names are stored encoded (``storage.fsnames``), so no name can leave its bucket's directory;
names that read like an escape attempt (absolute, ``.``/``..`` segments, NUL) are still refused with
400, as AIStore does. Empty segments and a trailing ``/`` (S3 "directory markers") are valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec

from strata.core.errors import InvalidName

MAX_BUCKET_NAME = 64
MAX_OBJECT_NAME = 1024
_BUCKET_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_NS_UUID_RE = re.compile(r"[A-Za-z0-9_.\-]*")  # a cluster UUID, or the alias of a remote cluster
PROVIDERS = {
    "ais": "ais",
    "": "ais",
    "aws": "aws",
    "s3": "aws",
    "gcp": "gcp",
    "gs": "gcp",
    "azure": "azure",
    "az": "azure",
    "oci": "oci",
    "oc": "oci",
    "ht": "ht",
}
URI_SCHEMES = {"ais": "ais", "aws": "s3", "gcp": "gs", "azure": "az", "oci": "oci", "ht": "ht"}
_PROVIDER_OF_SCHEME = {scheme: provider for provider, scheme in URI_SCHEMES.items()}


def validate_bucket_name(name: str) -> str:
    if not name:
        raise InvalidName("bucket name is empty")
    if len(name.encode()) > MAX_BUCKET_NAME:
        raise InvalidName(f'bucket name "{name[:80]}" is too long (max {MAX_BUCKET_NAME} bytes)')
    if not _BUCKET_RE.fullmatch(name) or ".." in name:
        raise InvalidName(
            f'bucket name "{name}" is invalid: may only contain letters, numbers, dashes (-), '
            "underscores (_), and dots (.), and must not contain '..'"
        )
    if name.startswith("."):
        raise InvalidName(f'bucket name "{name}" is invalid: a leading "." is reserved')
    return name


def normalize_provider(provider: str) -> str:
    try:
        return PROVIDERS[provider]
    except KeyError:
        raise InvalidName(f'invalid provider "{provider}"') from None


def parse_namespace(raw: str) -> tuple[str, str]:
    """``@uuid#name`` (leading ``@`` optional) -> ``(uuid, name)``; ``""`` or ``@#`` is global."""
    raw = raw.removeprefix("@")
    uuid, _, name = raw.partition("#")
    edges = (uuid[:1] + uuid[-1:]) if uuid else ""
    if len(uuid) > 32 or not _NS_UUID_RE.fullmatch(uuid) or ".." in uuid or any(c in "-_." for c in edges):
        raise InvalidName(f'invalid namespace uuid "{uuid}"')
    if name and (not _BUCKET_RE.fullmatch(name) or ".." in name):
        raise InvalidName(f'invalid namespace name "{name}"')
    return uuid, name


def validate_object_name(name: str) -> str:
    """Refuse names that are empty, too long, or could escape the bucket's directory."""
    if not name:
        raise InvalidName("object name is empty")
    if "\x00" in name:
        raise InvalidName("object name must not contain NUL")
    if len(name.encode()) > MAX_OBJECT_NAME:
        raise InvalidName(f"object name is too long (max {MAX_OBJECT_NAME} bytes)")
    if name.startswith("/"):
        raise InvalidName(f'object name "{name}" must not be an absolute path')
    if "." in name:
        for segment in name.split("/"):
            if segment in (".", ".."):
                raise InvalidName(
                    f'object name "{name}" is invalid: it must not contain "." or ".." segments'
                )
    return name


class BucketRef(msgspec.Struct, frozen=True):
    """A bucket's identity: provider, namespace and name (AIStore's ``cmn.Bck`` without props)."""

    name: str
    provider: str = "ais"
    ns_uuid: str = ""
    ns_name: str = ""

    @property
    def namespace_uname(self) -> str:
        """``@#`` for the global namespace, ``@uuid#name`` otherwise (both markers always present)."""
        return f"@{self.ns_uuid}#{self.ns_name}"

    @property
    def uri(self) -> str:
        """How errors and the CLI name the bucket: ``ais://b``, ``s3://b``, ``ais://@uuid#ns/b``."""
        scheme = URI_SCHEMES.get(self.provider, self.provider)
        if self.ns_uuid or self.ns_name:
            return f"{scheme}://{self.namespace_uname}/{self.name}"
        return f"{scheme}://{self.name}"

    @property
    def key(self) -> str:
        """Stable key in the bucket metadata: ``ais/@#/b`` (every object request computes it)."""
        if not self.ns_uuid and not self.ns_name:
            return f"{self.provider}/@#/{self.name}"
        return f"{self.provider}/@{self.ns_uuid}#{self.ns_name}/{self.name}"

    def object_uri(self, object_name: str) -> str:
        return f"{self.uri}/{object_name}"

    def object_uname(self, object_name: str) -> str:
        """What HRW hashes: ``ais/@#/bucket/object``."""
        return f"{self.key}/{object_name}"

    @classmethod
    def parse(cls, name: str, provider: str = "", namespace: str = "") -> BucketRef:
        """Validate the three parts as they arrive on the wire (``?provider=`` / ``?namespace=``).

        Valid results are memoized: every request names its bucket, few buckets exist. An ais bucket
        whose namespace names a remote cluster by its alias (``ais://@alias/b``) gets the cluster's
        UUID instead, as AIStore's proxy does (``set_remote_alias_resolver``).
        """
        cache_key = (name, provider, namespace)
        bck = _PARSED.get(cache_key)
        if bck is None:
            ns_uuid, ns_name = parse_namespace(namespace) if namespace else ("", "")
            bck = cls(validate_bucket_name(name), normalize_provider(provider), ns_uuid, ns_name)
            if len(_PARSED) > 4096:
                _PARSED.clear()
            _PARSED[cache_key] = bck
        if bck.ns_uuid and _alias_resolver is not None and bck.provider == "ais":
            uuid = _alias_resolver(bck.ns_uuid)
            if uuid != bck.ns_uuid:
                return cls(bck.name, bck.provider, uuid, bck.ns_name)
        return bck

    @classmethod
    def from_key(cls, key: str) -> BucketRef:
        provider, ns, name = key.split("/", 2)
        ns_uuid, ns_name = parse_namespace(ns)
        return cls(name, provider, ns_uuid, ns_name)

    @classmethod
    def from_uri(cls, uri: str) -> BucketRef:
        """The bucket a ``uri`` (this class's own ``uri``: ``s3://b``, ``ais://@uuid#ns/b``) names;
        ``InvalidName`` when it names none."""
        scheme, separator, rest = uri.partition("://")
        provider = _PROVIDER_OF_SCHEME.get(scheme)
        namespace = ""
        if rest.startswith("@"):
            namespace, _, rest = rest.partition("/")
        if not separator or provider is None or not rest or "/" in rest:
            raise InvalidName(f'"{uri}" does not name a bucket')
        ns_uuid, ns_name = parse_namespace(namespace)
        return cls(rest, provider, ns_uuid, ns_name)


_PARSED: dict[tuple[str, str, str], BucketRef] = {}
_alias_resolver: Callable[[str], str] | None = None


def set_remote_alias_resolver(resolver: Callable[[str], str] | None) -> None:
    """Have ``BucketRef.parse`` turn a remote cluster's alias into its UUID (``resolver``: the alias or
    UUID of an ``ais://@x/b`` namespace -> the UUID; anything else unchanged). The remote clusters are
    known above this layer (``strata.backends.ais_clusters`` installs it); None turns it off."""
    global _alias_resolver
    _alias_resolver = resolver
