"""Ingresses in the core: the default IngressClass the leader makes, the DefaultIngressClass admission,
the status controller (the ready nodes' addresses, only for shoal's Ingresses), and the view a node is
sent (``ingressview.ingresses_view``: rules, paths, default backend, TLS from ``kubernetes.io/tls``
Secrets, and which changes rebuild it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from shoal.api.kube import Namespace
from shoal.api.kubenet import KubeIngressPath, KubeIngressRule, KubeIngressTLS
from shoal.api.types import (
    Ingress,
    IngressBackend,
    IngressClass,
    IngressClassSpec,
    IngressPath,
    IngressResourceRef,
    IngressRule,
    IngressSpec,
    IngressTLS,
    LoadBalancerIngress,
    Secret,
    SecretSpec,
    clone,
)
from shoal.manager.kube.ingressclass import admit_ingress_class, default_class
from shoal.manager.kube.ingresses import IngressController
from shoal.manager.kube.ingressview import ingresses_view, view_changed
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import Change, ObjectStore

from ...helpers import make_node


@dataclass
class World:
    store: ObjectStore
    kube: KubeObjects
    ctl: IngressController

    async def settle(self) -> None:
        for _ in range(20):
            await self.ctl.settle()
            if not len(self.ctl.queue):
                return


@pytest.fixture
async def w() -> AsyncIterator[World]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=10000))
    await kube.create(Namespace(ID="", Name="default"))
    for i, state in enumerate(("ready", "ready", "down")):
        node = make_node(f"node0{i}", state=state)
        node.Status.Addr = f"10.213.0.{12 - i}"
        await store.commit(creates=[node])
    ctl = IngressController(store, kube)
    ctl.seed()
    world = World(store, kube, ctl)
    await world.settle()
    yield world
    await ctl.stop()


def backend(svc: str = "web", port: int = 80, name: str = "") -> IngressBackend:
    return IngressBackend(Service=svc, Port=0 if name else port, PortName=name)


def ingress(name: str = "web", cls: str | None = None, **spec: object) -> Ingress:
    rules = [IngressRule(Host="web.example", Paths=[IngressPath(Path="/", PathType="Prefix", Backend=backend())])]
    return Ingress(ID="", Name=name, Namespace="default",
                   Spec=IngressSpec(IngressClassName=cls, Rules=spec.pop("rules", rules), **spec))  # type: ignore[arg-type]


async def test_default_class_admission_and_status(w: World) -> None:
    shoal = w.kube.get("ingressclasses", "", "shoal")
    assert shoal.Spec.Controller == "shoal.dev/ingress-nginx"
    assert shoal.Annotations == {"ingressclass.kubernetes.io/is-default-class": "true"}
    made = await w.kube.create(ingress())
    assert made.Spec.IngressClassName == "shoal"  # the DefaultIngressClass admission
    await w.settle()
    # the ready nodes' addresses, sorted as numbers
    assert w.kube.get("ingresses", "default", "web").Status.LoadBalancer == [
        LoadBalancerIngress(IP="10.213.0.11"), LoadBalancerIngress(IP="10.213.0.12")]
    # another class's Ingress: no address written
    await w.kube.create(IngressClass(ID="", Name="other", Spec=IngressClassSpec(Controller="example.com/lb")))
    await w.kube.create(ingress("elsewhere", "other"))
    await w.settle()
    assert w.kube.get("ingresses", "default", "elsewhere").Status.LoadBalancer is None
    # a node coming up joins the addresses
    node = clone(next(n for n in w.kube.list("nodes") if n.Status.State == "down"))
    node.Status.State = "ready"
    await w.store.commit(updates=[node])
    await w.settle()
    assert [i.IP for i in w.kube.get("ingresses", "default", "web").Status.LoadBalancer] == [
        "10.213.0.10", "10.213.0.11", "10.213.0.12"]


async def test_admission_rules(w: World) -> None:
    # the legacy annotation keeps an Ingress out of the admission
    legacy = ingress("legacy")
    legacy.Annotations = {"kubernetes.io/ingress.class": "nginx"}
    assert (await w.kube.create(legacy)).Spec.IngressClassName is None
    # of two default classes, the one made last
    newer = IngressClass(ID="", Name="newer", Annotations={"ingressclass.kubernetes.io/is-default-class": "true"},
                         Spec=IngressClassSpec(Controller="example.com/lb"), CreatedAt="2099-01-01T00:00:00Z")
    classes = [*w.kube.list("ingressclasses"), newer]
    assert default_class(classes) is newer
    ing = ingress("x")
    admit_ingress_class(ing, classes)
    assert ing.Spec.IngressClassName == "newer"
    # no default class: nothing filled
    ing = ingress("y")
    admit_ingress_class(ing, [])
    assert ing.Spec.IngressClassName is None
    # one named stays so
    ing = ingress("z", "mine")
    admit_ingress_class(ing, classes)
    assert ing.Spec.IngressClassName == "mine"


async def test_view_of_ingresses_with_tls(w: World) -> None:
    await w.kube.create(Secret(ID="", Namespace="default", Spec=SecretSpec(
        Name="web-tls", Type="kubernetes.io/tls", Items={"tls.crt": b"CERT", "tls.key": b"KEY"})))
    await w.kube.create(Secret(ID="", Namespace="default", Spec=SecretSpec(
        Name="opaque", Type="Opaque", Items={"tls.crt": b"C", "tls.key": b"K"})))
    rules = [IngressRule(Host="web.example", Paths=[
        IngressPath(Path="/api", PathType="Exact", Backend=backend("api", name="http")),
        IngressPath(Path="", PathType="ImplementationSpecific", Backend=backend()),
        IngressPath(Path="/res", PathType="Prefix", Backend=IngressBackend(
            Resource=IngressResourceRef(Kind="Bucket", Name="b")))]),
        IngressRule(Host="nohttp.example")]
    await w.kube.create(ingress("b-web", rules=rules, DefaultBackend=backend("fallback", 8080), TLS=[
        IngressTLS(Hosts=["web.example"], SecretName="web-tls"), IngressTLS(Hosts=["x.example"], SecretName="opaque"),
        IngressTLS(Hosts=["y.example"], SecretName="gone")]))
    await w.kube.create(ingress("a-plain"))
    await w.kube.create(IngressClass(ID="", Name="other", Spec=IngressClassSpec(Controller="example.com/lb")))
    await w.kube.create(ingress("c-other", "other"))
    view = ingresses_view(w.store)
    assert [(i.Namespace, i.Name) for i in view] == [("default", "a-plain"), ("default", "b-web")]
    web = view[1]
    assert web.Rules == (KubeIngressRule(Host="web.example", Paths=(
        KubeIngressPath(Path="/api", PathType="Exact", Service="api", PortName="http"),
        KubeIngressPath(Path="/", PathType="Prefix", Service="web", Port=80))),)
    assert web.DefaultBackend == KubeIngressPath(Service="fallback", Port=8080)
    assert web.TLS == (KubeIngressTLS(Hosts=("web.example",), SecretName="web-tls", Cert="CERT", Key="KEY"),
                       KubeIngressTLS(Hosts=("x.example",), SecretName="opaque"),
                       KubeIngressTLS(Hosts=("y.example",), SecretName="gone"))
    # what rebuilds the view
    tls = w.kube.get("secrets", "default", "web-tls")
    assert view_changed(Change("secrets", None, tls))
    assert not view_changed(Change("secrets", None, w.kube.get("secrets", "default", "opaque")))
    assert view_changed(Change("ingresses", None, w.kube.get("ingresses", "default", "a-plain")))
    assert view_changed(Change("ingressclasses", None, w.kube.get("ingressclasses", "", "other")))
    assert not view_changed(Change("tasks", None, None))
    # the default class deleted: an Ingress without a class is no longer shoal's
    await w.kube.delete("ingressclasses", "", "shoal")
    legacy = ingress("d-none")
    await w.kube.create(legacy)
    assert w.kube.get("ingresses", "default", "d-none").Spec.IngressClassName is None
    assert [i.Name for i in ingresses_view(w.store)] == ["a-plain", "b-web"]  # named "shoal": still served
