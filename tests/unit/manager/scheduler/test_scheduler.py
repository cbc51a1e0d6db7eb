"""The scheduler over ObjectStore(MemoryBackend): spread, reservations, explanations in SwarmKit's
words, retries when nodes or resources change, and preassigned (global) tasks.

The scheduler's background loop is never left running: ``paused()`` runs ``start()`` (subscribe and
seed from the store) and stops the loop task; the tests then call ``settle()``, which ticks only
while something kicked it, so a test also shows that the right event triggers a retry."""

from __future__ import annotations

import time
from collections import Counter

from shoal.api.states import TaskState
from shoal.api.types import Endpoint, Node, Placement, PortConfig, Task, clone
from shoal.manager.scheduler.scheduler import Scheduler
from shoal.store.backend import Delete
from shoal.store.objects import ObjectStore, key_of

from ...helpers import CPU, TracedBackend, make_node, make_task, memory_store, paused

NO_SUITABLE = "no suitable node"


async def setup(*nodes: Node, tasks: tuple[Task, ...] = ()) -> tuple[ObjectStore, Scheduler]:
    store = await memory_store()
    for n in nodes:
        await store.create(n)
    for t in tasks:
        await store.create(t)
    sched = Scheduler(store)
    await paused(sched)
    return store, sched


def current(store: ObjectStore, t: Task) -> Task:
    got = store.get(Task, t.ID)
    assert got is not None
    return got


async def set_state(store: ObjectStore, t: Task, state: TaskState) -> None:
    def f(x: Task) -> bool:
        x.Status.State = state
        return True

    await store.update_with(Task, t.ID, f)


async def test_pending_tasks_are_assigned() -> None:
    n = make_node("n1")
    store, sched = await setup(n)
    t = await store.create(make_task("web"))
    await sched.settle()
    got = current(store, t)
    assert got.NodeID == n.ID
    assert got.Status.State == TaskState.ASSIGNED
    assert got.Status.Message == "scheduler assigned task to node"
    assert got.Status.Err == ""
    assert sched.decisions == 1
    assert sched.pending == set()


async def test_tasks_not_pending_or_not_wanted_are_left_alone() -> None:
    store, sched = await setup(make_node())
    new = await store.create(make_task(state=TaskState.NEW))
    unwanted = await store.create(make_task(desired=TaskState.SHUTDOWN))
    await sched.settle()
    assert current(store, new).NodeID == "" and current(store, new).Status.State == TaskState.NEW
    assert current(store, unwanted).NodeID == "" and current(store, unwanted).Status.State == TaskState.PENDING


async def test_a_service_spreads_over_nodes() -> None:
    nodes = [make_node(f"n{i}") for i in range(3)]
    tasks = tuple(make_task("web", slot=i + 1) for i in range(7))
    store, sched = await setup(*nodes, tasks=tasks)
    await sched.settle()
    placed = Counter(current(store, t).NodeID for t in tasks)
    assert set(placed) == {n.ID for n in nodes}
    assert sorted(placed.values()) == [2, 2, 3]


async def test_spread_ties_are_broken_by_total_tasks() -> None:
    # IDs in the opposite order of the expected choices, so a tie broken by ID would pick wrong.
    n1, n2, n3 = (make_node(f"n{i}", node_id=f"node-{c}") for i, c in ((1, "a"), (2, "b"), (3, "c")))
    busy = (
        make_task("db", node_id=n1.ID, state=TaskState.RUNNING),
        make_task("db", slot=2, node_id=n1.ID, state=TaskState.RUNNING),
        make_task("cache", node_id=n2.ID, state=TaskState.RUNNING),
    )
    store, sched = await setup(n1, n2, n3, tasks=busy)
    a = await store.create(make_task("web", slot=1))
    await sched.settle()
    assert current(store, a).NodeID == n3.ID  # no web anywhere: the emptiest node
    b = await store.create(make_task("web", slot=2))
    await sched.settle()
    assert current(store, b).NodeID == n2.ID  # one web on n3; n2 (1 task) beats n1 (2 tasks)
    c = await store.create(make_task("web", slot=3))
    await sched.settle()
    assert current(store, c).NodeID == n1.ID  # the only node without web


