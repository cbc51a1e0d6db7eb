"""The plumbing of local networks: a container's veth into its network's Linux bridge, and the
published ports (blocking netlink and nft calls: run them in a thread).

* A user-defined network's bridge is ``br-<first 12 of its ID>`` (or its
  ``com.docker.network.bridge.name``), made on first use with the network's gateway, marked with
  the interface alias ``shoal-local <owner>`` (the owner: a digest of the daemon's exec root, so
  ``cleanup`` finds what a previous run of *this* daemon left, never another's bridge) and kept
  until the network is removed (``remove_bridge``) or the daemon stops. The predefined
  ``bridge`` is the default bridge ``shb-default`` (``default.py``).
* A container's endpoint is a veth pair: ``vl<12 hex of task and network>`` on the bridge, and the
  first free ``eth<n>`` in the sandbox with its address and MAC; the first network's gateway
  becomes its default route (none through an ``--internal`` one).
* The table ``ip shoal_local_<owner>`` keeps the local bridge networks apart (Docker's
  DOCKER-ISOLATION: what one network's subnet would route to another's is dropped) and masquerades
  what they send out of the node (not ``--internal`` ones), whatever another daemon in the same
  namespace loads into the shared ``shoal_egress``. Published ports are in it too: a connection to
  any local address of the node (``fib daddr type local``) or to the ``HostIP`` asked for, on the
  published port, is DNATed to the container, in ``prerouting`` (from outside and from other
  containers) and ``output`` (from the node itself, loopback included). For 127.0.0.1 the kernel
  must route a loopback source out of the bridge and take the answers back: the bridge gets
  ``route_localnet`` and ``postrouting`` masquerades such connections to the bridge's address, as
  dockerd does without its userland proxy; a ``raw`` chain drops what arrives from elsewhere for
  127.0.0.0/8 (dockerd's guard against the hole ``route_localnet`` would open). A container reaching
  its own published port through the host (hairpin) is masqueraded too. The host port is held by a
  bound socket of the daemon's (as dockerd's), so no other process takes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import socket
import subprocess
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shoal.network import rtnl
from shoal.network.bridge import ensure_bridge
from shoal.network.netns import run_in_netns

MARK = "shoal-local"  # the interface alias of the bridges made here, with the owner
VETH_PREFIX = "vl"
TABLE = "shoal_local"


def owner_of(exec_root: str) -> str:
    """The tag of one daemon's bridges and table (daemons of one host may share its namespace)."""
    return hashlib.sha256(exec_root.encode()).hexdigest()[:8]


def table_name(owner: str) -> str:
    return f"{TABLE}_{owner}"


def veth_name(task_id: str, network_id: str) -> str:
    return VETH_PREFIX + hashlib.sha256(f"{task_id}/{network_id}".encode()).hexdigest()[:12]


