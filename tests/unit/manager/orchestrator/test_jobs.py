"""Swarm jobs in the orchestrator: a replicated job's completions at most MaxConcurrent at a time, its
slots from 0, failures replaced per the restart policy, complete tasks never run again, a new run on
every update; a global job once per eligible node (and on nodes that join); the reaper keeps a job's
tasks; and the control API's defaults, validation and job status. Driven tick by tick with a fake
clock."""

from __future__ import annotations

import pytest

from shoal.api.errors import ShoalError
from shoal.api.states import TaskState
from shoal.api.types import (
    ReplicatedJob,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    UpdateConfig,
    clone,
)
from shoal.manager.orchestrator.reaper import TaskReaper

from ...helpers import paused
from .harness import Harness, spec

COMPLETE, FAILED, RUNNING, READY = TaskState.COMPLETE, TaskState.FAILED, TaskState.RUNNING, TaskState.READY
SHUTDOWN, REMOVE = TaskState.SHUTDOWN, TaskState.REMOVE


def job(name: str = "job", *, total: int | None = 6, most: int | None = 2,
        restart: RestartPolicy | None = None, constraints: list[str] | None = None) -> ServiceSpec:
    s = spec(name, restart=restart, constraints=constraints)
    s.Mode = ServiceMode(ReplicatedJob=ReplicatedJob(MaxConcurrent=most, TotalCompletions=total))
    return s


def global_job(name: str = "gjob", **kw: object) -> ServiceSpec:
    s = spec(name, **kw)  # type: ignore[arg-type]
    s.Mode = ServiceMode(GlobalJob={})
    return s


def active(h: Harness, name: str = "job") -> list[Task]:
    """The current run's tasks not complete and still wanted."""
    run = run_of(h.service(name))
    return [t for t in h.tasks(name) if t.JobIteration is not None and t.JobIteration.Index == run
            and t.Status.State != COMPLETE and t.DesiredState <= COMPLETE]


def run_of(s: Service) -> int:
    assert s.JobStatus is not None
    return s.JobStatus.JobIteration.Index


def complete_of(h: Harness, name: str = "job") -> list[Task]:
    return [t for t in h.tasks(name) if t.Status.State == COMPLETE]


# ---------------------------------------------------------------- replicated jobs


async def test_a_replicated_job_runs_max_concurrent_until_total_completions(h: Harness) -> None:
    svc = await h.create(job(total=6, most=2))
    assert svc.JobStatus is not None and svc.JobStatus.JobIteration.Index == 0 and svc.JobStatus.LastExecution
    first = h.tasks("job")
    assert sorted(t.Slot for t in first) == [0, 1]  # slots from 0, as SwarmKit (the CLI shows slot + 1)
    for t in first:
        assert t.DesiredState == COMPLETE and t.JobIteration is not None and t.JobIteration.Index == 0
    done: set[int] = set()
    while len(done) < 6:
        now = active(h)
        assert 1 <= len(now) <= 2
        t = now[0]
        await h.report(t, RUNNING, "n1")
        await h.report(t, COMPLETE)
        done.add(t.Slot)
    assert done == {0, 1, 2, 3, 4, 5}
    assert active(h) == [] and len(h.tasks("job")) == 6  # each slot once: nothing more is made
    await h.tick()
    assert len(h.tasks("job")) == 6


async def test_the_last_completions_need_fewer_than_max_concurrent(h: Harness) -> None:
    await h.create(job(total=3, most=2))
    for t in active(h):
        await h.report(t, COMPLETE, "n1")
    assert [t.Slot for t in active(h)] == [2]  # one left to do: one task, not two


async def test_a_failed_job_task_is_replaced_in_its_slot_after_the_delay(h: Harness) -> None:
    await h.create(job(total=2, most=1))
    t0 = h.tasks("job")[0]
    await h.report(t0, RUNNING, "n1")
    await h.report(t0, FAILED)
    tasks = h.tasks("job")
    assert h.get(t0).DesiredState == SHUTDOWN
    repl = [t for t in tasks if t.ID != t0.ID]
    assert len(repl) == 1 and repl[0].Slot == 0 and repl[0].DesiredState == READY
    assert repl[0].JobIteration is not None and repl[0].JobIteration.Index == 0
    assert len(active(h)) == 1  # the held replacement fills the one place: no second task meanwhile
    h.clock.advance(5)  # the default restart delay
    await h.tick()
    assert h.get(repl[0]).DesiredState == COMPLETE  # promoted to a job's desired state, not running


