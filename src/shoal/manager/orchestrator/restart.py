"""The restart supervisor: what happens when a task that should be running has stopped.

SwarmKit's rules: the stopped task's desired state becomes ``shutdown``; if the restart policy allows
(condition ``any``; ``on-failure`` unless it completed; ``none`` never; at most ``MaxAttempts``
restarts within ``Window``), a replacement is made for the same slot (or node, for a global
service) with desired state ``ready``, and promoted to ``running`` after the restart delay (5 s by
default; none on a drained node) once the old task has stopped. When the policy says no, the stopped
task keeps its desired state, so its slot stays filled and is not made again.

A job's task (``jobs.py``) is wanted ``complete`` rather than ``running``: it is never restarted once
it completed, whatever the condition (``any`` is ``on-failure`` for a job, as SwarmKit has it); its
replacement belongs to the same run of the job and is promoted to ``complete``. A replicated job's
slots start at 0, so its restart history is kept by slot, never by node.

Restart history and the replacements still waiting are kept in memory per service, as in SwarmKit;
delays restart from zero after a manager restart. The supervisor never schedules anything itself: it
tells the caller, through the plan, when to look at the service again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from shoal.api.defaults import SECOND
from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task
from shoal.manager.orchestrator.common import new_task, per_node, restart_policy, wanted_until
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.workqueue import Clock


@dataclass
class DelayedStart:
    task_id: str
    not_before: float
    wait_for: str  # the old task's ID: start only once it has stopped ("" if it already has)


class RestartSupervisor:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # service ID -> slot (number, or node for a global service) -> when it was restarted
        self.history: dict[str, dict[int | str, deque[float]]] = {}
        # service ID -> its replacement tasks waiting to be started (desired state ``ready``)
        self.delayed: dict[str, dict[str, DelayedStart]] = {}

    def _history(self, t: Task, node_bound: bool) -> deque[float]:
        """``node_bound``: the service has a task per node, rather than slots (a job's start at 0)."""
        slots = self.history.setdefault(t.Owner.ID, {})
        key: int | str = t.NodeID if node_bound else t.Slot
        hist = slots.get(key)
        if hist is None:
            hist = slots[key] = deque(maxlen=64)
        return hist

    def hold(self, t: Task, not_before: float, wait_for: str = "") -> None:
        """Start ``t`` (desired ``ready``) no earlier than ``not_before``, and once ``wait_for`` stopped."""
        self.delayed.setdefault(t.Owner.ID, {})[t.ID] = DelayedStart(t.ID, not_before, wait_for)

    def should_restart(self, t: Task, node_bound: bool) -> bool:
        p = restart_policy(t.Spec.RestartPolicy)
        if p.Condition == "none":
            return False
        if (p.Condition == "on-failure" or t.JobIteration is not None) and t.Status.State == TaskState.COMPLETE:
            return False
        if not p.MaxAttempts:
            return True
        hist = self._history(t, node_bound)
        if p.Window:
            horizon = self.clock() - p.Window / SECOND
            return sum(1 for ts in hist if ts >= horizon) < p.MaxAttempts
        return len(hist) < p.MaxAttempts

    def restart(self, service: Service, t: Task, node: Node | None, *, force: bool = False) -> tuple[Task, Task | None]:
        """Shut ``t`` down and make its replacement if the policy allows (``force``: a drain or a
        node failure, where the slot must move regardless). Returns the changed old task and the
        new one (or None)."""
        old = t
        node_bound = per_node(service)
        if not force and not self.should_restart(t, node_bound):
            return old, None
        old.DesiredState = TaskState.SHUTDOWN
        if node_bound:
            nt = new_task(service, 0, t.NodeID, desired=TaskState.READY)
        else:
            nt = new_task(service, t.Slot, "", desired=TaskState.READY)
        delay = 0.0
        if node is None or node.Spec.Availability != "drain":
            delay = (restart_policy(t.Spec.RestartPolicy).Delay or 0) / SECOND
        wait_stop = not (t.Status.State > TaskState.RUNNING or (node is not None and node.Status.State == "down"))
        now = self.clock()
        if not force:
            self._history(t, node_bound).append(now)  # the newest 64 (maxlen): more than any MaxAttempts asks
        self.hold(nt, now + delay, t.ID if wait_stop else "")
        return old, nt

    def handle_stopped(self, plan: Plan, service: Service, tasks: list[Task], nodes: dict[str, Node],
                       eligible: set[str] | None = None) -> None:
        """Restart tasks that stopped while wanted running, and move tasks off drained or down nodes.
        ``eligible``: for a global service, the nodes it may run on (tasks elsewhere are shut down)."""
        node_bound = per_node(service)
        for t in tasks:
            if t.DesiredState > wanted_until(t):
                continue
            node = nodes.get(t.NodeID) if t.NodeID else None
            stopped = t.Status.State.terminal
            moved = node is not None and (node.Spec.Availability == "drain" or node.Status.State == "down")
            if node_bound and eligible is not None and t.NodeID and t.NodeID not in eligible:
                plan.edit(t).DesiredState = TaskState.SHUTDOWN
                continue
            if moved and not stopped:
                _, nt = self.restart(service, plan.edit(t), node, force=True)
            elif stopped:
                wait = self.still_delayed(t)
                if wait is not None:
                    # A replacement that failed before its own restart delay ran out (an image
                    # that cannot be found, say): wait that delay out, no tight restart loop.
                    plan.again_in(wait)
                    continue
                if not self.should_restart(t, node_bound):
                    continue
                _, nt = self.restart(service, plan.edit(t), node)
            else:
                continue
            if nt is not None:
                plan.create(nt)
                plan.again_in(0.0)  # promote it as soon as its delay allows

    def promote(self, plan: Plan, service_id: str) -> None:
        """Start the service's replacements whose delay has passed and whose predecessor stopped;
        ask for another look when the next delay runs out."""
        waiting = self.delayed.get(service_id)
        if not waiting:
            return
        now = self.clock()
        for tid, d in waiting.items():
            if d.not_before > now:
                plan.again_in(d.not_before - now)
                continue
            prev = plan.store.get(Task, d.wait_for) if d.wait_for else None
            if prev is not None and prev.Status.State <= TaskState.RUNNING:
                continue  # the old task still runs; its stopping will wake us
            t = plan.store.get(Task, tid)
            if t is not None and t.DesiredState == TaskState.READY:
                plan.edit(t).DesiredState = wanted_until(t)
            plan.promoted.append(tid)  # forgotten once the plan is committed

    def still_delayed(self, t: Task) -> float | None:
        """Seconds left of this task's own restart delay, if it was a replacement still waiting."""
        waiting = self.delayed.get(t.Owner.ID)
        d = waiting.get(t.ID) if waiting else None
        if d is None:
            return None
        left = d.not_before - self.clock()
        if left > 0:
            return left
        self.forget(t.Owner.ID, t.ID)
        return None

    def forget(self, service_id: str, task_id: str) -> None:
        waiting = self.delayed.get(service_id)
        if waiting is not None:
            waiting.pop(task_id, None)
            if not waiting:
                del self.delayed[service_id]

    def forget_service(self, service_id: str) -> None:
        """The service is gone: nothing of it waits to start, and its restart history goes."""
        self.delayed.pop(service_id, None)
        self.history.pop(service_id, None)
