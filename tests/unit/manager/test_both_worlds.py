"""Both worlds on one network (issue 16 part 6): Swarm services' published ports and Kubernetes Services'
NodePorts never share a number and protocol (refused both ways in each side's words, automatic picks
skipping the other's, and a race between two managers won by one through the shared index key), and Swarm
networks keep out of the Kubernetes address ranges (service range, pod range, LoadBalancer pool) while a
Service's externalIPs keep out of the Swarm networks."""

from __future__ import annotations

import pytest

from shoal.api.control import IPAMRequest, IPAMRequestConfig, NetworkCreateRequest
from shoal.api.errors import Invalid, InvalidArgument
from shoal.api.kube import Namespace
from shoal.api.types import (
    Cluster,
    ContainerSpec,
    EndpointSpec,
    KubeService,
    KubeServicePort,
    KubeServiceSpec,
    PortConfig,
    ServiceSpec,
    TaskSpec,
)
from shoal.frontdoor.docker.errors import words
from shoal.manager.control import ControlAPI
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore


class Side:
    """One manager: its store (a cache over the shared backend), control API and Kubernetes objects."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.api = ControlAPI(store)
        self.kube = KubeObjects(store, ChangeLog(store))


async def managers(n: int = 1, **cluster: str) -> list[Side]:
    backend = MemoryBackend()
    first = ObjectStore(backend)
    await first.load()
    await first.commit(creates=[Cluster(ID="c1", **cluster)])  # type: ignore[arg-type]
    await KubeObjects(first, ChangeLog(first)).create(Namespace(ID="", Name="default"))
    sides = []
    for _ in range(n):
        store = ObjectStore(backend)
        await store.load()
        sides.append(Side(store))
    return sides


def swarm(name: str, *ports: PortConfig) -> ServiceSpec:
    return ServiceSpec(Name=name, TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="nginx")]),
                       EndpointSpec=EndpointSpec(Ports=list(ports)) if ports else None)


def node_port(name: str, *ports: int, protocol: str = "TCP") -> KubeService:
    return KubeService(ID="", Name=name, Namespace="default", Spec=KubeServiceSpec(
        Type="NodePort", Selector={"app": name}, ExternalTrafficPolicy="Cluster",
        Ports=[KubeServicePort(Name=f"p{i}", Protocol=protocol, Port=80 + i, TargetPort=80, NodePort=n)
               for i, n in enumerate(ports or (0,))]))


def refused_node_port(name: str, port: int, i: int = 0) -> str:
    return f'Service "{name}" is invalid: spec.ports[{i}].nodePort: Invalid value: {port}: provided port is already ' \
        "allocated"


def in_use(port: int) -> str:
    return (f"rpc error: code = InvalidArgument desc = port '{port}' is already in use by Kubernetes Service "
            "'default/web-np' as a NodePort")


async def test_a_node_port_refuses_a_swarm_published_port_through_the_mesh_or_on_the_host() -> None:
    (m,) = await managers()
    await m.kube.create(node_port("web-np", 30080))
    with pytest.raises(InvalidArgument) as e:
        await m.api.create_service(swarm("web", PortConfig(TargetPort=80, PublishedPort=30080)))
    assert words(e.value) == in_use(30080)
    with pytest.raises(InvalidArgument) as e:
        await m.api.create_service(swarm("host", PortConfig(TargetPort=80, PublishedPort=30080, PublishMode="host")))
    assert words(e.value) == in_use(30080)
    # --publish-add on an existing service: the same
    other = await m.api.create_service(swarm("other"))
    with pytest.raises(InvalidArgument) as e:
        await m.api.update_service(other.ID, other.Version.Index,
                                   swarm("other", PortConfig(TargetPort=80, PublishedPort=30080)))
    assert words(e.value) == in_use(30080)
    # another protocol of the same number is another port
    udp = await m.api.create_service(swarm("dns", PortConfig(Protocol="udp", TargetPort=53, PublishedPort=30080)))
    assert udp.Endpoint and udp.Endpoint.Ports and udp.Endpoint.Ports[0].PublishedPort == 30080
    # deleting the Service frees the port for Swarm
    await m.kube.delete("kubeservices", "default", "web-np")
    await m.api.create_service(swarm("web", PortConfig(TargetPort=80, PublishedPort=30080)))


async def test_a_swarm_published_port_refuses_a_node_port() -> None:
    (m,) = await managers()
    await m.api.create_service(swarm("web", PortConfig(TargetPort=80, PublishedPort=30080)))
    await m.api.create_service(swarm("host", PortConfig(TargetPort=80, PublishedPort=30081, PublishMode="host")))
    with pytest.raises(Invalid) as e:
        await m.kube.create(node_port("np", 30080))
    assert str(e.value) == refused_node_port("np", 30080)
    with pytest.raises(Invalid) as e:
        await m.kube.create(node_port("np", 31000, 30081))
    assert str(e.value) == refused_node_port("np", 30081, 1)
    lb = node_port("lb", 31001)
    lb.Spec.Type, lb.Spec.ExternalTrafficPolicy, lb.Spec.HealthCheckNodePort = "LoadBalancer", "Local", 30080
    with pytest.raises(Invalid) as e:
        await m.kube.create(lb)
    assert str(e.value) == ('Service "lb" is invalid: spec.healthCheckNodePort: Invalid value: 30080: provided port '
                            "is already allocated")
    # UDP 30080 is free
    udp = await m.kube.create(node_port("udp", 30080, protocol="UDP"))
    assert udp.Spec.Ports and udp.Spec.Ports[0].NodePort == 30080


async def test_automatic_picks_skip_the_other_worlds_ports() -> None:
    (m,) = await managers(ServiceNodePortRange="30000-30002")
    await m.api.create_service(swarm("a", PortConfig(TargetPort=80)))  # Swarm's first: 30000
    await m.api.create_service(swarm("b", PortConfig(TargetPort=80, PublishedPort=30002, PublishMode="host")))
    np = await m.kube.create(node_port("np"))
    assert np.Spec.Ports and np.Spec.Ports[0].NodePort == 30001
    c = await m.api.create_service(swarm("c", PortConfig(TargetPort=80)))
    assert c.Endpoint and c.Endpoint.Ports and c.Endpoint.Ports[0].PublishedPort == 30002  # not the NodePort


async def test_two_managers_race_for_one_port_and_one_wins() -> None:
    a, b = await managers(2)
    await a.kube.create(node_port("web-np", 30080))
    with pytest.raises(InvalidArgument) as e:  # b's cache has not seen the Service: the store's key decides
        await b.api.create_service(swarm("web", PortConfig(TargetPort=80, PublishedPort=30080)))
    assert words(e.value) == in_use(30080)
    await a.api.create_service(swarm("api", PortConfig(TargetPort=80, PublishedPort=30090)))
    with pytest.raises(Invalid) as e2:
        await b.kube.create(node_port("np", 30090))
    assert str(e2.value) == refused_node_port("np", 30090)
    services, _ = await a.store.backend.range("/shoal/services/")
    assert len(services) == 1


@pytest.mark.parametrize(("subnet", "what"), [
    ("172.16.5.0/24", "the Kubernetes service range 172.16.0.0/16"),
    ("100.64.0.0/12", "the Kubernetes pod range 100.64.0.0/16"),
    ("10.213.7.0/24", "the Kubernetes LoadBalancer pool 10.213.7.240/30")])
async def test_swarm_subnets_keep_out_of_the_kubernetes_ranges(subnet: str, what: str) -> None:
    (m,) = await managers(ServiceLBPool="10.213.7.240-10.213.7.243")
    with pytest.raises(InvalidArgument) as e:
        await m.api.networks.create(NetworkCreateRequest(Name="n", Driver="overlay", IPAM=IPAMRequest(
            Config=[IPAMRequestConfig(Subnet=subnet)])))
    assert str(e.value) == (f"invalid pool request: Pool overlaps with other one on this address space ({subnet} "
                            f"overlaps {what})")


async def test_automatic_subnets_skip_the_kubernetes_ranges() -> None:
    (m,) = await managers(ServiceLBPool="10.0.0.0/23", ClusterCIDR="10.0.2.0/24")
    net = await m.api.networks.create(NetworkCreateRequest(Name="n", Driver="overlay"))
    assert net.IPAMOptions.Configs and net.IPAMOptions.Configs[0].Subnet == "10.0.3.0/24"


async def test_external_ips_keep_out_of_the_cluster_and_the_swarm_networks() -> None:
    (m,) = await managers()
    await m.api.networks.create(NetworkCreateRequest(Name="front", Driver="overlay", IPAM=IPAMRequest(
        Config=[IPAMRequestConfig(Subnet="10.0.9.0/24")])))
    for ip, what in (("10.0.9.7", 'the subnet of Swarm network "front" (10.0.9.0/24)'),
                     ("172.16.3.3", "the service cluster IP range (172.16.0.0/16)"),
                     ("100.64.1.1", "the cluster CIDR (100.64.0.0/16)")):
        s = node_port("x")
        s.Spec.ExternalIPs = ["10.213.7.9", ip]
        with pytest.raises(Invalid) as e:
            await m.kube.create(s)
        assert str(e.value) == \
            f'Service "x" is invalid: spec.externalIPs[1]: Invalid value: "{ip}": may not be in {what}'
    s = node_port("x")
    s.Spec.ExternalIPs = ["10.213.7.9"]
    await m.kube.create(s)


async def test_the_ingress_network_made_at_swarm_init_skips_the_load_balancer_pool() -> None:
    from shoal.api.kubenet import KubeNetSettings
    from shoal.manager.manager import Manager

    m = await Manager.open(None)
    await m.init("node-1", "127.0.0.1:2377", kube_net=KubeNetSettings(ClusterCIDR="", ServiceLBPool="10.0.0.0/24"))
    ingress = m.control.networks.ingress()
    assert ingress is not None and ingress.IPAMOptions.Configs
    assert ingress.IPAMOptions.Configs[0].Subnet == "10.0.1.0/24"
