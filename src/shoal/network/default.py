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

A full subnet is ``PoolExhausted``, in libnetwork's words (``no available IPv4 addresses on this
network's address pools: bridge (<its ID>)``), found without a scan: every task past the last address
fails at once, and its service's restart delay, not this module, says when it is tried again.
"""

from __future__ import annotations

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


class PoolExhausted(OSError):
    """Every address of the default bridge's subnet is given (libnetwork's words)."""


class DefaultBridge:
    """The addresses of the default bridge's tasks. ``network_id``: the ID the node's local networks
    give ``bridge`` (Docker names it in its errors), else ``default``."""

    def __init__(self, bip: str, network_id: str = NETWORK_ID) -> None:
        iface = ipaddress.IPv4Interface(bip)
        self.gateway = str(iface.ip)
        self.subnet = iface.network
        self.network_id = network_id
        self._given: dict[str, str] = {}  # task -> its address
        edge = 1 if self.subnet.prefixlen < 31 else 0  # hosts() leaves out the network and broadcast addresses
        self._first, self._last = int(self.subnet[0]) + edge, int(self.subnet[-1]) - edge
        gateway = int(iface.ip)
        self._taken: set[int] = {gateway}  # the addresses given, and the gateway
        self._room = self._last - self._first + 1 - int(self._first <= gateway <= self._last)  # tasks it holds
        self._low = self._first  # every host below it is taken

    def attachment(self, task_id: str) -> NetworkAttachment:
        """The task's place on the bridge (a new address unless it has one: the lowest free),
        shaped like a network's; ``PoolExhausted`` when the subnet is full."""
        addr = self._given.get(task_id)
        if addr is None:
            if len(self._given) >= self._room:
                raise PoolExhausted(f"no available IPv4 addresses on this network's address pools: bridge "
                                    f"({self.network_id})")
            free = self._low
            while free in self._taken:
                free += 1
            self._taken.add(free)
            self._low = free + 1
            addr = self._given[task_id] = str(ipaddress.IPv4Address(free))
        net = Network(ID=NETWORK_ID, Spec=NetworkSpec(Name="bridge"),
                      IPAMOptions=IPAMOptions(Configs=[IPAMConfig(Subnet=str(self.subnet), Gateway=self.gateway)]))
        return NetworkAttachment(Network=net, Addresses=[f"{addr}/{self.subnet.prefixlen}"])

    def release(self, task_id: str) -> None:
        addr = self._given.pop(task_id, None)
        if addr is not None:
            free = int(ipaddress.IPv4Address(addr))
            self._taken.discard(free)
            self._low = min(self._low, free)

    def has(self, task_id: str) -> bool:
        return task_id in self._given
