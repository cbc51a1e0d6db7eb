"""The node's tunnel devices as metrics (network/metrics.py): which devices count, the families and
labels, and a netlink read of a throw-away network namespace with an overlay's VXLAN port (needs root)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from pyroute2 import IPRoute

from shoal.network.metrics import STATS, TunnelCollector, is_tunnel, tunnel_stats
from shoal.network.netns import run_in_netns


def test_only_shoals_tunnel_devices_count() -> None:
    assert is_tunnel("shx-7vly64cwao0")  # an overlay's VXLAN port
    assert is_tunnel("shpv")  # the pod network's
    assert is_tunnel("shs0")  # the encrypted overlays' TUN device
    assert not is_tunnel("shb-7vly64cwao0") and not is_tunnel("eth0") and not is_tunnel("shv223181")


def fake() -> list[tuple[str, dict[str, int]]]:
    stats = {field: 0 for _, _, field in STATS}
    return [("shx-abc", {**stats, "rx_bytes": 1500, "tx_bytes": 900, "tx_dropped": 3}), ("shpv", stats)]


def test_the_collector_labels_each_device() -> None:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(TunnelCollector(fake))
    assert reg.get_sample_value("shoal_network_tunnel_receive_bytes_total", {"device": "shx-abc"}) == 1500
    assert reg.get_sample_value("shoal_network_tunnel_transmit_bytes_total", {"device": "shx-abc"}) == 900
    assert reg.get_sample_value("shoal_network_tunnel_transmit_drops_total", {"device": "shx-abc"}) == 3
    assert reg.get_sample_value("shoal_network_tunnel_receive_drops_total", {"device": "shpv"}) == 0


def test_a_failed_read_is_no_devices() -> None:
    def broken() -> list[tuple[str, dict[str, int]]]:
        raise OSError("netlink")

    families = list(TunnelCollector(broken).collect())
    assert [f.name for f in families] == [name for name, _, _ in STATS]
    assert all(not f.samples for f in families)


@pytest.fixture
def ns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root (a network namespace)")
    name = f"shoal-ut-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _devices() -> None:
    with IPRoute() as ipr:
        ipr.link("add", ifname="shx-metrics0", kind="vxlan", vxlan_id=4242, vxlan_port=4789)
        ipr.link("add", ifname="shb-metrics0", kind="bridge")  # a bridge: not a tunnel


def test_netlink_read_of_the_namespace_it_runs_in(ns: str) -> None:
    run_in_netns(ns, _devices)
    found = dict(run_in_netns(ns, tunnel_stats))
    assert set(found) == {"shx-metrics0"}
    assert set(found["shx-metrics0"]) == {field for _, _, field in STATS}
    reg = CollectorRegistry(auto_describe=False)
    reg.register(TunnelCollector(lambda: run_in_netns(ns, tunnel_stats)))
    assert reg.get_sample_value("shoal_network_tunnel_transmit_bytes_total", {"device": "shx-metrics0"}) == 0
