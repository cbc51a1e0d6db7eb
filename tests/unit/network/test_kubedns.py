"""The cluster DNS server's answers (``network/kubedns.py``) from a hand-made view, asked with dnslib:
Services' A and SRV records, headless Services' endpoints and per-Pod names, Pods' dashed names,
ExternalName CNAMEs (followed inside the domain, resolved by the node's servers outside it),
NXDOMAIN and no-data answers with the SOA, PTRs, answers cut to a datagram; other names forwarded to
the node's servers or refused without any; and the server itself, at 172.16.0.10:53 on lo in a
namespace of the test's own, over UDP and TCP, the address gone when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord
from pyroute2 import IPRoute

from shoal.api.kubenet import KubeEndpoint, KubeNetView, KubeServiceInfo, KubeServicePort, settings_of
from shoal.network import kubedns as kd
from shoal.network import netns
from shoal.network.kubedns import FORWARD, Chase, KubeDNS, Table

from .test_dns import upstream

SETTINGS = settings_of(None)


def svc(name: str, ns: str = "default", **kw: object) -> KubeServiceInfo:
    return KubeServiceInfo(Namespace=ns, Name=name, **kw)  # type: ignore[arg-type]


def ep(ip: str, *, ready: bool = True, hostname: str = "", ports: dict[str, int] | None = None) -> KubeEndpoint:
    return KubeEndpoint(IP=ip, Ready=ready, Hostname=hostname, Ports=ports if ports is not None else {"http": 8080})


HTTP = (KubeServicePort(Name="http", Protocol="TCP", Port=80),)
VIEW = KubeNetView(Settings=SETTINGS, Services=(
    svc("kube-dns", "kube-system", ClusterIP="172.16.0.10", Ports=(
        KubeServicePort(Name="dns", Protocol="UDP", Port=53),
        KubeServicePort(Name="dns-tcp", Protocol="TCP", Port=53))),
    svc("web", ClusterIP="172.16.7.7", Ports=(*HTTP, KubeServicePort(Name="metrics", Protocol="TCP", Port=9100)),
        Endpoints=(ep("100.64.1.2"), ep("100.64.2.2"))),
    svc("db", ClusterIP="None", Ports=HTTP, Endpoints=(
        ep("100.64.1.5", hostname="db-0"), ep("100.64.2.5"), ep("100.64.3.5", ready=False))),
    svc("late", ClusterIP="None", Ports=HTTP, PublishNotReadyAddresses=True,
        Endpoints=(ep("100.64.1.9", ready=False),)),
    svc("empty", ClusterIP="None", Ports=HTTP),
    svc("search", Type="ExternalName", ExternalName="web.default.svc.cluster.local"),
    svc("outside", Type="ExternalName", ExternalName="www.example.test"),
    svc("api", "prod", ClusterIP="172.16.9.9", Ports=HTTP),
))


@pytest.fixture(scope="module")
def table() -> Table:
    return Table(VIEW, serial=42)


def ask(table: Table, name: str, qtype: str = "A") -> DNSRecord:
    got = table.answer(DNSRecord.question(name, qtype))
    assert isinstance(got, DNSRecord)
    return DNSRecord.parse(got.pack())


def rdata(r: DNSRecord, rtype: str = "A") -> list[str]:
    return sorted(str(rr.rdata) for rr in r.rr if rr.rtype == getattr(QTYPE, rtype))


def test_a_service_is_its_cluster_ip(table: Table) -> None:
    r = ask(table, "web.default.svc.cluster.local")
    assert r.header.rcode == RCODE.NOERROR and r.header.aa == 1 and rdata(r) == ["172.16.7.7"]
    assert all(rr.ttl == 5 for rr in r.rr)  # CoreDNS's default
    assert rdata(ask(table, "kube-dns.kube-system.svc.cluster.local")) == ["172.16.0.10"]
    assert rdata(ask(table, "API.Prod.SVC.Cluster.Local.")) == ["172.16.9.9"]  # case does not matter
    assert str(ask(table, "API.Prod.SVC.Cluster.Local.").rr[0].rname) == "API.Prod.SVC.Cluster.Local."


def test_srv_records_for_named_ports(table: Table) -> None:
    r = ask(table, "_http._tcp.web.default.svc.cluster.local", "SRV")
    (srv,) = r.rr
    assert (srv.rdata.priority, srv.rdata.weight, srv.rdata.port, str(srv.rdata.target)) == \
        (0, 100, 80, "web.default.svc.cluster.local.")
    assert [(str(a.rname), str(a.rdata)) for a in r.ar] == [("web.default.svc.cluster.local.", "172.16.7.7")]
    both = ask(table, "web.default.svc.cluster.local", "SRV")  # every port, without one named
    assert sorted(rr.rdata.port for rr in both.rr) == [80, 9100] and {rr.rdata.weight for rr in both.rr} == {50}
    assert ask(table, "_http._udp.web.default.svc.cluster.local", "SRV").header.rcode == RCODE.NXDOMAIN
    assert ask(table, "_nope._tcp.web.default.svc.cluster.local", "SRV").header.rcode == RCODE.NXDOMAIN
    assert rdata(ask(table, "_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV"), "SRV") == \
        ["0 100 53 kube-dns.kube-system.svc.cluster.local."]


def test_a_headless_service_is_its_ready_endpoints(table: Table) -> None:
    r = ask(table, "db.default.svc.cluster.local")
    assert rdata(r) == ["100.64.1.5", "100.64.2.5"]  # not the one that is not ready
    assert rdata(ask(table, "late.default.svc.cluster.local")) == ["100.64.1.9"]  # publishNotReadyAddresses
    nx = ask(table, "empty.default.svc.cluster.local")  # no ready endpoint: the specification's NXDOMAIN
    assert nx.header.rcode == RCODE.NXDOMAIN


def test_headless_per_pod_names_and_srv(table: Table) -> None:
    assert rdata(ask(table, "db-0.db.default.svc.cluster.local")) == ["100.64.1.5"]  # the endpoint's hostname
    assert rdata(ask(table, "100-64-2-5.db.default.svc.cluster.local")) == ["100.64.2.5"]  # else its dashed IP
    assert ask(table, "100-64-3-5.db.default.svc.cluster.local").header.rcode == RCODE.NXDOMAIN  # not ready
    r = ask(table, "_http._tcp.db.default.svc.cluster.local", "SRV")
    assert rdata(r, "SRV") == ["0 50 8080 100-64-2-5.db.default.svc.cluster.local.",
                               "0 50 8080 db-0.db.default.svc.cluster.local."]  # the Pods' own port
    assert sorted((str(a.rname), str(a.rdata)) for a in r.ar) == [
        ("100-64-2-5.db.default.svc.cluster.local.", "100.64.2.5"),
        ("db-0.db.default.svc.cluster.local.", "100.64.1.5")]


def test_pod_names(table: Table) -> None:
    assert rdata(ask(table, "100-64-1-2.default.pod.cluster.local")) == ["100.64.1.2"]
    assert rdata(ask(table, "10-213-0-1.anywhere.pod.cluster.local")) == ["10.213.0.1"]  # ``pods insecure``
    assert ask(table, "100-64-1-999.default.pod.cluster.local").header.rcode == RCODE.NXDOMAIN
    assert ask(table, "web.default.pod.cluster.local").header.rcode == RCODE.NXDOMAIN


def test_external_names_are_cnames(table: Table) -> None:
    r = ask(table, "search.default.svc.cluster.local")  # followed inside the domain
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in r.rr] == [
        ("CNAME", "web.default.svc.cluster.local."), ("A", "172.16.7.7")]
    assert str(r.rr[1].rname) == "web.default.svc.cluster.local."
    got = table.answer(DNSRecord.question("outside.default.svc.cluster.local"))
    assert isinstance(got, Chase) and got.target == "www.example.test"  # for the node's servers
    assert [str(rr.rdata) for rr in got.reply.rr] == ["www.example.test."]
    c = ask(table, "outside.default.svc.cluster.local", "CNAME")
    assert [str(rr.rdata) for rr in c.rr] == ["www.example.test."]


def test_missing_names_and_types(table: Table) -> None:
    for name in ("nope.default.svc.cluster.local", "web.nowhere.svc.cluster.local", "nowhere.svc.cluster.local",
                 "a.b.c.d.web.default.svc.cluster.local", "web.default.cluster.local", "x.cluster.local"):
        r = ask(table, name)
        assert r.header.rcode == RCODE.NXDOMAIN, name
        (soa,) = r.auth
        assert soa.rtype == QTYPE.SOA and str(soa.rname) == "cluster.local."
        assert str(soa.rdata) == "ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5"
    for name, qtype in (("web.default.svc.cluster.local", "AAAA"), ("web.default.svc.cluster.local", "TXT"),
                        ("default.svc.cluster.local", "A"), ("svc.cluster.local", "A"), ("cluster.local", "A"),
                        ("db.default.svc.cluster.local", "MX")):
        r = ask(table, name, qtype)
        assert (r.header.rcode, r.rr, len(r.auth)) == (RCODE.NOERROR, [], 1), (name, qtype)


def test_the_domains_own_records(table: Table) -> None:
    assert [str(rr.rdata) for rr in ask(table, "dns-version.cluster.local", "TXT").rr] == ['"1.1.0"']
    assert ask(table, "cluster.local", "SOA").rr[0].rtype == QTYPE.SOA
    ns = ask(table, "cluster.local", "NS")
    assert [str(rr.rdata) for rr in ns.rr] == ["ns.dns.cluster.local."] and str(ns.ar[0].rdata) == "172.16.0.10"
    assert rdata(ask(table, "ns.dns.cluster.local")) == ["172.16.0.10"]


def test_ptr_of_cluster_ips_and_endpoints(table: Table) -> None:
    assert [str(rr.rdata) for rr in ask(table, "7.7.16.172.in-addr.arpa", "PTR").rr] == \
        ["web.default.svc.cluster.local."]
    assert [str(rr.rdata) for rr in ask(table, "5.1.64.100.in-addr.arpa", "PTR").rr] == \
        ["db-0.db.default.svc.cluster.local."]
    assert [str(rr.rdata) for rr in ask(table, "2.1.64.100.in-addr.arpa", "PTR").rr] == \
        ["100-64-1-2.web.default.svc.cluster.local."]
    assert table.answer(DNSRecord.question("1.1.168.192.in-addr.arpa", "PTR")) is FORWARD  # not known here


def test_other_names_are_forwarded(table: Table) -> None:
    for name in ("example.test", "web", "web.default.svc.cluster.local.example.test", "local"):
        assert table.answer(DNSRecord.question(name)) is FORWARD


def test_another_cluster_domain() -> None:
    settings = settings_of(None)
    view = KubeNetView(Settings=type(settings)(ClusterDomain="k8s.test", ClusterDNS="172.16.0.10"),
                       Services=(svc("web", ClusterIP="172.16.7.7", Ports=HTTP),))
    t = Table(view)
    assert rdata(ask(t, "web.default.svc.k8s.test")) == ["172.16.7.7"]
    assert t.answer(DNSRecord.question("web.default.svc.cluster.local")) is FORWARD


def test_a_big_answer_is_cut_to_a_datagram() -> None:
    many = tuple(ep(f"100.64.{i // 250}.{i % 250 + 1}") for i in range(100))
    server = KubeDNS()
    server.table = Table(KubeNetView(Settings=SETTINGS, Services=(svc("big", ClusterIP="None", Ports=HTTP,
                                                                      Endpoints=many),)))
    query = DNSRecord.question("big.default.svc.cluster.local")
    small = server.resolve(query.pack())
    assert isinstance(small, bytes) and len(small) <= 512
    r = DNSRecord.parse(small)
    assert r.header.tc == 1 and 0 < len(r.rr) < 100
    whole = server.resolve(query.pack(), tcp=True)
    assert isinstance(whole, bytes) and len(DNSRecord.parse(whole).rr) == 100


def test_a_thousand_services_and_ten_thousand_endpoints() -> None:
    """The table is made once per view and each answer is a few dictionary lookups."""
    services = tuple(svc(f"s{i}", f"ns{i % 10}", ClusterIP="None" if i % 2 else f"172.16.{i // 250 + 10}.{i % 250 + 1}",
                         Ports=HTTP, Endpoints=tuple(ep(f"100.64.{(i * 10 + j) // 250}.{(i * 10 + j) % 250 + 1}")
                                                     for j in range(10)))
                     for i in range(1000))
    view = KubeNetView(Settings=SETTINGS, Services=services)
    start = time.perf_counter()
    t = Table(view)
    built = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(1000):
        r = t.answer(DNSRecord.question(f"s{i}.ns{i % 10}.svc.cluster.local"))
        assert isinstance(r, DNSRecord) and r.rr
    asked = (time.perf_counter() - start) / 1000
    print(f"table of 1,000 Services / 10,000 endpoints: {built * 1000:.0f} ms; an answer: {asked * 1e6:.0f} µs")
    assert built < 2.0 and asked < 0.005


# ---------------------------------------------------------------- the server and its forwarding


async def test_forwarding_and_refusing() -> None:
    addr, proto, transport = await upstream()
    try:
        server = KubeDNS([addr])
        server.table = Table(VIEW)
        query = DNSRecord.question("outside.test").pack()
        got = server.resolve(query)
        assert got is FORWARD
        reply = DNSRecord.parse(await server.finish(query, FORWARD, tcp=False))
        assert [str(rr.rdata) for rr in reply.rr] == ["10.213.99.9"] and proto.asked == ["outside.test."]
        refused = DNSRecord.parse(await KubeDNS([]).finish(query, FORWARD, tcp=False))
        assert refused.header.rcode == RCODE.REFUSED and not refused.rr  # no server: never resolved
    finally:
        transport.close()


async def test_an_external_name_is_resolved_by_the_nodes_servers() -> None:
    addr, _, transport = await upstream()
    try:
        view = KubeNetView(Settings=SETTINGS, Services=(svc("ext", Type="ExternalName", ExternalName="outside.test"),))
        server = KubeDNS([addr])
        server.table = Table(view)
        query = DNSRecord.question("ext.default.svc.cluster.local").pack()
        got = server.resolve(query)
        assert isinstance(got, Chase)
        r = DNSRecord.parse(await server.finish(query, got, tcp=False))
        assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in r.rr] == [("CNAME", "outside.test."), ("A", "10.213.99.9")]
        alone = KubeDNS([])
        alone.table = server.table
        got = alone.resolve(query)
        assert isinstance(got, Chase)
        r = DNSRecord.parse(await alone.finish(query, got, tcp=False))
        assert [QTYPE[rr.rtype] for rr in r.rr] == ["CNAME"] and r.header.rcode == RCODE.NOERROR
    finally:
        transport.close()


def _lo_up() -> None:
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    """A network namespace of the test's own (lo up), bound at a temporary file."""
    fd, path = tempfile.mkstemp(prefix="kubedns-ns-")
    os.close(fd)
    try:
        await netns.create(path, _lo_up)
        yield path
    finally:
        netns.unbind(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _lo_addresses() -> list[str]:
    return sorted(kd._labelled_addresses())


def _client(kind: int) -> socket.socket:
    return socket.socket(socket.AF_INET, kind)


async def _ask_udp(path: str, name: str, qtype: str = "A") -> DNSRecord:
    sock = await netns.in_netns(path, lambda: _client(socket.SOCK_DGRAM))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendto(sock, DNSRecord.question(name, qtype).pack(), ("172.16.0.10", 53))
        data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
        return DNSRecord.parse(data)
    finally:
        sock.close()


async def _ask_tcp(path: str, name: str) -> DNSRecord:
    sock = await netns.in_netns(path, lambda: _client(socket.SOCK_STREAM))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("172.16.0.10", 53))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        q = DNSRecord.question(name).pack()
        writer.write(len(q).to_bytes(2, "big") + q)
        size = int.from_bytes(await reader.readexactly(2), "big")
        return DNSRecord.parse(await reader.readexactly(size))
    finally:
        writer.close()


