"""The orchestrator: replicated slots, scaling, restart policies, drains, global services, service
removal and rolling updates, driven tick by tick with a fake clock."""

from __future__ import annotations

import pytest

from shoal.api.defaults import SECOND
from shoal.api.states import TaskState
from shoal.api.types import (
    Endpoint,
    NetworkAttachmentConfig,
    Node,
    Placement,
    PortConfig,
    RestartPolicy,
    Service,
    Taint,
    Task,
    Toleration,
    UpdateConfig,
    clone,
)
from shoal.manager.orchestrator import orchestrator, replicated
from shoal.manager.orchestrator.common import new_task
from shoal.manager.orchestrator.orchestrator import Orchestrator
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.workqueue import BASE_DELAY

from ...helpers import make_task, paused
from .harness import Harness, spec

RUNNING, READY, SHUTDOWN, REMOVE = TaskState.RUNNING, TaskState.READY, TaskState.SHUTDOWN, TaskState.REMOVE


def slots(tasks: list[Task]) -> list[int]:
    return sorted(t.Slot for t in tasks)


# ---------------------------------------------------------------- replicated


async def test_replicas_make_one_task_per_slot(h: Harness) -> None:
    svc = await h.create(spec(replicas=3))
    tasks = h.tasks()
    assert slots(tasks) == [1, 2, 3]
    for t in tasks:
        assert t.DesiredState == RUNNING
        assert t.Status.State == TaskState.PENDING  # no networks or ports: nothing for the allocator to do
        assert t.NodeID == ""
        assert t.Owner.ID == svc.ID
        assert t.SpecVersion is not None and t.SpecVersion.Index == svc.SpecVersion.Index
        assert t.Spec == svc.Spec.TaskTemplate
        assert t.ServiceAnnotations == {"Name": "web", "Labels": {}}

    # Idempotent: nothing more on another tick.
    await h.tick()
    assert len(h.tasks()) == 3


def test_tasks_that_need_addresses_are_made_new_for_the_allocator() -> None:
    s = spec()
    s.TaskTemplate.Networks = [NetworkAttachmentConfig(Target="front")]
    assert new_task(Service(ID="s1", Spec=s), slot=1).Status.State == TaskState.NEW
    published = Service(ID="s2", Spec=spec(), Endpoint=Endpoint(Ports=[PortConfig(TargetPort=80, PublishedPort=8080)]))
    assert new_task(published, slot=1).Status.State == TaskState.NEW


async def test_a_service_created_before_start_is_reconciled(h: Harness) -> None:
    await h.api.create_service(spec(name="early", replicas=2))
    orch2 = Orchestrator(h.store, clock=h.clock)  # e.g. a manager that just became leader
    await paused(orch2)
    await orch2.settle()
    assert slots(h.tasks("early")) == [1, 2]


async def test_scale_up_adds_the_missing_slots(h: Harness) -> None:
    await h.create(spec(replicas=3))
    before = {t.ID for t in h.tasks()}
    await h.update(replicas=5)
    tasks = h.tasks()
    assert slots(tasks) == [1, 2, 3, 4, 5]
    assert before < {t.ID for t in tasks}  # the old ones are kept, untouched
    assert all(t.DesiredState == RUNNING for t in tasks)


async def test_scale_down_removes_non_running_then_highest_slots(h: Harness) -> None:
    await h.create(spec(replicas=5))
    by_slot = {t.Slot: t for t in h.tasks()}
    await h.run_all(by_slot[s] for s in (1, 3, 4, 5))  # slot 2 never got running
    await h.update(replicas=3)
    removed = slots([t for t in h.tasks() if t.DesiredState == REMOVE])
    assert removed == [2, 5]
    assert slots(h.wanted()) == [1, 3, 4]
    # No replacement for removed slots, and nothing else changes on later ticks.
    await h.tick()
    assert len(h.tasks()) == 5 and slots(h.wanted()) == [1, 3, 4]


