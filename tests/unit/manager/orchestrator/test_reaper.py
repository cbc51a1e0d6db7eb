"""The task reaper: history per slot (or per node of a global service) and tasks marked remove."""

from __future__ import annotations

from shoal.api.states import TaskState
from shoal.api.types import Cluster, ClusterSpec, OrchestrationConfig, Task, clone
from shoal.manager.orchestrator.reaper import TaskReaper, reapable
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore, key_of

from ...helpers import make_task, memory_store, paused, until


def ts(second: int) -> str:
    return f"2024-01-01T00:{second // 60:02d}:{second % 60:02d}.000000000Z"


async def setup(*tasks: Task) -> tuple[ObjectStore, TaskReaper]:
    store = await memory_store()
    for t in tasks:
        await store.create(t)
    reaper = TaskReaper(store)
    await paused(reaper)
    return store, reaper


def alive(store: ObjectStore, tasks: list[Task]) -> list[Task]:
    return [t for t in tasks if store.get(Task, t.ID) is not None]


def history(n: int, *, service: str = "web", slot: int = 1, node: str = "", start: int = 0,
            state: TaskState = TaskState.FAILED) -> list[Task]:
    return [
        make_task(service, slot=slot, node_id=node, state=state, desired=TaskState.SHUTDOWN,
                  timestamp=ts(start + i))
        for i in range(n)
    ]


def test_reapable() -> None:
    assert reapable(make_task(state=TaskState.FAILED))
    assert reapable(make_task(state=TaskState.COMPLETE, desired=TaskState.RUNNING))
    assert reapable(make_task(state=TaskState.PENDING, desired=TaskState.REMOVE))
    assert reapable(make_task(state=TaskState.NEW, desired=TaskState.SHUTDOWN))
    assert not reapable(make_task(state=TaskState.PENDING, desired=TaskState.RUNNING))
    assert not reapable(make_task(state=TaskState.ASSIGNED, desired=TaskState.REMOVE))
    assert not reapable(make_task(state=TaskState.RUNNING, desired=TaskState.REMOVE))


async def test_keeps_the_five_newest_stopped_tasks_of_a_slot() -> None:
    old = history(7)
    other_slot = history(3, slot=2)
    store, reaper = await setup(*old, *other_slot)
    await reaper.settle()
    assert alive(store, old) == old[2:]  # the two oldest went
    assert alive(store, other_slot) == other_slot
    await reaper.settle()
    assert alive(store, old) == old[2:]


async def test_history_limit_counts_the_running_task_but_never_reaps_it() -> None:
    old = history(6, start=10)
    running = make_task("web", slot=1, state=TaskState.RUNNING, timestamp=ts(0))  # oldest timestamp
    store, reaper = await setup(*old, running)
    await reaper.settle()
    assert store.get(Task, running.ID) is not None
    assert alive(store, old) == old[2:]  # 1 running + 4 stopped = 5


async def test_a_slot_at_the_limit_is_left_alone() -> None:
    old = history(5)
    store, reaper = await setup(*old)
    await reaper.settle()
    assert alive(store, old) == old


async def test_new_stopped_tasks_trigger_reaping() -> None:
    old = history(5)
    store, reaper = await setup(*old)
    await reaper.settle()
    t = await store.create(make_task("web", slot=1, state=TaskState.RUNNING, timestamp=ts(100)))
    await reaper.settle()
    assert len(alive(store, old)) == 5  # running tasks do not make a slot dirty
    c = clone(store.get(Task, t.ID))
    c.Status.State = TaskState.FAILED
    await store.update(c)
    await reaper.settle()  # the failure kicked the reaper
    assert alive(store, old) == old[1:]
    assert store.get(Task, t.ID) is not None


async def test_global_history_is_per_node() -> None:
    n1 = history(7, service="g", slot=0, node="n1")
    n2 = history(4, service="g", slot=0, node="n2")
    store, reaper = await setup(*n1, *n2)
    await reaper.settle()
    assert alive(store, n1) == n1[2:]
    assert alive(store, n2) == n2


async def test_cluster_retention_limit() -> None:
    old = history(6)
    store, reaper = await setup(*old)
    limit = OrchestrationConfig(TaskHistoryRetentionLimit=2)
    await store.create(Cluster(ID="c", Spec=ClusterSpec(Orchestration=limit)))
    assert reaper.history_limit() == 2
    await reaper.settle()
    assert alive(store, old) == old[4:]


async def test_remove_deletes_terminal_and_never_assigned_tasks() -> None:
    never_assigned = make_task(state=TaskState.PENDING, desired=TaskState.REMOVE)
    new = make_task(state=TaskState.NEW, desired=TaskState.REMOVE)
    stopped = make_task(state=TaskState.SHUTDOWN, desired=TaskState.REMOVE)
    assigned = make_task(state=TaskState.ASSIGNED, desired=TaskState.REMOVE, node_id="n1")
    running = make_task(state=TaskState.RUNNING, desired=TaskState.REMOVE, node_id="n1")
    store, reaper = await setup(never_assigned, new, stopped, assigned, running)
    await reaper.settle()
    assert alive(store, [never_assigned, new, stopped, assigned, running]) == [assigned, running]

    # Once the agent reports it stopped, it goes.
    c = clone(store.get(Task, running.ID))
    c.Status.State = TaskState.SHUTDOWN
    await store.update(c)
    await reaper.settle()
    assert store.get(Task, running.ID) is None
    assert store.get(Task, assigned.ID) is not None


async def test_remove_marked_after_start() -> None:
    t = make_task(state=TaskState.COMPLETE, desired=TaskState.RUNNING)
    store, reaper = await setup(t)
    await reaper.settle()
    assert store.get(Task, t.ID) is not None  # history, not a removal
    c = clone(store.get(Task, t.ID))
    c.DesiredState = TaskState.REMOVE
    await store.update(c)
    await reaper.settle()
    assert store.get(Task, t.ID) is None
    assert reaper.removals == set()


async def test_a_removal_that_loses_a_race_is_retried() -> None:
    backend = MemoryBackend()
    mine = ObjectStore(backend, watch_backend=True)
    await mine.load()
    other = ObjectStore(backend)  # another manager writing to the same backend
    try:
        t = await mine.create(make_task(state=TaskState.SHUTDOWN, desired=TaskState.REMOVE))
        reaper = TaskReaper(mine)
        await paused(reaper)
        await other.load()
        late = clone(other.get(Task, t.ID))
        late.Status.Message = "late report"
        await other.update(late)  # mine has not seen it yet: its delete compares an old version
        await reaper.tick()
        assert (await backend.get(key_of("tasks", t.ID)))[0] is not None
        assert t.ID in reaper.removals  # not forgotten
        await until(lambda: mine.get(Task, t.ID).Status.Message == "late report", what="the watch")
        await reaper.settle()
        assert mine.get(Task, t.ID) is None
        assert (await backend.get(key_of("tasks", t.ID)))[0] is None
    finally:
        await mine.close()
