"""Kubernetes' placement rules for Pods in the one scheduler (``podfilters.py``): node affinity
(required and preferred), inter-pod affinity and anti-affinity with a topology key, topology spread
constraints, and the ``FailedScheduling`` message each gives in kube-scheduler's words, counted per
node with the other filters' reasons."""

from __future__ import annotations

from shoal.api.affinity import (
    Affinity,
    LabelSelectorSpec,
    NodeAffinity,
    NodeSelectorTerm,
    PodAffinity,
    PodAffinityTerm,
    PreferredSchedulingTerm,
    Requirement,
    TopologySpreadConstraint,
    WeightedPodAffinityTerm,
)
from shoal.api.ids import new_id
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    Node,
    ObjectRef,
    Placement,
    ResourceRequirements,
    Resources,
    Taint,
    Task,
    TaskSpec,
    TaskStatus,
    Toleration,
    VersionRef,
    clone,
)
from shoal.manager.scheduler.filters import NodeInfo, Pipeline
from shoal.manager.scheduler.podfilters import (
    KUBE_AFFINITY,
    KUBE_ANTI_AFFINITY,
    KUBE_EXISTING_ANTI,
    KUBE_NODE_AFFINITY,
    KUBE_SPREAD,
    KUBE_SPREAD_LABEL,
    Cluster,
    InterPodAffinityFilter,
    NodeAffinityFilter,
    TopologySpreadFilter,
)

from ...helpers import GiB, make_node, make_task
from .test_scheduler import current, setup

HOST = "kubernetes.io/hostname"


def pod(name: str = "p", *, labels: dict[str, str] | None = None, affinity: Affinity | None = None,
        spread: list[TopologySpreadConstraint] | None = None, owner: str = "", memory: int = 0,
        tolerations: list[Toleration] | None = None) -> Task:
    res = ResourceRequirements(Reservations=Resources(MemoryBytes=memory)) if memory else None
    return Task(ID=new_id(), Name=name, Namespace="default", Labels=labels,
                Owner=ObjectRef(Kind="ReplicaSet", ID=owner) if owner else ObjectRef(),
                SpecVersion=VersionRef(Index=1) if owner else None,
                Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="nginx")], Resources=res,
                              Placement=Placement(Tolerations=tolerations) if tolerations else None,
                              Pod=PodSpecExtra(Affinity=affinity, TopologySpreadConstraints=spread)),
                Status=TaskStatus(State=TaskState.PENDING))


def expr(key: str, op: str, *values: str) -> Requirement:
    return Requirement(Key=key, Operator=op, Values=list(values) or None)


def required(*terms: NodeSelectorTerm) -> Affinity:
    return Affinity(NodeAffinity=NodeAffinity(Required=list(terms)))


def term(*exprs: Requirement) -> NodeSelectorTerm:
    return NodeSelectorTerm(MatchExpressions=list(exprs))


def selects(**labels: str) -> LabelSelectorSpec:
    return LabelSelectorSpec(MatchLabels=labels)


def anti(key: str = HOST, **labels: str) -> Affinity:
    return Affinity(PodAntiAffinity=PodAffinity(Required=[PodAffinityTerm(LabelSelector=selects(**labels),
                                                                          TopologyKey=key)]))


def near(key: str = HOST, **labels: str) -> Affinity:
    return Affinity(PodAffinity=PodAffinity(Required=[PodAffinityTerm(LabelSelector=selects(**labels),
                                                                      TopologyKey=key)]))


def not_helpful(n: int, total: int, reasons: str) -> str:
    return (f"0/{total} nodes are available: {reasons}. "
            f"preemption: 0/{total} nodes are available: {n} Preemption is not helpful for scheduling.")


# ---------------------------------------------------------------- the filters alone


def test_node_affinity_applies_only_to_pods_that_require_it() -> None:
    f = NodeAffinityFilter()
    assert not f.set_task(make_task()) and not f.set_task(pod())
    assert not f.set_task(pod(affinity=Affinity(NodeAffinity=NodeAffinity(Preferred=[]))))
    assert f.set_task(pod(affinity=required(term(expr("disk", "In", "ssd")), term(expr(HOST, "In", "b")))))
    assert f.check(NodeInfo.of(make_node("a", labels={"disk": "ssd"})))
    assert f.check(NodeInfo.of(make_node("B")))  # its Kubernetes name
    no = NodeInfo.of(make_node("c"))
    assert not f.check(no) and f.kube_reasons(no) == [KUBE_NODE_AFFINITY]
    by_name = NodeAffinityFilter()
    assert by_name.set_task(pod(affinity=required(NodeSelectorTerm(MatchFields=[expr("metadata.name", "NotIn", "c")]))))
    assert by_name.check(NodeInfo.of(make_node("a"))) and not by_name.check(no)


