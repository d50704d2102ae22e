"""Password hashes: the standard library's scrypt (memory-hard), a random salt per password.

Stored as ``scrypt$N$r$p$SALT$HASH`` (base64), so the cost can be raised later without breaking the
hashes already stored. Hashing costs tens of milliseconds on purpose: callers run it in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1
_LENGTH = 32
_SALT_BYTES = 16
# checked against when the user does not exist, so a login takes as long either way
_DECOY = ""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=_LENGTH)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(_scrypt(password, salt, _N, _R, _P))}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; ``None`` (no such user) costs the same and is False."""
    global _DECOY
    if stored is None:
        if not _DECOY:
            _DECOY = hash_password(secrets.token_hex(8))
        verify_password(password, _DECOY)
        return False
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(expected))
