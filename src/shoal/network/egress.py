"""Tasks on networks reach beyond the swarm: what they send out of the node leaves with its address.

A task's default route is its first network's gateway, which is its own node's bridge; the node
forwards (``net.ipv4.ip_forward``) and a table ``ip shoal_egress`` masquerades what comes from the
subnets of this node's tasks and leaves through any interface that is not shoal's (``sh*``: the
networks' bridges, VXLANs and tunnel), as Docker's ``docker_gwbridge`` does for swarm tasks. Traffic
between tasks (on one bridge, or across the VXLAN) is never translated, and networks made with
``--internal`` get no way out, as in Docker. Only what goes to an address outside those subnets is
translated (with ``br_netfilter`` loaded, bridged packets pass the same hook).

Networks stay apart, as Docker's do: the node forwards, so without a rule a task could reach
another network's tasks through its gateway; the table's ``forward`` chain drops what one task
subnet of this node (``--internal`` ones, the ingress network and the default bridge included)
would route to another. A connection to a published port (DNATed by the routing mesh) may cross.
``sync`` makes the table match the subnets in use, and removes it when there are none (and
``ip_forward`` goes back to what it was, unless the routing mesh needs it:
``netns.need_forwarding``).
"""

from __future__ import annotations

import ipaddress
import subprocess

from shoal.api.types import NetworkAttachment
from shoal.network.netns import need_forwarding

TABLE = "shoal_egress"


def subnets(attachments: list[NetworkAttachment]) -> tuple[set[str], set[str]]:
    """The subnets of a task's networks: those that may reach outside (not ``--internal`` ones), and
    all of them (which the node keeps apart)."""
    out: set[str] = set()
    every: set[str] = set()
    for a in attachments:
        for addr in a.Addresses:
            net = str(ipaddress.ip_network(addr, strict=False))
            every.add(net)
            if not a.Network.Spec.Internal:
                out.add(net)
    return out, every


def ruleset(out: set[str], local: set[str]) -> str:
    """Masquerade what ``out`` sends out of the node; drop what one of ``local`` would route to
    another (bridged packets stay within one subnet; a connection to a published port, DNATed, may
    cross)."""
    local = local | out
    same = ", ".join(f"{n} . {n}" for n in sorted(local))
    lines = [
        f"table ip {TABLE}", f"delete table ip {TABLE}", f"table ip {TABLE} {{",
        f" set local {{ type ipv4_addr; flags interval; elements = {{ {', '.join(sorted(local))} }} }}",
        f" set same {{ type ipv4_addr . ipv4_addr; flags interval; elements = {{ {same} }} }}",
    ]
    if out:
        # Only what is routed out: with br_netfilter loaded (dockerd loads it), packets *bridged*
        # between tasks pass this hook too, through ports not named sh* (the tasks' veths), but
        # never to an address outside the subnets.
        lines += [f" set out {{ type ipv4_addr; flags interval; elements = {{ {', '.join(sorted(out))} }} }}",
                  " chain postrouting {", "  type nat hook postrouting priority 100; policy accept;",
                  "  ip saddr @out ip daddr != @local oifname != \"sh*\" masquerade", " }"]
    lines += [" chain forward {", "  type filter hook forward priority 0; policy accept;",
              "  ct status dnat accept",
              "  ip saddr @local ip daddr @local ip saddr . ip daddr != @same drop", " }", "}"]
    return "\n".join(lines) + "\n"


def sync(out: set[str], local: set[str]) -> None:
    """Masquerade what ``out`` sends out of the node, and keep the subnets of ``local`` (and ``out``)
    apart (blocking: run it in a thread)."""
    local = local | out
    if not local:
        teardown()
        return
    need_forwarding("egress", True)
    r = subprocess.run(["nft", "-f", "-"], input=ruleset(out, local).encode(), capture_output=True)
    if r.returncode != 0:
        raise OSError(f"nft: {r.stderr.decode(errors='replace').strip()}")


def teardown() -> None:
    subprocess.run(["nft", "delete", "table", "ip", TABLE], capture_output=True)
    need_forwarding("egress", False)
