"""Errors in AIStore's shape: the JSON body (or ``Hdr-Error`` for HEAD) every ``/v1`` failure gets."""

from __future__ import annotations

import logging
import traceback

import msgspec

from strata.core.errors import RangeNotSatisfiable, StrataError, TooManyRequests
from strata.core.wire import ErrorBody, json_encode
from strata.server.http import Request, Response
from strata.server.responses import JSON

log = logging.getLogger("strata.api")


def error_response(request: Request, exc: BaseException, node_id: str) -> Response:
    """AIStore's error JSON; HEAD gets it in ``Hdr-Error`` since HEAD responses have no body."""
    if isinstance(exc, StrataError):
        status, message = exc.status, exc.message
    elif isinstance(exc, (msgspec.DecodeError, msgspec.ValidationError)):
        status, message = 400, f"invalid request body: {exc}"
    else:
        status, message = 500, f"internal error: {type(exc).__name__}: {exc}"
        log.error("unhandled error on %s %s\n%s", request.method, request.path, traceback.format_exc())
    body = json_encode(
        ErrorBody(
            message=message,
            method=request.method,
            url_path=request.path,
            remote_addr=request.remote_addr,
            caller="",
            node=node_id,
            status=status,
        )
    )
    headers = [JSON]
    if isinstance(exc, TooManyRequests):
        headers.append(("Retry-After", str(exc.retry_after)))
    if isinstance(exc, RangeNotSatisfiable):
        headers.append(("Content-Range", f"bytes */{exc.size}"))
    if request.method == "HEAD":
        headers.append(("Hdr-Error", body.decode()))
        return Response(status, headers, b"", content_length=0)
    return Response(status, headers, body)
