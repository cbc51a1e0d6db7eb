"""The Pods a manifest's objects would make (``manager/kube/dryrun.py``), as their controllers make
them (the same ``pod-template-hash``, labels and spec as the Deployment and ReplicaSet controllers'
Pods), and ``KubeObjects.plan_pods``: namespaces checked as a create checks them, nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from shoal.api.errors import NotFound, PermissionDenied
from shoal.api.kube import Namespace
from shoal.api.pod import PodSpecExtra
from shoal.api.types import (
    ConfigSpec,
    ContainerSpec,
    DaemonSet,
    DaemonSetSpec,
    Deployment,
    DeploymentSpec,
    Job,
    JobSpec,
    LabelSelectorSpec,
    Node,
    PodTemplate,
    ReplicaSet,
    ReplicaSetSpec,
    Taint,
    Task,
    TaskSpec,
    clone,
)
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.daemonsets import target_node
from shoal.manager.kube.deployments import DeploymentController
from shoal.manager.kube.dryrun import first_replica_set, pods_of
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.kube.replicasets import ReplicaSetController
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

from ...helpers import FakeClock, make_node


def template() -> PodTemplate:
    return PodTemplate(Labels={"app": "web"}, Spec=TaskSpec(
        Containers=[ContainerSpec(Name="web", Image="nginx")], Pod=PodSpecExtra(RestartPolicy="Always")))


def deployment(replicas: int = 3, namespace: str = "default") -> Deployment:
    return Deployment(ID="", Name="web", Namespace=namespace, Spec=DeploymentSpec(
        Replicas=replicas, Selector=LabelSelectorSpec(MatchLabels={"app": "web"}), Template=template()))


def pod(name: str = "db", namespace: str = "default", node_name: str = "") -> Task:
    return Task(ID="", Name=name, Namespace=namespace, Spec=TaskSpec(
        Containers=[ContainerSpec(Name="db", Image="postgres")], Pod=PodSpecExtra(NodeName=node_name)))


@pytest.fixture
async def kube() -> AsyncIterator[KubeObjects]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    k = KubeObjects(store, ChangeLog(store, capacity=1000))
    await k.create(Namespace(ID="", Name="default"))
    yield k
    k.close()


async def test_a_deployments_pods_are_the_controllers(kube: KubeObjects) -> None:
    d = deployment()
    planned = pods_of(d, 4)
    assert [(p.index, p.replica, p.replicas) for p in planned] == [(4, 1, 3), (4, 2, 3), (4, 3, 3)]
    assert len({p.task.ID for p in planned}) == 3
    # The controllers, for real: the same ReplicaSet name, and Pods with the same labels and spec.
    clock = FakeClock(1_800_000_000.0)
    rsc, dc = ReplicaSetController(kube.store, kube, clock), DeploymentController(kube.store, kube, clock)
    rsc.seed()
    dc.seed()
    try:
        await kube.create(clone(d))
        for _ in range(10):
            await dc.settle()
            await rsc.settle()
        (rs,) = kube.list("replicasets", "default")
        made = kube.list("tasks", "default")
    finally:
        await rsc.stop()
        await dc.stop()
    assert rs.Name == first_replica_set(d).Name == f"web-{wl.template_hash(d.Spec.Template)}"
    assert len(made) == 3
    p = planned[0].task
    for t in made:  # each Pod's hostname is its own (random) name
        assert (t.Labels, t.Namespace, msgspec.structs.replace(t.Spec, Hostname="")) == (
            p.Labels, p.Namespace, msgspec.structs.replace(p.Spec, Hostname=""))


def test_a_replica_set_a_pod_and_other_kinds() -> None:
    rs = ReplicaSet(ID="", Name="front", Namespace="default", Spec=ReplicaSetSpec(
        Replicas=2, Selector=LabelSelectorSpec(MatchLabels={"app": "web"}), Template=template()))
    planned = pods_of(rs, 1)
    assert [(p.index, p.replica, p.replicas, p.task.GenerateName) for p in planned] == [
        (1, 1, 2, "front-"), (1, 2, 2, "front-")]
    assert planned[0].task.Labels == {"app": "web"}  # no hash: a ReplicaSet's own template
    n = make_node("Worker-1")
    (tied,) = pods_of(pod(node_name="worker-1"), 0, [n])
    assert tied.task.NodeID == n.ID and tied.task.ID
    (unknown,) = pods_of(pod(node_name="nowhere"), 0, [n])
    assert unknown.task.NodeID == "nowhere"
    assert pods_of(ReplicaSet(ID="", Name="none", Namespace="default", Spec=ReplicaSetSpec(Replicas=0)), 0) == []
    assert pods_of(Namespace(ID="", Name="x")) == [] and pods_of(ConfigSpec(Name="c")) == []


async def test_plan_pods_checks_namespaces_and_writes_nothing(kube: KubeObjects) -> None:
    await kube.store.create(make_node("n1"))
    revision = kube.store.revision
    plan = kube.plan_pods([deployment(2), pod()])
    assert [(p.Object, p.Replica, p.Node) for p in plan.Pods] == [(0, 1, "n1"), (0, 2, "n1"), (1, 1, "n1")]
    assert kube.store.revision == revision
    assert not kube.store.list(Task) and not kube.store.list(Deployment) and len(kube.store.list(Node)) == 1
    with pytest.raises(NotFound, match='namespaces "shop" not found'):
        kube.plan_pods([pod(namespace="shop")])
    plan = kube.plan_pods([pod(namespace="shop")], ["shop"])  # the manifest makes it
    assert [p.Namespace for p in plan.Pods] == ["shop"]
    await kube.create(Namespace(ID="", Name="old"))
    await kube.delete("namespaces", "", "old")
    with pytest.raises(PermissionDenied, match="being terminated"):
        kube.plan_pods([deployment(namespace="old")])


def test_replicas_count_as_their_replica_sets() -> None:
    """As after the create: the Pod's ``Owner`` is its ReplicaSet (the scheduler spreads by owner)."""
    planned = pods_of(deployment(2))
    assert planned[0].task.Owner.ID and planned[0].task.Owner.ID == planned[1].task.Owner.ID
    assert planned[0].task.Owner.Kind == "ReplicaSet"


