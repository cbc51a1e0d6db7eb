"""Taints and tolerations in the scheduler: the taint filter (NoSchedule and NoExecute keep a task off
unless tolerated; SwarmKit-style words for the pipeline, kube-scheduler's per node), the
PreferNoSchedule score through placement, the scheduler keeping count of tainted nodes and retrying
when a taint goes, preassigned tasks, and the dry run. Without taints nothing is added to the
pipeline, so Swarm's placement and words stay as they were."""

from __future__ import annotations

from collections import Counter

from shoal.api.states import TaskState
from shoal.api.taints import NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE
from shoal.api.types import (
    ContainerSpec,
    Node,
    Placement,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    Taint,
    Task,
    TaskSpec,
    Toleration,
    clone,
)
from shoal.manager.control import ControlAPI
from shoal.manager.scheduler.filters import (
    FILTERS,
    NodeInfo,
    Pipeline,
    PreferNoScheduleScorer,
    TaintFilter,
)
from shoal.manager.scheduler.placement import GroupPlacer

from ...helpers import make_node, make_task, memory_store
from .test_scheduler import current, setup

GPU = Taint(Key="dedicated", Value="gpu", Effect=NO_SCHEDULE)
DRAINING = Taint(Key="node.kubernetes.io/unreachable", Effect=NO_EXECUTE)
SPOT = Taint(Key="spot", Value="true", Effect=PREFER_NO_SCHEDULE)
OLD = Taint(Key="old", Effect=PREFER_NO_SCHEDULE)


def tainted(hostname: str, *taints: Taint, **kw: object) -> Node:
    n = make_node(hostname, **kw)  # type: ignore[arg-type]
    n.Spec.Taints = list(taints) or None
    return n


def tolerating(t: Task, *tolerations: Toleration) -> Task:
    p = t.Spec.Placement or Placement()
    p.Tolerations = list(tolerations)
    t.Spec.Placement = p
    return t


def info(hostname: str, *taints: Taint, **kw: object) -> NodeInfo:
    return NodeInfo.of(tainted(hostname, *taints, **kw))


def tol(key: str, value: str = "", effect: str = "") -> Toleration:
    return Toleration(Key=key, Operator="Equal" if value else "Exists", Value=value, Effect=effect)


# ---------------------------------------------------------------- the filter


def test_taint_filter_keeps_tasks_off_untolerated_noschedule_and_noexecute_taints() -> None:
    f = TaintFilter()
    assert f.set_task(make_task())  # applies to a task without tolerations too
    assert f.check(info("plain"))
    assert f.check(info("spot", SPOT))  # PreferNoSchedule never keeps a task off
    assert not f.check(info("gpu", GPU))
    assert not f.check(info("gone", DRAINING))
    f.set_task(tolerating(make_task(), tol("dedicated", "gpu")))
    assert f.check(info("gpu", GPU))
    assert not f.check(info("gpu+gone", GPU, DRAINING))
    f.set_task(tolerating(make_task(), Toleration(Operator="Exists")))  # tolerates everything
    assert f.check(info("gpu+gone", GPU, DRAINING))


def test_taint_filter_words() -> None:
    f = TaintFilter()
    assert f.explain(1) == "untolerated taint on 1 node"
    assert f.explain(3) == "untolerated taint on 3 nodes"
    assert f.reason == "untolerated taint"
    f.set_task(tolerating(make_task(), tol("dedicated")))
    # kube-scheduler's words name the first taint not tolerated, per node.
    assert f.kube_reason(info("n", SPOT, GPU, DRAINING)) == (
        "node(s) had untolerated taint {node.kubernetes.io/unreachable: }")
    f.set_task(make_task())
    assert f.kube_reason(info("n", GPU)) == "node(s) had untolerated taint {dedicated: gpu}"
    assert f.kube_reason(info("n", SPOT)) == ""


def test_the_pipeline_leaves_taints_out_when_no_node_has_any() -> None:
    swarm = Pipeline(taints=False)
    assert [f.name for f in swarm.filters] == [n for n in FILTERS if n != "taints"]
    assert swarm.scorers == []
    swarm.set_task(tolerating(make_task(), tol("dedicated")))
    assert swarm.scoring == [] and "taints" not in [f.name for f in swarm.active]
    assert swarm.penalty(info("n")) == 0
    full = Pipeline()
    assert [f.name for f in full.filters] == list(FILTERS)
    assert [f.name for f in full.filters][:2] == ["ready", "taints"]


