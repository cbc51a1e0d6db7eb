"""The Docker door's network routes: the node's local networks on every node, the swarm's on a manager,
and containers connected through a fake of the containers engine (``ContainerSandboxes``) and of the
node's network (``LocalWiring``). In-process daemon, ``hollow`` runtime: nothing is wired for real."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shoal.api.errors import NotFound
from shoal.api.localnet import LocalEndpoint, LocalNetwork
from shoal.daemon import Daemon
from shoal.network.localapi import ContainerRef
from shoal.network.node import LocalAttachment
from tests.support import free_port
from tests.unit.frontdoor.docker.test_app import V, build_app, error, new_daemon

Client = TestClient


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = new_daemon(tmp_path, "node-1")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def client(node: Daemon) -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(node))) as c:
        yield c


class FakeContainers:
    """The containers engine: two containers, ``web`` running (task ``t-web``) and ``db`` stopped."""

    def __init__(self) -> None:
        self.all = {"web": ContainerRef("a" * 64, "web", "t-web"), "db": ContainerRef("b" * 64, "db")}

    def find_container(self, ref: str) -> ContainerRef:
        for c in self.all.values():
            if ref in (c.id, c.name) or c.id.startswith(ref):
                return c
        raise NotFound(f"No such container: {ref}")


class FakeWiring:
    """The node's network: records what it was asked, keeps the store's endpoints as the real one does."""

    def __init__(self, d: Daemon) -> None:
        self.store = d._local_network_store()
        self.calls: list[tuple[str, ...]] = []

    async def connect(self, task_id: str, attachment: LocalAttachment) -> LocalEndpoint:
        self.calls.append(("connect", task_id, attachment.network, ",".join(attachment.aliases), attachment.ipv4))
        _, ep = self.store.join(attachment.network, attachment.container_id, attachment.name, attachment.aliases,
                                attachment.ipv4)
        return ep

    async def disconnect(self, task_id: str, network_id: str) -> LocalEndpoint | None:
        self.calls.append(("disconnect", task_id, network_id))
        return self.store.leave(network_id, "a" * 64)

    async def remove_local_network(self, net: LocalNetwork) -> None:
        self.calls.append(("remove", net.Name))


def filters(**f: list[str]) -> str:
    return json.dumps({k: {v: True for v in vs} for k, vs in f.items()})


async def create(client: Client, name: str, **body: Any) -> str:
    r = await client.post(f"{V}/networks/create", json={"Name": name, "Driver": "bridge", **body})
    assert r.status == 201, await r.text()
    out = await r.json()
    assert set(out) == {"Id", "Warning"}
    return str(out["Id"])


async def test_predefined_networks_on_a_node_in_no_swarm(client: Client) -> None:
    nets = await (await client.get(f"{V}/networks")).json()
    assert sorted((n["Name"], n["Driver"], n["Scope"]) for n in nets) == [
        ("bridge", "bridge", "local"), ("host", "host", "local"), ("none", "null", "local")]
    bridge = await (await client.get(f"{V}/networks/bridge")).json()
    assert list(bridge) == ["Name", "Id", "Created", "Scope", "Driver", "EnableIPv4", "EnableIPv6", "IPAM",
                            "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options",
                            "Labels"]
    assert bridge["IPAM"] == {"Driver": "default", "Options": None,
                              "Config": [{"Subnet": "10.213.240.0/24", "Gateway": "10.213.240.1"}]}  # $SHOAL_BIP
    assert bridge["Options"]["com.docker.network.bridge.default_bridge"] == "true"
    assert bridge["Containers"] == {} and bridge["Labels"] == {}
    host = await (await client.get(f"{V}/networks/host")).json()
    assert host["IPAM"]["Config"] == [] and host["Options"] == {}
    assert await error(await client.delete(f"{V}/networks/bridge"), 403) == \
        "bridge is a pre-defined network and cannot be removed"
    r = await client.post(f"{V}/networks/create", json={"Name": "none"})
    assert await error(r, 403) == "operation is not permitted on predefined none network "


async def test_create_inspect_filter_remove_prune(client: Client) -> None:
    fid = await create(client, "front", IPAM={"Config": [{"Subnet": "10.213.40.0/24", "IPRange": "10.213.40.128/25"}]},
                       Labels={"tier": "web"}, Internal=True, Options={"x": "y"})
    assert len(fid) == 64
    net = await (await client.get(f"{V}/networks/{fid[:12]}")).json()
    assert (net["Name"], net["Scope"], net["Driver"], net["Internal"]) == ("front", "local", "bridge", True)
    assert net["IPAM"] == {"Driver": "default", "Options": {},
                           "Config": [{"Subnet": "10.213.40.0/24", "Gateway": "10.213.40.1",
                                       "IPRange": "10.213.40.128/25"}]}
    assert (net["Options"], net["Labels"]) == ({"x": "y"}, {"tier": "web"})
    assert await error(await client.post(f"{V}/networks/create", json={"Name": "front"}), 409) == \
        "network with name front already exists"
    await create(client, "back", IPAM={"Config": [{"Subnet": "10.213.41.0/24"}]})

    async def names(**f: list[str]) -> list[str]:
        r = await client.get(f"{V}/networks", params={"filters": filters(**f)})
        return sorted(n["Name"] for n in await r.json())

    assert await names(label=["tier=web"]) == ["front"]
    assert await names(type=["custom"]) == ["back", "front"]
    assert await names(type=["builtin"]) == ["bridge", "host", "none"]
    assert await names(driver=["bridge"]) == ["back", "bridge", "front"]
    assert await names(name=["ack"]) == ["back"]
    assert await names(id=[fid[:8]]) == ["front"]
    assert await names(dangling=["true"]) == ["back", "front"]
    assert await error(await client.get(f"{V}/networks/front?scope=swarm"), 404) == "network front not found"
    assert await error(await client.get(f"{V}/networks/front?scope=global"), 404) == "network front not found"
    assert (await client.get(f"{V}/networks/front?scope=local&verbose=true")).status == 200

    r = await client.post(f"{V}/networks/prune", params={"filters": filters(label=["tier=web"])})
    assert await r.json() == {"NetworksDeleted": ["front"]}
    assert (await client.delete(f"{V}/networks/back")).status == 204
    assert await error(await client.get(f"{V}/networks/back"), 404) == "network back not found"
    assert await (await (client.post(f"{V}/networks/prune"))).json() == {"NetworksDeleted": None}


async def test_unknown_and_swarm_drivers(client: Client) -> None:
    r = await client.post(f"{V}/networks/create", json={"Name": "m", "Driver": "macvlan"})
    assert await error(r, 404) == 'plugin "macvlan" not found'
    r = await client.post(f"{V}/networks/create", json={"Name": "o", "Driver": "overlay"})
    assert (await error(r, 503)).startswith("This node is not a swarm manager.")


async def test_a_manager_lists_both_and_names_are_unique_across_them(node: Daemon, client: Client) -> None:
    await node.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
    await create(client, "front", IPAM={"Config": [{"Subnet": "10.213.42.0/24"}]})
    r = await client.post(f"{V}/networks/create", json={"Name": "front", "Driver": "overlay"})
    assert await error(r, 409) == "network with name front already exists"
    r = await client.post(f"{V}/networks/create", json={"Name": "over", "Driver": "overlay",
                                                        "IPAM": {"Config": [{"Subnet": "10.213.43.0/24"}]}})
    assert r.status == 201
    assert await error(await client.post(f"{V}/networks/create", json={"Name": "over"}), 409) == \
        "network with name over already exists"
    scopes = {n["Name"]: n["Scope"] for n in await (await client.get(f"{V}/networks")).json()}
    assert scopes["front"] == "local" and scopes["over"] == "swarm" and scopes["bridge"] == "local"
    assert (await (await client.get(f"{V}/networks/over?scope=swarm")).json())["Scope"] == "swarm"
    assert await error(await client.get(f"{V}/networks/over?scope=local"), 404) == "network over not found"
    r = await client.get(f"{V}/networks", params={"filters": filters(scope=["local"])})
    assert "over" not in {n["Name"] for n in await r.json()}
    r = await client.post(f"{V}/networks/prune")
    assert sorted((await r.json())["NetworksDeleted"]) == ["front", "over"]


async def test_connect_and_disconnect(node: Daemon, client: Client) -> None:
    nets = node.local_networks
    nets.containers = FakeContainers()
    wiring = FakeWiring(node)
    nets.node_network = wiring
    nid = await create(client, "front", IPAM={"Config": [{"Subnet": "10.213.44.0/24"}]})
    r = await client.post(f"{V}/networks/front/connect",
                          json={"Container": "web", "EndpointConfig": {"Aliases": ["www"],
                                                                       "IPAMConfig": {"IPv4Address": "10.213.44.9"}}})
    assert r.status == 200, await r.text()
    assert wiring.calls == [("connect", "t-web", nid, "www", "10.213.44.9")]
    net = await (await client.get(f"{V}/networks/front")).json()
    assert net["Containers"] == {"a" * 64: {"Name": "web", "EndpointID": net["Containers"]["a" * 64]["EndpointID"],
                                            "MacAddress": "02:42:0a:d5:2c:09", "IPv4Address": "10.213.44.9/24",
                                            "IPv6Address": ""}}
    r = await client.post(f"{V}/networks/front/connect", json={"Container": "web"})
    assert await error(r, 409) == "endpoint with name web already exists in network front"
    # A stopped container: remembered for its next start, nothing wired.
    assert (await client.post(f"{V}/networks/front/connect", json={"Container": "db"})).status == 200
    assert [a.network for a in nets.attachments("b" * 64)] == [nid] and len(wiring.calls) == 1
    r = await client.post(f"{V}/networks/front/connect", json={"Container": "nope"})
    assert await error(r, 404) == "No such container: nope"
    assert await error(await client.delete(f"{V}/networks/front"), 403) == \
        f"error while removing network: network front id {nid} has active endpoints"
    r = await client.post(f"{V}/networks/host/connect", json={"Container": "web"})
    assert await error(r, 403) == "container cannot be disconnected from host network or connected to host network"

    assert (await client.post(f"{V}/networks/front/disconnect", json={"Container": "web"})).status == 200
    assert wiring.calls[-1] == ("disconnect", "t-web", nid)
    assert (await client.post(f"{V}/networks/front/disconnect", json={"Container": "db"})).status == 200
    r = await client.post(f"{V}/networks/front/disconnect", json={"Container": "db"})
    assert await error(r, 409) == f"container {'b' * 64} is not connected to network front"
    assert (await client.delete(f"{V}/networks/front")).status == 204
    assert wiring.calls[-1] == ("remove", "front")
    kinds = [(e.Type, e.Action) for e in node.events.history()]
    assert kinds == [("network", "create"), ("network", "connect"), ("network", "connect"),
                     ("network", "disconnect"), ("network", "disconnect"), ("network", "destroy")]
