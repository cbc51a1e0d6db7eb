"""The Services' ClusterIP and NodePort allocation in the core (``manager/kube/services.py``, through
``KubeObjects``) on an in-memory store: asked for and picked, the API server's words when refused,
exhaustion, what a delete frees, a manager's restart (a new store over the same backend) that
neither loses nor doubles an allocation, and the ranges a swarm is made with."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from shoal.api.errors import Invalid, InvalidArgument, ShoalError
from shoal.api.kube import Namespace
from shoal.api.types import Cluster, KubeService, KubeServicePort, KubeServiceSpec
from shoal.manager.kube import services
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.manager import Manager
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore


def svc(name: str, kind: str = "ClusterIP", ports: list[int] | None = None, node_ports: list[int] | None = None,
        cluster_ip: str = "", selector: dict[str, str] | None = None) -> KubeService:
    ps = [KubeServicePort(Name=f"p{i}", Port=p, TargetPort=p, NodePort=(node_ports or [])[i]
                          if node_ports and i < len(node_ports) else 0) for i, p in enumerate(ports or [80])]
    return KubeService(ID="", Name=name, Namespace="default", Spec=KubeServiceSpec(
        Type=kind, Ports=ps, ClusterIP=cluster_ip, Selector=selector if selector is not None else {"app": name}))


async def open_kube(backend: MemoryBackend, cidr: str = "", ports: str = "") -> KubeObjects:
    store = ObjectStore(backend)
    await store.load()
    kube = KubeObjects(store, ChangeLog(store))
    if not store.list(Cluster):
        c = Cluster(ID="c1")
        c.ServiceClusterIPRange = cidr or c.ServiceClusterIPRange
        c.ServiceNodePortRange = ports or c.ServiceNodePortRange
        await store.commit(creates=[c])
        await kube.create(Namespace(ID="", Name="default"))
    return kube


@pytest.fixture
async def kube() -> AsyncIterator[KubeObjects]:
    k = await open_kube(MemoryBackend())
    yield k
    k.close()


def message(e: pytest.ExceptionInfo[ShoalError]) -> str:
    return str(e.value)


async def test_cluster_ip_picked_from_the_range_and_headless_and_external_name(kube: KubeObjects) -> None:
    a = await kube.create(svc("a"))
    assert a.Spec.ClusterIP.startswith("172.16.") and a.Spec.ClusterIPs == [a.Spec.ClusterIP]
    assert a.Spec.IPFamilies == ["IPv4"] and a.Spec.IPFamilyPolicy == "SingleStack"
    assert a.Spec.ClusterIP != "172.16.0.1"  # the ``kubernetes`` Service's
    h = await kube.create(svc("h", cluster_ip="None"))
    assert h.Spec.ClusterIPs == ["None"] and h.Spec.IPFamilyPolicy == "SingleStack"
    h2 = await kube.create(svc("h2", cluster_ip="None", selector={}))
    assert h2.Spec.IPFamilyPolicy == "RequireDualStack"
    e = await kube.create(KubeService(ID="", Name="e", Namespace="default", Spec=KubeServiceSpec(
        Type="ExternalName", ExternalName="example.com")))
    assert e.Spec.ClusterIP == "" and e.Spec.ClusterIPs is None
    assert not [p.NodePort for p in a.Spec.Ports or [] if p.NodePort]


async def test_asked_for_addresses_and_ports_in_the_api_servers_words(kube: KubeObjects) -> None:
    a = await kube.create(svc("a", cluster_ip="172.16.0.10"))
    assert a.Spec.ClusterIPs == ["172.16.0.10"]
    with pytest.raises(Invalid) as e:
        await kube.create(svc("b", cluster_ip="172.16.0.10"))
    assert message(e) == ('Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"172.16.0.10"}: failed '
                          "to allocate IP 172.16.0.10: provided IP is already allocated")
    with pytest.raises(Invalid) as e:
        await kube.create(svc("c", cluster_ip="10.96.0.10"))
    assert message(e) == ('Service "c" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed '
                          "to allocate IP 10.96.0.10: the provided IP (10.96.0.10) is not in the valid range. The "
                          "range of valid IPs is 172.16.0.0/16")
    np = await kube.create(svc("np", kind="NodePort", ports=[80, 443], node_ports=[30080]))
    assert np.Spec.Ports is not None and np.Spec.Ports[0].NodePort == 30080
    assert 30000 <= np.Spec.Ports[1].NodePort <= 32767 and np.Spec.Ports[1].NodePort != 30080
    with pytest.raises(Invalid) as e:
        await kube.create(svc("np2", kind="NodePort", node_ports=[30080]))
    assert message(e) == ('Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is '
                          "already allocated")
    with pytest.raises(Invalid) as e:
        await kube.create(svc("np3", kind="NodePort", ports=[80, 81], node_ports=[30081, 29999]))
    assert message(e) == ('Service "np3" is invalid: spec.ports[1].nodePort: Invalid value: 29999: provided port is '
                          "not in the valid range. The range of valid ports is 30000-32767")
    # a LoadBalancer gets NodePorts too (unless it opts out), and a health check port with Local
    lb = await kube.create(svc("lb", kind="LoadBalancer"))
    assert lb.Spec.Ports is not None and lb.Spec.Ports[0].NodePort
    lb2 = svc("lb2", kind="LoadBalancer")
    lb2.Spec.AllocateLoadBalancerNodePorts, lb2.Spec.ExternalTrafficPolicy = False, "Local"
    lb2 = await kube.create(lb2)
    assert lb2.Spec.Ports is not None and not lb2.Spec.Ports[0].NodePort and lb2.Spec.HealthCheckNodePort


async def test_delete_frees_and_an_update_keeps_what_it_has(kube: KubeObjects) -> None:
    np = await kube.create(svc("np", kind="NodePort", node_ports=[30080], cluster_ip="172.16.0.20"))
    again = svc("np", kind="NodePort")  # an update that leaves the allocated values out (kubectl apply)
    again.ID, again.Version = np.ID, np.Version
    again.Spec.Ports = [KubeServicePort(Name="p0", Port=80, TargetPort=8080)]
    updated = await kube.update(again)
    assert updated.Spec.ClusterIP == "172.16.0.20" and updated.Spec.Ports[0].NodePort == 30080
    moved = svc("np", kind="NodePort", cluster_ip="172.16.0.21")
    moved.ID = np.ID
    with pytest.raises(Invalid) as e:
        await kube.update(moved)
    assert message(e) == ('Service "np" is invalid: spec.clusterIPs[0]: Invalid value: "172.16.0.21": may not change '
                          "once set")
    # to ClusterIP: its NodePort is free again
    down = svc("np", cluster_ip="172.16.0.20")
    down.ID = np.ID
    await kube.update(down)
    await kube.create(svc("other", kind="NodePort", node_ports=[30080]))
    await kube.delete("kubeservices", "default", "np")
    await kube.create(svc("back", cluster_ip="172.16.0.20"))


async def test_exhaustion_of_both_ranges() -> None:
    kube = await open_kube(MemoryBackend(), cidr="172.16.5.0/29", ports="30000-30002")
    # a /29 has 6 usable addresses, the first kept for ``kubernetes``: 5 to pick
    for i in range(5):
        await kube.create(svc(f"s{i}"))
    with pytest.raises(ShoalError) as e:
        await kube.create(svc("s5"))
    assert message(e) == "failed to allocate a serviceIP: range is full"
    await kube.create(svc("kubernetes", cluster_ip="172.16.5.1"))
    with pytest.raises(ShoalError) as e:
        await kube.create(svc("np", kind="NodePort", ports=[1, 2, 3, 4], cluster_ip="None"))
    assert message(e) == "failed to allocate a nodePort: range is full"
    kube.close()


async def test_node_ports_run_out_then_one_freed_is_taken() -> None:
    kube = await open_kube(MemoryBackend(), ports="30000-30002")
    await kube.create(svc("a", kind="NodePort", ports=[1, 2, 3]))
    with pytest.raises(ShoalError) as e:
        await kube.create(svc("b", kind="NodePort"))
    assert message(e) == "failed to allocate a nodePort: range is full"
    await kube.delete("kubeservices", "default", "a")
    b = await kube.create(svc("b", kind="NodePort"))
    assert b.Spec.Ports is not None and 30000 <= b.Spec.Ports[0].NodePort <= 30002
    kube.close()


async def test_a_restart_loses_and_doubles_nothing() -> None:
    backend = MemoryBackend()
    kube = await open_kube(backend, cidr="172.16.7.0/28", ports="30000-30019")
    made = [await kube.create(svc(f"s{i}", kind="NodePort")) for i in range(10)]
    kube.close()
    kube = await open_kube(backend)  # a new manager over the same store
    more = [await kube.create(svc(f"t{i}", kind="NodePort")) for i in range(3)]
    ips = [s.Spec.ClusterIP for s in made + more]
    ports = [p.NodePort for s in made + more for p in s.Spec.Ports or []]
    assert len(set(ips)) == len(ips) == 13 and len(set(ports)) == len(ports) == 13
    with pytest.raises(ShoalError):
        await kube.create(svc("full", kind="NodePort"))  # 14 addresses of a /28, less the first: 13
    kube.close()


def test_picks_prefer_the_upper_band() -> None:
    r = services.ranges_of(None)
    rng = random.Random(7)
    spec = svc("x").Spec
    store_free: set[str] = set()
    svc_obj = KubeService(ID="", Name="x", Namespace="default", Spec=spec)
    services._cluster_ip(r, svc_obj, None, store_free, rng)
    last = int(svc_obj.Spec.ClusterIP.rsplit(".", 2)[-2]) * 256 + int(svc_obj.Spec.ClusterIP.rsplit(".", 1)[-1])
    assert last >= 256  # above the lower band Kubernetes keeps for asked-for addresses


async def test_the_ranges_a_swarm_is_made_with() -> None:
    m = await Manager.open(None)
    c = await m.init("node-1", "127.0.0.1:2377")
    assert (c.ServiceClusterIPRange, c.ServiceNodePortRange) == ("172.16.0.0/16", "30000-32767")
    # pools that cover the default: it moves aside (here to Kubernetes' own), and swarm init still works
    m = await Manager.open(None)
    c = await m.init("node-1", "127.0.0.1:2377", default_addr_pool=["172.16.0.0/12"])
    assert c.ServiceClusterIPRange == "10.96.0.0/12"
    m = await Manager.open(None)
    c = await m.init("node-1", "127.0.0.1:2377", service_cidr="192.168.100.0/24", node_port_range="31000-31999")
    assert (c.ServiceClusterIPRange, c.ServiceNodePortRange) == ("192.168.100.0/24", "31000-31999")
    m = await Manager.open(None)
    with pytest.raises(InvalidArgument, match=r"overlaps the default address pool 10\.0\.0\.0/8"):
        await m.init("node-1", "127.0.0.1:2377", service_cidr="10.96.0.0/12")
    with pytest.raises(InvalidArgument, match="invalid service node port range"):
        services.check_ranges("172.16.0.0/16", "x-y", [])
