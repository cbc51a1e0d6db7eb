"""The Kubernetes network view the managers send the nodes: Services reduced with their slices'
endpoints (nodes, readiness, ports by name), kept change by change; the LoadBalancer pool addresses'
announcers (rendezvous hashing: deterministic, and only a gone node's addresses move); and the
dispatcher's push to the nodes that wire Pods' networks (never a hollow node)."""

from __future__ import annotations

import time

from shoal.api.kubenet import KubeEndpoint
from shoal.api.types import (
    Cluster,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
    EndpointTarget,
    KubeService,
    KubeServicePort,
    KubeServiceSpec,
    KubeServiceStatus,
    LoadBalancerIngress,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    SliceEndpoint,
    clone,
)
from shoal.manager.dispatcher import Dispatcher
from shoal.manager.kube.netview import KubeViews, announcer, pool_contains
from shoal.protocol import Assignments
from shoal.store.objects import ObjectStore

from ...helpers import memory_store


def service(name: str, ns: str = "default", **spec: object) -> KubeService:
    spec.setdefault("ClusterIP", "172.16.3.4")
    spec.setdefault("Ports", [KubeServicePort(Name="http", Port=80, TargetPort="web")])
    lb = spec.pop("lb", None)
    status = KubeServiceStatus(LoadBalancer=[LoadBalancerIngress(IP=ip) for ip in lb]) if isinstance(lb, list) \
        else KubeServiceStatus()
    return KubeService(ID=f"svc-{ns}-{name}", Name=name, Namespace=ns, Spec=KubeServiceSpec(**spec),  # type: ignore[arg-type]
                       Status=status)


def endpoint(ip: str, node: str, ready: bool | None = True, pod: str = "", **cond: bool) -> SliceEndpoint:
    return SliceEndpoint(Addresses=[ip], NodeName=node,
                         Conditions=EndpointConditions(Ready=ready, **cond),
                         TargetRef=EndpointTarget(Namespace="default", Name=pod or f"pod-{ip}", UID=f"uid-{ip}"))


def slice_of(svc: str, sid: str, eps: list[SliceEndpoint], port: int = 8080) -> EndpointSlice:
    return EndpointSlice(ID=sid, Name=sid, Namespace="default", Labels={"kubernetes.io/service-name": svc},
                         Endpoints=eps, Ports=[EndpointPort(Name="http", Port=port)])


async def nodes(store: ObjectStore, *names: str) -> None:
    for i, n in enumerate(names, start=1):
        await store.create(Node(ID=f"id-{n}", Spec=NodeSpec(Role="worker"), Description=NodeDescription(Hostname=n),
                                Status=NodeStatus(State="ready", Addr=f"10.213.9.{i}")))


async def test_services_are_reduced_with_their_slices_endpoints() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c1", ServiceLBPool="10.213.9.200-10.213.9.210"))
    await nodes(store, "a", "b")
    views = KubeViews(store)
    store.subscribe(views.apply)
    await store.create(service("web", Type="LoadBalancer", ExternalTrafficPolicy="Local", SessionAffinity="ClientIP",
                               lb=["10.213.9.200"]))
    await store.create(slice_of("web", "web-1", [
        endpoint("172.17.0.2", "a"), endpoint("172.17.0.3", "b", ready=False, Serving=True, Terminating=True)]))
    await store.create(slice_of("web", "web-2", [endpoint("172.17.0.4", "b", ready=None)]))
    await store.create(slice_of("other", "other-1", [endpoint("172.17.0.9", "a")]))
    await store.create(service("ext", Type="ExternalName", ExternalName="web.example", ClusterIP="", Ports=None))
    view = views.base()
    assert view.Settings.ServiceLBPool == "10.213.9.200-10.213.9.210" and view.Settings.ClusterDNS == "172.16.0.10"
    assert view.NodeAddrs == {"id-a": "10.213.9.1", "id-b": "10.213.9.2"}
    assert [(s.Namespace, s.Name) for s in view.Services] == [("default", "ext"), ("default", "web")]
    ext, web = view.Services
    assert ext.Type == "ExternalName" and ext.ClusterIP == "" and ext.ExternalName == "web.example"
    assert web.Type == "LoadBalancer" and web.LoadBalancerIPs == ("10.213.9.200",) and web.SessionAffinity
    assert web.ExternalTrafficPolicy == "Local" and web.InternalTrafficPolicy == "Cluster"
    assert web.AffinityTimeout == 10800 and web.Ports[0].Name == "http" and web.Ports[0].Port == 80
    assert web.Endpoints == (
        KubeEndpoint(IP="172.17.0.2", NodeID="id-a", NodeName="a", Ports={"http": 8080}, PodName="pod-172.17.0.2",
                     PodNamespace="default"),
        KubeEndpoint(IP="172.17.0.3", Ready=False, Serving=True, Terminating=True, NodeID="id-b", NodeName="b",
                     Ports={"http": 8080}, PodName="pod-172.17.0.3", PodNamespace="default"),
        KubeEndpoint(IP="172.17.0.4", NodeID="id-b", NodeName="b", Ports={"http": 8080}, PodName="pod-172.17.0.4",
                     PodNamespace="default"),  # ready unset: ready
    )
    assert views.base() is view  # nothing changed: the same view, not built again
    # One slice changes: that Service alone is built again; the other Service's info is the same object.
    changed = clone(store.get(EndpointSlice, "web-2"))
    changed.Endpoints = [endpoint("172.17.0.4", "b", ready=False)]
    await store.update(changed)
    again = views.base()
    assert again is not view and again.Services[0] is ext
    assert [e.Ready for e in again.Services[1].Endpoints] == [True, False, False]
    await store.delete(store.get(KubeService, "svc-default-web"))
    assert [s.Name for s in views.base().Services] == ["ext"]


