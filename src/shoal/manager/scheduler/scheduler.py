"""The scheduler: assigns pending tasks to nodes, or says why it cannot.

It keeps a ``NodeInfo`` per node, updated incrementally from store changes (a task counts against
its node from ``assigned`` until it stops). Each tick takes every task that is ``pending`` with a
desired state of at most ``running``, groups identical tasks (same service and spec version), runs
the filter pipeline once per node per group, and places the group with ``placement.GroupPlacer``:
the tree of placement preferences, then, within a leaf, the passing node with the fewest tasks of
that service, ties broken by the fewest tasks in all (SwarmKit's spread). Decisions are committed in
batches. A task that fits nowhere stays pending with
``no suitable node (<explanations>)`` in ``Status.Err``; a task tied to a node (global service)
gets the bare explanation. Pending tasks are retried whenever nodes or tasks change.

Pods (tasks with a namespace) go through the same pipeline, against the same node capacity, with
two differences: each Pod is its own group unless it has an owner and a spec version (Pods made
by hand are not identical), and it is explained in kube-scheduler's words (``explain.py``:
``0/3 nodes are available: 3 Insufficient memory. preemption: …``). A Pod with ``nodeName`` is
created tied to that node (``NodeID``); it is still checked against the node (resources, cordon,
taints, selector), as the kubelet's admission would, and one naming no node stays pending until a
node of that name joins. ``on_unschedulable`` hears of every Pod that failed to be placed, each
attempt (the events controller writes ``FailedScheduling`` from it).

It also counts the nodes with taints (Kubernetes'; never a Swarm node): while there are none, the
pipeline leaves the taint filter and scorer out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable

import msgspec

from shoal import metrics
from shoal.api import nodelabels
from shoal.api.affinity import NAMESPACE_NAME_LABEL
from shoal.api.errors import Conflict
from shoal.api.kube import Namespace
from shoal.api.states import STATE_MESSAGE, TaskState
from shoal.api.types import Node, Task, TaskStatus, now_ts, parse_ts
from shoal.manager.loop import Loop
from shoal.manager.scheduler.explain import is_pod, no_suitable_node, words_for
from shoal.manager.scheduler.filters import NodeInfo, Pipeline
from shoal.manager.scheduler.nodeload import NodeLoad
from shoal.manager.scheduler.placement import GroupPlacer
from shoal.manager.scheduler.podfilters import Cluster, has_cluster_rules, required_anti_affinity
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

BATCH = 1000
FAILURES = (TaskState.FAILED, TaskState.REJECTED)


def counts_on_node(t: Task) -> bool:
    return bool(t.NodeID) and TaskState.ASSIGNED <= t.Status.State <= TaskState.RUNNING


def needs_scheduling(t: Task) -> bool:
    return t.Status.State == TaskState.PENDING and t.DesiredState <= TaskState.COMPLETE  # a job's: complete


def node_infos(nodes: list[Node], tasks: list[Task]) -> dict[str, NodeInfo]:
    """A NodeInfo per node, with the tasks that count against it (what a new leader starts from)."""
    infos = {n.ID: NodeInfo.of(n) for n in nodes}
    for t in tasks:
        if counts_on_node(t):
            ni = infos.get(t.NodeID)
            if ni is not None:
                ni.add_task(t)
    return infos


__all__ = ["Scheduler", "counts_on_node", "needs_scheduling", "no_suitable_node", "node_infos"]


def group_key(t: Task) -> tuple[str, int, str]:
    """Tasks with one key are identical and placed together: a service's at one spec version (and
    one node, when tied to it). A Pod is alone in its group unless an owner made it from a versioned
    template, or its placement depends on the Pods placed before it (inter-pod affinity, topology
    spread: each is placed after the one before has been counted)."""
    sv = t.SpecVersion.Index if t.SpecVersion else 0
    if t.Namespace and (not (t.Owner.ID and sv) or has_cluster_rules(t)):
        return (t.ID, 0, t.NodeID)
    return (t.Owner.ID, sv, t.NodeID)


class Scheduler(Loop):
    name = "scheduler"
    debounce = 0.02

    def __init__(self, store: ObjectStore) -> None:
        super().__init__()
        self.store = store
        self.nodes: dict[str, NodeInfo] = {}
        self.pending: set[str] = set()
        self.decisions = 0
        self.tainted = 0  # nodes with taints
        # Told of each Pod the scheduler could not place (each attempt) and why, in Kubernetes' words.
        self.on_unschedulable: Callable[[Task, str], None] | None = None
        self.cluster = Cluster(self.nodes, self._namespace_labels)
        self.load = NodeLoad()  # the nodes by load (``nodeload.py``), kept by their NodeInfos
        self.failing: set[str] = set()  # nodes where a task failed lately (pruned each tick)

    def _watch_load(self, ni: NodeInfo) -> None:
        ni.load = self.load
        self.load.add_node(ni.node.ID, ni.active_tasks)
        for owner in ni.tasks_by_owner:
            self.load.joined(ni.node.ID, owner)

    def _namespace_labels(self, name: str) -> dict[str, str]:
        """A namespace's labels, for a pod affinity term's namespace selector."""
        for ns in self.store.list(Namespace):
            if ns.Name == name:
                return {**(ns.Labels or {}), NAMESPACE_NAME_LABEL: name}
        return {NAMESPACE_NAME_LABEL: name}

    def _pipeline(self) -> Pipeline:
        return Pipeline(taints=self.tainted > 0, cluster=self.cluster)

    def start(self) -> None:
        # Rebuilt from the store: a re-elected leader starts afresh.
        tasks = self.store.list(Task)
        self.nodes = node_infos(self.store.list(Node), tasks)
        self.cluster = Cluster(self.nodes, self._namespace_labels)
        self.load = NodeLoad()
        for ni in self.nodes.values():
            self._watch_load(ni)
        self.failing = {nid for nid, ni in self.nodes.items() if ni.recent_failures}
        self.tainted = sum(1 for ni in self.nodes.values() if ni.node.Spec.Taints)
        self.pending = {t.ID for t in tasks if needs_scheduling(t)}
        self._unsubscribe = self.store.subscribe(self.on_change)
        super().start()
        self.kick()

    def on_change(self, ch: Change) -> None:
        if ch.kind == "tasks":
            self._account(ch.old, ch.new)
        elif ch.kind == "nodes":
            if ch.new is None:
                gone = self.nodes.pop(ch.old.ID, None)
                if gone is not None:
                    self.load.remove_node(gone.node.ID, gone.active_tasks, list(gone.tasks_by_owner))
                    gone.load = None
                    self.failing.discard(gone.node.ID)
                if gone is not None and gone.node.Spec.Taints:
                    self.tainted -= 1
            else:
                ni = self.nodes.get(ch.new.ID)
                if ni is None:
                    ni = self.nodes[ch.new.ID] = NodeInfo.of(ch.new)
                    self._watch_load(ni)
                else:
                    if ni.node.Spec.Taints:
                        self.tainted -= 1
                    ni.update_node(ch.new)
                if ch.new.Spec.Taints:
                    self.tainted += 1
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
        if new.NodeID and new.Status.State in FAILURES and (old is None or old.Status.State != new.Status.State):
            ni = self.nodes.get(new.NodeID)
            if ni is not None:
                ni.task_failed(new)
                self.failing.add(ni.node.ID)
        if counts_on_node(new):
            ni = self.nodes.get(new.NodeID)
            if ni is not None and not ni.add_task(new) and new.ID in ni.pods:
                ni.pods[new.ID] = new  # a Pod's new version (marked for deletion, relabelled)
        if needs_scheduling(new):
            if new.ID not in self.pending:
                self.pending.add(new.ID)
                self.kick()
        else:
            self.pending.discard(new.ID)

    async def tick(self) -> None:
        self.cluster.anti_affinity = None  # looked up again when a Pod needs it
        if self.failing:
            now = time.time()
            self.failing = {nid for nid in self.failing if (ni := self.nodes.get(nid)) is not None and ni.failing(now)}
        tasks = [t for tid in list(self.pending) if (t := self.store.get(Task, tid)) is not None]
        groups: dict[tuple[str, int, str], list[Task]] = defaultdict(list)
        for t in tasks:
            if not needs_scheduling(t):
                self.pending.discard(t.ID)
                continue
            groups[group_key(t)].append(t)
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
                await asyncio.sleep(0)  # a tick over a million tasks must not hold the manager (heartbeats)
        await self._commit(updates)

    def _schedule_preassigned(self, group: list[Task]) -> list[Task]:
        out = []
        pipeline = self._pipeline()
        for t in group:
            ni = self.nodes.get(t.NodeID)
            if ni is None and is_pod(t):
                ni = self._named(t)
            pipeline.set_task(t)
            if ni is not None and pipeline.process(ni):
                ni.add_task(t)
                out.append(self._assigned(t, ni))
            else:
                words = words_for(t)
                err = words.refused(pipeline, ni) if ni is not None else words.no_node(t)
                self._failed(t, err, out)
        return out

    def _named(self, t: Task) -> NodeInfo | None:
        """The node a Pod's ``nodeName`` names (a Pod created before its node joined is tied to the
        name; rare, so a scan)."""
        name = t.Spec.Pod.NodeName if t.Spec.Pod is not None else ""
        if not name:
            return None
        return next((ni for ni in self.nodes.values() if nodelabels.node_name(ni.node) == name), None)

    def _failed(self, t: Task, err: str, out: list[Task]) -> None:
        metrics.UNSCHEDULABLE.inc()
        if t.Status.Err != err:
            out.append(self._unschedulable(t, err))
        if self.on_unschedulable is not None and is_pod(t):
            self.on_unschedulable(t, err)

    def _schedule_group(self, group: list[Task]) -> list[Task]:
        pipeline = self._pipeline()
        pipeline.set_task(group[0])
        placed = GroupPlacer(self.nodes, pipeline, group, load=self.load, failing=self.failing).place()
        out = [self._assigned(t, ni) for t, ni in placed]
        if len(placed) < len(group):
            # Nothing left for the rest of the group: explain over every node, as it is now.
            err = words_for(group[0]).unschedulable(pipeline, list(self.nodes.values()))
            for t in group[len(placed):]:
                self._failed(t, err, out)
        return out

    def _assigned(self, t: Task, ni: NodeInfo) -> Task:
        # A shallow copy with new top-level fields: the rest is shared with the stored task, which
        # nothing changes in place.
        status = TaskStatus(Timestamp=now_ts(), State=TaskState.ASSIGNED, Message=STATE_MESSAGE[TaskState.ASSIGNED])
        given = ni.claimed.get(t.ID)
        self.decisions += 1
        metrics.scheduled(parse_ts(t.CreatedAt), time.time())
        if t.Namespace and required_anti_affinity(t):
            self.cluster.anti_affinity = True
        if given is not None:
            return msgspec.structs.replace(t, NodeID=ni.node.ID, Status=status, GenericResources=given)
        return msgspec.structs.replace(t, NodeID=ni.node.ID, Status=status)

    def _unschedulable(self, t: Task, err: str) -> Task:
        return msgspec.structs.replace(t, Status=msgspec.structs.replace(
            t.Status, Err=err, Message=STATE_MESSAGE[TaskState.PENDING], Timestamp=t.Status.Timestamp or now_ts()))

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
