"""Node IPAM over ObjectStore(MemoryBackend), driven by hand: each node gets the lowest free block of the
pod range, blocks are unique (also between two managers whose caches lag), an exhausted range gives
``CIDRNotAvailable`` in Kubernetes' words, a removed node's block is free again, and a new leader keeps
the blocks it finds."""

from __future__ import annotations

from shoal.api.ids import new_id
from shoal.api.kube import Event, Namespace
from shoal.api.types import Cluster, Node
from shoal.manager.kube.events import EventController
from shoal.manager.kube.nodeipam import CIDR_NOT_AVAILABLE, COMPONENT, NodeIPAM, blocks
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.index import POD_RANGE, ip_key
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

from ...helpers import make_node, memory_store, paused

Said = list[tuple[str, str, str, str]]


async def ipam(store: ObjectStore, said: Said | None = None) -> NodeIPAM:
    out = said if said is not None else []
    ctl = NodeIPAM(store, record=lambda *a: out.append(a))
    await paused(ctl)
    return ctl


def block_of(store: ObjectStore, node_id: str) -> list[str] | None:
    n = store.get(Node, node_id)
    assert n is not None
    return n.PodCIDRs


def test_blocks_cut_the_range() -> None:
    assert list(blocks("100.64.0.0/22", 24)) == ["100.64.0.0/24", "100.64.1.0/24", "100.64.2.0/24", "100.64.3.0/24"]
    assert list(blocks("100.64.0.0/24", 16)) == []


async def test_each_node_gets_its_own_block_lowest_first() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c"))
    a, b = make_node("a"), make_node("b")
    await store.create(a)
    ctl = await ipam(store)
    await ctl.tick()
    await store.create(b)
    await ctl.tick()
    assert block_of(store, a.ID) == ["100.64.0.0/24"]
    assert block_of(store, b.ID) == ["100.64.1.0/24"]
    keys, _ = await store.backend.range(ip_key(POD_RANGE, ""))
    assert sorted(kv.key.split("/")[-1] for kv in keys) == ["100.64.0.0", "100.64.1.0"]


async def test_the_cluster_settings_give_the_range_and_block_size() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c", ClusterCIDR="100.65.0.0/16", NodeCIDRMaskSize=26))
    n = make_node("a")
    await store.create(n)
    await (await ipam(store)).tick()
    assert block_of(store, n.ID) == ["100.65.0.0/26"]


async def test_an_exhausted_range_says_cidr_not_available_once() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c", ClusterCIDR="100.64.0.0/23", NodeCIDRMaskSize=24))
    nodes = [make_node(f"n{i}") for i in range(3)]
    for n in nodes:
        await store.create(n)
    said: Said = []
    ctl = await ipam(store, said)
    await ctl.tick()
    await ctl.tick()
    assert [block_of(store, n.ID) for n in nodes[:2]] == [["100.64.0.0/24"], ["100.64.1.0/24"]]
    assert block_of(store, nodes[2].ID) is None
    assert said == [("n2", CIDR_NOT_AVAILABLE, "Node n2 status is now: CIDRNotAvailable", COMPONENT)]
    # A node removed frees its block: the waiting node gets it.
    await store.delete(store.get(Node, nodes[0].ID))
    await ctl.tick()
    assert block_of(store, nodes[2].ID) == ["100.64.0.0/24"]


async def test_a_new_leader_keeps_the_blocks_it_finds() -> None:
    backend = MemoryBackend()
    store = ObjectStore(backend)
    await store.load()
    await store.create(Cluster(ID="c"))
    a, b = make_node("a"), make_node("b")
    await store.create(a)
    await store.create(b)
    await (await ipam(store)).tick()
    before = {n.ID: n.PodCIDRs for n in store.list(Node)}
    # The next leader: a store reloaded from the backend, a controller of its own.
    again = ObjectStore(backend)
    await again.load()
    c = make_node("c")
    await again.create(c)
    await (await ipam(again)).tick()
    assert {n.ID: n.PodCIDRs for n in again.list(Node) if n.ID != c.ID} == before
    assert block_of(again, c.ID) == ["100.64.2.0/24"]


async def test_a_block_another_manager_took_is_not_given_twice() -> None:
    backend = MemoryBackend()
    first, second = ObjectStore(backend), ObjectStore(backend)
    await first.load()
    await first.create(Cluster(ID="c"))
    await second.load()
    # Each manager's cache sees only its own writes: each knows one node, and no block taken.
    a, b = make_node("a"), make_node("b")
    await first.create(a)
    await second.create(b)
    await (await ipam(first)).tick()
    assert block_of(first, a.ID) == ["100.64.0.0/24"]
    lagging = await ipam(second)
    await lagging.tick()  # claims 100.64.0.0 too, and loses at commit
    assert block_of(second, b.ID) is None
    await lagging.tick()
    assert block_of(second, b.ID) == ["100.64.1.0/24"]


async def test_the_event_is_a_node_event_in_default() -> None:
    store = await memory_store()
    await store.create(Namespace(ID=new_id(), Name="default"))
    await store.create(Cluster(ID="c", ClusterCIDR="100.64.0.0/24", NodeCIDRMaskSize=24))
    events = EventController(store, KubeObjects(store, ChangeLog(store)))
    await paused(events)
    await store.create(make_node("first"))
    await store.create(make_node("second"))
    ctl = NodeIPAM(store, record=events.record_node)
    await paused(ctl)
    await ctl.tick()
    await events.settle()
    (e,) = store.list(Event)
    assert (e.Reason, e.Message, e.Type, e.Source.Component, e.Namespace) == (
        "CIDRNotAvailable", "Node second status is now: CIDRNotAvailable", "Normal", "cidrAllocator", "default")
    io = e.InvolvedObject
    assert (io.Kind, io.Name, io.ID, io.Namespace) == ("Node", "second", "second", "")
