"""A node's side of a task's networks: one Linux bridge per network, and a veth into each task.

For every network a task is attached to, the node has a bridge ``shb-<network id>`` holding the
network's gateway address; the task's namespace gets one end of a veth pair, made there as ``eth<i>``, with
the address the manager allocated, and the first network's gateway as its default route (the first
that is not ``--internal``; none when all are). Tasks on one node and one network reach each other
through the bridge, without NAT. An overlay network spans
nodes with the kernel's VXLAN: the bridge has a VXLAN port ``shx-<network id>`` (the network's VNI,
UDP port 4789), and ``sync_peers`` keeps one all-zero forwarding entry per other node that runs
tasks of the network, as the manager reports them: broadcasts (ARP) go to every such node, and
the MACs learned from the answers carry unicast to the right one. MTUs inside tasks are 1450, the
VXLAN header's 50 bytes less than Ethernet's. An encrypted network's VXLAN port sends from the
node's address inside the encrypted tunnel to the peers' (``seal.py``), with an MTU of 1366.
Netlink through pyroute2, from the daemon's namespace and, for a task's side, from a thread in the
task's namespace (``netns``; never pyroute2's forking ``NetNS``). The veth goes away with the
task's namespace, or at once with ``detach``; ``remove_unused`` deletes the bridges that no task
uses any more.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import time
from collections.abc import Iterable, Sequence

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shoal.api.types import NetworkAttachment
from shoal.network import rtnl, seal
from shoal.network.netns import run_in_netns
from shoal.network.seal import ENCRYPTED_MTU

BRIDGE_PREFIX = "shb-"
INGRESS_PREFIX = "shi-"  # the routing mesh's bridge: kept while the node plays the mesh
VXLAN_PREFIX = "shx-"
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
VXLAN_PORT = 4789
OVERLAY_MTU = 1450
FLOOD = "00:00:00:00:00:00"
MAX_VETHS = 100  # a task's veths are sv<task>0, sv<task>1…: one per network


def bridge_name(network_id: str, ingress: bool = False) -> str:
    # Interface names have 15 characters at most.
    return (INGRESS_PREFIX if ingress else BRIDGE_PREFIX) + network_id[:11]


def vxlan_name(network_id: str) -> str:
    return VXLAN_PREFIX + network_id[:11]


def ensure_vxlan(ipr: IPRoute, name: str, vni: int, bridge: int, local6: str = "") -> None:
    """The network's VXLAN port on its bridge; with ``local6``, an encrypted network's, whose packets
    go from that inner address into the tunnel (``seal.py``). A device of that name that is not this
    port (another kind, another VNI: left by an earlier swarm) is made again; a VNI held by a port
    that is not shoal's is an error that names it."""
    idx = link_index(ipr, name)
    if idx is not None and vni_of(ipr, idx) != vni:
        with contextlib.suppress(NetlinkError):
            ipr.link("del", index=idx)
        idx = link_index(ipr, name)
    if idx is None:
        extra = {"vxlan_local6": local6} if local6 else {}

        def add() -> None:
            ipr.link("add", ifname=name, kind="vxlan", vxlan_id=vni, vxlan_port=VXLAN_PORT, vxlan_learning=1,
                     **extra)

        error: NetlinkError | None = None
        try:
            add()
        except NetlinkError as e:  # another task made it meanwhile, or a port of the same VNI is in the way
            error = e
            stale = _vxlan_of_vni(ipr, vni, name)
            if stale is not None:  # a removed network's port (the store keeps VNIs unique among live ones)
                ipr.link("del", index=stale)
                try:
                    add()
                except NetlinkError as again:
                    error = again
        idx = link_index(ipr, name)
        if idx is None:
            holders = [n for _, n in _vxlans_of_vni(ipr, vni, name)]
            why = f": VNI {vni} is held by {', '.join(holders)}" if holders else f": {error}" if error else ""
            raise OSError(f"the VXLAN port {name} (VNI {vni}) could not be made{why}")
    try:
        ipr.link("set", index=idx, master=bridge, mtu=ENCRYPTED_MTU if local6 else OVERLAY_MTU, state="up")
    except NetlinkError:
        with contextlib.suppress(NetlinkError):  # (its bridge is gone): not left behind without one
            ipr.link("del", index=idx)
        raise


