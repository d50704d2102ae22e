"""``azure`` (``az://``): Azure Blob Storage containers, on azure-storage-blob.

Where the account comes from, first match wins (contract §2.9 plus the SDK's usual variable):
``AzureSettings.connection_string``, ``AZURE_STORAGE_CONNECTION_STRING`` (what azurite documents), then
account + key (``AzureSettings`` or ``AZURE_STORAGE_ACCOUNT`` / ``AZURE_STORAGE_KEY``) at the endpoint
``AzureSettings.endpoint``, ``AIS_AZURE_URL``, or ``<AIS_AZURE_PROTO|https>://<account>.blob.core.windows.net``.
An account without a key is anonymous (public containers only).

The client is told to hold at most 4 MiB of a GET and 8 MiB of a PUT at once (its defaults are 32 and
64 MiB) and to retry a failed connection twice, a second apart, instead of its 15-second back-offs.
Azure has no server-side multipart upload: ``create_multipart`` names the staged blocks and
``complete_multipart`` commits them as one block list, so the upload id carries the metadata to commit
(it is opaque to the caller and no process keeps state for it).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import azure.core.exceptions as azure_errors
from azure.storage.blob import BlobBlock, BlobServiceClient, ContainerClient, ContentSettings, LinearRetry

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

from .bodies import iter_body, read_whole
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

MAX_PAGE_SIZE = 5000
_UNREACHABLE = (
    azure_errors.ServiceRequestError,
    azure_errors.ServiceResponseError,
    azure_errors.IncompleteReadError,
)


class AzureBackend(Backend):
    provider = "azure"
    supports_multipart = True

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self.azure = settings.azure
        self.endpoint = ""  # learned when the client is made (for error messages)
        self._client: LazyClient[BlobServiceClient] = LazyClient(
            self._make_client, lambda client: client.close()
        )

    def _make_client(self) -> BlobServiceClient:
        transport = self.transport
        options: dict[str, Any] = {
            "retry_policy": LinearRetry(
                backoff=1, retry_total=max(0, transport.max_attempts - 1), random_jitter_range=0
            ),
            "connection_timeout": transport.connect_timeout,
            "read_timeout": transport.read_timeout,
            "max_single_get_size": 2 * MiB,
            "max_chunk_get_size": 2 * MiB,
            "max_single_put_size": 8 * MiB,
            "max_block_size": 4 * MiB,
        }
        connection_string = self.azure.connection_string or os.environ.get(
            "AZURE_STORAGE_CONNECTION_STRING", ""
        )
        try:
            if connection_string:
                client = BlobServiceClient.from_connection_string(connection_string, **options)
            else:
                account = self.azure.account or os.environ.get("AZURE_STORAGE_ACCOUNT", "")
                key = self.azure.key or os.environ.get("AZURE_STORAGE_KEY", "")
                endpoint = self.azure.endpoint or os.environ.get("AIS_AZURE_URL", "")
                if not endpoint and not account:
                    raise Forbidden("az://: no Azure storage account is configured (AZURE_STORAGE_ACCOUNT)")
                if not endpoint:
                    endpoint = (
                        f"{os.environ.get('AIS_AZURE_PROTO') or 'https'}://{account}.blob.core.windows.net"
                    )
                credential = {"account_name": account, "account_key": key} if key else None
                client = BlobServiceClient(account_url=endpoint, credential=credential, **options)
        except ValueError as error:
            raise InvalidRequest(f"az://: the Azure connection settings are invalid ({error})") from error
        self.endpoint = str(client.url)
        return client

    @property
    def client(self) -> BlobServiceClient:
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    def _container(self, bucket: str) -> ContainerClient:
        return self.client.get_container_client(bucket)

    # --- objects -------------------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> RemoteObject:
        try:
            properties = self._container(bucket).get_blob_client(key).get_blob_properties()
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return _remote_object(key, properties, int(properties.size))

    def get(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> RemoteReader:
        if length == 0:
            return RemoteReader(self.head(bucket, key), offset, 0, iter(()), lambda: None)
        try:
            ranged = offset or length is not None  # the client wants an offset whenever a length is set
            downloader = self._container(bucket).download_blob(
                key, offset=offset if ranged else None, length=length, max_concurrency=1
            )
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        properties = downloader.properties
        content_range = str(properties.content_range or "")
        total = int(content_range.rpartition("/")[2]) if content_range else int(downloader.size)
        if offset and offset >= total:  # the client turns a range past the end into an empty download
            _release(downloader)
            raise RangeNotSatisfiable(f"{self.object_uri(bucket, key)}: range not satisfiable", total)
        chunks = translated_chunks(
            downloader.chunks(), lambda error: self._object_error(error, bucket, key), Exception
        )
        info = _remote_object(key, properties, total)
        return RemoteReader(info, offset, int(downloader.size), chunks, lambda: _release(downloader))

    def put(
        self,
        bucket: str,
        key: str,
        body: Body,
        size: int,
        custom: Mapping[str, str] | None = None,
        content_type: str = "",
    ) -> RemoteObject:
        blob = self._container(bucket).get_blob_client(key)
        try:
            answer = blob.upload_blob(
                iter_body(body, size),
                length=size,
                metadata=dict(custom or {}),
                content_settings=ContentSettings(content_type=content_type) if content_type else None,
                overwrite=True,
                max_concurrency=1,
            )
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        md5 = answer.get("content_md5")
        return RemoteObject(
            key,
            size,
            str(answer.get("etag") or "").strip('"'),
            str(answer.get("version_id") or ""),
            ns_from_datetime(answer.get("last_modified")),
            dict(custom or {}),
            content_type,
            md5=bytes(md5).hex() if md5 else "",
        )

    def delete(self, bucket: str, key: str) -> None:
        try:
            self._container(bucket).delete_blob(key)
        except Exception as error:
            raise self._object_error(error, bucket, key) from error

    def set_custom(self, bucket: str, key: str, custom: Mapping[str, str]) -> RemoteObject:
        try:
            self._container(bucket).get_blob_client(key).set_blob_metadata(dict(custom))
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return self.head(bucket, key)

    def list_page(self, bucket: str, prefix: str = "", token: str = "", page_size: int = 0) -> ListPage:
        limit = min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            pages = self._container(bucket).list_blobs(
                name_starts_with=prefix or None, results_per_page=limit
            )
            paged = pages.by_page(continuation_token=token or None)
            entries = [
                RemoteEntry(
                    item.name,
                    int(item.size),
                    str(item.etag or "").strip('"'),
                    str(item.version_id or ""),
                    ns_from_datetime(item.last_modified),
                )
                for item in next(paged, [])
            ]
        except Exception as error:
            raise self._translate(error, bucket) from error
        return ListPage(entries, str(getattr(paged, "continuation_token", None) or ""))

    # --- buckets -------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> RemoteBucket:
        try:
            self._container(bucket).get_container_properties()
        except Exception as error:
            raise self._translate(error, bucket) from error
        return RemoteBucket(bucket, False, "", {"endpoint": self.endpoint})

    def list_buckets(self) -> list[str]:
        try:
            return sorted(str(container.name) for container in self.client.list_containers())
        except Exception as error:
            raise self._translate(error, "") from error

    # --- multipart: staged blocks committed as one list ----------------------------------------
    def create_multipart(
        self, bucket: str, key: str, custom: Mapping[str, str] | None = None, content_type: str = ""
    ) -> str:
        self.head_bucket(bucket)  # fail now, not at the first part, when the container is missing
        commit = json.dumps({"custom": dict(custom or {}), "content_type": content_type}).encode()
        return f"{uuid.uuid4().hex}.{base64.urlsafe_b64encode(commit).decode()}"

    def upload_part(
        self, bucket: str, key: str, upload_id: str, part_number: int, body: Body, size: int
    ) -> str:
        block_id = _block_id(upload_id, part_number)
        try:
            self._container(bucket).get_blob_client(key).stage_block(
                block_id, read_whole(body, size), length=size
            )
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return block_id

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> RemoteObject:
        _, _, encoded = upload_id.partition(".")
        try:
            commit = json.loads(base64.urlsafe_b64decode(encoded))
        except ValueError as error:
            raise InvalidRequest(f"{self.object_uri(bucket, key)}: invalid upload id") from error
        content_type = str(commit.get("content_type") or "")
        blocks = [BlobBlock(block_id=_block_id(upload_id, number)) for number, _ in parts]
        try:
            self._container(bucket).get_blob_client(key).commit_block_list(
                blocks,
                metadata=commit.get("custom") or None,
                content_settings=ContentSettings(content_type=content_type) if content_type else None,
            )
        except Exception as error:
            raise self._object_error(error, bucket, key) from error
        return self.head(bucket, key)

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        """Nothing to do: Azure drops uncommitted blocks by itself (at the next commit, or after a week)."""

    # --- errors --------------------------------------------------------------------------------
    def _object_error(self, error: Exception, bucket: str, key: str) -> Exception:
        translated = self._translate(error, bucket, key)
        if isinstance(translated, RangeNotSatisfiable):
            return RangeNotSatisfiable(translated.message, self.head(bucket, key).size)
        return translated

    def _translate(self, error: Exception, bucket: str, key: str = "") -> Exception:
        if isinstance(error, StrataError):
            return error
        uri = self.object_uri(bucket, key) if key else self.bucket_uri(bucket)
        if isinstance(error, _UNREACHABLE):
            return BackendUnreachable(
                "azure", self.endpoint, str(error).splitlines()[0] if str(error) else repr(error)
            )
        if isinstance(error, azure_errors.HttpResponseError):
            status = int(error.status_code or 0)
            raw_code = getattr(error, "error_code", None)
            code = str(getattr(raw_code, "value", raw_code) or "")  # an enum, or text
            reason = code or str(error.reason or status)
            if code == "ContainerNotFound":
                return BucketNotFound(self.bucket_uri(bucket))
            if status == 404:
                return ObjectNotFound(uri) if key else BucketNotFound(uri)
            if status in (401, 403) or isinstance(error, azure_errors.ClientAuthenticationError):
                return Forbidden(f"{uri}: the azure backend refused the credentials or access ({reason})")
            if status == 416:
                return RangeNotSatisfiable(f"{uri}: range not satisfiable", 0)
            if status == 412:
                return PreconditionFailed(f"{uri}: the object changed while being read ({reason})")
            if status == 429:
                return TooManyRequests(f"{uri}: the azure backend is throttling requests")
            if status == 503:
                return ServiceUnavailable(f"{uri}: the azure backend is unavailable ({reason})")
            if 400 <= status < 500:
                return InvalidRequest(f"{uri}: the azure backend refused the request ({reason})")
            return FailedDependency(f"{uri}: the azure backend answered {status} ({reason})")
        return FailedDependency(f"{uri}: the azure backend failed: {error!r}")


def _release(downloader: Any) -> None:
    """Close the response the client keeps unread when there is nothing to stream (an empty blob, a range
    past the end): left alone, its connection never goes back to the pool and its socket is only closed
    by the garbage collector. Once the body was read this does nothing."""
    response = getattr(getattr(downloader, "_response", None), "response", None)
    internal = getattr(response, "internal_response", None)
    if internal is not None:
        internal.close()


def _block_id(upload_id: str, part_number: int) -> str:
    """Block ids of one blob must all have the same length: the upload's uuid and a 5-digit part."""
    return base64.b64encode(f"{upload_id[:32]}{part_number:05d}".encode()).decode()


def _remote_object(key: str, properties: Any, size: int) -> RemoteObject:
    settings = properties.content_settings
    md5 = getattr(settings, "content_md5", None) if settings is not None else None
    return RemoteObject(
        name=key,
        size=size,
        etag=str(properties.etag or "").strip('"'),
        version=str(getattr(properties, "version_id", None) or ""),
        last_modified_ns=ns_from_datetime(properties.last_modified),
        custom={str(k): str(v) for k, v in (properties.metadata or {}).items()},
        content_type=str(getattr(settings, "content_type", "") or "") if settings is not None else "",
        md5=bytes(md5).hex() if md5 else "",
    )
