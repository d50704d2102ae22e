"""Which endpoint the CLI talks to, and an SDK client tuned for a person waiting at a prompt.

The official ``aistore`` SDK is built for training jobs: it retries 429/5xx for about 90 s and network
errors seven times with up to 30 s waits. A CLI must instead fail in seconds with the server's message,
so ``make_client`` replaces both policies: two quick retries for "busy" answers (429/503, e.g. a node
still starting), one retry for a connect timeout, none for anything else (a refused connection or a
404 will not heal by waiting).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from aistore.sdk import Client
from aistore.sdk.errors import APIRequestError
from aistore.sdk.retry_config import RetryConfig
from requests.exceptions import ConnectTimeout, RequestException
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed
from urllib3.util.retry import Retry

from strata.cli.auth_token import saved_token
from strata.cli.errors import CommandError, describe

DEFAULT_ENDPOINT = "http://localhost:8080"
ENDPOINT_VARIABLES = ("AIS_ENDPOINT", "STRATA_ENDPOINT")
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 60.0


def resolve_endpoint(flag_value: str | None) -> str:
    """``--endpoint`` wins, then ``AIS_ENDPOINT`` (AIStore's own), then ``STRATA_ENDPOINT``, then localhost.

    A bare ``host:port`` gets ``http://`` so ``--endpoint localhost:8080`` works as people type it.
    """
    endpoint = flag_value or next(
        (os.environ[name] for name in ENDPOINT_VARIABLES if os.environ.get(name)), DEFAULT_ENDPOINT
    )
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    return endpoint.rstrip("/")


def cli_retry_config() -> RetryConfig:
    """Short retries: a CLI call should end within seconds whatever the server does."""
    http_retry = Retry(
        total=2,
        connect=0,
        read=0,
        status=2,
        backoff_factor=0.25,
        status_forcelist=[429, 503],
        raise_on_status=False,  # hand the last error response to the SDK so its message is shown
        respect_retry_after_header=False,  # a server asking for 30 s would stall the prompt
    )
    network_retry = Retrying(
        stop=stop_after_attempt(2),
        wait=wait_fixed(0.2),
        retry=retry_if_exception_type(ConnectTimeout),
        reraise=True,
    )
    return RetryConfig(http_retry=http_retry, network_retry=network_retry)


def make_client(endpoint: str, concurrency: int = 1) -> Any:
    """An ``aistore.sdk.Client`` with the CLI retry policy and enough pooled connections for the uploads."""
    return Client(
        endpoint,
        timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
        retry_config=cli_retry_config(),
        max_pool_size=max(concurrency + 2, 10),
        token=saved_token() or None,  # $AIS_AUTHN_TOKEN, else what 'strata auth login' saved
    )


@dataclass
class Session:
    """What every verb needs: the SDK client, where it points (for messages) and the output streams."""

    endpoint: str
    client: Any
    out: TextIO
    err: TextIO

    @contextmanager
    def failing_as(self, subject: str = "") -> Iterator[None]:
        """Re-raise SDK and network failures as one-line ``CommandError``s that name ``subject``.

        ``subject`` is how a status-only answer (a HEAD 404 has no body) gets worded, e.g.
        ``bucket "ais://b"`` -> ``bucket "ais://b" does not exist``.
        """
        try:
            yield
        except (APIRequestError, RequestException) as error:
            raise CommandError(describe(error, self.endpoint, subject)) from error

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """A raw call through the SDK's request client (same retries, auth and error parsing).

        Used for the few endpoints the 2.0.0 SDK has no method for (cluster config, node status).
        """
        return self.client.cluster().client.request(method, path=path, **kwargs)
