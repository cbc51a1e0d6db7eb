"""A task's namespace on the node's default bridge, made in a few raw rtnetlink messages.

Every task without networks gets this (``node.py``), so it is the hot path of a burst of tasks: a
hundred ``docker service create --replicas 100`` tasks each need a namespace, a veth pair on the
bridge, an address and a default route. pyroute2 (``bridge.attach``) takes about ten netlink round
trips a task, each encoded and decoded in Python under the interpreter lock, from two sockets made for
it and a second thread; here the same work is five messages packed by hand, sent from one fresh thread
(``netns.in_thread``) that makes the namespace itself:

* a netlink socket in the node's namespace, then ``unshare(CLONE_NEWNET)`` and the namespace bound at
  its path (``netns.bind`` of the thread's own nsfs file), a socket in it;
* from the node's: the veth pair, made with the host end ``sv<task>0`` up on the bridge and the
  task's end ``eth0`` in the task's namespace (one ``RTM_NEWLINK``);
* in the namespace, in one send: loopback and ``eth0`` up, the task's address on ``eth0`` and the
  default route through the bridge's gateway (``proto static``, as pyroute2 made it).

What the task sees is what ``bridge.attach`` made (same names, MTU, address, route). The bridge itself
(made once, its gateway, up) is still ``bridge.ensure_bridge``'s, and a veth left by a crash is
deleted there before trying again. A veth pair the kernel refuses (the bridge's port limit, 1,024:
``EXFULL``) is a ``VethError`` with the kernel's errno: the caller words it as Docker does.

A task's removal (``bridge.detach``) is as cheap: its veths are deleted by name, and the bridges it
was on are asked for their ports in a dump the kernel filters (``ports``). A dump of every link,
decoded by pyroute2, cost 50-100 ms a task with a thousand tasks' veths on the node, twice a task.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from shoal.network.netns import new_here

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 18, 20, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x300, 0x200, 0x400
NLM_F_DUMP_INTR = 0x10  # on a dump's message: the links changed while it ran, so it may have missed some
DUMP_TRIES = 10
IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 3, 4, 10, 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
IFF_UP = 0x1
NLA_F_NESTED = 0x8000
RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1


def _attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * (-n % 4)


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    flags = IFF_UP if up else 0
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, flags, flags)


class Socket:
    """One rtnetlink socket, in the namespace of the thread that made it; requests are acked."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, *messages: tuple[int, int, bytes]) -> None:
        """Send (type, flags, body) messages in one write; raise the first error any of them got."""
        out = b""
        want: set[int] = set()
        for kind, flags, body in messages:
            self.seq += 1
            want.add(self.seq)
            out += struct.pack("=IHHII", 16 + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, 0) + body
        self.sock.send(out)
        error = 0
        while want:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, off)
                if kind == NLMSG_ERROR and seq in want:
                    want.discard(seq)
                    code = -struct.unpack_from("=i", data, off + 16)[0]
                    error = error or code
                off += max((length + 3) & ~3, 16)
        if error:
            raise OSError(error, f"rtnetlink: {os.strerror(error)}")


class VethError(OSError):
    """The kernel refused the task's veth pair, or its host end on the bridge (``errno``: its answer)."""


def go_strerror(code: int) -> str:
    """An errno as Go's ``syscall.Errno`` says it (Docker's errors carry these): ``exchange full``."""
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


def add_veth(nl: Socket, host: str, peer: str, peer_netns_fd: int, master: int, mtu: int) -> None:
    """The veth pair: ``host`` up on the bridge ``master`` here, ``peer`` in the namespace ``peer_netns_fd``
    (down: the kernel refuses to open a veth's end before both ends are paired)."""
    peer_msg = (_ifinfo() + _attr(IFLA_IFNAME, peer.encode() + b"\0") + _attr(IFLA_MTU, struct.pack("=I", mtu))
                + _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd)))
    info = _attr(IFLA_INFO_KIND, b"veth\0") + _attr(IFLA_INFO_DATA | NLA_F_NESTED,
                                                     _attr(VETH_INFO_PEER | NLA_F_NESTED, peer_msg))
    body = (_ifinfo(up=True) + _attr(IFLA_IFNAME, host.encode() + b"\0") + _attr(IFLA_MTU, struct.pack("=I", mtu))
            + _attr(IFLA_MASTER, struct.pack("=I", master)) + _attr(IFLA_LINKINFO | NLA_F_NESTED, info))
    nl.request((RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body))


def del_link(nl: Socket, name: str) -> None:
    nl.request((RTM_DELLINK, 0, _ifinfo() + _attr(IFLA_IFNAME, name.encode() + b"\0")))


def del_link_if_any(nl: Socket, name: str) -> bool:
    """Delete the link ``name``; False when there is none."""
    try:
        del_link(nl, name)
    except OSError as e:
        if e.errno == errno.ENODEV:
            return False
        raise
    return True


