"""The embedded DNS server that tasks on networks use, at 127.0.0.11 as in Docker.

Each task with networks gets a UDP socket and a TCP listener bound to 127.0.0.11:53 inside its own
network namespace (made by a short-lived thread that enters the namespace for the bind: ``netns``);
one asyncio loop serves every such socket. A query is answered from the names of the networks *that
task* is attached to, as the managers send them: ``<service>`` gives the service's virtual IP
(endpoint mode ``vip``) or its running tasks' addresses (``dnsrr``), ``tasks.<service>`` the running
tasks' addresses, in a new random order each time; names on other networks are not visible. On the
node's user-defined local networks (``local.py``) a container's name, aliases and short ID give its
address there (``local_names``, kept by the node's network as containers connect and leave).

Other names are forwarded, as Docker's resolver does, to the task's own DNS servers (the service's
``--dns``) or else the node's (``shoal daemon --dns``, else ``$SHOAL_DNS``, ``none`` for no
forwarding: the test suite's setting, else the nameservers of the host's ``/etc/resolv.conf``).
Servers are tried in order, 4 s each, and the first reply goes back as it came; when none answers,
SERVFAIL. Queries are forwarded from the daemon's network namespace (Docker forwards from
the container's, except to a resolver on the host's loopback, as systemd-resolved is), so they
work whatever the task's own routes, and a resolver on the host's loopback works as well. At most
1,024 queries are forwarded at once (libnetwork's limit); more are dropped, and the client retries.
Without any server, other names get NXDOMAIN. Queries come over UDP or TCP (for answers too big
for a datagram); a query that came over TCP is forwarded over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from typing import cast

from dnslib import QTYPE, RCODE, RR, A, DNSError, DNSRecord

from shoal.network.netns import in_netns

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
TTL = 600
UPSTREAM_TIMEOUT = 4.0  # libnetwork's extIOTimeout
MAX_FORWARDS = 1024  # libnetwork's maxConcurrent
TCP_IDLE = 10.0  # seconds a TCP client may stay silent before its connection is closed


class _Forward:
    """``answer``'s word for "not a name of ours: ask the servers"."""


FORWARD = _Forward()


def node_upstreams(configured: list[str] | None = None, resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The node's DNS servers for names that are not the cluster's: ``configured`` (``shoal daemon
    --dns``), else ``$SHOAL_DNS`` (comma-separated; ``none``: none at all), else the host's resolv.conf."""
    if configured:
        return list(configured)
    env = os.environ.get("SHOAL_DNS")
    if env is not None:
        return [] if env.strip().lower() in ("", "none") else [u.strip() for u in env.split(",") if u.strip()]
    try:
        with open(resolv_conf) as f:
            return [parts[1] for line in f if (parts := line.split()) and len(parts) > 1 and parts[0] == "nameserver"]
    except OSError:
        return []


def _server(upstream: str) -> tuple[str, int]:
    """``10.0.0.2``, ``10.0.0.2:5353``, ``::1`` or ``[::1]:5353`` → (address, port)."""
    if upstream.startswith("["):
        host, _, port = upstream[1:].partition("]:")
        return host.rstrip("]"), int(port or 53)
    host, colon, port = upstream.rpartition(":")
    if colon and "." in host and port.isdigit():
        return host, int(port)
    return upstream, 53


class _Exchange(asyncio.DatagramProtocol):
    """One query to one server: the first datagram back with the query's ID."""

    def __init__(self, query_id: int) -> None:
        self.query_id = query_id
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) >= 2 and int.from_bytes(data[:2], "big") == self.query_id and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


def bound_sockets() -> tuple[socket.socket, socket.socket]:
    """The server's UDP and TCP sockets at 127.0.0.11:53 in this thread's namespace (``add`` takes them)."""
    return bind_pair(ADDRESS, 53, 64)


def bind_pair(address: str, port: int, backlog: int) -> tuple[socket.socket, socket.socket]:
    """A DNS server's UDP and TCP sockets at ``address``:``port`` (0: the one the UDP socket got),
    non-blocking, the TCP one listening."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((address, port))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((address, udp.getsockname()[1]))
        tcp.listen(backlog)
    except OSError:
        udp.close()
        tcp.close()
        raise
    udp.setblocking(False)
    tcp.setblocking(False)
    return udp, tcp


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """One DNS message over TCP: a two-byte length, then the message."""
    size = int.from_bytes(await reader.readexactly(2), "big")
    return await reader.readexactly(size)


async def forward(query: bytes, upstreams: list[str], tcp: bool = False) -> bytes:
    """The first reply of ``upstreams``, asked in order (UPSTREAM_TIMEOUT each) over UDP, or TCP
    when the client asked over TCP; SERVFAIL if none answers. Also the cluster DNS server's
    (``kubedns.py``) way to the node's servers."""
    loop = asyncio.get_running_loop()
    for upstream in upstreams:
        if tcp:
            try:
                return await asyncio.wait_for(_ask_tcp(upstream, query), UPSTREAM_TIMEOUT)
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as e:
                log.debug("dns: %s did not answer over TCP: %s", upstream, e or "timeout")
                continue
        try:
            host, port = _server(upstream)
            transport, proto = await loop.create_datagram_endpoint(
                lambda: _Exchange(int.from_bytes(query[:2], "big")), remote_addr=(host, port))
        except (OSError, ValueError) as e:
            log.debug("dns: %s: %s", upstream, e)
            continue
        try:
            transport.sendto(query)
            return await asyncio.wait_for(asyncio.shield(proto.reply), UPSTREAM_TIMEOUT)
        except (OSError, TimeoutError) as e:
            log.debug("dns: %s did not answer: %s", upstream, e or "timeout")
        finally:
            transport.close()
    try:
        reply = DNSRecord.parse(query).reply()
        reply.header.rcode = RCODE.SERVFAIL
        return bytes(reply.pack())
    except DNSError:
        return b""


