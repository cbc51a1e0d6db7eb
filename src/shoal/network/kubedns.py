"""The cluster DNS server every node runs for its Pods (issue 16, part 4; docs/design/kube-network.md,
"Cluster DNS"): Kubernetes' DNS-based service discovery, answered from the managers' view of the
Kubernetes network (``api/kubenet.KubeNetView``) as CoreDNS's ``kubernetes`` plugin answers it.

Where it listens: UDP and TCP port 53 of the cluster DNS address (``Settings.ClusterDNS``, 172.16.0.10
by default: the ``kube-system/kube-dns`` Service's ClusterIP), in the node's own network namespace,
where the address is put on ``lo`` as a /32 (labelled ``lo:shoal-dns``, so that a run killed before it
could remove it has it removed at the next start: ``cleanup``). A Pod's default route is its node, so
every Pod reaches the server of its own node at that address, whichever node it is on; the Services'
rules never translate it (``kube-dns`` has no endpoints: each node answers it itself).

What it answers, for the cluster domain (``cluster.local``), TTL 5 (the plugin's default):

* ``<svc>.<ns>.svc.<domain>``: A, the ClusterIP; a headless Service (``ClusterIP: None``) its ready
  endpoints' addresses (not-ready ones too with ``publishNotReadyAddresses``), NXDOMAIN when it has
  none; an ExternalName Service a CNAME to its external name, followed when that is in the cluster
  domain, else resolved by the node's servers when it has some;
* SRV: ``_<port>._<proto>.<svc>.<ns>.svc.<domain>`` for the Service's port of that name and protocol
  (and ``<svc>.<ns>.svc.<domain>`` for all its ports), targets ``<svc>.<ns>.svc.<domain>``, or for a
  headless Service each ready endpoint's own name with the endpoint's port; priority 0, weights
  sharing 100 (CoreDNS's), the targets' addresses in the additional section;
* ``<hostname>.<svc>.<ns>.svc.<domain>``: each ready endpoint, by its ``Hostname`` or else its
  dashed address (``10-1-2-3``);
* ``1-2-3-4.<ns>.pod.<domain>``: A 1.2.3.4 for any address (CoreDNS's ``pods insecure``, kubeadm's);
* ``dns-version.<domain>`` TXT ``1.1.0``; the domain's SOA and NS (``ns.dns.<domain>``, the DNS address);
* PTR of a ClusterIP (the Service's name) and of a ready endpoint's address (its own name);
* a name of the domain that does not exist: NXDOMAIN, an existing name without records of the type
  asked: NOERROR and no answer; both with the domain's SOA in the authority section.

Names are matched without regard to case. Everything else (other domains, addresses not known here)
is forwarded to the node's servers exactly as the Swarm side's embedded server forwards
(``dns.forward``: ``shoal daemon --dns``, else ``$SHOAL_DNS``, else the host's resolv.conf; in order,
the first reply relayed as it came, SERVFAIL when none answers); with no server at all (the test
suite's ``SHOAL_DNS=none``) such a name is REFUSED, as CoreDNS refuses a name outside its zones:
no outside name is ever resolved then.

The table is made again from each new view (``Table``): dictionaries keyed by (namespace, name) and
by address, so an answer is a few lookups whatever the number of Services and endpoints. Answers
over UDP that do not fit (512 bytes, or the client's EDNS size) keep the records that fit and set TC.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from dnslib import CNAME, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A, DNSError, DNSLabel, DNSRecord
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shoal.api.kubenet import KubeEndpoint, KubeNetView, KubeServiceInfo, settings_of
from shoal.network import dns
from shoal.network.netns import in_netns, in_thread

log = logging.getLogger(__name__)

TTL = 5  # CoreDNS's kubernetes plugin's default
SCHEMA_VERSION = "1.1.0"  # the Kubernetes DNS specification's version CoreDNS answers with
LABEL = "lo:shoal-dns"  # the label of the address on lo (how a previous run's is found)
CNAME_DEPTH = 8  # CNAMEs followed inside the domain, at most
UDP_SIZE = 512  # a datagram's answer without EDNS


# ---------------------------------------------------------------- the table


@dataclass
class _Service:
    info: KubeServiceInfo
    fqdn: str
    ready: list[tuple[str, KubeEndpoint]]  # (its name under the Service, the endpoint), ready (or published)
    by_host: dict[str, list[str]]  # an endpoint's name → its addresses


@dataclass
class _Node:
    """What one name holds: its addresses, its CNAME, its SRV records (port, target, the target's
    addresses), its TXT; ``apex``: the domain's own name (SOA, NS)."""

    a: list[str] = field(default_factory=list)
    cname: str = ""
    srv: list[tuple[int, str, list[str]]] = field(default_factory=list)
    txt: str = ""
    apex: bool = False


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def _reverse_ip(name: str) -> str:
    """``4.3.2.1.in-addr.arpa`` → ``1.2.3.4``; "" for another name."""
    labels = name.split(".")
    if len(labels) != 6 or labels[4:] != ["in-addr", "arpa"]:
        return ""
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
    except ValueError:
        return ""


