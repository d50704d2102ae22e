"""The remote AIS clusters a node knows: ``backend.ais`` aliases, the UUID each answers with, and the
``AisSettings`` a remote bucket's ``ais`` backend is built from (wave-2 contract §3).

A bucket of another cluster is named ``ais://@alias/b`` or ``ais://@uuid/b``; the BMD keeps it under
the UUID (``ais/@<uuid>#<ns>/b``), as AIStore's proxy does. The config only holds alias -> URLs, so
the UUID is learned from the remote itself (``GET /v1/daemon?what=smap``): when the cluster is
attached, when ``what=remote`` is asked, or on the first request that names the alias. What was
learned is kept in a small file next to the node's metadata (``remote_ais.json``): the node's other
worker processes, and the node after a restart, can then resolve the alias while the remote is down
-- a warm GET of a cached object needs no remote at all. An entry counts only while the alias still
has the URLs it was learned at.

A remote that cannot be reached is not asked again for ``RETRY_AFTER_FAILURE_S`` (requests naming it
fail at once with the last error instead of each waiting for a connect timeout).

An alias is resolved while a request is parsed, on a worker's event loop: there, an alias whose UUID
is not known yet is learned on a thread of its own (``_learn_apart``) while the request answers 503 -- the
SDK and boto3 retry it, and by then the UUID is known, or the remote is known to be unreachable (424 at
once). The loop never waits the seconds a remote that does not answer takes to time out, and every
other request goes on being served meanwhile. Off the loop (jobs, the CLI) the lookup simply waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import urllib3

from strata.core.errors import BackendUnreachable, NotFound, ServiceUnavailable
from strata.core.names import set_remote_alias_resolver

from .http_pool import UNREACHABLE, make_pool, release
from .lazy_client import LazyClient
from .settings import AisSettings, Transport

SMAP_PATH = "/v1/daemon?what=smap"
PROBE_TRANSPORT = Transport(connect_timeout=2.0, read_timeout=5.0, max_attempts=1)
RETRY_AFTER_FAILURE_S = 5.0
MAX_FORWARDED_BODY = 1 << 20  # a forwarded bucket action's answer is small JSON or empty

Attached = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class RemoteCluster:
    """One row of ``GET /v1/cluster?what=remote``: online when ``smap`` (the remote's map) is there."""

    alias: str
    url: str  # the URL that answered, else the first configured
    uuid: str  # "" when the cluster was never reached
    smap: dict[str, Any] | None

    def to_wire(self) -> dict[str, Any]:
        return {"smap": self.smap, "url": self.url, "alias": self.alias, "uuid": self.uuid}


@dataclass(frozen=True)
class Forwarded:
    """A remote cluster's answer to a request passed on as it came (create-bck, destroy-bck)."""

    status: int
    content_type: str
    body: bytes


class AisClusters:
    """The attached remote clusters (``attached``: the current ``backend.ais``), with their UUIDs."""

    def __init__(
        self, attached: Callable[[], Attached], cache_path: str = "", transport: Transport = PROBE_TRANSPORT
    ) -> None:
        self._attached = attached
        self._cache_path = cache_path
        self._cache_seen: int | None = None  # mtime_ns of the cache file last read
        self._lock = threading.Lock()
        self._learned: dict[str, tuple[tuple[str, ...], str]] = {}  # alias -> (urls, uuid)
        self._failed: dict[str, tuple[float, str]] = {}  # alias -> (monotonic time, why)
        self._learning: set[str] = set()  # aliases being asked for their UUID on a thread of their own
        self._pool: LazyClient[urllib3.PoolManager] = LazyClient(
            lambda: make_pool(transport), lambda pool: pool.clear()
        )

    def close(self) -> None:
        self._pool.close()

    def attached(self) -> Attached:
        return self._attached()

    # --- names -----------------------------------------------------------------------------------
    def resolve(self, ns_uuid: str) -> str:
        """An alias -> its cluster's UUID (``BucketRef.parse``); a UUID or anything else unchanged.
        ``BackendUnreachable`` when the alias's UUID is not known and the cluster cannot be reached."""
        urls = self.attached().get(ns_uuid)
        if urls is None:
            return ns_uuid
        return self.uuid_of(ns_uuid, urls)

    def uuid_of(self, alias: str, urls: tuple[str, ...]) -> str:
        known = self.known_uuid(alias, urls)
        if known:
            return known
        with self._lock:
            failed = self._failed.get(alias)
        if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_FAILURE_S:
            raise _unreachable(alias, urls, failed[1])
        if _on_event_loop():
            self._learn_apart(alias, urls)
            raise ServiceUnavailable(
                f"remote AIS cluster @{alias}: asking {' '.join(urls)} for its UUID; retry"
            )
        found = self.probe(alias, urls)
        if found.smap is None or not found.uuid:
            with self._lock:
                why = self._failed.get(alias, (0.0, "no answer"))[1]
            raise _unreachable(alias, urls, why)
        return found.uuid

    def known_uuid(self, alias: str, urls: tuple[str, ...]) -> str:
        """The UUID learned for ``alias`` at these URLs (here or by another process of the node), or ""."""
        self._reload()
        with self._lock:
            learned = self._learned.get(alias)
        return learned[1] if learned is not None and learned[0] == urls else ""

    def settings(self, cluster: str, namespace: str = "") -> AisSettings:
        """The ``ais`` backend settings for buckets of ``cluster`` (its UUID or alias) in ``namespace``:
        404 when no attached cluster has that alias or UUID, 424 when the ones not known yet cannot
        be reached to tell."""
        attached = self.attached()
        alias = self._alias_of(cluster, attached)
        return AisSettings(alias=alias, urls=attached[alias], namespace=namespace)

    def _alias_of(self, cluster: str, attached: Attached) -> str:
        if cluster in attached:
            return cluster
        unknown = []
        for alias, urls in attached.items():
            uuid = self.known_uuid(alias, urls)
            if uuid == cluster:
                return alias
            if not uuid:
                unknown.append(alias)
        failures = []
        for alias in unknown:
            try:
                if self.uuid_of(alias, attached[alias]) == cluster:
                    return alias
            except BackendUnreachable as error:
                failures.append(error.message)
        if failures:
            raise BackendUnreachable("ais", f"@{cluster}", "; ".join(failures))
        raise NotFound(f'remote AIS cluster "@{cluster}" is not attached (see backend.ais)')

    def _learn_apart(self, alias: str, urls: tuple[str, ...]) -> None:
        """Ask the cluster for its UUID on a thread of its own, unless that is being done already."""
        with self._lock:
            if alias in self._learning:
                return
            self._learning.add(alias)

        def learn() -> None:
            try:
                self.probe(alias, urls)
            finally:
                with self._lock:
                    self._learning.discard(alias)

        threading.Thread(target=learn, name=f"learn-{alias}", daemon=True).start()

    # --- asking the remotes ----------------------------------------------------------------------
    def probe(self, alias: str, urls: tuple[str, ...]) -> RemoteCluster:
        """Ask the cluster for its map now, at each URL in turn; learn (and keep) its UUID."""
        why = "no URL"
        for url in urls:
            try:
                response = self._pool.get().request("GET", f"{url}{SMAP_PATH}", preload_content=False)
            except UNREACHABLE as error:
                why = f"{url}: {error}"
                continue
            try:
                body = response.read(MAX_FORWARDED_BODY)
            except UNREACHABLE as error:
                why = f"{url}: {error}"
                continue
            finally:
                release(response)
            smap = _smap(body) if response.status == 200 else None
            if smap is None:
                why = f"{url} answered {response.status} without a cluster map"
                continue
            uuid = str(smap["uuid"])
            self._learn(alias, urls, uuid)
            return RemoteCluster(alias, url, uuid, smap)
        with self._lock:
            self._failed[alias] = (time.monotonic(), why)
        return RemoteCluster(alias, urls[0] if urls else "", self.known_uuid(alias, urls), None)

    def describe(self) -> list[RemoteCluster]:
        """Every attached cluster as it is now (each asked for its map, in parallel), by alias."""
        attached = sorted(self.attached().items())
        if not attached:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(attached))) as pool:
            return list(pool.map(lambda item: self.probe(*item), attached))

    def forward(
        self,
        settings: AisSettings,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Forwarded:
        """Pass a request on to the remote (its namespace UUID dropped, the name kept), to the first
        URL that answers; its answer comes back as it is."""
        params = [(name, value) for name, value in query if name not in ("provider", "namespace")]
        params.append(("provider", "ais"))
        if settings.namespace:
            params.append(("namespace", f"#{settings.namespace}"))
        headers = {"Content-Type": "application/json"}
        why = "no URL"
        for url in settings.urls:
            try:
                response = self._pool.get().request(
                    method,
                    f"{url}{path}?{urllib.parse.urlencode(params)}",
                    body=body or None,
                    headers=headers,
                    preload_content=False,
                )
                try:
                    data = response.read(MAX_FORWARDED_BODY)
                finally:
                    release(response)
            except UNREACHABLE as error:
                why = f"{url}: {error}"
                continue
            content_type = str(response.headers.get("Content-Type", "application/json"))
            return Forwarded(response.status, content_type, data)
        raise _unreachable(settings.alias, settings.urls, why)

    # --- what was learned ------------------------------------------------------------------------
    def forget(self, alias: str) -> None:
        """Drop what was learned about ``alias`` (it was detached)."""
        with self._lock:
            self._failed.pop(alias, None)
            if self._learned.pop(alias, None) is None:
                return
        self._save()

    def _learn(self, alias: str, urls: tuple[str, ...], uuid: str) -> None:
        self._reload()  # keep what the node's other processes learned when writing the file again
        with self._lock:
            self._failed.pop(alias, None)
            if self._learned.get(alias) == (urls, uuid):
                return
            self._learned[alias] = (urls, uuid)
        self._save()

    def _reload(self) -> None:
        """Read the cache file again when another process changed it (a stat per lookup of an alias)."""
        if not self._cache_path:
            return
        try:
            mtime = os.stat(self._cache_path).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._cache_seen:
            return
        try:
            with open(self._cache_path, "rb") as file:
                document = json.loads(file.read())
        except (OSError, ValueError):
            return  # a cache: unreadable means nothing learned
        learned = {
            str(alias): (tuple(str(url) for url in entry["urls"]), str(entry["uuid"]))
            for alias, entry in (document.items() if isinstance(document, dict) else ())
            if isinstance(entry, dict) and isinstance(entry.get("urls"), list) and entry.get("uuid")
        }
        with self._lock:
            self._learned.update(learned)  # the file is what every process learned, the newest last
            self._cache_seen = mtime

    def _save(self) -> None:
        if not self._cache_path:
            return
        with self._lock:
            document = {
                alias: {"urls": list(urls), "uuid": uuid} for alias, (urls, uuid) in self._learned.items()
            }
        temporary = f"{self._cache_path}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(temporary, "w") as file:
                json.dump(document, file)
            os.replace(temporary, self._cache_path)
        except OSError:
            return  # a cache: the next process learns it again


def _smap(body: bytes) -> dict[str, Any] | None:
    try:
        smap = json.loads(body)
    except ValueError:
        return None
    return smap if isinstance(smap, dict) and isinstance(smap.get("uuid"), str) and smap["uuid"] else None


def _on_event_loop() -> bool:
    """Whether the caller runs on an event loop's thread (where a network wait would stall it)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _unreachable(alias: str, urls: Iterable[str], why: str) -> BackendUnreachable:
    return BackendUnreachable("ais", f"@{alias} {' '.join(urls)}", f"remote cluster not reached ({why})")


# --- the process's clusters ------------------------------------------------------------------------
_current: AisClusters | None = None


def install(clusters: AisClusters) -> None:
    """Make ``clusters`` this process's remote clusters (a node does when it starts): remote buckets'
    backends come from it, and ``BucketRef.parse`` resolves aliases through it."""
    global _current
    _current = clusters
    set_remote_alias_resolver(clusters.resolve)


def uninstall(clusters: AisClusters) -> None:
    """Undo ``install`` if ``clusters`` is still the current one (a node closing)."""
    global _current
    if _current is clusters:
        _current = None
        set_remote_alias_resolver(None)


def current() -> AisClusters:
    if _current is None:
        raise NotFound("no remote AIS cluster is attached (this process runs no node)")
    return _current
