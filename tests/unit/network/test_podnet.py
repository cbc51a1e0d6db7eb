"""The pod network's node side: the plan of routes, neighbours and forwarding entries for a peer set
(pure), the Pods' addresses in a block, and the devices made, changed and removed in a throw-away
network namespace (needs root)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyroute2 import IPRoute

from shoal.api.kubenet import PodNetPeer, PodNetwork
from shoal.network import bridge, podnet
from shoal.network.netns import run_in_netns
from tests.support import scratch_netns

PEERS = (PodNetPeer("10.213.99.3", "100.64.2.0/24"), PodNetPeer("10.213.99.4", "100.64.3.0/24"))


def test_the_mac_is_the_blocks_address() -> None:
    assert podnet.mac_of("100.64.2.0/24") == "0e:5a:64:40:02:00"
    assert podnet.mac_of("10.244.255.128/25") == "0e:5a:0a:f4:ff:80"
    assert podnet.vtep_of("100.64.2.0/24") == "100.64.2.0"
    assert podnet.gateway_of("100.64.2.0/24") == "100.64.2.1"


def test_the_plan_routes_each_other_block_to_its_node() -> None:
    view = PodNetwork(Block="100.64.1.0/24", Peers=(*PEERS, PodNetPeer("", "100.64.4.0/24"),
                                                    PodNetPeer("10.213.99.9", "100.64.1.0/24")))
    plan = podnet.plan(view)
    assert plan.routes == {"100.64.2.0/24": "100.64.2.0", "100.64.3.0/24": "100.64.3.0"}
    assert plan.neighbours == {"100.64.2.0": "0e:5a:64:40:02:00", "100.64.3.0": "0e:5a:64:40:03:00"}
    assert plan.fdb == {"0e:5a:64:40:02:00": "10.213.99.3", "0e:5a:64:40:03:00": "10.213.99.4"}
    assert podnet.plan(PodNetwork(Block="100.64.1.0/24")) == podnet.Plan({}, {}, {})


def test_pods_get_a_free_address_of_the_block() -> None:
    block = podnet.PodBlock("100.64.1.0/30")
    assert block.address("a") == "100.64.1.2/30"  # .1 is the bridge's
    assert block.address("a") == "100.64.1.2/30"
    with pytest.raises(OSError, match="no address left"):
        block.address("b")
    block.release("a")
    assert block.address("b") == "100.64.1.2/30" and block.has("b") and not block.has("a") and len(block) == 1


def test_an_address_freed_is_not_given_again_before_the_others() -> None:
    """Round-robin, as host-local: a new Pod does not take the address a Pod just left (neighbour caches
    still hold that Pod's MAC)."""
    block = podnet.PodBlock("100.64.1.0/29")  # hosts .1 (the bridge's) to .6
    assert [block.address(t) for t in "abc"] == ["100.64.1.2/29", "100.64.1.3/29", "100.64.1.4/29"]
    block.release("b")
    assert block.address("d") == "100.64.1.5/29"
    assert block.address("e") == "100.64.1.6/29"
    assert block.address("f") == "100.64.1.3/29"  # wrapped: the freed one, the bridge's skipped


@pytest.fixture
def ns() -> Iterator[str]:
    with scratch_netns() as path:
        yield path


def _state() -> dict[str, object]:
    with IPRoute() as ipr:
        names = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        found = ipr.link_lookup(ifname=podnet.VXLAN)
        if not found:
            return {"links": names}
        idx = found[0]
        routes = sorted(f"{r.get_attr('RTA_DST')}/{r['dst_len']} via {r.get_attr('RTA_GATEWAY')}"
                        for r in ipr.get_routes(family=2, oif=idx) if r.get_attr("RTA_GATEWAY"))
        neigh = sorted(f"{n.get_attr('NDA_DST')} {n.get_attr('NDA_LLADDR')}"
                       for n in ipr.get_neighbours(ifindex=idx, family=2))
        fdb = sorted(f"{e.get_attr('NDA_LLADDR')} {e.get_attr('NDA_DST')}" for e in ipr.fdb("dump", ifindex=idx)
                     if e.get_attr("NDA_DST"))
        br = ipr.link_lookup(ifname=podnet.BRIDGE)[0]
        addrs = sorted(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for i in (idx, br)
                       for a in ipr.get_addr(index=i, family=2))
        mac = ipr.get_links(idx)[0].get_attr("IFLA_ADDRESS")
        return {"links": names, "routes": routes, "neigh": neigh, "fdb": fdb, "addrs": addrs, "mac": mac}


def test_sync_makes_changes_and_removes_the_pod_network(ns: str) -> None:
    view = PodNetwork(Block="100.64.1.0/24", Peers=PEERS)
    run_in_netns(ns, lambda: podnet.sync(view))
    run_in_netns(ns, lambda: podnet.sync(view))  # again: nothing changes, nothing fails
    got = run_in_netns(ns, _state)
    assert got["routes"] == ["100.64.2.0/24 via 100.64.2.0", "100.64.3.0/24 via 100.64.3.0"]
    assert got["neigh"] == ["100.64.2.0 0e:5a:64:40:02:00", "100.64.3.0 0e:5a:64:40:03:00"]
    assert got["fdb"] == ["0e:5a:64:40:02:00 10.213.99.3", "0e:5a:64:40:03:00 10.213.99.4"]
    assert got["addrs"] == ["100.64.1.0/32", "100.64.1.1/24"] and got["mac"] == "0e:5a:64:40:01:00"

    # One node gone, one moved to another address.
    run_in_netns(ns, lambda: podnet.sync(PodNetwork(Block="100.64.1.0/24",
                                                    Peers=(PodNetPeer("10.213.99.5", "100.64.3.0/24"),))))
    got = run_in_netns(ns, _state)
    assert got["routes"] == ["100.64.3.0/24 via 100.64.3.0"]
    assert got["neigh"] == ["100.64.3.0 0e:5a:64:40:03:00"]
    assert got["fdb"] == ["0e:5a:64:40:03:00 10.213.99.5"]

    run_in_netns(ns, podnet.teardown)
    got = run_in_netns(ns, _state)
    assert not {podnet.BRIDGE, podnet.VXLAN} & set(got["links"])  # type: ignore[arg-type]


def test_the_pod_vxlan_and_an_overlays_share_the_udp_port(ns: str) -> None:
    def both() -> None:
        podnet.sync(PodNetwork(Block="100.64.1.0/24", Peers=PEERS))
        with IPRoute() as ipr:
            br = bridge.ensure_bridge(ipr, "shb-ovl00000000", "10.213.96.1", 24)
            bridge.ensure_vxlan(ipr, "shx-ovl00000000", 4097, br)
            assert ipr.link_lookup(ifname="shx-ovl00000000") and ipr.link_lookup(ifname=podnet.VXLAN)

    run_in_netns(ns, both)


def test_a_node_alone_has_no_vxlan_and_a_used_bridge_stays(ns: str) -> None:
    run_in_netns(ns, lambda: podnet.sync(PodNetwork(Block="100.64.1.0/24")))
    got = run_in_netns(ns, _state)
    assert podnet.BRIDGE in got["links"] and podnet.VXLAN not in got["links"]  # type: ignore[operator]

    def port() -> None:
        with IPRoute() as ipr:
            ipr.link("add", ifname="sv-other0", kind="veth", peer={"ifname": "sv-other1"})
            ipr.link("set", index=ipr.link_lookup(ifname="sv-other0")[0],
                     master=ipr.link_lookup(ifname=podnet.BRIDGE)[0])

    run_in_netns(ns, port)  # another daemon's Pod on the bridge: it stays
    run_in_netns(ns, podnet.teardown)
    assert podnet.BRIDGE in run_in_netns(ns, _state)["links"]  # type: ignore[operator]


@pytest.fixture
def pod_ns() -> Iterator[str]:
    with scratch_netns() as path:
        yield path


def test_a_namespace_a_runtime_holds_is_wired_to_the_pod_bridge(ns: str, pod_ns: str) -> None:
    """The docker runtime's path (``attach``): the Pod's end ``eth0`` with its address, MTU 1450 and the
    default route through the bridge; the node's end a port of ``shp0``."""
    def wire() -> bool:
        podnet.sync(PodNetwork(Block="100.64.1.0/24"))
        podnet.attach(pod_ns, "task0123456789", "100.64.1.2/24", "100.64.1.1")
        with IPRoute() as ipr:
            host = ipr.get_links(ipr.link_lookup(ifname=podnet.host_end("task0123456789"))[0])[0]
            return bool(host.get_attr("IFLA_MASTER") == ipr.link_lookup(ifname=podnet.BRIDGE)[0])

    assert run_in_netns(ns, wire)

    def inside() -> tuple[list[str], int, list[str]]:
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname="eth0")[0]
            addrs = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=idx, family=2)]
            mtu = int(ipr.get_links(idx)[0].get_attr("IFLA_MTU"))
            gw = [r.get_attr("RTA_GATEWAY") for r in ipr.get_routes(family=2) if r["dst_len"] == 0]
            return addrs, mtu, gw

    assert run_in_netns(pod_ns, inside) == (["100.64.1.2/24"], podnet.MTU, ["100.64.1.1"])
