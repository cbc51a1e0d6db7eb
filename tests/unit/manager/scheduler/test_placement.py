"""Placement of a group of identical tasks: the tree of placement preferences (SwarmKit's
``scheduleNTasksOnSubtree``) with uneven groups, nodes missing the label, two levels, existing tasks,
max replicas per node and reservations; and spread within a leaf. Worked by hand in each test."""

from __future__ import annotations

from collections import Counter

from shoal.api.states import TaskState
from shoal.api.types import Node, Task
from shoal.manager.scheduler.filters import NodeInfo, Pipeline
from shoal.manager.scheduler.placement import GroupPlacer, spread_descriptors

from ...helpers import make_node, make_task


def infos(*nodes: Node, running: tuple[Task, ...] = ()) -> dict[str, NodeInfo]:
    out = {n.ID: NodeInfo.of(n) for n in nodes}
    for t in running:
        out[t.NodeID].add_task(t)
    return out


def dcs(**sizes: int) -> list[Node]:
    """``dcs(a=1, b=2)`` → nodes a1 (dc=a), b1, b2 (dc=b)."""
    return [make_node(f"{dc}{i + 1}", labels={"dc": dc}) for dc, n in sizes.items() for i in range(n)]


def place(nodes: dict[str, NodeInfo], n: int, **kw: object) -> Counter[str]:
    tasks = [make_task("web", slot=i + 1, **kw) for i in range(n)]  # type: ignore[arg-type]
    pipeline = Pipeline()
    pipeline.set_task(tasks[0])
    placed = GroupPlacer(nodes, pipeline, tasks).place()
    assert [t for t, _ in placed] == tasks[: len(placed)]  # in task order
    return Counter(ni.node.Description.Hostname for _, ni in placed)


