"""The update monitor's arithmetic: the monitor window and the failure ratio (the worked examples of
monitor.py's docstring)."""

from __future__ import annotations

from shoal.api.states import TaskState
from shoal.api.types import Service, Task, UpdateConfig, UpdateStatus
from shoal.manager.orchestrator.monitor import UpdateMonitor

from ...helpers import FakeClock, make_task
from .harness import spec, ts


def test_a_new_task_is_in_flight_until_it_runs_then_watched_for_the_monitor_period() -> None:
    clock = FakeClock(1000.0)
    m = UpdateMonitor(clock)
    status = UpdateStatus(State="updating", StartedAt=ts(990.0))
    t = make_task(state=TaskState.STARTING)
    t.CreatedAt = ts(995.0)
    assert m.in_flight(t, status, monitor=5.0, now=clock()) == (True, None)  # not running yet

    t.Status.State = TaskState.RUNNING
    m.observe(None, t)  # seen running at t=1000
    # running: no longer held against the parallelism (SwarmKit's worker moves on), but 2 s are left of
    # its monitor window: look again then
    assert m.in_flight(t, status, monitor=5.0, now=1003.0) == (False, 2.0)
    assert m.in_flight(t, status, monitor=5.0, now=1005.0) == (False, None)

    old = make_task(state=TaskState.STARTING)
    old.CreatedAt = ts(980.0)  # made before the update: not the update's
    assert m.in_flight(old, status, monitor=5.0, now=1003.0) == (False, None)


def test_failures_over_the_ratio() -> None:
    # 3 slots, ratio 0.5: one failure (0.33) is tolerated, a second (0.67) is over.
    clock = FakeClock(1000.0)
    m = UpdateMonitor(clock)
    svc = Service(ID="web", Spec=spec(), UpdateStatus=UpdateStatus(State="updating", StartedAt=ts(990.0)))
    cfg = UpdateConfig(MaxFailureRatio=0.5)

    class Store:
        def __init__(self) -> None:
            self.tasks: list[Task] = []

        def tasks_of_owner(self, _sid: str) -> list[Task]:
            return self.tasks

    store = Store()

    def fail() -> None:
        t = make_task("web", state=TaskState.FAILED)
        t.Spec, t.CreatedAt = svc.Spec.TaskTemplate, ts(995.0)
        store.tasks.append(t)

    fail()
    assert m.failed_task(store, svc, svc.UpdateStatus, cfg, 5.0, 3, clock()) is None  # type: ignore[arg-type]
    fail()
    got = m.failed_task(store, svc, svc.UpdateStatus, cfg, 5.0, 3, clock())  # type: ignore[arg-type]
    assert got is store.tasks[1]
    # Counted once: another look finds nothing new.
    assert m.failed_task(store, svc, svc.UpdateStatus, cfg, 5.0, 3, clock()) is None  # type: ignore[arg-type]
