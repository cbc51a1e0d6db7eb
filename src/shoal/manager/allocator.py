"""The allocator: the step between a task being made and being scheduled.

Tasks are made ``new``; the allocator gives them what they need from the cluster before they can be
placed and moves them to ``pending``. Today that is nothing but the step itself (tasks have only
their own loopback network); network attachments, IPs, VIPs and published ports will be allocated
here.
"""

from __future__ import annotations

from shoal.api.errors import Conflict
from shoal.api.states import STATE_MESSAGE, TaskState
from shoal.api.types import Task, clone, now_ts
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore


class Allocator(Loop):
    name = "allocator"

    def __init__(self, store: ObjectStore) -> None:
        super().__init__()
        self.store = store
        self.new: set[str] = set()

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        self.new.update(t.ID for t in self.store.list(Task) if t.Status.State == TaskState.NEW)
        super().start()
        self.kick()

    def on_change(self, ch: Change) -> None:
        if ch.kind == "tasks" and ch.new is not None and ch.new.Status.State == TaskState.NEW:
            self.new.add(ch.new.ID)
            self.kick()

    async def tick(self) -> None:
        todo, self.new = self.new, set()
        updates = []
        for tid in todo:
            t = self.store.get(Task, tid)
            if t is None or t.Status.State != TaskState.NEW or t.DesiredState > TaskState.RUNNING:
                continue
            nt = clone(t)
            nt.Status.State = TaskState.PENDING
            nt.Status.Message = STATE_MESSAGE[TaskState.PENDING]
            nt.Status.Timestamp = now_ts()
            updates.append(nt)
        if not updates:
            return
        try:
            await self.store.commit(updates=updates)
        except Conflict:
            self.new |= {t.ID for t in updates}
            self.kick()
