"""The restart supervisor: what happens when a task that should be running has stopped.

SwarmKit's rules: the stopped task's desired state becomes ``shutdown``; if the restart policy allows
(condition ``any``; ``on-failure`` unless it completed; ``none`` never; at most ``MaxAttempts``
restarts within ``Window``), a replacement is made for the same slot (or node, for a global
service) with desired state ``ready``, and promoted to ``running`` after the restart delay (5 s by
default; none on a drained node) once the old task has stopped. When the policy says no, the stopped
task keeps its desired state, so its slot stays filled and is not made again.

Restart history is kept in memory, as in SwarmKit; delays restart from zero after a manager restart.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

from shoal.api.defaults import SECOND
from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task
from shoal.manager.loop import Clock
from shoal.manager.orchestrator.common import is_global, new_task, restart_policy


@dataclass
class DelayedStart:
    task_id: str
    not_before: float
    wait_for: str  # the old task's ID: start only once it has stopped ("" if it already has)


class RestartSupervisor:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.history: dict[tuple[str, int | str], deque[float]] = defaultdict(deque)
        self.delayed: dict[str, DelayedStart] = {}

    @staticmethod
    def slot_key(t: Task) -> tuple[str, int | str]:
        return (t.ServiceID, t.Slot if t.Slot else t.NodeID)

    def should_restart(self, t: Task) -> bool:
        p = restart_policy(t.Spec.RestartPolicy)
        if p.Condition == "none":
            return False
        if p.Condition == "on-failure" and t.Status.State == TaskState.COMPLETE:
            return False
        if not p.MaxAttempts:
            return True
        hist = self.history[self.slot_key(t)]
        if p.Window:
            horizon = self.clock() - p.Window / SECOND
            return sum(1 for ts in hist if ts >= horizon) < p.MaxAttempts
        return len(hist) < p.MaxAttempts

    def restart(self, service: Service, t: Task, node: Node | None, *, force: bool = False) -> tuple[Task, Task | None]:
        """Shut ``t`` down and make its replacement if the policy allows (``force``: a drain or a
        node failure, where the slot must move regardless). Returns the changed old task and the
        new one (or None)."""
        old = t
        if not force and not self.should_restart(t):
            return old, None
        old.DesiredState = TaskState.SHUTDOWN
        if is_global(service):
            nt = new_task(service, 0, t.NodeID, desired=TaskState.READY)
        else:
            nt = new_task(service, t.Slot, "", desired=TaskState.READY)
        delay = 0.0
        if node is None or node.Spec.Availability != "drain":
            delay = (restart_policy(t.Spec.RestartPolicy).Delay or 0) / SECOND
        wait_stop = not (t.Status.State > TaskState.RUNNING or (node is not None and node.Status.State == "down"))
        now = self.clock()
        if not force:
            self.history[self.slot_key(t)].append(now)
            hist = self.history[self.slot_key(t)]
            while len(hist) > 64:
                hist.popleft()
        self.delayed[nt.ID] = DelayedStart(nt.ID, now + delay, t.ID if wait_stop else "")
        return old, nt

    def due(self, tasks: dict[str, Task]) -> tuple[list[str], float | None]:
        """Replacement tasks whose delay has passed and whose predecessor stopped; and when to look
        again for the others."""
        now = self.clock()
        ready: list[str] = []
        soonest: float | None = None
        for tid, d in list(self.delayed.items()):
            if d.not_before > now:
                soonest = d.not_before if soonest is None else min(soonest, d.not_before)
                continue
            prev = tasks.get(d.wait_for) if d.wait_for else None
            if prev is not None and prev.Status.State <= TaskState.RUNNING:
                continue  # the old task still runs; its stopping will wake us
            ready.append(tid)
        return ready, (None if soonest is None else soonest - now)

    def still_delayed(self, task_id: str) -> float | None:
        """Seconds left of this task's own restart delay, if it was a replacement still waiting."""
        d = self.delayed.get(task_id)
        if d is None:
            return None
        left = d.not_before - self.clock()
        if left > 0:
            return left
        self.delayed.pop(task_id, None)
        return None

    def forget(self, task_id: str) -> None:
        self.delayed.pop(task_id, None)
