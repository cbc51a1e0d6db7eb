"""What a node makes of the networks' endpoints the managers send (``api/endpoints.py``).

``{network ID → NetworkEndpoints(Name, Services={service ID → Endpoint})}`` is kept up to date on
the manager as tasks, services and networks change (``manager/netview.py``), and the dispatcher
sends each node the networks its tasks are on. The node derives from it what its tasks resolve
(``names``: the embedded DNS server's table) and the VIP rules of its tasks' namespaces (``vips``),
with no guessing.
"""

from __future__ import annotations

from shoal.api.endpoints import Endpoint, NetworkEndpoints, View

__all__ = ["Endpoint", "NetworkEndpoints", "View", "names", "vips"]


def names(view: View) -> dict[str, dict[str, list[str]]]:
    """What the tasks of each network resolve: ``<service>`` (and each alias) → its VIP, or its tasks'
    addresses in ``dnsrr``; ``tasks.<service>`` → its tasks' addresses; each also as
    ``<name>.<network>``, as Docker's resolver answers."""
    out: dict[str, dict[str, list[str]]] = {}
    for net_id, net in view.items():
        table: dict[str, list[str]] = {}
        for ep in net.Services.values():
            name = ep.Name.lower()
            backends = list(ep.Backends)
            table[name] = [ep.VIP] if ep.VIP else backends
            table[f"tasks.{name}"] = backends
            for alias in ep.Aliases:
                table[alias.lower()] = table[name]
        suffix = "." + net.Name.lower()
        table.update({k + suffix: v for k, v in list(table.items())})
        out[net_id] = table
    return out


def vips(view: View, networks: list[str]) -> dict[str, list[str]]:
    """VIP → its running tasks' addresses, for the given networks."""
    out: dict[str, list[str]] = {}
    for net_id in networks:
        net = view.get(net_id)
        if net is None:
            continue
        for ep in net.Services.values():
            if ep.VIP:
                out[ep.VIP] = sorted(ep.Backends)
    return out
