"""S3 errors: one exception carrying S3's code and status, and the mapping from Strata's error tree.

S3 clients branch on the ``<Code>`` of the XML error (``NoSuchKey``, ``BucketNotEmpty``...), and on the
status for retries: boto3 retries 500/502/503/504 and a few codes. So a client mistake must never be
answered as 5xx, and the code must be S3's exact spelling. Handlers raise ``S3Error`` where S3 has a
specific code; everything the storage layer raises (``strata.core.errors``) is translated by ``to_s3_error``.
"""

from __future__ import annotations

import msgspec

from strata.core.errors import (
    BucketAlreadyExists,
    BucketNotFound,
    Conflict,
    Forbidden,
    InsufficientStorage,
    InvalidName,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    NotImplementedYet,
    ObjectCorrupted,
    ObjectNotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RangeNotSatisfiable,
    ServiceUnavailable,
    StrataError,
    TooManyRequests,
    Unauthorized,
)


class S3Error(Exception):
    """An S3 error reply: ``code`` as S3 spells it, HTTP ``status``, a human message, extra XML fields."""

    def __init__(self, code: str, message: str, status: int = 400, **extra: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra
        self.headers: list[tuple[str, str]] = []


def access_denied(message: str = "Access Denied") -> S3Error:
    return S3Error("AccessDenied", message, 403)


def signature_mismatch(access_key: str, **detail: str) -> S3Error:
    """The signature did not verify; ``detail`` adds what AWS returns to help debug it (SigV4)."""
    return S3Error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
        AWSAccessKeyId=access_key,
        **detail,
    )


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed.",
        404,
        UploadId=upload_id,
    )


def invalid_argument(message: str, name: str = "", value: str = "") -> S3Error:
    extra = {"ArgumentName": name, "ArgumentValue": value} if name else {}
    return S3Error("InvalidArgument", message, 400, **extra)


def malformed_xml() -> S3Error:
    return S3Error(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )


def not_implemented(what: str) -> S3Error:
    return S3Error("NotImplemented", f"{what} is not implemented", 501)


def to_s3_error(exc: BaseException, bucket: str = "", key: str = "") -> S3Error:
    """The S3 reply for any exception a handler let through (unexpected ones become InternalError)."""
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, BucketNotFound):
        return no_such_bucket(bucket)
    if isinstance(exc, ObjectNotFound):
        return no_such_key(key)
    if isinstance(exc, BucketAlreadyExists):
        return S3Error("BucketAlreadyExists", "The requested bucket name is not available.", 409)
    if isinstance(exc, InvalidName):
        if key:
            return S3Error("KeyTooLongError" if "too long" in exc.message else "InvalidArgument", exc.message)
        return S3Error("InvalidBucketName", exc.message, BucketName=bucket)
    if isinstance(exc, RangeNotSatisfiable):
        error = S3Error("InvalidRange", "The requested range is not satisfiable", 416)
        error.headers.append(("Content-Range", f"bytes */{exc.size}"))
        return error
    if isinstance(exc, PreconditionFailed):
        return S3Error(
            "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412
        )
    if isinstance(exc, PayloadTooLarge):
        return S3Error("EntityTooLarge", exc.message, 400)
    if isinstance(exc, (Forbidden, Unauthorized)):  # S3 answers every auth failure 403 (wave-2 spec 1.3)
        return access_denied(exc.message)
    if isinstance(exc, ObjectCorrupted):
        return S3Error("ObjectCorrupted", exc.message, exc.status)
    if isinstance(exc, NotImplementedYet):
        return S3Error("NotImplemented", exc.message, 501)
    if isinstance(exc, MethodNotAllowed):
        return S3Error("MethodNotAllowed", exc.message, 405)
    if isinstance(exc, TooManyRequests):
        return S3Error("SlowDown", exc.message, 503)
    if isinstance(exc, InsufficientStorage):
        return S3Error("InsufficientStorage", exc.message, 507)
    if isinstance(exc, Conflict):
        return S3Error("OperationAborted", exc.message, 409)
    if isinstance(exc, NotFound):
        return S3Error("NoSuchKey" if key else "NoSuchBucket", exc.message, 404)
    if isinstance(exc, InvalidRequest):
        return S3Error("InvalidRequest", exc.message, 400)
    if isinstance(exc, (msgspec.DecodeError, msgspec.ValidationError)):
        return S3Error("InvalidRequest", str(exc), 400)
    if isinstance(exc, ServiceUnavailable):  # no target, or a target that did not answer: retry later
        return S3Error("ServiceUnavailable", exc.message, 503)
    if isinstance(exc, StrataError):
        return S3Error("InternalError", exc.message, 500)
    return S3Error("InternalError", "We encountered an internal error. Please try again.", 500)
