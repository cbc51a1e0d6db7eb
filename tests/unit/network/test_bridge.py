"""The networks' bridges and VXLAN ports, made in a throw-away network namespace (needs root)."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from pyroute2 import NetlinkError, NetNS

from shoal.network import bridge, rtnl
from shoal.network.netns import run_in_netns
from tests.support import scratch_netns


@pytest.fixture
def ns() -> Iterator[NetNS]:
    if os.geteuid() != 0:
        pytest.skip("needs root (a network namespace)")
    name = f"shoal-ut-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with NetNS(name) as ipr:
            yield ipr
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_a_removed_networks_vxlan_port_with_the_same_vni_gives_way(ns: NetNS) -> None:
    """The kernel takes one VXLAN port per VNI: a new network given a removed one's VNI replaces the
    port left behind (it used to end in an AssertionError that rejected the task)."""
    br = bridge.ensure_bridge(ns, "shb-new00000000", "10.213.99.1", 24)
    ns.link("add", ifname="shx-old00000000", kind="vxlan", vxlan_id=4301, vxlan_port=bridge.VXLAN_PORT)
    bridge.ensure_vxlan(ns, "shx-new00000000", 4301, br)
    assert ns.link_lookup(ifname="shx-new00000000") and not ns.link_lookup(ifname="shx-old00000000")
    bridge.ensure_vxlan(ns, "shx-new00000000", 4301, br)  # again: it is there, nothing changes
    assert ns.link_lookup(ifname="shx-new00000000")


def test_a_device_of_the_ports_name_that_is_not_the_port_is_made_again(ns: NetNS) -> None:
    """A device left with the port's name by an earlier swarm (another kind, or another VNI) is
    replaced by the right port, never an error."""
    br = bridge.ensure_bridge(ns, "shb-net00000000", "10.213.98.1", 24)
    ns.link("add", ifname="shx-net00000000", kind="bridge")  # not a VXLAN port at all
    bridge.ensure_vxlan(ns, "shx-net00000000", 4302, br)
    assert bridge.vni_of(ns, ns.link_lookup(ifname="shx-net00000000")[0]) == 4302
    bridge.ensure_vxlan(ns, "shx-net00000000", 4303, br)  # another VNI: made again with this one
    assert bridge.vni_of(ns, ns.link_lookup(ifname="shx-net00000000")[0]) == 4303


def test_a_vni_held_by_a_device_that_is_not_shoals_is_a_clear_error(ns: NetNS) -> None:
    br = bridge.ensure_bridge(ns, "shb-net00000001", "10.213.97.1", 24)
    ns.link("add", ifname="vx-theirs", kind="vxlan", vxlan_id=4304, vxlan_port=bridge.VXLAN_PORT)
    with pytest.raises(OSError, match=r"^the VXLAN port shx-net00000001 \(VNI 4304\) could not be made: "
                                      r"VNI 4304 is held by vx-theirs$"):
        bridge.ensure_vxlan(ns, "shx-net00000001", 4304, br)
    assert ns.link_lookup(ifname="vx-theirs")  # not shoal's: left alone


def _links(path: str) -> set[str]:
    ns = path.rsplit("/", 1)[1]
    out = subprocess.run(["ip", "-n", ns, "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _ip(path: str, *args: str) -> None:
    subprocess.run(["ip", "-n", path.rsplit("/", 1)[1], *args], check=True, capture_output=True)


def test_detach_deletes_the_tasks_veths_by_name_and_only_its_bridges_if_unused() -> None:
    task, other = "t" * 25, "u" * 25
    with scratch_netns() as path:
        for br in ("shb-a", "shb-b", "shb-c"):  # shb-c: unused, but not the task's
            _ip(path, "link", "add", br, "type", "bridge")
        _ip(path, "link", "add", f"sv{task[:11]}0", "type", "veth", "peer", "name", "p0")
        _ip(path, "link", "add", f"sv{task[:11]}1", "type", "veth", "peer", "name", "p1")
        _ip(path, "link", "add", f"sv{other[:11]}0", "type", "veth", "peer", "name", "q0")
        _ip(path, "link", "set", f"sv{task[:11]}0", "master", "shb-a")
        _ip(path, "link", "set", f"sv{task[:11]}1", "master", "shb-b")
        _ip(path, "link", "set", f"sv{other[:11]}0", "master", "shb-b")  # shb-b stays in use
        _ip(path, "link", "add", "shx-a", "type", "vxlan", "id", "4242", "dstport", "4789")
        _ip(path, "link", "set", "shx-a", "master", "shb-a")  # a VXLAN port does not keep a bridge
        run_in_netns(path, lambda: bridge.detach(task, ["shb-a", "shb-b"], 2))
        left = _links(path)
        assert not {f"sv{task[:11]}0", f"sv{task[:11]}1", "p0", "p1"} & left  # the peers went with them
        assert {"shb-b", "shb-c", f"sv{other[:11]}0"} <= left
        assert not {"shb-a", "shx-a"} & left


def test_a_bridges_ports_come_from_a_dump_filtered_by_master() -> None:
    with scratch_netns() as path:
        _ip(path, "link", "add", "shb-x", "type", "bridge")
        _ip(path, "link", "add", "v1", "type", "veth", "peer", "name", "v2")
        _ip(path, "link", "set", "v1", "master", "shb-x")

        def ports() -> list[str]:
            nl = rtnl.Socket()
            try:
                return [n for _, n in rtnl.ports(nl, socket.if_nametoindex("shb-x"))]
            finally:
                nl.close()

        assert run_in_netns(path, ports) == ["v1"]


def test_a_dump_of_bridges_only_gives_their_aliases_and_the_full_cleanup_uses_it() -> None:
    with scratch_netns() as path:
        _ip(path, "link", "add", "shb-used", "type", "bridge")
        _ip(path, "link", "add", "shb-idle", "type", "bridge")
        _ip(path, "link", "add", "br-mine", "type", "bridge")
        _ip(path, "link", "set", "br-mine", "alias", "shoal-made test")
        _ip(path, "link", "add", "v1", "type", "veth", "peer", "name", "v2")
        _ip(path, "link", "set", "v1", "master", "shb-used")

        def bridges() -> dict[str, str]:
            nl = rtnl.Socket()
            try:
                return {b.name: b.alias for b in rtnl.links(nl, kind="bridge")}
            finally:
                nl.close()

        assert run_in_netns(path, bridges) == {"shb-used": "", "shb-idle": "", "br-mine": "shoal-made test"}
        assert run_in_netns(path, bridge.remove_unused) == ["shb-used"]
        assert {"shb-used", "br-mine", "v1"} <= _links(path) and "shb-idle" not in _links(path)


def test_a_vxlan_port_whose_bridge_went_is_not_left_behind(ns: NetNS) -> None:
    """A task's attach that meets its bridge gone (removed by another task's detach meanwhile) deletes
    the port it made rather than leave it on no bridge."""
    br = bridge.ensure_bridge(ns, "shb-gone0000000", "10.213.96.1", 24)
    ns.link("del", index=br)
    with pytest.raises(NetlinkError):
        bridge.ensure_vxlan(ns, "shx-gone0000000", 4305, br)
    assert not ns.link_lookup(ifname="shx-gone0000000")


def test_the_full_cleanup_deletes_shoals_vxlan_ports_on_no_bridge() -> None:
    with scratch_netns() as path:
        _ip(path, "link", "add", "shb-y", "type", "bridge")
        _ip(path, "link", "add", "shx-y", "type", "vxlan", "id", "4306", "dstport", "4789")
        _ip(path, "link", "set", "shx-y", "master", "shb-y")
        _ip(path, "link", "add", "shx-orphan", "type", "vxlan", "id", "4307", "dstport", "4789")
        _ip(path, "link", "add", "vx-theirs", "type", "vxlan", "id", "4308", "dstport", "4789")
        run_in_netns(path, bridge.remove_orphan_vxlans)
        left = _links(path)
        assert "shx-orphan" not in left
        assert {"shb-y", "shx-y", "vx-theirs"} <= left  # on a bridge, or not shoal's: left alone