async def test_a_complete_task_is_never_restarted_even_with_condition_any(h: Harness) -> None:
    await h.create(job(total=1, most=1, restart=RestartPolicy(Condition="any", Delay=0)))
    t0 = h.tasks("job")[0]
    await h.report(t0, COMPLETE, "n1")
    await h.tick()
    assert [t.ID for t in h.tasks("job")] == [t0.ID] and h.get(t0).DesiredState == COMPLETE


async def test_restart_condition_none_leaves_the_failed_slot_failed(h: Harness) -> None:
    await h.create(job(total=2, most=1, restart=RestartPolicy(Condition="none")))
    t0 = h.tasks("job")[0]
    await h.report(t0, FAILED, "n1")
    await h.tick()
    assert [t.ID for t in h.tasks("job")] == [t0.ID]  # the failed task still holds its slot, as SwarmKit


async def test_max_attempts_counts_the_restarts_of_slot_zero(h: Harness) -> None:
    await h.create(job(total=1, most=1, restart=RestartPolicy(Condition="on-failure", Delay=0, MaxAttempts=2)))
    for node in ("n1", "n2", "n3"):  # each attempt on another node: the history is the slot's
        cur = active(h)
        assert len(cur) == 1
        await h.report(cur[0], FAILED, node)
        await h.tick()
    assert len(h.tasks("job")) == 3  # the first run and two restarts


async def test_an_update_starts_a_new_run_and_removes_the_old_runs_live_tasks(h: Harness) -> None:
    await h.create(job(total=3, most=2))
    a, b = h.tasks("job")
    await h.report(a, COMPLETE, "n1")
    await h.report(b, RUNNING, "n1")
    cur = h.service("job")
    new = clone(cur.Spec)
    new.TaskTemplate.ForceUpdate += 1  # docker service update --force
    await h.api.update_service(cur.ID, cur.Version.Index, new)
    await h.settle()
    svc = h.service("job")
    assert run_of(svc) == 1 and svc.UpdateStatus is None
    assert h.get(a).DesiredState == COMPLETE  # finished: kept as it is
    assert h.get(b).DesiredState == REMOVE  # still running: removed
    run1 = [t for t in h.tasks("job") if t.JobIteration is not None and t.JobIteration.Index == 1]
    assert sorted(t.Slot for t in run1) == [0, 1]
    assert all(t.Spec.ForceUpdate == new.TaskTemplate.ForceUpdate for t in run1)


async def test_a_removed_job_removes_its_tasks(h: Harness) -> None:
    await h.create(job(total=2, most=2))
    a, _ = h.tasks("job")
    await h.report(a, COMPLETE, "n1")
    await h.api.remove_service("job")
    await h.settle()
    assert all(t.DesiredState == REMOVE for t in h.store.list(Task))


async def test_a_drained_nodes_job_task_moves_to_another_node(h: Harness) -> None:
    n1 = await h.add_node("n1")
    await h.create(job(total=1, most=1))
    t0 = h.tasks("job")[0]
    await h.report(t0, RUNNING, n1.ID)
    await h.set_node(n1, availability="drain")
    assert h.get(t0).DesiredState == SHUTDOWN
    repl = [t for t in h.tasks("job") if t.ID != t0.ID]
    assert len(repl) == 1 and repl[0].Slot == 0 and repl[0].NodeID == ""


# ---------------------------------------------------------------- global jobs


async def test_a_global_job_runs_once_on_every_eligible_node(h: Harness) -> None:
    n1 = await h.add_node("n1")
    n2 = await h.add_node("n2")
    await h.add_node("n3", availability="drain")
    await h.create(global_job())
    tasks = h.tasks("gjob")
    assert sorted(t.NodeID for t in tasks) == sorted([n1.ID, n2.ID])
    assert all(t.DesiredState == COMPLETE and t.Slot == 0 and t.JobIteration is not None for t in tasks)
    for t in tasks:
        await h.report(t, COMPLETE)
    await h.tick()
    assert len(h.tasks("gjob")) == 2  # complete on each node: never again
    n4 = await h.add_node("n4")  # a node that joins gets the job's task
    new = [t for t in h.tasks("gjob") if t.NodeID == n4.ID]
    assert len(new) == 1 and new[0].DesiredState == COMPLETE


async def test_a_global_job_task_that_failed_is_restarted_on_its_node(h: Harness) -> None:
    n1 = await h.add_node("n1")
    await h.create(global_job(restart=RestartPolicy(Condition="on-failure", Delay=0)))
    t0 = h.tasks("gjob")[0]
    await h.report(t0, FAILED)
    await h.tick()
    repl = [t for t in h.tasks("gjob") if t.ID != t0.ID]
    assert len(repl) == 1 and repl[0].NodeID == n1.ID and repl[0].DesiredState == COMPLETE