@pytest.fixture
async def served(namespace: str) -> AsyncIterator[tuple[KubeDNS, str]]:
    server = KubeDNS([], netns=namespace)
    yield server, namespace
    await server.close()


async def test_the_server_answers_at_the_cluster_dns_address(served: tuple[KubeDNS, str]) -> None:
    server, path = served
    await server.apply(VIEW)
    assert server.address == "172.16.0.10" and server.bound_port == 53
    assert await netns.in_netns(path, _lo_addresses) == ["172.16.0.10"]
    assert rdata(await _ask_udp(path, "web.default.svc.cluster.local")) == ["172.16.7.7"]
    assert rdata(await _ask_tcp(path, "db.default.svc.cluster.local")) == ["100.64.1.5", "100.64.2.5"]
    refused = await _ask_udp(path, "example.test")
    assert refused.header.rcode == RCODE.REFUSED
    # a new view: the new table, at once
    gone = KubeNetView(Settings=SETTINGS, Services=tuple(s for s in VIEW.Services if s.Name != "web"))
    await server.apply(gone)
    assert (await _ask_udp(path, "web.default.svc.cluster.local")).header.rcode == RCODE.NXDOMAIN
    # stopped: the address is off lo
    await server.close()
    assert await netns.in_netns(path, _lo_addresses) == []
    await server.apply(VIEW)  # and served again with the next view
    assert rdata(await _ask_udp(path, "web.default.svc.cluster.local")) == ["172.16.7.7"]


async def test_cleanup_takes_a_dead_runs_address_away(served: tuple[KubeDNS, str]) -> None:
    server, path = served
    await netns.in_netns(path, lambda: kd._own_address("172.16.0.10", True))  # as a killed run left it
    await netns.in_netns(path, lambda: kd._own_address("172.16.0.99", True))
    await server.apply(VIEW)  # the one in use stays
    await server.cleanup()
    assert await netns.in_netns(path, _lo_addresses) == ["172.16.0.10"]
    await server.close()
    assert await netns.in_netns(path, _lo_addresses) == []
