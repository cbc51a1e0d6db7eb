"""The Endpoints and EndpointSlice controllers (``manager/kube/endpoints.py``, ``endpointslices.py``) on an
in-memory store: Pods' readiness moving them between addresses and notReadyAddresses (and the slices'
conditions), named target ports resolved per Pod, slices of at most 100 endpoints that keep their
endpoints when others come and go, Services without a selector left to the user, and the
``kubernetes`` Service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from shoal.api.kube import Namespace
from shoal.api.pod import ContainerPort, PodContainer, PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    ContainerStatus,
    EndpointAddress,
    Endpoints,
    EndpointSlice,
    EndpointSubset,
    KubeService,
    KubeServicePort,
    KubeServiceSpec,
    Task,
    TaskSpec,
    clone,
    now_ts,
)
from shoal.manager.kube import endpointslices as eps
from shoal.manager.kube.endpoints import EndpointsController
from shoal.manager.kube.endpointslices import EndpointSliceController
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

from ...helpers import make_node


@dataclass
class World:
    store: ObjectStore
    kube: KubeObjects
    ec: EndpointsController
    sc: EndpointSliceController
    node_id: str
    n: int = 0

    async def settle(self) -> None:
        for _ in range(50):
            await self.ec.settle()
            await self.sc.settle()
            if not len(self.ec.queue) and not len(self.sc.queue):
                return

    async def pod(self, name: str, *, ready: bool = True, labels: dict[str, str] | None = None,
                  port_name: str = "http", port: int = 8080) -> Task:
        """A Pod running on the node with an address (ready or not), with one named container port."""
        self.n += 1
        t = Task(ID="", Name=name, Namespace="default", Labels=labels or {"app": "web"}, Spec=TaskSpec(
            Containers=[ContainerSpec(Name="c", Image="nginx", Pod=PodContainer(
                Ports=[ContainerPort(Name=port_name, ContainerPort=port)]))]))
        t = await self.kube.create(t)
        t = clone(t)
        t.NodeID, t.Status.State, t.Status.Timestamp = self.node_id, TaskState.RUNNING, now_ts()
        t.Status.Addresses = [f"10.213.{self.n // 250}.{self.n % 250 + 2}"]
        t.Status.Containers = [ContainerStatus(Name="c", State="running", Ready=ready)]
        await self.store.commit(updates=[t])
        return t

    async def set_ready(self, name: str, ready: bool) -> None:
        t = clone(self.kube.get("tasks", "default", name))
        t.Status.Containers = [ContainerStatus(Name="c", State="running", Ready=ready)]
        await self.store.commit(updates=[t])

    def endpoints(self, name: str = "web") -> Endpoints:
        ep: Endpoints = self.kube.get("endpoints", "default", name)
        return ep

    def slices(self, name: str = "web") -> list[EndpointSlice]:
        return sorted(self.sc.managed_slices("default", name), key=lambda s: s.Name)


def service(name: str = "web", target: int | str = 8080, selector: dict[str, str] | None = None) -> KubeService:
    return KubeService(ID="", Name=name, Namespace="default", Labels={"team": "a"}, Spec=KubeServiceSpec(
        Ports=[KubeServicePort(Name="http", Port=80, TargetPort=target)],
        Selector={"app": "web"} if selector is None else selector))


@pytest.fixture
async def w() -> AsyncIterator[World]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=10000))
    await kube.create(Namespace(ID="", Name="default"))
    node = make_node("node01", role="manager")
    node.Status.Addr = "127.0.0.1"
    await store.commit(creates=[node])
    ec, sc = EndpointsController(store, kube), EndpointSliceController(store, kube)
    ec.seed()
    sc.seed()
    yield World(store, kube, ec, sc, node.ID)
    await ec.stop()
    await sc.stop()


def ips(addrs: list[EndpointAddress] | None) -> list[str]:
    return [a.IP for a in addrs or []]


async def test_readiness_moves_pods_between_addresses_and_not_ready(w: World) -> None:
    a = await w.pod("a")
    b = await w.pod("b", ready=False)
    await w.pod("other", labels={"app": "db"})
    await w.kube.create(service())
    await w.settle()
    (ss,) = w.endpoints().Subsets or []
    assert ips(ss.Addresses) == (a.Status.Addresses or []) and ips(ss.NotReadyAddresses) == (b.Status.Addresses or [])
    assert ss.Ports is not None and ss.Ports[0].Port == 8080 and ss.Ports[0].Name == "http"
    assert ss.Addresses is not None and ss.Addresses[0].NodeName == "node01"
    assert ss.Addresses[0].TargetRef is not None and ss.Addresses[0].TargetRef.Name == "a"
    assert (w.endpoints().Labels or {}) == {"team": "a"}
    (sl,) = w.slices()
    conds = {e.TargetRef.Name: e.Conditions for e in sl.Endpoints or [] if e.TargetRef is not None}
    assert conds["a"].Ready and conds["a"].Serving and not conds["a"].Terminating
    assert not conds["b"].Ready and not conds["b"].Serving
    assert (sl.Labels or {})[eps.MANAGED_BY] == eps.CONTROLLER_NAME and sl.Name.startswith("web-")
    await w.set_ready("b", True)
    await w.set_ready("a", False)
    await w.settle()
    (ss,) = w.endpoints().Subsets or []
    assert ips(ss.Addresses) == (b.Status.Addresses or []) and ips(ss.NotReadyAddresses) == (a.Status.Addresses or [])
    (sl,) = w.slices()
    conds = {e.TargetRef.Name: e.Conditions for e in sl.Endpoints or [] if e.TargetRef is not None}
    assert conds["b"].Ready and not conds["a"].Ready
    # a Pod being deleted leaves the Endpoints at once, and stays in its slice as terminating
    await w.kube.delete("tasks", "default", "b")
    await w.settle()
    assert ips((w.endpoints().Subsets or [EndpointSubset()])[0].Addresses) == []
    (sl,) = w.slices()
    conds = {e.TargetRef.Name: e.Conditions for e in sl.Endpoints or [] if e.TargetRef is not None}
    assert conds["b"].Terminating and not conds["b"].Ready and conds["b"].Serving


async def test_named_target_ports_resolve_per_pod(w: World) -> None:
    await w.pod("a", port_name="http", port=8080)
    await w.pod("b", port_name="http", port=9090)
    await w.pod("c", port_name="metrics", port=9100)  # no ``http``: no endpoint for it
    await w.kube.create(service(target="http"))
    await w.settle()
    subsets = w.endpoints().Subsets or []
    assert sorted((ss.Ports or [])[0].Port for ss in subsets) == [8080, 9090]
    assert sorted(sum(len(ss.Addresses or []) for ss in subsets) for _ in [0]) == [2]
    assert sorted(((s.Ports or [])[0].Port, len(s.Endpoints or [])) for s in w.slices()) == [(8080, 1), (9090, 1)]


async def test_slices_hold_at_most_100_and_keep_their_endpoints(w: World) -> None:
    for i in range(230):
        await w.pod(f"p{i:03}")
    await w.kube.create(service())
    await w.settle()
    sizes = sorted(len(s.Endpoints or []) for s in w.slices())
    assert sizes == [30, 100, 100]
    before = {s.Name: {e.TargetRef.Name for e in s.Endpoints or [] if e.TargetRef} for s in w.slices()}
    await w.kube.delete("tasks", "default", "p000")
    await w.store.commit(deletes=[w.kube.get("tasks", "default", "p000")])
    await w.pod("new")
    await w.settle()
    after = {s.Name: {e.TargetRef.Name for e in s.Endpoints or [] if e.TargetRef} for s in w.slices()}
    assert set(after) == set(before)
    changed = [n for n in after if after[n] != before[n]]
    assert len(changed) <= 2 and sum(len(v) for v in after.values()) == 230
    assert any("new" in v for v in after.values())


def test_plan_fills_slices_with_room_before_making_new_ones() -> None:
    port = eps.ports_key([])
    have = [EndpointSlice(ID="s1", Name="web-a", Endpoints=[]), EndpointSlice(ID="s2", Name="web-b")]
    updates, creates, deletes = eps.plan(have, {}, limit=2)
    assert not creates and [s.ID for s in deletes] == ["s2"] and not updates  # one empty placeholder kept
    updates, creates, deletes = eps.plan([], {}, limit=2)
    assert creates == [(port, [])] and not updates and not deletes


async def test_a_service_without_selector_leaves_endpoints_to_the_user(w: World) -> None:
    await w.pod("a")
    await w.kube.create(service("manual", selector={}))
    mine = Endpoints(ID="", Name="manual", Namespace="default", Subsets=[EndpointSubset(
        Addresses=[EndpointAddress(IP="192.0.2.10")])])
    await w.kube.create(mine)
    await w.settle()
    assert ips((w.endpoints("manual").Subsets or [])[0].Addresses) == ["192.0.2.10"]
    assert w.slices("manual") == []
    # a Service gone takes its Endpoints
    await w.kube.delete("kubeservices", "default", "manual")
    await w.settle()
    with pytest.raises(Exception, match="not found"):
        w.endpoints("manual")


async def test_the_kubernetes_service(w: World) -> None:
    await w.settle()
    svc: KubeService = w.kube.get("kubeservices", "default", "kubernetes")
    assert svc.Spec.ClusterIP == "172.16.0.1" and svc.Spec.Ports is not None and svc.Spec.Ports[0].Port == 443
    (ss,) = w.endpoints("kubernetes").Subsets or []
    assert ss.Ports is not None and ss.Ports[0].Port == 6443 and len(ss.Addresses or []) == 1
    await w.kube.delete("kubeservices", "default", "kubernetes")
    await w.settle()
    assert w.kube.get("kubeservices", "default", "kubernetes").Spec.ClusterIP == "172.16.0.1"


async def test_the_kube_dns_service(w: World) -> None:
    """``kube-system/kube-dns`` at the cluster DNS address, as kubeadm's, made again when deleted."""
    await w.settle()
    with pytest.raises(Exception, match="not found"):
        w.kube.get("kubeservices", "kube-system", "kube-dns")  # nothing before kube-system exists
    await w.kube.create(Namespace(ID="", Name="kube-system"))
    await w.settle()
    svc: KubeService = w.kube.get("kubeservices", "kube-system", "kube-dns")
    assert svc.Spec.ClusterIP == "172.16.0.10" and svc.Spec.Selector is None
    assert [(p.Name, p.Protocol, p.Port) for p in svc.Spec.Ports or []] == [("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]
    assert svc.Labels == {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                          "kubernetes.io/name": "CoreDNS"}
    await w.kube.delete("kubeservices", "kube-system", "kube-dns")
    await w.settle()
    assert w.kube.get("kubeservices", "kube-system", "kube-dns").Spec.ClusterIP == "172.16.0.10"


async def test_a_pods_hostname_is_its_endpoints_when_its_subdomain_is_the_service(w: World) -> None:
    """Kubernetes' ShouldSetHostname: the Pod's own ``spec.hostname``, when its ``subdomain`` names the
    Service, is the endpoint's ``hostname`` in the Endpoints and the slice (a headless Service's
    per-Pod DNS name); a Pod of another subdomain, or with no hostname of its own, has none."""
    named = await w.pod("db-0")
    other = await w.pod("db-1")
    for t, hostname, subdomain in ((named, "db-0", "web"), (other, "db-1", "elsewhere")):
        t = clone(t)
        t.Spec.Pod = PodSpecExtra(Hostname=hostname, Subdomain=subdomain)
        await w.store.commit(updates=[t])
    await w.kube.create(service())
    await w.settle()
    (ss,) = w.endpoints().Subsets or []
    assert {a.TargetRef.Name: a.Hostname for a in ss.Addresses or [] if a.TargetRef} == {"db-0": "db-0", "db-1": ""}
    (sl,) = w.slices()
    assert {e.TargetRef.Name: e.Hostname for e in sl.Endpoints or [] if e.TargetRef} == {"db-0": "db-0", "db-1": ""}