async def test_a_global_job_on_a_drained_node_is_shut_down_but_a_complete_one_stays(h: Harness) -> None:
    n1 = await h.add_node("n1")
    n2 = await h.add_node("n2")
    await h.create(global_job())
    by_node = {t.NodeID: t for t in h.tasks("gjob")}
    await h.report(by_node[n1.ID], COMPLETE)
    await h.report(by_node[n2.ID], RUNNING)
    await h.set_node(n1, availability="drain")
    await h.set_node(n2, availability="drain")
    assert h.get(by_node[n1.ID]).DesiredState == COMPLETE
    assert h.get(by_node[n2.ID]).DesiredState == SHUTDOWN
    assert len(h.tasks("gjob")) == 2  # nothing new on drained nodes
    await h.set_node(n1, availability="active")
    assert len(h.tasks("gjob")) == 2  # n1 has its complete task for this run


# ---------------------------------------------------------------- the reaper, the control API


async def test_the_reaper_keeps_every_task_of_a_job(h: Harness) -> None:
    await h.create(job(total=1, most=1, restart=RestartPolicy(Condition="on-failure", Delay=0)))
    for _ in range(7):  # seven failures of slot 0: more than the history limit of 5
        cur = active(h)
        await h.report(cur[0], FAILED, "n1")
        await h.tick()
    reaper = TaskReaper(h.store)  # the default history limit: 5 tasks a slot
    await paused(reaper)
    await reaper.settle()
    assert len(h.tasks("job")) == 8


async def test_defaults_as_dockerd_gives_them(h: Harness) -> None:
    await h.create(job("a", total=None, most=None))
    await h.create(job("b", total=None, most=3))
    await h.create(job("c", total=4, most=None))
    modes = {n: h.service(n).Spec.Mode.ReplicatedJob for n in "abc"}
    assert modes["a"] == ReplicatedJob(MaxConcurrent=1, TotalCompletions=1)
    assert modes["b"] == ReplicatedJob(MaxConcurrent=3, TotalCompletions=3)
    assert modes["c"] == ReplicatedJob(MaxConcurrent=1, TotalCompletions=4)


@pytest.mark.parametrize(("mode", "update", "message"), [
    (ServiceMode(ReplicatedJob=ReplicatedJob(MaxConcurrent=-1)), None, "Maximum concurrent jobs must not be negative"),
    (ServiceMode(ReplicatedJob=ReplicatedJob(TotalCompletions=1 << 63)), None,
     "Total completed jobs must not be negative"),
    (ServiceMode(GlobalJob={}), UpdateConfig(Parallelism=2), "Jobs may not have an update config"),
])
async def test_validation_in_swarmkits_words(h: Harness, mode: ServiceMode, update: UpdateConfig | None,
                                             message: str) -> None:
    s = job()
    s.Mode, s.UpdateConfig = mode, update
    with pytest.raises(ShoalError, match=f"^{message}$"):
        await h.api.create_service(s)


async def test_a_job_cannot_become_a_service_or_the_other_kind_of_job(h: Harness) -> None:
    await h.create(job())
    cur = h.service("job")
    for mode in (ServiceMode(GlobalJob={}), ServiceMode(Global={})):
        new = clone(cur.Spec)
        new.Mode = mode
        with pytest.raises(ShoalError, match=r"^service mode change is not allowed$"):
            await h.api.update_service(cur.ID, cur.Version.Index, new)


async def test_job_status_counts_the_current_run(h: Harness) -> None:
    n1 = await h.add_node("n1")
    await h.create(job(total=3, most=2))
    a, b = h.tasks("job")
    await h.report(a, COMPLETE, n1.ID)
    await h.report(b, RUNNING, n1.ID)
    st = h.api.service_status(h.service("job"))
    assert (st.RunningTasks, st.DesiredTasks, st.CompletedTasks) == (1, 2, 1)
    await h.create(global_job())
    g = h.tasks("gjob")
    assert len(g) == 1
    st = h.api.service_status(h.service("gjob"))
    assert (st.RunningTasks, st.DesiredTasks, st.CompletedTasks) == (0, 1, 0)
    await h.report(g[0], COMPLETE)
    st = h.api.service_status(h.service("gjob"))
    assert (st.RunningTasks, st.DesiredTasks, st.CompletedTasks) == (0, 0, 1)  # docker service ls: 0/0 (1/1 ...)

