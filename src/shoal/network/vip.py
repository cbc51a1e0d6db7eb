"""Service virtual IPs, balanced with nftables inside each task's network namespace.

A service in endpoint mode ``vip`` has one virtual IP per network. A task that connects to it is
DNATed, in its own namespace (``nat`` hook ``output``), to one of the service's running tasks chosen
at random per connection (``numgen random``), TCP and UDP alike; conntrack takes the answers back.
This kernel has no IPVS, which the real Swarm's VIPs need. The agent knows each VIP and its backends
from the endpoints the managers send (``endpoints.vips``). Each task's table ``ip shoal_vip`` is
replaced whole (``nft -f``, one transaction) whenever that changes.
"""

from __future__ import annotations

import asyncio

TABLE = "shoal_vip"


def ruleset(vips: dict[str, list[str]]) -> str:
    """The table that balances each VIP over its backends (a VIP without any: refused at once)."""
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}", f"table ip {TABLE} {{", " chain output {",
             "  type nat hook output priority -100; policy accept;"]
    reject = []
    for vip, backends in sorted(vips.items()):
        if not backends:
            reject.append(vip)
            continue
        pick = ", ".join(f"{i} : {b}" for i, b in enumerate(backends))
        lines.append(f"  ip daddr {vip} dnat to numgen random mod {len(backends)} map {{ {pick} }}")
    lines.append(" }")
    if reject:
        lines += [" chain filter_out {", "  type filter hook output priority 0; policy accept;"]
        lines += [f"  ip daddr {vip} reject" for vip in reject]
        lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


async def apply(netns_path: str, rules: str) -> None:
    """Load ``rules`` into the namespace at ``netns_path``; raises with nft's words on failure."""
    proc = await asyncio.create_subprocess_exec(
        "nsenter", f"--net={netns_path}", "nft", "-f", "-", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate(rules.encode())
    if proc.returncode != 0:
        raise OSError(f"nft: {err.decode(errors='replace').strip()}")
