"""Rolling updates: replace tasks made from an older spec, a batch at a time, as Swarm does.

``UpdateConfig`` (Swarm's defaults: parallelism 1, delay 0, failure action pause, monitor 5 s,
order stop-first) drives it. A slot is *in flight* while its new task has not been running for the
monitor period; at most ``Parallelism`` slots (0: all) are in flight, and a new batch starts
``Delay`` after the previous one. stop-first shuts the old task down and starts the new one once it
has stopped; start-first starts the new one and shuts the old one down once the new one runs. A new
task that fails within the monitor period pauses the update (``paused``, with SwarmKit's message) or
is ignored (``continue``). When no slot is left to update the status becomes ``completed``.

Tasks whose spec is unchanged (a scale, a label change) only get the new spec version in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.api.defaults import SECOND
from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task, UpdateStatus, VersionRef, now_ts, parse_ts
from shoal.manager.orchestrator.common import is_global, new_task, task_dirty, update_config
from shoal.manager.orchestrator.restart import DelayedStart

if TYPE_CHECKING:
    from shoal.manager.orchestrator.orchestrator import Orchestrator, Plan


def _slot(service: Service, t: Task) -> int | str:
    return t.NodeID if is_global(service) else t.Slot


def reconcile(orch: Orchestrator, plan: Plan, service: Service, nodes: dict[str, Node]) -> float | None:
    """Advance the service's update; returns seconds until it should be looked at again, if any."""
    sv = service.SpecVersion.Index if service.SpecVersion else 0
    status = service.UpdateStatus
    slots: dict[int | str, list[Task]] = {}
    for t in plan.store.tasks_of_service(service.ID):
        cur = plan.current(t)
        if cur.DesiredState <= TaskState.RUNNING:
            slots.setdefault(_slot(service, cur), []).append(cur)
    for t in plan.created_for(service.ID):
        if t.DesiredState <= TaskState.RUNNING:
            slots.setdefault(_slot(service, t), []).append(t)

    cfg = update_config(service)
    now = orch.clock()
    monitor = cfg.Monitor / SECOND
    dirty: list[int | str] = []
    in_flight = 0
    soonest: float | None = None
    failed: Task | None = None
    for key, ts in slots.items():
        fresh = [t for t in ts if not task_dirty(service, t)]
        stale = [t for t in ts if task_dirty(service, t)]
        for t in fresh:
            if (t.SpecVersion.Index if t.SpecVersion else 0) != sv:
                plan.edit(t).SpecVersion = service.SpecVersion
        if fresh and stale:
            # start-first: once the new task runs, the old one goes.
            if any(t.Status.State == TaskState.RUNNING for t in fresh):
                for t in stale:
                    plan.edit(t).DesiredState = TaskState.SHUTDOWN
        if stale and not fresh:
            dirty.append(key)
        if fresh and status is not None and status.State in ("updating", "rollback_started"):
            t = fresh[0]
            started = parse_ts(status.StartedAt or "")
            if parse_ts(t.CreatedAt or now_ts()) >= started and not t.Status.State.terminal:
                if t.Status.State < TaskState.RUNNING:
                    in_flight += 1
                else:
                    running_for = now - orch.running_since.get(t.ID, parse_ts(t.Status.Timestamp))
                    if running_for < monitor:
                        in_flight += 1
                        left = monitor - running_for
                        soonest = left if soonest is None else min(soonest, left)
        elif stale and fresh:
            in_flight += 1

    failed = _failures(orch, service, status, monitor, now, len(slots))
    if status is None or status.State not in ("updating", "paused", "rollback_started", "rollback_paused"):
        if not dirty or service.PreviousSpec is None:
            # A new service or nothing to replace: tasks made fresh by the slot logic are enough.
            return None
        s = plan.edit_service(service)
        s.UpdateStatus = UpdateStatus(State="updating", StartedAt=now_ts(), Message="update in progress")
        status = s.UpdateStatus
    if status.State in ("paused", "rollback_paused"):
        return None
    rolling_back = status.State == "rollback_started"
    if failed is not None and cfg.FailureAction in ("pause", "rollback"):
        s = plan.edit_service(service)
        if cfg.FailureAction == "rollback" and not rolling_back and service.PreviousSpec is not None:
            s.PreviousSpec, s.Spec = service.Spec, service.PreviousSpec
            s.SpecVersion = VersionRef(Index=(service.SpecVersion.Index if service.SpecVersion else 0) + 1)
            s.UpdateStatus = UpdateStatus(
                State="rollback_started", StartedAt=now_ts(),
                Message=f"update rolled back due to failure or early termination of task {failed.ID}",
            )
            return 0.0
        what = "rollback" if rolling_back else "update"
        s.UpdateStatus = UpdateStatus(
            State="rollback_paused" if rolling_back else "paused",
            StartedAt=status.StartedAt,
            Message=f"{what} paused due to failure or early termination of task {failed.ID}",
        )
        return None
    if not dirty and in_flight == 0:
        orch.update_failures.pop((service.ID, status.StartedAt or ""), None)
        s = plan.edit_service(service)
        s.UpdateStatus = UpdateStatus(
            State="rollback_completed" if rolling_back else "completed",
            StartedAt=status.StartedAt,
            CompletedAt=now_ts(),
            Message="rollback completed" if rolling_back else "update completed",
        )
        return None
    room = len(dirty) if cfg.Parallelism == 0 else max(cfg.Parallelism - in_flight, 0)
    for key in sorted(dirty, key=str)[:room]:
        for old in slots[key]:
            if cfg.Order == "start-first":
                nt = new_task(service, old.Slot, old.NodeID if is_global(service) else "")
            else:
                plan.edit(old).DesiredState = TaskState.SHUTDOWN
                nt = new_task(service, old.Slot, old.NodeID if is_global(service) else "", desired=TaskState.READY)
                orch.restarts.delayed[nt.ID] = _delayed(nt.ID, now + cfg.Delay / SECOND, old)
            plan.create(nt)
            break
    if room and dirty:
        orch.kick_at(cfg.Delay / SECOND)
    return soonest


def _failures(orch: Orchestrator, service: Service, status: UpdateStatus | None, monitor: float,
              now: float, slots: int) -> Task | None:
    """The task whose failure tips the update over ``MaxFailureRatio``, if one does.

    A failure is a task of the new spec, made since the update started, that stopped on its own (any
    state past running, a clean exit included: "early termination") before it had run for the monitor
    period. Tasks are read as stored, before this tick's restarts changed their desired state. As in
    SwarmKit, the ratio is failures over the slots the update covers.
    """
    if status is None or status.State not in ("updating", "rollback_started"):
        return None
    key = (service.ID, status.StartedAt or "")
    seen = orch.update_failures.setdefault(key, set())
    started = parse_ts(status.StartedAt or "")
    newest: Task | None = None
    for t in orch.store.tasks_of_service(service.ID):
        if task_dirty(service, t) or parse_ts(t.CreatedAt or now_ts()) < started:
            continue
        if t.ID in seen:
            continue
        if t.DesiredState == TaskState.RUNNING and t.Status.State.terminal:
            since = orch.running_since.get(t.ID)
            if since is None or now - since < monitor:
                seen.add(t.ID)
                newest = t
    if newest is None:
        return None
    cfg = update_config(service)
    return newest if len(seen) / max(slots, 1) > cfg.MaxFailureRatio else None


def _delayed(task_id: str, not_before: float, old: Task) -> DelayedStart:
    return DelayedStart(task_id, not_before, "" if old.Status.State.terminal else old.ID)
