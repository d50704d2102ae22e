"""The ``backend`` section of the cluster config: the backends configured, and the remote AIS clusters.

AIStore keeps one entry per provider there (``{"aws": {}, "gcp": {}}``); the ``ais`` entry is the set of
attached remote AIS clusters, alias -> proxy URLs (wave-2 contract §3)::

    "backend": {"ais": {"lab": ["http://10.0.0.5:8080"], "prod": ["https://ais.example:8080"]}}

The attach and detach actions change this entry like any config change (persisted, and in a cluster
written to etcd, which every node watches). An alias is what ``ais://@alias/bucket`` names, so it must
be a valid namespace UUID (``strata.core.names.parse_namespace``); each URL must be ``http(s)://host``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from strata.core.errors import InvalidName
from strata.core.names import parse_namespace

from ._rules import Violation

if TYPE_CHECKING:
    from .cluster import ClusterConfig

BACKEND_PROVIDERS = ("ais", "aws", "azure", "gcp", "ht", "oci")


def remote_ais_clusters(cfg: ClusterConfig) -> dict[str, tuple[str, ...]]:
    """The attached remote AIS clusters: alias -> URLs (already validated and normalized)."""
    section = cfg.backend.get("ais")
    if not isinstance(section, Mapping):
        return {}
    return {str(alias): tuple(urls) for alias, urls in section.items() if isinstance(urls, list | tuple)}


def normalize_backend(backend: dict[str, Any]) -> dict[str, Any]:
    """A copy with each remote cluster's URLs as a list without trailing ``/`` (a single URL string is
    accepted as the list of one, as people write it in a config file)."""
    section = backend.get("ais")
    if not isinstance(section, Mapping):
        return backend
    clusters: dict[str, Any] = {}
    for alias, urls in section.items():
        listed = [urls] if isinstance(urls, str) else urls
        if isinstance(listed, list | tuple) and all(isinstance(url, str) for url in listed):
            listed = [url.strip().rstrip("/") for url in listed]
        clusters[alias] = listed
    return {**backend, "ais": clusters}


def validate_backend(backend: Mapping[str, Any]) -> None:
    """Raise ``Violation`` naming the key when ``backend`` names an unknown provider or a remote AIS
    cluster with an invalid alias or URL."""
    for provider, conf in backend.items():
        if provider not in BACKEND_PROVIDERS:
            known = ", ".join(BACKEND_PROVIDERS)
            raise Violation(f"backend.{provider}: unknown backend provider (expected one of: {known})")
        if provider == "ais" and conf is not None:
            _validate_remote_ais(conf)


def _validate_remote_ais(conf: Any) -> None:
    if not isinstance(conf, Mapping):
        raise Violation('backend.ais must map aliases to URLs: {"alias": ["http://host:port"]}')
    for alias, urls in conf.items():
        key = f"backend.ais.{alias}"
        problem = alias_problem(str(alias), key)
        if problem:
            raise Violation(problem)
        if not isinstance(urls, list | tuple) or not urls:
            raise Violation(f"{key} must be a list of one or more URLs")
        for url in urls:
            problem = url_problem(url, key)
            if problem:
                raise Violation(problem)


def alias_problem(alias: str, key: str = "alias") -> str:
    """Why ``alias`` cannot name a remote cluster ("" when it can): it is used as a namespace UUID
    (``ais://@alias/b``), so letters, digits, ``-``, ``_`` and ``.``."""
    if not alias:
        return f"{key}: the alias is empty"
    try:
        parse_namespace(f"@{alias}")
    except InvalidName:
        return (
            f'{key}: invalid alias "{alias}" (up to 32 letters, digits, "-", "_" or ".", '
            "not starting or ending with one of those)"
        )
    return ""


def url_problem(url: Any, key: str = "url") -> str:
    """Why ``url`` is not where a remote cluster's proxy answers ("" when it is: ``http(s)://host[:port]``)."""
    try:
        parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        valid = bool(parsed and parsed.scheme in ("http", "https") and parsed.hostname and parsed.port != 0)
    except ValueError:  # a port that is not a number, or out of range
        valid = False
    return "" if valid else f'{key}: invalid URL "{url}" (expected http(s)://host:port)'
