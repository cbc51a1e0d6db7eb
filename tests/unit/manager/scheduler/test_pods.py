"""Pods in the one scheduler: ``nodeSelector`` against the node's Kubernetes labels, ``nodeName``
(a preassigned node still checked, a missing one waited for), cordoned nodes, one capacity shared
with Swarm tasks, each bare Pod placed on its own, and the explanation in kube-scheduler's words
(Swarm tasks keep SwarmKit's, which ``test_scheduler.py`` checks)."""

from __future__ import annotations

from shoal.api.ids import new_id
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.taints import NO_SCHEDULE
from shoal.api.types import (
    ContainerSpec,
    Node,
    ResourceRequirements,
    Resources,
    Taint,
    Task,
    TaskSpec,
    TaskStatus,
    clone,
)
from shoal.manager.scheduler.explain import NO_NODES, histogram, kube_unschedulable
from shoal.manager.scheduler.filters import NodeInfo, NodeSelectorFilter, Pipeline

from ...helpers import CPU, GiB, make_node, make_task
from .test_scheduler import current, setup

CONTROL_PLANE = Taint(Key="node-role.kubernetes.io/control-plane", Effect=NO_SCHEDULE)


def pod(name: str = "web", *, namespace: str = "default", cpus: float = 0, memory: int = 0,
        selector: dict[str, str] | None = None, node_name: str = "", node_id: str = "") -> Task:
    """A Pod's task as the Kubernetes door makes it: a namespace, a name, its summed requests as
    reservations, pending (the allocator has been)."""
    res = None
    if cpus or memory:
        res = ResourceRequirements(Reservations=Resources(NanoCPUs=int(cpus * CPU), MemoryBytes=memory))
    return Task(ID=new_id(), Name=name, Namespace=namespace,
                Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="nginx")], Resources=res,
                              Pod=PodSpecExtra(NodeSelector=selector, NodeName=node_name)),
                NodeID=node_id, Status=TaskStatus(State=TaskState.PENDING))


def tainted(hostname: str, *taints: Taint, **kw: object) -> Node:
    n = make_node(hostname, **kw)  # type: ignore[arg-type]
    n.Spec.Taints = list(taints) or None
    return n


# ---------------------------------------------------------------- nodeSelector


