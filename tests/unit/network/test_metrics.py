"""The node's tunnel devices as metrics (network/metrics.py): which devices count, the families and
labels, and a netlink read of a throw-away network namespace with an overlay's VXLAN port (needs root)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from pyroute2 import IPRoute

from shoal.network import seal
from shoal.network.metrics import STATS, TunnelCollector, is_tunnel, tunnel_stats
from shoal.network.netns import run_in_netns
from tests.support import scratch_netns


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
    with scratch_netns() as path:
        yield path


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


def test_the_seal_counters_appear_once_the_tunnel_has_reported() -> None:
    counters: dict[str, int] = {}
    reg = CollectorRegistry(auto_describe=False)
    reg.register(TunnelCollector(fake, seal=lambda: counters))
    assert reg.get_sample_value("shoal_network_seal_refused_packets_total") is None  # no tunnel runs
    counters.update(sealed=10, opened=8, refused=2)
    assert reg.get_sample_value("shoal_network_seal_sealed_packets_total") == 10
    assert reg.get_sample_value("shoal_network_seal_opened_packets_total") == 8
    assert reg.get_sample_value("shoal_network_seal_refused_packets_total") == 2


def test_the_tunnel_process_counts_what_it_opened_and_refused() -> None:
    key = os.urandom(16)
    s, o = seal.Sealer(), seal.Opener()
    s.set_key(1, key)
    o.set_keys({1: key})
    packet = s.seal(b"frame") or b""
    assert o.open(packet) == b"frame"
    assert o.open(packet) is None  # a replay
    assert (s.counter, o.opened, o.dropped) == (1, 1, 1)


async def test_the_daemons_side_keeps_the_last_report() -> None:
    """``Tunnel`` reads the process's reports (JSON lines on its stdout) until it ends; a line that is
    not a report is ignored."""
    lines = ['{"sealed": 1, "opened": 0, "refused": 0}', "not json", '{"sealed": 5, "opened": 4, "refused": 1}']
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", f"print({chr(10).join(lines)!r})", stdout=asyncio.subprocess.PIPE)
    tunnel = seal.Tunnel()
    await tunnel._read_reports(proc)
    await proc.wait()
    assert tunnel.counters == {"sealed": 5, "opened": 4, "refused": 1}