async def test_spread_of_the_service_comes_before_total_load() -> None:
    n1, n2, n3 = make_node("n1"), make_node("n2"), make_node("n3")
    busy = tuple(make_task("db", slot=i, node_id=n1.ID, state=TaskState.RUNNING) for i in range(1, 5))
    web = tuple(make_task("web", slot=i) for i in range(1, 4))
    store, sched = await setup(n1, n2, n3, tasks=(*busy, *web))
    await sched.settle()  # one group of three: each pick must see the picks before it
    assert Counter(current(store, t).NodeID for t in web) == {n1.ID: 1, n2.ID: 1, n3.ID: 1}


async def test_terminal_tasks_do_not_count_for_spread() -> None:
    n1, n2 = make_node("n1"), make_node("n2")
    old = tuple(make_task("web", slot=i, node_id=n1.ID, state=TaskState.FAILED) for i in range(1, 4))
    store, sched = await setup(n1, n2, tasks=(*old, make_task("web", slot=9, node_id=n2.ID, state=TaskState.RUNNING)))
    t = await store.create(make_task("web", slot=4))
    await sched.settle()
    assert current(store, t).NodeID == n1.ID


async def test_reservations_exhaust_a_node() -> None:
    n = make_node("n1", cpus=1)
    store, sched = await setup(n)
    a = await store.create(make_task("web", slot=1, cpus=0.6))
    b = await store.create(make_task("web", slot=2, cpus=0.6))
    await sched.settle()
    assert current(store, a).NodeID == n.ID
    got = current(store, b)
    assert got.Status.State == TaskState.PENDING
    assert got.NodeID == ""
    assert got.Status.Err == "no suitable node (insufficient resources on 1 node)"
    assert got.Status.Message == "pending task scheduling"
    assert sched.nodes[n.ID].available_cpus == int(0.4 * CPU)


async def test_an_unschedulable_task_is_not_rewritten_on_every_tick() -> None:
    store, sched = await setup(make_node(cpus=1))
    t = await store.create(make_task(cpus=2))
    await sched.settle()
    v = current(store, t).Version.Index
    sched.kick()
    await sched.settle()
    assert current(store, t).Version.Index == v


async def test_constraint_failure_is_explained() -> None:
    store, sched = await setup(make_node(labels={"zone": "west"}))
    t = await store.create(make_task(constraints=["node.labels.zone==east"]))
    await sched.settle()
    got = current(store, t)
    assert got.Status.State == TaskState.PENDING
    assert got.Status.Err == "no suitable node (scheduling constraints not satisfied on 1 node)"


async def test_a_drained_node_is_not_available() -> None:
    store, sched = await setup(make_node(availability="drain"))
    t = await store.create(make_task())
    await sched.settle()
    assert current(store, t).Status.Err == "no suitable node (1 node not available for new tasks)"


async def test_no_nodes_at_all() -> None:
    store, sched = await setup()
    t = await store.create(make_task())
    await sched.settle()
    got = current(store, t)
    assert got.Status.State == TaskState.PENDING and got.Status.Err == NO_SUITABLE


async def test_mixed_reasons_most_frequent_first() -> None:
    store, sched = await setup(
        make_node("a", labels={"zone": "west"}),
        make_node("b"),
        make_node("c", availability="drain", labels={"zone": "east"}),
    )
    t = await store.create(make_task(constraints=["node.labels.zone==east"]))
    await sched.settle()
    assert current(store, t).Status.Err == (
        "no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks)"
    )


async def test_a_pending_task_is_retried_when_a_node_changes() -> None:
    n = make_node("n1")
    store, sched = await setup(n)
    t = await store.create(make_task(constraints=["node.labels.gpu==true"]))
    await sched.settle()
    assert current(store, t).Status.State == TaskState.PENDING
    await sched.settle()  # nothing changed: no tick is due
    assert current(store, t).Status.State == TaskState.PENDING

    labelled = clone(store.get(Node, n.ID))
    labelled.Spec.Labels = {"gpu": "true"}
    await store.update(labelled)
    await sched.settle()  # the node change kicked the scheduler
    got = current(store, t)
    assert got.Status.State == TaskState.ASSIGNED and got.NodeID == n.ID and got.Status.Err == ""