def _dashed_ipv4(label: str) -> str:
    """``1-2-3-4`` → ``1.2.3.4``; "" when it is not an address."""
    if label.count("-") != 3:
        return ""
    try:
        return str(ipaddress.IPv4Address(label.replace("-", ".")))
    except ValueError:
        return ""


class Table:
    """The cluster domain's names as one view makes them, indexed for constant-time answers."""

    def __init__(self, view: KubeNetView, serial: int | None = None) -> None:
        settings = view.Settings if view.Settings.ClusterDNS else settings_of(None)
        self.zone = (view.Settings.ClusterDomain or settings.ClusterDomain).rstrip(".").lower()
        self.dns_ip = view.Settings.ClusterDNS or settings.ClusterDNS
        self.serial = int(time.time()) if serial is None else serial
        self.services: dict[tuple[str, str], _Service] = {}
        self.namespaces: set[str] = set()
        self.ptr: dict[str, str] = {}  # address → the name it points back to
        for info in view.Services:
            ns, name = info.Namespace.lower(), info.Name.lower()
            fqdn = f"{name}.{ns}.svc.{self.zone}"
            svc = _Service(info=info, fqdn=fqdn, ready=[], by_host={})
            if info.Type != "ExternalName":
                for ep in info.Endpoints:
                    if not (ep.Ready or info.PublishNotReadyAddresses):
                        continue
                    host = (ep.Hostname or _dashed(ep.IP)).lower()
                    svc.ready.append((host, ep))
                    svc.by_host.setdefault(host, []).append(ep.IP)
                    self.ptr.setdefault(ep.IP, f"{host}.{fqdn}")
                if info.ClusterIP and info.ClusterIP != "None":
                    self.ptr[info.ClusterIP] = fqdn  # a ClusterIP's own name goes first
            self.services[(ns, name)] = svc
            self.namespaces.add(ns)

    # ------------------------------------------------------------ names

    def in_zone(self, name: str) -> bool:
        return name == self.zone or name.endswith("." + self.zone)

    def node(self, name: str) -> _Node | None:
        """What ``name`` (lower case, no trailing dot, in the domain) holds; None: no such name."""
        rel = name[: -len(self.zone)].rstrip(".") if name != self.zone else ""
        labels = rel.split(".") if rel else []
        if not labels:
            return _Node(apex=True)
        if labels == ["dns-version"]:
            return _Node(txt=SCHEMA_VERSION)
        if labels == ["ns", "dns"]:
            return _Node(a=[self.dns_ip])
        if labels == ["dns"]:
            return _Node()
        kind = labels[-1]
        if kind == "pod":
            if len(labels) == 1 or len(labels) == 2:
                return _Node()  # the pods' part of the domain, a namespace's
            if len(labels) == 3 and (ip := _dashed_ipv4(labels[0])):
                return _Node(a=[ip])
            return None
        if kind != "svc":
            return None
        if len(labels) == 1:
            return _Node()
        ns = labels[-2]
        if len(labels) == 2:
            return _Node() if ns in self.namespaces else None
        svc = self.services.get((ns, labels[-3]))
        if svc is None:
            return None
        if len(labels) == 3:
            return self._service(svc)
        if len(labels) == 4:
            return self._endpoint(svc, labels[0])
        if len(labels) == 5:
            return self._port(svc, labels[0].removeprefix("_"), labels[1].removeprefix("_"))
        return None

    def _service(self, svc: _Service) -> _Node | None:
        info = svc.info
        if info.Type == "ExternalName":
            return _Node(cname=info.ExternalName.rstrip("."))
        if info.ClusterIP == "None":
            if not svc.ready:
                return None  # the specification's NXDOMAIN for a headless Service without ready endpoints
            ips = list(dict.fromkeys(ep.IP for _, ep in svc.ready))
            srv = [(ep.Ports[p.Name], f"{host}.{svc.fqdn}", [ep.IP]) for host, ep in svc.ready
                   for p in info.Ports if p.Name in ep.Ports]
            return _Node(a=ips, srv=srv)
        if not info.ClusterIP or not info.Ports:
            return None  # as CoreDNS: a Service with no port has no records
        return _Node(a=[info.ClusterIP], srv=[(p.Port, svc.fqdn, [info.ClusterIP]) for p in info.Ports])

    def _endpoint(self, svc: _Service, host: str) -> _Node | None:
        ips = svc.by_host.get(host)
        if svc.info.Type == "ExternalName" or not ips:
            return None
        target = f"{host}.{svc.fqdn}"
        srv = [(ep.Ports[p.Name], target, [ep.IP]) for h, ep in svc.ready if h == host
               for p in svc.info.Ports if p.Name in ep.Ports]
        return _Node(a=list(dict.fromkeys(ips)), srv=srv)

    def _port(self, svc: _Service, port: str, proto: str) -> _Node | None:
        info = svc.info
        if info.Type == "ExternalName":
            return _Node(cname=info.ExternalName.rstrip("."))
        ports = [p for p in info.Ports if p.Name.lower() == port and p.Protocol.lower() == proto]
        if not ports:
            return None
        if info.ClusterIP == "None":
            srv = [(ep.Ports[p.Name], f"{host}.{svc.fqdn}", [ep.IP]) for host, ep in svc.ready
                   for p in ports if p.Name in ep.Ports]
            if not srv:
                return None
            return _Node(a=list(dict.fromkeys(ip for _, _, ips in srv for ip in ips)), srv=srv)
        if not info.ClusterIP:
            return None
        return _Node(a=[info.ClusterIP], srv=[(p.Port, svc.fqdn, [info.ClusterIP]) for p in ports])

    # ------------------------------------------------------------ answers

    def soa(self) -> RR:
        return RR(self.zone + ".", QTYPE.SOA, ttl=TTL, rdata=SOA(
            f"ns.dns.{self.zone}.", f"hostmaster.{self.zone}.", (self.serial, 7200, 1800, 86400, TTL)))

    def answer(self, req: DNSRecord) -> DNSRecord | Forward | Chase:
        """The reply to ``req`` when the name is the cluster's (or a known address's PTR); ``FORWARD``
        for another name; a ``Chase`` for a CNAME out of the domain, whose target the node's servers
        are to be asked for."""
        q = req.q
        name = str(q.qname).rstrip(".").lower()
        reply = req.reply()  # authoritative, recursion available, as CoreDNS answers
        if not self.in_zone(name):
            ip = _reverse_ip(name)
            target = self.ptr.get(ip) if ip else None
            if target is None:
                return FORWARD
            if q.qtype in (QTYPE.PTR, QTYPE.ANY):
                reply.add_answer(RR(q.qname, QTYPE.PTR, ttl=TTL, rdata=PTR(target + ".")))
            return reply
        owner: DNSLabel = q.qname
        for _ in range(CNAME_DEPTH):
            node = self.node(name)
            if node is None:
                reply.header.rcode = RCODE.NXDOMAIN
                reply.add_auth(self.soa())
                return reply
            if node.cname and q.qtype != QTYPE.CNAME:
                reply.add_answer(RR(owner, QTYPE.CNAME, ttl=TTL, rdata=CNAME(node.cname + ".")))
                target = node.cname.lower()
                if self.in_zone(target):
                    name, owner = target, DNSLabel(node.cname + ".")
                    continue
                return Chase(reply, node.cname)
            self._records(reply, owner, node, q.qtype)
            return reply
        return reply

    def _records(self, reply: DNSRecord, owner: DNSLabel, node: _Node, qtype: int) -> None:
        if qtype == QTYPE.A and node.a:
            for ip in random.sample(node.a, len(node.a)):  # in a new order each time (kubeadm's ``loadbalance``)
                reply.add_answer(RR(owner, QTYPE.A, ttl=TTL, rdata=A(ip)))
        elif qtype == QTYPE.SRV and node.srv:
            weight = max(1, 100 // len(node.srv))
            seen: set[str] = set()
            for port, target, ips in node.srv:
                reply.add_answer(RR(owner, QTYPE.SRV, ttl=TTL, rdata=SRV(0, weight, port, target + ".")))
                if target not in seen:
                    seen.add(target)
                    for ip in ips:
                        reply.add_ar(RR(target + ".", QTYPE.A, ttl=TTL, rdata=A(ip)))
        elif qtype == QTYPE.CNAME and node.cname:
            reply.add_answer(RR(owner, QTYPE.CNAME, ttl=TTL, rdata=CNAME(node.cname + ".")))
        elif qtype == QTYPE.TXT and node.txt:
            reply.add_answer(RR(owner, QTYPE.TXT, ttl=28800, rdata=TXT(node.txt)))
        elif qtype == QTYPE.SOA and node.apex:
            reply.add_answer(self.soa())
        elif qtype == QTYPE.NS and node.apex:
            reply.add_answer(RR(owner, QTYPE.NS, ttl=TTL, rdata=NS(f"ns.dns.{self.zone}.")))
            reply.add_ar(RR(f"ns.dns.{self.zone}.", QTYPE.A, ttl=TTL, rdata=A(self.dns_ip)))
        else:
            reply.add_auth(self.soa())  # NOERROR, no data


class Forward:
    """``Table.answer``'s word for "not a name of the cluster's: ask the node's servers"."""


FORWARD = Forward()


@dataclass
class Chase:
    """A reply ending in a CNAME out of the cluster domain: the node's servers are asked for
    ``target`` (of the question's type) and their answers appended."""

    reply: DNSRecord
    target: str


def fit(reply: DNSRecord, limit: int) -> bytes:
    """``reply`` packed in at most ``limit`` bytes: the additional records dropped, then answers from
    the end, with TC set, when it does not fit (the client may ask again over TCP)."""
    data = bytes(reply.pack())
    if len(data) <= limit:
        return data
    reply.header.tc = 1
    reply.ar = []
    while reply.rr:
        data = bytes(reply.pack())
        if len(data) <= limit:
            return data
        reply.rr.pop()
    return bytes(reply.pack())


def _udp_limit(req: DNSRecord) -> int:
    opt = next((rr for rr in req.ar if rr.rtype == QTYPE.OPT), None)
    return max(UDP_SIZE, int(opt.rclass)) if opt is not None else UDP_SIZE


# ---------------------------------------------------------------- the server


def _own_address(address: str, add: bool) -> None:
    """Put ``address``/32 on this namespace's lo (labelled), or take it off."""
    with IPRoute() as ipr:
        lo = ipr.link_lookup(ifname="lo")
        if not lo:
            return
        try:
            ipr.addr("add" if add else "del", index=lo[0], address=address, prefixlen=32,
                     **({"label": LABEL} if add else {}))
        except NetlinkError as e:
            if e.code not in (errno.EEXIST, errno.EADDRNOTAVAIL, errno.ENOENT):
                raise


def _labelled_addresses() -> list[str]:
    with IPRoute() as ipr:
        return [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=socket.AF_INET)
                if a.get_attr("IFA_LABEL") == LABEL]


