"""AuthN's errors, worded the way the SDK's ``AuthNResponseHandler`` classifies them.

The SDK turns a status plus a substring of the body into a typed error: 401 + ``invalid credentials``
-> ``ErrUserInvalidCredentials``; 404 / 409 + ``user `` / ``role `` / ``cluster `` -> ``ErrUserNotFound``,
``ErrRoleAlreadyExists``, ``ErrClusterNotFound`` ... The helpers below are the only places those
sentences are written, so a message can never drift away from what the SDK looks for.
"""

from __future__ import annotations

from strata.core.errors import Conflict, NotFound, StrataError


class Unauthorized(StrataError):
    """401: no token, a token that does not verify, or wrong credentials at login."""

    status = 401


INVALID_CREDENTIALS = "invalid credentials"


def user_not_found(user_id: str) -> NotFound:
    return NotFound(f'user "{user_id}" does not exist')


def user_exists(user_id: str) -> Conflict:
    return Conflict(f"user {user_id} already exists")


def role_not_found(name: str) -> NotFound:
    return NotFound(f'role "{name}" does not exist')


def role_exists(name: str) -> Conflict:
    return Conflict(f"role {name} already exists")


def cluster_not_found(name: str) -> NotFound:
    return NotFound(f"cluster {name} does not exist")


def cluster_exists(what: str) -> Conflict:
    return Conflict(f"cluster {what} already registered")