async def _ask_tcp(upstream: str, query: bytes) -> bytes:
    host, port = _server(upstream)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(len(query).to_bytes(2, "big") + query)
        await writer.drain()
        return await read_message(reader)
    finally:
        writer.close()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: EmbeddedDNS, networks: list[str], upstreams: list[str] | None) -> None:
        self.server, self.networks, self.upstreams = server, networks, upstreams
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        upstreams = self.server.upstreams if self.upstreams is None else self.upstreams
        reply = self.server.answer(data, self.networks, forward=bool(upstreams))
        if reply is FORWARD:
            self.server.relay(data, upstreams, self, addr)
        elif isinstance(reply, bytes) and self.transport is not None:
            self.transport.sendto(reply, addr)

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)


class EmbeddedDNS:
    def __init__(self, upstreams: list[str] | None = None) -> None:
        self.names: dict[str, dict[str, list[str]]] = {}  # network ID → name → addresses
        self.local_names: dict[str, dict[str, list[str]]] = {}  # the same for the node's local networks
        self._networks: dict[str, list[str]] = {}  # task → the networks whose names it resolves
        self.upstreams: list[str] = list(upstreams or [])  # the node's servers for other names
        self._endpoints: dict[str, tuple[asyncio.DatagramTransport, asyncio.Server]] = {}
        self._forwarding: set[asyncio.Task[None]] = set()

    async def add(self, task_id: str, netns_path: str, networks: list[str],
                  upstreams: list[str] | None = None,
                  sockets: tuple[socket.socket, socket.socket] | None = None) -> None:
        """Serve the task at 127.0.0.11 in its namespace (UDP and TCP), with the names of ``networks``;
        other names go to ``upstreams`` (the task's own servers), or the node's when None. ``sockets``:
        already bound there (``bound_sockets``, by the thread that made the namespace)."""
        self.remove(task_id)
        if sockets is None:
            sockets = await in_netns(netns_path, bound_sockets)
        udp, tcp = sockets
        loop = asyncio.get_running_loop()
        nets, mine = list(networks), None if upstreams is None else list(upstreams)
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self, nets, mine), sock=udp)
        except BaseException:
            udp.close()
            tcp.close()
            raise
        try:
            server = await asyncio.start_server(lambda r, w: self.serve_tcp(r, w, nets, mine), sock=tcp)
        except BaseException:
            transport.close()
            tcp.close()
            raise
        self._endpoints[task_id] = (transport, server)
        self._networks[task_id] = nets

    def set_networks(self, task_id: str, networks: list[str]) -> None:
        """The networks whose names a served task resolves, after it was connected or disconnected."""
        nets = self._networks.get(task_id)
        if nets is not None:
            nets[:] = networks

    def remove(self, task_id: str) -> None:
        got = self._endpoints.pop(task_id, None)
        self._networks.pop(task_id, None)
        if got is not None:
            got[0].close()
            got[1].close()

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, networks: list[str],
                        upstreams: list[str] | None) -> None:
        """Queries over one TCP connection, answered in turn (forwarded ones over TCP as well)."""
        servers = self.upstreams if upstreams is None else upstreams
        try:
            while True:
                query = await asyncio.wait_for(read_message(reader), TCP_IDLE)
                reply = self.answer(query, networks, forward=bool(servers))
                if reply is FORWARD:
                    reply = await self.forward(query, servers, tcp=True)
                if not isinstance(reply, bytes) or not reply:
                    return
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return
        finally:
            writer.close()

    def close(self) -> None:
        for tid in list(self._endpoints):
            self.remove(tid)
        for t in list(self._forwarding):
            t.cancel()

    def relay(self, query: bytes, upstreams: list[str], client: _Protocol, addr: tuple[str, int]) -> None:
        """Forward ``query`` in the background and send the answer to ``addr`` through ``client``."""
        if len(self._forwarding) >= MAX_FORWARDS:
            log.warning("dns: %d queries forwarded already; dropping one", len(self._forwarding))
            return

        async def run() -> None:
            reply = await self.forward(query, upstreams)
            if reply:
                client.send(reply, addr)

        t = asyncio.get_running_loop().create_task(run())
        self._forwarding.add(t)
        t.add_done_callback(self._forwarding.discard)

    async def forward(self, query: bytes, upstreams: list[str], tcp: bool = False) -> bytes:
        """``forward``: the first reply of ``upstreams``, SERVFAIL if none answers."""
        return await forward(query, upstreams, tcp)

    def lookup(self, name: str, networks: list[str]) -> list[str] | None:
        name = name.rstrip(".").lower()
        for net in networks:
            found = self.names.get(net, {}).get(name)
            if found is None:
                found = self.local_names.get(net, {}).get(name)
            if found is not None:
                return found
        return None

    def answer(self, data: bytes, networks: list[str], forward: bool = False) -> bytes | _Forward | None:
        """The reply to a query from a task on ``networks``; FORWARD for a name that is not theirs when
        ``forward`` (there are servers to ask); None for what is not a query."""
        try:
            req = DNSRecord.parse(data)
        except DNSError:
            return None
        reply = req.reply()
        q = req.q
        ips = self.lookup(str(q.qname), networks)
        if ips is None and forward:
            return FORWARD
        if ips is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif q.qtype in (QTYPE.A, QTYPE.ANY):
            for ip in random.sample(ips, len(ips)):
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
        with contextlib.suppress(DNSError):
            return bytes(reply.pack())
        return None
