"""The embedded DNS server's answers: names of the asking task's networks only, every address of a
name in some order, NXDOMAIN for everything else (no forwarding)."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, DNSRecord

from shoal.network.dns import EmbeddedDNS


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
    assert ask(dns, "example.com", ["front"]).header.rcode == RCODE.NXDOMAIN  # never forwarded
    aaaa = ask(dns, "web", ["front"], "AAAA")
    assert aaaa.header.rcode == RCODE.NOERROR and not aaaa.rr


def test_garbage_gets_no_answer() -> None:
    assert EmbeddedDNS().answer(b"\x00\x01garbage", ["front"]) is None
