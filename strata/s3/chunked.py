"""The ``aws-chunked`` body encoding, decoded incrementally as the bytes arrive.

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [<trailer name>:<value>\\r\\n ... [x-amz-trailer-signature:<sig>\\r\\n]]\\r\\n

The HTTP server hands us the body in whatever pieces the socket produced, so the decoder is a small
state machine: data bytes go straight to ``sink`` (no buffering of chunks), only the short size lines
and trailers are collected. With a ``ChunkSigner`` each chunk's signature is checked when the chunk
ends -- before anything is published, since the object is committed only after the last chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from strata.s3.auth import ChunkSigner
from strata.s3.errors import S3Error

MAX_LINE = 4096
_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


def _incomplete() -> S3Error:
    return S3Error(
        "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length"
    )


def _bad_signature() -> S3Error:
    return S3Error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided (aws-chunked).",
        403,
    )


class AwsChunkedDecoder:
    """Feed raw body bytes; decoded payload goes to ``sink``; ``finish`` returns the trailers."""

    def __init__(
        self,
        sink: Callable[[bytes | memoryview], None],
        signer: ChunkSigner | None,
        *,
        signed_trailer: bool = False,
    ) -> None:
        self.sink = sink
        self.signer = signer
        self.signed_trailer = signed_trailer and signer is not None
        self.state = _HEADER
        self.line = bytearray()
        self.remaining = 0
        self.chunk_signature = ""
        self.chunk_hash = hashlib.sha256() if signer is not None else None
        self.trailers: dict[str, str] = {}
        self.trailer_lines: list[str] = []
        self.decoded = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.state == _DATA:
                piece = view[: self.remaining]
                self.sink(piece)
                if self.chunk_hash is not None:
                    self.chunk_hash.update(piece)
                self.remaining -= len(piece)
                self.decoded += len(piece)
                view = view[len(piece) :]
                if self.remaining == 0:
                    self.state = _DATA_END
                continue
            if self.state == _DONE:
                if bytes(view).strip(b"\r\n"):
                    raise S3Error("InvalidRequest", "Data after the end of an aws-chunked body.")
                return
            newline = bytes(view).find(b"\n")
            if newline < 0:
                self.line += view
                view = view[len(view) :]
                if len(self.line) > MAX_LINE:
                    raise S3Error("InvalidRequest", "An aws-chunked header line is too long.")
                continue
            self.line += view[: newline + 1]
            view = view[newline + 1 :]
            line = bytes(self.line).rstrip(b"\r\n").decode("latin-1")
            self.line.clear()
            self._line(line)

    def _line(self, line: str) -> None:
        if self.state == _DATA_END:
            if line:
                raise S3Error("InvalidRequest", "An aws-chunked chunk does not end with CRLF.")
            self._end_chunk()
            self.state = _HEADER
        elif self.state == _HEADER:
            size_text, _, extension = line.partition(";")
            try:
                size = int(size_text.strip(), 16)
            except ValueError:
                raise S3Error("InvalidRequest", f"Invalid aws-chunked size line {line[:64]!r}.") from None
            name, _, value = extension.partition("=")
            self.chunk_signature = value.strip() if name.strip() == "chunk-signature" else ""
            if self.signer is not None and not self.chunk_signature:
                raise S3Error("InvalidRequest", "An aws-chunked chunk has no chunk-signature.")
            if size == 0:
                self._end_chunk()
                self.state = _TRAILER
            else:
                self.remaining = size
                self.state = _DATA
        elif self.state == _TRAILER:
            if not line:
                self._end_trailer()
                self.state = _DONE
                return
            name, colon, value = line.partition(":")
            if not colon:
                raise S3Error("InvalidRequest", f"Invalid aws-chunked trailer {line[:64]!r}.")
            self.trailers[name.strip().lower()] = value.strip()
            if name.strip().lower() != "x-amz-trailer-signature":
                self.trailer_lines.append(f"{name.strip().lower()}:{value.strip()}\n")

    def _end_chunk(self) -> None:
        if self.signer is None or self.chunk_hash is None:
            return
        expected = self.signer.chunk(self.chunk_hash.hexdigest())
        self.chunk_hash = hashlib.sha256()
        if expected != self.chunk_signature:
            raise _bad_signature()

    def _end_trailer(self) -> None:
        signature = self.trailers.get("x-amz-trailer-signature")
        wanted = self.signer is not None and (signature is not None or self.signed_trailer)
        if (
            wanted
            and self.signer is not None
            and self.signer.trailer("".join(self.trailer_lines)) != signature
        ):
            raise _bad_signature()

    def finish(self) -> dict[str, str]:
        if self.state == _TRAILER and not self.line:  # a body may end right after the last chunk
            self._end_trailer()
            self.state = _DONE
        if self.state != _DONE:
            raise _incomplete()
        return self.trailers