def encrypted(a: NetworkAttachment) -> bool:
    return seal.encrypted(a.Network)


def link_index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def vni_of(ipr: IPRoute, idx: int) -> int | None:
    """The VNI of VXLAN device ``idx`` (None: not a VXLAN device)."""
    for link in ipr.get_links(idx):
        info = link.get_attr("IFLA_LINKINFO")
        if info is None or info.get_attr("IFLA_INFO_KIND") != "vxlan":
            return None
        data = info.get_attr("IFLA_INFO_DATA")
        return int(data.get_attr("IFLA_VXLAN_ID")) if data is not None else None
    return None


def _vxlan_of_vni(ipr: IPRoute, vni: int, other_than: str) -> int | None:
    """The index of one of shoal's VXLAN ports with ``vni`` but another name (the kernel allows one
    port per VNI and UDP port)."""
    found = _vxlans_of_vni(ipr, vni, other_than)
    return next((idx for idx, name in found if name.startswith(VXLAN_PREFIX)), None)


def _vxlans_of_vni(ipr: IPRoute, vni: int, other_than: str) -> list[tuple[int, str]]:
    """Every VXLAN device with ``vni`` but another name: (index, name)."""
    found = []
    for link in ipr.get_links():
        ifname = link.get_attr("IFLA_IFNAME") or ""
        info = link.get_attr("IFLA_LINKINFO")
        if ifname == other_than or info is None:
            continue
        data = info.get_attr("IFLA_INFO_DATA")
        if info.get_attr("IFLA_INFO_KIND") == "vxlan" and data is not None and data.get_attr("IFLA_VXLAN_ID") == vni:
            found.append((int(link["index"]), ifname))
    return found


# The networks' bridges this process made (or found) up with their gateway: name → (index, gateway). A
# burst of tasks on one bridge asks the kernel about it once, not three times a task (a third of a
# task's netlink time). Forgotten when ``remove_unused`` deletes it, or when the index fails (someone
# else deleted it): ``attach`` then makes it again.
_ready: dict[str, tuple[int, str]] = {}


def ensure_bridge(ipr: IPRoute, name: str, gateway: str, prefixlen: int) -> int:
    known = _ready.get(name)
    if known is not None and known[1] == gateway:
        return known[0]
    idx = link_index(ipr, name)
    if idx is None:
        with contextlib.suppress(NetlinkError):  # another task made it meanwhile
            ipr.link("add", ifname=name, kind="bridge")
        idx = link_index(ipr, name)
        if idx is None:
            raise OSError(f"the bridge {name} could not be made")
    have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx)}
    if gateway not in have:
        with contextlib.suppress(NetlinkError):
            ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
    ipr.link("set", index=idx, state="up")
    if name.startswith(BRIDGE_PREFIX):
        _ready[name] = (idx, gateway)
    return idx