async def test_a_new_node_gets_the_pending_task() -> None:
    store, sched = await setup(make_node("small", cpus=1))
    t = await store.create(make_task(cpus=2))
    await sched.settle()
    assert current(store, t).Status.Err == "no suitable node (insufficient resources on 1 node)"
    big = await store.create(make_node("big", cpus=4))
    await sched.settle()
    assert current(store, t).NodeID == big.ID


async def test_a_node_growing_its_resources_keeps_what_is_used() -> None:
    n = make_node("n1", cpus=1)
    store, sched = await setup(n)
    a = await store.create(make_task("a", cpus=1))
    await sched.settle()
    b = await store.create(make_task("b", cpus=1))
    await sched.settle()
    assert current(store, a).NodeID == n.ID and current(store, b).NodeID == ""
    grown = clone(store.get(Node, n.ID))
    grown.Description.Resources.NanoCPUs = 2 * CPU
    await store.update(grown)
    await sched.settle()
    assert current(store, b).NodeID == n.ID
    assert sched.nodes[n.ID].available_cpus == 0


async def test_preassigned_task_failure_has_no_prefix() -> None:
    n = make_node("n1", availability="drain")
    store, sched = await setup(n)
    t = await store.create(make_task("global", slot=0, node_id=n.ID))
    await sched.settle()
    got = current(store, t)
    assert got.Status.State == TaskState.PENDING
    assert got.NodeID == n.ID
    assert got.Status.Err == "1 node not available for new tasks"


async def test_preassigned_task_is_checked_against_its_own_node_only() -> None:
    n1, n2 = make_node("n1", cpus=1), make_node("n2", cpus=8)
    store, sched = await setup(n1, n2)
    ok = await store.create(make_task("global", slot=0, node_id=n2.ID, cpus=4))
    too_big = await store.create(make_task("global", slot=0, node_id=n1.ID, cpus=4))
    await sched.settle()
    assert current(store, ok).Status.State == TaskState.ASSIGNED and current(store, ok).NodeID == n2.ID
    got = current(store, too_big)
    assert got.Status.State == TaskState.PENDING and got.NodeID == n1.ID
    assert got.Status.Err == "insufficient resources on 1 node"


async def test_freed_resources_let_a_pending_task_in() -> None:
    n = make_node("n1", cpus=1)
    store, sched = await setup(n)
    a = await store.create(make_task("web", slot=1, cpus=0.6))
    await sched.settle()
    b = await store.create(make_task("web", slot=2, cpus=0.6))
    await sched.settle()
    assert current(store, b).Status.Err.endswith("(insufficient resources on 1 node)")

    await set_state(store, a, TaskState.RUNNING)  # still holds its reservation
    await sched.settle()
    assert current(store, b).NodeID == ""
    await set_state(store, a, TaskState.COMPLETE)
    await sched.settle()
    got = current(store, b)
    assert got.Status.State == TaskState.ASSIGNED and got.NodeID == n.ID


async def test_start_accounts_for_tasks_already_on_nodes() -> None:
    n = make_node("n1", cpus=1)
    running = make_task("old", node_id=n.ID, state=TaskState.RUNNING, cpus=1)
    store, sched = await setup(n, tasks=(running,))
    t = await store.create(make_task("new", cpus=0.5))
    await sched.settle()
    assert current(store, t).Status.Err == "no suitable node (insufficient resources on 1 node)"


async def test_max_replicas_and_host_ports_limit_placement_across_a_group() -> None:
    nodes = [make_node(f"n{i}") for i in range(2)]
    tasks = []
    for i in range(3):
        t = make_task("web", slot=i + 1)
        t.Spec.Placement = Placement(MaxReplicas=1)
        tasks.append(t)
    store, sched = await setup(*nodes, tasks=tuple(tasks))
    await sched.settle()
    got = [current(store, t) for t in tasks]
    assert sorted(t.NodeID for t in got if t.NodeID) == sorted(n.ID for n in nodes)
    (left,) = [t for t in got if not t.NodeID]
    assert left.Status.Err == "no suitable node (max replicas per node limit exceed)"

    ports = []
    for i in range(3):
        t = make_task("edge", slot=i + 1)
        t.Endpoint = Endpoint(Ports=[PortConfig(TargetPort=80, PublishedPort=8080, PublishMode="host")])
        ports.append(await store.create(t))
    await sched.settle()
    got = [current(store, t) for t in ports]
    assert len({t.NodeID for t in got if t.NodeID}) == 2
    (left,) = [t for t in got if not t.NodeID]
    assert left.Status.Err == "no suitable node (host-mode port already in use on 2 nodes)"