def test_pool_addresses_and_their_announcers() -> None:
    assert pool_contains("10.213.9.200-10.213.9.210", "10.213.9.205")
    assert not pool_contains("10.213.9.200-10.213.9.210", "10.213.9.2")
    assert pool_contains("10.213.9.192/28", "10.213.9.200") and not pool_contains("", "10.213.9.200")
    nodes3 = ["n1", "n2", "n3"]
    addrs = [f"10.213.9.{i}" for i in range(200, 230)]
    first = {a: announcer(a, nodes3) for a in addrs}
    assert first == {a: announcer(a, list(reversed(nodes3))) for a in addrs}  # the order does not matter
    assert set(first.values()) == set(nodes3)  # spread over the nodes
    without = {a: announcer(a, ["n1", "n3"]) for a in addrs}
    for a in addrs:  # n2 goes: only its addresses move
        assert without[a] == first[a] if first[a] != "n2" else without[a] in ("n1", "n3")


async def test_the_dispatcher_sends_each_wired_node_its_view_and_announcements() -> None:
    store = await memory_store()
    await store.create(Cluster(ID="c1", ServiceLBPool="10.213.9.200/29"))
    d = Dispatcher(store)
    a = await d.register("id-a", NodeDescription(Hostname="a"), "10.213.9.1", kube_network=True)
    b = await d.register("id-b", NodeDescription(Hostname="b"), "10.213.9.2", kube_network=True)
    hollow = await d.register("id-h", NodeDescription(Hostname="h"), "10.213.9.3")

    def last(s: object) -> Assignments | None:
        found = None
        q = s.queue  # type: ignore[attr-defined]
        while not q.empty():
            msg = q.get_nowait()
            if msg is not None and msg.kube is not None:
                found = msg
        return found

    first = last(a)
    assert first is not None and first.kube is not None and first.kube.NodeID == "id-a"  # at once, on register
    last(b), last(hollow)
    await store.create(service("lb", Type="LoadBalancer", lb=["10.213.9.201", "10.213.9.202", "10.213.9.203"]))
    d.push_kube()
    va, vb = last(a), last(b)
    assert va is not None and vb is not None and va.kube is not None and vb.kube is not None
    assert last(hollow) is None  # never a hollow node
    assert [s.Name for s in va.kube.Services] == ["lb"] and va.kube.NodeID == "id-a" and vb.kube.NodeID == "id-b"
    announced = {"id-a": set(va.kube.Announce), "id-b": set(vb.kube.Announce)}
    assert announced["id-a"] | announced["id-b"] == {"10.213.9.201", "10.213.9.202", "10.213.9.203"}
    assert not announced["id-a"] & announced["id-b"]
    d.push_kube()
    assert last(a) is None and last(b) is None  # unchanged: nothing sent
    await d.mark_down("id-b", "heartbeat failure")  # b goes: a announces them all
    d.push_kube()
    va = last(a)
    assert va is not None and va.kube is not None
    assert set(va.kube.Announce) == {"10.213.9.201", "10.213.9.202", "10.213.9.203"}
    await d.stop()


async def test_building_the_view_at_a_thousand_services_is_cheap() -> None:
    store = await memory_store()
    await nodes(store, "a", "b", "c")
    svcs = [service(f"s{i}") for i in range(1000)]
    slices = [slice_of(f"s{i}", f"s{i}-x", [endpoint(f"100.64.{i // 25}.{(i % 25) * 10 + j}", "abc"[j % 3])
                                             for j in range(10)]) for i in range(1000)]
    await store.commit(creates=[*svcs, *slices])
    views = KubeViews(store)
    store.subscribe(views.apply)
    start = time.perf_counter()
    view = views.base()
    full = time.perf_counter() - start
    assert len(view.Services) == 1000 and sum(len(s.Endpoints) for s in view.Services) == 10000
    changed = clone(store.get(EndpointSlice, "s500-x"))
    changed.Endpoints = changed.Endpoints[:9]
    await store.update(changed)
    start = time.perf_counter()
    again = views.base()
    one = time.perf_counter() - start
    assert len(again.Services[500].Endpoints) in (9, 10) and sum(len(s.Endpoints) for s in again.Services) == 9999
    assert one < full  # one Service built again, not all
    print(f"view: {full * 1000:.1f} ms whole, {one * 1000:.1f} ms after one slice changed")


async def test_the_ingresses_of_class_shoal_come_with_the_view() -> None:
    from shoal.api.types import Ingress, IngressBackend, IngressPath, IngressRule, IngressSpec
    store = await memory_store()
    views = KubeViews(store)
    store.subscribe(views.apply)
    assert views.base().Ingresses == ()
    rule = IngressRule(Host="web.example", Paths=[IngressPath(Path="/", PathType="Prefix",
                                                              Backend=IngressBackend(Service="web", Port=80))])
    await store.create(Ingress(ID="i1", Name="web", Namespace="default",
                               Spec=IngressSpec(IngressClassName="shoal", Rules=[rule])))
    assert views.changed
    (ing,) = views.base().Ingresses
    assert ing.Name == "web" and ing.Rules[0].Host == "web.example" and ing.Rules[0].Paths[0].Service == "web"
