"""The Pods' dry run (``poddryrun.py``): each Pod placed after the ones before it, the node chosen, and
for every other node kube-scheduler's reasons (the first filter that fails in its order, several for
one node when both cpu and memory are short), the ``FailedScheduling`` message of a Pod that fits
nowhere, and a Pod tied to its node by ``nodeName``."""

from __future__ import annotations

from shoal.api.affinity import Affinity, LabelSelectorSpec, PodAffinity, PodAffinityTerm
from shoal.api.control import NodeVerdict
from shoal.api.generic import discrete
from shoal.api.ids import new_id
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    ObjectRef,
    Placement,
    ResourceRequirements,
    Resources,
    Taint,
    Task,
    TaskSpec,
    Toleration,
)
from shoal.manager.scheduler.poddryrun import KUBE_NODE_NAME, NewPod, plan_pods

from ...helpers import CPU, GiB, make_node, make_task

MiB = 1 << 20
TAINT = "node(s) had untolerated taint {dedicated: db}"
SELECTOR = "node(s) didn't match Pod's node affinity/selector"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"


def pod(name: str = "p", *, memory: int = 0, cpus: float = 0, selector: dict[str, str] | None = None,
        tolerations: list[Toleration] | None = None, labels: dict[str, str] | None = None,
        affinity: Affinity | None = None, node_name: str = "") -> Task:
    res = ResourceRequirements(Reservations=Resources(MemoryBytes=memory, NanoCPUs=int(cpus * CPU))) \
        if memory or cpus else None
    return Task(ID=new_id(), Name=name, Namespace="default", Labels=labels, Owner=ObjectRef(),
                Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="nginx")], Resources=res,
                              Placement=Placement(Tolerations=tolerations) if tolerations else None,
                              Pod=PodSpecExtra(NodeSelector=selector, Affinity=affinity, NodeName=node_name)))


def verdicts(p: object) -> dict[str, list[str]]:
    nodes: list[NodeVerdict] = p.Nodes  # type: ignore[attr-defined]
    return {v.Node: v.Reasons or [] for v in nodes}


def test_each_pod_sees_the_ones_before_it() -> None:
    nodes = [make_node("a", memory=1 * GiB), make_node("b", memory=1 * GiB)]
    pods = [NewPod(pod(memory=600 * MiB), 0, i + 1, 3) for i in range(3)]
    first, second, third = plan_pods(nodes, [], pods)
    assert verdicts(first) == {"a": [], "b": []}  # both pass (the tie goes by node ID)
    # The second Pod sees the first: no room left on its node.
    other = "b" if first.Node == "a" else "a"
    assert (second.Node, verdicts(second)) == (other, {first.Node: ["Insufficient memory"], other: []})
    assert (third.Node, verdicts(third)) == ("", {"a": ["Insufficient memory"], "b": ["Insufficient memory"]})
    assert third.Err == (f"0/2 nodes are available: 2 Insufficient memory. preemption: 0/2 nodes are available: "
                         f"2 {NO_VICTIMS}.")
    assert (third.Object, third.Replica, third.Replicas, third.Namespace) == (0, 3, 3, "default")
    assert not first.Err and not second.Err


