"""``gcp`` (``gs://``): Google Cloud Storage, on google-cloud-storage.

Credentials the ordinary way (``GOOGLE_APPLICATION_CREDENTIALS``, or the machine's default account), or
per bucket ``extra.gcp.application_creds`` (a service account JSON file, which wins). The project is
``GOOGLE_CLOUD_PROJECT`` or the credentials'. ``STORAGE_EMULATOR_HOST`` (read by the client itself) or
``GcpSettings.endpoint`` points at an emulator; with an endpoint and no credentials file the client is
anonymous, as emulators expect.

A GET is a HEAD (for the generation, size and metadata) and then ranged reads of ``WINDOW`` bytes,
each pinned to that generation (``ifGenerationMatch``): an object replaced mid-read fails with 412
instead of handing out a mix of two versions. Bytes are read raw, never gunzipped by the client, so a
``Content-Encoding: gzip`` object is cached as it is stored.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator, Mapping
from typing import Any

import google.api_core.exceptions as api_errors
import google.auth.exceptions as auth_errors
import requests
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from strata.core.errors import (
    BackendUnreachable,
    BucketNotFound,
    FailedDependency,
    Forbidden,
    InvalidRequest,
    ObjectNotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    ServiceUnavailable,
    StrataError,
    TooManyRequests,
)

from .bodies import open_body
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

WINDOW = 8 * MiB  # bytes per ranged read of a GET
UPLOAD_CHUNK = 8 * MiB  # resumable upload chunk (a multiple of 256 KiB); smaller bodies go in one request
MAX_PAGE_SIZE = 1000
_UNREACHABLE = (
    requests.ConnectionError,
    requests.Timeout,
    auth_errors.TransportError,
    ConnectionError,
    TimeoutError,
)


class GcpBackend(Backend):
    provider = "gcp"

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self.gcp = settings.gcp
        self.endpoint = self.gcp.endpoint or os.environ.get("STORAGE_EMULATOR_HOST", "")
        transport = self.transport
        self._timeout = (transport.connect_timeout, transport.read_timeout)
        self._retry: Retry = DEFAULT_RETRY.with_timeout(transport.retry_deadline).with_delay(
            initial=0.2, maximum=2.0, multiplier=2.0
        )
        self._client: LazyClient[storage.Client] = LazyClient(
            self._make_client, lambda client: client.close()
        )

    def _make_client(self) -> storage.Client:
        project = self.gcp.project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        options = {"api_endpoint": self.gcp.endpoint} if self.gcp.endpoint else None
        try:
            if self.gcp.application_creds:
                return storage.Client.from_service_account_json(
                    self.gcp.application_creds, project=project, client_options=options
                )
            anonymous = self.gcp.endpoint and not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
            credentials = AnonymousCredentials() if anonymous else None  # type: ignore[no-untyped-call]
            return storage.Client(project=project, credentials=credentials, client_options=options)
        except (auth_errors.DefaultCredentialsError, OSError, ValueError) as error:
            raise Forbidden(f"gs://: no usable GCP credentials ({error})") from error

    @property
    def client(self) -> storage.Client:
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    # --- objects -------------------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> RemoteObject:
        blob = self.client.bucket(bucket).blob(key)
        try:
            blob.reload(retry=self._retry, timeout=self._timeout)
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return _remote_object(blob)

    def get(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> RemoteReader:
        info = self.head(bucket, key)
        if offset >= info.size and (offset > 0 or length):
            raise RangeNotSatisfiable(f"{self.object_uri(bucket, key)}: range not satisfiable", info.size)
        end = info.size if length is None else min(info.size, offset + length)
        blob = self.client.bucket(bucket).blob(key)
        chunks = translated_chunks(
            self._windows(blob, offset, end, int(info.version or 0)),
            lambda error: self._object_error(error, bucket, key),
            Exception,
        )
        return RemoteReader(info, offset, end - offset, chunks, lambda: None)

    def _windows(self, blob: storage.Blob, start: int, end: int, generation: int) -> Iterator[bytes]:
        for window_start in range(start, end, WINDOW):
            window_end = min(end, window_start + WINDOW) - 1  # inclusive, as the client wants it
            yield blob.download_as_bytes(
                start=window_start,
                end=window_end,
                raw_download=True,
                checksum=None,  # a range has no whole-object checksum to check against
                if_generation_match=generation or None,
                retry=self._retry,
                timeout=self._timeout,
            )

    def put(
        self,
        bucket: str,
        key: str,
        body: Body,
        size: int,
        custom: Mapping[str, str] | None = None,
        content_type: str = "",
    ) -> RemoteObject:
        blob = self.client.bucket(bucket).blob(key, chunk_size=UPLOAD_CHUNK)
        blob.metadata = dict(custom or {}) or None
        try:
            blob.upload_from_file(
                open_body(body, size),
                size=size,
                rewind=False,
                content_type=content_type or None,
                retry=None,  # a streamed body cannot be sent twice
                timeout=self._timeout,
            )
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return _remote_object(blob)

    def delete(self, bucket: str, key: str) -> None:
        try:
            self.client.bucket(bucket).blob(key).delete(retry=self._retry, timeout=self._timeout)
        except Exception as error:
            raise self._object_error(error, bucket, key) from error

    def set_custom(self, bucket: str, key: str, custom: Mapping[str, str]) -> RemoteObject:
        """A metadata patch: keys no longer wanted are sent as null (GCS merges a patch)."""
        blob = self.client.bucket(bucket).blob(key)
        try:
            blob.reload(retry=self._retry, timeout=self._timeout)
            dropped: dict[str, str | None] = {
                name: None for name in blob.metadata or {} if name not in custom
            }
            blob.metadata = {**dropped, **custom}
            blob.patch(retry=self._retry, timeout=self._timeout)
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return _remote_object(blob)

    def list_page(self, bucket: str, prefix: str = "", token: str = "", page_size: int = 0) -> ListPage:
        try:
            iterator = self.client.list_blobs(
                bucket,
                prefix=prefix or None,
                page_size=min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE),
                page_token=token or None,
                retry=self._retry,
                timeout=self._timeout,
            )
            page = next(iterator.pages)
            entries = [
                RemoteEntry(
                    blob.name,
                    int(blob.size or 0),
                    blob.etag or "",
                    str(blob.generation or ""),
                    ns_from_datetime(blob.updated),
                )
                for blob in page
            ]
        except Exception as error:
            raise self._translate(error, bucket) from error
        return ListPage(entries, iterator.next_page_token or "")

    # --- buckets -------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> RemoteBucket:
        try:
            found = self.client.get_bucket(bucket, retry=self._retry, timeout=self._timeout)
        except Exception as error:
            raise self._translate(error, bucket) from error
        location = str(found.location or "")
        return RemoteBucket(
            bucket, bool(found.versioning_enabled), location, {"location": location} if location else {}
        )

    def list_buckets(self) -> list[str]:
        try:
            return sorted(
                found.name for found in self.client.list_buckets(retry=self._retry, timeout=self._timeout)
            )
        except Exception as error:
            raise self._translate(error, "") from error

    # --- errors --------------------------------------------------------------------------------
    def _object_error(self, error: Exception, bucket: str, key: str) -> Exception:
        """A 404 on an object: GCS's text is not reliable across servers, so ask whether the bucket exists."""
        translated = self._translate(error, bucket, key)
        if isinstance(translated, ObjectNotFound):
            try:
                exists = self.client.bucket(bucket).exists(retry=self._retry, timeout=self._timeout)
            except Exception:
                exists = True  # the object's 404 stands
            if not exists:
                return BucketNotFound(self.bucket_uri(bucket))
        return translated

    def _translate(self, error: Exception, bucket: str, key: str = "") -> Exception:
        if isinstance(error, StrataError):
            return error
        uri = self.object_uri(bucket, key) if key else self.bucket_uri(bucket)
        if isinstance(error, api_errors.RetryError) and error.cause is not None:
            return self._translate(error.cause, bucket, key)
        if isinstance(error, _UNREACHABLE):
            return BackendUnreachable("gcp", self.endpoint, str(error))
        if isinstance(error, auth_errors.GoogleAuthError):
            return Forbidden(f"{uri}: the gcp backend refused the credentials ({error})")
        if isinstance(error, api_errors.GoogleAPICallError):
            status, message = int(error.code or 0), str(error.message)
            if status == 404:
                return ObjectNotFound(uri) if key else BucketNotFound(uri)
            if status in (401, 403):
                return Forbidden(f"{uri}: the gcp backend refused the credentials or access ({message})")
            if status == 412:
                return PreconditionFailed(f"{uri}: the object changed while being read ({message})")
            if status == 429:
                return TooManyRequests(f"{uri}: the gcp backend is throttling requests")
            if status == 503:
                return ServiceUnavailable(f"{uri}: the gcp backend is unavailable ({message})")
            if 400 <= status < 500:
                return InvalidRequest(f"{uri}: the gcp backend refused the request ({message})")
            return FailedDependency(f"{uri}: the gcp backend answered {status} ({message})")
        return FailedDependency(f"{uri}: the gcp backend failed: {error!r}")


def _hex_of(value: str | None) -> str:
    """GCS sends MD5 and CRC32C base64-encoded; AIS keeps hex."""
    if not value:
        return ""
    try:
        return base64.b64decode(value).hex()
    except (binascii.Error, ValueError):
        return ""


def _remote_object(blob: Any) -> RemoteObject:
    return RemoteObject(
        name=str(blob.name),
        size=int(blob.size or 0),
        etag=str(blob.etag or ""),
        version=str(blob.generation or ""),
        last_modified_ns=ns_from_datetime(blob.updated),
        custom={str(k): str(v) for k, v in (blob.metadata or {}).items() if v is not None},  # null: removed
        content_type=str(blob.content_type or ""),
        md5=_hex_of(blob.md5_hash),
        crc32c=_hex_of(blob.crc32c),
    )
