"""Autolock keys: the data key sealed and unsealed, wrong keys refused in Swarm's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.api.errors import InvalidArgument
from shoal.manager import keys


def test_unlock_key_format() -> None:
    k = keys.new_unlock_key()
    assert k.startswith("SWMKEY-1-") and len(k) == len("SWMKEY-1-") + 43
    assert len(keys.parse_unlock_key(k)) == 32
    for bad in ("", "SWMKEY-1-", "SWMKEY-2-" + k[9:], k[:-2], "SWMKEY-1-!!!!"):
        with pytest.raises(InvalidArgument, match=r"^swarm could not be unlocked: invalid key provided$"):
            keys.parse_unlock_key(bad)


def test_dek_sealed_and_unsealed(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    dek = keys.new_dek()
    keys.save_dek(path, dek)
    assert not keys.is_sealed(path) and keys.load_dek(path) == dek
    key = keys.new_unlock_key()
    keys.save_dek(path, dek, key)
    assert keys.is_sealed(path)
    assert dek.hex() not in path.read_text() and path.stat().st_mode & 0o077 == 0
    with pytest.raises(keys.Locked):
        keys.load_dek(path)
    with pytest.raises(InvalidArgument, match="invalid key provided"):
        keys.load_dek(path, keys.new_unlock_key())
    assert keys.load_dek(path, key) == dek
