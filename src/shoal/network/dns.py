"""The embedded DNS server that tasks on networks use, at 127.0.0.11 as in Docker.

Each task with networks gets a UDP socket bound to 127.0.0.11:53 inside its own network namespace
(made by a short-lived thread that enters the namespace for the bind: ``netns``); one asyncio loop serves
every such socket. A query is answered from the names of the networks *that task* is attached to,
as the managers send them: ``<service>`` gives the service's virtual IP (endpoint mode ``vip``) or
its running tasks' addresses (``dnsrr``), ``tasks.<service>`` the running tasks' addresses, in a new
random order each time; names on other networks are not visible. Other names get NXDOMAIN: shoal
does not forward queries to outside resolvers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from typing import cast

from dnslib import QTYPE, RCODE, RR, A, DNSError, DNSRecord

from shoal.network.netns import run_in_netns

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
TTL = 600


def _bound_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ADDRESS, 53))
    s.setblocking(False)
    return s


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: EmbeddedDNS, networks: list[str]) -> None:
        self.server, self.networks = server, networks
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.answer(data, self.networks)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class EmbeddedDNS:
    def __init__(self) -> None:
        self.names: dict[str, dict[str, list[str]]] = {}  # network ID → name → addresses
        self._endpoints: dict[str, asyncio.DatagramTransport] = {}

    async def add(self, task_id: str, netns_path: str, networks: list[str]) -> None:
        """Serve the task at 127.0.0.11 in its namespace, with the names of ``networks``."""
        self.remove(task_id)
        sock = await asyncio.to_thread(run_in_netns, netns_path, _bound_socket)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self, list(networks)), sock=sock)
        self._endpoints[task_id] = transport

    def remove(self, task_id: str) -> None:
        transport = self._endpoints.pop(task_id, None)
        if transport is not None:
            transport.close()

    def close(self) -> None:
        for tid in list(self._endpoints):
            self.remove(tid)

    def lookup(self, name: str, networks: list[str]) -> list[str] | None:
        name = name.rstrip(".").lower()
        for net in networks:
            found = self.names.get(net, {}).get(name)
            if found is not None:
                return found
        return None

    def answer(self, data: bytes, networks: list[str]) -> bytes | None:
        try:
            req = DNSRecord.parse(data)
        except DNSError:
            return None
        reply = req.reply()
        q = req.q
        ips = self.lookup(str(q.qname), networks)
        if ips is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif q.qtype in (QTYPE.A, QTYPE.ANY):
            for ip in random.sample(ips, len(ips)):
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
        with contextlib.suppress(DNSError):
            return bytes(reply.pack())
        return None
