"""Names of remote AIS clusters without a network: ``backend.ais`` validation, ``ais://@alias/b`` in the
CLI, alias resolution in ``BucketRef.parse``, and what a node answers when the remote cannot be reached
or is not attached."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from strata.backends.ais_clusters import AisClusters
from strata.backends.settings import Transport
from strata.cli.uri import BucketURI, UsageError, parse_uri
from strata.config.backend import remote_ais_clusters
from strata.config.cluster import ConfigError, default_cluster_config, update_cluster_config
from strata.core.errors import BackendUnreachable, NotFound, ServiceUnavailable
from strata.core.names import BucketRef, set_remote_alias_resolver
from tests.integration.server import free_port


def test_backend_ais_is_validated_and_normalized() -> None:
    cfg = update_cluster_config(
        default_cluster_config(), {"backend": {"ais": {"lab.one": "http://h:8080/", "b": ["https://x"]}}}
    )
    assert remote_ais_clusters(cfg) == {"lab.one": ("http://h:8080",), "b": ("https://x",)}
    for bad, words in (
        ({"ais": {"-lab": ["http://h"]}}, "invalid alias"),
        ({"ais": {"lab": ["h:8080"]}}, "invalid URL"),
        ({"ais": {"lab": []}}, "one or more URLs"),
        ({"ais": ["http://h"]}, "map aliases"),
        ({"nosuch": {}}, "unknown backend provider"),
    ):
        with pytest.raises(ConfigError, match=words):
            update_cluster_config(cfg, {"backend": bad})


def test_cli_addresses_of_remote_cluster_buckets() -> None:
    assert parse_uri("ais://@lab/b/dir/o") == BucketURI("ais", "b", "dir/o", "@lab#")
    uri = parse_uri("ais://@lab#ns/b")
    assert (uri.bucket, uri.namespace, uri.bucket_uri) == ("b", "@lab#ns", "ais://@lab#ns/b")
    assert parse_uri("ais://b").bucket_uri == "ais://b"
    with pytest.raises(UsageError, match="missing bucket"):
        parse_uri("ais://@lab")


@pytest.fixture
def resolver() -> Iterator[None]:
    set_remote_alias_resolver(lambda uuid: {"lab": "U1"}.get(uuid, uuid))
    yield
    set_remote_alias_resolver(None)


def test_an_alias_is_replaced_by_its_uuid_when_a_bucket_is_named(resolver: None) -> None:
    assert BucketRef.parse("b", "ais", "@lab#ns") == BucketRef("b", "ais", "U1", "ns")
    assert BucketRef.parse("b", "ais", "@U1") == BucketRef("b", "ais", "U1")  # by UUID: the same bucket
    assert BucketRef.parse("b", "ais", "@other").ns_uuid == "other"
    assert BucketRef.parse("b", "aws", "@lab").ns_uuid == "lab"  # only ais namespaces name clusters


def test_an_unreachable_or_unknown_cluster_is_a_clear_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    clusters = AisClusters(lambda: {"dead": (dead,)})
    assert clusters.resolve("not-an-alias") == "not-an-alias"
    with pytest.raises(BackendUnreachable, match="@dead") as first:
        clusters.resolve("dead")
    assert first.value.status == 424
    started = time.monotonic()
    with pytest.raises(BackendUnreachable, match="@dead"):
        clusters.settings("some-uuid")  # the dead one might be it: not known, and not asked again yet
    assert time.monotonic() - started < 0.5
    assert clusters.settings("dead").urls == (dead,)  # by alias: no need to reach it
    row = clusters.describe()[0]
    assert (row.alias, row.url, row.uuid, row.smap) == ("dead", dead, "", None)
    with pytest.raises(NotFound, match="not attached"):
        AisClusters(lambda: {}).settings("some-uuid")
    clusters.close()


class _Remote:
    """A socket that accepts connections: ``smap`` answers each request with a cluster map after
    ``delay`` seconds, or (None) never answers at all."""

    def __init__(self, delay: float, smap: bytes | None) -> None:
        self.delay, self.smap = delay, smap
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)
            if self.smap is not None:
                time.sleep(self.delay)
                connection.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.smap)}\r\nConnection: close\r\n\r\n"
                connection.sendall(head.encode() + self.smap)

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


async def _resolve_on_the_loop(clusters: AisClusters, alias: str) -> tuple[str | int, float]:
    """``resolve`` as the router calls it (on the event loop): the UUID, or the error's status."""
    started = time.monotonic()
    try:
        return clusters.resolve(alias), time.monotonic() - started
    except (ServiceUnavailable, BackendUnreachable) as error:
        return error.status, time.monotonic() - started


def test_an_alias_is_learned_apart_from_the_event_loop() -> None:
    """On the loop, an alias not known yet answers 503 at once (the clients retry) while its UUID is
    asked for on a thread; a remote that never answers ends as 424, without the loop waiting for it."""
    slow = _Remote(0.3, json.dumps({"uuid": "U-SLOW"}).encode())
    silent = _Remote(0.0, None)
    transport = Transport(connect_timeout=1.0, read_timeout=1.0, max_attempts=1)
    clusters = AisClusters(lambda: {"slow": (slow.url,), "silent": (silent.url,)}, transport=transport)
    try:
        for alias in ("slow", "silent"):
            status, took = asyncio.run(_resolve_on_the_loop(clusters, alias))
            assert (status, took < 0.2) == (503, True)
        assert asyncio.run(_resolve_on_the_loop(clusters, "slow"))[0] == 503  # being asked: not asked twice
        deadline = time.monotonic() + 10
        answers: list[str | int] = []
        while time.monotonic() < deadline and answers != ["U-SLOW", 424]:
            answers = [asyncio.run(_resolve_on_the_loop(clusters, a))[0] for a in ("slow", "silent")]
            time.sleep(0.05)
        assert answers == ["U-SLOW", 424]
        assert asyncio.run(_resolve_on_the_loop(clusters, "silent"))[1] < 0.2  # failed lately: at once
        assert len(slow.held) == 1  # one question, from one thread
    finally:
        clusters.close()
        slow.close()
        silent.close()


def test_off_the_loop_an_alias_is_learned_by_waiting() -> None:
    remote = _Remote(0.1, json.dumps({"uuid": "U-LAB"}).encode())
    clusters = AisClusters(lambda: {"lab": (remote.url,)})
    try:
        assert clusters.resolve("lab") == "U-LAB"
    finally:
        clusters.close()
        remote.close()
