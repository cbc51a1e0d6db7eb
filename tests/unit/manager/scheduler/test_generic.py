"""Generic resources as SwarmKit keeps them: the node's pool (discrete counts and named sets), and
the scheduler handing them out, giving them back, and explaining ``insufficient resources`` with CPU
and memory reservations mixed in."""

from __future__ import annotations

from shoal.api.generic import discrete, named
from shoal.api.states import TaskState
from shoal.api.types import Node, Task
from shoal.manager.scheduler.generic import Pool
from shoal.manager.scheduler.scheduler import Scheduler

from ...helpers import GiB, make_node, make_task, memory_store, paused


def test_pool_discrete_and_named() -> None:
    p = Pool.of([discrete("ssd", 3), named("gpu", "A"), named("gpu", "B"), named("gpu", "C")])
    assert p.has_enough(discrete("ssd", 3)) and not p.has_enough(discrete("ssd", 4))
    assert p.has_enough(discrete("gpu", 3)) and not p.has_enough(discrete("gpu", 4))
    assert not p.has_enough(named("gpu", "A"))  # a task may only ask for counts
    assert not p.has_enough(discrete("fpga", 0))  # a kind the node lacks, even zero of it
    given = p.claim([discrete("gpu", 2), discrete("ssd", 3)])
    assert given == [named("gpu", "A"), named("gpu", "B"), discrete("ssd", 3)]
    assert p.names == {"gpu": ["C"]} and p.counts == {}  # ssd ran out: it leaves the pool
    assert not p.has_enough(discrete("ssd", 0))
    p.give_back(given)
    assert p.names == {"gpu": ["C", "A", "B"]} and p.counts == {"ssd": 3}


async def test_discrete_generic_resources_are_reserved_and_explained() -> None:
    store = await memory_store()
    gpu_node = await store.create(make_node("g", generic=[discrete("gpu", 4)]))
    await store.create(make_node("plain"))
    sched = Scheduler(store)
    await paused(sched)
    tasks = [await store.create(make_task("train", slot=i + 1, generic=[discrete("gpu", 2)])) for i in range(3)]
    await sched.settle()
    got = [store.get(Task, t.ID) for t in tasks]
    placed = [t for t in got if t is not None and t.NodeID]
    assert [t.NodeID for t in placed] == [gpu_node.ID, gpu_node.ID]
    assert all(t.GenericResources == [discrete("gpu", 2)] for t in placed)
    (left,) = [t for t in got if t is not None and not t.NodeID]
    assert left.Status.Err == "no suitable node (insufficient resources on 2 nodes)"

    # A task that stops gives its GPUs back, and the pending one goes in.
    first = placed[0]
    def complete(x: Task) -> bool:
        x.Status.State = TaskState.COMPLETE
        return True

    await store.update_with(Task, first.ID, complete)
    await sched.settle()
    now = store.get(Task, left.ID)
    assert now is not None and now.NodeID == gpu_node.ID


async def test_named_generic_resources_are_handed_out_by_name() -> None:
    store = await memory_store()
    node = await store.create(make_node("g", generic=[named("gpu", u) for u in ("U1", "U2", "U3")]))
    sched = Scheduler(store)
    await paused(sched)
    a = await store.create(make_task("a", generic=[discrete("gpu", 2)]))
    await sched.settle()
    b = await store.create(make_task("b", generic=[discrete("gpu", 1)]))
    c = await store.create(make_task("c", generic=[discrete("gpu", 1)]))
    await sched.settle()
    ga, gb, gc = (store.get(Task, t.ID) for t in (a, b, c))
    assert ga is not None and ga.GenericResources == [named("gpu", "U1"), named("gpu", "U2")]
    assert gb is not None and gc is not None
    (won,) = [t for t in (gb, gc) if t.NodeID]  # one of the two gets the last GPU
    (lost,) = [t for t in (gb, gc) if not t.NodeID]
    assert won.NodeID == node.ID and won.GenericResources == [named("gpu", "U3")]
    assert lost.Status.Err == "no suitable node (insufficient resources on 1 node)"

    # A new leader re-reads what each task holds, name for name.
    again = Scheduler(store)
    await paused(again)
    assert again.nodes[node.ID].generic.names == {}
    assert again.nodes[node.ID].claimed[won.ID] == [named("gpu", "U3")]


async def test_mixed_reservations_cpu_memory_and_gpus() -> None:
    store = await memory_store()
    big = await store.create(make_node("big", cpus=8, memory=16 * GiB, generic=[discrete("gpu", 1)]))
    await store.create(make_node("small", cpus=1, memory=16 * GiB, generic=[discrete("gpu", 4)]))
    await store.create(make_node("nogpu", cpus=8, memory=16 * GiB))
    sched = Scheduler(store)
    await paused(sched)
    tasks = [await store.create(make_task("m", slot=i + 1, cpus=2, memory=GiB, generic=[discrete("gpu", 1)]))
             for i in range(2)]
    await sched.settle()
    got = [store.get(Task, t.ID) for t in tasks]
    assert [t.NodeID for t in got if t is not None and t.NodeID] == [big.ID]
    assert [t.Status.Err for t in got if t is not None and not t.NodeID] == [
        "no suitable node (insufficient resources on 3 nodes)"]


async def test_a_node_losing_a_generic_resource_keeps_what_tasks_hold() -> None:
    store = await memory_store()
    node = await store.create(make_node("g", generic=[discrete("gpu", 4)]))
    sched = Scheduler(store)
    await paused(sched)
    await store.create(make_task("a", generic=[discrete("gpu", 3)]))
    await sched.settle()

    def shrink(n: Node) -> bool:
        n.Description.Resources.GenericResources = [discrete("gpu", 2)]
        return True

    await store.update_with(Node, node.ID, shrink)
    assert sched.nodes[node.ID].generic.counts == {}  # 2 - 3: nothing left
    t = await store.create(make_task("b", generic=[discrete("gpu", 1)]))
    await sched.settle()
    got = store.get(Task, t.ID)
    assert got is not None and got.Status.Err == "no suitable node (insufficient resources on 1 node)"