def attach(netns_path: str, task_id: str, attachments: list[NetworkAttachment], local6: str = "") -> None:
    """Wire the task's namespace to the bridge of each of its networks, with its addresses; the
    encrypted ones' VXLAN goes from ``local6``, the node's address in the tunnel."""
    if not local6 and any(encrypted(a) for a in attachments):
        raise OSError("an encrypted network needs the tunnel, which has no keys yet")
    plan = []
    with IPRoute() as ipr:
        for i, a in enumerate(attachments):
            conf = (a.Network.IPAMOptions.Configs or [])[0]
            net = ipaddress.ip_network(conf.Subnet, strict=False)
            br = ensure_bridge(ipr, bridge_name(a.Network.ID, a.Network.Spec.Ingress), conf.Gateway, net.prefixlen)
            vni = int((a.Network.DriverState.Options or {}).get(VNI_OPTION, 0))
            sealed = encrypted(a)
            if vni:
                ensure_vxlan(ipr, vxlan_name(a.Network.ID), vni, br, local6 if sealed else "")
            host = f"sv{task_id[:11]}{i}"
            old = link_index(ipr, host)
            if old is not None:  # left by a crash: start afresh
                ipr.link("del", index=old)
            mtu = (ENCRYPTED_MTU if sealed else OVERLAY_MTU) if vni else 1500
            # The task's end is made in its namespace, named there: moving a link into a namespace
            # waits for the kernel's RCU grace period (16 ms a task here).
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                ipr.link("add", ifname=host, kind="veth", mtu=mtu,
                         peer={"ifname": f"eth{i}", "net_ns_fd": fd, "mtu": mtu})
            finally:
                os.close(fd)
            host_idx = link_index(ipr, host)
            try:
                ipr.link("set", index=host_idx, master=br, state="up")
            except NetlinkError as e:  # the bridge known here is gone: make it again
                if e.code == errno.EXFULL:  # its ports are all taken (1,024): no use trying again
                    raise rtnl.VethError(e.code, os.strerror(e.code)) from e
                _ready.pop(bridge_name(a.Network.ID, a.Network.Spec.Ingress), None)
                br = ensure_bridge(ipr, bridge_name(a.Network.ID, a.Network.Spec.Ingress), conf.Gateway,
                                   net.prefixlen)
                ipr.link("set", index=host_idx, master=br, state="up")
            plan.append((f"eth{i}", a.Addresses[0]))
    # The default route: the first network that is not --internal (none when all are, as in Docker).
    default = next((conf_gateway(a) for a in attachments if not a.Network.Spec.Internal), "")

    def inside() -> None:
        with IPRoute() as ns:  # made in the task's namespace: this thread is in it
            for ifname, cidr in plan:
                idx = link_index(ns, ifname)
                addr, _, prefix = cidr.partition("/")
                ns.addr("add", index=idx, address=addr, prefixlen=int(prefix or 32))
                ns.link("set", index=idx, state="up")
            if default:
                ns.route("add", dst="0.0.0.0/0", gateway=default)

    run_in_netns(netns_path, inside)


def attach_new(netns_path: str, task_id: str, a: NetworkAttachment) -> None:
    """In a fresh thread (left in the namespace): a new network namespace bound at ``netns_path``,
    wired to the bridge of ``a``'s network (no VXLAN: the node's default bridge) as ``attach`` would
    wire it, in a few raw netlink messages (``rtnl.py``)."""
    conf = (a.Network.IPAMOptions.Configs or [])[0]
    name = bridge_name(a.Network.ID, a.Network.Spec.Ingress)
    known = _ready.get(name)
    if known is not None and known[1] == conf.Gateway:
        br = known[0]
    else:
        with IPRoute() as ipr:
            br = ensure_bridge(ipr, name, conf.Gateway, ipaddress.ip_network(conf.Subnet, strict=False).prefixlen)
    try:
        rtnl.new_on_bridge(netns_path, f"sv{task_id[:11]}0", br, a.Addresses[0],
                           "" if a.Network.Spec.Internal else conf.Gateway)
    except OSError:
        _ready.pop(name, None)  # maybe the bridge is gone: the next task asks the kernel again
        raise


def conf_gateway(a: NetworkAttachment) -> str:
    return (a.Network.IPAMOptions.Configs or [])[0].Gateway


