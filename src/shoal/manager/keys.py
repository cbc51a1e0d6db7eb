"""Encryption at rest and autolock: the data key, and the unlock key that seals it.

Every value in a manager's store is encrypted with the cluster's data encryption key (DEK, AES-256-GCM,
``store/encryption.py``). The DEK lives in ``<swarm dir>/keys.json``: in the clear when autolock is
off; sealed with the unlock key (``SWMKEY-1-<32 random bytes, base 64>``) when it is on. A manager
that restarts with a sealed DEK is *locked*: it serves nothing of the swarm until ``swarm unlock``
gives it the key. Turning autolock on or off, or rotating the unlock key, only re-seals the DEK;
nothing in the store is re-encrypted. A manager's TLS private key is kept encrypted with the DEK
too (``node.key.enc``), so with autolock no private key is readable in the data directory. The
unlock key itself is kept in the cluster object (so ``swarm unlock-key`` can show it), which the DEK
protects.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shoal.api.errors import InvalidArgument

UNLOCK_PREFIX = "SWMKEY-1-"
INVALID_KEY = "swarm could not be unlocked: invalid key provided"
_AAD = b"shoal data encryption key"


class Locked(Exception):
    """The data key is sealed: the swarm needs ``swarm unlock``."""


def new_dek() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def new_unlock_key() -> str:
    return UNLOCK_PREFIX + base64.b64encode(os.urandom(32)).decode().rstrip("=")


def parse_unlock_key(key: str) -> bytes:
    key = key.strip()
    if not key.startswith(UNLOCK_PREFIX):
        raise InvalidArgument(INVALID_KEY)
    body = key[len(UNLOCK_PREFIX):]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except ValueError as e:
        raise InvalidArgument(INVALID_KEY) from e
    if len(raw) != 32:
        raise InvalidArgument(INVALID_KEY)
    return raw


def save_dek(path: Path, dek: bytes, unlock_key: str = "") -> None:
    """Write the DEK, sealed with ``unlock_key`` when one is given (autolock)."""
    if unlock_key:
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(parse_unlock_key(unlock_key)).encrypt(nonce, dek, _AAD)
        doc = {"sealed": base64.b64encode(sealed).decode()}
    else:
        doc = {"dek": base64.b64encode(dek).decode()}
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


def load_dek(path: Path, unlock_key: str = "") -> bytes:
    """The DEK; raises Locked if it is sealed and no key was given, InvalidArgument for a wrong key."""
    doc = json.loads(path.read_text())
    if "dek" in doc:
        return base64.b64decode(doc["dek"])
    if not unlock_key:
        raise Locked()
    sealed = base64.b64decode(doc["sealed"])
    try:
        return AESGCM(parse_unlock_key(unlock_key)).decrypt(sealed[:12], sealed[12:], _AAD)
    except InvalidTag as e:
        raise InvalidArgument(INVALID_KEY) from e


NODE_KEY_AAD = b"shoal node key"


def seal_with_dek(dek: bytes, data: bytes, aad: bytes = NODE_KEY_AAD) -> bytes:
    """``data`` encrypted with the data key (a manager's TLS key at rest)."""
    nonce = os.urandom(12)
    return nonce + AESGCM(dek).encrypt(nonce, data, aad)


def open_with_dek(dek: bytes, sealed: bytes, aad: bytes = NODE_KEY_AAD) -> bytes:
    return AESGCM(dek).decrypt(sealed[:12], sealed[12:], aad)


def is_sealed(path: Path) -> bool:
    return path.exists() and "sealed" in json.loads(path.read_text())
