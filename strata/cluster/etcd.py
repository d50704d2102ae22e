"""A small synchronous etcd v3 client over etcd's JSON gateway (``/v3/...``).

Why not a gRPC client: every call Strata makes is small and rare (metadata changes, leases,
one watch stream per process), request handlers are synchronous, and the gateway needs nothing
beyond ``requests``. Keys and values are bytes on the wire as base64.

What it offers: get / get_prefix / put / delete, compare-and-swap on a key's mod_revision,
leases (grant, keepalive, revoke), and a prefix watch that runs on a thread and reconnects from
the last revision it saw. Every failure to reach etcd raises ``EtcdUnavailable``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from strata.core.errors import StrataError

log = logging.getLogger("strata.etcd")


class EtcdUnavailable(StrataError):
    """etcd cannot be reached: metadata reads come from the cache, changes are refused (503)."""

    status = 503


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int
    lease: int = 0


@dataclass(frozen=True)
class WatchEvent:
    kind: str  # "put" | "delete"
    key: str
    value: bytes
    mod_revision: int


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def _prefix_end(prefix: str) -> str:
    """The range end that makes [prefix, end) cover every key starting with ``prefix``."""
    raw = prefix.encode()
    return _b64(raw[:-1] + bytes([raw[-1] + 1]))


def _kv(item: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(item["key"]).decode(),
        value=base64.b64decode(item.get("value", "")),
        mod_revision=int(item.get("mod_revision", 0)),
        create_revision=int(item.get("create_revision", 0)),
        lease=int(item.get("lease", 0)),
    )


class Etcd:
    def __init__(self, endpoints: list[str], timeout: float = 3.0) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout = timeout
        self._session = requests.Session()
        self._current = 0

    # -- transport -----------------------------------------------------------------------------

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        last: Exception | None = None
        for attempt in range(len(self.endpoints)):
            endpoint = self.endpoints[(self._current + attempt) % len(self.endpoints)]
            try:
                resp = self._session.post(endpoint + path, json=body, timeout=self.timeout)
            except requests.RequestException as exc:
                last = exc
                continue
            if resp.status_code >= 500 or resp.status_code == 404:
                last = RuntimeError(f"{resp.status_code} {resp.text[:200]}")
                continue
            self._current = (self._current + attempt) % len(self.endpoints)
            data: dict[str, Any] = resp.json()
            if "error" in data or ("code" in data and data.get("code")):
                raise EtcdUnavailable(f"etcd {path}: {data.get('error') or data.get('message')}")
            return data
        raise EtcdUnavailable(f"etcd is unreachable at {', '.join(self.endpoints)}: {last}")

    # -- keys ------------------------------------------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        data = self._call("/v3/kv/range", {"key": _b64(key)})
        kvs = data.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` and the store revision they were read at."""
        data = self._call("/v3/kv/range", {"key": _b64(prefix), "range_end": _prefix_end(prefix)})
        return [_kv(item) for item in data.get("kvs") or []], int(data["header"]["revision"])

    def put(self, key: str, value: bytes, lease: int = 0) -> int:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        return int(self._call("/v3/kv/put", body)["header"]["revision"])

    def delete(self, key: str) -> None:
        self._call("/v3/kv/deleterange", {"key": _b64(key)})

    def compare_and_swap(self, key: str, value: bytes, mod_revision: int, *, lease: int = 0) -> bool:
        """Write ``value`` only if the key's mod_revision is still ``mod_revision`` (0: absent)."""
        compare: dict[str, Any] = (
            {"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}
            if mod_revision
            else {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        )
        put: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = str(lease)
        data = self._call("/v3/kv/txn", {"compare": [compare], "success": [{"request_put": put}]})
        return bool(data.get("succeeded"))

    # -- leases ------------------------------------------------------------------------------------

    def lease_grant(self, ttl: int) -> int:
        return int(self._call("/v3/lease/grant", {"TTL": str(ttl)})["ID"])

    def lease_keepalive(self, lease: int) -> int:
        """Refresh a lease; returns its TTL (0 when it has expired)."""
        data = self._call("/v3/lease/keepalive", {"ID": str(lease)})
        return int(data.get("result", {}).get("TTL", 0))

    def lease_revoke(self, lease: int) -> None:
        self._call("/v3/lease/revoke", {"ID": str(lease)})

    # -- watch --------------------------------------------------------------------------------------

    def watch_prefix(
        self,
        prefix: str,
        start_revision: int,
        on_events: Callable[[list[WatchEvent], int], None],
        stop: threading.Event,
        on_disconnect: Callable[[], None] | None = None,
    ) -> threading.Thread:
        """Deliver every change under ``prefix`` after ``start_revision`` on a daemon thread.

        ``on_events(events, revision)`` runs on that thread. On a broken stream the thread
        reconnects from the last revision delivered, so no change is missed or repeated.
        """

        def run() -> None:
            next_revision = start_revision + 1
            while not stop.is_set():
                try:
                    next_revision = self._watch_once(prefix, next_revision, on_events, stop)
                except (requests.exceptions.ReadTimeout, requests.exceptions.ChunkedEncodingError):
                    continue  # an idle stream timed out: reconnect quietly
                except Exception as exc:
                    if isinstance(exc, requests.exceptions.ConnectionError) and "Read timed out" in str(exc):
                        continue  # urllib3 reports some idle timeouts as connection errors
                    if stop.is_set():
                        return
                    log.warning("etcd watch on %s interrupted (%s); reconnecting", prefix, exc)
                    if on_disconnect is not None:
                        on_disconnect()
                    stop.wait(0.5)

        thread = threading.Thread(target=run, name=f"etcd-watch{prefix}", daemon=True)
        thread.start()
        return thread

    def _watch_once(
        self,
        prefix: str,
        start: int,
        on_events: Callable[[list[WatchEvent], int], None],
        stop: threading.Event,
    ) -> int:
        body = {
            "create_request": {
                "key": _b64(prefix),
                "range_end": _prefix_end(prefix),
                "start_revision": str(start),
            }
        }
        endpoint = self.endpoints[self._current % len(self.endpoints)]
        with requests.post(
            endpoint + "/v3/watch", json=body, stream=True, timeout=(self.timeout, 60)
        ) as resp:
            for line in resp.iter_lines():
                if stop.is_set():
                    return start
                if not line:
                    continue
                result = json.loads(line).get("result", {})
                if result.get("compact_revision"):
                    raise RuntimeError(f"watch compacted at {result['compact_revision']}")
                events = [
                    WatchEvent(
                        "delete" if e.get("type") == "DELETE" else "put",
                        base64.b64decode(e["kv"]["key"]).decode(),
                        base64.b64decode(e["kv"].get("value", "")),
                        int(e["kv"].get("mod_revision", 0)),
                    )
                    for e in result.get("events") or []
                ]
                revision = int(result.get("header", {}).get("revision", start - 1))
                if events:
                    on_events(events, revision)
                    start = max(start, max(e.mod_revision for e in events) + 1)
        # the server closes idle streams now and then (timeout): reconnect where we were
        time.sleep(0.05)
        return start
