"""The orchestrator: keeps every service's tasks matching its spec, keyed by service on a work queue.

Store changes only add service IDs to the queue (``workqueue.py``); a worker takes every ready
service at once, reconciles each into its own ``Plan`` and commits the plans together in transactions
of about ``COMMIT_BATCH`` objects (never half a service). A service whose reconcile raises, or whose
commit fails, is retried alone with a per-key back-off; the others go on. A conflict (something
changed under us) puts the services of that transaction back at once. Timers are delays on the
queue: a restart delay, the next update batch, the end of a monitor window each ask for the service
again after so many seconds. It writes desired state only: it never deletes a task (the reaper does)
and never touches a task's observed status (agents do).

Per service (``replicated.py``, ``global_.py`` hold the mode-specific parts):
1. restarts (``restart.py``) — replacements whose delay passed are started; tasks that stopped while
   wanted running go to the restart supervisor; tasks on a drained node are moved (shut down and
   replaced);
2. slots — a replicated service gets exactly ``Replicas`` slots (new slots take the lowest free
   numbers; scale-down removes slots as SwarmKit ranks them, with desired state ``remove``); a global
   service gets one task on every eligible node;
3. updates (``update.py``: ``UpdateSupervisor``, with ``rolling.py`` and ``monitor.py``) — tasks made
   from an older spec are replaced in batches, and tasks whose spec did not change are brought to the
   service's new spec version in place.

A job (replicated-job, global-job) is reconciled by ``jobs.py`` instead of steps 2 and 3: its tasks
run to completion, and an update of the job is a new run of it, not a rolling update.
"""

from __future__ import annotations

import asyncio
import logging
import time

from shoal.api.errors import Conflict
from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task
from shoal.manager.orchestrator import global_, jobs, replicated
from shoal.manager.orchestrator.common import is_global, is_global_job, is_replicated, is_replicated_job, per_node
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.orchestrator.restart import RestartSupervisor
from shoal.manager.orchestrator.update import UpdateSupervisor
from shoal.manager.workqueue import Batch, Clock, Controller
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

# A batch commits its writes in transactions of about this many objects (a thousand services of a
# thousand replicas made at once are not one transaction of a million tasks), and lets the other
# loops run between them.
COMMIT_BATCH = 10_000


class Orchestrator(Controller):
    name = "orchestrator"
    max_batch = 1_000_000  # every ready service: a thousand services made at once are one pass
    debounce = 0.01

    def __init__(self, store: ObjectStore, clock: Clock = time.time) -> None:
        super().__init__(clock)
        self.store = store
        self.clock = clock
        self.restarts = RestartSupervisor(clock)
        self.updates = UpdateSupervisor(clock, self.restarts)

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        now = self.clock()
        for t in self.store.list(Task):
            if t.DesiredState == TaskState.READY:
                self.restarts.hold(t, now)
        for s in self.store.list(Service):
            self.queue.add(s.ID)
        for t in self.store.list(Task):
            if not t.Namespace:  # a Pod's task is not a service's (its own controllers keep it)
                self.queue.add(t.Owner.ID)

    # ------------------------------------------------------------ events

    def on_change(self, ch: Change) -> None:
        if ch.kind == "services":
            self.queue.add((ch.new or ch.old).ID)
        elif ch.kind == "tasks":
            old, new = ch.old, ch.new
            if (new or old).Namespace:
                return  # a Pod's task: no service of ours owns it
            self.updates.observe(old, new)
            if new is None or old is None:
                self.queue.add((new or old).Owner.ID)
                return
            if old.Status.State != new.Status.State and (
                new.Status.State.terminal or (new.Status.State == TaskState.RUNNING and self._updating(new.Owner.ID))
            ):
                self.queue.add(new.Owner.ID)
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
                    if per_node(s):
                        self.queue.add(s.ID)
                for t in self.store.tasks_of_node(node_id):
                    if not t.Namespace:
                        self.queue.add(t.Owner.ID)

    def _updating(self, service_id: str) -> bool:
        """A task reaching running matters only to an update in progress (its monitor, its next batch)."""
        svc = self.store.get(Service, service_id)
        us = svc.UpdateStatus if svc is not None else None
        return us is not None and us.State in ("updating", "rollback_started")

    # ------------------------------------------------------------ reconcile

    async def tick(self) -> None:
        """One pass over every ready service (tests; the workers do this on their own)."""
        keys = self.queue.get_nowait(self.max_batch)
        if keys:
            await self.run_batch(keys)

    async def handle(self, batch: Batch) -> None:
        nodes = {n.ID: n for n in self.store.list(Node)}
        plans: list[tuple[str, Plan]] = []
        size = 0
        for sid in batch.keys:
            try:
                plan = self.reconcile(sid, nodes)
            except Exception:
                log.exception("orchestrator: reconciling service %s failed; retrying it", sid)
                batch.failed(sid)
                continue
            plans.append((sid, plan))
            size += plan.size()
            if size >= COMMIT_BATCH:
                await self._commit(batch, plans)
                plans, size = [], 0
                await asyncio.sleep(0)  # let the allocator and scheduler take these while more are made
        await self._commit(batch, plans)

    def reconcile(self, sid: str, nodes: dict[str, Node]) -> Plan:
        """The writes that bring one service's tasks in line with its spec."""
        plan = Plan(self.store)
        service = self.store.get(Service, sid)
        tasks = self.store.tasks_of_owner(sid)
        if service is None:
            for t in tasks:
                if t.DesiredState < TaskState.REMOVE:
                    plan.edit(t).DesiredState = TaskState.REMOVE
            self.restarts.forget_service(sid)
            self.updates.forget_service(sid)
            return plan
        self.restarts.promote(plan, sid)
        if is_replicated(service):
            replicated.reconcile(plan, service, tasks, nodes, self.restarts)
        elif is_global(service):
            global_.reconcile(plan, service, tasks, nodes, self.restarts)
        elif is_replicated_job(service):
            jobs.reconcile_replicated(plan, service, tasks, nodes, self.restarts)
            return plan
        elif is_global_job(service):
            jobs.reconcile_global(plan, service, tasks, nodes, self.restarts)
            return plan
        self.updates.reconcile(plan, service)
        return plan

    async def _commit(self, batch: Batch, plans: list[tuple[str, Plan]]) -> None:
        creates: list[Task] = []
        updates: list[Task | Service] = []
        for _, plan in plans:
            c, u = plan.writes()
            creates.extend(c)
            updates.extend(u)
        if creates or updates:
            try:
                await self.store.commit(creates=creates, updates=updates)
            except Exception as e:
                # A conflict: something changed under us (an agent's report, a user's update), look
                # again now. Anything else: retry these services with back-off.
                if not isinstance(e, Conflict):
                    log.exception("orchestrator: committing %d services failed; retrying them", len(plans))
                for sid, plan in plans:
                    for t in plan.created:
                        self.restarts.forget(sid, t.ID)
                    (batch.retry if isinstance(e, Conflict) else batch.failed)(sid)
                return
        for sid, plan in plans:
            for tid in plan.promoted:
                self.restarts.forget(sid, tid)
            if plan.again is not None:
                self.queue.add_after(sid, plan.again)
            batch.succeeded(sid)
