"""``ais`` (``ais://@alias/b``): a remote AIS cluster — another Strata or an AIStore — over the AIS REST API.

The remote is reached through its proxy URLs (``backend.ais``: alias -> URLs; ``AisSettings``), tried in
order when one does not answer. Requests are the ones the official SDK sends (wire contract):
``?provider=ais`` (plus ``namespace=#ns`` for a namespaced bucket: the UUID is dropped, the name kept,
contract §3), error bodies ``{"message", "status"}`` (``Hdr-Error`` for HEAD) classified by their text
(``bucket "ais://b" does not exist`` vs ``ais://b/o does not exist``), list pages in msgpack.

A cluster proxy answers object requests with 307 to the owning target. A streamed PUT body cannot be
sent twice, so a PUT first asks where to go with a HEAD of the same object (a proxy redirects that too,
without reading anything) and then streams the body to the target named; an endpoint that answers the
HEAD itself (an embedded Strata) is remembered and sent PUTs directly from then on.

The remote's PUT answers no facts, so ``put`` HEADs the object afterwards (and a GET starts with a HEAD,
since a GET's headers carry no custom metadata or date); a version that changed between the two is a
409, which the SDK retries as a GET conflict.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
import urllib3

from strata.core.errors import (
    BackendUnreachable,
    BucketNotFound,
    Conflict,
    FailedDependency,
    Forbidden,
    InvalidRequest,
    NotFound,
    ObjectNotFound,
    RangeNotSatisfiable,
    ServiceUnavailable,
    TooManyRequests,
)
from strata.core.wire import ListObjectsPage

from .bodies import iter_body
from .http_pool import UNREACHABLE, body_chunks, make_pool, release
from .interface import (
    Backend,
    Body,
    ListPage,
    RemoteBucket,
    RemoteEntry,
    RemoteObject,
    RemoteReader,
    ns_from_http_date,
    translated_chunks,
)
from .lazy_client import LazyClient
from .settings import BackendSettings

LIST_PROPS = "name,size,version,checksum"
_page_decoder = msgspec.msgpack.Decoder(ListObjectsPage)
_REDIRECTS = (301, 302, 307, 308)


class AisBackend(Backend):
    provider = "ais"
    supports_multipart = True

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self.ais = settings.ais
        if not self.ais.urls:
            raise InvalidRequest(f'remote AIS cluster "{self.ais.alias}" has no URL (backend.ais)')
        self.urls = [url.rstrip("/") for url in self.ais.urls]
        self._direct: bool | None = None  # does the endpoint serve object bytes itself (no redirect)?
        headers = {"Content-Type": "application/json"}
        if self.ais.token:
            headers["Authorization"] = f"Bearer {self.ais.token}"
        self._pool: LazyClient[urllib3.PoolManager] = LazyClient(
            lambda: make_pool(self.transport, headers), lambda pool: pool.clear()
        )

    def close(self) -> None:
        self._pool.close()

    def bucket_uri(self, bucket: str) -> str:
        """``ais://@alias/b`` (``ais://@alias#ns/b`` in a namespace): the SDK reads ``@`` as remote."""
        namespace = f"@{self.ais.alias}" + (f"#{self.ais.namespace}" if self.ais.namespace else "")
        return f"ais://{namespace}/{bucket}" if namespace != "@" else f"ais://{bucket}"

    # --- plumbing ------------------------------------------------------------------------------
    def _query(self, **extra: str) -> str:
        query = {"provider": "ais", **extra}
        if self.ais.namespace:
            query["namespace"] = f"#{self.ais.namespace}"
        return urllib.parse.urlencode(query)

    def _request(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        redirect: bool = True,
        base: str = "",
    ) -> urllib3.BaseHTTPResponse:
        """One request, to ``base`` or else to the first URL that answers (a body that is not bytes
        is sent once only: it cannot be replayed against the next URL)."""
        replayable = body is None or isinstance(body, bytes)
        targets = [base] if base else list(self.urls)
        failure: Exception | None = None
        for url in targets:
            try:
                return self._pool.get().request(
                    method,
                    url if base else f"{url}{path}?{query}",
                    body=body,
                    headers=dict(headers or {}),
                    preload_content=False,
                    redirect=redirect,
                )
            except UNREACHABLE as error:
                failure = error
                if not replayable:
                    break
                if not base and url == self.urls[0] and len(self.urls) > 1:
                    self.urls.append(self.urls.pop(0))  # try the others first from now on
        raise BackendUnreachable("ais", f"@{self.ais.alias} {' '.join(targets)}", str(failure)) from failure

    def _object_path(self, bucket: str, key: str) -> str:
        return f"/v1/objects/{urllib.parse.quote(bucket)}/{urllib.parse.quote(key)}"

    def _data_url(self, bucket: str, key: str, query: str) -> str:
        """Where object bytes go: the owning target (asked of a proxy with a HEAD), or the endpoint."""
        path = self._object_path(bucket, key)
        if self._direct:
            return f"{self.urls[0]}{path}?{query}"
        response = self._request("HEAD", path, self._query(), redirect=False)
        release(response)
        if response.status in _REDIRECTS and response.headers.get("Location"):
            self._direct = False
            location = urllib.parse.urlsplit(response.headers["Location"])
            return urllib.parse.urlunsplit((location.scheme, location.netloc, location.path, query, ""))
        if response.status in (401, 403):
            self._raise(response, bucket, key)
        if response.status == 404 and "bucket" in _message(response).lower():
            self._raise(response, bucket, key)
        self._direct = True
        return f"{self.urls[0]}{path}?{query}"

    # --- objects -------------------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> RemoteObject:
        response = self._request("HEAD", self._object_path(bucket, key), self._query())
        self._finish(response, bucket, key)
        return _remote_object(key, response.headers)

    def get(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> RemoteReader:
        info = self.head(bucket, key)
        if length == 0:
            return RemoteReader(info, offset, 0, iter(()), lambda: None)
        if offset and offset >= info.size:
            raise RangeNotSatisfiable(f"{self.object_uri(bucket, key)}: range not satisfiable", info.size)
        headers = {}
        if offset or length is not None:
            headers["Range"] = f"bytes={offset}-" + ("" if length is None else str(offset + length - 1))
        response = self._request("GET", self._object_path(bucket, key), self._query(), headers=headers)
        try:
            self._check(response, bucket, key)
            version = str(response.headers.get("Ais-Version", ""))
            if info.version and version and version != info.version:
                raise Conflict(f"{self.object_uri(bucket, key)} changed while being read; retry")
        except Exception:
            release(response)
            raise
        sent = int(response.headers.get("Content-Length") or 0)
        chunks = translated_chunks(
            body_chunks(response),
            lambda error: BackendUnreachable("ais", f"@{self.ais.alias}", str(error)),
            *UNREACHABLE,
        )
        return RemoteReader(info, offset, sent, chunks, lambda: release(response))

    def put(
        self,
        bucket: str,
        key: str,
        body: Body,
        size: int,
        custom: Mapping[str, str] | None = None,
        content_type: str = "",
    ) -> RemoteObject:
        url = self._data_url(bucket, key, self._query())
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        response = self._request("PUT", "", "", iter_body(body, size), headers, redirect=False, base=url)
        self._finish(response, bucket, key)
        if custom:
            self._set_custom(bucket, key, custom)
        return self.head(bucket, key)

    def _set_custom(self, bucket: str, key: str, custom: Mapping[str, str], replace: bool = False) -> None:
        message = json.dumps({"action": "", "name": "", "value": dict(custom)}).encode()
        query = self._query(**({"set-new-custom": "true"} if replace else {}))
        response = self._request("PATCH", self._object_path(bucket, key), query, message)
        self._finish(response, bucket, key)

    def set_custom(self, bucket: str, key: str, custom: Mapping[str, str]) -> RemoteObject:
        self._set_custom(bucket, key, custom, replace=True)
        return self.head(bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        response = self._request("DELETE", self._object_path(bucket, key), self._query())
        self._finish(response, bucket, key)

    def list_page(self, bucket: str, prefix: str = "", token: str = "", page_size: int = 0) -> ListPage:
        listing_uuid, _, continuation = token.partition("/")
        value = {
            "prefix": prefix,
            "pagesize": page_size,
            "uuid": listing_uuid,
            "props": LIST_PROPS,
            "continuation_token": continuation,
            "flags": "0",
        }
        message = json.dumps({"action": "list", "name": "", "value": value}).encode()
        path = f"/v1/buckets/{urllib.parse.quote(bucket)}"
        response = self._request("GET", path, self._query(), message, {"Accept": "application/msgpack"})
        try:
            self._check(response, bucket, "")
            page = _page_decoder.decode(response.read())
        except msgspec.DecodeError as error:
            raise FailedDependency(
                f"{self.bucket_uri(bucket)}: the remote answered an unreadable page"
            ) from error
        finally:
            release(response)
        # AIS answers its checksum as the ETag (HEAD), so a listed entry's checksum is its ETag too
        entries = [RemoteEntry(entry.n, entry.s, entry.cs, entry.v) for entry in page.Entries or ()]
        return ListPage(entries, f"{page.UUID}/{page.ContinuationToken}" if page.ContinuationToken else "")

    # --- buckets -------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> RemoteBucket:
        response = self._request("HEAD", f"/v1/buckets/{urllib.parse.quote(bucket)}", self._query())
        self._finish(response, bucket, "")
        try:
            props = json.loads(response.headers.get("Ais-Bucket-Props") or "{}")
        except ValueError:
            props = {}
        versioning = bool((props.get("versioning") or {}).get("enabled", False))
        return RemoteBucket(bucket, versioning, "", {"alias": self.ais.alias, "url": self.urls[0]})

    def list_buckets(self) -> list[str]:
        message = json.dumps({"action": "list", "name": "", "value": None}).encode()
        response = self._request("GET", "/v1/buckets", "provider=ais", message)
        try:
            self._check(response, "", "")
            listed: list[dict[str, Any]] = json.loads(response.read() or b"[]") or []
        finally:
            release(response)
        names = [
            str(item.get("name"))
            for item in listed
            if (item.get("namespace") or {}).get("name", "") == self.ais.namespace
            and not (item.get("namespace") or {}).get("uuid")  # not the remote's own remote buckets
        ]
        return sorted(names)

    # --- multipart (native AIS upload) ---------------------------------------------------------
    def create_multipart(
        self, bucket: str, key: str, custom: Mapping[str, str] | None = None, content_type: str = ""
    ) -> str:
        message = json.dumps({"action": "mpt-upload", "name": "", "value": None}).encode()
        response = self._request("POST", self._object_path(bucket, key), self._query(), message)
        try:
            self._check(response, bucket, key)
            upload_id = response.read().decode().strip()
        finally:
            release(response)
        # the remote keeps no custom metadata for an upload: it travels in the id until the commit
        return f"{upload_id}~{base64.urlsafe_b64encode(json.dumps(dict(custom or {})).encode()).decode()}"

    def upload_part(
        self, bucket: str, key: str, upload_id: str, part_number: int, body: Body, size: int
    ) -> str:
        remote_id = upload_id.partition("~")[0]
        url = self._data_url(bucket, key, self._query(uploadId=remote_id, partNumber=str(part_number)))
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        response = self._request("PUT", "", "", iter_body(body, size), headers, redirect=False, base=url)
        self._finish(response, bucket, key)
        return str(response.headers.get("ETag", "")).strip('"')

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> RemoteObject:
        remote_id, _, encoded = upload_id.partition("~")
        listed = [{"part-number": number, "etag": etag} for number, etag in parts]
        message = json.dumps({"action": "mpt-complete", "name": "", "value": listed}).encode()
        response = self._request(
            "POST", self._object_path(bucket, key), self._query(uploadId=remote_id), message
        )
        self._finish(response, bucket, key)
        try:
            custom = json.loads(base64.urlsafe_b64decode(encoded)) if encoded else {}
        except ValueError as error:
            raise InvalidRequest(f"{self.object_uri(bucket, key)}: invalid upload id") from error
        if custom:
            self._set_custom(bucket, key, custom)
        return self.head(bucket, key)

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        message = json.dumps({"action": "mpt-abort", "name": "", "value": None}).encode()
        query = self._query(uploadId=upload_id.partition("~")[0])
        response = self._request("DELETE", self._object_path(bucket, key), query, message)
        self._finish(response, bucket, key)

    # --- errors --------------------------------------------------------------------------------
    def _finish(self, response: urllib3.BaseHTTPResponse, bucket: str, key: str) -> None:
        """Raise what an error answer says (its body is read first), then give the connection back."""
        try:
            self._check(response, bucket, key)
        finally:
            release(response)

    def _check(self, response: urllib3.BaseHTTPResponse, bucket: str, key: str) -> None:
        if response.status < 300:
            return
        self._raise(response, bucket, key)

    def _raise(self, response: urllib3.BaseHTTPResponse, bucket: str, key: str) -> None:
        status, message = response.status, _message(response)
        uri = self.object_uri(bucket, key) if key else self.bucket_uri(bucket)
        said = f" ({message})" if message else ""
        if status == 404:
            if "upload" in message.lower():
                raise NotFound(f"{uri}: {message}")
            if not key or message.startswith("bucket "):
                raise BucketNotFound(self.bucket_uri(bucket))
            raise ObjectNotFound(uri)
        if status in (401, 403):
            raise Forbidden(f"{uri}: the remote cluster refused access{said}")
        if status == 416:
            raise RangeNotSatisfiable(f"{uri}: range not satisfiable", 0)
        if status == 429:
            raise TooManyRequests(f"{uri}: the remote cluster is throttling requests")
        if status == 503:
            raise ServiceUnavailable(f"{uri}: the remote cluster is unavailable{said}")
        if 400 <= status < 500:
            raise InvalidRequest(
                f"{uri}: the remote cluster refused the request ({status}{': ' + message if message else ''})"
            )
        raise FailedDependency(f"{uri}: the remote cluster answered {status}{said}")


def _message(response: urllib3.BaseHTTPResponse) -> str:
    """The AIS error text: the JSON body's ``message``, or the ``Hdr-Error`` header of a HEAD."""
    raw = response.headers.get("Hdr-Error") or ""
    if not raw:
        try:
            raw = response.read(64 * 1024, decode_content=True).decode(errors="replace")
        except UNREACHABLE:
            raw = ""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw.strip()[:500]
    return str(parsed.get("message", "")) if isinstance(parsed, dict) else raw.strip()[:500]


def _custom(header: str) -> dict[str, str]:
    """``Ais-Custom-Md: k1=v1,k2=v2``; a piece without ``=`` belongs to the previous value (a comma in it)."""
    found: dict[str, str] = {}
    last = ""
    for piece in header.split(","):
        name, equals, value = piece.partition("=")
        if equals and name:
            last = name.strip()
            found[last] = value
        elif last:
            found[last] += "," + piece
    return found


def _remote_object(key: str, headers: Any) -> RemoteObject:
    checksum_type = str(headers.get("Ais-Checksum-Type", ""))
    return RemoteObject(
        name=key,
        size=int(headers.get("Content-Length") or 0),
        etag=str(headers.get("ETag", "")).strip('"'),
        version=str(headers.get("Ais-Version", "")),
        last_modified_ns=ns_from_http_date(headers.get("Last-Modified")),
        custom=_custom(str(headers.get("Ais-Custom-Md", ""))),
        md5=str(headers.get("Ais-Checksum-Value", "")) if checksum_type == "md5" else "",
    )
