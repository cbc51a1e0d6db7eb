"""The encrypted overlays' keys: three made at once, one replaced per interval (the oldest), with
Lamport times that only grow, and the key manager's loop doing it in the store on time."""

from __future__ import annotations

import asyncio
import base64

import pytest

from shoal.api.types import Cluster
from shoal.manager import netkeys

from ..helpers import memory_store

HOUR = 3600.0


def test_three_keys_then_one_new_key_per_interval() -> None:
    c = Cluster(ID="c")
    assert netkeys.rotate(c, 1000.0, 12 * HOUR)
    keys = c.NetworkBootstrapKeys or []
    assert [k.LamportTime for k in keys] == [1, 2, 3] and c.EncryptionKeyLamportClock == 3
    assert {k.Subsystem for k in keys} == {"networking:overlay"} and {k.Algorithm for k in keys} == {"aes-gcm"}
    assert len({k.Key for k in keys}) == 3 and all(len(base64.b64decode(k.Key)) == 16 for k in keys)
    assert not netkeys.rotate(c, 1000.0 + 12 * HOUR - 1, 12 * HOUR)  # not due yet
    old = [k.Key for k in keys]
    assert netkeys.rotate(c, 1000.0 + 12 * HOUR, 12 * HOUR)
    keys = c.NetworkBootstrapKeys or []
    assert [k.LamportTime for k in keys] == [2, 3, 4]
    assert [k.Key for k in keys][:2] == old[1:]  # the oldest went, the others stay
    assert netkeys.node_keys(c) == [{"spi": k.LamportTime, "key": k.Key} for k in keys]
    assert netkeys.node_keys(None) == []


def test_the_default_interval_is_swarms_and_can_be_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOAL_NETWORK_KEY_ROTATION", raising=False)
    assert netkeys.rotation_interval() == 12 * HOUR
    monkeypatch.setenv("SHOAL_NETWORK_KEY_ROTATION", "4")
    assert netkeys.rotation_interval() == 4.0


async def test_the_key_manager_rotates_in_the_store_when_due() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c"))
    now = [0.0]
    km = netkeys.NetworkKeyManager(store, clock=lambda: now[0], interval=0.2)
    km.start()
    try:
        async def lamports() -> list[int]:
            for _ in range(100):
                c = store.get(Cluster, "c")
                if c is not None and c.NetworkBootstrapKeys:
                    return [k.LamportTime for k in c.NetworkBootstrapKeys]
                await asyncio.sleep(0.01)
            return []

        assert await lamports() == [1, 2, 3]
        now[0] = 0.2  # due: the loop has set a timer for then
        for _ in range(100):
            if await lamports() == [2, 3, 4]:
                break
            await asyncio.sleep(0.02)
        assert await lamports() == [2, 3, 4]
    finally:
        await km.stop()
