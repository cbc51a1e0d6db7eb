"""The raw rtnetlink messages of a task's wiring on the default bridge (network/rtnl.py)."""

from __future__ import annotations

import errno
import os
import socket
import struct
from pathlib import Path

import pytest

from shoal.network import rtnl


class Capture(rtnl.Socket):
    """Keeps the messages instead of sending them."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, bytes]] = []

    def request(self, *messages: tuple[int, int, bytes]) -> None:
        self.sent.extend(messages)


def attrs(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    off = 0
    while off + 4 <= len(data):
        n, kind = struct.unpack_from("=HH", data, off)
        out[kind & ~rtnl.NLA_F_NESTED] = data[off + 4:off + n]
        off += (n + 3) & ~3
    return out


def test_attributes_are_padded_to_four_bytes() -> None:
    a = rtnl._attr(rtnl.IFLA_IFNAME, b"eth0\0")
    assert len(a) == 12 and struct.unpack_from("=H", a)[0] == 9


def test_the_veth_is_made_up_on_the_bridge_with_its_peer_in_the_namespace() -> None:
    nl = Capture()
    rtnl.add_veth(nl, "svabc0", "eth0", 7, master=3, mtu=1500)
    [(kind, flags, body)] = nl.sent
    assert kind == rtnl.RTM_NEWLINK and flags & rtnl.NLM_F_CREATE and flags & rtnl.NLM_F_EXCL
    _, _, index, ifflags, change = struct.unpack_from("=BxHiII", body)
    assert index == 0 and ifflags & rtnl.IFF_UP and change & rtnl.IFF_UP
    top = attrs(body[16:])
    assert top[rtnl.IFLA_IFNAME] == b"svabc0\0"
    assert struct.unpack("=I", top[rtnl.IFLA_MASTER]) == (3,)
    info = attrs(top[rtnl.IFLA_LINKINFO])
    assert info[rtnl.IFLA_INFO_KIND] == b"veth\0"
    peer = attrs(info[rtnl.IFLA_INFO_DATA])[rtnl.VETH_INFO_PEER]
    assert struct.unpack_from("=BxHiII", peer)[3] == 0  # the peer is brought up from inside
    peer_attrs = attrs(peer[16:])
    assert peer_attrs[rtnl.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", peer_attrs[rtnl.IFLA_NET_NS_FD]) == (7,)
    assert struct.unpack("=I", peer_attrs[rtnl.IFLA_MTU]) == (1500,)


def test_inside_loopback_and_the_link_up_then_the_address_and_the_default_route() -> None:
    nl = Capture()
    rtnl.up_with_address(nl, 2, "10.213.5.7/24", "10.213.5.1")
    kinds = [k for k, _, _ in nl.sent]
    assert kinds == [rtnl.RTM_NEWLINK, rtnl.RTM_NEWLINK, rtnl.RTM_NEWADDR, rtnl.RTM_NEWROUTE]
    assert struct.unpack_from("=BxHiII", nl.sent[0][2])[2] == 1  # lo
    addr = nl.sent[2][2]
    family, prefixlen, _, _, index = struct.unpack_from("=BBBBI", addr)
    assert (family, prefixlen, index) == (socket.AF_INET, 24, 2)
    assert attrs(addr[8:])[rtnl.IFA_LOCAL] == socket.inet_aton("10.213.5.7")
    route = nl.sent[3][2]
    assert struct.unpack_from("=BBBBBBBBI", route)[4:6] == (rtnl.RT_TABLE_MAIN, rtnl.RTPROT_STATIC)
    assert attrs(route[12:])[rtnl.RTA_GATEWAY] == socket.inet_aton("10.213.5.1")


def test_no_route_without_a_gateway() -> None:
    nl = Capture()
    rtnl.up_with_address(nl, 2, "10.213.5.7/24", "")
    assert [k for k, _, _ in nl.sent][-1] == rtnl.RTM_NEWADDR


def test_a_veth_the_bridge_refuses_is_a_veth_error_with_the_kernels_errno(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bridge's 1,024 ports all taken: the kernel answers the veth's RTM_NEWLINK with EXFULL
    (simulated: the socket's request refuses it); ``new_on_bridge`` raises it as a ``VethError`` and
    sends nothing more (no address, no route, no second try)."""
    sent: list[list[int]] = []

    class Full(Capture):
        def request(self, *messages: tuple[int, int, bytes]) -> None:
            sent.append([kind for kind, _, _ in messages])
            if messages[0][0] == rtnl.RTM_NEWLINK and len(messages) == 1:
                raise OSError(errno.EXFULL, f"rtnetlink: {os.strerror(errno.EXFULL)}")

        def close(self) -> None:
            pass

    ns_file = tmp_path / "ns"
    ns_file.touch()
    monkeypatch.setattr(rtnl, "Socket", Full)
    monkeypatch.setattr(rtnl, "new_here", lambda path: str(ns_file))  # no namespace made here
    with pytest.raises(rtnl.VethError) as e:
        rtnl.new_on_bridge(str(tmp_path / "task"), "svabc0", 3, "10.213.73.2/24", "10.213.73.1")
    assert e.value.errno == errno.EXFULL
    assert sent == [[rtnl.RTM_NEWLINK]]
    assert rtnl.go_strerror(errno.EXFULL) == "exchange full"  # Go's words, as in Docker's errors
