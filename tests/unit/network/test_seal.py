"""The encrypted tunnel's packet format: sealing and opening, tampering, replays, the receive window,
key choice, inner addresses, and what the tunnel agrees to carry; and the tunnel process itself
between two UDP sockets on loopback (no TUN device: the packet paths are driven directly)."""

from __future__ import annotations

import base64
import ipaddress
import os
import struct

import pytest

from shoal.network import seal


def vxlan_packet(dst_v4: str, payload: bytes = b"frame", port: int = seal.VXLAN_PORT) -> bytes:
    """An IPv6 UDP packet from one node's inner address to another's."""
    src = ipaddress.IPv6Address(seal.inner_address("10.213.0.1")).packed
    dst = ipaddress.IPv6Address(seal.inner_address(dst_v4)).packed
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    return struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + src + dst + udp


def pair(spi: int = 7) -> tuple[seal.Sealer, seal.Opener]:
    key = os.urandom(16)
    s, o = seal.Sealer(), seal.Opener()
    s.set_key(spi, key)
    o.set_keys({spi: key})
    return s, o


def test_inner_addresses_embed_the_node_address() -> None:
    assert seal.inner_address("10.213.0.7") == "fd5e:a1ed::ad5:7"
    assert ipaddress.IPv6Address(seal.inner_address("192.0.2.1")) in seal.PREFIX
    assert seal.ENCRYPTED_MTU == 1366 and seal.TUN_MTU == 1436


def test_a_sealed_packet_opens_and_hides_its_bytes() -> None:
    s, o = pair()
    pkt = vxlan_packet("10.213.0.2", b"hello from shoal")
    sealed = s.seal(pkt)
    assert sealed is not None and b"hello from shoal" not in sealed
    assert len(sealed) == len(pkt) + seal.OVERHEAD
    assert sealed[4:8] == (7).to_bytes(4, "big")  # the key ID, in clear
    assert o.open(sealed) == pkt


def test_tampering_an_unknown_key_and_junk_are_dropped() -> None:
    s, o = pair()
    sealed = bytearray(s.seal(b"x" * 100) or b"")
    sealed[-1] ^= 1
    assert o.open(bytes(sealed)) is None  # the tag fails
    header = bytearray(s.seal(b"y" * 100) or b"")
    header[1] = 1  # the header is authenticated too
    assert o.open(bytes(header)) is None
    other, _ = pair(spi=9)
    assert o.open(other.seal(b"z") or b"") is None  # a key this node does not have
    assert o.open(b"\x01" * 10) is None
    assert o.dropped == 4


def test_replays_are_dropped_and_late_packets_within_the_window_kept() -> None:
    s, o = pair()
    packets = [s.seal(bytes([i])) or b"" for i in range(10)]
    assert o.open(packets[5]) == b"\x05"
    assert o.open(packets[5]) is None  # replayed
    assert o.open(packets[2]) == b"\x02"  # late, but within the window
    assert o.open(packets[2]) is None
    for _ in range(seal.WINDOW):
        s.seal(b"")  # the sender moves far ahead
    assert o.open(s.seal(b"new") or b"") == b"new"
    assert o.open(packets[3]) is None  # older than the window: cannot tell, dropped


def test_a_new_sender_salt_gets_its_own_window() -> None:
    key = os.urandom(16)
    o = seal.Opener()
    o.set_keys({1: key})
    first, restarted = seal.Sealer(), seal.Sealer()  # a tunnel process, and the same node's after a restart
    for s in (first, restarted):
        s.set_key(1, key)
    assert o.open(first.seal(b"a") or b"") == b"a"
    assert o.open(restarted.seal(b"b") or b"") == b"b"  # its counter starts again: not a replay


def test_nodes_send_with_the_second_newest_key_and_accept_all() -> None:
    assert seal.primary_of([{"spi": 3}, {"spi": 1}, {"spi": 2}]) == 2
    assert seal.primary_of([{"spi": 4}]) == 4
    keys = {i: os.urandom(16) for i in (1, 2, 3)}
    o = seal.Opener()
    o.set_keys(keys)
    for spi, key in keys.items():
        s = seal.Sealer()
        s.set_key(spi, key)
        assert o.open(s.seal(b"k") or b"") == b"k"
    o.set_keys({2: keys[2], 3: keys[3], 4: os.urandom(16)})  # a rotation: key 1 is gone
    s = seal.Sealer()
    s.set_key(1, keys[1])
    assert o.open(s.seal(b"old") or b"") is None


def test_only_vxlan_between_inner_addresses_is_carried() -> None:
    me = ipaddress.IPv6Address(seal.inner_address("10.213.0.2")).packed
    assert seal.is_vxlan_to(vxlan_packet("10.213.0.2"), me)
    assert seal.is_vxlan_to(vxlan_packet("10.213.0.2"), None)
    assert not seal.is_vxlan_to(vxlan_packet("10.213.0.3"), me)  # for another node
    assert not seal.is_vxlan_to(vxlan_packet("10.213.0.2", port=53), me)  # not VXLAN
    outside = bytearray(vxlan_packet("10.213.0.2"))
    outside[24:40] = ipaddress.IPv6Address("2001:db8::1").packed
    assert not seal.is_vxlan_to(bytes(outside), None)  # not a node's inner address
    assert not seal.is_vxlan_to(b"\x45" + bytes(60), None)  # IPv4


def test_the_tunnel_process_moves_packets_between_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tunnel ends on loopback, their TUN devices replaced by pipes: a VXLAN packet the kernel
    put into one side's device comes out, opened, of the other's; anything else never leaves."""
    monkeypatch.setattr(seal, "open_tun", lambda name: -1)
    a, b = seal.TunnelProcess("unused", 0), seal.TunnelProcess("unused", 0)
    try:
        keys = [{"spi": i, "key": base64.b64encode(os.urandom(16)).decode()} for i in (1, 2, 3)]
        a.control({"addr": "127.0.0.1", "keys": keys})
        b.control({"addr": "127.0.0.2", "keys": keys})
        b_kernel, b.tun = os.pipe()  # what b's process hands to its kernel
        a.port = b.sock.getsockname()[1]
        b.sock.settimeout(2)
        a.send(vxlan_packet("127.0.0.2", port=22))  # not VXLAN: dropped
        pkt = vxlan_packet("127.0.0.2", b"over the tunnel")
        a.send(pkt)
        wire = b.sock.recv(65536)
        assert b"over the tunnel" not in wire and wire[4:8] == (2).to_bytes(4, "big")  # the second newest
        b.receive(wire)
        assert os.read(b_kernel, 65536) == pkt
        b.receive(wire)  # replayed: dropped
        a.send(vxlan_packet("127.0.0.3"))  # for another node: b gets it but never passes it on
        b.receive(b.sock.recv(65536))
        os.set_blocking(b_kernel, False)
        with pytest.raises(BlockingIOError):
            os.read(b_kernel, 65536)
    finally:
        for t in (a, b):
            t.sock.close()
        os.close(b.tun)
        os.close(b_kernel)
