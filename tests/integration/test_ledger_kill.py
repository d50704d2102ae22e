"""The savings ledger survives ``kill -9``: after a restart (or a worker's respawn) it equals a recount.

A real ``strata serve`` with two workers takes a stream of PUTs, overwrites and deletes from several
official-SDK clients while the test SIGKILLs the whole process group (one test) or one worker (the
other) at random moments, over several rounds. After each round the ledger, read from its file the way
any process of the node reads it (``ObjectStore`` over the server's mountpath), must equal a recount of
the files on disk.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable

from aistore.sdk.errors import AISError
from requests.exceptions import RequestException

from strata.storage.ledger import Footprint
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore

from .helpers import fast_client
from .processes import wait_all_gone, wait_for_children
from .server import StrataServer

BUCKET = "ledger-kill"
NAMES = [f"d{i % 4}/obj-{i}" for i in range(48)]
ROUNDS = 4


class Client(threading.Thread):
    """PUTs (new names and overwrites, random sizes) and DELETEs until stopped or the server dies."""

    def __init__(self, endpoint: str, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.stop, self.random = endpoint, stop, random.Random(seed)
        self.done = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        bucket = fast_client(self.endpoint).bucket(BUCKET)
        try:
            while not self.stop.is_set():
                name = self.random.choice(NAMES)
                try:
                    if self.random.random() < 0.25:
                        bucket.object(name).delete()
                    else:
                        size = self.random.choice([0, 1, 100, 4096, 50_000, 300_001])
                        bucket.object(name).get_writer().put_content(self.random.randbytes(size))
                    self.done += 1
                except AISError as exc:
                    if exc.status_code != 404:  # deleting a name nobody wrote (yet)
                        raise
                except (RequestException, ConnectionError):
                    time.sleep(0.05)  # the server (or the worker that had the connection) died
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def _ledger_and_recount(server: StrataServer) -> tuple[dict[str, Footprint], dict[str, Footprint]]:
    """Read the ledger as one more process of the node would, and recount the files."""
    store = ObjectStore(Mountpaths([str(server.data_dir / "mp")]))
    try:
        assert store.ledger is not None and not store.ledger.stale
        return store.ledger.totals(), store.recount()
    finally:
        store.close()


def _stream(server: StrataServer, seed: int, seconds: float, kill: Callable[[], None]) -> int:
    stop = threading.Event()
    clients = [Client(server.endpoint, seed * 10 + i, stop) for i in range(4)]
    for client in clients:
        client.start()
    time.sleep(seconds)
    kill()
    time.sleep(0.2)
    stop.set()
    for client in clients:
        client.join(timeout=60)
        assert not client.is_alive()
        assert client.error is None, client.error
    return sum(client.done for client in clients)


def test_kill_9_of_the_whole_node_mid_stream(server_factory: Callable[..., StrataServer]) -> None:
    server = server_factory(workers=2)
    fast_client(server.endpoint).bucket(BUCKET).create()
    chance = random.Random(7)
    total = 0
    for round_number in range(ROUNDS):
        total += _stream(server, round_number, chance.uniform(0.5, 2.0), server.kill)
        server.start()  # the same data directory: the start settles what the kill left, recounts nothing
        ledger, counted = _ledger_and_recount(server)
        assert ledger == counted, f"round {round_number}: ledger {ledger} != recount {counted}"
        assert "rebuilt by one recount" not in server.output()
    assert total > 100, "the clients made progress between the kills"
    assert _ledger_and_recount(server)[1][f"ais://{BUCKET}"].objects > 0


def test_kill_9_of_one_worker_mid_stream(server_factory: Callable[..., StrataServer]) -> None:
    server = server_factory(workers=2)
    fast_client(server.endpoint).bucket(BUCKET).create()
    assert server.process is not None
    supervisor = server.process.pid
    chance = random.Random(11)
    total = 0
    for round_number in range(ROUNDS):
        workers = wait_for_children(supervisor, 2)
        victim = chance.choice(workers)

        def kill_one(victim: int = victim) -> None:
            os.kill(victim, signal.SIGKILL)

        total += _stream(server, 100 + round_number, chance.uniform(0.5, 2.0), kill_one)
        assert not wait_all_gone([victim], timeout=10)
        wait_for_children(supervisor, 2, timeout=20)  # the supervisor respawned it
        ledger, counted = _ledger_and_recount(server)
        assert ledger == counted, f"round {round_number}: ledger {ledger} != recount {counted}"
        assert server.is_running()
    assert total > 100, "the clients made progress between the kills"
    server.stop()
    server.start()
    ledger, counted = _ledger_and_recount(server)
    assert ledger == counted