async def test_scale_to_zero(h: Harness) -> None:
    await h.create(spec(replicas=2))
    await h.update(replicas=0)
    assert h.wanted() == [] and {t.DesiredState for t in h.tasks()} == {REMOVE}


async def test_a_refilled_slot_takes_the_lowest_free_number(h: Harness) -> None:
    await h.create(spec(replicas=3))
    await h.run_all(h.tasks())
    await h.update(replicas=1)
    assert slots(h.wanted()) == [1]
    await h.update(replicas=2)
    assert slots(h.wanted()) == [1, 2]


# ---------------------------------------------------------------- restart policy


async def test_failed_task_is_replaced_after_the_default_delay(h: Harness) -> None:
    await h.create(spec(replicas=2))
    await h.run_all(h.tasks(), node_id="n1")
    t1 = next(t for t in h.tasks() if t.Slot == 1)
    await h.report(t1, TaskState.FAILED)

    old = h.get(t1)
    assert old.DesiredState == SHUTDOWN
    (new,) = [t for t in h.wanted() if t.Slot == 1]
    assert new.ID != t1.ID
    assert new.DesiredState == READY  # made now, started after the restart delay
    assert new.NodeID == ""  # the scheduler picks again
    assert len(h.wanted()) == 2

    h.clock.advance(4.9)
    await h.tick()
    assert h.get(new).DesiredState == READY
    h.clock.advance(0.2)
    await h.tick()
    assert h.get(new).DesiredState == RUNNING
    assert [t.ID for t in h.tasks() if t.Slot == 1 and t.DesiredState <= RUNNING] == [new.ID]


async def test_restart_delay_from_the_policy(h: Harness) -> None:
    await h.create(spec(replicas=1, restart=RestartPolicy(Condition="any", Delay=0)))
    (t,) = h.tasks()
    await h.report(t, TaskState.RUNNING)
    await h.report(t, TaskState.FAILED)
    (new,) = h.wanted()
    await h.tick()  # no clock advance needed
    assert h.get(new).DesiredState == RUNNING


async def test_a_replacement_that_fails_early_waits_out_its_delay(h: Harness) -> None:
    await h.create(spec(replicas=1))
    (t,) = h.tasks()
    await h.report(t, TaskState.FAILED)
    (r1,) = h.wanted()
    assert r1.DesiredState == READY
    h.clock.advance(1)
    await h.report(r1, TaskState.REJECTED)  # e.g. the image is missing on the node
    assert len(h.tasks()) == 2  # no tight loop: nothing new before the delay has passed
    h.clock.advance(4.1)
    await h.tick()
    assert len(h.tasks()) == 3
    assert h.get(r1).DesiredState == SHUTDOWN
    (r2,) = h.wanted()
    assert r2.Slot == t.Slot and r2.DesiredState == READY


async def test_condition_none_never_restarts_and_keeps_the_slot(h: Harness) -> None:
    await h.create(spec(replicas=2, restart=RestartPolicy(Condition="none")))
    t1 = h.tasks()[0]
    await h.report(t1, TaskState.RUNNING)
    await h.report(t1, TaskState.FAILED)
    h.clock.advance(60)
    await h.tick()
    assert len(h.tasks()) == 2
    assert h.get(t1).DesiredState == RUNNING  # the stopped task still fills its slot


async def test_condition_on_failure(h: Harness) -> None:
    await h.create(spec(replicas=2, restart=RestartPolicy(Condition="on-failure")))
    a, b = h.tasks()
    await h.run_all([a, b])
    await h.report(a, TaskState.COMPLETE)
    h.clock.advance(60)
    await h.tick()
    assert len(h.tasks()) == 2 and h.get(a).DesiredState == RUNNING

    await h.report(b, TaskState.FAILED)
    assert h.get(b).DesiredState == SHUTDOWN
    assert len(h.tasks()) == 3
    (new,) = [t for t in h.wanted() if t.Slot == b.Slot]
    assert new.ID != b.ID