def test_the_cluster_wide_filters_never_apply_to_swarm_tasks() -> None:
    nodes = {n.ID: NodeInfo.of(n) for n in (make_node("a"), make_node("b"))}
    cluster = Cluster(nodes)
    swarm = make_task()
    assert not InterPodAffinityFilter(cluster).set_task(swarm)
    assert not TopologySpreadFilter(cluster).set_task(swarm)
    p = Pipeline(taints=False, cluster=cluster)
    p.set_task(swarm)
    assert p.scoring == [] and [f.name for f in p.active] == ["ready"]


def test_inter_pod_reasons_in_kube_schedulers_order() -> None:
    a, b = NodeInfo.of(make_node("a", labels={"zone": "z1"})), NodeInfo.of(make_node("b", labels={"zone": "z2"}))
    db = pod("db", labels={"app": "db"}, affinity=anti("zone", app="web"))
    db_task = Task(**{**{f: getattr(db, f) for f in db.__struct_fields__}, "NodeID": a.node.ID})
    a.add_task(db_task)
    assert a.anti_affinity_pods == 1
    cluster = Cluster({a.node.ID: a, b.node.ID: b})
    f = InterPodAffinityFilter(cluster)
    assert f.set_task(pod("web", labels={"app": "web"}))  # a placed Pod's anti-affinity applies to all
    assert f.kube_reasons(a) == [KUBE_EXISTING_ANTI] and f.check(b)
    assert f.set_task(pod("x", affinity=near("zone", app="db")))
    assert f.check(a) and f.kube_reasons(b) == [KUBE_AFFINITY]
    assert f.set_task(pod("y", affinity=anti("zone", app="db")))
    assert f.kube_reasons(a) == [KUBE_ANTI_AFFINITY] and f.check(b)
    a.remove_task(db_task)
    assert a.anti_affinity_pods == 0 and a.pods == {}


def test_spread_reasons() -> None:
    a = NodeInfo.of(make_node("a", labels={"zone": "z1"}))
    b = NodeInfo.of(make_node("b", labels={"zone": "z2"}))
    c = NodeInfo.of(make_node("c"))
    web = pod("w0", labels={"app": "web"})
    a.add_task(Task(**{**{f: getattr(web, f) for f in web.__struct_fields__}, "NodeID": a.node.ID}))
    f = TopologySpreadFilter(Cluster({n.node.ID: n for n in (a, b, c)}))
    spread = [TopologySpreadConstraint(MaxSkew=1, TopologyKey="zone", LabelSelector=selects(app="web"))]
    assert f.set_task(pod("w1", labels={"app": "web"}, spread=spread))
    assert f.kube_reasons(a) == [KUBE_SPREAD]  # 1 + 1 - 0 > 1
    assert f.check(b)
    assert f.kube_reasons(c) == [KUBE_SPREAD_LABEL]


# ---------------------------------------------------------------- in the scheduler


async def test_required_node_affinity_to_a_missing_label_stays_pending_in_kube_words() -> None:
    store, sched = await setup(make_node("a"), make_node("b", labels={"disk": "hdd"}))
    t = await store.create(pod(affinity=required(term(expr("disk", "In", "ssd")))))
    await sched.settle()
    got = current(store, t)
    assert got.Status.State == TaskState.PENDING
    assert got.Status.Err == not_helpful(2, 2, "2 node(s) didn't match Pod's node affinity/selector")


async def test_every_operator_places_on_the_right_node() -> None:
    a = make_node("a", labels={"gpus": "2", "zone": "z1"})
    b = make_node("b", labels={"gpus": "8", "zone": "z2"})
    store, sched = await setup(a, b)
    gt = await store.create(pod("gt", affinity=required(term(expr("gpus", "Gt", "4")))))
    notin = await store.create(pod("notin", affinity=required(term(expr("zone", "NotIn", "z2"),
                                                                    expr("gpus", "Exists")))))
    await sched.settle()
    assert current(store, gt).NodeID == b.ID and current(store, notin).NodeID == a.ID


