"""S3's "flexible checksums" (``x-amz-checksum-crc32|crc32c|sha1|sha256``), computed as bytes stream.

Current SDKs send one with every upload: in a header when the payload is signed, in the trailer of an
``aws-chunked`` body otherwise (``x-amz-trailer`` names it). The value is the base64 of the big-endian
digest. A mismatch is ``BadDigest``; the verified value is kept with the object and returned on GET
when the client asks (``x-amz-checksum-mode: ENABLED``), which is how SDKs validate downloads.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

import crc32c

from strata.s3.errors import S3Error, invalid_argument, not_implemented
from strata.server.http import Request

ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256")
HEADER_PREFIX = "x-amz-checksum-"
_NOT_CHECKSUMS = ("x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm")


class FlexibleChecksum:
    """One running checksum; ``value()`` is what the client sends (base64 of the digest)."""

    __slots__ = ("algorithm", "crc", "digest")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.crc = 0
        self.digest = hashlib.new(algorithm) if algorithm in ("sha1", "sha256") else None

    def update(self, data: bytes | memoryview) -> None:
        if self.digest is not None:
            self.digest.update(data)
        elif self.algorithm == "crc32":
            self.crc = zlib.crc32(data, self.crc)
        else:
            self.crc = crc32c.crc32c(data, self.crc)

    def value(self) -> str:
        raw = self.digest.digest() if self.digest is not None else self.crc.to_bytes(4, "big")
        return base64.b64encode(raw).decode()


def _algorithm(name: str) -> str:
    algorithm = name.lower().removeprefix(HEADER_PREFIX)
    if algorithm == "crc64nvme":
        raise not_implemented("The CRC64NVME checksum")
    if algorithm not in ALGORITHMS:
        raise invalid_argument(f"Unsupported checksum algorithm {name!r}", "x-amz-checksum-algorithm", name)
    return algorithm


class ExpectedChecksum:
    """What the request promises: an algorithm and a value from a header, or (None) from the trailer."""

    __slots__ = ("algorithm", "value")

    def __init__(self, algorithm: str, value: str | None) -> None:
        self.algorithm = algorithm
        self.value = value

    def verify(self, computed: FlexibleChecksum, trailers: dict[str, str]) -> str:
        """The verified value, or BadDigest / InvalidRequest when it is wrong or missing."""
        expected = self.value
        if expected is None:
            expected = trailers.get(HEADER_PREFIX + self.algorithm)
            if expected is None:
                raise S3Error("InvalidRequest", f"The trailer x-amz-checksum-{self.algorithm} is missing.")
        actual = computed.value()
        if expected != actual:
            raise S3Error(
                "BadDigest",
                f"The {self.algorithm.upper()} you specified did not match the calculated checksum.",
            )
        return actual


def expected_checksum(request: Request) -> ExpectedChecksum | None:
    """The checksum a PUT or part upload carries, if any (at most one algorithm per request)."""
    headers = request.headers
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if trailer:
        if not trailer.startswith(HEADER_PREFIX) or "," in trailer:
            raise invalid_argument(f"Unsupported trailer {trailer!r}", "x-amz-trailer", trailer)
        return ExpectedChecksum(_algorithm(trailer), None)
    found = [name for name in headers if name.startswith(HEADER_PREFIX) and name not in _NOT_CHECKSUMS]
    if not found:
        return None
    if len(found) > 1:
        raise invalid_argument(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    return ExpectedChecksum(_algorithm(found[0]), headers[found[0]].strip())