async def test_condition_any_restarts_completed_tasks(h: Harness) -> None:
    await h.create(spec(replicas=1))
    (t,) = h.tasks()
    await h.report(t, TaskState.RUNNING)
    await h.report(t, TaskState.COMPLETE)
    assert h.get(t).DesiredState == SHUTDOWN and len(h.tasks()) == 2


async def test_max_attempts_limits_restarts(h: Harness) -> None:
    await h.create(spec(replicas=1, restart=RestartPolicy(Condition="any", Delay=SECOND, MaxAttempts=2)))
    for _ in range(5):
        (cur,) = h.wanted()
        if cur.DesiredState == READY:
            h.clock.advance(1.5)
            await h.tick()
        assert h.get(cur).DesiredState == RUNNING
        await h.report(cur, TaskState.RUNNING)
        await h.report(cur, TaskState.FAILED)
        h.clock.advance(0.1)
        await h.tick()
        if not [t for t in h.wanted() if t.Status.State <= RUNNING]:
            break
    tasks = h.tasks()
    assert len(tasks) == 3  # the first one and two restarts
    assert all(t.Status.State == TaskState.FAILED for t in tasks)
    assert [t.DesiredState for t in tasks].count(SHUTDOWN) == 2
    # The last one keeps its slot; nothing new is made later either.
    h.clock.advance(600)
    await h.tick()
    assert len(h.tasks()) == 3


async def test_max_attempts_within_a_window(h: Harness) -> None:
    pol = RestartPolicy(Condition="any", Delay=0, MaxAttempts=1, Window=10 * SECOND)
    await h.create(spec(replicas=1, restart=pol))
    (t,) = h.tasks()
    await h.report(t, TaskState.FAILED)  # restart 1
    (r1,) = h.wanted()
    await h.tick()
    await h.report(r1, TaskState.FAILED)  # within the window: no more
    assert len(h.tasks()) == 2 and h.get(r1).DesiredState == RUNNING

    # A new failure after the window has passed is restarted again.
    await h.create(spec(name="later", replicas=1, restart=pol))
    (t,) = h.tasks("later")
    await h.report(t, TaskState.FAILED)
    (r1,) = h.wanted("later")
    await h.tick()
    h.clock.advance(11)
    await h.report(r1, TaskState.FAILED)
    assert len(h.tasks("later")) == 3


async def test_a_drained_node_moves_its_tasks_without_delay(h: Harness) -> None:
    n1 = await h.add_node("n1")
    n2 = await h.add_node("n2")
    await h.create(spec(replicas=2))
    a, b = h.tasks()
    await h.report(a, RUNNING, n1.ID)
    await h.report(b, RUNNING, n2.ID)

    await h.set_node(n1, availability="drain")
    assert h.get(a).DesiredState == SHUTDOWN
    assert h.get(b).DesiredState == RUNNING
    (new,) = [t for t in h.wanted() if t.Slot == a.Slot]
    assert new.ID != a.ID and new.DesiredState == READY and new.NodeID == ""

    await h.tick()
    assert h.get(new).DesiredState == READY  # waits for the old task to stop (stop-first)
    await h.report(a, TaskState.SHUTDOWN)
    assert h.get(new).DesiredState == RUNNING  # no restart delay for a move, no clock advance


async def test_a_task_on_a_down_node_is_replaced_at_once(h: Harness) -> None:
    n1 = await h.add_node("n1")
    await h.create(spec(replicas=1))
    (a,) = h.tasks()
    await h.report(a, RUNNING, n1.ID)
    await h.set_node(n1, state="down")
    assert h.get(a).DesiredState == SHUTDOWN
    (new,) = h.wanted()
    h.clock.advance(5.1)  # a restart delay, but the old task need not be waited for
    await h.tick()
    assert h.get(new).DesiredState == RUNNING


# ---------------------------------------------------------------- global