async def test_preferred_node_affinity_picks_the_heavier_term() -> None:
    a, b = make_node("a", labels={"disk": "hdd"}), make_node("b", labels={"disk": "ssd"})
    store, sched = await setup(a, b)
    prefer = Affinity(NodeAffinity=NodeAffinity(Preferred=[
        PreferredSchedulingTerm(Weight=1, Preference=term(expr("disk", "In", "hdd"))),
        PreferredSchedulingTerm(Weight=50, Preference=term(expr("disk", "In", "ssd")))]))
    for i in range(3):
        t = await store.create(pod(f"p{i}", affinity=prefer))
        await sched.settle()
        assert current(store, t).NodeID == b.ID  # before spreading


async def test_anti_affinity_on_the_hostname_puts_one_replica_per_node() -> None:
    nodes = [make_node(h) for h in ("a", "b", "c")]
    store, sched = await setup(*nodes)
    rs = new_id()
    pods = [await store.create(pod(f"web-{i}", labels={"app": "web"}, owner=rs, affinity=anti(app="web")))
            for i in range(4)]
    await sched.settle()
    placed = [current(store, p) for p in pods]
    on = [p.NodeID for p in placed if p.Status.State == TaskState.ASSIGNED]
    assert sorted(on) == sorted(n.ID for n in nodes)
    left = [p for p in placed if p.Status.State == TaskState.PENDING]
    assert len(left) == 1
    assert left[0].Status.Err == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")


async def test_pod_affinity_follows_the_pods_it_selects_by_zone() -> None:
    a, b, c = (make_node("a", labels={"zone": "z1"}), make_node("b", labels={"zone": "z2"}),
               make_node("c", labels={"zone": "z2"}))
    store, sched = await setup(a, b, c)
    # The first of a series that selects itself goes anywhere.
    first = await store.create(pod("cache-0", labels={"app": "cache"}, affinity=near("zone", app="cache")))
    await sched.settle()
    zone = {a.ID: "z1", b.ID: "z2", c.ID: "z2"}[current(store, first).NodeID]
    for i in range(1, 4):
        t = await store.create(pod(f"cache-{i}", labels={"app": "cache"}, affinity=near("zone", app="cache")))
        await sched.settle()
        assert {a.ID: "z1", b.ID: "z2", c.ID: "z2"}[current(store, t).NodeID] == zone
    # Selecting Pods that are nowhere: pending.
    lonely = await store.create(pod("lonely", affinity=near("zone", app="db")))
    await sched.settle()
    assert current(store, lonely).Status.Err == not_helpful(3, 3, "3 node(s) didn't match pod affinity rules")


async def test_preferred_pod_anti_affinity_spreads_before_sharing() -> None:
    a, b = make_node("a"), make_node("b")
    store, sched = await setup(a, b)
    soft = Affinity(PodAntiAffinity=PodAffinity(Preferred=[WeightedPodAffinityTerm(
        Weight=100, Term=PodAffinityTerm(LabelSelector=selects(app="web"), TopologyKey=HOST))]))
    first = await store.create(pod("w0", labels={"app": "web"}, affinity=soft))
    await sched.settle()
    second = await store.create(pod("w1", labels={"app": "web"}, affinity=soft))
    await sched.settle()
    third = await store.create(pod("w2", labels={"app": "web"}, affinity=soft))
    await sched.settle()
    assert {current(store, first).NodeID, current(store, second).NodeID} == {a.ID, b.ID}
    assert current(store, third).Status.State == TaskState.ASSIGNED  # preferred only: it still goes


async def test_topology_spread_keeps_zones_within_max_skew() -> None:
    nodes = [make_node("a1", labels={"zone": "z1"}), make_node("a2", labels={"zone": "z1"}),
             make_node("b1", labels={"zone": "z2"}), make_node("nolabel")]
    store, sched = await setup(*nodes)
    zone_of = {n.ID: (n.Spec.Labels or {}).get("zone") for n in nodes}
    spread = [TopologySpreadConstraint(MaxSkew=1, TopologyKey="zone", LabelSelector=selects(app="web"))]
    rs = new_id()
    pods = [await store.create(pod(f"web-{i}", labels={"app": "web"}, owner=rs, spread=spread)) for i in range(6)]
    await sched.settle()
    zones = [zone_of[current(store, p).NodeID] for p in pods]
    assert zones.count("z1") == 3 and zones.count("z2") == 3


