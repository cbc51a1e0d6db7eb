"""A node's own containers on its local networks (``agent/containernets.py``): a create request read as
dockerd reads it (network mode, endpoints with aliases, published ports), the networks kept from the
creation to the removal and shown as Docker's ``NetworkSettings``, compose's disconnect and connect of
a created container."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.agent.containernets import ContainerNets, plan, ports_of
from shoal.api.containers import Container, CreateRequest
from shoal.api.control import IPAMRequest, IPAMRequestConfig, NetworkCreateRequest
from shoal.api.errors import InvalidArgument, NotFound
from shoal.api.events import EventLog
from shoal.api.localnet import LocalEndpoint
from shoal.api.types import Task
from shoal.network.local import LocalNetworks
from shoal.network.localapi import NodeLocalNetworks
from shoal.network.localwire import PortBinding
from shoal.network.node import LocalAttachment
from shoal.network.sandbox import Sandbox

CID = "c" * 64


def compose_request(net: str = "p_back") -> CreateRequest:
    """What docker-compose 1.29 sends for a service on a user network with an alias and a port."""
    return CreateRequest(
        name="p_api_1", config={"Image": "web:latest", "ExposedPorts": {"80/tcp": {}}},
        host_config={"NetworkMode": net, "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}},
        networking={"EndpointsConfig": {net: {"Aliases": ["backend", "api"], "IPAMConfig": {}}}})


def test_a_compose_request_is_its_network_with_aliases_and_its_port() -> None:
    attachments, ports = plan(compose_request(), CID, "/p_api_1")
    assert attachments == [LocalAttachment("p_back", CID, "p_api_1", ["backend", "api"], "")]
    assert ports == [PortBinding(80, "tcp", "127.0.0.1", 18080)]


def test_the_default_mode_is_the_bridge_and_other_endpoints_follow_the_first() -> None:
    req = CreateRequest(name="x", host_config={"NetworkMode": "default"}, networking={"EndpointsConfig": {
        "front": {"Aliases": ["f"], "IPAMConfig": {"IPv4Address": "10.213.91.9"}}, "default": {"Aliases": ["d"]}}})
    attachments, _ = plan(req, CID, "/x")
    assert [(a.network, a.aliases, a.ipv4) for a in attachments] == [
        ("bridge", ["d"], ""), ("front", ["f"], "10.213.91.9")]
    assert [a.network for a in plan(CreateRequest(), CID, "/x")[0]] == ["bridge"]
    with pytest.raises(InvalidArgument, match="container:abc"):
        plan(CreateRequest(host_config={"NetworkMode": "container:abc"}), CID, "/x")


def test_ports_published_as_asked_and_all_exposed_ones_with_publish_all() -> None:
    assert ports_of({}, {"PortBindings": {"53/udp": [{"HostIp": "", "HostPort": ""}], "80/tcp": None}}) == [
        PortBinding(53, "udp", "", 0), PortBinding(80, "tcp", "", 0)]
    assert ports_of({"ExposedPorts": {"80/tcp": {}, "443/tcp": {}}},
                    {"PublishAllPorts": True, "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}) == [
        PortBinding(80, "tcp", "", 8080), PortBinding(443, "tcp", "", 0)]


class FakeWiring:
    """The node's network as the containers' networks use it: endpoints made when the sandbox is."""

    def __init__(self, nets: NodeLocalNetworks) -> None:
        self.nets = nets
        self.eps: dict[str, dict[str, LocalEndpoint]] = {}
        self.ports: dict[str, list[PortBinding]] = {}

    async def create_sandbox(self, task: Task, local: list[LocalAttachment] | None = None,
                             ports: list[PortBinding] | None = None) -> Sandbox:
        sb = Sandbox(task_id=task.ID, netns=Path("/nonexistent") / task.ID, hostname="")
        for i, a in enumerate(local or []):
            net = self.nets.network(a.network)
            ep = LocalEndpoint(ContainerID=a.container_id, Name=a.name, EndpointID=f"ep{i}",
                               IPv4Address=f"10.213.9{i + 1}.2/24", Aliases=a.aliases)
            self.eps.setdefault(task.ID, {})[net.ID] = ep
            sb.addresses.append(ep.IPv4Address)
        self.ports[task.ID] = [PortBinding(p.container_port, p.protocol, p.host_ip, p.host_port or 32768)
                               for p in ports or []]
        return sb

    def local_endpoints(self, task_id: str) -> dict[str, LocalEndpoint]:
        return dict(self.eps.get(task_id, {}))

    def published(self, task_id: str) -> list[PortBinding]:
        return list(self.ports.get(task_id, []))


@pytest.fixture
def local(tmp_path: Path) -> NodeLocalNetworks:
    store = LocalNetworks(tmp_path, choose=lambda _: "10.213.90.1/24", in_use=list)
    store.load()
    return NodeLocalNetworks(store, None, EventLog())


async def test_a_compose_container_from_creation_to_removal(local: NodeLocalNetworks) -> None:
    for name, subnet in (("p_back", "10.213.91.0/24"), ("p_default", "10.213.92.0/24")):
        await local.create(NetworkCreateRequest(Name=name, IPAM=IPAMRequest(Config=[IPAMRequestConfig(Subnet=subnet)])))
    wiring = FakeWiring(local)
    req = compose_request()
    rec = Container(ID=CID, Name="/p_api_1", Created="", Image="sha256:x", ImageRef="web:latest",
                    Config=req.config, HostConfig=req.host_config, NetworkingConfig=req.networking)
    started: set[str] = set()
    nets = ContainerNets(local, wiring, find=lambda ref: rec if ref in (CID, "p_api_1") else _missing(ref),
                         running=lambda cid: cid in started)
    assert local.containers is nets
    assert nets.configure(req, CID, "/p_api_1") == "p_back"

    # compose, before the start: disconnect, connect with the short ID too, then the next network
    await local.disconnect("p_back", CID)
    await local.connect("p_back", CID, ["backend", "api", CID[:12]])
    await local.connect("p_default", "p_api_1", ["api"])
    networks, ports = nets.settings(rec)
    assert sorted(networks) == ["p_back", "p_default"]
    assert networks["p_back"]["Aliases"] == ["backend", "api", CID[:12]]
    assert networks["p_back"]["IPAddress"] == "" and networks["p_back"]["NetworkID"] == local.network("p_back").ID
    assert ports == {"80/tcp": None}

    sb = await nets.sandbox(Task(ID=CID))
    started.add(CID)
    assert sb.addresses == ["10.213.91.2/24", "10.213.92.2/24"]
    networks, ports = nets.settings(rec)
    assert (networks["p_back"]["IPAddress"], networks["p_back"]["IPPrefixLen"]) == ("10.213.91.2", 24)
    assert networks["p_back"]["Gateway"] == "10.213.91.1" and networks["p_back"]["EndpointID"] == "ep0"
    assert ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
    assert nets.find_container("p_api_1").task_id == CID

    nets.forget(CID)
    assert local.attachments(CID) == [] and nets.ports == {}


def _missing(ref: str) -> Container:
    raise NotFound(f"No such container: {ref}")


async def test_a_container_kept_on_disk_gets_its_networks_again(local: NodeLocalNetworks) -> None:
    await local.create(NetworkCreateRequest(Name="p_back", IPAM=IPAMRequest(Config=[IPAMRequestConfig(
        Subnet="10.213.91.0/24")])))
    req = compose_request()
    rec = Container(ID=CID, Name="/p_api_1", Created="", Image="sha256:x", ImageRef="web:latest",
                    Config=req.config, HostConfig=req.host_config, NetworkingConfig=req.networking)
    nets = ContainerNets(local, FakeWiring(local))
    nets.restore(rec)
    assert [(a.aliases, a.name) for a in local.attachments(CID)] == [(["backend", "api"], "p_api_1")]
    assert nets.ports[CID] == [PortBinding(80, "tcp", "127.0.0.1", 18080)]
