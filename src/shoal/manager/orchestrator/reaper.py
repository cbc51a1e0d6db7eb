"""The task reaper: the only place tasks are deleted.

It keeps at most ``TaskHistoryRetentionLimit`` tasks (5 by default) per slot of a replicated service
or per node of a global one, deleting the oldest that have stopped (or never reached a node and are
no longer wanted); a job's tasks are never trimmed so (SwarmKit's reaper keeps them: its history is
what ``docker service ps`` shows of the job's runs); and it deletes tasks marked ``remove``
(scale-down, service removal, a Pod's deletion) once they have stopped or if they never reached a
node, and have no finalizers (a Pod's).
"""

from __future__ import annotations

import logging

from shoal.api.defaults import DEFAULT_TASK_HISTORY
from shoal.api.errors import Conflict
from shoal.api.states import TaskState
from shoal.api.types import Cluster, Task
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)


def reapable(t: Task) -> bool:
    # Not wanted any more: past running (past complete for a job's task, which no other task is wanted).
    return t.Status.State.terminal or (t.Status.State < TaskState.ASSIGNED and t.DesiredState > TaskState.COMPLETE)


class TaskReaper(Loop):
    name = "reaper"
    debounce = 0.05

    def __init__(self, store: ObjectStore) -> None:
        super().__init__()
        self.store = store
        self.dirty_slots: set[tuple[str, int, str]] = set()
        self.removals: set[str] = set()

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        for t in self.store.list(Task):
            self._note(t)
        super().start()
        self.kick()

    def on_change(self, ch: Change) -> None:
        if ch.kind == "tasks" and ch.new is not None:
            self._note(ch.new)

    def _note(self, t: Task) -> None:
        if t.DesiredState >= TaskState.REMOVE:
            self.removals.add(t.ID)
            self.kick()
        elif ch_old_slot_matters(t):
            self.dirty_slots.add((t.Owner.ID, t.Slot, "" if t.Slot else t.NodeID))
            self.kick()

    def history_limit(self) -> int:
        for c in self.store.list(Cluster):
            limit = c.Spec.Orchestration.TaskHistoryRetentionLimit
            return DEFAULT_TASK_HISTORY if limit is None else limit
        return DEFAULT_TASK_HISTORY

    async def tick(self) -> None:
        deletes: dict[str, Task] = {}
        for tid in list(self.removals):
            t = self.store.get(Task, tid)
            if t is None or t.Finalizers:  # a Pod's finalizers keep it: their removal notes it again
                self.removals.discard(tid)
            elif reapable(t):
                deletes[tid] = t
                self.removals.discard(tid)
        limit = self.history_limit()
        dirty, self.dirty_slots = self.dirty_slots, set()
        if limit >= 0:
            by_service: dict[str, set[tuple[int, str]]] = {}
            for sid, slot, node in dirty:
                by_service.setdefault(sid, set()).add((slot, node))
            for sid, keys in by_service.items():
                # One pass over the service's tasks, whatever the number of dirty slots.
                groups: dict[tuple[int, str], list[Task]] = {}
                for t in self.store.tasks_of_owner(sid):
                    key = (t.Slot, "") if t.Slot else (0, t.NodeID)
                    if key in keys:
                        groups.setdefault(key, []).append(t)
                for group in groups.values():
                    excess = len(group) - max(limit, 1)
                    if excess <= 0:
                        continue
                    group.sort(key=lambda t: (t.Status.Timestamp or t.CreatedAt))
                    for t in group:
                        if excess <= 0:
                            break
                        if reapable(t) and t.ID not in deletes:
                            deletes[t.ID] = t
                            excess -= 1
        if not deletes:
            return
        try:
            await self.store.commit(deletes=list(deletes.values()))
        except Conflict:
            for t in deletes.values():
                cur = self.store.get(Task, t.ID)
                if cur is None:
                    continue
                try:
                    if reapable(cur) and not cur.Finalizers:
                        await self.store.commit(deletes=[cur])
                except Conflict:
                    self._note(cur)


def ch_old_slot_matters(t: Task) -> bool:
    """Only stopped tasks can make a slot's history too long. A Pod's task (it has a namespace) has no
    slot: it stays, ended or not, until it is deleted (marked ``remove``); so does a job's."""
    return (not t.Namespace and t.JobIteration is None
            and (t.Status.State.terminal or t.DesiredState > TaskState.RUNNING))
