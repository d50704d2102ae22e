"""Turn anything a verb can raise into the one line the user sees after ``Error:``.

The SDK raises ``AISError`` whose ``message`` is the raw response body: for Strata and AIStore that is
a JSON object with a ``message`` field (``bucket "ais://x" does not exist``), which is what we print.
HEAD answers have no body; the server then puts the same JSON in the ``Hdr-Error`` header, which we find
on the ``requests`` error the SDK chains as ``__cause__``. Network failures become "cannot reach ..."
rather than a urllib3 traceback.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from strata.cli.uri import UsageError

if TYPE_CHECKING:
    from aistore.sdk.errors import APIRequestError

# The SDK and requests are imported where an error is described, not here: the parser's modules import
# ``CommandError``, and ``strata --help`` or ``strata serve`` should not load the client library.


class CommandError(Exception):
    """A verb failed in a way it has already worded for the user (exit status 1)."""


def _message_from_body(text: str) -> str:
    """The ``message`` of an AIS JSON error body, or the text itself when it is not JSON."""
    text = text.strip()
    if not text:
        return ""
    try:
        body: Any = json.loads(text)
    except ValueError:
        return text.splitlines()[0]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return text.splitlines()[0]


def _message_from_headers(error: BaseException) -> str:
    """A HEAD error's JSON lives in ``Hdr-Error``; the response is on the chained ``HTTPError``."""
    import requests

    cause = error.__cause__
    response = getattr(cause, "response", None)
    if isinstance(response, requests.Response):
        return _message_from_body(response.headers.get("Hdr-Error", ""))
    return ""


def describe_api_error(error: APIRequestError, subject: str = "") -> str:
    """The server's own words when it gave some; else a status-based sentence naming ``subject``."""
    message = _message_from_body(error.message or "") or _message_from_headers(error)
    if message:
        return message
    if error.status_code == 404 and subject:
        return f"{subject} does not exist"
    return f"{subject + ': ' if subject else ''}request failed with HTTP status {error.status_code}"


def describe(error: BaseException, endpoint: str, subject: str = "") -> str:
    """One line for any failure; ``subject`` (``ais://b`` or ``ais://b/o``) fills status-only answers."""
    if isinstance(error, CommandError | UsageError):
        return str(error)
    import requests
    from aistore.sdk.errors import AISError, APIRequestError

    if isinstance(error, AISError | APIRequestError):
        return describe_api_error(error, subject)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return f"cannot reach {endpoint}: connection timed out"
    if isinstance(error, requests.exceptions.ReadTimeout):
        return f"{endpoint} did not answer in time (read timeout)"
    if isinstance(error, requests.exceptions.ConnectionError):
        return f"cannot reach {endpoint}: is a Strata (or AIStore) node running there? ({_root_cause(error)})"
    if isinstance(error, requests.exceptions.RequestException):
        return f"request to {endpoint} failed: {_root_cause(error)}"
    if isinstance(error, OSError):
        target = f": {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{target}"
    return f"{type(error).__name__}: {error}"


def _root_cause(error: BaseException) -> str:
    """The innermost reason (``Connection refused``), not urllib3's nested repr of the pool."""
    reason: BaseException = error
    seen: set[int] = set()
    while id(reason) not in seen:
        seen.add(id(reason))
        inner = reason.__cause__ or reason.__context__
        if inner is None and reason.args and isinstance(reason.args[0], BaseException):
            inner = reason.args[0]
        if inner is None:
            inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException):
            break
        reason = inner
    text = str(reason)
    if "Connection refused" in text or isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text.rsplit(": ", 1)[-1] if ": " in text else text
