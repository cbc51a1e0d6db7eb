"""Swarm networks in the control API and the allocator: creation rules and errors, services naming
networks by name, task addresses, and removal refused while a service uses the network."""

from __future__ import annotations

import pytest

from shoal.api.control import IPAMRequest, IPAMRequestConfig, NetworkCreateRequest
from shoal.api.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from shoal.api.states import TaskState
from shoal.api.types import ContainerSpec, NetworkAttachmentConfig, ObjectRef, ServiceSpec, Task, TaskSpec
from shoal.manager.allocator import Allocator
from shoal.manager.control import ControlAPI
from tests.unit.helpers import memory_store, paused


def web(*networks: str) -> ServiceSpec:
    return ServiceSpec(Name="web", TaskTemplate=TaskSpec(
        Containers=[ContainerSpec(Image="busybox")],
        Networks=[NetworkAttachmentConfig(Target=n) for n in networks]))


async def test_create_allocates_subnets_and_vxlan_ids_and_refuses_duplicates() -> None:
    api = ControlAPI(await memory_store())
    a = await api.networks.create(NetworkCreateRequest(Name="a", Driver="overlay"))
    b = await api.networks.create(NetworkCreateRequest(Name="b", Driver="overlay", IPAM=IPAMRequest(
        Config=[IPAMRequestConfig(Subnet="10.213.9.0/24", Gateway="10.213.9.254")])))
    assert a.IPAMOptions.Configs and a.IPAMOptions.Configs[0].Subnet == "10.0.0.0/24"
    assert b.IPAMOptions.Configs and b.IPAMOptions.Configs[0].Gateway == "10.213.9.254"
    assert (a.DriverState.Options or {})["com.docker.network.driver.overlay.vxlanid_list"] == "4097"
    assert (b.DriverState.Options or {})["com.docker.network.driver.overlay.vxlanid_list"] == "4098"
    with pytest.raises(Conflict, match="network with name a already exists"):
        await api.networks.create(NetworkCreateRequest(Name="a", Driver="overlay"))
    with pytest.raises(InvalidArgument, match="overlaps"):
        await api.networks.create(NetworkCreateRequest(Name="c", Driver="overlay", IPAM=IPAMRequest(
            Config=[IPAMRequestConfig(Subnet="10.0.0.0/16")])))
    with pytest.raises(InvalidArgument, match="name must be provided"):
        await api.networks.create(NetworkCreateRequest(Driver="overlay"))
    with pytest.raises(InvalidArgument, match="bridge"):
        await api.networks.create(NetworkCreateRequest(Name="d", Driver="bridge"))


async def test_services_name_networks_and_tasks_get_addresses() -> None:
    store = await memory_store()
    api = ControlAPI(store)
    net = await api.networks.create(NetworkCreateRequest(Name="front", Driver="overlay"))
    with pytest.raises(NotFound, match="network nope not found"):
        await api.create_service(web("nope"))
    svc = await api.create_service(web("front"))
    assert svc.Spec.TaskTemplate.Networks and svc.Spec.TaskTemplate.Networks[0].Target == net.ID
    alloc = Allocator(store)
    await paused(alloc)
    tasks = [Task(ID=f"t{i}", Owner=ObjectRef(Kind="Service", ID=svc.ID), Spec=svc.Spec.TaskTemplate) for i in range(3)]
    await store.commit(creates=tasks)
    await alloc.settle()
    got = sorted(store.list(Task), key=lambda t: t.ID)
    assert all(t.Status.State == TaskState.PENDING for t in got)
    assert svc.Endpoint and svc.Endpoint.VirtualIPs == [{"NetworkID": net.ID, "Addr": "10.0.0.2/24"}]
    assert sorted(a for t in got for a in (t.NetworksAttachments or [])[0].Addresses) == \
        ["10.0.0.3/24", "10.0.0.4/24", "10.0.0.5/24"]  # after the service's VIP
    with pytest.raises(FailedPrecondition, match=f"network {net.ID} is in use by service {svc.ID}"):
        await api.networks.remove("front")
    await api.remove_service(svc.ID)
    await api.networks.remove("front")
    assert api.networks.networks() == []


async def test_published_ports_are_allocated_kept_and_not_shared() -> None:
    from shoal.api.types import EndpointSpec, PortConfig

    api = ControlAPI(await memory_store())

    def spec(name: str, *ports: PortConfig) -> ServiceSpec:
        s = web()
        s.Name = name
        s.EndpointSpec = EndpointSpec(Ports=list(ports))
        return s

    a = await api.create_service(spec("a", PortConfig(TargetPort=80)))
    assert a.Endpoint and a.Endpoint.Ports and a.Endpoint.Ports[0].PublishedPort == 30000
    assert api.networks.ingress() is not None  # made when a port is first published
    b = await api.create_service(spec("b", PortConfig(TargetPort=80), PortConfig(TargetPort=81, PublishedPort=8080)))
    assert b.Endpoint and [p.PublishedPort for p in b.Endpoint.Ports or []] == [30001, 8080]
    with pytest.raises(InvalidArgument, match=f"port '8080' is already in use by service 'b' \\({b.ID}\\) as an "
                       "ingress port"):
        await api.create_service(spec("c", PortConfig(TargetPort=80, PublishedPort=8080)))
    updated = await api.update_service(a.ID, a.Version.Index, spec("a", PortConfig(TargetPort=80)))
    assert updated.Endpoint and updated.Endpoint.Ports and updated.Endpoint.Ports[0].PublishedPort == 30000