def test_the_pipeline_counts_and_explains_taints_with_the_others() -> None:
    p = Pipeline()
    p.set_task(make_task(cpus=1))
    nodes = [info("down", GPU, state="down"),  # ready is checked first
             info("g1", GPU), info("g2", GPU, cpus=0.5),  # taints before resources
             info("small", cpus=0.5), info("ok", SPOT)]
    assert [p.process(n) for n in nodes] == [False, False, False, False, True]
    assert p.failures == {"ready": 1, "taints": 2, "resources": 1}
    assert p.explain() == ("untolerated taint on 2 nodes; 1 node not available for new tasks; "
                           "insufficient resources on 1 node")


def test_prefer_no_schedule_penalty() -> None:
    s = PreferNoScheduleScorer()
    assert s.set_task(make_task())
    assert [s.penalty(info("n", *ts)) for ts in ((), (GPU,), (SPOT,), (SPOT, OLD))] == [0, 0, 1, 2]
    s.set_task(tolerating(make_task(), tol("spot", effect=PREFER_NO_SCHEDULE)))
    assert s.penalty(info("n", SPOT, OLD)) == 1


# ---------------------------------------------------------------- placement


def place(nodes: list[Node], n: int, *tolerations: Toleration, now: float = 0.0,
          infos: dict[str, NodeInfo] | None = None) -> Counter[str]:
    infos = infos if infos is not None else {x.ID: NodeInfo.of(x) for x in nodes}
    tasks = [tolerating(make_task("web", slot=i + 1), *tolerations) for i in range(n)]
    pipeline = Pipeline(taints=any(x.Spec.Taints for x in nodes))
    pipeline.set_task(tasks[0])
    placed = GroupPlacer(infos, pipeline, tasks, now=now).place()
    return Counter(ni.node.Description.Hostname for _, ni in placed)


def test_a_group_keeps_off_tainted_nodes_unless_it_tolerates_them() -> None:
    nodes = [tainted("gpu1", GPU), tainted("gpu2", GPU), tainted("cpu1"), tainted("gone", DRAINING)]
    assert place(nodes, 4) == {"cpu1": 4}
    assert place(nodes, 6, tol("dedicated", "gpu")) == {"gpu1": 2, "gpu2": 2, "cpu1": 2}
    assert place(nodes, 8, Toleration(Operator="Exists")) == {"gpu1": 2, "gpu2": 2, "cpu1": 2, "gone": 2}


def test_prefer_no_schedule_nodes_come_after_the_others_fewest_untolerated_first() -> None:
    nodes = [tainted("spot", SPOT), tainted("old+spot", SPOT, OLD), tainted("plain")]
    # Spread gives way: every task goes to the node without such taints while it takes them.
    assert place(nodes, 3) == {"plain": 3}
    # When it cannot take them all, the node with fewer untolerated PreferNoSchedule taints is next.
    limited = [tainted("spot", SPOT, cpus=1), tainted("old+spot", SPOT, OLD, cpus=1), tainted("plain", cpus=1)]
    infos = {x.ID: NodeInfo.of(x) for x in limited}
    tasks = [make_task("web", slot=i + 1, cpus=1) for i in range(2)]
    pipeline = Pipeline()
    pipeline.set_task(tasks[0])
    placed = GroupPlacer(infos, pipeline, tasks).place()
    assert [ni.node.Description.Hostname for _, ni in placed] == ["plain", "spot"]
    # A task that tolerates spot sees "spot" as untainted and spreads over it and "plain".
    assert place(nodes, 4, tol("spot", "true", PREFER_NO_SCHEDULE)) == {"plain": 2, "spot": 2}


def test_a_node_where_the_service_keeps_failing_still_comes_after_a_preferred_against_one() -> None:
    nodes = [tainted("spot", SPOT), tainted("plain")]
    infos = {x.ID: NodeInfo.of(x) for x in nodes}
    plain = next(ni for ni in infos.values() if ni.node.Description.Hostname == "plain")
    for _ in range(5):
        plain.task_failed(make_task("web", state=TaskState.FAILED, node_id=plain.node.ID), 100.0)
    assert place(nodes, 2, now=150.0, infos=infos) == {"spot": 2}


def test_without_taints_placement_is_as_before() -> None:
    nodes = [tainted(h, labels={"dc": h[0]}) for h in ("a1", "a2", "b1", "c1", "c2", "c3")]
    runs = []
    for with_taints, tolerations in ((False, []), (True, []), (True, [tol("anything")])):
        infos = {x.ID: NodeInfo.of(x) for x in nodes}
        tasks = [tolerating(make_task("web", slot=i + 1, spread=["node.labels.dc"]), *tolerations)
                 for i in range(10)]
        pipeline = Pipeline(taints=with_taints)
        pipeline.set_task(tasks[0])
        runs.append([ni.node.ID for _, ni in GroupPlacer(infos, pipeline, tasks).place()])
    assert runs[0] == runs[1] == runs[2] and len(runs[0]) == 10


