"""The addresses a swarm node listens on, advertises and sends its data path from, as Docker resolves
``--listen-addr``, ``--advertise-addr`` and ``--data-path-addr`` (moby's daemon/cluster/listen_addr.go).

Each takes an IP address or an interface name (then that interface's address: its one IPv4 address,
else its one IPv6 address), the first two with an optional port (``eth0:2377``). Other names are
refused in Docker's words. Without ``--advertise-addr``, the address is the system's: the one global
unicast address of the up, non-loopback interfaces (IPv4 preferred on an interface), leaving out
shoal's own devices (``sh*``, as Docker leaves out the subnets it manages); when there are several,
Docker's message names two of them, and the user must choose. (Docker 20.10 does not prefer the
default route's interface: asked with a default route on eth0 and two addresses on eth1, it refuses.)

The host's interfaces come from a ``HostInterfaces`` (netlink on a real node, a fake in the tests).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shoal.api.errors import InvalidArgument

SWARM_PORT = 2377
OWN_PREFIX = "sh"  # shoal's bridges, VXLAN devices and veths (egress.py's masquerade rule says the same)

ERR_NO_IP = "could not find the system's IP address"
ERR_BAD_LISTEN = "listen address must be an IP address or network interface (with optional port number)"
ERR_BAD_ADVERTISE = "advertise address must be a non-zero IP address or network interface (with optional port number)"
ERR_BAD_DATA_PATH = "data path address must be a non-zero IP address or network interface (without a port number)"
ERR_MUST_LISTEN = ("must specify a listening address because the address to advertise is not recognized as a "
                   "system address, and a system's IP address to use could not be uniquely identified")

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Interface:
    name: str
    addrs: Sequence[str] = field(default_factory=tuple)  # in the kernel's order
    up: bool = True
    loopback: bool = False


HostInterfaces = Callable[[], Sequence[Interface]]


class AddrError(InvalidArgument):
    """An address flag that names no usable address (Docker's words)."""


def _no_such_interface(name: str, interfaces: Sequence[Interface]) -> bool:
    return all(i.name != name for i in interfaces)


def interface_addr(name: str, interfaces: Sequence[Interface]) -> str | None:
    """The address of interface ``name`` (None: no such interface); AddrError when it has none or
    several of one family."""
    for i in interfaces:
        if i.name != name:
            continue
        v4: IP | None = None
        v6: IP | None = None
        for a in i.addrs:
            ip = ipaddress.ip_address(a)
            if ip.version == 4:
                if v4 is not None:
                    raise AddrError(f"interface {name} has more than one IPv4 address ({v4} and {ip})")
                v4 = ip
            else:
                if v6 is not None:
                    raise AddrError(f"interface {name} has more than one IPv6 address ({v6} and {ip})")
                v6 = ip
        if v4 is None and v6 is None:
            raise AddrError(f"interface {name} has no usable IPv4 or IPv6 address")
        return str(v4 if v4 is not None else v6)
    return None


def _input_ip(text: str, interfaces: Sequence[Interface], unspecified_ok: bool) -> str | None:
    """An interface's address, or ``text`` itself if it is an IP (None: neither)."""
    addr = interface_addr(text, interfaces)
    if addr is not None:
        return addr
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if ip.is_unspecified and not unspecified_ok:
        return None
    return str(ip)


def split_host_port(addr: str) -> tuple[str, str] | None:
    """``host:port`` (``[v6]:port`` too) as Go's net.SplitHostPort; None when it is not one."""
    if addr.startswith("["):
        host, sep, port = addr[1:].partition("]:")
        return (host, port) if sep and "]" not in port else None
    host, sep, port = addr.rpartition(":")
    if not sep or ":" in host:
        return None
    return host, port


def join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def system_addr(interfaces: Sequence[Interface]) -> str:
    """The system's one address (Docker's rule, shoal's own devices left out), or Docker's refusal."""
    chosen: tuple[str, IP] | None = None

    def several(a: tuple[str, IP], b: tuple[str, IP]) -> AddrError:
        if a[0] == b[0]:
            return AddrError("could not choose an IP address to advertise since this system has multiple "
                             f"addresses on interface {a[0]} ({a[1]} and {b[1]})")
        return AddrError("could not choose an IP address to advertise since this system has multiple addresses "
                         f"on different interfaces ({a[1]} on {a[0]} and {b[1]} on {b[0]})")

    for i in interfaces:
        if not i.up or i.loopback or i.name.startswith(OWN_PREFIX):
            continue
        v4: IP | None = None
        v6: IP | None = None
        for a in i.addrs:
            ip = ipaddress.ip_address(a)
            if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified \
                    or str(ip) == "255.255.255.255":
                continue  # Go's IsGlobalUnicast (private addresses are global unicast there)
            if ip.version == 4:
                if v4 is not None:
                    raise several((i.name, v4), (i.name, ip))
                v4 = ip
            else:
                if v6 is not None:
                    raise several((i.name, v6), (i.name, ip))
                v6 = ip
        mine = v4 if v4 is not None else v6
        if mine is None:
            continue
        if chosen is not None:
            raise several(chosen, (i.name, mine))
        chosen = (i.name, mine)
    if chosen is None:
        raise AddrError(ERR_NO_IP)
    return str(chosen[1])


def normalize_listen(listen_addr: str) -> str:
    """As the CLI and dockerd read ``--listen-addr``: host defaults to 0.0.0.0, port to 2377."""
    if not listen_addr:
        return f"0.0.0.0:{SWARM_PORT}"
    hp = split_host_port(listen_addr)
    if hp is None:
        return join_host_port(listen_addr, str(SWARM_PORT))
    host, port = hp
    return join_host_port(host or "0.0.0.0", port or str(SWARM_PORT))


def resolve_listen(listen_addr: str, interfaces: Sequence[Interface]) -> tuple[str, str]:
    """``--listen-addr`` as (IP, port)."""
    hp = split_host_port(normalize_listen(listen_addr))
    if hp is None:
        raise AddrError(f"could not parse listen address {listen_addr}")
    host, port = hp
    ip = _input_ip(host, interfaces, unspecified_ok=True)
    if ip is None:
        raise AddrError(ERR_BAD_LISTEN)
    return ip, port


def resolve_advertise(advertise_addr: str, listen_port: str, interfaces: Sequence[Interface]) -> tuple[str, str]:
    """``--advertise-addr`` as (IP, port): the port defaults to the listen port; without the flag, the
    system's address."""
    if not advertise_addr:
        return system_addr(interfaces), listen_port
    hp = split_host_port(advertise_addr)
    host, port = hp if hp is not None else (advertise_addr, listen_port)
    ip = _input_ip(host, interfaces, unspecified_ok=False)
    if ip is None:
        raise AddrError(ERR_BAD_ADVERTISE)
    return ip, port or listen_port


def resolve_data_path(data_path_addr: str, interfaces: Sequence[Interface]) -> str:
    """``--data-path-addr`` as an IP ("" when not given)."""
    if not data_path_addr:
        return ""
    ip = _input_ip(data_path_addr, interfaces, unspecified_ok=False)
    if ip is None:
        raise AddrError(ERR_BAD_DATA_PATH)
    return ip


def netlink_interfaces() -> list[Interface]:
    """This network namespace's interfaces and their addresses, from netlink."""
    from pyroute2 import IPRoute

    IFF_UP, IFF_LOOPBACK = 0x1, 0x8
    with IPRoute() as ipr:
        links = {int(link["index"]): link for link in ipr.get_links()}
        addrs: dict[int, list[str]] = {}
        for a in ipr.get_addr():
            local = a.get_attr("IFA_LOCAL") or a.get_attr("IFA_ADDRESS")  # a point-to-point link's own
            if local:
                addrs.setdefault(int(a["index"]), []).append(str(local))
    return [Interface(name=str(link.get_attr("IFLA_IFNAME") or ""), addrs=tuple(addrs.get(idx, ())),
                      up=bool(link["flags"] & IFF_UP), loopback=bool(link["flags"] & IFF_LOOPBACK))
            for idx, link in sorted(links.items())]
