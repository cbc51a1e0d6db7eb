"""The scheduler: assigns pending tasks to nodes, or says why it cannot.

It keeps a ``NodeInfo`` per node, updated incrementally from store changes (a task counts against
its node from ``assigned`` until it stops). Each tick takes every task that is ``pending`` with a
desired state of at most ``running``, groups identical tasks (same service and spec version), runs
the filter pipeline once per group, and places the group's tasks one by one on the passing node
with the fewest tasks of that service, ties broken by the fewest tasks in all (SwarmKit's spread).
Decisions are committed in batches. A task that fits nowhere stays pending with
``no suitable node (<explanations>)`` in ``Status.Err``; a task tied to a node (global service)
gets the bare explanation. Pending tasks are retried whenever nodes or tasks change.
"""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict

from shoal.api.errors import Conflict
from shoal.api.states import STATE_MESSAGE, TaskState
from shoal.api.types import Node, Task, TaskStatus, clone, now_ts
from shoal.manager.loop import Loop
from shoal.manager.scheduler.filters import NodeInfo, Pipeline
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

BATCH = 1000


def counts_on_node(t: Task) -> bool:
    return bool(t.NodeID) and TaskState.ASSIGNED <= t.Status.State <= TaskState.RUNNING


def needs_scheduling(t: Task) -> bool:
    return t.Status.State == TaskState.PENDING and t.DesiredState <= TaskState.RUNNING


