"""Local networks in the node's network layer, with real namespaces, bridges and nftables: two
containers' sandboxes on a user-defined bridge network reach each other by name (the embedded DNS)
over TCP, a published port answers on 127.0.0.1, another network stays apart, and nothing is left."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnslib import QTYPE, DNSRecord
from pyroute2 import IPRoute

from shoal.api.control import IPAMRequest, IPAMRequestConfig, NetworkCreateRequest
from shoal.api.errors import Conflict
from shoal.api.ids import new_id
from shoal.api.types import ContainerSpec, Task, TaskSpec
from shoal.network import local, localwire
from shoal.network.local import LocalNetworks, bridge_name_of
from shoal.network.localwire import PortBinding
from shoal.network.netns import run_in_netns
from shoal.network.node import LocalAttachment, NodeNetwork, PortAllocated

pytestmark = [pytest.mark.e2e]


def _links() -> set[str]:
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def _tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


@pytest.fixture
async def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[NodeNetwork, LocalNetworks]]:
    # The predefined bridge's Linux bridge under a name of this test's own: the host's shb-default may
    # be another daemon's (daemons that share a namespace share it).
    default = f"shb-lnt{os.getpid() % 0xffff:04x}"
    monkeypatch.setattr(local, "DEFAULT_BRIDGE_NAME", default)
    store = LocalNetworks(tmp_path / "networks", bip="10.213.250.1/24")
    store.load()
    nn = NodeNetwork(tmp_path / "exec", dns=["none"], local=store)
    nn.dns.upstreams = []
    before = await asyncio.to_thread(_links)
    try:
        yield nn, store
    finally:
        await nn.close()
        for net in store.networks():
            if not net.Predefined:
                await asyncio.to_thread(localwire.remove_bridge, bridge_name_of(net))
        await asyncio.to_thread(localwire.teardown, nn._owner)
        await asyncio.to_thread(localwire.remove_bridge, default)
        left = {n for n in await asyncio.to_thread(_links) - before if n.startswith(("br-", "vl", default))}
        assert not left, f"left behind: {left}"
        assert localwire.table_name(nn._owner) not in _tables()
        assert not list((tmp_path / "exec" / "netns").iterdir())


def _task() -> Task:
    return Task(ID=new_id(), Spec=TaskSpec(Containers=[ContainerSpec(Image="busybox")]))


def _net(store: LocalNetworks, name: str, subnet: str) -> str:
    return store.create(NetworkCreateRequest(Name=name, IPAM=IPAMRequest(Config=[IPAMRequestConfig(Subnet=subnet)]))).ID


def _resolve(netns: str, name: str) -> list[str]:
    """Ask the embedded DNS server (127.0.0.11 in the sandbox) for ``name``."""

    def ask() -> list[str]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        try:
            s.sendto(DNSRecord.question(name, "A").pack(), ("127.0.0.11", 53))
            reply = DNSRecord.parse(s.recv(4096))
        finally:
            s.close()
        return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]

    return run_in_netns(netns, ask)


def _serve_once(netns: str, port: int) -> threading.Thread:
    """A TCP server in the sandbox that answers one connection with what came, upper-cased."""
    listener = run_in_netns(netns, lambda: socket.create_server(("0.0.0.0", port)))  # in a thread of its own

    def serve() -> None:
        with listener:
            listener.settimeout(10)
            conn, _ = listener.accept()
            with conn:
                conn.sendall(conn.recv(100).upper())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def _talk(netns: str | None, addr: str, port: int, timeout: float = 5) -> bytes:
    """Send to ``addr`` (a name is asked of the sandbox's DNS server, as its resolv.conf says)."""
    if netns and not addr[0].isdigit():
        addr = _resolve(netns, addr)[0]

    def go() -> bytes:
        with socket.create_connection((addr, port), timeout=timeout) as c:
            c.sendall(b"hello")
            return c.recv(100)

    return run_in_netns(netns, go) if netns else go()


async def test_two_containers_by_name_a_published_port_and_isolation(node: tuple[NodeNetwork, LocalNetworks]) -> None:
    nn, store = node
    net_id = _net(store, "lnt-front", "10.213.251.0/24")
    other_id = _net(store, "lnt-back", "10.213.252.0/24")
    c1, c2, c3 = (new_id() + new_id() for _ in range(3))
    t1, t2, t3 = _task(), _task(), _task()
    sb1 = await nn.create_sandbox(t1, local=[LocalAttachment("lnt-front", c1, "one")])
    sb2 = await nn.create_sandbox(t2, local=[LocalAttachment(net_id, c2, "two", aliases=["db"], ipv4="")],
                                  ports=[PortBinding(8080, "tcp", "127.0.0.1", 0)])
    sb3 = await nn.create_sandbox(t3, local=[LocalAttachment(other_id, c3, "three")])
    assert sb1.addresses == ["10.213.251.2/24"] and sb2.addresses == ["10.213.251.3/24"]
    assert f"br-{net_id[:12]}" in await asyncio.to_thread(_links)

    # By name, alias and short ID, on the user-defined network only.
    assert await asyncio.to_thread(_resolve, str(sb1.netns), "two") == ["10.213.251.3"]
    assert await asyncio.to_thread(_resolve, str(sb1.netns), "db") == ["10.213.251.3"]
    assert await asyncio.to_thread(_resolve, str(sb1.netns), c2[:12]) == ["10.213.251.3"]
    assert await asyncio.to_thread(_resolve, str(sb3.netns), "two") == []

    server = _serve_once(str(sb2.netns), 8080)
    assert await asyncio.to_thread(_talk, str(sb1.netns), "two", 8080) == b"HELLO"
    server.join()

    # The published port, from the node's loopback.
    [published] = nn.published(t2.ID)
    assert published.host_port > 0
    server = _serve_once(str(sb2.netns), 8080)
    assert await asyncio.to_thread(_talk, None, "127.0.0.1", published.host_port) == b"HELLO"
    server.join()
    with pytest.raises(PortAllocated, match=f"Bind for 127.0.0.1:{published.host_port} failed: port is already "
                                            "allocated"):
        await nn.publish(t1.ID, [PortBinding(80, "tcp", "127.0.0.1", published.host_port)])

    # Another network stays apart: no route through the gateway.
    listener = _serve_once(str(sb2.netns), 8081)
    with pytest.raises(OSError):
        await asyncio.to_thread(_talk, str(sb3.netns), "10.213.251.3", 8081, 1.5)
    # ... until connected to it: then by name.
    ep = await nn.connect(t3.ID, LocalAttachment(net_id, c3, "three"))
    assert ep.IPv4Address == "10.213.251.4/24"
    assert await asyncio.to_thread(_talk, str(sb3.netns), "two", 8081) == b"HELLO"
    listener.join()
    with pytest.raises(Conflict):
        await nn.connect(t3.ID, LocalAttachment(net_id, c3, "three"))
    await nn.disconnect(t3.ID, net_id)
    assert await asyncio.to_thread(_resolve, str(sb1.netns), "three") == []
    assert store.endpoint(net_id, c3) is None

    for t in (t1, t2, t3):
        await nn.remove_sandbox(t.ID)
    assert not store.network(net_id).Containers
    assert localwire.table_name(nn._owner) not in _tables()


async def test_host_and_none(node: tuple[NodeNetwork, LocalNetworks]) -> None:
    nn, store = node
    th, tn = _task(), _task()
    sbh = await nn.create_sandbox(th, local=[LocalAttachment("host", new_id(), "h")])
    sbn = await nn.create_sandbox(tn, local=[LocalAttachment("none", new_id(), "n")])
    assert sbh.mode == "host" and sbn.mode == "none"
    assert os.stat(sbh.netns).st_ino == os.stat(f"/proc/{os.getpid()}/ns/net").st_ino  # the node's own namespace
    assert await asyncio.to_thread(run_in_netns, str(sbn.netns), _links) == {"lo"}
    assert len(store.network("host").Containers) == 1 and len(store.network("none").Containers) == 1
    await nn.remove_sandbox(th.ID)
    await nn.remove_sandbox(tn.ID)
    assert not store.network("host").Containers


def _routes() -> list[str]:
    with IPRoute() as ipr:
        return [str(r.get_attr("RTA_GATEWAY")) for r in ipr.get_routes(family=2) if r["dst_len"] == 0]


async def test_the_default_bridge_and_an_internal_network(node: tuple[NodeNetwork, LocalNetworks]) -> None:
    nn, store = node
    internal = store.create(NetworkCreateRequest(Name="lnt-int", Internal=True, IPAM=IPAMRequest(
        Config=[IPAMRequestConfig(Subnet="10.213.253.0/24")]))).ID
    t1, t2 = _task(), _task()
    c1 = new_id() + new_id()
    sb1 = await nn.create_sandbox(t1, local=[LocalAttachment("bridge", c1, "b1")])
    sb2 = await nn.create_sandbox(t2, local=[LocalAttachment(internal, new_id(), "i1")])
    assert sb1.addresses == ["10.213.250.2/24"]  # the default bridge's --bip
    assert local.DEFAULT_BRIDGE_NAME in await asyncio.to_thread(_links)
    assert [ep.IPv4Address for ep in store.network("bridge").Containers.values()] == ["10.213.250.2/24"]
    assert await asyncio.to_thread(run_in_netns, str(sb1.netns), _routes) == ["10.213.250.1"]
    assert await asyncio.to_thread(run_in_netns, str(sb2.netns), _routes) == []  # --internal: no way out
    assert await asyncio.to_thread(_resolve, str(sb1.netns), "b1") == []  # no names on the default bridge
    # A container on the default bridge can be connected to a user-defined network as well.
    ep = await nn.connect(t1.ID, LocalAttachment(internal, c1, "b1"))
    assert ep.IPv4Address == "10.213.253.3/24"
    assert await asyncio.to_thread(_resolve, str(sb2.netns), "b1") == ["10.213.253.3"]
    await nn.remove_sandbox(t1.ID)
    await nn.remove_sandbox(t2.ID)
    assert local.DEFAULT_BRIDGE_NAME not in await asyncio.to_thread(_links)
