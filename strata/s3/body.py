"""Request bodies as S3 sends them: plain or ``aws-chunked``, signed or not, checked while streaming.

``BodyReader`` sits between the HTTP server's ``feed`` calls and a sink (an object's work file, a
part file, or a small buffer for XML requests). It removes the ``aws-chunked`` framing, verifies
chunk signatures, hashes the payload when ``x-amz-content-sha256`` names a digest, and in ``finish``
checks that the promised length and digest are what arrived. Nothing here keeps payload bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable

from strata.s3.auth import (
    STREAMING_MODES,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    ChunkSigner,
    Signature,
)
from strata.s3.chunked import AwsChunkedDecoder
from strata.s3.errors import S3Error
from strata.server.http import Request, Response

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_SMALL_BODY = 2 << 20


class BodyReader:
    """Feed raw body bytes in; decoded bytes come out through ``sink``."""

    __slots__ = ("decoder", "expected_length", "payload_hash", "payload_sha256", "sink", "size")

    def __init__(
        self, request: Request, signature: Signature | None, sink: Callable[[bytes | memoryview], None]
    ) -> None:
        headers = request.headers
        mode = signature.payload if signature is not None else headers.get("x-amz-content-sha256", "")
        self.sink = sink
        self.size = 0
        self.decoder: AwsChunkedDecoder | None = None
        self.payload_sha256 = ""
        self.payload_hash: hashlib._Hash | None = None
        chunked = mode in STREAMING_MODES or "aws-chunked" in headers.get("content-encoding", "")
        if chunked:
            signer = None
            if signature is not None and signature.user is not None and mode != STREAMING_UNSIGNED_TRAILER:
                signer = ChunkSigner(signature)
            self.decoder = AwsChunkedDecoder(
                self._decoded, signer, signed_trailer=mode == STREAMING_SIGNED_TRAILER
            )
        elif mode and mode != UNSIGNED_PAYLOAD:
            if not _HEX_DIGEST.fullmatch(mode):
                raise S3Error(
                    "InvalidArgument",
                    f"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                    f"a STREAMING-* mode or a SHA-256 hex digest, not {mode[:80]!r}",
                )
            self.payload_sha256 = mode
            self.payload_hash = hashlib.sha256()
        decoded = headers.get("x-amz-decoded-content-length")
        self.expected_length = -1
        if decoded is not None:
            if not decoded.isdigit():
                raise S3Error("InvalidArgument", "x-amz-decoded-content-length must be a number")
            self.expected_length = int(decoded)
        elif chunked and "content-length" not in headers:
            raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)

    def _decoded(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        self.sink(data)

    def feed(self, data: bytes) -> None:
        if self.decoder is not None:
            self.decoder.feed(data)
            return
        if self.payload_hash is not None:
            self.payload_hash.update(data)
        self._decoded(data)

    def finish(self) -> dict[str, str]:
        """Check what arrived against what was promised; returns the trailers (aws-chunked only)."""
        trailers = self.decoder.finish() if self.decoder is not None else {}
        if self.expected_length >= 0 and self.expected_length != self.size:
            raise S3Error(
                "IncompleteBody",
                f"x-amz-decoded-content-length says {self.expected_length} bytes, the body had {self.size}",
            )
        if self.payload_hash is not None and self.payload_hash.hexdigest() != self.payload_sha256:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        return trailers


class SmallBodyExchange:
    """A bounded body (XML documents, empty bodies), decoded and verified, then the handler runs."""

    __slots__ = ("chunks", "handler", "reader", "request", "total")

    def __init__(
        self,
        request: Request,
        signature: Signature | None,
        handler: Callable[[bytes], Response | Awaitable[Response]],
    ) -> None:
        self.request = request
        self.handler = handler
        self.chunks: list[bytes] = []
        self.total = 0
        self.reader = BodyReader(request, signature, self._collect)

    def _collect(self, data: bytes | memoryview) -> None:
        self.total += len(data)
        if self.total > MAX_SMALL_BODY:
            raise S3Error("MaxMessageLengthExceeded", "Your request was too big.")
        self.chunks.append(bytes(data))

    def feed(self, data: bytes) -> None:
        self.reader.feed(data)

    def finish(self) -> Response | Awaitable[Response]:
        self.reader.finish()
        return self.handler(b"".join(self.chunks))

    def abort(self) -> None:
        self.chunks = []