def test_a_daemon_sets_pods_go_one_to_each_node_that_should_run_one() -> None:
    nodes = [make_node(f"worker-{i}") for i in range(3)]
    nodes[1].Spec.Taints = [Taint(Key="dedicated", Value="db", Effect="NoSchedule")]
    ds = DaemonSet(ID="", Name="agent", Namespace="default", Spec=DaemonSetSpec(
        Selector=LabelSelectorSpec(MatchLabels={"app": "web"}), Template=template()))
    planned = pods_of(ds, 2, nodes)
    assert [(p.index, p.replica, p.replicas) for p in planned] == [(2, 1, 2), (2, 2, 2)]
    # each tied to its node as the controller ties it; the tainted node is skipped
    assert [target_node(p.task) for p in planned] == ["worker-0", "worker-2"]


def test_a_jobs_pods_are_as_many_as_it_starts_with() -> None:
    tpl = template()
    tpl.Spec.Pod = PodSpecExtra(RestartPolicy="Never")
    job = Job(ID="", Name="pi", Namespace="default", Spec=JobSpec(Parallelism=2, Completions=5, Template=tpl,
                                                                  CompletionMode="Indexed"))
    planned = pods_of(job, 0)
    assert [(p.replica, p.replicas, p.task.GenerateName) for p in planned] == [(1, 2, "pi-0-"), (2, 2, "pi-1-")]
    job.Spec.Completions, job.Spec.CompletionMode = 1, "NonIndexed"
    assert len(pods_of(job, 0)) == 1
