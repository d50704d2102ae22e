"""A provider client made on first use, shared by threads, and made anew in a forked child.

Strata's server forks its worker processes after importing everything; a client (and its connection
pool) built before the fork would have its sockets shared by parent and children, so each process
builds its own: the client remembers the process that built it and a different process ignores it
(without closing it: the sockets still belong to the parent).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

ClientT = TypeVar("ClientT")


class LazyClient(Generic[ClientT]):
    def __init__(
        self, factory: Callable[[], ClientT], closer: Callable[[ClientT], None] | None = None
    ) -> None:
        self._factory = factory
        self._closer = closer
        self._client: ClientT | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self) -> ClientT:
        if self._pid != os.getpid():  # forked: the parent's client and lock are not ours
            self._lock = threading.Lock()
            self._client = None
            self._pid = os.getpid()
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._client = self._factory()
        return client

    def close(self) -> None:
        """Close the client if this process built one; the next ``get`` builds a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid() and self._closer is not None:
            self._closer(client)
