"""The routing mesh as one node plays it: every node's published ports reach the service's tasks.

Every node has the ingress network's bridge ``shi-<id>`` (with the network's gateway, for the tasks
of this node, and the node's own ingress address), its VXLAN port, and a table ``ip shoal_ingress``:

- ``prerouting`` and ``output``: a connection to one of the node's own addresses on a published port
  is DNATed to one of the service's running tasks, chosen at random, on this node or another;
- ``postrouting``: a connection sent to a task on *another* node leaves with the node's ingress
  address as its source, so that the answer comes back through this node;
- ports published in ``mode=host`` are DNATed only on the node that runs the task, to that task. A connection delivered
  to a task on this node keeps the client's address (the task answers through the bridge's
  gateway, which is this node): the routing mesh hides the source only when it has to.

A ``bridge`` table keeps ARP for the gateway address (the same on every node) from crossing the
VXLAN, so a task's default route is always its own node. The node forwards between its interfaces
(``net.ipv4.ip_forward``) as Docker's does, while it plays the mesh (``netns.need_forwarding``).
``sync`` makes all of it match the managers' view, from the first published port on (a node without
any has none of it); ``teardown`` removes it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
from collections.abc import Collection
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shoal.network import bridge
from shoal.network.netns import need_forwarding

TABLE = "shoal_ingress"
ARP_TABLE = "shoal_ingress_arp"


def _nft(rules: str) -> None:
    r = subprocess.run(["nft", "-f", "-"], input=rules.encode(), capture_output=True)
    if r.returncode != 0:
        raise OSError(f"nft: {r.stderr.decode(errors='replace').strip()}")


def ruleset(view: dict[str, Any]) -> str:
    net = view["network"]
    me = view["addr"].split("/")[0]
    dnat = []
    remote: set[str] = set()
    for p in view["ports"]:
        backends = p["backends"]
        if not backends:
            continue
        pick = ", ".join(f"{i} : {ip} . {p['target']}" for i, ip in enumerate(backends))
        dnat.append(f"  fib daddr type local {p['protocol']} dport {p['published']} "
                    f"dnat ip to numgen random mod {len(backends)} map {{ {pick} }}")
        remote.update(set(backends) - set(p["local"]))
    for h in view.get("host") or []:  # mode=host: this node's own task, no SNAT
        dnat.append(f"  fib daddr type local {h['protocol']} dport {h['published']} "
                    f"dnat ip to {h['ip']}:{h['target']}")
    br = bridge.bridge_name(net["id"], ingress=True)
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}", f"table ip {TABLE} {{",
             " chain prerouting {", "  type nat hook prerouting priority -100; policy accept;", *dnat, " }",
             " chain output {", "  type nat hook output priority -100; policy accept;", *dnat, " }",
             " chain postrouting {", "  type nat hook postrouting priority 100; policy accept;"]
    if remote:
        lines.append(f"  ct status dnat oifname \"{br}\" ip daddr {{ {', '.join(sorted(remote))} }} snat ip to {me}")
    lines += [" }", "}",
              f"table bridge {ARP_TABLE}", f"delete table bridge {ARP_TABLE}", f"table bridge {ARP_TABLE} {{",
              " chain forward_arp {", "  type filter hook forward priority 0; policy accept;",
              f"  oifname \"{bridge.VXLAN_PREFIX}*\" arp daddr ip {net['gateway']} drop",
              f"  iifname \"{bridge.VXLAN_PREFIX}*\" arp saddr ip {net['gateway']} drop", " }", "}"]
    return "\n".join(lines) + "\n"


def sync(view: dict[str, Any]) -> None:
    """Make this node's part of the routing mesh match ``view`` (blocking: run it in a thread).
    Nothing is set up on the node until some service publishes a port."""
    if not view or not (view.get("ports") or view.get("host")):
        teardown()
        return
    net = view["network"]
    prefix = ipaddress.ip_network(net["subnet"], strict=False).prefixlen
    with IPRoute() as ipr:
        br = bridge.ensure_bridge(ipr, bridge.bridge_name(net["id"], ingress=True), net["gateway"], prefix)
        me, _, mine = view["addr"].partition("/")
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=br)}
        if me not in have:
            with contextlib.suppress(NetlinkError):
                ipr.addr("add", index=br, address=me, prefixlen=int(mine or prefix))
        if net.get("vni"):
            bridge.ensure_vxlan(ipr, bridge.vxlan_name(net["id"]), int(net["vni"]), br)
    need_forwarding("ingress", True)
    _nft(ruleset(view))


def device_names(view: dict[str, Any]) -> list[str]:
    """The devices ``sync`` makes for ``view``: the ingress network's bridge and VXLAN port."""
    net = view.get("network") or {}
    return [bridge.bridge_name(net["id"], ingress=True), bridge.vxlan_name(net["id"])] if net.get("id") else []


def teardown(names: Collection[str] | None = None) -> None:
    """Remove the tables and the ingress bridges and VXLANs (nothing left of the mesh here); with
    ``names``, only those devices (and their VXLAN ports) of the ingress devices."""
    for family, table in (("ip", TABLE), ("bridge", ARP_TABLE)):
        subprocess.run(["nft", "delete", "table", family, table], capture_output=True)
    need_forwarding("ingress", False)
    with IPRoute() as ipr:
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME") or ""
            if names is not None and name.startswith(bridge.VXLAN_PREFIX) and name in names:
                with contextlib.suppress(NetlinkError):  # a port left without its bridge
                    ipr.link("del", index=link["index"])
            elif name.startswith(bridge.INGRESS_PREFIX) and (names is None or name in names):
                for port in ipr.get_links():
                    if port.get_attr("IFLA_MASTER") == link["index"] and \
                            (port.get_attr("IFLA_IFNAME") or "").startswith(bridge.VXLAN_PREFIX):
                        with contextlib.suppress(NetlinkError):
                            ipr.link("del", index=port["index"])
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=link["index"])