def test_the_selector_filter_matches_the_kubernetes_labels() -> None:
    f = NodeSelectorFilter()
    assert not f.set_task(pod())  # no selector: it does not apply
    assert not f.set_task(make_task())  # nor to a Swarm task
    assert f.set_task(pod(selector={"kubernetes.io/hostname": "node-a", "disk": "ssd"}))
    assert f.check(NodeInfo.of(make_node("Node-A", labels={"disk": "ssd"})))  # the hostname in lower case
    assert not f.check(NodeInfo.of(make_node("node-a")))
    assert not f.check(NodeInfo.of(make_node("node-b", labels={"disk": "ssd"})))
    assert f.set_task(pod(selector={"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}))
    assert f.check(NodeInfo.of(make_node(arch="x86_64")))
    assert not f.check(NodeInfo.of(make_node(arch="aarch64")))
    assert f.set_task(pod(selector={"node-role.kubernetes.io/control-plane": ""}))
    assert f.check(NodeInfo.of(make_node(role="manager")))
    assert not f.check(NodeInfo.of(make_node(role="worker")))


async def test_a_pod_goes_to_the_node_its_selector_names() -> None:
    a, b = make_node("a", labels={"disk": "hdd"}), make_node("b", labels={"disk": "ssd"})
    store, sched = await setup(a, b)
    t = await store.create(pod(selector={"disk": "ssd"}))
    await sched.settle()
    assert current(store, t).NodeID == b.ID
    by_host = await store.create(pod("two", selector={"kubernetes.io/hostname": "a"}))
    await sched.settle()
    assert current(store, by_host).NodeID == a.ID


async def test_a_selector_no_node_matches_is_explained_and_retried_when_a_label_comes() -> None:
    a = make_node("a")
    store, sched = await setup(a, make_node("b"))
    t = await store.create(pod(selector={"disk": "ssd"}))
    await sched.settle()
    got = current(store, t)
    assert got.Status.State == TaskState.PENDING
    assert got.Status.Err == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
    labelled = clone(store.get(Node, a.ID))
    labelled.Spec.Labels = {"disk": "ssd"}
    await store.update(labelled)
    await sched.settle()
    got = current(store, t)
    assert got.Status.State == TaskState.ASSIGNED and got.NodeID == a.ID and got.Status.Err == ""


# ---------------------------------------------------------------- nodeName


async def test_a_pod_with_a_node_name_goes_there_and_is_still_checked() -> None:
    a, b = make_node("a", memory=1 * GiB), make_node("b")
    store, sched = await setup(a, b)
    t = await store.create(pod(node_name="a", node_id=a.ID))
    await sched.settle()
    assert current(store, t).NodeID == a.ID and current(store, t).Status.State == TaskState.ASSIGNED
    # Too big for its node: it waits there (kubelet admission would refuse it), never goes to b.
    big = await store.create(pod("big", memory=2 * GiB, node_name="a", node_id=a.ID))
    await sched.settle()
    got = current(store, big)
    assert got.Status.State == TaskState.PENDING and got.NodeID == a.ID
    assert got.Status.Err == (
        "0/1 nodes are available: 1 Insufficient memory. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")


async def test_a_pod_naming_no_node_waits_until_that_node_joins() -> None:
    store, sched = await setup(make_node("a"))
    # The door ties it to the name when no node has it.
    t = await store.create(pod(node_name="later", node_id="later"))
    await sched.settle()
    got = current(store, t)
    assert got.Status.State == TaskState.PENDING and got.Status.Err == 'nodes "later" not found'
    n = await store.create(make_node("Later"))
    await sched.settle()  # the node's arrival kicked it
    got = current(store, t)
    assert got.Status.State == TaskState.ASSIGNED and got.NodeID == n.ID


async def test_a_swarm_global_task_on_a_missing_node_keeps_swarms_words() -> None:
    store, sched = await setup(make_node("a"))
    t = await store.create(make_task(node_id="gone"))
    await sched.settle()
    assert current(store, t).Status.Err == "node not found"


# ---------------------------------------------------------------- cordon, capacity, groups


async def test_paused_and_drained_nodes_refuse_pods() -> None:
    store, sched = await setup(make_node("p", availability="pause"), make_node("d", availability="drain"),
                               make_node("down", state="down"))
    t = await store.create(pod())
    await sched.settle()
    assert current(store, t).Status.Err == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
        "2 node(s) were unschedulable. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


async def test_pods_and_swarm_tasks_share_one_capacity() -> None:
    n = make_node("n", cpus=2, memory=4 * GiB)
    store, sched = await setup(n)
    svc = await store.create(make_task("svc", memory=3 * GiB))
    await sched.settle()
    assert current(store, svc).NodeID == n.ID
    p = await store.create(pod(memory=2 * GiB))
    await sched.settle()
    got = current(store, p)
    assert got.Status.State == TaskState.PENDING
    assert got.Status.Err.startswith("0/1 nodes are available: 1 Insufficient memory.")
    # And the other way: a Pod's request keeps a service's task off.
    small = await store.create(pod("small", cpus=1.5))
    await sched.settle()
    assert current(store, small).NodeID == n.ID
    svc2 = await store.create(make_task("svc2", cpus=1))
    await sched.settle()
    assert current(store, svc2).Status.Err == "no suitable node (insufficient resources on 1 node)"
    assert sched.nodes[n.ID].available_memory == 1 * GiB
    assert sched.nodes[n.ID].available_cpus == int(0.5 * CPU)


async def test_pods_made_by_hand_are_placed_each_by_its_own_spec() -> None:
    # Bare Pods have no owner: they must not be grouped as identical tasks.
    a, b = make_node("a", labels={"disk": "ssd"}), make_node("b", memory=16 * GiB)
    store, sched = await setup(a, b)
    p1 = await store.create(pod("p1", selector={"disk": "ssd"}))
    p2 = await store.create(pod("p2", memory=12 * GiB))
    p3 = await store.create(pod("p3", namespace="other", selector={"kubernetes.io/hostname": "b"}))
    await sched.settle()
    assert (current(store, p1).NodeID, current(store, p2).NodeID, current(store, p3).NodeID) == (a.ID, b.ID, b.ID)


# ---------------------------------------------------------------- the words


def test_the_seed_example_word_for_word() -> None:
    nodes = [NodeInfo.of(make_node("w", memory=1 * GiB)),
             NodeInfo.of(tainted("m1", CONTROL_PLANE, role="manager")),
             NodeInfo.of(tainted("m2", CONTROL_PLANE, role="manager"))]
    p = Pipeline()
    p.set_task(pod(memory=2 * GiB))
    assert kube_unschedulable(p, nodes) == (
        "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 1 No preemption "
        "victims found for incoming pod, 2 Preemption is not helpful for scheduling.")


def test_a_node_short_of_both_gives_both_reasons_and_counts_sort_as_strings() -> None:
    nodes = [NodeInfo.of(make_node(f"n{i}", cpus=1, memory=1 * GiB)) for i in range(10)]
    nodes.append(NodeInfo.of(make_node("big", cpus=8, memory=1 * GiB)))
    nodes.extend(NodeInfo.of(make_node(f"c{i}", availability="pause")) for i in range(2))
    p = Pipeline(taints=False)
    p.set_task(pod(cpus=2, memory=2 * GiB))
    # "10 Insufficient cpu" sorts before "11 Insufficient memory" and "2 node(s) …" as strings.
    assert kube_unschedulable(p, nodes) == (
        "0/13 nodes are available: 10 Insufficient cpu, 11 Insufficient memory, 2 node(s) were unschedulable. "
        "preemption: 0/13 nodes are available: 11 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling.")


def test_kube_scheduler_order_names_a_nodes_reason() -> None:
    # Cordoned and too small: the cordon speaks (NodeUnschedulable runs before NodeResourcesFit);
    # tainted and not matching: the taint speaks (TaintToleration before NodeAffinity).
    nodes = [NodeInfo.of(make_node("c", availability="pause", memory=1 * GiB)),
             NodeInfo.of(tainted("t", Taint(Key="dedicated", Value="gpu", Effect=NO_SCHEDULE)))]
    p = Pipeline()
    p.set_task(pod(memory=2 * GiB, selector={"disk": "ssd"}))
    assert kube_unschedulable(p, nodes) == (
        "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
        "1 node(s) were unschedulable. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")


async def test_no_nodes_in_kubernetes_words() -> None:
    store, sched = await setup()
    t = await store.create(pod())
    await sched.settle()
    assert current(store, t).Status.Err == NO_NODES == "no nodes available to schedule pods"


def test_histogram() -> None:
    from collections import Counter
    assert histogram(Counter({"b": 1, "a": 1, "z": 10})) == "1 a, 1 b, 10 z"


async def test_each_failed_attempt_of_a_pod_is_told_and_swarm_tasks_are_not() -> None:
    n = make_node("n", memory=1 * GiB)
    store, sched = await setup(n)
    heard: list[tuple[str, str]] = []
    sched.on_unschedulable = lambda t, err: heard.append((t.Name, err))
    await store.create(make_task(memory=2 * GiB))
    p = await store.create(pod(memory=2 * GiB))
    await sched.settle()
    assert [name for name, _ in heard] == ["web"]
    v = current(store, p).Version.Index
    grown = clone(store.get(Node, n.ID))
    grown.Description.Resources.NanoCPUs += CPU  # a change that frees no memory: tried again, fails again
    await store.update(grown)
    await sched.settle()
    assert [name for name, _ in heard] == ["web", "web"] and heard[0][1] == heard[1][1]
    assert current(store, p).Version.Index == v  # the same words are not written again
