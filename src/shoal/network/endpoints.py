"""The networks' endpoints as the managers send them to a node: typed, per network, per service.

``{network ID → NetworkEndpoints(Name, Services={service ID → Endpoint})}``: a service's name, its
endpoint mode, its virtual IP on that network (``vip`` mode; "" in ``dnsrr``), its running tasks'
addresses there (the backends) and its aliases on the network. The manager keeps it up to date as
tasks, services and networks change (``manager/netview.py``) and the dispatcher sends each node the
networks its tasks are on; the node derives from it what its tasks resolve (``names``: the embedded
DNS server's table) and the VIP rules of its tasks' namespaces (``vips``), with no guessing.
"""

from __future__ import annotations

import msgspec


class Endpoint(msgspec.Struct, frozen=True):
    Name: str
    Mode: str = "vip"  # "vip" | "dnsrr"
    VIP: str = ""  # its virtual IP on the network (vip mode), without the prefix
    Backends: tuple[str, ...] = ()  # its running tasks' addresses on the network, sorted
    Aliases: tuple[str, ...] = ()


class NetworkEndpoints(msgspec.Struct, frozen=True):
    Name: str  # the network's name: every name also answers as ``<name>.<network>``
    Services: dict[str, Endpoint] = {}


View = dict[str, NetworkEndpoints]  # network ID → its endpoints


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
