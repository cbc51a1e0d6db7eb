"""The orchestrator loop: keeps every service's tasks matching its spec.

Store changes only mark services dirty; each tick reconciles the dirty services and commits the
changed and new tasks, a whole service's at once, in transactions of about ``COMMIT_BATCH`` objects.
It writes desired state only: it never deletes a task (the reaper does) and never touches a task's
observed status (agents do).

Per service (``replicated.py``, ``global_.py`` hold the mode-specific parts):
1. restarts — tasks that stopped while wanted running go to the restart supervisor; tasks on a
   drained node are moved (shut down and replaced);
2. slots — a replicated service gets exactly ``Replicas`` slots (new slots take the lowest free
   numbers; scale-down removes non-running slots first, then the highest numbers, with desired state
   ``remove``); a global service gets one task on every eligible node;
3. updates — tasks made from an older spec are replaced in batches (``update.py``), and tasks whose
   spec did not change are brought to the service's new spec version in place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from shoal.api.errors import Conflict
from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task, clone
from shoal.manager.loop import Clock, Loop
from shoal.manager.orchestrator import global_, replicated, update
from shoal.manager.orchestrator.common import is_global, is_replicated
from shoal.manager.orchestrator.restart import DelayedStart, RestartSupervisor
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

# A tick commits its writes in transactions of about this many objects (a thousand services of a
# thousand replicas made at once are not one transaction of a million tasks), and lets the other
# loops run between them.
COMMIT_BATCH = 10_000


@dataclass
class Plan:
    """The writes one reconcile wants: modified copies of existing tasks, and new tasks."""

    store: ObjectStore
    changed: dict[str, Task] = field(default_factory=dict)
    created: list[Task] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    _created_of: dict[str, list[Task]] = field(default_factory=dict)  # service ID -> its tasks in ``created``

    def create(self, t: Task) -> None:
        self.created.append(t)
        self._created_of.setdefault(t.Owner.ID, []).append(t)

    def uncreate(self, t: Task) -> None:
        self.created.remove(t)
        self._created_of[t.Owner.ID].remove(t)

    def created_for(self, service_id: str) -> list[Task]:
        """The new tasks of one service (a tick that makes a million tasks asks this a thousand times)."""
        return self._created_of.get(service_id, [])

    def size(self) -> int:
        return len(self.changed) + len(self.created) + len(self.services)

    def edit(self, t: Task) -> Task:
        c = self.changed.get(t.ID)
        if c is None:
            c = clone(t)
            self.changed[t.ID] = c
        return c

    def current(self, t: Task) -> Task:
        return self.changed.get(t.ID, t)

    def edit_service(self, s: Service) -> Service:
        c = self.services.get(s.ID)
        if c is None:
            c = clone(s)
            self.services[s.ID] = c
        return c


class Orchestrator(Loop):
    name = "orchestrator"
    debounce = 0.01

    def __init__(self, store: ObjectStore, clock: Clock = time.time) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.restarts = RestartSupervisor(clock)
        self.dirty: set[str] = set()
        # When each task was first seen running, and the failed tasks of each update, for the
        # update monitor (in memory, as in SwarmKit).
        self.running_since: dict[str, float] = {}
        self.update_failures: dict[tuple[str, str], set[str]] = {}

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        now = self.clock()
        for t in self.store.list(Task):
            if t.DesiredState == TaskState.READY:
                self.restarts.delayed[t.ID] = DelayedStart(t.ID, now, "")
        self.dirty.update(s.ID for s in self.store.list(Service))
        self.dirty.update(t.Owner.ID for t in self.store.list(Task))
        super().start()
        self.kick()

    # ------------------------------------------------------------ events

    def on_change(self, ch: Change) -> None:
        if ch.kind == "services":
            self.dirty.add((ch.new or ch.old).ID)
            self.kick()
        elif ch.kind == "tasks":
            old, new = ch.old, ch.new
            if new is not None and new.Status.State == TaskState.RUNNING and new.ID not in self.running_since:
                self.running_since[new.ID] = self.clock()
            elif new is None and old is not None:
                self.running_since.pop(old.ID, None)
            if new is None or old is None:
                self.dirty.add((new or old).Owner.ID)
                self.kick()
                return
            if old.Status.State != new.Status.State and (
                new.Status.State.terminal or (new.Status.State == TaskState.RUNNING and self._updating(new.Owner.ID))
            ):
                self.dirty.add(new.Owner.ID)
                self.kick()
        elif ch.kind == "nodes":
            old, new = ch.old, ch.new
            if (
                old is None
                or new is None
                or old.Spec != new.Spec
                or old.Status.State != new.Status.State
                or old.Description.Hostname != new.Description.Hostname
            ):
                node_id = (new or old).ID
                for s in self.store.list(Service):
                    if is_global(s):
                        self.dirty.add(s.ID)
                self.dirty.update(t.Owner.ID for t in self.store.tasks_of_node(node_id))
                self.kick()

    def _updating(self, service_id: str) -> bool:
        """A task reaching running matters only to an update in progress (its monitor, its next batch)."""
        svc = self.store.get(Service, service_id)
        us = svc.UpdateStatus if svc is not None else None
        return us is not None and us.State in ("updating", "rollback_started")

    # ------------------------------------------------------------ tick

    async def tick(self) -> None:
        plan = Plan(self.store)
        tasks_by_id = {t.ID: t for t in self.store.list(Task)} if self.restarts.delayed else {}
        due, wait = self.restarts.due(tasks_by_id)
        for tid in due:
            t = self.store.get(Task, tid)
            self.restarts.forget(tid)
            if t is not None and t.DesiredState == TaskState.READY:
                plan.edit(t).DesiredState = TaskState.RUNNING
        if wait is not None:
            self.kick_at(wait)

        dirty, self.dirty = self.dirty, set()
        nodes = {n.ID: n for n in self.store.list(Node)}
        batch: set[str] = set()
        for sid in dirty:
            batch.add(sid)
            service = self.store.get(Service, sid)
            tasks = self.store.tasks_of_service(sid)
            if service is None:
                for t in tasks:
                    if t.DesiredState < TaskState.REMOVE:
                        plan.edit(t).DesiredState = TaskState.REMOVE
                continue
            if is_replicated(service):
                replicated.reconcile(self, plan, service, tasks, nodes)
            elif is_global(service):
                global_.reconcile(self, plan, service, tasks, nodes)
            next_check = update.reconcile(self, plan, service, nodes)
            if next_check is not None:
                self.kick_at(next_check)
                self.dirty.add(sid)
            if plan.size() >= COMMIT_BATCH:
                await self._commit(plan, batch)
                plan, batch = Plan(self.store), set()
                await asyncio.sleep(0)  # let the allocator and scheduler take these while more are made
        await self._commit(plan, batch)

    async def _commit(self, plan: Plan, services: set[str]) -> None:
        if not plan.changed and not plan.created and not plan.services:
            return
        try:
            await self.store.commit(
                creates=plan.created, updates=[*plan.changed.values(), *plan.services.values()]
            )
        except Conflict:
            # Something changed under us (an agent's report, a user's update): look again.
            for t in plan.created:
                self.restarts.forget(t.ID)
            self.dirty |= services
            self.kick()

    # ------------------------------------------------------------ shared by the modes

    def restart_stopped(self, plan: Plan, service: Service, tasks: list[Task], nodes: dict[str, Node],
                        eligible: set[str] | None = None) -> None:
        """Hand tasks that stopped while wanted running to the restart supervisor, and move tasks
        off drained or down nodes. ``eligible``: for a global service, the nodes it may run on."""
        for t in tasks:
            if t.DesiredState > TaskState.RUNNING:
                continue
            node = nodes.get(t.NodeID) if t.NodeID else None
            stopped = t.Status.State.terminal
            moved = node is not None and (node.Spec.Availability == "drain" or node.Status.State == "down")
            if is_global(service) and eligible is not None and t.NodeID and t.NodeID not in eligible:
                plan.edit(t).DesiredState = TaskState.SHUTDOWN
                continue
            if moved and not stopped:
                _, nt = self.restarts.restart(service, plan.edit(t), node, force=True)
            elif stopped:
                wait = self.restarts.still_delayed(t.ID)
                if wait is not None:
                    # A replacement that failed before its own restart delay ran out (an image
                    # that cannot be found, say): wait that delay out, no tight restart loop.
                    self.kick_at(wait)
                    self.dirty.add(service.ID)
                    continue
                if not self.restarts.should_restart(t):
                    continue
                _, nt = self.restarts.restart(service, plan.edit(t), node)
            else:
                continue
            if nt is not None:
                plan.create(nt)
                self.kick_at(0.0)
