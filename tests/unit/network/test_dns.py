"""The embedded DNS server's answers: names of the asking task's networks only, every address of a
name in some order; other names forwarded to the task's or the node's servers (tried in order, the
first reply relayed as it came, SERVFAIL when none answers), NXDOMAIN when there is none. The
servers here are small ones on loopback."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from shoal.network import dns as dns_module
from shoal.network.dns import FORWARD, EmbeddedDNS, node_upstreams

from ..helpers import until


def ask(dns: EmbeddedDNS, name: str, networks: list[str], qtype: str = "A") -> DNSRecord:
    reply = dns.answer(DNSRecord.question(name, qtype).pack(), networks)
    assert reply is not None
    return DNSRecord.parse(reply)


def test_answers_come_from_the_tasks_networks_only() -> None:
    dns = EmbeddedDNS()
    dns.names = {"front": {"web": ["10.213.1.2", "10.213.1.3"], "tasks.web": ["10.213.1.2", "10.213.1.3"]},
                 "back": {"db": ["10.213.2.5"]}}
    r = ask(dns, "web", ["front"])
    assert r.header.rcode == RCODE.NOERROR
    assert sorted(str(rr.rdata) for rr in r.rr) == ["10.213.1.2", "10.213.1.3"]
    assert all(rr.rtype == QTYPE.A and rr.ttl == 600 for rr in r.rr)
    assert [str(rr.rdata) for rr in ask(dns, "DB.", ["front", "back"]).rr] == ["10.213.2.5"]
    assert ask(dns, "db", ["front"]).header.rcode == RCODE.NXDOMAIN  # another network's name
    assert ask(dns, "example.com", ["front"]).header.rcode == RCODE.NXDOMAIN  # no server to forward it to
    aaaa = ask(dns, "web", ["front"], "AAAA")
    assert aaaa.header.rcode == RCODE.NOERROR and not aaaa.rr


def test_garbage_gets_no_answer() -> None:
    assert EmbeddedDNS().answer(b"\x00\x01garbage", ["front"]) is None



# ---------------------------------------------------------------- forwarding


class Upstream(asyncio.DatagramProtocol):
    """A DNS server on loopback that knows one name (or never answers, when ``mute``)."""

    def __init__(self, mute: bool = False) -> None:
        self.mute = mute
        self.asked: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        q = DNSRecord.parse(data)
        self.asked.append(str(q.q.qname))
        if self.mute or self.transport is None:
            return
        reply = q.reply()
        if str(q.q.qname) == "outside.test.":
            reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("10.213.99.9"), ttl=30))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        self.transport.sendto(reply.pack(), addr)


async def upstream(mute: bool = False) -> tuple[str, Upstream, asyncio.DatagramTransport]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: Upstream(mute), local_addr=("127.0.0.1", 0))
    return f"127.0.0.1:{transport.get_extra_info('sockname')[1]}", proto, transport


def closed_port() -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


def test_a_name_not_of_the_tasks_networks_is_to_be_forwarded_when_there_are_servers() -> None:
    dns = EmbeddedDNS()
    dns.names = {"front": {"web": ["10.213.1.2"]}}
    assert dns.answer(DNSRecord.question("outside.test").pack(), ["front"], forward=True) is FORWARD
    local = dns.answer(DNSRecord.question("web").pack(), ["front"], forward=True)
    assert isinstance(local, bytes) and [str(rr.rdata) for rr in DNSRecord.parse(local).rr] == ["10.213.1.2"]


async def test_forwarding_tries_the_servers_in_order_and_relays_the_first_reply() -> None:
    addr, proto, transport = await upstream()
    try:
        query = DNSRecord.question("outside.test")
        reply = DNSRecord.parse(await EmbeddedDNS().forward(query.pack(), [closed_port(), addr]))
        assert reply.header.id == query.header.id and reply.header.rcode == RCODE.NOERROR
        assert [str(rr.rdata) for rr in reply.rr] == ["10.213.99.9"]
        assert proto.asked == ["outside.test."]
        nx = DNSRecord.parse(await EmbeddedDNS().forward(DNSRecord.question("nowhere.test").pack(), [addr]))
        assert nx.header.rcode == RCODE.NXDOMAIN  # the server's answer, as it came
    finally:
        transport.close()


async def test_servfail_when_no_server_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns_module, "UPSTREAM_TIMEOUT", 0.2)
    addr, proto, transport = await upstream(mute=True)
    try:
        reply = DNSRecord.parse(await EmbeddedDNS().forward(DNSRecord.question("outside.test").pack(), [addr]))
        assert reply.header.rcode == RCODE.SERVFAIL and proto.asked == ["outside.test."]
    finally:
        transport.close()


async def test_a_forwarded_answer_goes_back_to_the_asking_client() -> None:
    addr, _, transport = await upstream()
    sent: list[tuple[bytes, tuple[str, int]]] = []

    class Client:
        def send(self, data: bytes, to: tuple[str, int]) -> None:
            sent.append((data, to))

    try:
        dns = EmbeddedDNS([addr])
        dns.relay(DNSRecord.question("outside.test").pack(), dns.upstreams, Client(), ("127.0.0.11", 4242))  # type: ignore[arg-type]
        await until(lambda: bool(sent), what="the relayed answer")
        data, to = sent[0]
        assert to == ("127.0.0.11", 4242) and [str(rr.rdata) for rr in DNSRecord.parse(data).rr] == ["10.213.99.9"]
    finally:
        transport.close()


def test_the_nodes_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# made by hand\nnameserver 10.213.0.53\nsearch example.test\nnameserver fd00::53\n")
    monkeypatch.delenv("SHOAL_DNS", raising=False)
    assert node_upstreams(None, str(conf)) == ["10.213.0.53", "fd00::53"]
    assert node_upstreams(["10.213.1.1"], str(conf)) == ["10.213.1.1"]  # shoal daemon --dns
    assert node_upstreams(None, str(tmp_path / "missing")) == []
    monkeypatch.setenv("SHOAL_DNS", "none")
    assert node_upstreams(None, str(conf)) == []  # the test suite's: never the host's resolvers
    assert node_upstreams(["10.213.1.1"], str(conf)) == ["10.213.1.1"]  # a flag given wins over the default
    monkeypatch.setenv("SHOAL_DNS", "10.213.2.2, 127.0.0.1:5353")
    assert node_upstreams(None, str(conf)) == ["10.213.2.2", "127.0.0.1:5353"]


# ---------------------------------------------------------------- over TCP


async def tcp_upstream() -> tuple[str, asyncio.Server]:
    """A DNS server over TCP on loopback that knows outside.test (and says so in a big answer)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = int.from_bytes(await reader.readexactly(2), "big")
        q = DNSRecord.parse(await reader.readexactly(size))
        reply = q.reply()
        for i in range(1, 41):  # 40 addresses: more than a 512-byte datagram holds
            reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A(f"10.213.98.{i}"), ttl=30))
        data = reply.pack()
        writer.write(len(data).to_bytes(2, "big") + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return f"127.0.0.1:{server.sockets[0].getsockname()[1]}", server


async def ask_tcp(port: int, *names: str) -> list[DNSRecord]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    for name in names:  # several queries on one connection
        q = DNSRecord.question(name).pack()
        writer.write(len(q).to_bytes(2, "big") + q)
        await writer.drain()
        size = int.from_bytes(await reader.readexactly(2), "big")
        out.append(DNSRecord.parse(await reader.readexactly(size)))
    writer.close()
    return out


async def test_queries_over_tcp_are_answered_and_forwarded_over_tcp() -> None:
    addr, upstream_server = await tcp_upstream()
    dns = EmbeddedDNS([addr])
    dns.names = {"front": {"web": ["10.213.1.2"]}}
    server = await asyncio.start_server(lambda r, w: dns.serve_tcp(r, w, ["front"], None), "127.0.0.1", 0)
    try:
        local, outside = await ask_tcp(server.sockets[0].getsockname()[1], "web", "outside.test")
        assert [str(rr.rdata) for rr in local.rr] == ["10.213.1.2"]
        assert len(outside.rr) == 40 and len(outside.pack()) > 512
    finally:
        server.close()
        upstream_server.close()
