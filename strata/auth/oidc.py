"""OIDC issuers' signing keys: discovery, the JWKS by ``kid``, refreshed on a miss at most once per interval.

For each allowed issuer (wave-2 contract 1.5): ``<issuer>/.well-known/openid-configuration`` names an
https ``jwks_uri``; the key set fetched from it is cached by ``kid``. A token whose ``kid`` is not in
the cache refreshes the set -- at most once per ``min_rotation_refresh`` per issuer, so a flood of
tokens with made-up ``kid`` values cannot turn into a flood of fetches -- and is looked up again. A
set older than ``min_background_refresh`` is refreshed on a thread while the cached one keeps serving.

Fetches are 1 + 3 attempts with exponential backoff and jitter, 5 s to connect and 10 s in all, trusting
``issuer_ca_bundle`` when set (else the system's store). A fetch that fails leaves the cache as it was;
the token is refused (401), never answered 5xx. The first fetch happens off the request path when the
gate starts (``preload``); a miss after that is fetched on the request's own thread (rare by design:
once per rotation per issuer per worker).
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import urllib3
from urllib3.util import Timeout

from strata.core.errors import Unauthorized

log = logging.getLogger("strata.auth")

ATTEMPTS = 4
BACKOFF_S = 0.2
CONNECT_TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 10.0
MAX_KID_LENGTH = 256
_BAD_KID_CHARACTERS = frozenset("/\\|;&$<>`\"'()")
SUPPORTED_KEY_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})

Fetch = Callable[[str], Any]  # URL -> decoded JSON (raises on any failure)


class KeyUnavailable(Unauthorized):
    """The issuer's key for a token cannot be had (unknown kid, issuer unreachable): the token is refused."""


def check_kid(kid: object) -> str:
    """The ``kid`` header as AIStore accepts it: a non-empty string, at most 256 characters, none of
    ``/\\|;&$<>`"'()`` (it ends up in log lines and cache keys)."""
    if not isinstance(kid, str) or not kid:
        raise KeyUnavailable("token has no 'kid' header")
    if len(kid) > MAX_KID_LENGTH or any(char in _BAD_KID_CHARACTERS for char in kid):
        raise KeyUnavailable("token 'kid' header is malformed")
    return kid


def https_fetcher(ca_bundle: str) -> Fetch:
    """GET a JSON document over https, trusting ``ca_bundle`` (or the system's store), with retries."""
    context = ssl.create_default_context(cafile=ca_bundle or None)
    pool = urllib3.PoolManager(ssl_context=context, retries=False, timeout=Timeout(connect=CONNECT_TIMEOUT_S,
                               total=TOTAL_TIMEOUT_S))  # fmt: skip

    def fetch(url: str) -> Any:
        if not url.startswith("https://"):
            raise ValueError(f"{url} is not an https URL")
        error: Exception | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(BACKOFF_S * (2 ** (attempt - 1)) * (1 + random.random()))
            try:
                answer = pool.request("GET", url, headers={"Accept": "application/json"})
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                error = exc
                continue
            if answer.status >= 500:
                error = ValueError(f"{url} answered {answer.status}")
                continue
            if answer.status != 200:
                raise ValueError(f"{url} answered {answer.status}")
            return json.loads(answer.data)
        assert error is not None
        raise error

    return fetch


class IssuerKeys:
    """One issuer's key set: discovery, the keys by ``kid``, the refresh rules (thread-safe)."""

    def __init__(
        self,
        issuer: str,
        fetch: Fetch,
        *,
        min_rotation_refresh: float,
        min_background_refresh: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._base = issuer.rstrip("/")
        self._fetch = fetch
        self._min_rotation = min_rotation_refresh
        self._min_background = min_background_refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._jwks_uri = ""
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._background = False
        self.fetches = 0  # attempts made (tests check the rate limit)

    def key(self, kid: str) -> jwt.PyJWK:
        """The key for ``kid``, refreshing the set once if it is unknown and the interval allows."""
        found = self._keys.get(kid)
        if found is not None:
            self._maybe_background_refresh()
            return found
        with self._lock:
            found = self._keys.get(kid)
            if found is None and self._may_refresh():
                self._refresh_locked()
                found = self._keys.get(kid)
        if found is None:
            raise KeyUnavailable(f'no key "{kid}" in the key set of issuer {self.issuer}')
        return found

    def preload(self) -> None:
        """Fetch once now, best effort (start-up: a failure is logged and retried on the first token)."""
        with self._lock:
            if self._fetched_at is None:
                self._refresh_locked()

    def _may_refresh(self) -> bool:
        return self._tried_at is None or self._clock() - self._tried_at >= self._min_rotation

    def _refresh_locked(self) -> None:
        self._tried_at = self._clock()
        self.fetches += 1
        try:
            if not self._jwks_uri:
                discovery = self._fetch(self._base + "/.well-known/openid-configuration")
                uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
                if not isinstance(uri, str) or not uri.startswith("https://"):
                    raise ValueError("the discovery document has no https jwks_uri")
                self._jwks_uri = uri
            document = self._fetch(self._jwks_uri)
            self._keys = _parse_key_set(document)
            self._fetched_at = self._clock()
        except Exception as exc:  # the issuer's failure is the token's refusal, never ours to raise
            log.warning("cannot fetch the signing keys of OIDC issuer %s: %s", self.issuer, _describe(exc))

    def _maybe_background_refresh(self) -> None:
        fetched = self._fetched_at
        if fetched is None or self._background or self._clock() - fetched < self._min_background:
            return
        self._background = True

        def run() -> None:
            try:
                with self._lock:
                    self._refresh_locked()
            finally:
                self._background = False

        threading.Thread(target=run, name="jwks-refresh", daemon=True).start()


def _parse_key_set(document: object) -> dict[str, jwt.PyJWK]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS document has no 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                keys[kid] = jwt.PyJWK(entry, algorithm=str(entry.get("alg") or "RS256"))
        except jwt.PyJWTError as exc:
            log.warning("skipping JWKS key %r: %s", kid, exc)
    return keys


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class OidcKeys:
    """Every allowed issuer's ``IssuerKeys``, made once per settings (issuers, CA bundle, intervals)."""

    def __init__(
        self,
        issuers: tuple[str, ...],
        ca_bundle: str,
        *,
        min_rotation_refresh: float,
        min_background_refresh: float,
        fetch: Fetch | None = None,
    ) -> None:
        fetcher = fetch if fetch is not None else https_fetcher(ca_bundle)
        self.issuers = {
            issuer: IssuerKeys(
                issuer,
                fetcher,
                min_rotation_refresh=min_rotation_refresh,
                min_background_refresh=min_background_refresh,
            )
            for issuer in issuers
        }

    def key(self, issuer: str, kid: str) -> jwt.PyJWK:
        keys = self.issuers.get(issuer)
        if keys is None:
            raise KeyUnavailable(f"issuer {issuer} is not allowed")
        return keys.key(kid)

    def preload_in_background(self) -> None:
        """Fetch every issuer's keys on a thread (start-up), so the first tokens find them cached."""

        def run() -> None:
            for keys in self.issuers.values():
                keys.preload()

        threading.Thread(target=run, name="jwks-preload", daemon=True).start()
