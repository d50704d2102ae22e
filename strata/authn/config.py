"""AuthN's own config (AIStore's ``authn.json`` shape), served and changed at ``/v1/daemon``.

::

    {"log": {"dir", "level"},
     "net": {"http": {"port", "use_https", "server_crt", "server_key"}, "external_url"},
     "auth": {"secret", "expiration_time", "max_token_age"},
     "timeout": {"default_timeout"}}

``auth.secret`` set (or ``AIS_AUTHN_SECRET_KEY``) means tokens are HS256 with that secret, which the
cluster's ``auth.signature`` must hold too; empty means RS256 with an RSA key AuthN makes and keeps.
``expiration_time`` is a login's default token lifetime, ``max_token_age`` the longest one may ask for.
A GET shows the secret masked. The file is written back (atomically) when ``PUT /v1/daemon`` changes it.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from strata.authn.files import atomic_write
from strata.config.units import format_duration_ns, parse_duration_ns
from strata.core.errors import InvalidRequest

DEFAULT_PORT = 52001
SECRET_ENV = "AIS_AUTHN_SECRET_KEY"
MASK = "**********"
MIN_TOKEN_AGE_NS = 60 * 10**9


class HttpConf(msgspec.Struct, forbid_unknown_fields=True):
    port: int = DEFAULT_PORT
    use_https: bool = False
    server_crt: str = ""
    server_key: str = ""


class NetConf(msgspec.Struct, forbid_unknown_fields=True):
    http: HttpConf = msgspec.field(default_factory=HttpConf)
    external_url: str = ""


class LogConf(msgspec.Struct, forbid_unknown_fields=True):
    dir: str = ""
    level: str = "3"


class AuthConf(msgspec.Struct, forbid_unknown_fields=True):
    secret: str = ""
    expiration_time: str = "24h"
    max_token_age: str = "2160h"  # 90 days


class TimeoutConf(msgspec.Struct, forbid_unknown_fields=True):
    default_timeout: str = "30s"


class AuthnConfig(msgspec.Struct, forbid_unknown_fields=True):
    log: LogConf = msgspec.field(default_factory=LogConf)
    net: NetConf = msgspec.field(default_factory=NetConf)
    auth: AuthConf = msgspec.field(default_factory=AuthConf)
    timeout: TimeoutConf = msgspec.field(default_factory=TimeoutConf)


class AuthUpdate(msgspec.Struct, forbid_unknown_fields=True):
    secret: str | None = None
    expiration_time: str | None = None
    max_token_age: str | None = None


class ConfigUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /v1/daemon``: what may change at run time (AIStore's ``ConfigToUpdate``)."""

    auth: AuthUpdate | None = None


def _duration(text: str, name: str) -> int:
    try:
        value = parse_duration_ns(text)
    except ValueError as exc:
        raise InvalidRequest(f"auth config: {name}: {exc}") from None
    if value < MIN_TOKEN_AGE_NS:
        raise InvalidRequest(f'auth config: {name} "{text}" is shorter than 1m')
    return value


def validate(config: AuthnConfig) -> None:
    """Raise ``InvalidRequest`` naming the first bad field."""
    expiration = _duration(config.auth.expiration_time, "auth.expiration_time")
    max_age = _duration(config.auth.max_token_age, "auth.max_token_age")
    if expiration > max_age:
        raise InvalidRequest("auth config: auth.expiration_time is longer than auth.max_token_age")
    if not 0 <= config.net.http.port <= 65535:
        raise InvalidRequest(f"auth config: net.http.port {config.net.http.port} is not a port")
    if config.net.http.use_https and not (config.net.http.server_crt and config.net.http.server_key):
        raise InvalidRequest("auth config: net.http.use_https needs net.http.server_crt and server_key")
    url = config.net.external_url
    if url and not url.startswith(("http://", "https://")):
        raise InvalidRequest(f'auth config: net.external_url "{url}" is not an http(s) URL')


class Settings:
    """The config in force: the file's, with ``AIS_AUTHN_SECRET_KEY`` over ``auth.secret`` until a PUT."""

    def __init__(self, path: str, config: AuthnConfig, env_secret: str = "") -> None:
        self.path = path
        self.config = config
        self.env_secret = env_secret

    @classmethod
    def load(cls, path: str) -> Settings:
        """The file at ``path`` (defaults when there is none); ``InvalidRequest`` when it is bad."""
        config = AuthnConfig()
        if os.path.exists(path):
            try:
                with open(path, "rb") as file:
                    config = msgspec.json.decode(file.read(), type=AuthnConfig)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise InvalidRequest(f"{path}: {exc}") from None
        validate(config)
        return cls(path, config, os.environ.get(SECRET_ENV, ""))

    @property
    def secret(self) -> str:
        return self.env_secret or self.config.auth.secret

    @property
    def default_lifetime_ns(self) -> int:
        return parse_duration_ns(self.config.auth.expiration_time)

    @property
    def max_lifetime_ns(self) -> int:
        return parse_duration_ns(self.config.auth.max_token_age)

    def shown(self) -> dict[str, Any]:
        """The config for a GET: the secret masked, durations in AIStore's form."""
        shown: dict[str, Any] = msgspec.to_builtins(self.config)
        auth = shown["auth"]
        auth["secret"] = MASK if self.secret else ""
        for name in ("expiration_time", "max_token_age"):
            auth[name] = format_duration_ns(parse_duration_ns(auth[name]))
        return shown

    def update(self, body: bytes) -> None:
        """Apply a ``PUT /v1/daemon`` body, validate the result, and write the file."""
        try:
            change = msgspec.json.decode(body or b"{}", type=ConfigUpdate)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidRequest(f"auth config: {exc}") from None
        if change.auth is None:
            raise InvalidRequest('auth config: nothing to change (expected {"auth": {...}})')
        updated = msgspec.json.decode(msgspec.json.encode(self.config), type=AuthnConfig)
        for name in ("secret", "expiration_time", "max_token_age"):
            value = getattr(change.auth, name)
            if value is not None:
                setattr(updated.auth, name, value)
        validate(updated)
        atomic_write(self.path, msgspec.json.format(msgspec.json.encode(updated), indent=2))
        self.config = updated
        if change.auth.secret is not None:
            self.env_secret = ""  # an explicit change wins over the environment until the next start
