"""``aws`` (``s3://``): Amazon S3 and S3-compatible stores, on boto3.

Credentials and endpoint come the ordinary AWS way (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, the shared ``config``/``credentials`` files, ``AWS_REGION``,
``AWS_ENDPOINT_URL``), with the contract's additions (§2.9): ``S3_ENDPOINT`` as a cluster-wide endpoint,
``AIS_S3_CONFIG_DIR`` as the directory of the shared files, and per bucket ``extra.aws.profile`` /
``endpoint`` / ``cloud_region`` (``AwsSettings``), which win over the environment.

Two client choices are deliberate: checksums are computed only where S3 requires them
(``when_required``), since S3-compatible stores (Strata's own ``/s3`` included) do not all accept the
newer CRC trailers; and a custom endpoint is addressed path-style (``http://host/bucket/key``),
since ``bucket.localhost`` does not resolve.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

from strata.core.errors import (
    BackendUnreachable,
    BucketNotFound,
    FailedDependency,
    Forbidden,
    InvalidRequest,
    NotFound,
    ObjectNotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    ServiceUnavailable,
    StrataError,
    TooManyRequests,
)

from .bodies import CHUNK_SIZE, open_body, read_whole
from .interface import (
    Backend,
    Body,
    ListPage,
    RemoteBucket,
    RemoteEntry,
    RemoteObject,
    RemoteReader,
    ns_from_datetime,
    translated_chunks,
)
from .lazy_client import LazyClient
from .settings import BackendSettings, MiB

DEFAULT_PART_SIZE = 16 * MiB
MAX_PARTS = 10_000
MAX_PAGE_SIZE = 1000
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}


class AwsBackend(Backend):
    provider = "aws"
    supports_multipart = True

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self.aws = settings.aws
        self.endpoint = self.aws.endpoint or os.environ.get("S3_ENDPOINT", "")
        self._client: LazyClient[Any] = LazyClient(self._make_client, lambda client: client.close())

    # --- the client ----------------------------------------------------------------------------
    def _make_client(self) -> Any:
        session = botocore.session.Session()
        config_dir = self.aws.config_dir or os.environ.get("AIS_S3_CONFIG_DIR", "")
        if config_dir:
            session.set_config_variable("config_file", os.path.join(config_dir, "config"))
            session.set_config_variable("credentials_file", os.path.join(config_dir, "credentials"))
        try:
            boto_session = boto3.Session(botocore_session=session, profile_name=self.aws.profile or None)
        except botocore.exceptions.ProfileNotFound as error:
            raise InvalidRequest(
                f'extra.aws.profile: AWS profile "{self.aws.profile}" is not configured'
            ) from error
        transport = self.transport
        config = botocore.config.Config(
            connect_timeout=transport.connect_timeout,
            read_timeout=transport.read_timeout,
            retries={"max_attempts": transport.max_attempts, "mode": "standard"},
            max_pool_connections=64,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if self.endpoint else None,
        )
        return boto_session.client(
            "s3",
            endpoint_url=self.endpoint or None,  # None: boto3 reads AWS_ENDPOINT_URL and the profile itself
            region_name=self.aws.region or boto_session.region_name or "us-east-1",
            config=config,
        )

    def close(self) -> None:
        self._client.close()

    @property
    def client(self) -> Any:
        return self._client.get()

    # --- objects -------------------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> RemoteObject:
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return _remote_object(key, response, int(response["ContentLength"]))

    def get(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> RemoteReader:
        if length == 0:
            return RemoteReader(self.head(bucket, key), offset, 0, iter(()), lambda: None)
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if offset or length is not None:
            request["Range"] = f"bytes={offset}-" + ("" if length is None else str(offset + length - 1))
        try:
            response = self.client.get_object(**request)
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        content_range = response.get("ContentRange") or ""
        total = int(content_range.rpartition("/")[2]) if content_range else int(response["ContentLength"])
        body = response["Body"]
        chunks = translated_chunks(
            body.iter_chunks(CHUNK_SIZE),
            lambda error: self._translate(error, bucket, key),
            botocore.exceptions.BotoCoreError,
            OSError,
        )
        info = _remote_object(key, response, total)
        return RemoteReader(info, offset, int(response["ContentLength"]), chunks, body.close)

    def put(
        self,
        bucket: str,
        key: str,
        body: Body,
        size: int,
        custom: Mapping[str, str] | None = None,
        content_type: str = "",
    ) -> RemoteObject:
        part_size = self._part_size(size)
        extra: dict[str, Any] = {"Metadata": dict(custom or {})}
        if content_type:
            extra["ContentType"] = content_type
        reader = open_body(body, size)
        if part_size == 0:
            data = read_whole(reader, size)
            try:
                response = self.client.put_object(
                    Bucket=bucket, Key=key, Body=data, ContentLength=size, **extra
                )
            except Exception as error:
                raise self._object_error(error, bucket, key) from error
            etag = str(response.get("ETag", "")).strip('"')
            version = _version(response.get("VersionId"))
            return RemoteObject(  # S3 answers a PUT with no date: last_modified_ns stays 0 (unknown)
                key,
                size,
                etag,
                version,
                custom=dict(custom or {}),
                content_type=content_type,
                md5=_md5_of(etag),
            )
        upload_id = self.create_multipart(bucket, key, custom, content_type)
        try:
            parts: list[tuple[int, str]] = []
            for number in range(1, -(-size // part_size) + 1):
                count = min(part_size, size - (number - 1) * part_size)
                parts.append(
                    (number, self.upload_part(bucket, key, upload_id, number, reader.read(count), count))
                )
            return self.complete_multipart(bucket, key, upload_id, parts)
        except BaseException:
            try:
                self.abort_multipart(bucket, key, upload_id)
            except StrataError:
                pass  # the first error is the one to report; S3 lifecycle rules reap leftovers
            raise

    def delete(self, bucket: str, key: str) -> None:
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as error:
            raise self._object_error(error, bucket, key) from error

    def set_custom(self, bucket: str, key: str, custom: Mapping[str, str]) -> RemoteObject:
        """S3 keeps user metadata with the bytes: the object is copied onto itself with the new set
        (server-side, keeping its content type)."""
        found = self.head(bucket, key)
        try:
            self.client.copy_object(
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": bucket, "Key": key},
                Metadata=dict(custom),
                MetadataDirective="REPLACE",
                ContentType=found.content_type or "binary/octet-stream",
            )
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return self.head(bucket, key)

    def list_page(self, bucket: str, prefix: str = "", token: str = "", page_size: int = 0) -> ListPage:
        limit = min(
            page_size or self.aws.max_pagesize or MAX_PAGE_SIZE, self.aws.max_pagesize or MAX_PAGE_SIZE
        )
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": limit}
        if token:
            request["ContinuationToken"] = token
        try:
            response = self.client.list_objects_v2(**request)
        except Exception as error:
            raise self._translate(error, bucket) from error
        entries = [
            RemoteEntry(
                item["Key"],
                int(item["Size"]),
                str(item.get("ETag", "")).strip('"'),
                "",
                ns_from_datetime(item.get("LastModified")),
            )
            for item in response.get("Contents", ())
        ]
        return ListPage(
            entries, str(response.get("NextContinuationToken") or "") if response.get("IsTruncated") else ""
        )

    # --- buckets -------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> RemoteBucket:
        try:
            response = self.client.head_bucket(Bucket=bucket)
        except Exception as error:
            raise self._translate(error, bucket) from error
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        region = str(response.get("BucketRegion") or headers.get("x-amz-bucket-region") or "")
        try:
            versioning = self.client.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
        except botocore.exceptions.ClientError:
            versioning = False  # not allowed to ask: treat as unversioned, as AIS does
        except Exception as error:
            raise self._translate(error, bucket) from error
        props = {"cloud_region": region, "endpoint": self.endpoint, "profile": self.aws.profile}
        return RemoteBucket(bucket, versioning, region, {k: v for k, v in props.items() if v})

    def list_buckets(self) -> list[str]:
        try:
            response = self.client.list_buckets()
        except Exception as error:
            raise self._translate(error, "") from error
        return sorted(str(item["Name"]) for item in response.get("Buckets", ()))

    # --- multipart -----------------------------------------------------------------------------
    def create_multipart(
        self, bucket: str, key: str, custom: Mapping[str, str] | None = None, content_type: str = ""
    ) -> str:
        extra: dict[str, Any] = {"Metadata": dict(custom or {})}
        if content_type:
            extra["ContentType"] = content_type
        try:
            return str(self.client.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"])
        except Exception as error:
            raise self._object_error(error, bucket, key) from error

    def upload_part(
        self, bucket: str, key: str, upload_id: str, part_number: int, body: Body, size: int
    ) -> str:
        data = read_whole(body, size)
        try:
            response = self.client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=part_number,
                Body=data,
                ContentLength=size,
            )
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return str(response["ETag"]).strip('"')

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> RemoteObject:
        listed = [{"PartNumber": number, "ETag": f'"{etag}"'} for number, etag in parts]
        try:
            response = self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        stored = self.head(bucket, key)  # S3 answers no size or date for the assembled object
        etag = str(response.get("ETag", "")).strip('"') or stored.etag
        version = _version(response.get("VersionId")) or stored.version
        return RemoteObject(
            key,
            stored.size,
            etag,
            version,
            stored.last_modified_ns,
            stored.custom,
            stored.content_type,
            stored.md5,
        )

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as error:
            raise self._object_error(error, bucket, key) from error

    # --- helpers -------------------------------------------------------------------------------
    def _part_size(self, size: int) -> int:
        """0 = one PUT; else the part size (at most 10,000 parts, S3's limit)."""
        setting = self.aws.multipart_size
        part_size = setting if setting > 0 else DEFAULT_PART_SIZE
        if setting < 0 or size <= part_size:
            return 0
        return max(part_size, -(-size // MAX_PARTS))

    def _object_error(self, error: Exception, bucket: str, key: str) -> Exception:
        """An object call failed: a bare 404 (HEAD has no body) is told apart with a HEAD bucket."""
        translated = self._translate(error, bucket, key)
        if isinstance(translated, ObjectNotFound) and _code(error) in {"404", "NotFound"}:
            try:
                self.client.head_bucket(Bucket=bucket)
            except botocore.exceptions.ClientError as bucket_error:
                if _status(bucket_error) == 404:
                    return BucketNotFound(self.bucket_uri(bucket))
            except Exception:
                pass  # the object's 404 stands
        if isinstance(translated, RangeNotSatisfiable):
            return RangeNotSatisfiable(translated.message, self.head(bucket, key).size)
        return translated

    def _translate(self, error: Exception, bucket: str, key: str = "") -> Exception:
        """A boto3/botocore error as the Strata error that says the same (see ``interface``)."""
        if isinstance(error, StrataError):
            return error
        uri = self.object_uri(bucket, key) if key else self.bucket_uri(bucket)
        if isinstance(error, botocore.exceptions.ClientError):
            status, code = _status(error), _code(error)
            message = str(error.response.get("Error", {}).get("Message") or code)
            if code == "NoSuchBucket":
                return BucketNotFound(self.bucket_uri(bucket))
            if code == "NoSuchUpload":
                return NotFound(f"{uri}: no such multipart upload")
            if code in _NOT_FOUND_CODES or status == 404:
                return ObjectNotFound(uri) if key else BucketNotFound(uri)
            if status in (401, 403):
                return Forbidden(
                    f"{uri}: the aws backend refused the credentials or access ({code}: {message})"
                )
            if status == 416 or code == "InvalidRange":
                return RangeNotSatisfiable(f"{uri}: range not satisfiable", 0)
            if status == 412:
                return PreconditionFailed(f"{uri}: {message}")
            if status == 429 or code in _THROTTLE_CODES:
                return TooManyRequests(f"{uri}: the aws backend is throttling requests ({code})")
            if status == 503:
                return ServiceUnavailable(f"{uri}: the aws backend is unavailable ({code}: {message})")
            if 400 <= status < 500:
                return InvalidRequest(f"{uri}: the aws backend refused the request ({code}: {message})")
            return FailedDependency(f"{uri}: the aws backend answered {status} ({code}: {message})")
        if isinstance(
            error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
        ):
            return Forbidden(f"{uri}: no usable AWS credentials ({error})")
        if isinstance(
            error, botocore.exceptions.HTTPClientError | botocore.exceptions.ConnectionError | OSError
        ):
            return BackendUnreachable(
                "aws", self.endpoint or os.environ.get("AWS_ENDPOINT_URL", ""), str(error)
            )
        if isinstance(error, botocore.exceptions.ParamValidationError):
            return InvalidRequest(f"{uri}: {error}")
        return FailedDependency(f"{uri}: the aws backend failed: {error}")


def _status(error: botocore.exceptions.ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code") or "")
    return ""


def _version(version_id: Any) -> str:
    """S3's version id; "null" (an object written while versioning was off or suspended) is none."""
    text = str(version_id or "")
    return "" if text == "null" else text


def _md5_of(etag: str) -> str:
    """S3's ETag is the MD5 of the bytes for a single-part upload (32 hex digits, no ``-N``)."""
    return etag if len(etag) == 32 and "-" not in etag else ""


def _remote_object(key: str, response: Mapping[str, Any], size: int) -> RemoteObject:
    etag = str(response.get("ETag", "")).strip('"')
    return RemoteObject(
        name=key,
        size=size,
        etag=etag,
        version=_version(response.get("VersionId")),
        last_modified_ns=ns_from_datetime(response.get("LastModified")),
        custom={str(k): str(v) for k, v in (response.get("Metadata") or {}).items()},
        content_type=str(response.get("ContentType") or ""),
        md5=_md5_of(etag),
    )