def detach(task_id: str, bridges: Sequence[str], veths: int = 1) -> None:
    """Delete the task's veths by name (both ends go at once; waiting for its namespace to go takes
    longer): its first ``veths``, and any further one up to the first missing. Then those of
    ``bridges`` that no task uses any more. Nothing here lists the
    node's links: a task's removal costs the same beside ten tasks or a thousand."""
    nl = rtnl.Socket()
    try:
        i = 0
        while True:
            with contextlib.suppress(OSError):
                if not rtnl.del_link_if_any(nl, f"sv{task_id[:11]}{i}") and i + 1 >= veths:
                    break
            i += 1
            if i >= MAX_VETHS:
                break
    finally:
        nl.close()
    remove_unused_of(bridges)


def remove_unused_of(names: Iterable[str]) -> list[str]:
    """``remove_unused`` for the named bridges only, each asked for its own ports (``rtnl.ports``).
    Returns those still in use."""
    busy = []
    nl = rtnl.Socket()
    try:
        for name in names:
            if not name.startswith(BRIDGE_PREFIX):
                continue
            try:
                idx = socket.if_nametoindex(name)
            except OSError:
                continue  # gone already
            try:
                mine = rtnl.ports(nl, idx)
            except OSError:
                continue
            if any(not port.startswith(VXLAN_PREFIX) for _, port in mine):
                busy.append(name)
                continue
            _ready.pop(name, None)
            # Its one port left, the network's VXLAN, by name: also when it is not on the bridge any
            # more (a task's attach that met the bridge gone), so that it never outlives it.
            with contextlib.suppress(OSError):
                rtnl.del_link_if_any(nl, VXLAN_PREFIX + name[len(BRIDGE_PREFIX):])
            with contextlib.suppress(OSError):
                rtnl.del_link_if_any(nl, name)
    finally:
        nl.close()
    return busy


def sync_peers(peers: dict[str, list[str]]) -> None:
    """Make each network's VXLAN flood to exactly the given nodes (network ID → their addresses);
    networks without a VXLAN port here (no local task yet) are skipped: ``attach`` comes first."""
    with IPRoute() as ipr:
        for network_id, addrs in peers.items():
            idx = link_index(ipr, vxlan_name(network_id))
            if idx is None:
                continue
            have = {e.get_attr("NDA_DST") for e in ipr.fdb("dump", ifindex=idx)
                    if e.get_attr("NDA_LLADDR") == FLOOD and e.get_attr("NDA_DST")}
            for addr in sorted(set(addrs) - have):
                ipr.fdb("append", ifindex=idx, lladdr=FLOOD, dst=addr)
            for addr in sorted(have - set(addrs)):
                with contextlib.suppress(NetlinkError):
                    ipr.fdb("del", ifindex=idx, lladdr=FLOOD, dst=addr)


def remove_orphan_vxlans() -> None:
    """Delete shoal's VXLAN ports that are on no bridge (one whose bridge went while a task's attach
    was making it), from a dump of VXLAN devices only: when the node has no task (a port is on no
    bridge for a moment while it is made)."""
    nl = rtnl.Socket()
    try:
        for link in rtnl.links(nl, kind="vxlan"):
            if link.name.startswith(VXLAN_PREFIX) and not link.master:
                with contextlib.suppress(OSError):
                    rtnl.del_link_if_any(nl, link.name)
    finally:
        nl.close()


def remove_unused(wait: float = 0.0) -> list[str]:
    """Delete the networks' bridges that no task uses (their only port, if any, is the VXLAN), with
    their VXLAN; with ``wait``, keep looking that long for tasks' veths to go (a namespace's goes a
    moment after it). Returns the bridges still in use. The bridges come from a dump of bridges only
    (``rtnl.links``), not of every link: a node with a thousand tasks has two thousand."""
    deadline = time.monotonic() + wait
    while True:
        nl = rtnl.Socket()
        try:
            names = [b.name for b in rtnl.links(nl, kind="bridge") if b.name.startswith(BRIDGE_PREFIX)]
        finally:
            nl.close()
        busy = remove_unused_of(names)
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.05)
