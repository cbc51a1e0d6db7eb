"""The managers' quorum in the process's metrics: this member's health while its ticks reach the etcd
quorum, and the leader changes it sees (over a real etcd member, as test_quorum)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import REGISTRY

from shoal.manager.quorum import Elector
from shoal.store.etcd import EtcdBackend
from shoal.store.etcd_server import EtcdServer
from tests.unit.manager.test_quorum import Record, elector, until
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


def healthy(member: str) -> float | None:
    return REGISTRY.get_sample_value("shoal_etcd_member_healthy", {"member": member})


def changes() -> float:
    return REGISTRY.get_sample_value("shoal_etcd_leader_changes_seen_total") or 0.0


async def test_health_and_leader_changes(client: EtcdBackend) -> None:
    before = changes()
    a: Elector = elector(client, "metrics-a", Record())
    a.start()
    await until(lambda: a.is_leader)
    assert healthy("metrics-a") == 1
    assert changes() >= before + 1  # none -> metrics-a
    seen = changes()
    await a.stop(resign=True)
    assert healthy("metrics-a") is None  # a stopped member's series goes with it
    b = elector(client, "metrics-b", Record())
    b.start()
    await until(lambda: b.is_leader)
    assert changes() >= seen + 1  # -> metrics-b
    await b.stop()
