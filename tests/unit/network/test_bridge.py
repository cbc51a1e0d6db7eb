"""The networks' bridges and VXLAN ports, made in a throw-away network namespace (needs root)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from pyroute2 import NetNS

from shoal.network import bridge


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
