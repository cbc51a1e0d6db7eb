"""Tasks on networks reach beyond the swarm: what they send out of the node leaves with its address.

A task's default route is its first network's gateway, which is its own node's bridge; the node
forwards (``net.ipv4.ip_forward``) and a table ``ip shoal_egress`` masquerades what comes from the
subnets of this node's tasks and leaves through any interface that is not shoal's (``sh*``: the
networks' bridges, VXLANs and tunnel), as Docker's ``docker_gwbridge`` does for swarm tasks. Traffic
between tasks (on one bridge, or across the VXLAN) is never translated, and networks made with
``--internal`` get no way out, as in Docker. Only what goes to an address outside those subnets is
translated (with ``br_netfilter`` loaded, bridged packets pass the same hook). ``sync`` makes the
table match the subnets in use, and removes it when there are none (and ``ip_forward`` goes back to
what it was, unless the routing mesh needs it: ``netns.need_forwarding``).
"""

from __future__ import annotations

import ipaddress
import subprocess

from shoal.api.types import NetworkAttachment
from shoal.network.netns import need_forwarding

TABLE = "shoal_egress"


def subnets(attachments: list[NetworkAttachment]) -> set[str]:
    """The subnets of a task's networks that may reach outside (not ``--internal`` ones)."""
    out: set[str] = set()
    for a in attachments:
        if a.Network.Spec.Internal:
            continue
        for addr in a.Addresses:
            out.add(str(ipaddress.ip_network(addr, strict=False)))
    return out


def ruleset(nets: set[str]) -> str:
    # Only what is routed out: with br_netfilter loaded (dockerd loads it), packets *bridged* between
    # tasks pass this hook too, through ports not named sh* (the tasks' veths), but never to an
    # address outside the subnets.
    subnets = ", ".join(sorted(nets))
    return "\n".join([
        f"table ip {TABLE}", f"delete table ip {TABLE}", f"table ip {TABLE} {{",
        f" set subnets {{ type ipv4_addr; flags interval; elements = {{ {subnets} }} }}",
        " chain postrouting {", "  type nat hook postrouting priority 100; policy accept;",
        "  ip saddr @subnets ip daddr != @subnets oifname != \"sh*\" masquerade",
        " }", "}",
    ]) + "\n"


def sync(nets: set[str]) -> None:
    """Masquerade what ``nets`` send out of the node (blocking: run it in a thread)."""
    if not nets:
        teardown()
        return
    need_forwarding("egress", True)
    r = subprocess.run(["nft", "-f", "-"], input=ruleset(nets).encode(), capture_output=True)
    if r.returncode != 0:
        raise OSError(f"nft: {r.stderr.decode(errors='replace').strip()}")


def teardown() -> None:
    subprocess.run(["nft", "delete", "table", "ip", TABLE], capture_output=True)
    need_forwarding("egress", False)
