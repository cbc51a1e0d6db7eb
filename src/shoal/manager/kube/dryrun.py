"""The Pods a manifest's objects would make, and where the scheduler would put them (``shoal kube
dry-run``); nothing is written.

Each object gives its Pods as its controller would make them: a Pod is itself (its ``nodeName``
resolved to the node's ID, as ``KubeObjects.create`` ties it); a ReplicaSet gives ``replicas`` Pods
of its template (``replicasets.new_pod``); a Deployment gives the Pods of the ReplicaSet its
controller would make first (the template with its ``pod-template-hash`` label, ``replicas`` of
them). Objects that make no Pods are left out. ``KubeObjects.plan_pods`` is the entry: it checks
first that their namespaces exist and are active, as a create would (a namespace the same manifest
makes counts as existing).

The Pods are then placed one after another, in the manifest's order (``scheduler/poddryrun.py``),
over the nodes and the tasks the store holds now: Pods already running count, an existing object of
the same name is not replaced (its Pods still count). A Deployment's rollout, the ReplicaSet
controller's batches and the timing of the real scheduler are not simulated; where the Pods go and
why other nodes refuse them is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shoal.api import nodelabels
from shoal.api.affinity import NAMESPACE_NAME_LABEL
from shoal.api.control import PodPlan
from shoal.api.ids import new_id
from shoal.api.kube import Namespace
from shoal.api.meta import normalize_owners
from shoal.api.types import Deployment, Node, ReplicaSet, ReplicaSetSpec, Task, clone
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.replicasets import new_pod
from shoal.manager.scheduler.poddryrun import NewPod, plan_pods
from shoal.store.objects import ObjectStore


def makes_pods(obj: Any) -> bool:
    """Whether the object is of a kind that makes Pods (a Pod, a ReplicaSet, a Deployment)."""
    return isinstance(obj, Task | ReplicaSet | Deployment)


def pods_of(obj: Any, index: int = 0, nodes: Iterable[Node] = ()) -> list[NewPod]:
    """The Pods the object (``index`` in the request) would make (see the module's docstring); none
    for other kinds."""
    if isinstance(obj, Task):
        t = clone(obj)
        t.ID = new_id()
        normalize_owners(t)
        pod = t.Spec.Pod
        if pod is not None and pod.NodeName:
            node = next((n for n in nodes if nodelabels.node_name(n) == pod.NodeName), None)
            t.NodeID = node.ID if node is not None else pod.NodeName
        return [NewPod(t, index)]
    if isinstance(obj, ReplicaSet):
        return _replicas(obj, index)
    if isinstance(obj, Deployment):
        return _replicas(first_replica_set(obj), index)
    return []


def first_replica_set(d: Deployment) -> ReplicaSet:
    """The ReplicaSet a new Deployment's controller makes: its template with the ``pod-template-hash``
    label, named ``<deployment>-<hash>``, as many replicas as the Deployment."""
    tpl_hash = wl.template_hash(d.Spec.Template, d.Status.CollisionCount)
    tpl = clone(d.Spec.Template)
    tpl.Labels = {**(tpl.Labels or {}), wl.POD_TEMPLATE_HASH: tpl_hash}
    selector = clone(d.Spec.Selector)
    selector.MatchLabels = {**(selector.MatchLabels or {}), wl.POD_TEMPLATE_HASH: tpl_hash}
    return ReplicaSet(ID=new_id(), Name=f"{d.Name}-{tpl_hash}", Namespace=d.Namespace, Labels=dict(tpl.Labels),
                      Spec=ReplicaSetSpec(Replicas=d.Spec.Replicas, Selector=selector, Template=tpl))


def _replicas(rs: ReplicaSet, index: int) -> list[NewPod]:
    rs = clone(rs)
    rs.ID = rs.ID or new_id()
    out = []
    for i in range(rs.Spec.Replicas):
        t = new_pod(rs)
        t.ID = new_id()
        normalize_owners(t)  # as the create does: the Pod counts as its ReplicaSet's in the spread
        out.append(NewPod(t, index, i + 1, rs.Spec.Replicas))
    return out


def plan(store: ObjectStore, objs: list[Any]) -> PodPlan:
    """Where the Pods of ``objs`` (in a manifest's order) would go; ``KubeObjects.plan_pods`` has
    checked their namespaces."""
    nodes: list[Node] = store.list(Node)
    pods = [p for i, obj in enumerate(objs) for p in pods_of(obj, i, nodes)]
    namespaces = {ns.Name: ns for ns in store.list(Namespace)}

    def namespace_labels(name: str) -> dict[str, str]:
        ns = namespaces.get(name)
        return {**((ns.Labels or {}) if ns is not None else {}), NAMESPACE_NAME_LABEL: name}

    return PodPlan(Pods=plan_pods(nodes, store.list(Task), pods, namespace_labels))
