"""``ais://bucket/object`` addresses, as the ``ais`` CLI writes them.

A bare ``bucket`` (no scheme) is read as ``ais://bucket``, like ``ais`` does. Strata's own buckets are
``ais://``; cloud buckets it caches are ``s3://`` (``aws://``), ``gs://`` (``gcp://``), ``az://``
(``azure://``). The parsing is ours rather than the SDK's ``parse_url``
because that one goes through ``urlparse``, which lower-cases nothing but drops ``?``/``#`` parts of
object names; object names here are taken verbatim after the first ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED_PROVIDERS = ("ais", "s3", "aws", "gs", "gcp", "az", "azure")


class UsageError(ValueError):
    """The command line itself is wrong; printed as ``Error: ...`` with exit status 2."""


@dataclass(frozen=True)
class BucketURI:
    """A parsed address: ``provider://bucket[/object]``; ``object`` is ``""`` when absent."""

    provider: str
    bucket: str
    object: str = ""

    @property
    def bucket_uri(self) -> str:
        """``ais://bucket``: how messages name the bucket (and how the server's errors do too)."""
        return f"{self.provider}://{self.bucket}"

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
    bucket, _, object_name = rest.partition("/")
    if not bucket and not allow_empty_bucket:
        raise UsageError(f'missing bucket name in "{text}" (expected ais://BUCKET)')
    if want_object and not object_name:
        raise UsageError(f'missing object name in "{text}" (expected ais://BUCKET/OBJECT)')
    return BucketURI(provider, bucket, object_name)
