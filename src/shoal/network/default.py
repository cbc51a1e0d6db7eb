"""The node's default bridge: where a task without networks gets an address and a way out.

Docker puts such a swarm task on its default bridge (``docker0``), which is how ``docker service
create alpine ping docker.com``, the first service of Docker's swarm tutorial, reaches the world.
shoal does the same with a node-local bridge ``shb-default``: the bridge holds the first address of
the node's bridge subnet (``shoal daemon --bip``, as dockerd's, e.g. ``172.17.0.1/16``; else
``$SHOAL_BIP``, which the test suite sets inside its own address pool; else the first of
172.17-31.0.0/16 that overlaps no route or address of the node), each such task gets the lowest free
address (kept here, in memory: tasks do not outlive their daemon), the gateway as its default route,
and its traffic out is masqueraded (``egress``). Names go to the embedded DNS server, which has no
swarm names for it and forwards the rest (``dns``). The bridge goes with its last task.
"""

from __future__ import annotations

import heapq
import ipaddress
import os

from pyroute2 import IPRoute

from shoal.api.types import IPAMConfig, IPAMOptions, Network, NetworkAttachment, NetworkSpec

NETWORK_ID = "default"  # its bridge is shb-default
CANDIDATES = [f"172.{i}.0.1/16" for i in range(17, 32)]


def routes_in_use() -> list[ipaddress.IPv4Network]:
    """The subnets the node routes to or has an address in (loopback aside)."""
    return _in_use()


def _in_use() -> list[ipaddress.IPv4Network]:
    nets: list[ipaddress.IPv4Network] = []
    with IPRoute() as ipr:
        for r in ipr.get_routes(family=2):
            dst, plen = r.get_attr("RTA_DST"), r["dst_len"]
            if dst and plen:
                nets.append(ipaddress.IPv4Network(f"{dst}/{plen}", strict=False))
        for a in ipr.get_addr(family=2):
            addr = a.get_attr("IFA_ADDRESS")
            if addr and not addr.startswith("127."):
                nets.append(ipaddress.IPv4Network(f"{addr}/{a['prefixlen']}", strict=False))
    return nets


def choose_bip(configured: str = "") -> str:
    """The bridge's address with its prefix: ``configured`` (``--bip``), else ``$SHOAL_BIP``, else the
    first candidate that overlaps nothing this node routes to (the bridge's own subnet, if it exists,
    is skipped: a restarted daemon keeps its choice)."""
    chosen = configured or os.environ.get("SHOAL_BIP", "")
    if chosen:
        ipaddress.IPv4Interface(chosen)  # ValueError for a bad one
        return chosen
    used = _in_use()
    mine = _bridge_subnet()
    for cand in CANDIDATES:
        net = ipaddress.IPv4Interface(cand).network
        if net == mine or not any(net.overlaps(u) for u in used):
            return cand
    return CANDIDATES[0]


def _bridge_subnet() -> ipaddress.IPv4Network | None:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname="shb-" + NETWORK_ID)
        if not found:
            return None
        for a in ipr.get_addr(index=found[0], family=2):
            return ipaddress.IPv4Network(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}", strict=False)
    return None


class DefaultBridge:
    """The addresses of the default bridge's tasks."""

    def __init__(self, bip: str) -> None:
        iface = ipaddress.IPv4Interface(bip)
        self.gateway = str(iface.ip)
        self.subnet = iface.network
        self._given: dict[str, str] = {}  # task -> its address
        # The lowest free address in O(log n), not a scan of the subnet a task (a thousand tasks took
        # half a million set lookups): those given back, and the next never given.
        self._freed: list[int] = []
        self._next = int(self.subnet.network_address) + 1
        self._last = int(self.subnet.broadcast_address) - 1 if self.subnet.prefixlen < 31 else \
            int(self.subnet.broadcast_address)

    def _take(self) -> str | None:
        gateway = int(ipaddress.IPv4Address(self.gateway))
        while self._freed:
            a = heapq.heappop(self._freed)
            if a != gateway:
                return str(ipaddress.IPv4Address(a))
        while self._next <= self._last:
            a, self._next = self._next, self._next + 1
            if a != gateway:
                return str(ipaddress.IPv4Address(a))
        return None

    def attachment(self, task_id: str) -> NetworkAttachment:
        """The task's place on the bridge (a new address unless it has one), shaped like a network's."""
        addr = self._given.get(task_id)
        if addr is None:
            free = self._take()
            if free is None:
                raise OSError(f"no address left on the default bridge ({self.subnet})")
            addr = self._given[task_id] = free
        net = Network(ID=NETWORK_ID, Spec=NetworkSpec(Name="bridge"),
                      IPAMOptions=IPAMOptions(Configs=[IPAMConfig(Subnet=str(self.subnet), Gateway=self.gateway)]))
        return NetworkAttachment(Network=net, Addresses=[f"{addr}/{self.subnet.prefixlen}"])

    def release(self, task_id: str) -> None:
        addr = self._given.pop(task_id, None)
        if addr is not None:
            heapq.heappush(self._freed, int(ipaddress.IPv4Address(addr)))

    def has(self, task_id: str) -> bool:
        return task_id in self._given
