"""A node's side of the Kubernetes pod network: the pod bridge, the VXLAN to the other nodes' blocks,
and each Pod's place on it (issue 16; docs/design/kube-network.md, "Pod network").

The managers give each node a block of the cluster's pod range (``manager/kube/nodeipam.py``) and send
it with every other node's address and block (``api/kubenet.PodNetwork``). The node then has (flannel's
VXLAN backend, routed: L3, no flooding, no MAC learning):

* the pod bridge ``shp0`` holding the block's first host address (``100.64.1.1/24``): each Pod's veth
  is a port of it, the Pod's address is the next free one of the block, round-robin (kept here, in memory: Pods
  do not outlive their daemon) and its default route goes through the bridge's address. MTU 1450
  (VXLAN's 50 bytes less than Ethernet's), as on the overlays;
* once there is another node, the VXLAN device ``shpv`` (VNI 1, as flannel's: Swarm's ingress network
  has 4096 and its overlays number from 4097; UDP 4789 like them, the kernel shares the port between
  VNIs), with the block's network address as a /32 (``100.64.1.0``: the node's own source address
  towards other nodes' Pods, which they route back here) and a MAC derived from the block (``0e:5a:``
  and the block's four bytes), so no MAC is ever exchanged;
* for each other node: a route ``<its block> via <its block's .0> dev shpv onlink``, a permanent
  neighbour ``<its block's .0> lladdr <its MAC>`` and a forwarding entry ``<its MAC> dst <its
  address>``. A Pod's packet to another node's Pod goes from the bridge to the route, is framed for
  that node's MAC and sent to its address in UDP; no address is translated on the way (``egress.py``
  masquerades only what leaves the pod range).

``plan`` computes the routes, neighbours and forwarding entries for a peer set (a pure function);
``sync`` makes the node match a ``PodNetwork``, idempotently; ``teardown`` removes both devices (the
routes, neighbours and entries go with ``shpv``), unless Pods are still on the bridge (another
daemon's: single-node test daemons share their host's namespace, as they share the default bridge).
Netlink through pyroute2 from a thread (never the event loop); a Pod's veth in raw rtnetlink from a
fresh thread (``rtnl.new_on_bridge``), as the default bridge's.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shoal.api.kubenet import PodNetwork
from shoal.network import rtnl
from shoal.network.bridge import link_index as _lookup
from shoal.network.bridge import vni_of as _vni_of
from shoal.network.dns import bound_sockets
from shoal.network.netns import need_forwarding, run_in_netns

BRIDGE = "shp0"
VXLAN = "shpv"
VNI = 1  # Swarm's VNIs are 4096 (ingress) and up
VXLAN_PORT = 4789
MTU = 1450
NUD_PERMANENT = 0x80
RTNH_F_ONLINK = 4
RTPROT_SHOAL = 4  # static
BRIDGE_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def mac_of(block: str) -> str:
    """The VXLAN MAC of the node that holds ``block``: locally administered, unicast, the block's
    network address in its last four bytes (blocks are unique, so are their MACs)."""
    packed = ipaddress.IPv4Network(block, strict=False).network_address.packed
    return ":".join(f"{b:02x}" for b in (0x0E, 0x5A, *packed))


def vtep_of(block: str) -> str:
    """The address the node of ``block`` has on its VXLAN device: the block's network address."""
    return str(ipaddress.IPv4Network(block, strict=False).network_address)


def gateway_of(block: str) -> str:
    """The pod bridge's address: the block's first host address."""
    return str(ipaddress.IPv4Network(block, strict=False).network_address + 1)


@dataclass(frozen=True)
class Plan:
    """What ``shpv`` carries for a set of peers: each block's route (block → its VTEP address), each
    VTEP's neighbour entry (address → MAC) and each MAC's forwarding entry (MAC → node address)."""

    routes: dict[str, str]
    neighbours: dict[str, str]
    fdb: dict[str, str]


def plan(podnet: PodNetwork) -> Plan:
    """The routes, neighbours and forwarding entries for ``podnet``'s peers (not this node's own block,
    nor a peer without an address or with the same block)."""
    routes: dict[str, str] = {}
    neighbours: dict[str, str] = {}
    fdb: dict[str, str] = {}
    for p in podnet.Peers:
        if not p.Addr or not p.Block or p.Block == podnet.Block:
            continue
        block = str(ipaddress.IPv4Network(p.Block, strict=False))
        vtep, mac = vtep_of(block), mac_of(block)
        routes[block] = vtep
        neighbours[vtep] = mac
        fdb[mac] = p.Addr.split(":")[0]
    return Plan(routes, neighbours, fdb)


