"""``ht`` (``ht://``): objects read from a plain HTTP(S) origin, on urllib3. Read-only.

An ``ht`` bucket stands for one origin directory: ``extra.http.original_url`` (``scheme://host/dir/``)
is the base every object name is joined to (an object name that is itself an absolute URL, as AIS's
``?original_url=`` carries, is used as it is). HEAD and GET only: PUT, DELETE, multipart and listing
answer 405 at once, since an HTTP origin offers no way to do them.

Origins vary, so this is lenient where it can be exact: an origin that does not answer HEAD (405/501)
is asked for one byte with GET instead, and one that ignores ``Range`` (Python's ``http.server`` does)
answers 200 with the whole body, from which the asked range is cut while streaming. A size the origin
does not tell (no ``Content-Length``, no ``Content-Range``) is -1. Bytes are passed on as sent
(``Accept-Encoding: identity``, never decoded).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

import urllib3

from strata.core.errors import (
    BackendUnreachable,
    BucketNotFound,
    FailedDependency,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    ObjectNotFound,
    RangeNotSatisfiable,
    ServiceUnavailable,
    TooManyRequests,
)

from .http_pool import UNREACHABLE, body_chunks, make_pool, release
from .interface import (
    Backend,
    Body,
    ListPage,
    RemoteBucket,
    RemoteObject,
    RemoteReader,
    ns_from_http_date,
    translated_chunks,
)
from .lazy_client import LazyClient
from .settings import BackendSettings

_SAFE_IN_PATH = "/%:@!$&'()*+,;=~"  # an object name is a URL path: keep its separators and escapes


class HttpBackend(Backend):
    provider = "ht"
    read_only = True

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self.base_url = settings.http.original_url
        self._pool: LazyClient[urllib3.PoolManager] = LazyClient(
            lambda: make_pool(self.transport, {"Accept-Encoding": "identity"}), lambda pool: pool.clear()
        )

    def close(self) -> None:
        self._pool.close()

    def url_of(self, key: str) -> str:
        if key.startswith(("http://", "https://")):
            return key
        if not self.base_url:
            raise InvalidRequest(f'ht:// object "{key}": the bucket has no extra.http.original_url')
        return self.base_url.rstrip("/") + "/" + urllib.parse.quote(key, safe=_SAFE_IN_PATH)

    def _request(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.get().request(method, url, headers=dict(headers or {}), preload_content=False)
        except UNREACHABLE as error:
            raise BackendUnreachable("ht", url, str(error)) from error

    # --- objects -------------------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> RemoteObject:
        url = self.url_of(key)
        response = self._request("HEAD", url)
        release(response)
        if response.status in (405, 501):  # no HEAD here: one byte of a GET tells the same
            with self.get(bucket, key, 0, 1) as reader:
                return reader.info
        self._check(response, bucket, key)
        return _remote_object(key, response, _int(response.headers.get("Content-Length")))

    def get(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> RemoteReader:
        if length == 0:
            return RemoteReader(self.head(bucket, key), offset, 0, iter(()), lambda: None)
        url = self.url_of(key)
        headers = {}
        if offset or length is not None:
            headers["Range"] = f"bytes={offset}-" + ("" if length is None else str(offset + length - 1))
        response = self._request("GET", url, headers)
        if response.status == 416:
            release(response)
            total = _int(str(response.headers.get("Content-Range", "")).rpartition("/")[2])
            raise RangeNotSatisfiable(f"{self.object_uri(bucket, key)}: range not satisfiable", max(total, 0))
        try:
            self._check(response, bucket, key)
        except Exception:
            release(response)
            raise
        sent = _int(response.headers.get("Content-Length"))
        if response.status == 206:
            total = _int(str(response.headers.get("Content-Range", "")).rpartition("/")[2])
            chunks = body_chunks(response)
        else:  # the whole object: cut the range out here
            total = sent
            if total >= 0 and offset >= total and (offset or length):
                release(response)
                raise RangeNotSatisfiable(f"{self.object_uri(bucket, key)}: range not satisfiable", total)
            chunks = body_chunks(response, skip=offset, limit=length)
            if total >= 0:
                sent = min(total - offset, length if length is not None else total)
        guarded = translated_chunks(
            chunks, lambda error: BackendUnreachable("ht", url, str(error)), *UNREACHABLE
        )
        return RemoteReader(
            _remote_object(key, response, total), offset, sent, guarded, lambda: release(response)
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
        raise MethodNotAllowed(f"{self.object_uri(bucket, key)}: the ht backend is read-only (no PUT)")

    def delete(self, bucket: str, key: str) -> None:
        raise MethodNotAllowed(f"{self.object_uri(bucket, key)}: the ht backend is read-only (no DELETE)")

    def set_custom(self, bucket: str, key: str, custom: Mapping[str, str]) -> RemoteObject:
        raise MethodNotAllowed(f"{self.object_uri(bucket, key)}: the ht backend is read-only (no metadata)")

    def list_page(self, bucket: str, prefix: str = "", token: str = "", page_size: int = 0) -> ListPage:
        raise MethodNotAllowed(f"{self.bucket_uri(bucket)}: an HTTP origin cannot be listed")

    # --- buckets -------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> RemoteBucket:
        """The origin answers at its base URL (any answer but 404 and 5xx: a directory may well be 403)."""
        if not self.base_url:
            raise InvalidRequest(f"{self.bucket_uri(bucket)}: the bucket has no extra.http.original_url")
        response = self._request("HEAD", self.base_url)
        release(response)
        if response.status in (404, 410):
            raise BucketNotFound(self.bucket_uri(bucket))
        if response.status >= 500:
            self._check(response, bucket, "")
        return RemoteBucket(bucket, False, "", {"original_url": self.base_url})

    def list_buckets(self) -> list[str]:
        return []  # an origin has no bucket list; ht buckets exist in the BMD only

    # --- errors --------------------------------------------------------------------------------
    def _check(self, response: urllib3.BaseHTTPResponse, bucket: str, key: str) -> None:
        status = response.status
        if status < 300:
            return
        uri = self.object_uri(bucket, key) if key else self.bucket_uri(bucket)
        if status in (404, 410):
            raise ObjectNotFound(uri) if key else BucketNotFound(uri)
        if status in (401, 403):
            raise Forbidden(f"{uri}: the origin refused access ({status})")
        if status == 429:
            raise TooManyRequests(f"{uri}: the origin is throttling requests")
        if status == 503:
            raise ServiceUnavailable(f"{uri}: the origin is unavailable")
        if 400 <= status < 500:
            raise InvalidRequest(f"{uri}: the origin refused the request ({status})")
        raise FailedDependency(f"{uri}: the origin answered {status}")


def _int(text: str | None) -> int:
    try:
        return int(text) if text not in (None, "", "*") else -1  # type: ignore[arg-type]
    except ValueError:
        return -1


def _remote_object(key: str, response: urllib3.BaseHTTPResponse, size: int) -> RemoteObject:
    headers = response.headers
    return RemoteObject(
        name=key,
        size=size,
        etag=str(headers.get("ETag", "")).removeprefix("W/").strip('"'),
        last_modified_ns=ns_from_http_date(headers.get("Last-Modified")),
        content_type=str(headers.get("Content-Type", "")),
    )
