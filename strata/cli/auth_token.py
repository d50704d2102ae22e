"""Where ``strata auth login`` keeps the token, and how every verb finds it again.

The ``ais`` CLI's place and form: ``$AIS_AUTHN_TOKEN_FILE``, else ~/.config/ais/cli/auth.token, holding
``{"token": "..."}`` (mode 0600). ``$AIS_AUTHN_TOKEN`` (which the SDK reads itself) wins over the file.
"""

from __future__ import annotations

import json
import os

TOKEN_ENV = "AIS_AUTHN_TOKEN"
TOKEN_FILE_ENV = "AIS_AUTHN_TOKEN_FILE"


def token_file() -> str:
    return os.environ.get(TOKEN_FILE_ENV) or os.path.join(
        os.path.expanduser("~"), ".config", "ais", "cli", "auth.token"
    )


def read_token_text(text: str) -> str:
    text = text.strip()
    if text.startswith("{"):
        try:
            return str(json.loads(text).get("token", ""))
        except (ValueError, AttributeError):
            return ""
    return text


def saved_token() -> str:
    """``$AIS_AUTHN_TOKEN``, else the token ``strata auth login`` saved, else ""."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    try:
        with open(token_file()) as file:
            return read_token_text(file.read())
    except OSError:
        return ""


def save_token(token: str) -> str:
    path = token_file()
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    work = path + ".work"
    fd = os.open(work, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"token": token}, file)
    os.replace(work, path)
    return path
