"""The LoadBalancer address controller (``manager/kube/loadbalancers.py``) on an in-memory store: addresses
from a pool (the lowest free one, ``spec.loadBalancerIP`` honoured, never two Services on one, freed when
the Service goes or changes type, an exhausted pool leaving the Service pending with MetalLB's event until
an address is let go), a second manager's claim of the same address refused by the store, and without a
pool the ready nodes' addresses, following the nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from shoal.api.kube import Event, Namespace
from shoal.api.types import Cluster, KubeService, KubeServicePort, KubeServiceSpec, Node, clone
from shoal.manager.kube import loadbalancers as lbs
from shoal.manager.kube.loadbalancers import LoadBalancerController
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

from ...helpers import make_node


@dataclass
class World:
    store: ObjectStore
    kube: KubeObjects
    lb: LoadBalancerController

    async def settle(self) -> None:
        for _ in range(50):
            await self.lb.settle()
            if not len(self.lb.queue):
                return

    def svc(self, name: str) -> KubeService:
        s: KubeService = self.kube.get("kubeservices", "default", name)
        return s

    def ips(self, name: str) -> list[str]:
        return [i.IP for i in self.svc(name).Status.LoadBalancer or []]

    def events(self, reason: str) -> list[str]:
        evs: list[Event] = self.kube.list("events", "default")
        return sorted(f"{e.InvolvedObject.Name}: {e.Message}" for e in evs if e.Reason == reason)


def lb_service(name: str, kind: str = "LoadBalancer", ip: str = "", lb_class: str = "") -> KubeService:
    return KubeService(ID="", Name=name, Namespace="default", Spec=KubeServiceSpec(
        Type=kind, Ports=[KubeServicePort(Port=80, TargetPort=80)], Selector={"app": name},
        LoadBalancerIP=ip, LoadBalancerClass=lb_class, ExternalTrafficPolicy="Cluster"))


async def world(pool: str, backend: MemoryBackend | None = None) -> World:
    store = ObjectStore(backend or MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=10000))
    if not store.list(Cluster):
        await store.commit(creates=[Cluster(ID="c1", ServiceLBPool=pool)])
        await kube.create(Namespace(ID="", Name="default"))
    lb = LoadBalancerController(store, kube)
    lb.seed()
    return World(store, kube, lb)


@pytest.fixture
async def pooled() -> AsyncIterator[World]:
    w = await world("10.213.7.240-10.213.7.242")
    yield w
    await w.lb.stop()


async def test_pool_addresses_lowest_free_asked_for_never_shared_and_freed(pooled: World) -> None:
    w = pooled
    await w.kube.create(lb_service("a"))
    await w.kube.create(lb_service("b", ip="10.213.7.242"))
    await w.kube.create(lb_service("np", kind="NodePort"))
    await w.kube.create(lb_service("other", lb_class="example.com/other"))  # another implementation's
    await w.settle()
    assert w.ips("a") == ["10.213.7.240"] and w.svc("a").Status.PoolAddress == "10.213.7.240"
    assert w.ips("b") == ["10.213.7.242"]
    assert w.ips("np") == [] and w.ips("other") == []
    assert w.events("IPAllocated") == ['a: Assigned IP ["10.213.7.240"]', 'b: Assigned IP ["10.213.7.242"]']
    # an address taken, or outside the pool: pending, with MetalLB's words
    await w.kube.create(lb_service("c", ip="10.213.7.240"))
    await w.kube.create(lb_service("d", ip="10.213.8.1"))
    await w.settle()
    assert w.ips("c") == [] and w.ips("d") == []
    assert w.events("AllocationFailed") == [
        'c: Failed to allocate IP for "default/c": "10.213.7.240" is already in use',
        'd: Failed to allocate IP for "default/d": "10.213.8.1" is not allowed in config']
    # a Service that stops being a LoadBalancer lets its address go (the registry clears its status)
    a = clone(w.svc("a"))
    a.Spec.Type = "ClusterIP"
    a.Spec.Ports = [KubeServicePort(Port=80, TargetPort=80)]
    a.Spec.ExternalTrafficPolicy = ""
    await w.kube.update(a)
    assert w.svc("a").Status.LoadBalancer is None and not w.svc("a").Status.PoolAddress
    await w.settle()
    assert w.ips("c") == ["10.213.7.240"]  # the address it asked for is free now


async def test_an_exhausted_pool_leaves_a_service_pending_until_an_address_is_freed(pooled: World) -> None:
    w = pooled
    for name in ("a", "b", "c", "d"):
        await w.kube.create(lb_service(name))
    await w.settle()
    assert [w.ips(n) for n in ("a", "b", "c")] == [["10.213.7.240"], ["10.213.7.241"], ["10.213.7.242"]]
    assert w.ips("d") == []
    assert w.events("AllocationFailed") == ['d: Failed to allocate IP for "default/d": no available IPs']
    await w.settle()  # looked at again: no second event for the same words
    assert len(w.events("AllocationFailed")) == 1
    await w.kube.delete("kubeservices", "default", "b")
    await w.settle()
    assert w.ips("d") == ["10.213.7.241"]


async def test_two_managers_never_hold_one_pool_address() -> None:
    backend = MemoryBackend()
    first = await world("10.213.7.240/30", backend)  # usable: .241, .242
    await first.kube.create(lb_service("a"))
    await first.settle()
    second = await world("", backend)  # another manager (a new leader): its cache does not follow the first's
    await first.kube.create(lb_service("b"))
    await first.settle()
    assert first.ips("a") == ["10.213.7.241"] and first.ips("b") == ["10.213.7.242"]
    # the second's cache has a but not b: it picks b's address for c, the store refuses the claim, and
    # it sets the address aside and looks again: the pool is exhausted
    await second.kube.create(lb_service("c"))
    await second.settle()
    assert second.ips("c") == [] and "10.213.7.242" in second.lb.taken_elsewhere
    assert second.events("AllocationFailed") == ['c: Failed to allocate IP for "default/c": no available IPs']
    await first.lb.stop()
    await second.lb.stop()


async def test_without_a_pool_the_ready_nodes_addresses() -> None:
    w = await world("")
    try:
        a, b = make_node("a"), make_node("b")
        a.Status.Addr, b.Status.Addr = "10.213.5.3", "10.213.5.20"
        down = make_node("down", state="down")
        down.Status.Addr = "10.213.5.9"
        await w.store.commit(creates=[a, b, down])
        await w.kube.create(lb_service("web"))
        await w.kube.create(lb_service("api"))
        await w.settle()
        assert w.ips("web") == w.ips("api") == ["10.213.5.3", "10.213.5.20"]
        assert not w.svc("web").Status.PoolAddress
        # a node comes, one is drained: the addresses follow
        up: Node = clone(w.store.get(Node, down.ID))  # type: ignore[arg-type]
        up.Status.State = "ready"
        drained: Node = clone(w.store.get(Node, b.ID))  # type: ignore[arg-type]
        drained.Spec.Availability = "drain"
        await w.store.commit(updates=[up, drained])
        await w.settle()
        assert w.ips("web") == ["10.213.5.3", "10.213.5.9"]
    finally:
        await w.lb.stop()


def test_pick() -> None:
    assert lbs.pick("10.0.0.0/30", set()) == ("10.0.0.1", "")
    assert lbs.pick("10.0.0.0/30", {"10.0.0.1", "10.0.0.2"}) == ("", "no available IPs")
    assert lbs.pick("10.0.0.5-10.0.0.6", {"10.0.0.5"}) == ("10.0.0.6", "")
    assert lbs.pick("10.0.0.5-10.0.0.6", set(), "10.0.0.6") == ("10.0.0.6", "")