async def test_failed_scheduling_counts_each_nodes_first_reason() -> None:
    db = Taint(Key="dedicated", Value="db", Effect="NoSchedule")
    n1, n2, n3 = make_node("n1", memory=1 * GiB), make_node("n2"), make_node("n3")
    n2.Spec.Taints = [db]
    n3.Spec.Taints = [db]
    store, sched = await setup(n1, n2, n3)
    t = await store.create(pod(memory=2 * GiB))
    await sched.settle()
    assert current(store, t).Status.Err == (
        "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint {dedicated: db}. "
        "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling.")
    ok = await store.create(pod("ok", memory=2 * GiB, tolerations=[Toleration(Key="dedicated", Operator="Exists")]))
    await sched.settle()
    assert current(store, ok).NodeID in (n2.ID, n3.ID)


async def test_extended_resources_are_served_by_the_nodes_generic_resources() -> None:
    from shoal.api.generic import discrete

    gpu = make_node("gpu", generic=[discrete("gpu", 4)])
    store, sched = await setup(gpu, make_node("plain"))

    def wants(name: str, n: int) -> Task:
        t = pod(name)
        t.Spec.Resources = ResourceRequirements(Reservations=Resources(
            GenericResources=[discrete("example.com/gpu", n)]))
        return t

    a, b = await store.create(wants("a", 2)), await store.create(wants("b", 2))
    await sched.settle()
    assert current(store, a).NodeID == gpu.ID and current(store, b).NodeID == gpu.ID
    assert current(store, a).GenericResources == [discrete("gpu", 2)]
    c = await store.create(wants("c", 1))
    await sched.settle()
    assert current(store, c).Status.Err == (
        "0/2 nodes are available: 2 Insufficient example.com/gpu. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.")


async def test_a_pod_tolerating_the_unschedulable_taint_may_go_to_a_cordoned_node() -> None:
    cordoned = make_node("c", availability="pause")
    store, sched = await setup(cordoned)
    plain = await store.create(pod("plain"))
    ds = await store.create(pod("ds", tolerations=[Toleration(Key="node.kubernetes.io/unschedulable",
                                                              Operator="Exists", Effect="NoSchedule")]))
    await sched.settle()
    assert current(store, plain).Status.Err == not_helpful(1, 1, "1 node(s) were unschedulable")
    assert current(store, ds).NodeID == cordoned.ID
    swarm = await store.create(make_task())  # a Swarm task never goes to a paused node
    await sched.settle()
    assert current(store, swarm).Status.State == TaskState.PENDING


async def test_a_placed_pods_anti_affinity_keeps_new_pods_away_in_the_same_tick_and_after() -> None:
    a, b = make_node("a"), make_node("b")
    store, sched = await setup(a, b)
    loner = await store.create(pod("loner", labels={"app": "loner"}, affinity=anti(app="web")))
    webs = [await store.create(pod(f"web-{i}", labels={"app": "web"})) for i in range(3)]
    await sched.settle()  # one tick: the loner, then the web Pods, which keep off its node
    where = current(store, loner).NodeID
    assert all(current(store, w).NodeID not in ("", where) for w in webs)
    later = await store.create(pod("later", labels={"app": "web"}))
    await sched.settle()
    assert current(store, later).NodeID not in ("", where)


async def test_a_pod_being_deleted_no_longer_counts_in_the_spread() -> None:
    a, b = make_node("a"), make_node("b")
    store, sched = await setup(a, b)
    spread = [TopologySpreadConstraint(MaxSkew=1, TopologyKey=HOST, LabelSelector=selects(app="web"))]
    first = await store.create(pod("w0", labels={"app": "web"}, spread=spread))
    await sched.settle()
    on = current(store, first).NodeID
    # Still running there, but being deleted: the next Pod may go to the same node.
    marked = clone(current(store, first))
    marked.DeletionTimestamp = "2026-01-01T00:00:00Z"
    await store.update(marked)
    assert sched.nodes[on].pods[first.ID].DeletionTimestamp
    cordon_other = next(n for n in (a, b) if n.ID != on)
    got = store.get(Node, cordon_other.ID)
    assert got is not None
    other = clone(got)
    other.Spec.Availability = "pause"
    await store.update(other)
    second = await store.create(pod("w1", labels={"app": "web"}, spread=spread))
    await sched.settle()
    assert current(store, second).NodeID == on