class Scheduler(Loop):
    name = "scheduler"
    debounce = 0.02

    def __init__(self, store: ObjectStore) -> None:
        super().__init__()
        self.store = store
        self.nodes: dict[str, NodeInfo] = {}
        self.pending: set[str] = set()
        self.decisions = 0

    def start(self) -> None:
        self.nodes, self.pending = {}, set()  # rebuilt from the store: a re-elected leader starts afresh
        for n in self.store.list(Node):
            self.nodes[n.ID] = NodeInfo.of(n)
        for t in self.store.list(Task):
            self._account(None, t)
        self._unsubscribe = self.store.subscribe(self.on_change)
        super().start()
        self.kick()

    def on_change(self, ch: Change) -> None:
        if ch.kind == "tasks":
            self._account(ch.old, ch.new)
        elif ch.kind == "nodes":
            if ch.new is None:
                self.nodes.pop(ch.old.ID, None)
            else:
                ni = self.nodes.get(ch.new.ID)
                if ni is None:
                    self.nodes[ch.new.ID] = NodeInfo.of(ch.new)
                else:
                    old_res = ni.node.Description.Resources
                    new_res = ch.new.Description.Resources
                    ni.available_cpus += new_res.NanoCPUs - old_res.NanoCPUs
                    ni.available_memory += new_res.MemoryBytes - old_res.MemoryBytes
                    ni.node = ch.new
            if self.pending:
                self.kick()

    def _account(self, old: Task | None, new: Task | None) -> None:
        if old is not None and counts_on_node(old) and (new is None or not counts_on_node(new)):
            ni = self.nodes.get(old.NodeID)
            if ni is not None and ni.remove_task(old) and self.pending:
                self.kick()  # room was freed
        if new is None:
            if old is not None:
                self.pending.discard(old.ID)
            return
        if counts_on_node(new):
            ni = self.nodes.get(new.NodeID)
            if ni is not None:
                ni.add_task(new)
        if needs_scheduling(new):
            if new.ID not in self.pending:
                self.pending.add(new.ID)
                self.kick()
        else:
            self.pending.discard(new.ID)

    async def tick(self) -> None:
        tasks = [t for tid in list(self.pending) if (t := self.store.get(Task, tid)) is not None]
        groups: dict[tuple[str, int, str], list[Task]] = defaultdict(list)
        for t in tasks:
            if not needs_scheduling(t):
                self.pending.discard(t.ID)
                continue
            sv = t.SpecVersion.Index if t.SpecVersion else 0
            groups[(t.ServiceID, sv, t.NodeID)].append(t)
        updates: list[Task] = []
        for (_sid, _sv, preassigned), group in groups.items():
            group.sort(key=lambda t: (t.Slot, t.CreatedAt))
            if preassigned:
                updates.extend(self._schedule_preassigned(group))
            else:
                updates.extend(self._schedule_group(group))
            if len(updates) >= BATCH:
                await self._commit(updates)
                updates = []
        await self._commit(updates)

    def _schedule_preassigned(self, group: list[Task]) -> list[Task]:
        out = []
        pipeline = Pipeline()
        for t in group:
            ni = self.nodes.get(t.NodeID)
            pipeline.set_task(t)
            if ni is not None and pipeline.process(ni):
                ni.add_task(t)
                out.append(self._assigned(t, t.NodeID))
            else:
                err = pipeline.explain() if ni is not None else "node not found"
                if t.Status.Err != err:
                    out.append(self._unschedulable(t, err))
        return out

    def _schedule_group(self, group: list[Task]) -> list[Task]:
        pipeline = Pipeline()
        first = group[0]
        pipeline.set_task(first)
        sid = first.ServiceID
        candidates = [ni for ni in self.nodes.values() if pipeline.process(ni)]
        heap = [(ni.tasks_by_service.get(sid, 0), ni.active_tasks, ni.node.ID) for ni in candidates]
        heapq.heapify(heap)
        out: list[Task] = []
        for i, t in enumerate(group):
            placed = False
            while heap:
                _svc, _total, nid = heapq.heappop(heap)
                ni = self.nodes[nid]
                if not pipeline.process(ni):  # resources, ports or max-replicas used up by earlier picks
                    continue
                ni.add_task(t)
                out.append(self._assigned(t, nid))
                heapq.heappush(heap, (ni.tasks_by_service.get(sid, 0), ni.active_tasks, nid))
                placed = True
                break
            if not placed:
                # Nothing left for this and the rest of the group: explain over every node.
                pipeline.set_task(t)
                for ni in self.nodes.values():
                    pipeline.process(ni)
                explanation = pipeline.explain()
                err = f"no suitable node ({explanation})" if explanation else "no suitable node"
                for rest in group[i:]:
                    if rest.Status.Err != err:
                        out.append(self._unschedulable(rest, err))
                break
        return out

    def _assigned(self, t: Task, node_id: str) -> Task:
        nt = clone(t)
        nt.NodeID = node_id
        nt.Status = TaskStatus(
            Timestamp=now_ts(), State=TaskState.ASSIGNED, Message=STATE_MESSAGE[TaskState.ASSIGNED]
        )
        self.decisions += 1
        return nt

    def _unschedulable(self, t: Task, err: str) -> Task:
        nt = clone(t)
        nt.Status.Err = err
        nt.Status.Message = STATE_MESSAGE[TaskState.PENDING]
        if not nt.Status.Timestamp:
            nt.Status.Timestamp = now_ts()
        return nt

    async def _commit(self, updates: list[Task]) -> None:
        if not updates:
            return
        try:
            await self.store.commit(updates=updates)
            return
        except Conflict:
            pass
        # Someone changed some of these tasks since we read them: keep the decisions that still hold,
        # and give back what the lost ones had taken from their node.
        for nt in updates:
            cur = self.store.get(Task, nt.ID)
            committed = False
            if cur is not None and cur.Version.Index == nt.Version.Index:
                try:
                    await self.store.commit(updates=[nt])
                    committed = True
                except Conflict:
                    pass
            if not committed:
                self._undo(nt, self.store.get(Task, nt.ID))
                self.kick()

    def _undo(self, decided: Task, cur: Task | None) -> None:
        if not (decided.NodeID and decided.Status.State == TaskState.ASSIGNED):
            return
        if cur is not None and counts_on_node(cur) and cur.NodeID == decided.NodeID:
            return  # the task is on that node after all
        ni = self.nodes.get(decided.NodeID)
        if ni is not None:
            ni.remove_task(decided)
