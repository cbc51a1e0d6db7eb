"""Two managers whose caches lag each other (two ObjectStores over one backend, neither watching):
what one made, the other cannot make again, and the loser gets Docker's words; what was chosen
automatically (a published port, a virtual IP, a subnet, a VXLAN ID) is chosen again instead."""

from __future__ import annotations

import pytest

from shoal.api.errors import AlreadyExists, Conflict, InvalidArgument
from shoal.api.states import TaskState
from shoal.api.types import (
    ConfigSpec,
    ContainerSpec,
    EndpointSpec,
    Network,
    NetworkAttachmentConfig,
    ObjectRef,
    PortConfig,
    SecretSpec,
    Service,
    ServiceSpec,
    Task,
    TaskSpec,
)
from shoal.frontdoor.docker.errors import words
from shoal.manager.allocator import Allocator
from shoal.manager.control import ControlAPI
from shoal.manager.networks import VNI_OPTION, NetworkCreateRequest
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore
from tests.unit.helpers import paused


async def two_managers(backend: MemoryBackend | None = None) -> tuple[ControlAPI, ControlAPI]:
    """Two control APIs on one backend, each with a cache that sees only its own writes."""
    b = backend or MemoryBackend()
    apis = []
    for _ in range(2):
        store = ObjectStore(b)
        await store.load()
        apis.append(ControlAPI(store))
    return apis[0], apis[1]


def spec(name: str, *ports: PortConfig, networks: tuple[str, ...] = ()) -> ServiceSpec:
    return ServiceSpec(Name=name, TaskTemplate=TaskSpec(
        Containers=[ContainerSpec(Image="busybox")],
        Networks=[NetworkAttachmentConfig(Target=n) for n in networks] or None),
        EndpointSpec=EndpointSpec(Ports=list(ports)) if ports else None)


async def test_a_service_name_taken_through_another_manager() -> None:
    a, b = await two_managers()
    await a.create_service(spec("web"))
    assert b.store.service_by_name("web") is None  # b's cache has not seen it
    with pytest.raises(AlreadyExists) as e:
        await b.create_service(spec("web"))
    assert words(e.value) == ("rpc error: code = AlreadyExists desc = name conflicts with an existing object: "
                               "service web already exists")
    services, _ = await b.store.backend.range("/shoal/services/")
    assert len(services) == 1


async def test_a_published_port_taken_through_another_manager() -> None:
    a, b = await two_managers()
    web = await a.create_service(spec("web", PortConfig(TargetPort=80, PublishedPort=8080)))
    with pytest.raises(InvalidArgument) as e:
        await b.create_service(spec("db", PortConfig(TargetPort=80, PublishedPort=8080)))
    assert words(e.value) == ("rpc error: code = InvalidArgument desc = port '8080' is already in use by service "
                               f"'web' ({web.ID}) as an ingress port")
    # --publish-add on a service b knows: the same refusal, and the service is unchanged.
    other = await b.create_service(spec("other"))
    with pytest.raises(InvalidArgument, match=f"port '8080' is already in use by service 'web' \\({web.ID}\\)"):
        await b.update_service(other.ID, other.Version.Index,
                               spec("other", PortConfig(TargetPort=80, PublishedPort=8080)))
    assert b.service("other").Endpoint.Ports is None  # type: ignore[union-attr]


async def test_automatic_ports_are_chosen_again() -> None:
    a, b = await two_managers()
    x = await a.create_service(spec("x", PortConfig(TargetPort=80)))
    # b's cache has neither x nor the ingress network a made for it: it makes neither twice.
    y = await b.create_service(spec("y", PortConfig(TargetPort=80)))
    assert x.Endpoint and x.Endpoint.Ports and x.Endpoint.Ports[0].PublishedPort == 30000
    assert y.Endpoint and y.Endpoint.Ports and y.Endpoint.Ports[0].PublishedPort == 30001
    nets, _ = await b.store.backend.range("/shoal/networks/")
    assert len(nets) == 1  # one ingress network


async def test_virtual_ips_are_chosen_again() -> None:
    backend = MemoryBackend()
    first = ControlAPI(ObjectStore(backend))
    await first.store.load()
    net = await first.networks.create(NetworkCreateRequest(Name="front", Driver="overlay"))
    a, b = await two_managers(backend)  # both know the network
    x = await a.create_service(spec("x", networks=("front",)))
    y = await b.create_service(spec("y", networks=("front",)))
    assert x.Endpoint and x.Endpoint.VirtualIPs == [{"NetworkID": net.ID, "Addr": "10.0.0.2/24"}]
    assert y.Endpoint and y.Endpoint.VirtualIPs == [{"NetworkID": net.ID, "Addr": "10.0.0.3/24"}]


@pytest.mark.parametrize("word", ["secret", "config"])
async def test_a_secret_or_config_name_taken_through_another_manager(word: str) -> None:
    a, b = await two_managers()
    api_a, api_b = (a.secrets, b.secrets) if word == "secret" else (a.configs, b.configs)
    typ = SecretSpec if word == "secret" else ConfigSpec
    await api_a.create(typ(Name="pw", Data=b"x"))
    with pytest.raises(AlreadyExists) as e:
        await api_b.create(typ(Name="pw", Data=b"x"))
    assert words(e.value) == f"rpc error: code = AlreadyExists desc = {word} pw already exists"


async def test_networks_through_two_managers() -> None:
    a, b = await two_managers()
    n1 = await a.networks.create(NetworkCreateRequest(Name="front", Driver="overlay"))
    with pytest.raises(Conflict) as e:
        await b.networks.create(NetworkCreateRequest(Name="front", Driver="overlay"))
    assert e.value.message == "network with name front already exists"
    n2 = await b.networks.create(NetworkCreateRequest(Name="back", Driver="overlay"))  # subnet and VNI again
    assert n1.IPAMOptions.Configs and n2.IPAMOptions.Configs
    assert (n1.IPAMOptions.Configs[0].Subnet, n2.IPAMOptions.Configs[0].Subnet) == ("10.0.0.0/24", "10.0.1.0/24")
    assert [(n.DriverState.Options or {})[VNI_OPTION] for n in (n1, n2)] == ["4097", "4098"]
    assert isinstance(await b.store.fetch(Network, n1.ID), Network)
    assert await b.store.fetch(Service, "nope") is None


async def test_the_allocator_sets_aside_an_address_another_manager_took() -> None:
    """The leader's allocator gives a task the address a follower just gave a VIP (the leader's cache
    has not seen that service): the write loses the address's key, and the task gets the next one."""
    backend = MemoryBackend()
    first = ControlAPI(ObjectStore(backend))
    await first.store.load()
    net = await first.networks.create(NetworkCreateRequest(Name="front", Driver="overlay"))
    leader, follower = await two_managers(backend)
    alloc = Allocator(leader.store)
    await paused(alloc)
    x = await follower.create_service(spec("x", networks=("front",)))
    assert x.Endpoint and x.Endpoint.VirtualIPs == [{"NetworkID": net.ID, "Addr": "10.0.0.2/24"}]
    await leader.store.create(Task(ID="t1", Owner=ObjectRef(Kind="Service", ID="y"),
                                   Spec=spec("y", networks=(net.ID,)).TaskTemplate))
    await alloc.settle()
    t = leader.store.get(Task, "t1")
    assert t is not None and t.Status.State == TaskState.PENDING
    assert t.NetworksAttachments and t.NetworksAttachments[0].Addresses == ["10.0.0.3/24"]
    assert alloc.taken_elsewhere == {}  # forgotten once a write went through