def _attrs(data: bytes, off: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + 4 <= end:
        n, kind = struct.unpack_from("=HH", data, off)
        if n < 4:
            break
        out[kind & 0x3FFF] = data[off + 4:off + n]
        off += (n + 3) & ~3
    return out


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    master: int = 0
    alias: str = ""
    kind: str = ""


def links(nl: Socket, master: int = 0, kind: str = "") -> list[Link]:
    """The links whose master is link ``master`` and/or whose kind is ``kind`` (``bridge``, ``veth``…),
    from a dump the kernel filters (as ``ip link show master X type Y``), so that only they are sent
    and decoded; the filter is checked here as well. A dump the kernel marks interrupted (links came
    and went meanwhile: it may lack some) is made again."""
    for _ in range(DUMP_TRIES - 1):
        found, complete = _dump_links(nl, master, kind)
        if complete:
            return found
    return _dump_links(nl, master, kind)[0]


def _dump_links(nl: Socket, master: int, kind: str) -> tuple[list[Link], bool]:
    nl.seq += 1
    seq = nl.seq
    body = _ifinfo()
    if master:
        body += _attr(IFLA_MASTER, struct.pack("=I", master))
    if kind:
        body += _attr(IFLA_LINKINFO | NLA_F_NESTED, _attr(IFLA_INFO_KIND, kind.encode() + b"\0"))
    nl.sock.send(struct.pack("=IHHII", 16 + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
    found: list[Link] = []
    complete = True
    while True:
        data = nl.sock.recv(1 << 16)
        off = 0
        while off + 16 <= len(data):
            length, msg, flags, got, _ = struct.unpack_from("=IHHII", data, off)
            if got == seq:
                if flags & NLM_F_DUMP_INTR:
                    complete = False
                if msg == NLMSG_DONE:
                    return found, complete
                if msg == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, off + 16)[0]
                    raise OSError(code, f"rtnetlink: {os.strerror(code)}")
                if msg == RTM_NEWLINK:
                    index = struct.unpack_from("=i", data, off + 20)[0]
                    attrs = _attrs(data, off + 32, off + length)
                    info = _attrs(attrs.get(IFLA_LINKINFO, b""), 0, len(attrs.get(IFLA_LINKINFO, b"")))
                    link = Link(index, _text(attrs.get(IFLA_IFNAME)),
                                struct.unpack("=I", attrs.get(IFLA_MASTER, b"\0\0\0\0")[:4])[0],
                                _text(attrs.get(IFLA_IFALIAS)), _text(info.get(IFLA_INFO_KIND)))
                    if (not master or link.master == master) and (not kind or link.kind == kind):
                        found.append(link)
            off += max((length + 3) & ~3, 16)


def _text(raw: bytes | None) -> str:
    return (raw or b"").split(b"\0", 1)[0].decode(errors="replace")


def ports(nl: Socket, master: int) -> list[tuple[int, str]]:
    """A bridge's ports (index and name): ``links`` of master ``master``."""
    return [(link.index, link.name) for link in links(nl, master=master)]



def up_with_address(nl: Socket, index: int, cidr: str, gateway: str) -> None:
    """Loopback and link ``index`` up, the IPv4 address ``cidr`` on the latter, and the default route
    through ``gateway`` ("" for none): one send."""
    iface = ipaddress.IPv4Interface(cidr)
    addr = iface.ip.packed
    body = struct.pack("=BBBBI", socket.AF_INET, iface.network.prefixlen, 0, 0, index)
    body += _attr(IFA_LOCAL, addr) + _attr(IFA_ADDRESS, addr)
    messages = [(RTM_NEWLINK, 0, _ifinfo(1, up=True)), (RTM_NEWLINK, 0, _ifinfo(index, up=True)),
                (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)]
    if gateway:
        route = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, 0, RTN_UNICAST, 0)
        route += _attr(RTA_GATEWAY, ipaddress.IPv4Address(gateway).packed)
        messages.append((RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route))
    nl.request(*messages)


def new_on_bridge(path: str, host: str, master: int, cidr: str, gateway: str, mtu: int = 1500) -> None:
    """In this fresh thread (it is left in the new namespace): a network namespace bound at ``path`` (an
    existing file), loopback up, wired to the bridge ``master`` by a veth (``host`` here, ``eth0``
    there), with ``cidr`` on ``eth0`` and a default route through ``gateway``."""
    outside = Socket()
    try:
        ns_file = new_here(path)
        fd = os.open(ns_file, os.O_RDONLY)
        try:
            try:
                try:
                    add_veth(outside, host, "eth0", fd, master, mtu)
                except FileExistsError:  # left by a crash: start afresh
                    del_link(outside, host)
                    add_veth(outside, host, "eth0", fd, master, mtu)
            except OSError as e:
                raise VethError(e.errno, e.strerror) from e
        finally:
            os.close(fd)
        inside = Socket()
        try:
            up_with_address(inside, socket.if_nametoindex("eth0"), cidr, gateway)
        finally:
            inside.close()
    finally:
        outside.close()