def _set_addresses(ipr: IPRoute, idx: int, want: str) -> None:
    """Exactly the IPv4 address ``want`` (``a.b.c.d/len``) on link ``idx``."""
    addr, _, plen = want.partition("/")
    have = [(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=socket.AF_INET)]
    for a, p in have:
        if (a, p) != (addr, int(plen)):
            with contextlib.suppress(NetlinkError):
                ipr.addr("del", index=idx, address=a, prefixlen=p)
    if (addr, int(plen)) not in have:
        ipr.addr("add", index=idx, address=addr, prefixlen=int(plen))


def ensure_bridge(ipr: IPRoute, block: str) -> int:
    """The pod bridge, up, holding the block's gateway address; its index."""
    idx = _lookup(ipr, BRIDGE)
    if idx is None:
        with contextlib.suppress(NetlinkError):
            ipr.link("add", ifname=BRIDGE, kind="bridge")
        idx = _lookup(ipr, BRIDGE)
        if idx is None:
            raise OSError(f"the pod bridge {BRIDGE} could not be made")
    net = ipaddress.IPv4Network(block, strict=False)
    _set_addresses(ipr, idx, f"{gateway_of(block)}/{net.prefixlen}")
    ipr.link("set", index=idx, state="up")
    return idx


def ensure_vxlan(ipr: IPRoute, block: str) -> int:
    """The pod network's VXLAN device, up, with the block's MAC and VTEP address; its index."""
    mac = mac_of(block)
    idx = _lookup(ipr, VXLAN)
    if idx is not None and _vni_of(ipr, idx) != VNI:
        ipr.link("del", index=idx)
        idx = None
    if idx is None:
        ipr.link("add", ifname=VXLAN, kind="vxlan", vxlan_id=VNI, vxlan_port=VXLAN_PORT, vxlan_learning=0,
                 address=mac, mtu=MTU)
        idx = _lookup(ipr, VXLAN)
        if idx is None:
            raise OSError(f"the pod network's VXLAN device {VXLAN} could not be made")
    else:
        ipr.link("set", index=idx, address=mac, mtu=MTU)
    _set_addresses(ipr, idx, f"{vtep_of(block)}/32")
    ipr.link("set", index=idx, state="up")
    return idx


def sync(podnet: PodNetwork) -> None:
    """Make this namespace's pod network match ``podnet`` (blocking: run it in a thread); nothing while
    the node has no block (``teardown`` then, if it had one)."""
    if not podnet.Block:
        teardown()
        return
    need_forwarding("podnet", True)
    if os.path.exists(BRIDGE_NF):  # br_netfilter loaded: bridged Pod traffic passes the Services' DNAT
        with contextlib.suppress(OSError), open(BRIDGE_NF, "w") as f:
            f.write("1\n")
    want = plan(podnet)
    with IPRoute() as ipr:
        ensure_bridge(ipr, podnet.Block)
        if not want.routes and _lookup(ipr, VXLAN) is None:
            return  # a node alone needs no VXLAN (nor takes the VNI from another daemon of this namespace)
        idx = ensure_vxlan(ipr, podnet.Block)
        # Forwarding entries first, then neighbours, then routes: a route is used only once it leads somewhere.
        have_fdb = {e.get_attr("NDA_LLADDR"): e.get_attr("NDA_DST") for e in ipr.fdb("dump", ifindex=idx)
                    if e.get_attr("NDA_DST")}
        for mac, dst in want.fdb.items():
            if have_fdb.get(mac) != dst:
                if mac in have_fdb:
                    with contextlib.suppress(NetlinkError):
                        ipr.fdb("del", ifindex=idx, lladdr=mac, dst=have_fdb[mac])
                ipr.fdb("append", ifindex=idx, lladdr=mac, dst=dst, state=NUD_PERMANENT)
        have_neigh = {n.get_attr("NDA_DST"): n.get_attr("NDA_LLADDR")
                      for n in ipr.get_neighbours(ifindex=idx, family=socket.AF_INET)}
        for addr, mac in want.neighbours.items():
            if have_neigh.get(addr) != mac:
                ipr.neigh("replace", ifindex=idx, dst=addr, lladdr=mac, state=NUD_PERMANENT)
        have_routes = {f"{r.get_attr('RTA_DST')}/{r['dst_len']}": r.get_attr("RTA_GATEWAY")
                       for r in ipr.get_routes(family=socket.AF_INET, oif=idx, table=254) if r.get_attr("RTA_GATEWAY")}
        for dst, via in want.routes.items():
            if have_routes.get(dst) != via:
                ipr.route("replace", dst=dst, gateway=via, oif=idx, flags=RTNH_F_ONLINK, proto=RTPROT_SHOAL)
        for dst in set(have_routes) - set(want.routes):
            with contextlib.suppress(NetlinkError):
                ipr.route("del", dst=dst, oif=idx)
        for addr in set(have_neigh) - set(want.neighbours):
            with contextlib.suppress(NetlinkError):
                ipr.neigh("del", ifindex=idx, dst=addr)
        for mac in set(have_fdb) - set(want.fdb):
            with contextlib.suppress(NetlinkError):
                ipr.fdb("del", ifindex=idx, lladdr=mac, dst=have_fdb[mac])


