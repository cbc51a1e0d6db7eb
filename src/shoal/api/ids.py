"""Object IDs in SwarmKit's form: 128 random bits written in base 36, 25 characters."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 25


def base36(n: int, width: int = 0) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    s = "".join(reversed(out)) or "0"
    return s.rjust(width, "0")


def new_id() -> str:
    """A fresh 25-character lowercase base-36 ID, like ``9k3l0p1m2n3b4v5c6x7z8a9s0``."""
    return base36(secrets.randbits(128), ID_LENGTH)[-ID_LENGTH:]
