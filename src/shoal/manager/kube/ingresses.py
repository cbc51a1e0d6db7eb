"""Ingresses in the core (networking.k8s.io/v1): the default IngressClass and the Ingress status
controller (the leader's, on a keyed work queue).

* ``ensure_default_class``: the IngressClass ``shoal`` (controller ``shoal.dev/ingress-nginx``, marked
  ``ingressclass.kubernetes.io/is-default-class: "true"``), made by the leader when its controllers
  start, as k3s installs its own class; one deleted by a user stays deleted until the next leader.
* the DefaultIngressClass admission (``ingressclass.admit_ingress_class``, called by
  ``KubeObjects._prepare`` on every Ingress created, whichever door it comes from);
* ``IngressController``: the Ingresses shoal serves (class ``shoal``, ``served_by_shoal``) get
  ``status.loadBalancer.ingress``, the ready nodes' addresses (every node's nginx answers on ports 80
  and 443, as k3s's Traefik fills it from its LoadBalancer Service's); others are left alone. Keys:
  ``<namespace>/<name>``; a node's change requeues every Ingress, a class's change those of its name.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shoal.api.errors import AlreadyExists, NotFound
from shoal.api.types import (
    Ingress,
    IngressClass,
    IngressClassSpec,
    LoadBalancerIngress,
    Node,
    clone,
)
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.ingressclass import (
    DEFAULT_INGRESS_CLASS_ANNOTATION,
    SHOAL_CLASS,
    SHOAL_CONTROLLER,
    served_by_shoal,
)
from shoal.manager.kube.objects import KubeObjects
from shoal.store.objects import Change, ObjectStore

CLASS_KEY = "/class"  # the work queue's key for the default class (no Ingress key starts with "/")


async def ensure_default_class(kube: KubeObjects) -> None:
    """The IngressClass ``shoal``, the cluster's default, unless one of that name exists."""
    try:
        kube.get("ingressclasses", "", SHOAL_CLASS)
        return
    except NotFound:
        pass
    cls = IngressClass(ID="", Name=SHOAL_CLASS, Annotations={DEFAULT_INGRESS_CLASS_ANNOTATION: "true"},
                       Labels={"app.kubernetes.io/component": "controller", "app.kubernetes.io/name": "shoal"},
                       Spec=IngressClassSpec(Controller=SHOAL_CONTROLLER))
    try:
        await kube.create(cls)
    except AlreadyExists:
        pass


def node_addresses(store: ObjectStore) -> list[str]:
    """The ready nodes' addresses, sorted (every node's ingress proxy answers on them)."""
    nodes: list[Node] = store.list(Node)
    return sorted({n.Status.Addr for n in nodes if n.Status.State == "ready" and n.Status.Addr},
                  key=lambda a: tuple(int(x) if x.isdigit() else 0 for x in a.split(".")))


class IngressController(wl.WorkloadController):
    name = "ingresses"
    workers = 1

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, kube, clock)

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        self.queue.add(CLASS_KEY)
        self.queue_all()

    def queue_all(self) -> None:
        ings: list[Ingress] = self.store.list(Ingress)
        for ing in ings:
            self.queue.add(f"{ing.Namespace}/{ing.Name}")

    def on_change(self, ch: Change) -> None:
        obj = ch.new or ch.old
        if ch.kind == "ingresses":
            self.queue.add(f"{obj.Namespace}/{obj.Name}")
        elif ch.kind == "ingressclasses":
            self.queue_all()
        elif ch.kind == "nodes" and (ch.old is None or ch.new is None or ch.old.Status.Addr != ch.new.Status.Addr
                                     or ch.old.Status.State != ch.new.Status.State):
            self.queue_all()

    async def sync(self, key: str) -> float | None:
        if key == CLASS_KEY:
            try:
                await ensure_default_class(self.kube)
            except NotFound:
                pass
            return None
        ns, _, name = key.partition("/")
        try:
            ing: Ingress = self.kube.get("ingresses", ns, name)
        except NotFound:
            return None
        if ing.DeletionTimestamp or not served_by_shoal(ing, self.kube.list("ingressclasses")):
            return None
        want = [LoadBalancerIngress(IP=a) for a in node_addresses(self.store)] or None
        if ing.Status.LoadBalancer != want:
            cur = clone(ing)
            cur.Status.LoadBalancer = want
            await self.kube.update(cur)
        return None
