"""Address management for swarm networks, as Swarm's default IPAM does it.

A network without ``--subnet`` gets the first subnet of the cluster's size (``SubnetSize``, 24 by
default) carved from the default address pools (``DefaultAddrPool``, 10.0.0.0/8 by default) that
overlaps no other network's subnet; its gateway is the subnet's first address. A task's address on
a network is the lowest one of the subnet (within ``--ip-range`` when given) that is neither the
network address, the gateway, the broadcast address, nor in use by another live task. Overlay
networks get a VXLAN ID from 4097 up, as Swarm numbers them. Pure functions: the caller says what
is in use.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

FIRST_VNI = 4097
INGRESS_VNI = 4096


class IPAMError(Exception):
    pass


Net = ipaddress.IPv4Network


def parse_subnet(subnet: str) -> Net:
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError as e:
        raise IPAMError(f"invalid subnet {subnet}: {e}") from e
    if not isinstance(net, ipaddress.IPv4Network):
        raise IPAMError(f"invalid subnet {subnet}: only IPv4 subnets are supported")
    if str(net) != subnet.strip():
        raise IPAMError(f"invalid subnet {subnet}: it should be {net}")
    return net


def allocate_subnet(pools: Iterable[str], size: int, used: Iterable[str]) -> Net:
    """The first /``size`` subnet of the pools that overlaps none of ``used``."""
    taken = [ipaddress.ip_network(u, strict=False) for u in used]
    for pool in pools:
        p = ipaddress.ip_network(pool, strict=False)
        if not isinstance(p, ipaddress.IPv4Network) or size < p.prefixlen:
            continue
        for cand in p.subnets(new_prefix=size):
            if not any(cand.overlaps(t) for t in taken):
                return cand
    raise IPAMError("could not find an available, non-overlapping IPv4 address pool among the defaults to "
                    "assign to the network")


def gateway_of(net: Net, gateway: str = "") -> str:
    if gateway:
        gw = ipaddress.ip_address(gateway)
        if gw not in net:
            raise IPAMError(f"no matching subnet for gateway {gateway}")
        return str(gw)
    return str(next(net.hosts()))


def allocate_address(subnet: str, gateway: str, used: set[str], ip_range: str = "") -> str:
    """The lowest free address (``a.b.c.d/prefix``) of the subnet, within ``ip_range`` if given."""
    net = ipaddress.ip_network(subnet, strict=False)
    rng = ipaddress.ip_network(ip_range, strict=False) if ip_range else net
    for host in rng.hosts() if rng.num_addresses > 2 else rng:
        a = str(host)
        if host in net and a != gateway and a not in used and host != net.network_address \
                and host != net.broadcast_address:
            return f"{a}/{net.prefixlen}"
    raise IPAMError(f"could not find an available IP while allocating VIP or task address in network {subnet}")


def allocate_address_from_top(subnet: str, gateway: str, used: set[str]) -> str:
    """The highest free address of the subnet (nodes' own addresses on the ingress network, kept
    away from the tasks', which grow from the bottom)."""
    net = ipaddress.ip_network(subnet, strict=False)
    for host in reversed(list(net.hosts())):
        a = str(host)
        if a != gateway and a not in used:
            return f"{a}/{net.prefixlen}"
    raise IPAMError(f"could not find an available IP in network {subnet}")


def allocate_vni(used: Iterable[int], first: int = FIRST_VNI) -> int:
    taken = set(used)
    vni = first
    while vni in taken:
        vni += 1
    return vni