def teardown() -> None:
    """Remove the pod bridge and the VXLAN device (with their routes and entries), if present, unless
    Pods are still on the bridge: another daemon's, when daemons share a namespace (single-node test
    daemons on one host do, as they share the default bridge), whose Pods keep it."""
    with IPRoute() as ipr:
        br = _lookup(ipr, BRIDGE)
        used = br is not None and any(link.get_attr("IFLA_MASTER") == br for link in ipr.get_links())
        if not used:
            for name in (VXLAN, BRIDGE):
                idx = _lookup(ipr, name)
                if idx is not None:
                    with contextlib.suppress(NetlinkError):
                        ipr.link("del", index=idx)
    need_forwarding("podnet", False)


def present() -> bool:
    with IPRoute() as ipr:
        return _lookup(ipr, BRIDGE) is not None or _lookup(ipr, VXLAN) is not None


class PodBlock:
    """The addresses of this node's Pods in its block, given round-robin as the CNI's ``host-local`` IPAM
    gives them: the next free host address after the last one given (the bridge's aside), wrapping at
    the block's end. An address freed is thus not given again at once: neighbour caches (the node's, other
    Pods') still hold the old Pod's MAC for it for seconds, and a new Pod at that address would be
    unreachable meanwhile (seen: 10 s from Ready to the first connection through its Service)."""

    def __init__(self, block: str) -> None:
        self.subnet = ipaddress.IPv4Network(block, strict=False)
        self.block = str(self.subnet)
        self.gateway = gateway_of(block)
        self._given: dict[str, str] = {}  # task → its address
        self._last = int(self.subnet.network_address)  # the last address given

    def address(self, task_id: str) -> str:
        """The task's address with the block's prefix length (a new one unless it has one)."""
        addr = self._given.get(task_id)
        if addr is None:
            taken = set(self._given.values()) | {self.gateway}
            first, last = int(self.subnet.network_address) + 1, int(self.subnet.broadcast_address) - 1
            size = last - first + 1
            for step in range(1, size + 1):
                cand = first + (self._last - first + step) % size
                if str(ipaddress.IPv4Address(cand)) not in taken:
                    break
            else:
                raise OSError(f"no address left in the node's pod block ({self.subnet})")
            self._last = cand
            addr = str(ipaddress.IPv4Address(cand))
            self._given[task_id] = addr
        return f"{addr}/{self.subnet.prefixlen}"

    def release(self, task_id: str) -> None:
        self._given.pop(task_id, None)

    def has(self, task_id: str) -> bool:
        return task_id in self._given

    def __len__(self) -> int:
        return len(self._given)


def host_end(task_id: str) -> str:
    """The node's end of a Pod's veth (``bridge.detach`` removes it with the task's other veths)."""
    return f"sv{task_id[:11]}0"


def attach_new(netns_path: str, task_id: str, cidr: str, gateway: str) -> tuple[socket.socket, socket.socket]:
    """In a fresh thread (left in the namespace): the Pod's namespace made at ``netns_path``, its veth on
    the pod bridge with ``cidr`` and the default route through ``gateway``, then the DNS server's
    sockets bound in it."""
    br = socket.if_nametoindex(BRIDGE)
    rtnl.new_on_bridge(netns_path, host_end(task_id), br, cidr, gateway, MTU)
    return bound_sockets()


def attach(netns_path: str, task_id: str, cidr: str, gateway: str) -> None:
    """Wire an existing namespace (a runtime's: the docker runtime's pause container) to the pod bridge."""
    host = host_end(task_id)
    with IPRoute() as ipr:
        old = _lookup(ipr, host)
        if old is not None:
            ipr.link("del", index=old)
        br = _lookup(ipr, BRIDGE)
        if br is None:
            raise OSError(f"the pod bridge {BRIDGE} is missing")
        fd = os.open(netns_path, os.O_RDONLY)
        try:
            ipr.link("add", ifname=host, kind="veth", mtu=MTU, peer={"ifname": "eth0", "net_ns_fd": fd, "mtu": MTU})
        finally:
            os.close(fd)
        ipr.link("set", index=_lookup(ipr, host), master=br, state="up")

    def inside() -> None:
        with IPRoute() as ns:
            idx = _lookup(ns, "eth0")
            addr, _, prefix = cidr.partition("/")
            ns.addr("add", index=idx, address=addr, prefixlen=int(prefix))
            ns.link("set", index=idx, state="up")
            ns.route("add", dst="0.0.0.0/0", gateway=gateway)

    run_in_netns(netns_path, inside)