async def test_global_one_task_per_eligible_node(h: Harness) -> None:
    n1 = await h.add_node("n1")
    n2 = await h.add_node("n2")
    await h.add_node("n3", state="down")
    await h.add_node("n4", availability="drain")
    await h.add_node("n5", availability="pause")
    await h.create(spec(global_=True))
    tasks = h.tasks()
    assert sorted(t.NodeID for t in tasks) == sorted([n1.ID, n2.ID])
    for t in tasks:
        assert t.Slot == 0 and t.DesiredState == RUNNING

    n6 = await h.add_node("n6")
    assert sorted(t.NodeID for t in h.tasks()) == sorted([n1.ID, n2.ID, n6.ID])

    await h.set_node(n2, availability="drain")
    (on_n2,) = [t for t in h.tasks() if t.NodeID == n2.ID]
    assert on_n2.DesiredState == SHUTDOWN
    assert len(h.tasks()) == 3  # not replaced anywhere


async def test_global_follows_constraints(h: Harness) -> None:
    east = await h.add_node("e", labels={"zone": "east"})
    west = await h.add_node("w", labels={"zone": "west"})
    await h.create(spec(global_=True, constraints=["node.labels.zone==east"]))
    assert [t.NodeID for t in h.tasks()] == [east.ID]
    await h.set_node(west, labels={"zone": "east"})
    assert sorted(t.NodeID for t in h.wanted()) == sorted([east.ID, west.ID])
    await h.set_node(east, labels={"zone": "north"})
    assert [t.NodeID for t in h.wanted()] == [west.ID]


async def test_global_skips_nodes_with_untolerated_taints_as_paused_ones(h: Harness) -> None:
    plain = await h.add_node("plain")
    gpu = await h.add_node("gpu")

    def taint(n: Node) -> bool:
        n.Spec.Taints = [Taint(Key="dedicated", Value="gpu", Effect="NoSchedule")]
        return True

    await h.store.update_with(Node, gpu.ID, taint)
    await h.settle()
    await h.create(spec(global_=True))
    assert [t.NodeID for t in h.tasks()] == [plain.ID]
    tolerating = spec("ml", global_=True)
    tolerating.TaskTemplate.Placement = Placement(
        Tolerations=[Toleration(Key="dedicated", Operator="Exists", Effect="NoSchedule")])
    await h.create(tolerating)
    assert sorted(t.NodeID for t in h.tasks("ml")) == sorted([plain.ID, gpu.ID])
    # A taint added later keeps what runs there (as a paused node does); without it, the node gets a task.
    await h.store.update_with(Node, plain.ID, taint)
    await h.settle()
    assert [t.NodeID for t in h.wanted()] == [plain.ID]

    def untaint(n: Node) -> bool:
        n.Spec.Taints = None
        return True

    await h.store.update_with(Node, gpu.ID, untaint)
    await h.settle()
    assert sorted(t.NodeID for t in h.wanted()) == sorted([plain.ID, gpu.ID])


async def test_global_restart_stays_on_its_node(h: Harness) -> None:
    n1 = await h.add_node("n1")
    await h.create(spec(global_=True))
    (t,) = h.tasks()
    await h.report(t, RUNNING)
    await h.report(t, TaskState.FAILED)
    (new,) = h.wanted()
    assert new.ID != t.ID and new.NodeID == n1.ID and new.DesiredState == READY


# ---------------------------------------------------------------- removal


async def test_removed_service_tasks_are_marked_remove(h: Harness) -> None:
    await h.create(spec(replicas=3))
    await h.create(spec(name="other", replicas=1))
    ids = [t.ID for t in h.tasks()]
    await h.api.remove_service("web")
    await h.settle()
    assert {h.store.get(Task, i).DesiredState for i in ids} == {REMOVE}
    assert [t.DesiredState for t in h.tasks("other")] == [RUNNING]


# ---------------------------------------------------------------- rolling update


async def _running_service(h: Harness, replicas: int, **kw: object) -> None:
    n = await h.add_node("n1")
    await h.create(spec(replicas=replicas, **kw))  # type: ignore[arg-type]
    await h.run_all(h.tasks(), node_id=n.ID)