def per_dc(c: Counter[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for host, k in c.items():
        out[host[0]] = out.get(host[0], 0) + k
    return out


def test_uneven_datacenters_get_equal_shares_then_spread_within() -> None:
    # 1, 2 and 5 nodes; 12 replicas: (0 + 12) / 3 = 4 per datacenter, whatever its size.
    c = place(infos(*dcs(a=1, b=2, c=5)), 12, spread=["node.labels.dc"])
    assert per_dc(c) == {"a": 4, "b": 4, "c": 4}
    assert c["a1"] == 4 and c["b1"] == c["b2"] == 2
    assert sorted(c[f"c{i}"] for i in range(1, 6)) == [0, 1, 1, 1, 1]


def test_the_remainder_goes_to_the_emptiest_branch_first_then_by_value() -> None:
    c = place(infos(*dcs(a=1, b=2, c=5)), 4, spread=["node.labels.dc"])
    assert per_dc(c) == {"a": 2, "b": 1, "c": 1}  # 4 = 3 x 1 + 1: the remainder to "a"
    nodes = dcs(a=1, b=2, c=5)
    existing = make_task("web", slot=9, state=TaskState.RUNNING, node_id=nodes[0].ID)  # one already in "a"
    c = place(infos(*nodes, running=(existing,)), 4, spread=["node.labels.dc"])
    assert per_dc(c) == {"b": 2, "c": 2}  # (1 + 4) / 3 = 1 r 2: b and c (fewest) get the remainder


def test_nodes_without_the_label_form_their_own_group() -> None:
    nodes = [*dcs(a=2, b=1), make_node("x1"), make_node("x2", labels={"rack": "7"})]
    c = place(infos(*nodes), 9, spread=["node.labels.dc"])
    assert per_dc(c) == {"a": 3, "b": 3, "x": 3}  # three branches: a, b and "" (x1, x2)
    assert c["x1"] + c["x2"] == 3 and {c["x1"], c["x2"]} == {1, 2}


def test_two_levels_region_then_zone() -> None:
    def node(host: str, region: str, zone: str) -> Node:
        return make_node(host, labels={"region": region, "zone": zone})

    nodes = [node("p1", "r1", "z1"), node("q1", "r1", "z2"), node("q2", "r1", "z2"), node("q3", "r1", "z2"),
             node("s1", "r2", "z3"), node("s2", "r2", "z3")]
    c = place(infos(*nodes), 8, spread=["node.labels.region", "node.labels.zone"])
    # 4 per region; in r1, 2 per zone: z1's one node takes 2, z2's three nodes 1, 1, 0; r2's z3: 2 and 2.
    assert c["p1"] == 2
    assert sorted([c["q1"], c["q2"], c["q3"]]) == [0, 1, 1]
    assert c["s1"] == c["s2"] == 2


def test_max_replicas_per_node_with_preferences_shares_out_again() -> None:
    # a's node takes 2 of its 4; b and c take 4 each; the 2 left are split between b (full) and c.
    c = place(infos(*dcs(a=1, b=2, c=5)), 12, spread=["node.labels.dc"], max_replicas=2)
    assert per_dc(c) == {"a": 2, "b": 4, "c": 6}
    assert max(c.values()) == 2


def test_max_replicas_per_node_leaves_the_rest_unplaced() -> None:
    c = place(infos(*dcs(a=1, b=2)), 8, spread=["node.labels.dc"], max_replicas=2)
    assert sum(c.values()) == 6 and set(c.values()) == {2}


def test_existing_tasks_count_in_the_split() -> None:
    nodes = dcs(a=1, b=1, c=1)
    running = tuple(make_task("web", slot=10 + i, state=TaskState.RUNNING, node_id=nodes[0].ID) for i in range(3))
    c = place(infos(*nodes, running=running), 3, spread=["node.labels.dc"])
    assert c == Counter({"b1": 2, "c1": 1})  # (3 + 3) / 3 = 2 each: b gets 2, c the last, a none


def test_a_branch_without_room_gives_its_share_to_the_others() -> None:
    nodes = dcs(a=2, b=2, c=2)
    small = [make_node(f"c{i}", labels={"dc": "c"}, cpus=1) for i in (3, 4)]
    c = place(infos(*(nodes[:4] + small)), 6, spread=["node.labels.dc"], cpus=2)
    assert per_dc(c) == {"a": 3, "b": 3}  # c's nodes have 1 CPU: insufficient resources


def test_constraints_leave_some_branches_empty() -> None:
    c = place(infos(*dcs(a=2, b=2, c=2)), 6, spread=["node.labels.dc"], constraints=["node.labels.dc!=c"])
    assert per_dc(c) == {"a": 3, "b": 3}


def test_engine_labels_and_ignored_descriptors() -> None:
    nodes = [make_node("e1", engine_labels={"disk": "ssd"}), make_node("e2", engine_labels={"disk": "ssd"}),
             make_node("e3", engine_labels={"disk": "hdd"})]
    c = place(infos(*nodes), 4, spread=["engine.labels.disk"])
    assert c["e3"] == 2 and c["e1"] + c["e2"] == 2
    # Only node.labels.* and engine.labels.* make a level (SwarmKit): the rest are ignored.
    assert spread_descriptors([{"Spread": {"SpreadDescriptor": "node.id"}}, {"Other": {}},
                               {"Spread": {"SpreadDescriptor": "Node.Labels.dc"}}]) == ["Node.Labels.dc"]
    c = place(infos(*nodes), 3, spread=["node.hostname"])
    assert sorted(c.values()) == [1, 1, 1]


def test_spread_within_a_leaf_breaks_ties_by_total_tasks() -> None:
    nodes = [make_node("n1"), make_node("n2"), make_node("n3")]
    busy = tuple(make_task("other", slot=i, state=TaskState.RUNNING, node_id=nodes[0].ID) for i in range(1, 4))
    c = place(infos(*nodes, running=busy), 2)
    assert c == Counter({"n2": 1, "n3": 1})


def test_placement_is_repeatable() -> None:
    nodes = dcs(a=1, b=2, c=5)
    first = place(infos(*nodes), 7, spread=["node.labels.dc"])
    assert all(place(infos(*nodes), 7, spread=["node.labels.dc"]) == first for _ in range(5))


def test_a_small_group_runs_the_filters_on_few_nodes() -> None:
    class Counting(Pipeline):
        calls = 0

        def process(self, n: NodeInfo) -> bool:
            Counting.calls += 1
            return super().process(n)

    nodes = infos(*(make_node(f"n{i:03d}", labels={"dc": "ab"[i % 2]}) for i in range(200)))
    tasks = [make_task("web", slot=i + 1, spread=["node.labels.dc"]) for i in range(3)]
    pipeline = Counting()
    pipeline.set_task(tasks[0])
    placed = GroupPlacer(nodes, pipeline, tasks).place()
    assert len(placed) == 3
    assert Counting.calls <= 2 * 3 + 3  # each leaf's 3 best nodes, and a check before each placement


# ---------------------------------------------------------------- recent failures (SwarmKit's maxFailures)


def failed_on(ni: NodeInfo, times: list[float], spec_version: int = 1) -> None:
    for at in times:
        ni.task_failed(make_task("web", state=TaskState.FAILED, node_id=ni.node.ID, spec_version=spec_version), at)


def test_a_node_where_the_service_failed_five_times_lately_comes_last() -> None:
    nodes = infos(make_node("a"), make_node("b"))
    a, b = nodes.values()
    failed_on(a, [100.0] * 5)
    tasks = [make_task("web", slot=i + 1) for i in range(3)]
    pipeline = Pipeline()
    pipeline.set_task(tasks[0])
    placed = GroupPlacer(nodes, pipeline, tasks, now=200.0).place()
    assert Counter(ni.node.Description.Hostname for _, ni in placed) == {"b": 3}  # spread gives way
    assert (a.failure_rank("web", 1, 200.0), b.failure_rank("web", 1, 200.0)) == (5, 0)


def test_four_failures_old_failures_or_another_spec_version_do_not_count() -> None:
    for times, version, now in (([100.0] * 4, 1, 200.0), ([100.0] * 5, 1, 401.0), ([100.0] * 5, 2, 200.0)):
        nodes = infos(make_node("a"), make_node("b"))
        failed_on(next(iter(nodes.values())), times, spec_version=version)
        tasks = [make_task("web", slot=i + 1) for i in range(4)]  # spec version 1
        pipeline = Pipeline()
        pipeline.set_task(tasks[0])
        placed = GroupPlacer(nodes, pipeline, tasks, now=now).place()
        assert Counter(ni.node.Description.Hostname for _, ni in placed) == {"a": 2, "b": 2}, (times, version, now)


def test_between_two_failing_nodes_the_one_with_fewer_failures_goes_first() -> None:
    nodes = infos(make_node("a"), make_node("b"), make_node("c"))
    a, b, _ = nodes.values()
    failed_on(a, [100.0] * 7)
    failed_on(b, [100.0] * 5)
    tasks = [make_task("web", slot=i + 1) for i in range(3)]
    pipeline = Pipeline()
    pipeline.set_task(tasks[0])
    placed = GroupPlacer(nodes, pipeline, tasks, now=150.0).place()
    assert [ni.node.Description.Hostname for _, ni in placed] == ["c", "c", "c"]
    c_only = {k: v for k, v in nodes.items() if v.node.Description.Hostname != "c"}
    more = [make_task("web", slot=i + 10) for i in range(2)]
    placed = GroupPlacer(c_only, pipeline, more, now=150.0).place()
    assert [ni.node.Description.Hostname for _, ni in placed] == ["b", "b"]
