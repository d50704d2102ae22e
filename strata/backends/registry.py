"""``backend_for(provider, settings)``: the one place that names the backends and caches their clients.

Provider names follow the SDK and the URI schemes: ``aws``|``s3``, ``gcp``|``gs``, ``azure``|``az``,
``ht``, ``ais`` (a remote AIS cluster: its URLs are in ``settings.ais``). A backend module is imported
on first use only (boto3, google-cloud-storage and azure-storage-blob take a while to import, and a node
without cloud buckets never needs them). One backend is kept per provider and the part of the settings
it reads, so every bucket with the same overrides shares one client and connection pool; a forked child
starts with an empty cache (its parent's clients hold the parent's sockets).
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import astuple

from strata.core.errors import InvalidRequest, NotImplementedYet

from .interface import Backend
from .settings import BackendSettings

ALIASES = {
    "aws": "aws",
    "s3": "aws",
    "gcp": "gcp",
    "gs": "gcp",
    "azure": "azure",
    "az": "azure",
    "ht": "ht",
    "ais": "ais",
}
_CLASSES = {
    "aws": ("strata.backends.aws", "AwsBackend"),
    "gcp": ("strata.backends.gcp", "GcpBackend"),
    "azure": ("strata.backends.azure", "AzureBackend"),
    "ht": ("strata.backends.ht", "HttpBackend"),
    "ais": ("strata.backends.ais", "AisBackend"),
}
_SECTION = {"aws": "aws", "gcp": "gcp", "azure": "azure", "ht": "http", "ais": "ais"}
_cache: dict[tuple[object, ...], Backend] = {}
_lock = threading.Lock()


def _forget_in_child() -> None:
    """After a fork: the parent's clients hold the parent's sockets (and maybe ``_lock``); start afresh."""
    global _lock
    _lock = threading.Lock()
    _cache.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def normalize_backend_provider(provider: str) -> str:
    """``s3`` -> ``aws`` and so on; ``oci`` and unknown names are refused at once (501 / 400)."""
    name = ALIASES.get(provider.lower())
    if name is not None:
        return name
    if provider.lower() in ("oci", "oc"):
        raise NotImplementedYet("the oci backend is not supported")
    raise InvalidRequest(
        f'invalid backend provider "{provider}" (expected aws|s3, gcp|gs, azure|az, ht, ais)'
    )


def backend_for(provider: str, settings: BackendSettings | None = None) -> Backend:
    """The shared backend for ``provider`` configured by ``settings`` (defaults: the environment's)."""
    name = normalize_backend_provider(provider)
    settings = settings or BackendSettings()
    key = (name, astuple(getattr(settings, _SECTION[name])), astuple(settings.transport))
    with _lock:
        backend = _cache.get(key)
        if backend is None:
            module_name, class_name = _CLASSES[name]
            backend_class: type[Backend] = getattr(importlib.import_module(module_name), class_name)
            backend = _cache[key] = backend_class(settings)
    return backend


def close_backends() -> None:
    """Close every cached backend's client (shutdown, tests); the next ``backend_for`` makes new ones."""
    with _lock:
        backends = list(_cache.values())
        _cache.clear()
    for backend in backends:
        backend.close()