def test_reasons_per_node_in_kube_schedulers_order() -> None:
    tainted = make_node("db1", labels={"disk": "ssd"})
    tainted.Spec.Taints = [Taint(Key="dedicated", Value="db", Effect="NoSchedule")]
    small = make_node("small", cpus=1, memory=1 * GiB, labels={"disk": "ssd"})
    plain = make_node("plain")
    cordoned = make_node("cordoned", availability="pause", labels={"disk": "ssd"})
    busy = make_node("busy", cpus=4, memory=4 * GiB, labels={"disk": "ssd"})
    nodes = [tainted, small, plain, cordoned, busy]
    running = make_task("svc", state=TaskState.RUNNING, node_id=busy.ID, cpus=3, memory=3 * GiB)
    (p,) = plan_pods(nodes, [running], [NewPod(pod(cpus=2, memory=2 * GiB, selector={"disk": "ssd"}), 0)])
    assert verdicts(p) == {
        "busy": ["Insufficient cpu", "Insufficient memory"],  # a Swarm task there counts
        "cordoned": ["node(s) were unschedulable"],
        "db1": [TAINT],
        "plain": [SELECTOR],
        "small": ["Insufficient cpu", "Insufficient memory"],
    }
    assert p.Node == "" and p.Err == (
        "0/5 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated "
        "taint {dedicated: db}, 1 node(s) were unschedulable, 2 Insufficient cpu, 2 Insufficient memory. "
        f"preemption: 0/5 nodes are available: 2 {NO_VICTIMS}, 3 {NOT_HELPFUL}.")
    # Tolerating the taint, the Pod goes to db1; the others keep their reasons.
    tol = [Toleration(Key="dedicated", Operator="Equal", Value="db", Effect="NoSchedule")]
    (p,) = plan_pods(nodes, [running], [NewPod(pod(cpus=2, memory=2 * GiB, selector={"disk": "ssd"},
                                                   tolerations=tol), 0)])
    assert p.Node == "db1" and verdicts(p)["db1"] == [] and verdicts(p)["plain"] == [SELECTOR]


def test_anti_affinity_counts_the_replicas_placed_before() -> None:
    nodes = [make_node("a"), make_node("b")]
    anti = Affinity(PodAntiAffinity=PodAffinity(Required=[PodAffinityTerm(
        LabelSelector=LabelSelectorSpec(MatchLabels={"app": "web"}), TopologyKey="kubernetes.io/hostname")]))
    pods = [NewPod(pod(labels={"app": "web"}, affinity=anti), 0, i + 1, 3) for i in range(3)]
    placed = plan_pods(nodes, [], pods)
    assert sorted(p.Node for p in placed[:2]) == ["a", "b"]
    assert verdicts(placed[2]) == {n: ["node(s) didn't match pod anti-affinity rules"] for n in ("a", "b")}
    assert placed[2].Err.startswith("0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.")


def test_a_pod_tied_to_its_node_by_name() -> None:
    a, b = make_node("a", memory=1 * GiB), make_node("b")
    tied = pod(memory=2 * GiB, node_name="a")
    tied.NodeID = a.ID
    (p,) = plan_pods([a, b], [], [NewPod(tied, 0)])
    assert verdicts(p) == {"a": ["Insufficient memory"], "b": [KUBE_NODE_NAME]}
    assert p.Node == "" and p.Err == (f"0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are "
                                      f"available: 1 {NO_VICTIMS}.")
    fits = pod(node_name="b")
    fits.NodeID = b.ID
    (p,) = plan_pods([a, b], [], [NewPod(fits, 0)])
    assert (p.Node, verdicts(p)) == ("b", {"a": [KUBE_NODE_NAME], "b": []})
    missing = pod(node_name="gone")
    missing.NodeID = "gone"
    (p,) = plan_pods([a, b], [], [NewPod(missing, 0)])
    assert (p.Node, p.Err) == ("", 'nodes "gone" not found')


def test_no_nodes_at_all() -> None:
    (p,) = plan_pods([], [], [NewPod(pod(), 0)])
    assert (p.Node, p.Nodes, p.Err) == ("", [], "no nodes available to schedule pods")


def test_extended_resources_run_out_replica_by_replica() -> None:
    nodes = [make_node("g", generic=[discrete("gpu", 3)]), make_node("plain")]
    asks = Resources(GenericResources=[discrete("example.com/gpu", 2)])

    def gpu_pod() -> Task:
        t = pod()
        t.Spec.Resources = ResourceRequirements(Reservations=asks)
        return t

    first, second = plan_pods(nodes, [], [NewPod(gpu_pod(), 0, i + 1, 2) for i in range(2)])
    assert (first.Node, verdicts(first)) == ("g", {"g": [], "plain": ["Insufficient example.com/gpu"]})
    # One GPU left on g: the second replica finds too few.
    assert verdicts(second) == {"g": ["Insufficient example.com/gpu"], "plain": ["Insufficient example.com/gpu"]}
    assert second.Err.startswith("0/2 nodes are available: 2 Insufficient example.com/gpu.")