def stale(h: Harness) -> list[Task]:
    svc = h.service()
    return [t for t in h.wanted() if t.Spec != svc.Spec.TaskTemplate]


async def test_rolling_update_one_slot_at_a_time(h: Harness) -> None:
    await _running_service(h, 3, update=UpdateConfig(Parallelism=1))
    svc = await h.update(env=["V=2"])
    assert svc.UpdateStatus is not None and svc.UpdateStatus.State == "updating"

    replaced: list[int] = []
    for _ in range(3):
        assert h.service().UpdateStatus.State == "updating"
        fresh = [t for t in h.wanted() if t.Spec.Containers[0].Env == ["V=2"] and t.Status.State < RUNNING]
        assert len(fresh) == 1, "exactly one slot in flight"
        (new,) = fresh
        replaced.append(new.Slot)
        old = [t for t in h.tasks() if t.Slot == new.Slot and t.ID != new.ID and t.Status.State == RUNNING]
        assert [t.DesiredState for t in old] == [SHUTDOWN]
        assert new.DesiredState == READY  # stop-first: waits for the old one
        await h.tick()
        assert h.get(new).DesiredState == READY
        await h.report(old[0], TaskState.SHUTDOWN)
        assert h.get(new).DesiredState == RUNNING
        await h.report(new, RUNNING, node_id=old[0].NodeID)
        # Running: the next slot goes at once (SwarmKit's updater frees its worker when the new task
        # runs; the monitor period only decides whether a failure counts).
        assert len(stale(h)) == max(3 - len(replaced) - 1, 0)
    assert sorted(replaced) == [1, 2, 3]
    assert stale(h) == []
    # Complete only once the last task has run through its monitor window (5 s) without failing.
    h.clock.advance(4)
    await h.tick()
    assert h.service().UpdateStatus.State == "updating"
    h.clock.advance(1.5)
    await h.tick()
    st = h.service().UpdateStatus
    assert st.State == "completed" and st.Message == "update completed" and st.CompletedAt
    assert all(t.SpecVersion.Index == h.service().SpecVersion.Index for t in h.wanted())


async def test_scaling_is_not_an_update(h: Harness) -> None:
    await _running_service(h, 2)
    await h.update(replicas=3)
    svc = h.service()
    assert svc.UpdateStatus is None
    assert stale(h) == []
    assert len(h.wanted()) == 3
    # Tasks get the new spec version in place.
    assert {t.SpecVersion.Index for t in h.wanted()} == {svc.SpecVersion.Index}


async def test_parallelism_zero_updates_every_slot_at_once(h: Harness) -> None:
    await _running_service(h, 3, update=UpdateConfig(Parallelism=0))
    await h.update(env=["V=2"])
    assert stale(h) == []
    assert len([t for t in h.tasks() if t.DesiredState == SHUTDOWN]) == 3


async def _start_update_and_run_first(h: Harness) -> Task:
    await _running_service(h, 3, update=UpdateConfig(Parallelism=1))
    await h.update(env=["V=2"])
    (new,) = [t for t in h.wanted() if t.Spec.Containers[0].Env == ["V=2"]]
    (old,) = [t for t in h.tasks() if t.Slot == new.Slot and t.ID != new.ID]
    await h.report(old, TaskState.SHUTDOWN)
    await h.report(new, RUNNING, node_id=old.NodeID)
    return new


async def test_a_failure_during_the_monitor_pauses_the_update(h: Harness) -> None:
    new = await _start_update_and_run_first(h)
    h.clock.advance(1)
    await h.report(new, TaskState.FAILED)
    h.clock.advance(0.1)
    await h.tick()
    st = h.service().UpdateStatus
    assert st.State == "paused"
    assert st.Message == f"update paused due to failure or early termination of task {new.ID}"


