"""The dispatcher's push of the pod network (``Assignments.podnet``): each node that wires Pods gets
its own block and every other node's (address, block), again when a block or an address changes, and
nothing when nothing changed; a hollow node (``kube_network`` False) never gets it."""

from __future__ import annotations

from shoal.api.kubenet import PodNetPeer, PodNetwork
from shoal.api.types import Cluster, Node, NodeDescription, NodeStatus
from shoal.manager.dispatcher import Dispatcher, Session
from shoal.manager.kube.nodeipam import NodeIPAM
from shoal.protocol import Assignments

from ..helpers import memory_store, paused


def drained(s: Session) -> list[Assignments]:
    out = []
    while not s.queue.empty():
        msg = s.queue.get_nowait()
        if msg is not None:
            out.append(msg)
    return out


def podnets(s: Session) -> list[PodNetwork]:
    return [m.podnet for m in drained(s) if m.podnet is not None]


async def test_each_node_gets_its_block_and_the_others() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c1"))
    d = Dispatcher(store)
    ipam = NodeIPAM(store)
    await paused(ipam)
    n1 = await d.register("n1", NodeDescription(Hostname="n1"), "10.213.0.1", kube_network=True)
    n2 = await d.register("n2", NodeDescription(Hostname="n2"), "10.213.0.2", kube_network=True)
    hollow = await d.register("h1", NodeDescription(Hostname="h1"), "10.213.0.3")
    await ipam.tick()
    blocks = {n.ID: (n.PodCIDRs or [""])[0] for n in store.list(Node)}
    assert len(set(blocks.values())) == 3
    d.push_podnet()
    got1, got2 = podnets(n1), podnets(n2)
    assert got1 == [PodNetwork(Block=blocks["n1"], Peers=tuple(sorted(
        (PodNetPeer("10.213.0.2", blocks["n2"]), PodNetPeer("10.213.0.3", blocks["h1"])), key=lambda p: p.Block)))]
    assert got2[0].Block == blocks["n2"] and PodNetPeer("10.213.0.1", blocks["n1"]) in got2[0].Peers
    assert podnets(hollow) == []

    d.push_podnet()  # nothing changed: nothing sent
    assert podnets(n1) == [] and podnets(n2) == []

    def moved(n: Node) -> bool:
        n.Status = NodeStatus(State="ready", Addr="10.213.0.9")
        return True

    await store.update_with(Node, "n2", moved)
    d.push_podnet()
    assert podnets(n2) == []
    (again,) = podnets(n1)
    assert PodNetPeer("10.213.0.9", blocks["n2"]) in again.Peers
    await d.stop()


async def test_a_node_without_a_block_is_sent_none_of_its_own() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c1"))
    d = Dispatcher(store)
    n1 = await d.register("n1", NodeDescription(Hostname="n1"), "10.213.0.1", kube_network=True)
    d.push_podnet()
    assert podnets(n1) == [PodNetwork()]
    await d.stop()


async def test_merged_assignments_keep_the_last_pod_network() -> None:
    store = await memory_store()
    d = Dispatcher(store)
    s = await d.register("n1", NodeDescription(Hostname="n1"), "10.213.0.1", kube_network=True)
    s.push(Assignments(podnet=PodNetwork(Block="100.64.0.0/24")))
    s.push(Assignments(podnet=PodNetwork(Block="100.64.1.0/24")))
    s.push(Assignments())
    msg = await s.assignments()
    assert msg is not None and msg.podnet == PodNetwork(Block="100.64.1.0/24")
    await d.stop()