def _lookup(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _route_localnet(bridge: str) -> None:
    with contextlib.suppress(OSError), open(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet", "w") as f:
        f.write("1\n")


def attach(netns_path: str, task_id: str, network_id: str, bridge: str, subnet: str, gateway: str, address: str,
           mac: str, default_route: bool, owner: str) -> str:
    """Wire one endpoint: the bridge (made if missing; marked as ``owner``'s unless empty), a veth into it, the
    address, MAC and, with ``default_route``, the gateway as the default route unless the sandbox
    has one. Returns the interface's name in the sandbox."""
    net = ipaddress.IPv4Network(subnet)
    inside_names = run_in_netns(netns_path, _link_names)
    n = 0
    while f"eth{n}" in inside_names:
        n += 1
    ifname = f"eth{n}"
    host = veth_name(task_id, network_id)
    with IPRoute() as ipr:
        br = ensure_bridge(ipr, bridge, gateway, net.prefixlen)
        if owner:
            ipr.link("set", index=br, ifalias=f"{MARK} {owner}")
        _route_localnet(bridge)
        old = _lookup(ipr, host)
        if old is not None:
            ipr.link("del", index=old)
        fd = os.open(netns_path, os.O_RDONLY)
        try:
            ipr.link("add", ifname=host, kind="veth", peer={"ifname": ifname, "net_ns_fd": fd, "address": mac})
        finally:
            os.close(fd)
        idx = _lookup(ipr, host)
        if idx is None:
            raise OSError(f"the veth {host} could not be made")
        ipr.link("set", index=idx, master=br, state="up")
    addr, _, prefix = address.partition("/")

    def inside() -> None:
        with IPRoute() as ns:
            idx = _lookup(ns, ifname)
            if idx is None:
                raise OSError(f"{ifname} did not arrive in the sandbox")
            ns.addr("add", index=idx, address=addr, prefixlen=int(prefix or net.prefixlen))
            ns.link("set", index=idx, state="up")
            if default_route and not ns.get_routes(family=2, dst_len=0, table=254):
                ns.route("add", dst="0.0.0.0/0", gateway=gateway)

    run_in_netns(netns_path, inside)
    return ifname


def _link_names() -> set[str]:
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_IFNAME") or "" for link in ipr.get_links()}


def detach(task_id: str, network_id: str) -> None:
    """Delete the endpoint's veth (both ends go at once)."""
    with IPRoute() as ipr:
        idx = _lookup(ipr, veth_name(task_id, network_id))
        if idx is not None:
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=idx)


def remove_bridge(name: str) -> None:
    """Delete a network's bridge (with any port left on it: its ports from a dump the kernel filters)."""
    nl = rtnl.Socket()
    try:
        try:
            idx = socket.if_nametoindex(name)
        except OSError:
            return
        for port in rtnl.links(nl, master=idx):
            with contextlib.suppress(OSError):
                rtnl.del_link_if_any(nl, port.name)
        with contextlib.suppress(OSError):
            rtnl.del_link_if_any(nl, name)
    finally:
        nl.close()


def marked_bridges(owner: str) -> list[str]:
    """The bridges ``owner`` made, this run's or a previous one's (a dump of bridges only: a node a
    ``kill -9`` left with a thousand tasks' veths has two thousand links)."""
    nl = rtnl.Socket()
    try:
        return [b.name for b in rtnl.links(nl, kind="bridge") if b.alias == f"{MARK} {owner}" and b.name]
    finally:
        nl.close()


def cleanup(owner: str) -> None:
    """Remove what a previous run of ``owner`` left: its bridges (with any veth still on them: their
    sandboxes are gone) and its table."""
    for name in marked_bridges(owner):
        remove_bridge(name)
    teardown(owner)


# ---------------------------------------------------------------- published ports


@dataclass(frozen=True)
class PortBinding:
    """``-p [HostIP:]HostPort:ContainerPort[/Protocol]``; HostPort 0 is chosen when published."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""  # "" or 0.0.0.0: every address of the node
    host_port: int = 0


@dataclass(frozen=True)
class Published:
    """A port as published: to the container's address ``target`` (no prefix)."""

    binding: PortBinding
    target: str


def _set(name: str, elements: set[str], kind: str = "ipv4_addr") -> str:
    return f" set {name} {{ type {kind}; flags interval; elements = {{ {', '.join(sorted(elements))} }} }}"


def ruleset(owner: str, published: list[Published], subnets: set[str] | None = None,
            out: set[str] | None = None) -> str:
    """The owner's table: the published ports (``published``), the local bridge networks' subnets kept
    apart (``subnets``, Docker's DOCKER-ISOLATION: what one would route to another is dropped, a
    connection to a published port aside) and masqueraded out of the node (``out``)."""
    subnets = set(subnets or ())
    out = set(out or ()) & subnets
    dnat: list[str] = []
    hairpin: list[str] = []
    for p in published:
        b = p.binding
        where = "fib daddr type local" if b.host_ip in ("", "0.0.0.0") else f"ip daddr {b.host_ip}"
        dnat.append(f"  {where} {b.protocol} dport {b.host_port} dnat ip to {p.target}:{b.container_port}")
        hairpin.append(f"  ct status dnat ip saddr {p.target} ip daddr {p.target} {b.protocol} dport "
                       f"{b.container_port} masquerade")
    table = table_name(owner)
    lines = [f"table ip {table}", f"delete table ip {table}", f"table ip {table} {{"]
    apart: list[str] = []
    way_out: list[str] = []
    if subnets:
        lines.append(_set("subnets", subnets))
        lines.append(_set("same", {f"{n} . {n}" for n in subnets}, "ipv4_addr . ipv4_addr"))
        apart = ["  ct status dnat accept", "  ip saddr @subnets ip daddr @subnets ip saddr . ip daddr != @same drop"]
    if out:
        lines.append(_set("out", out))
        way_out = ["  ip saddr @out ip daddr != @subnets oifname != \"sh*\" masquerade"]
    lines += [" chain raw {", "  type filter hook prerouting priority -300; policy accept;",
              "  iifname != \"lo\" ip daddr 127.0.0.0/8 fib daddr type local drop", " }",
              " chain prerouting {", "  type nat hook prerouting priority -100; policy accept;", *dnat, " }",
              " chain output {", "  type nat hook output priority -100; policy accept;", *dnat, " }",
              " chain forward {", "  type filter hook forward priority 0; policy accept;", *apart, " }",
              " chain postrouting {", "  type nat hook postrouting priority 100; policy accept;",
              "  ct status dnat ip saddr 127.0.0.0/8 masquerade", *hairpin, *way_out, " }", "}"]
    return "\n".join(lines) + "\n"


def sync(owner: str, published: list[Published], subnets: set[str], out: set[str]) -> None:
    """Load the owner's table (blocking); none at all when nothing is published or connected."""
    if not published and not subnets:
        teardown(owner)
        return
    r = subprocess.run(["nft", "-f", "-"], input=ruleset(owner, published, subnets, out).encode(), capture_output=True)
    if r.returncode != 0:
        raise OSError(f"nft: {r.stderr.decode(errors='replace').strip()}")


def teardown(owner: str) -> None:
    subprocess.run(["nft", "delete", "table", "ip", table_name(owner)], capture_output=True)