async def test_a_lost_commit_does_not_leak_the_reservation() -> None:
    # Another manager deletes the pending task in the backend; this manager's cache learns of it
    # only through its watch, after the scheduler's decision on the stale copy has failed.
    backend = TracedBackend()
    store = ObjectStore(backend, watch_backend=True)
    await store.load()
    try:
        n = await store.create(make_node("n1", cpus=1))
        sched = Scheduler(store)
        await paused(sched)
        doomed = await store.create(make_task("web", cpus=1))
        await backend.caught_up(store.revision)  # the watcher is caught up
        await backend.txn([], [Delete(key_of("tasks", doomed.ID))])  # the other manager
        await sched.tick()  # decides on the stale copy; the commit loses
        await backend.caught_up(backend.revision)  # the watcher folds the delete in
        assert store.get(Task, doomed.ID) is None
        assert sched.nodes[n.ID].available_cpus == CPU  # the lost decision gave its CPU back

        t = await store.create(make_task("web", slot=2, cpus=1))
        await sched.settle()
        assert current(store, t).NodeID == n.ID
        assert sched.nodes[n.ID].available_cpus == 0
    finally:
        await store.close()


async def test_preferences_through_the_scheduler() -> None:
    nodes = [make_node(f"{dc}{i}", labels={"dc": dc}) for dc, n in (("a", 1), ("b", 2), ("c", 5)) for i in range(n)]
    tasks = tuple(make_task("web", slot=i + 1, spread=["node.labels.dc"]) for i in range(12))
    store, sched = await setup(*nodes, tasks=tasks)
    await sched.settle()
    dc_of = {n.ID: (n.Spec.Labels or {})["dc"] for n in nodes}
    assert Counter(dc_of[current(store, t).NodeID] for t in tasks) == {"a": 4, "b": 4, "c": 4}


async def test_reasons_are_joined_most_frequent_first_with_max_replicas() -> None:
    ok = [make_node(f"ok{i}", labels={"ok": "1"}) for i in range(3)]
    other = [make_node(f"no{i}") for i in range(2)]
    drained = make_node("drained", labels={"ok": "1"}, availability="drain")
    tasks = tuple(make_task("web", slot=i + 1, constraints=["node.labels.ok==1"], max_replicas=1)
                  for i in range(5))
    store, sched = await setup(*ok, *other, drained, tasks=tasks)
    await sched.settle()
    got = [current(store, t) for t in tasks]
    assert sorted(t.NodeID for t in got if t.NodeID) == sorted(n.ID for n in ok)
    assert [t.Status.Err for t in got if not t.NodeID] == [
        "no suitable node (max replicas per node limit exceed; scheduling constraints not satisfied on 2 nodes; "
        "1 node not available for new tasks)"] * 2


async def test_the_scheduler_counts_failures_per_node_and_spec_version() -> None:
    store = await memory_store()
    node = make_node("n1")
    await store.commit(creates=[node])
    s = Scheduler(store)
    await paused(s)
    for i in range(5):
        t = make_task("web", slot=i + 1, state=TaskState.RUNNING, node_id=node.ID)
        await store.commit(creates=[t])
        failed = clone(t)
        failed.Status.State = TaskState.FAILED
        await store.commit(updates=[failed])
        again = clone(failed)
        again.Status.Message = "the same failure, reported twice"
        await store.commit(updates=[again])
    ni = s.nodes[node.ID]
    assert ni.failure_rank("web", 1, time.time()) == 5
    assert ni.failure_rank("web", 2, time.time()) == 0
    await s.stop()
