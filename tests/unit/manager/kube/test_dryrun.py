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
    Deployment,
    DeploymentSpec,
    LabelSelectorSpec,
    Node,
    PodTemplate,
    ReplicaSet,
    ReplicaSetSpec,
    Task,
    TaskSpec,
    clone,
)
from shoal.manager.kube import workloads as wl
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
