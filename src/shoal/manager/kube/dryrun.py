"""The Pods a manifest's objects would make, and where the scheduler would put them (``shoal kube
dry-run``); nothing is written.

Each object gives its Pods as its controller would make them: a Pod is itself (its ``nodeName``
resolved to the node's ID, as ``KubeObjects.create`` ties it); a ReplicaSet gives ``replicas`` Pods
of its template (``replicasets.new_pod``); a Deployment gives the Pods of the ReplicaSet its
controller would make first (the template with its ``pod-template-hash`` label, ``replicas`` of
them); a DaemonSet gives one Pod for each node that should run one (``daemonsets.eligibility``, its
Pod tied to that node by the required node affinity the controller writes); a Job gives the Pods it
starts with (``min(parallelism, completions)``, each with its completion index when Indexed).
Objects that make no Pods are left out. ``KubeObjects.plan_pods`` is the entry: it checks
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
from shoal.api.types import DaemonSet, Deployment, Job, Node, ReplicaSet, ReplicaSetSpec, Task, clone
from shoal.manager.kube import daemonsets as ds_
from shoal.manager.kube import jobs as jobs_
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.objects import admit_tolerations
from shoal.manager.kube.replicasets import new_pod
from shoal.manager.scheduler.poddryrun import NewPod, plan_pods
from shoal.store.objects import ObjectStore


def makes_pods(obj: Any) -> bool:
    """Whether the object is of a kind that makes Pods (a Pod, a ReplicaSet, a Deployment, a DaemonSet, a Job)."""
    return isinstance(obj, Task | ReplicaSet | Deployment | DaemonSet | Job)


def pods_of(obj: Any, index: int = 0, nodes: Iterable[Node] = ()) -> list[NewPod]:
    """The Pods the object (``index`` in the request) would make (see the module's docstring); none
    for other kinds."""
    if isinstance(obj, Task):
        t = clone(obj)
        t.ID = new_id()
        normalize_owners(t)
        admit_tolerations(t)
        pod = t.Spec.Pod
        if pod is not None and pod.NodeName:
            node = next((n for n in nodes if nodelabels.node_name(n) == pod.NodeName), None)
            t.NodeID = node.ID if node is not None else pod.NodeName
        return [NewPod(t, index)]
    if isinstance(obj, ReplicaSet):
        return _replicas(obj, index)
    if isinstance(obj, Deployment):
        return _replicas(first_replica_set(obj), index)
    if isinstance(obj, DaemonSet):
        return _daemon_pods(obj, index, nodes)
    if isinstance(obj, Job):
        return _job_pods(obj, index)
    return []


def _daemon_pods(d: DaemonSet, index: int, nodes: Iterable[Node]) -> list[NewPod]:
    d = clone(d)
    d.ID = d.ID or new_id()
    hash_ = ds_.revision_hash(d)
    tolerations = ds_.daemon_tolerations(d.Spec.Template.Spec)
    names = sorted(nodelabels.node_name(n) for n in nodes if ds_.eligibility(d, n, tolerations)[0])
    out = []
    for i, name in enumerate(names):
        t = ds_.new_pod(d, name, hash_)
        t.ID = new_id()
        normalize_owners(t)
        admit_tolerations(t)
        out.append(NewPod(t, index, i + 1, len(names)))
    return out


def _job_pods(job: Job, index: int) -> list[NewPod]:
    job = clone(job)
    job.ID = job.ID or new_id()
    count = jobs_.wanted_active(job, 0, 0)
    indexed = job.Spec.CompletionMode == "Indexed"
    out = []
    for i in range(count):
        t = jobs_.new_pod(job, i if indexed else None)
        t.ID = new_id()
        normalize_owners(t)
        admit_tolerations(t)
        out.append(NewPod(t, index, i + 1, count))
    return out


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
        admit_tolerations(t)
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
