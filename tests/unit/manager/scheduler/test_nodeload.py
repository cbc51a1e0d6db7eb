"""``NodeLoad``: the nodes by load kept in step with their NodeInfos, and a group placed from it goes
exactly where the pass over every node (``build_tree``) sends it, for random clusters (loads, the
group's own tasks already placed, nodes that fail the filters, max replicas per node, resources)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.api.states import TaskState
from shoal.api.types import Task
from shoal.manager.scheduler.filters import NodeInfo, Pipeline
from shoal.manager.scheduler.nodeload import NodeLoad
from shoal.manager.scheduler.placement import GroupPlacer

from ...helpers import make_node, make_task


def cluster(seed: int, nodes: int, load: NodeLoad | None) -> tuple[dict[str, NodeInfo], list[Task]]:
    """``nodes`` nodes (some drained, some small), random tasks of other services and some of "web"."""
    rnd = random.Random(seed)
    infos: dict[str, NodeInfo] = {}
    for i in range(nodes):
        n = make_node(f"n{i}", node_id=f"{rnd.randrange(1 << 30):08x}{i:04d}",
                      availability="drain" if rnd.random() < 0.1 else "active", cpus=rnd.choice([1, 4]))
        ni = infos[n.ID] = NodeInfo.of(n)
        if load is not None:
            ni.load = load
            load.add_node(n.ID, 0)
    ids = sorted(infos)
    running = []
    for k in range(rnd.randrange(nodes * 3)):
        owner = "web" if rnd.random() < 0.3 else f"svc{rnd.randrange(4)}"
        t = make_task(owner, slot=k + 1, state=TaskState.RUNNING, node_id=rnd.choice(ids), task_id=f"t{k}")
        infos[t.NodeID].add_task(t)
        running.append(t)
    for t in running[: len(running) // 4]:  # some stopped again
        infos[t.NodeID].remove_task(t)
    return infos, running


def placements(infos: dict[str, NodeInfo], load: NodeLoad | None, count: int, max_replicas: int,
               cpus: float) -> list[tuple[str, str]]:
    tasks = [make_task("web", slot=100 + i, task_id=f"new{i}", max_replicas=max_replicas, cpus=cpus)
             for i in range(count)]
    pipeline = Pipeline()
    pipeline.set_task(tasks[0])
    placed = GroupPlacer(infos, pipeline, tasks, now=0.0, load=load).place()
    return [(t.ID, ni.node.ID) for t, ni in placed]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(1, 30), count=st.integers(1, 60),
       max_replicas=st.sampled_from([0, 0, 1, 2]), cpus=st.sampled_from([0, 0, 1.5]))
def test_a_group_goes_where_the_pass_over_every_node_sends_it(seed: int, nodes: int, count: int,
                                                              max_replicas: int, cpus: float) -> None:
    load = NodeLoad()
    with_index, _ = cluster(seed, nodes, load)
    without, _ = cluster(seed, nodes, None)
    assert placements(with_index, load, count, max_replicas, cpus) == \
        placements(without, None, count, max_replicas, cpus)
    # The index is still in step with the NodeInfos after the placement.
    assert {nid: a for a, ids in load.buckets.items() for nid in ids} == \
        {nid: ni.active_tasks for nid, ni in with_index.items()}
    assert all(ids == sorted(ids) for ids in load.buckets.values())
    assert {o: set(ns) for o, ns in load.owners.items()} == \
        {o: {nid for nid, ni in with_index.items() if ni.tasks_by_owner.get(o)}
         for o in {o for ni in with_index.values() for o in ni.tasks_by_owner}}


def test_a_node_that_leaves_leaves_the_index() -> None:
    load = NodeLoad()
    n = make_node("n1", node_id="a")
    ni = NodeInfo.of(n)
    ni.load = load
    load.add_node("a", 0)
    t = make_task("web", state=TaskState.RUNNING, node_id="a", task_id="t1")
    ni.add_task(t)
    assert load.buckets == {1: ["a"]} and load.holding("web") == ["a"]
    load.remove_node("a", ni.active_tasks, list(ni.tasks_by_owner))
    assert load.buckets == {} and load.owners == {}
