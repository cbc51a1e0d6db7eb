"""Object IDs in SwarmKit's form: 128 random bits written in base 36, 25 characters."""

from __future__ import annotations

import os
import threading

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 25


def base36(n: int, width: int = 0) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    s = "".join(reversed(out)) or "0"
    return s.rjust(width, "0")


_BATCH = 16 * 256  # random bytes read from the kernel at once: one system call per 256 IDs, not one each
_pool = b""
_pos = 0
_pool_lock = threading.Lock()
_DIGITS3 = [a + b + c for a in _ALPHABET for b in _ALPHABET for c in _ALPHABET]  # base 36, three digits at a time


def _random128() -> int:
    global _pool, _pos
    with _pool_lock:
        if _pos >= len(_pool):
            _pool, _pos = os.urandom(_BATCH), 0
        start = _pos
        _pos += 16
        return int.from_bytes(_pool[start:start + 16], "big")


def new_id() -> str:
    """A fresh 25-character lowercase base-36 ID, like ``9k3l0p1m2n3b4v5c6x7z8a9s0``."""
    n = _random128()
    out = []
    for _ in range(9):  # 27 digits, of which 128 bits need 25
        n, r = divmod(n, 46656)
        out.append(_DIGITS3[r])
    return "".join(reversed(out))[-ID_LENGTH:]