async def test_a_failure_during_the_monitor_pauses_the_update_without_restarts(h: Harness) -> None:
    # Same as above with restart condition "none", where the failed task keeps its slot.
    n = await h.add_node("n1")
    await h.create(spec(replicas=3, update=UpdateConfig(Parallelism=1), restart=RestartPolicy(Condition="none")))
    await h.run_all(h.tasks(), node_id=n.ID)
    await h.update(env=["V=2"])
    (new,) = [t for t in h.wanted() if t.Spec.Containers[0].Env == ["V=2"]]
    (old,) = [t for t in h.tasks() if t.Slot == new.Slot and t.ID != new.ID]
    await h.report(old, TaskState.SHUTDOWN)
    await h.report(new, RUNNING, node_id=n.ID)
    h.clock.advance(1)
    await h.report(new, TaskState.FAILED)
    st = h.service().UpdateStatus
    assert st.State == "paused"
    assert st.Message == f"update paused due to failure or early termination of task {new.ID}"
    # The second slot went once the first task ran; paused: no further slot is touched, even long after.
    assert len(stale(h)) == 1
    h.clock.advance(60)
    await h.tick()
    assert len(stale(h)) == 1
    assert h.service().UpdateStatus.State == "paused"


async def test_failure_action_continue_keeps_going(h: Harness) -> None:
    n = await h.add_node("n1")
    await h.create(spec(replicas=2, update=UpdateConfig(Parallelism=1, FailureAction="continue"),
                        restart=RestartPolicy(Condition="none")))
    await h.run_all(h.tasks(), node_id=n.ID)
    await h.update(env=["V=2"])
    (new,) = [t for t in h.wanted() if t.Spec.Containers[0].Env == ["V=2"]]
    (old,) = [t for t in h.tasks() if t.Slot == new.Slot and t.ID != new.ID]
    await h.report(old, TaskState.SHUTDOWN)
    await h.report(new, RUNNING, node_id=n.ID)
    await h.report(new, TaskState.FAILED)
    await h.tick()
    assert h.service().UpdateStatus.State == "updating"
    assert len(stale(h)) == 0  # the second slot went right away


async def test_start_first_starts_the_new_task_before_stopping_the_old(h: Harness) -> None:
    await _running_service(h, 1, update=UpdateConfig(Parallelism=1, Order="start-first"))
    (old,) = h.tasks()
    await h.update(env=["V=2"])
    (new,) = [t for t in h.tasks() if t.ID != old.ID]
    assert new.Slot == old.Slot and new.DesiredState == RUNNING
    assert h.get(old).DesiredState == RUNNING  # both run for a while
    await h.report(new, RUNNING, node_id=old.NodeID)
    assert h.get(old).DesiredState == SHUTDOWN
    await h.report(old, TaskState.SHUTDOWN)
    h.clock.advance(6)
    await h.tick()
    assert h.service().UpdateStatus.State == "completed"


async def _update_with_first_slot_stopping(h: Harness, cfg: UpdateConfig, final: TaskState) -> Task:
    n = await h.add_node("n1")
    await h.create(spec(replicas=3, update=cfg, restart=RestartPolicy(Condition="none")))
    await h.run_all(h.tasks(), node_id=n.ID)
    await h.update(env=["V=2"])
    (new,) = [t for t in h.wanted() if t.Spec.Containers[0].Env == ["V=2"]]
    (old,) = [t for t in h.tasks() if t.Slot == new.Slot and t.ID != new.ID]
    await h.report(old, TaskState.SHUTDOWN)
    await h.report(new, RUNNING, node_id=n.ID)
    h.clock.advance(1)
    await h.report(new, final)
    h.clock.advance(0.1)
    await h.tick()
    return new


async def test_max_failure_ratio_tolerates_failures_below_it(h: Harness) -> None:
    await _update_with_first_slot_stopping(h, UpdateConfig(Parallelism=1, MaxFailureRatio=0.5), TaskState.FAILED)
    assert h.service().UpdateStatus.State == "updating"  # 1 failure of 3 slots is under 0.5
    assert len(stale(h)) == 1  # and the next slot went