def _in_use(address: str, port: int) -> bool:
    """Whether some server holds ``address``:``port`` (UDP) in this namespace."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((address, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def _bind(address: str, port: int) -> tuple[socket.socket, socket.socket]:
    """The address put on lo, and the server's UDP and TCP sockets bound to it."""
    _own_address(address, True)
    return dns.bind_pair(address, port, 128)


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: KubeDNS) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server.on_datagram(data, lambda out: self.send(out, addr))

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)


class KubeDNS:
    """The node's cluster DNS server: ``apply`` (a ``NodeNetwork.kube_consumers`` entry) makes the
    table of each new view and serves at the view's DNS address; ``close`` stops and takes the
    address off lo. ``netns``: the namespace to serve in (None: this process's, the node's); ``port``:
    53 but in tests."""

    def __init__(self, upstreams: list[str] | None = None, netns: str | None = None, port: int = 53) -> None:
        self.upstreams = list(upstreams or [])
        self.netns = netns
        self.port = port
        self.table: Table | None = None
        self.address = ""  # where it serves ("" while it does not)
        self.bound_port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._failed = ""  # the address it last failed to serve at (logged once)

    def _in_ns(self, fn: Callable[[], object]) -> asyncio.Future[object]:
        return asyncio.ensure_future(in_netns(self.netns, fn) if self.netns else in_thread(fn))

    async def apply(self, view: KubeNetView) -> None:
        self.table = Table(view)
        address = self.table.dns_ip
        if address == self.address:
            return
        await self.stop()
        try:
            udp, tcp = cast(tuple[socket.socket, socket.socket],
                            await self._in_ns(lambda: _bind(address, self.port)))
        except (OSError, NetlinkError) as e:
            if self._failed != address:
                log.warning("cluster DNS: cannot serve at %s:%d: %s", address, self.port, e)
            self._failed = address
            return
        self._failed = ""
        loop = asyncio.get_running_loop()
        try:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _UDP(self), sock=udp)
            self._tcp = await asyncio.start_server(self.serve_tcp, sock=tcp)
        except BaseException:
            udp.close()
            tcp.close()
            await self.stop(address)
            raise
        self.address, self.bound_port = address, udp.getsockname()[1]
        log.info("cluster DNS: serving at %s:%d", address, self.bound_port)

    async def stop(self, address: str = "") -> None:
        """Stop serving; the address taken off lo."""
        address = address or self.address
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        self._udp, self._tcp = None, None
        self.address, self.bound_port = "", 0
        if address:
            with contextlib.suppress(OSError, NetlinkError):
                await self._in_ns(functools.partial(_own_address, address, False))

    async def close(self) -> None:
        """The node stops or leaves: no more answers, the address gone; a later view serves again."""
        for t in list(self._pending):
            t.cancel()
        await self.stop()
        self.table = None

    async def cleanup(self) -> None:
        """A previous run's address on lo (found by its label), unless a server still holds it."""
        def stale() -> list[str]:
            return [a for a in _labelled_addresses() if a != self.address and not _in_use(a, self.port)]

        with contextlib.suppress(OSError, NetlinkError):
            for address in cast(list[str], await self._in_ns(stale)):
                await self._in_ns(functools.partial(_own_address, address, False))

    # ------------------------------------------------------------ queries

    def resolve(self, data: bytes, tcp: bool = False) -> bytes | Forward | Chase | None:
        """The reply to one query (over UDP: cut to the client's size); None for what is not a query."""
        try:
            req = DNSRecord.parse(data)
        except DNSError:
            return None
        if self.table is None:
            return FORWARD
        try:
            got = self.table.answer(req)
        except (DNSError, ValueError) as e:  # a name dnslib cannot write back
            log.debug("cluster DNS: %s: %s", req.q.qname, e)
            reply = req.reply()
            reply.header.rcode = RCODE.SERVFAIL
            got = reply
        if not isinstance(got, DNSRecord):
            return got
        return bytes(got.pack()) if tcp else fit(got, _udp_limit(req))

    async def finish(self, data: bytes, got: Forward | Chase, tcp: bool) -> bytes:
        """A forwarded query's reply, or a CNAME's chased: from the node's servers; REFUSED (or the
        CNAME alone) when the node has none."""
        if isinstance(got, Chase):
            if self.upstreams:
                req = DNSRecord.parse(data)
                asked = DNSRecord.question(got.target, QTYPE.get(req.q.qtype))
                with contextlib.suppress(DNSError):
                    more = DNSRecord.parse(await dns.forward(bytes(asked.pack()), self.upstreams, tcp))
                    for rr in more.rr:
                        got.reply.add_answer(rr)
                    got.reply.header.rcode = more.header.rcode
            return bytes(got.reply.pack())
        if self.upstreams:
            return await dns.forward(data, self.upstreams, tcp)
        try:
            reply = DNSRecord.parse(data).reply()
        except DNSError:
            return b""
        reply.header.rcode = RCODE.REFUSED
        reply.header.aa = 0
        return bytes(reply.pack())

    def on_datagram(self, data: bytes, send: Callable[[bytes], None]) -> None:
        got = self.resolve(data)
        if isinstance(got, bytes):
            send(got)
            return
        if got is None:
            return
        if len(self._pending) >= dns.MAX_FORWARDS:
            log.warning("cluster DNS: %d queries forwarded already; dropping one", len(self._pending))
            return

        async def run(pending: Forward | Chase = got) -> None:
            out = await self.finish(data, pending, tcp=False)
            if out:
                send(out)

        t = asyncio.get_running_loop().create_task(run())
        self._pending.add(t)
        t.add_done_callback(self._pending.discard)

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Queries over one TCP connection, answered in turn."""
        try:
            while True:
                query = await asyncio.wait_for(dns.read_message(reader), dns.TCP_IDLE)
                got = self.resolve(query, tcp=True)
                if got is None:
                    return
                out = got if isinstance(got, bytes) else await self.finish(query, got, tcp=True)
                if not out:
                    return
                writer.write(len(out).to_bytes(2, "big") + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return
        finally:
            writer.close()
