"""Object IDs: SwarmKit's 25 lowercase base-36 characters of 128 random bits."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.api import ids
from shoal.api.ids import ID_LENGTH, base36, new_id

ID_RE = re.compile(r"^[0-9a-z]{25}$")


def test_ids_are_25_lowercase_base36_characters() -> None:
    for _ in range(2000):
        i = new_id()
        assert ID_RE.match(i), i
    assert ID_LENGTH == 25


def test_ids_are_unique() -> None:
    n = 20_000
    assert len({new_id() for _ in range(n)}) == n


def test_ids_use_the_whole_alphabet_and_all_positions() -> None:
    sample = [new_id() for _ in range(3000)]
    assert set("".join(sample)) == set("0123456789abcdefghijklmnopqrstuvwxyz")
    # The first character is not stuck: 2**128 < 36**25, so it varies over a few values only, but varies.
    assert len({s[0] for s in sample}) > 1
    assert all(len({s[i] for s in sample}) == 36 for i in range(1, ID_LENGTH))


@pytest.mark.parametrize("bits", [0, 1, 35, 36, 2**64, 2**128 - 1])
def test_new_id_encodes_its_128_bits_without_loss(monkeypatch: pytest.MonkeyPatch, bits: int) -> None:
    monkeypatch.setattr(ids, "_random128", lambda: bits)
    i = new_id()
    assert len(i) == 25 and ID_RE.match(i)
    assert int(i, 36) == bits


def test_base36() -> None:
    assert base36(0) == "0"
    assert base36(35) == "z"
    assert base36(36) == "10"
    assert base36(36**2 - 1) == "zz"
    assert base36(5, width=4) == "0005"


@given(st.integers(min_value=0, max_value=2**200))
def test_base36_roundtrips(n: int) -> None:
    s = base36(n)
    assert int(s, 36) == n
    assert s == "0" or not s.startswith("0")


def test_ids_come_from_the_kernel_in_batches_without_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []

    def urandom(n: int) -> bytes:
        reads.append(n)
        return bytes(range(len(reads), len(reads) + 16)) * (n // 16)  # a distinct 16-byte block per read

    monkeypatch.setattr(ids, "_pool", b"")
    monkeypatch.setattr(ids.os, "urandom", urandom)
    got = [ids._random128() for _ in range(ids._BATCH // 16 + 1)]
    assert reads == [ids._BATCH, ids._BATCH]
    assert got[-1] != got[0] and got[-1] == int.from_bytes(bytes(range(2, 18)), "big")
