"""The update monitor: watches the tasks an update made, and decides pause, rollback or go on.

It owns two memories, kept in memory as in SwarmKit (a new leader starts them afresh):

- ``running_since``: when each task was first seen running (fed from store changes by ``observe``);
- the failures of each update (service ID and the update's start time): tasks already counted, so a
  failure is counted once however often the service is reconciled.

**The monitor window.** A new task is *in flight* (it counts against the update's parallelism) from
its creation until it runs, as SwarmKit's updater holds a worker until its task runs. It is then
*watched* until it has run for ``UpdateConfig.Monitor`` (5 s by default): a failure in that window
counts, and the update is not complete while a task is watched (SwarmKit watches one monitor period
after its last slot). Example: monitor 5 s, the task was seen running at t=100; from then its slot
no longer holds the next batch; at t=103 it is watched with 2 s left, and the service is looked at
again at t=105.

**The failure ratio.** A failure is a task of the new spec, made since the update started, that
stopped on its own (any state past running, a clean exit included: "early termination") before it
had run for the monitor period. As in SwarmKit the ratio is failures over the slots the update
covers, and the update reacts when it is *above* ``MaxFailureRatio``. Example: 3 slots and a ratio
of 0.5: one failure is 1/3 = 0.33, tolerated; a second is 2/3 = 0.67, and the failure action runs.
With the default ratio 0 the first failure is enough.

**The failure action.** ``pause`` stops the update (``paused``, or ``rollback_paused`` during a
rollback) with SwarmKit's message; ``rollback`` swaps the spec back to the previous one and starts a
rollback (``rollback_started``); ``continue`` ignores the failure.
"""

from __future__ import annotations

from shoal.api.states import TaskState
from shoal.api.types import Service, Task, UpdateConfig, UpdateStatus, VersionRef, now_ts, parse_ts
from shoal.manager.orchestrator.common import task_dirty
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.workqueue import Clock
from shoal.store.objects import ObjectStore

IN_PROGRESS = ("updating", "rollback_started")


class UpdateMonitor:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.running_since: dict[str, float] = {}
        self.failures: dict[tuple[str, str], set[str]] = {}  # (service ID, StartedAt) -> failed task IDs

    def observe(self, old: Task | None, new: Task | None) -> None:
        """A task changed in the store: remember when it was first seen running (called on every
        task change: kept to a test or two)."""
        if new is not None:
            if new.Status.State == TaskState.RUNNING and new.ID not in self.running_since:
                self.running_since[new.ID] = self.clock()
        elif old is not None:
            self.running_since.pop(old.ID, None)

    def in_flight(self, t: Task, status: UpdateStatus, monitor: float, now: float) -> tuple[bool, float | None]:
        """Whether the new task ``t`` still counts against the update's parallelism (it is not running
        yet: SwarmKit's updater frees a worker once its task runs), and if it runs inside its monitor
        window, the seconds left of it (the update is not complete before that: a failure in it still
        counts)."""
        started = parse_ts(status.StartedAt or "")
        if parse_ts(t.CreatedAt or now_ts()) < started or t.Status.State.terminal:
            return False, None  # made before this update, or already stopped (a failure, counted apart)
        if t.Status.State < TaskState.RUNNING:
            return True, None  # not running yet: its running will wake the orchestrator
        running_for = now - self.running_since.get(t.ID, parse_ts(t.Status.Timestamp))
        if running_for < monitor:
            return False, monitor - running_for
        return False, None

    def failed_task(self, store: ObjectStore, service: Service, status: UpdateStatus | None, cfg: UpdateConfig,
                    monitor: float, slots: int, now: float) -> Task | None:
        """The task whose failure tips the update over ``MaxFailureRatio``, if one does.

        Tasks are read as stored, before this reconcile's restarts changed their desired state."""
        if status is None or status.State not in IN_PROGRESS:
            return None
        seen = self.failures.setdefault((service.ID, status.StartedAt or ""), set())
        started = parse_ts(status.StartedAt or "")
        newest: Task | None = None
        for t in store.tasks_of_owner(service.ID):
            if t.ID in seen or task_dirty(service, t) or parse_ts(t.CreatedAt or now_ts()) < started:
                continue
            if t.DesiredState == TaskState.RUNNING and t.Status.State.terminal:
                since = self.running_since.get(t.ID)
                if since is None or now - since < monitor:
                    seen.add(t.ID)
                    newest = t
        if newest is None:
            return None
        return newest if len(seen) / max(slots, 1) > cfg.MaxFailureRatio else None

    def act_on_failure(self, plan: Plan, service: Service, status: UpdateStatus, cfg: UpdateConfig,
                       failed: Task) -> bool:
        """Run the failure action for ``failed``; True when the update stops here (paused or rolled back)."""
        if cfg.FailureAction not in ("pause", "rollback"):
            return False  # continue
        rolling_back = status.State == "rollback_started"
        s = plan.edit_service(service)
        if cfg.FailureAction == "rollback" and not rolling_back and service.PreviousSpec is not None:
            s.PreviousSpec, s.Spec = service.Spec, service.PreviousSpec
            s.SpecVersion = VersionRef(Index=(service.SpecVersion.Index if service.SpecVersion else 0) + 1)
            s.UpdateStatus = UpdateStatus(
                State="rollback_started", StartedAt=now_ts(),
                Message=f"update rolled back due to failure or early termination of task {failed.ID}",
            )
            plan.again_in(0.0)  # the rollback's first batch
            return True
        what = "rollback" if rolling_back else "update"
        s.UpdateStatus = UpdateStatus(
            State="rollback_paused" if rolling_back else "paused",
            StartedAt=status.StartedAt,
            Message=f"{what} paused due to failure or early termination of task {failed.ID}",
        )
        return True

    def complete(self, plan: Plan, service: Service, status: UpdateStatus) -> None:
        """Every slot is updated and out of its monitor window: the update (or rollback) is done."""
        self.failures.pop((service.ID, status.StartedAt or ""), None)
        rolling_back = status.State == "rollback_started"
        s = plan.edit_service(service)
        s.UpdateStatus = UpdateStatus(
            State="rollback_completed" if rolling_back else "completed",
            StartedAt=status.StartedAt,
            CompletedAt=now_ts(),
            Message="rollback completed" if rolling_back else "update completed",
        )

    def forget_service(self, service_id: str) -> None:
        """The service is gone (its tasks' running times go as the reaper deletes them)."""
        for key in [k for k in self.failures if k[0] == service_id]:
            del self.failures[key]