async def test_early_termination_during_the_monitor_pauses_the_update(h: Harness) -> None:
    new = await _update_with_first_slot_stopping(h, UpdateConfig(Parallelism=1), TaskState.COMPLETE)
    st = h.service().UpdateStatus
    assert st.State == "paused"
    assert st.Message == f"update paused due to failure or early termination of task {new.ID}"


async def test_failure_action_rollback_rolls_back(h: Harness) -> None:
    new = await _update_with_first_slot_stopping(
        h, UpdateConfig(Parallelism=1, FailureAction="rollback"), TaskState.FAILED)
    svc = h.service()
    assert svc.UpdateStatus.State == "rollback_started"
    assert svc.UpdateStatus.Message == f"update rolled back due to failure or early termination of task {new.ID}"
    assert svc.Spec.TaskTemplate.Containers[0].Env is None


async def test_a_tick_commits_many_services_in_batches(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orchestrator, "COMMIT_BATCH", 6)
    for name in ("a", "b", "c"):
        await h.api.create_service(spec(name=name, replicas=4))  # three services, made before one tick
    before = h.store.revision
    await h.orch.tick()
    assert h.store.revision - before == 2  # a and b (8 tasks: over the batch), then c; never half a service
    assert [len(h.tasks(n)) for n in ("a", "b", "c")] == [4, 4, 4]
    assert [slots(h.tasks(n)) for n in ("a", "b", "c")] == [[1, 2, 3, 4]] * 3


# ---------------------------------------------------------------- scale-down ranking


async def test_scale_down_takes_the_copy_from_the_node_with_most_of_this_service(h: Harness) -> None:
    n1 = await h.add_node("n1")
    n2 = await h.add_node("n2")
    other = await h.create(spec(name="other", replicas=1))
    # Five stopped tasks of another service on n1: history, which must not weigh on the choice.
    await h.store.commit(creates=[
        make_task(other.ID, slot=1, state=TaskState.FAILED, desired=SHUTDOWN, node_id=n1.ID) for _ in range(5)])
    await h.settle()
    await h.create(spec(replicas=3))
    a, b, c = h.tasks()
    await h.report(a, RUNNING, n1.ID)
    await h.report(b, RUNNING, n2.ID)
    await h.report(c, RUNNING, n2.ID)
    await h.update(replicas=2)
    # n2 has two copies of web, n1 one: the second copy on n2 goes (SwarmKit's nth-copy ranking),
    # however many other tasks n1 holds.
    assert [t.Slot for t in h.tasks() if t.DesiredState == REMOVE] == [c.Slot]
    assert slots(h.wanted()) == [a.Slot, b.Slot]


def test_scale_down_order_ranks_as_swarmkit() -> None:
    def slot(num: int, node: str, state: TaskState = RUNNING) -> tuple[int, list[Task]]:
        return num, [make_task("web", slot=num, node_id=node, state=state)]

    slots_ = dict([
        slot(1, "n1"), slot(2, "n1"), slot(3, "n1"),  # the 1st, 2nd and 3rd copy on n1
        slot(4, "n2"), slot(5, "n2", TaskState.STARTING),  # n2: 1st (running), 2nd (starting)
        slot(6, "n3", TaskState.STARTING),  # alone on n3, not running yet: a 1st copy
        slot(7, ""),  # not on a node yet
    ])
    order = [num for num, _ in replicated.scale_down_order(slots_)]
    # Off a node first; then 3rd copies, 2nd copies (not running first), 1st copies (not running
    # first, then the highest slot number).
    assert order == [7, 3, 5, 2, 6, 4, 1]


# ---------------------------------------------------------------- the work queue