# ---------------------------------------------------------------- the scheduler


async def test_the_scheduler_counts_tainted_nodes() -> None:
    gpu, plain = tainted("gpu", GPU), tainted("plain")
    store, sched = await setup(gpu, plain)
    assert sched.tainted == 1
    other = await store.create(tainted("spot", SPOT))
    assert sched.tainted == 2
    untainted = clone(store.get(Node, gpu.ID))
    untainted.Spec.Taints = None
    await store.update(untainted)
    assert sched.tainted == 1
    now_tainted = clone(store.get(Node, plain.ID))
    now_tainted.Spec.Taints = [GPU]
    await store.update(now_tainted)
    relabelled = clone(store.get(Node, plain.ID))
    relabelled.Spec.Labels = {"x": "y"}
    await store.update(relabelled)  # still tainted: counted once
    assert sched.tainted == 2
    await store.delete(store.get(Node, other.ID))
    assert sched.tainted == 1


async def test_a_task_waits_for_its_taint_to_go() -> None:
    n = tainted("gpu", GPU)
    store, sched = await setup(n)
    t = await store.create(make_task("web"))
    await sched.settle()
    got = current(store, t)
    assert got.Status.State == TaskState.PENDING
    assert got.Status.Err == "no suitable node (untolerated taint on 1 node)"
    untainted = clone(store.get(Node, n.ID))
    untainted.Spec.Taints = None
    await store.update(untainted)
    await sched.settle()  # the node change kicked the scheduler
    got = current(store, t)
    assert got.Status.State == TaskState.ASSIGNED and got.NodeID == n.ID and got.Status.Err == ""


async def test_the_scheduler_places_tolerating_tasks_on_tainted_nodes() -> None:
    gpu, plain = tainted("gpu", GPU), tainted("plain")
    store, sched = await setup(gpu, plain)
    ts = [await store.create(tolerating(make_task("ml", slot=i + 1), tol("dedicated", "gpu")))
          for i in range(4)]
    others = [await store.create(make_task("web", slot=i + 1)) for i in range(2)]
    await sched.settle()
    assert Counter(current(store, t).NodeID for t in ts) == {gpu.ID: 2, plain.ID: 2}
    assert {current(store, t).NodeID for t in others} == {plain.ID}


async def test_a_preassigned_task_on_a_tainted_node_gets_the_bare_explanation() -> None:
    n = tainted("gpu", GPU)
    store, sched = await setup(n)
    t = await store.create(make_task("global", slot=0, node_id=n.ID))
    ok = await store.create(tolerating(make_task("global2", slot=0, node_id=n.ID), tol("dedicated")))
    await sched.settle()
    assert current(store, t).Status.Err == "untolerated taint on 1 node"
    assert current(store, ok).Status.State == TaskState.ASSIGNED


# ---------------------------------------------------------------- the dry run


def spec(replicas: int, *tolerations: Toleration) -> ServiceSpec:
    return ServiceSpec(Name="web", Mode=ServiceMode(Replicated=ReplicatedService(Replicas=replicas)),
                       TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="busybox")],
                                             Placement=Placement(Tolerations=list(tolerations) or None)))


async def test_dry_run_explains_taints() -> None:
    store = await memory_store()
    for n in (tainted("gpu", GPU), tainted("gone", DRAINING), tainted("spot", SPOT), tainted("plain")):
        await store.create(n)
    api = ControlAPI(store)
    p = api.dry_run(spec(4))
    assert {n.Hostname: (n.Tasks, n.Rejected) for n in p.Nodes} == {
        "gone": (0, "untolerated taint"), "gpu": (0, "untolerated taint"), "plain": (4, ""), "spot": (0, "")}
    assert (p.Tasks, p.Placed, p.Err) == (4, 4, "")
    p = api.dry_run(spec(4, tol("dedicated", "gpu")))
    assert {n.Hostname: n.Tasks for n in p.Nodes} == {"gone": 0, "gpu": 2, "plain": 2, "spot": 0}

    store = await memory_store()
    await store.create(tainted("gpu", GPU))
    await store.create(tainted("gone", DRAINING))
    p = ControlAPI(store).dry_run(spec(2))
    assert (p.Placed, p.Err) == (0, "no suitable node (untolerated taint on 2 nodes)")
