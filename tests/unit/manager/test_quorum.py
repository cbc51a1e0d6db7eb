"""Leader election among managers over a real etcd member: one leader at a time, presence, hand-over
when the leader resigns, stepping down when the lease is lost, and the no-leader verdict."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from shoal.manager.quorum import LEADER_KEY, Elector
from shoal.store.backend import Put
from shoal.store.etcd import EtcdBackend
from shoal.store.etcd_server import EtcdServer
from tests.unit.store.test_backends import NO_ETCD, etcd_member, open_etcd

pytestmark = NO_ETCD


@pytest.fixture(scope="module")
def server() -> Iterator[EtcdServer]:
    with etcd_member() as s:
        yield s


@pytest.fixture
async def client(server: EtcdServer) -> AsyncIterator[EtcdBackend]:
    c = await open_etcd(server)
    yield c
    await c.close()


class Record:
    def __init__(self) -> None:
        self.events: list[str] = []

    async def elected(self) -> None:
        self.events.append("elected")

    async def deposed(self) -> None:
        self.events.append("deposed")


def elector(client: EtcdBackend, node_id: str, rec: Record) -> Elector:
    return Elector(client, node_id, on_elected=rec.elected, on_deposed=rec.deposed, ttl=1.0, tick=0.05)


async def until(cond: object, timeout: float = 10.0) -> None:
    async def wait() -> None:
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


async def test_one_leader_and_hand_over_on_resign(client: EtcdBackend) -> None:
    ra, rb = Record(), Record()
    a, b = elector(client, "a", ra), elector(client, "b", rb)
    a.start()
    await until(lambda: a.is_leader)
    b.start()
    await until(lambda: b.present == {"a", "b"} and b.leader == "a")
    assert not b.is_leader and rb.events == []
    assert await a.writable() and await b.writable()
    await a.stop(resign=True)
    assert ra.events == ["elected", "deposed"]
    await until(lambda: b.is_leader)
    await until(lambda: b.present == {"b"})
    assert rb.events == ["elected"]
    await b.stop()


async def test_leader_that_loses_its_lease_steps_down(client: EtcdBackend) -> None:
    rec = Record()
    a = elector(client, "a", rec)
    a.start()
    await until(lambda: a.is_leader)
    kv, _ = await client.get(LEADER_KEY)
    assert kv is not None and kv.value == b"a"
    await client.lease_revoke(kv.lease)  # what etcd does when the keep-alives stop reaching it
    await until(lambda: rec.events[-1:] == ["deposed"] or rec.events.count("elected") == 2)
    assert rec.events[:2] == ["elected", "deposed"]
    await until(lambda: a.is_leader)  # a new lease, and it campaigns again
    await a.stop()


async def test_no_leader_is_not_writable(client: EtcdBackend) -> None:
    a = elector(client, "a", Record())
    assert not await a.writable()  # never reached the quorum


async def test_a_new_manager_is_present_for_the_others_at_once(client: EtcdBackend) -> None:
    """A manager that has joined is reachable for every other manager as soon as its presence key is
    written, not at their next tick (here a minute away: only the watch can tell them)."""
    ra, rb = Record(), Record()
    a = Elector(client, "a", on_elected=ra.elected, on_deposed=ra.deposed, ttl=30.0, tick=60.0)
    b = Elector(client, "b", on_elected=rb.elected, on_deposed=rb.deposed, ttl=30.0, tick=60.0)
    a.start()
    assert await a.settled(10) and a.is_leader and a.present == {"a"}
    b.start()
    assert await b.settled(10) and b.leader == "a" and b.present == {"a", "b"}
    await until(lambda: a.present == {"a", "b"}, timeout=5)
    await b.stop(resign=True)  # its lease revoked: its presence key goes, and a sees it at once
    await until(lambda: a.present == {"a"}, timeout=5)
    await a.stop()


async def test_a_restarted_leader_keeps_the_leader_key_of_its_previous_run(client: EtcdBackend) -> None:
    """A manager restarted within its old lease's TTL finds the leader key naming it under that lease: it
    holds it under its new lease, so the old lease running out neither deposes it nor leaves no leader."""
    old_lease = await client.lease_grant(30)
    await client.txn([], [Put(LEADER_KEY, b"a", old_lease)])
    rec = Record()
    a = elector(client, "a", rec)
    a.start()
    assert await a.settled(10) and a.is_leader  # (its first tick took the key over)
    kv, _ = await client.get(LEADER_KEY)
    assert kv is not None and kv.value == b"a" and kv.lease not in (0, old_lease)
    await client.lease_revoke(old_lease)
    kv, _ = await client.get(LEADER_KEY)
    assert kv is not None and kv.value == b"a" and await a.writable()
    assert rec.events == ["elected"]
    await a.stop()
