"""``ais://bucket/object`` addresses, as the ``ais`` CLI writes them.

A bare ``bucket`` (no scheme) is read as ``ais://bucket``, like ``ais`` does. Strata's own buckets are
``ais://``; cloud buckets it caches are ``s3://`` (``aws://``), ``gs://`` (``gcp://``), ``az://``
(``azure://``). A bucket of an attached remote AIS cluster is ``ais://@alias/bucket`` (or
``ais://@uuid/bucket``; ``ais://@alias#ns/bucket`` in a namespace there). The parsing is ours rather
than the SDK's ``parse_url`` because that one goes through ``urlparse``, which lower-cases nothing but
drops ``?``/``#`` parts of object names; object names here are taken verbatim after the bucket's ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SUPPORTED_PROVIDERS = ("ais", "s3", "aws", "gs", "gcp", "az", "azure")


class UsageError(ValueError):
    """The command line itself is wrong; printed as ``Error: ...`` with exit status 2."""


@dataclass(frozen=True)
class BucketURI:
    """A parsed address: ``provider://[@cluster#ns/]bucket[/object]``; ``object`` is ``""`` when absent,
    ``namespace`` is ``""`` or ``@cluster#ns`` (the SDK's ``Namespace.get_path()``)."""

    provider: str
    bucket: str
    object: str = ""
    namespace: str = ""

    @property
    def bucket_uri(self) -> str:
        """``ais://bucket`` (``ais://@alias/bucket``): how messages name the bucket, as the server does."""
        namespace = self.namespace.removesuffix("#")
        return f"{self.provider}://{namespace + '/' if namespace else ''}{self.bucket}"

    def sdk_bucket(self, client: Any) -> Any:
        """The SDK's ``Bucket`` for this address, in its namespace (a remote cluster's) when there is one."""
        if not self.namespace:
            return client.bucket(self.bucket, provider=self.provider)
        from aistore.sdk.namespace import Namespace  # the CLI loads the SDK only for client verbs

        uuid, _, name = self.namespace.removeprefix("@").partition("#")
        return client.bucket(self.bucket, provider=self.provider, namespace=Namespace(uuid=uuid, name=name))

    def __str__(self) -> str:
        return f"{self.bucket_uri}/{self.object}" if self.object else self.bucket_uri


def parse_uri(text: str, *, want_object: bool = False, allow_empty_bucket: bool = False) -> BucketURI:
    """Parse ``ais://b``, ``ais://b/o/bj``, ``b`` or ``b/o``; ``UsageError`` with a hint when malformed."""
    provider, separator, rest = text.partition("://")
    if not separator:
        provider, rest = "ais", text
    if provider not in SUPPORTED_PROVIDERS:
        raise UsageError(
            f'unsupported provider "{provider}" in "{text}" (supported: ais://, s3://, gs://, az://)'
        )
    namespace = ""
    if rest.startswith(("@", "#")):  # ais://@alias[#ns]/bucket: a remote cluster's bucket
        namespace, _, rest = rest.partition("/")
        uuid, _, name = namespace.removeprefix("@").partition("#")
        namespace = f"@{uuid}#{name}"
    bucket, _, object_name = rest.partition("/")
    if not bucket and not allow_empty_bucket:
        raise UsageError(f'missing bucket name in "{text}" (expected ais://BUCKET)')
    if want_object and not object_name:
        raise UsageError(f'missing object name in "{text}" (expected ais://BUCKET/OBJECT)')
    return BucketURI(provider, bucket, object_name, namespace)