async def test_a_service_that_fails_to_reconcile_is_retried_alone_with_back_off(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    real = replicated.reconcile
    broken = {"bad"}

    def flaky(plan: Plan, service: Service, *args: object) -> None:
        if service.Spec.Name in broken:
            raise RuntimeError("boom")
        real(plan, service, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(replicated, "reconcile", flaky)
    bad = await h.api.create_service(spec(name="bad", replicas=2))
    await h.api.create_service(spec(name="good", replicas=2))
    await h.settle()
    assert len(h.tasks("good")) == 2 and h.tasks("bad") == []
    assert h.orch.queue.delayed(bad.ID) == pytest.approx(h.clock() + BASE_DELAY)
    h.clock.advance(BASE_DELAY)
    await h.tick()
    assert h.orch.queue.delayed(bad.ID) == pytest.approx(h.clock() + 2 * BASE_DELAY)  # backing off
    broken.clear()
    h.clock.advance(2 * BASE_DELAY)
    await h.tick()
    assert len(h.tasks("bad")) == 2
    assert h.orch.queue.failures(bad.ID) == 0  # forgotten on success


async def test_a_restart_delay_is_a_delay_on_the_service_key(h: Harness) -> None:
    svc = await h.create(spec(replicas=1))
    (t,) = h.tasks()
    await h.report(t, TaskState.FAILED)
    assert h.orch.queue.delayed(svc.ID) == pytest.approx(h.clock() + 5.0)  # Swarm's default delay
    assert h.orch.queue.idle()


def test_a_services_new_tasks_share_its_containers_and_owner() -> None:
    """100,000 tasks of one service hold one container list and one owner reference, not copies."""
    svc = Service(ID="s1", Spec=spec(replicas=2))
    a, b = new_task(svc, slot=1), new_task(svc, slot=2)
    assert a.Spec.Containers is svc.Spec.TaskTemplate.Containers and b.Spec.Containers is a.Spec.Containers
    assert a.Owner is b.Owner
    assert (a.Owner.Kind, a.Owner.ID, a.Owner.Name) == ("Service", "s1", "web")


async def test_a_pods_task_is_no_services_and_is_left_alone(h: Harness) -> None:
    # A Pod made by hand has a namespace and no owner: the Swarm orchestrator must not take it for the
    # task of a removed service (and mark it remove), nor restart or move it.
    node = await h.add_node("n1")
    pod = make_task("", state=TaskState.PENDING)
    pod.Owner.Kind, pod.Namespace, pod.Name = "", "default", "web"
    pod = await h.store.create(pod)
    await h.settle()
    await h.report(pod, TaskState.FAILED, node.ID)
    await h.set_node(node, availability="drain")
    await h.tick()
    got = h.get(pod)
    assert got.DesiredState == RUNNING and got.Status.State == TaskState.FAILED
    assert len(h.store.list(Task)) == 1


# ---------------------------------------------------------------- bounded work (issue 18)


async def test_missing_slots_are_made_in_bounded_passes(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicated, "SLOT_BATCH", 3)
    svc = await h.create(spec(replicas=1))
    cur = clone(h.service())  # a stored object is never changed in place
    assert cur.Spec.Mode.Replicated is not None
    cur.Spec.Mode.Replicated.Replicas = 8
    plan = Plan(h.store)
    replicated.reconcile(plan, cur, h.tasks(), {}, h.orch.restarts)
    assert [t.Slot for t in plan.created] == [2, 3, 4]  # one pass: at most SLOT_BATCH
    assert plan.again == 0.0  # and the service again at once for the rest
    await h.update(replicas=8)
    assert slots(h.wanted()) == list(range(1, 9))  # pass after pass, all of them
    assert h.service().ID == svc.ID


async def test_a_stored_count_above_the_maximum_is_held_at_it(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicated, "MAX_REPLICAS", 5)
    monkeypatch.setattr(replicated, "SLOT_BATCH", 2)
    await h.create(spec(replicas=1))
    stored = clone(h.service())  # what an older shoal may have stored: the control API refuses it now
    assert stored.Spec.Mode.Replicated is not None
    stored.Spec.Mode.Replicated.Replicas = 1_000_000_000
    await h.store.commit(updates=[stored])
    await h.settle()
    assert slots(h.wanted()) == [1, 2, 3, 4, 5]
