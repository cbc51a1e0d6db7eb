"""The node's tunnels as Prometheus metrics, read at scrape time: the bytes, packets and drops the kernel
counts on shoal's VXLAN devices (each overlay's port ``shx-<network>``, the routing mesh's too, and the
pod network's ``shpv``) and on the encrypted overlays' TUN device (``shs0``: what goes through the
userspace tunnel, ``seal.py``), labelled by device.

One netlink dump of the links per scrape, in the daemon's own network namespace (``/sys/class/net``
would show the namespace that mounted /sys, not the daemon's when it runs in one of its own). Beside
them, the userspace tunnel's own counters, as its process last reported them (``seal.Tunnel.counters``):
the packets it sealed, opened, and refused (replays, bad tags, unknown keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from shoal.network.bridge import VXLAN_PREFIX
from shoal.network.podnet import VXLAN as POD_VXLAN
from shoal.network.seal import TUN_NAME

# (metric name without _total, help, the kernel's IFLA_STATS64 field)
STATS = (
    ("shoal_network_tunnel_receive_bytes", "Bytes received on a shoal tunnel device.", "rx_bytes"),
    ("shoal_network_tunnel_transmit_bytes", "Bytes sent on a shoal tunnel device.", "tx_bytes"),
    ("shoal_network_tunnel_receive_packets", "Packets received on a shoal tunnel device.", "rx_packets"),
    ("shoal_network_tunnel_transmit_packets", "Packets sent on a shoal tunnel device.", "tx_packets"),
    ("shoal_network_tunnel_receive_drops", "Received packets a shoal tunnel device dropped.", "rx_dropped"),
    ("shoal_network_tunnel_transmit_drops", "Packets to send that a shoal tunnel device dropped.", "tx_dropped"),
)


def is_tunnel(name: str) -> bool:
    return name.startswith(VXLAN_PREFIX) or name in (POD_VXLAN, TUN_NAME)


def tunnel_stats() -> list[tuple[str, dict[str, int]]]:
    """``(device, its IFLA_STATS64 counters)`` of each tunnel device in this namespace."""
    from pyroute2 import IPRoute  # only on a node with a network (not every test imports it)

    out: list[tuple[str, dict[str, int]]] = []
    with IPRoute() as ipr:
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME") or ""
            if not is_tunnel(name):
                continue
            stats: Any = link.get_attr("IFLA_STATS64") or link.get_attr("IFLA_STATS")
            if stats is not None:
                out.append((name, {field: int(stats[field]) for _, _, field in STATS}))
    return out


# (metric name without _total, help, the tunnel process's counter)
SEAL_STATS = (
    ("shoal_network_seal_sealed_packets", "Packets the encrypted overlays' tunnel sealed and sent.", "sealed"),
    ("shoal_network_seal_opened_packets", "Packets the encrypted overlays' tunnel received and opened.", "opened"),
    ("shoal_network_seal_refused_packets", "Packets the encrypted overlays' tunnel refused: replays, too old, "
     "bad tags, unknown keys, not its format.", "refused"),
)


class TunnelCollector(Collector):
    """The tunnel devices' counters, read when scraped (``read``: a test gives its own), and the
    userspace tunnel's (``seal``: its last report, empty while it does not run)."""

    def __init__(self, read: Callable[[], list[tuple[str, dict[str, int]]]] = tunnel_stats,
                 seal: Callable[[], dict[str, int]] | None = None) -> None:
        self.read, self.seal = read, seal

    def collect(self) -> Iterable[Metric]:
        try:
            devices = self.read()
        except OSError:
            devices = []
        families = list(self._families(devices))
        counters = self.seal() if self.seal is not None else {}
        if counters:
            for name, help_, key in SEAL_STATS:
                families.append(CounterMetricFamily(name, help_, value=counters.get(key, 0)))
        return families

    @staticmethod
    def _families(devices: list[tuple[str, dict[str, int]]]) -> Iterator[Metric]:
        for name, help_, field in STATS:
            fam = CounterMetricFamily(name, help_, labels=["device"])
            for dev, stats in devices:
                fam.add_metric([dev], stats[field])
            yield fam
