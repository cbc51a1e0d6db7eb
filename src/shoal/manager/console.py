"""The web console's view of the cluster (``api/console.py``; issue 17), kept from the store's changes.

``ConsoleView`` implements ``nodeapi.Console`` over a manager's ``ObjectStore``. It subscribes once and
keeps, from every committed ``Change`` (each applied in O(1)), only counts and IDs:

* the **current** tasks by node (``""``: the pending, placed on no node yet), with their counts by
  state and, per node, what the tasks that count against it reserve (Swarm's reservations, Pods'
  requests: the scheduler's ``counts_on_node`` and ``reservations``). A task is current while a user
  would call it live: a Pod always (until deleted); a Swarm task unless it has stopped and is not
  wanted running any more (the history Swarm keeps of a slot: terminal, desired ``shutdown``). A job's
  completed task (desired ``complete``) stays current until the reaper removes it;
* the nodes by state and availability, the managers, the services and Deployments rolling out.

No card is kept per task (100,000 of them would cost more than the tasks): cards are built for the
page asked for. ``summary`` is O(1), ``tasks(node=X)`` proportional to the node's tasks, a query
scans. Workloads and payloads are few: they are read from the store when asked.

A pending task's detail explains, node by node, why it is not placed, with the scheduler's own
filters (``scheduler/filters.py``: the pipeline the dry run uses), over a view built from the current
tasks, in the words of the door that made it (Kubernetes' for a Pod).

``changes`` streams coalesced notices (at most one per ``interval``; the first after a quiet spell
within ``gather``), each a merge of everything since the last: a slow reader gets one notice, never a
queue. The actions go through the APIs (``ControlAPI``, ``KubeObjects``) with their rules and errors.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from shoal.api.console import (
    ConsoleChange,
    ConsoleSummary,
    NodeCard,
    NodePage,
    NodeRejection,
    PayloadRow,
    TaskCard,
    TaskDetail,
    TaskEvent,
    TaskPage,
    WorkloadPage,
    WorkloadRow,
)
from shoal.api.errors import FailedPrecondition, InvalidArgument, NotFound
from shoal.api.meta import ObjectMeta, owner_references
from shoal.api.states import TaskState
from shoal.api.types import (
    SERVICE_KIND,
    Config,
    CronJob,
    DaemonSet,
    Deployment,
    Job,
    KubeService,
    Node,
    ReplicaSet,
    Secret,
    Service,
    Task,
    clone,
    parse_ts,
    pod_phase,
)
from shoal.manager.control import ControlAPI, mode_name
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.deployments import PROGRESSING, SKIPPED_ANNOTATIONS, TIMED_OUT, deployment_complete
from shoal.manager.kube.deployments import revision_of as rs_revision
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.scheduler.explain import words_for
from shoal.manager.scheduler.filters import NodeInfo, Pipeline, reservations
from shoal.manager.scheduler.podfilters import Cluster
from shoal.manager.scheduler.scheduler import counts_on_node
from shoal.store.objects import Change, ObjectStore

PENDING = ""  # the pending tasks' "node"
INFOS_TTL = 2.0  # how long a pending task's explanation may reuse the nodes' view built for another
MAX_REJECTIONS = 200  # the nodes listed in a pending task's detail (``RejectedNodes`` counts them all)
UPDATING = frozenset({"updating", "rollback_started"})
IN_UPDATE = frozenset({"updating", "paused", "rollback_started", "rollback_paused"})
# The Kubernetes kinds an owner chain is followed through, to the owner a user thinks of.
OWNER_TYPES: dict[str, type] = {"ReplicaSet": ReplicaSet, "Deployment": Deployment, "Job": Job, "CronJob": CronJob,
                                "DaemonSet": DaemonSet}
# The kinds each store kind touches in a notice.
NOTICE_KINDS = {"nodes": "nodes", "services": "workloads", "deployments": "workloads", "replicasets": "workloads",
                "kubeservices": "workloads", "secrets": "payloads", "configs": "payloads"}


def is_current(t: Task) -> bool:
    """A task a user would call live (see the module's docstring); the rest is a slot's history."""
    return bool(t.Namespace) or not t.Status.State.terminal or t.DesiredState <= TaskState.COMPLETE



def _image(t: Task) -> str:
    return t.Spec.Containers[0].Image if t.Spec.Containers else ""


def _when(t: Task) -> str:
    return t.Status.Timestamp or t.UpdatedAt or t.CreatedAt


def _taint_text(key: str, value: str, effect: str) -> str:
    return f"{key}={value}:{effect}" if value else f"{key}:{effect}"


def _bump(counts: dict[str, int], key: str, by: int) -> None:
    n = counts.get(key, 0) + by
    if n:
        counts[key] = n
    else:
        counts.pop(key, None)


class _NodeTasks:
    """One node's current tasks (IDs), their counts by state and what those placed here reserve."""

    __slots__ = ("cpus", "memory", "states", "tasks")

    def __init__(self) -> None:
        self.tasks: set[str] = set()
        self.states: dict[str, int] = {}
        self.cpus = 0
        self.memory = 0


class _Watcher:
    """One reader of ``changes``: what changed since its last notice."""

    __slots__ = ("kinds", "nodes", "wake")

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.nodes: set[str] = set()
        self.wake = asyncio.Event()


class ConsoleView:
    """Implements ``nodeapi.Console`` over a manager's store (see the module's docstring). ``control``
    and ``kube`` are the APIs the actions and the workloads' counts go through; ``clock`` the wall
    clock (pending ages); ``interval`` and ``gather`` pace the notices (seconds)."""

    def __init__(self, store: ObjectStore, control: ControlAPI | None = None, kube: KubeObjects | None = None,
                 *, clock: Callable[[], float] = time.time, interval: float = 0.25, gather: float = 0.05) -> None:
        self.store = store
        self.control = control if control is not None else ControlAPI(store)
        self.kube = kube
        self.clock = clock
        self.interval = interval
        self.gather = gather
        self._at: dict[str, _NodeTasks] = {PENDING: _NodeTasks()}
        self._states: dict[str, int] = {}
        self._tasks = 0
        self._pods = 0
        self._pending_since: dict[str, float] = {}  # pending task ID -> created (insertion order: oldest first)
        self._node_states: dict[str, int] = {}
        self._node_avail: dict[str, int] = {}
        self._managers = 0
        self._rolling: set[str] = set()  # services and Deployments rolling out
        self._owners: dict[str, tuple[str, str, str]] = {}  # owner ID -> its top owner (kind, ID, name)
        self._hosts: list[str] | None = None  # node IDs sorted by hostname (None: to sort again)
        self._gen = 0  # bumped by every change applied (the sorted pages' cache key)
        self._sorted: tuple[tuple[Any, ...], list[str]] | None = None
        # A service's row, kept while the service, its tasks (``_owner_gen``) and the nodes are unchanged.
        self._rows: dict[str, tuple[tuple[int, int, int], WorkloadRow]] = {}
        self._owner_gen: dict[str, int] = {}
        self._node_gen = 0
        self._infos_cache: tuple[int, float, dict[str, NodeInfo]] | None = None  # (gen, when, infos)
        self._watchers: set[_Watcher] = set()
        self._closed = False
        for n in store.list(Node):
            self._node(None, n)
        for t in store.list(Task):
            self._task(None, t)
        for s in store.list(Service):
            self._rollout(s.ID, _service_rolling(s))
        for d in store.list(Deployment):
            self._rollout(d.ID, deployment_rollout(d) == "progressing")
        self._unsubscribe = store.subscribe(self._on_change)

    def close(self) -> None:
        """Stop following the store; every ``changes`` reader ends."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        for w in self._watchers:
            w.wake.set()

    # ------------------------------------------------------------ keeping up (each change O(1))

    def _on_change(self, ch: Change) -> None:
        kind = ch.kind
        touched: str | None = None
        nodes: tuple[str, ...] = ()
        if kind == "tasks":
            for t in (ch.old, ch.new):
                if t is not None:
                    self._owner_gen[t.Owner.ID] = self._owner_gen.get(t.Owner.ID, 0) + 1
            nodes = self._task(ch.old, ch.new)
            if nodes:
                touched = "tasks"
        elif kind == "nodes":
            self._node(ch.old, ch.new)
            self._node_gen += 1
            touched = "nodes"
        elif kind in ("services", "deployments"):
            obj = ch.new if ch.new is not None else ch.old
            rolling = ch.new is not None and (_service_rolling(ch.new) if kind == "services"
                                              else deployment_rollout(ch.new) == "progressing")
            self._rollout(obj.ID, rolling)
            if ch.new is None:
                self._rows.pop(obj.ID, None)
                self._owner_gen.pop(obj.ID, None)
            if kind == "deployments" and (ch.old is None or ch.new is None):
                self._owners.clear()
            touched = "workloads"
        elif kind in ("replicasets", "jobs", "cronjobs", "daemonsets"):
            if ch.new is None:
                self._owner_gen.pop(ch.old.ID, None)
            if ch.old is None or ch.new is None or owner_references(ch.old) != owner_references(ch.new):
                self._owners.clear()
            touched = NOTICE_KINDS.get(kind)
        else:
            touched = NOTICE_KINDS.get(kind)
        if touched is None:
            return
        self._gen += 1
        if not self._watchers:
            return
        workloads = kind == "tasks" and _moves_counts(ch.old, ch.new)
        for w in self._watchers:
            w.kinds.add(touched)
            if workloads:
                w.kinds.add("workloads")
            w.nodes.update(nodes)
            w.wake.set()

    def _task(self, old: Task | None, new: Task | None) -> tuple[str, ...]:
        """Account for a task's change; the nodes whose current tasks it touched (none: history only)."""
        was = old is not None and is_current(old)
        now = new is not None and is_current(new)
        if was and now:
            assert old is not None and new is not None
            if old.NodeID == new.NodeID:  # in place (a pending task keeps its age)
                at = self._at[old.NodeID]
                if old.Status.State != new.Status.State:
                    _bump(at.states, old.Status.State, -1)
                    _bump(at.states, new.Status.State, 1)
                    _bump(self._states, old.Status.State, -1)
                    _bump(self._states, new.Status.State, 1)
                self._reserve(at, old, -1)
                self._reserve(at, new, 1)
                return (new.NodeID,)
        out: tuple[str, ...] = ()
        if was:
            assert old is not None
            self._drop(old)
            out = (old.NodeID,)
        if now:
            assert new is not None
            self._add(new)
            out = (*out, new.NodeID) if not out or out[0] != new.NodeID else out
        return out

    def _add(self, t: Task) -> None:
        at = self._at.get(t.NodeID)
        if at is None:
            at = self._at[t.NodeID] = _NodeTasks()
        at.tasks.add(t.ID)
        _bump(at.states, t.Status.State, 1)
        _bump(self._states, t.Status.State, 1)
        self._reserve(at, t, 1)
        self._tasks += 1
        if t.Namespace:
            self._pods += 1
        if not t.NodeID:
            self._pending_since[t.ID] = parse_ts(t.CreatedAt)

    def _drop(self, t: Task) -> None:
        at = self._at[t.NodeID]
        at.tasks.discard(t.ID)
        _bump(at.states, t.Status.State, -1)
        _bump(self._states, t.Status.State, -1)
        self._reserve(at, t, -1)
        self._tasks -= 1
        if t.Namespace:
            self._pods -= 1
        if not t.NodeID:
            self._pending_since.pop(t.ID, None)
        elif not at.tasks and self.store.get(Node, t.NodeID) is None:
            del self._at[t.NodeID]

    @staticmethod
    def _reserve(at: _NodeTasks, t: Task, sign: int) -> None:
        if not counts_on_node(t):
            return
        r = reservations(t)
        if r is not None:
            at.cpus += sign * r.NanoCPUs
            at.memory += sign * r.MemoryBytes

    def _node(self, old: Node | None, new: Node | None) -> None:
        for n, sign in ((old, -1), (new, 1)):
            if n is None:
                continue
            _bump(self._node_states, n.Status.State, sign)
            _bump(self._node_avail, n.Spec.Availability, sign)
            if n.Spec.Role == "manager":
                self._managers += sign
        if new is not None and new.ID not in self._at:
            self._at[new.ID] = _NodeTasks()
        if new is None and old is not None and not self._at.get(old.ID, _NodeTasks()).tasks:
            self._at.pop(old.ID, None)
        if old is None or new is None or old.Description.Hostname != new.Description.Hostname:
            self._hosts = None

    def _rollout(self, oid: str, rolling: bool) -> None:
        if rolling:
            self._rolling.add(oid)
        else:
            self._rolling.discard(oid)

    # ------------------------------------------------------------ counts

    def summary(self) -> ConsoleSummary:
        oldest = 0.0
        if self._pending_since:
            first = next(iter(self._pending_since.values()))
            oldest = max(0.0, self.clock() - first) if first else 0.0
        return ConsoleSummary(
            Revision=self.store.revision, Nodes=self.store.count(Node), NodesByState=dict(self._node_states),
            NodesByAvailability=dict(self._node_avail), Managers=self._managers, Tasks=self._tasks,
            TasksByState=_plain(self._states), Pods=self._pods, Pending=len(self._at[PENDING].tasks),
            OldestPendingSeconds=round(oldest, 3), Services=self.store.count(Service),
            Deployments=self.store.count(Deployment), Rollouts=len(self._rolling),
            Secrets=self.store.count(Secret), Configs=self.store.count(Config))

    # ------------------------------------------------------------ nodes

    def _by_host(self) -> list[str]:
        if self._hosts is None:
            nodes = self.store.list(Node)
            nodes.sort(key=lambda n: (n.Description.Hostname, n.ID))
            self._hosts = [n.ID for n in nodes]
        return self._hosts

    def nodes(self, query: str = "", offset: int = 0, limit: int = 100) -> NodePage:
        """Nodes sorted by hostname; ``query`` matches hostname, ID, address, role, state and labels."""
        ids = self._by_host()
        if query:
            q = query.lower()
            ids = [i for i in ids if (n := self.store.get(Node, i)) is not None and _node_matches(n, q)]
        page = ids[max(offset, 0):max(offset, 0) + max(limit, 0)]
        cards = [self._node_card(n) for i in page if (n := self.store.get(Node, i)) is not None]
        return NodePage(Total=len(ids), Offset=offset, Items=cards)

    def _node_card(self, n: Node) -> NodeCard:
        at = self._at.get(n.ID) or _NodeTasks()
        ms = n.ManagerStatus
        live = self.control.live_manager_status
        if live is not None and n.Spec.Role == "manager":
            ms = live(n)
        res = n.Description.Resources
        return NodeCard(
            ID=n.ID, Hostname=n.Description.Hostname, Role=n.Spec.Role, State=n.Status.State,
            Availability=n.Spec.Availability, Addr=n.Status.Addr, Leader=bool(ms and ms.Leader),
            Reachability=ms.Reachability if ms is not None else "", Labels=dict(n.Spec.Labels or {}),
            Taints=[_taint_text(t.Key, t.Value, t.Effect) for t in n.Spec.Taints or []],
            NanoCPUs=res.NanoCPUs, MemoryBytes=res.MemoryBytes, ReservedNanoCPUs=at.cpus,
            ReservedMemoryBytes=at.memory, Tasks=len(at.tasks), TasksByState=_plain(at.states),
            Message=n.Status.Message)

    # ------------------------------------------------------------ tasks

    def tasks(self, node: str = "", owner: str = "", state: str = "", query: str = "", offset: int = 0,
              limit: int = 100) -> TaskPage:
        """Current tasks and Pods sorted by owner name, then slot or name; ``node`` "-" is the pending."""
        key = (node, owner, state, query.lower(), self._gen)
        if self._sorted is not None and self._sorted[0] == key:
            ids = self._sorted[1]
        else:
            ids = self._select(node, owner, state, query.lower())
            self._sorted = (key, ids)
        start = max(offset, 0)
        got = (self.store.get(Task, i) for i in ids[start:start + max(limit, 0)])
        return TaskPage(Total=len(ids), Offset=offset, Items=[self._card(t) for t in got if t is not None])

    def _select(self, node: str, owner: str, state: str, q: str) -> list[str]:
        get = self.store.get
        tasks: Iterable[Task]
        if node:
            at = self._at.get(PENDING if node == "-" else node)
            tasks = [t for i in (at.tasks if at is not None else ()) if (t := get(Task, i)) is not None]
            if owner:
                tasks = [t for t in tasks if owner in (t.Owner.ID, self._top(t)[1])]
        elif owner:
            tasks = [t for t in self._owned(owner) if is_current(t)]
        else:
            tasks = [t for at in self._at.values() for i in at.tasks if (t := get(Task, i)) is not None]
        if state:
            tasks = [t for t in tasks if t.Status.State == state]
        if q:
            tasks = [t for t in tasks if self._task_matches(t, q)]
        keyed = [(top[2], top[1], t.Slot, self._name(t), t.ID) for t in tasks if (top := self._top(t))]
        keyed.sort()
        return [k[4] for k in keyed]

    def _owned(self, owner_id: str) -> list[Task]:
        """The tasks of a service or a Kubernetes object, through the objects it controls (a
        Deployment's ReplicaSets, a CronJob's Jobs)."""
        out = list(self.store.tasks_of_owner(owner_id))
        for typ in (ReplicaSet, Job):
            for o in self.store.list(typ):
                ctl = wl.controller_of(o)
                if ctl is not None and ctl.ID == owner_id:
                    out.extend(self._owned(o.ID))
        return out

    def _task_matches(self, t: Task, q: str) -> bool:
        c = t.Spec.Containers
        return q in f"{self._name(t)}\0{t.ID}\0{c[0].Image if c else ''}\0{self._top(t)[2]}\0{t.Namespace}".lower()

    def _top(self, t: Task) -> tuple[str, str, str]:
        """The task's owner as a user thinks of it: (kind, ID, name); a Pod's controller followed up
        through the store (a ReplicaSet's Deployment, a Job's CronJob)."""
        o = t.Owner
        if not o.ID:
            return ("", "", "")
        if o.Kind == SERVICE_KIND:
            return ("service", o.ID, o.Name)
        got = self._owners.get(o.ID)
        if got is None:
            got = self._owners[o.ID] = self._follow(o.Kind, o.ID, o.Name)
        return got

    def _follow(self, kind: str, oid: str, name: str) -> tuple[str, str, str]:
        for _ in range(4):
            typ = OWNER_TYPES.get(kind)
            obj: ObjectMeta | None = self.store.get(typ, oid) if typ is not None else None
            ctl = wl.controller_of(obj) if obj is not None else None
            if ctl is None or ctl.Kind not in OWNER_TYPES:
                break
            kind, oid, name = ctl.Kind, ctl.ID, ctl.Name
        return (kind.lower(), oid, name)

    def _name(self, t: Task) -> str:
        if t.Namespace:
            return t.Name
        return f"{t.Owner.Name}.{t.Slot}" if t.Slot else f"{t.Owner.Name}.{t.NodeID}"

    def _card(self, t: Task) -> TaskCard:
        kind, oid, name = self._top(t)
        pod = bool(t.Namespace)
        return TaskCard(
            ID=t.ID, Kind="pod" if pod else "task", Name=self._name(t), Namespace=t.Namespace, Owner=name,
            OwnerID=oid, OwnerKind=kind, NodeID=t.NodeID, Slot=t.Slot, Image=_image(t),
            State=str(t.Status.State), DesiredState=str(t.DesiredState), Phase=pod_phase(t) if pod else "",
            Message=t.Status.Message, Err=t.Status.Err, UpdatedAt=_when(t))

    # ------------------------------------------------------------ a task's detail

    def task(self, task_id: str) -> TaskDetail:
        t = self.store.get(Task, task_id)
        if t is None:
            raise NotFound(f"no such task: {task_id}")
        out = TaskDetail(Task=self._card(t), History=self._history(t))
        if t.Status.State <= TaskState.PENDING and not t.DesiredState.terminal:
            self._explain(t, out)
        return out

    def _history(self, t: Task) -> list[TaskEvent]:
        """The task's own steps (its state now, its containers' earlier ends, its creation), then the
        other tasks of its slot (a Swarm task's: same service and slot, or node for a global one),
        newest first."""
        own = [TaskEvent(TaskID=t.ID, State=str(t.Status.State), At=_when(t), Message=t.Status.Message,
                         Err=t.Status.Err, NodeID=t.NodeID)] if t.Status.State != TaskState.NEW else []
        restarts = [TaskEvent(TaskID=t.ID, State="restarted", At=c.LastState.FinishedAt, NodeID=t.NodeID,
                              Message=f"{c.Name}: {c.LastState.Reason or 'exited'} ({c.LastState.ExitCode}); "
                                      f"restarts {c.RestartCount}")
                    for c in t.Status.Containers or [] if c.LastState is not None]
        restarts.sort(key=lambda e: parse_ts(e.At), reverse=True)
        own += [*restarts, TaskEvent(TaskID=t.ID, State="new", At=t.CreatedAt)]
        others: list[TaskEvent] = []
        if not t.Namespace and t.Owner.ID:
            for o in self.store.tasks_of_owner(t.Owner.ID):
                same = o.Slot == t.Slot if t.Slot else (not o.Slot and o.NodeID == t.NodeID)
                if same and o.ID != t.ID:
                    others.append(TaskEvent(TaskID=o.ID, State=str(o.Status.State), At=_when(o),
                                            Message=o.Status.Message, Err=o.Status.Err, NodeID=o.NodeID))
        others.sort(key=lambda e: parse_ts(e.At), reverse=True)
        return own + others

    def _infos(self) -> dict[str, NodeInfo]:
        """The scheduler's view of every node, from the current tasks placed there: built afresh
        (100,000 tasks take a few hundred milliseconds) when the view changed and the last one is older
        than ``INFOS_TTL`` seconds. The filters only read it."""
        now = self.clock()
        cached = self._infos_cache
        if cached is not None and (cached[0] == self._gen or now - cached[1] < INFOS_TTL):
            return cached[2]
        infos: dict[str, NodeInfo] = {}
        get = self.store.get
        for n in self.store.list(Node):
            ni = infos[n.ID] = NodeInfo.of(n)
            at = self._at.get(n.ID)
            for i in at.tasks if at is not None else ():
                placed = get(Task, i)
                if placed is not None and counts_on_node(placed):
                    ni.add_task(placed)
        self._infos_cache = (self._gen, now, infos)
        return infos

    def _explain(self, t: Task, out: TaskDetail) -> None:
        """A pending task: the scheduler's reason and each rejecting node's, from its filters."""
        out.PendingReason = t.Status.Err
        infos = self._infos()
        pipeline = Pipeline(taints=any(ni.node.Spec.Taints for ni in infos.values()), cluster=Cluster(infos))
        pipeline.set_task(t)
        nodes = sorted(infos.values(), key=lambda ni: (ni.node.Description.Hostname, ni.node.ID))
        if t.NodeID:  # tied to its node (a global service's task, a Pod's nodeName): that node alone
            nodes = [ni for ni in nodes if ni.node.ID == t.NodeID]
        rejected: list[NodeRejection] = []
        for ni in nodes:
            if t.Namespace:
                why = pipeline.kube_rejection(ni)
                reason = ", ".join(why[0]) if why is not None else ""
            else:
                f = pipeline.rejecting(ni)
                reason = f.reason if f is not None else ""
            if reason:
                rejected.append(NodeRejection(NodeID=ni.node.ID, Hostname=ni.node.Description.Hostname,
                                              Reason=reason))
        out.RejectedNodes = len(rejected)
        out.Rejections = rejected[:MAX_REJECTIONS]
        if not out.PendingReason and nodes and len(rejected) == len(nodes):
            out.PendingReason = words_for(t).unschedulable(pipeline, nodes)

    # ------------------------------------------------------------ workloads

    def workloads(self, query: str = "", offset: int = 0, limit: int = 100) -> WorkloadPage:
        """Services and Deployments sorted by namespace ("" first) and name."""
        q = query.lower()
        rows: list[tuple[str, str, str, Service | Deployment]] = []
        for s in self.store.list(Service):
            rows.append(("", s.Spec.Name, s.ID, s))
        for d in self.store.list(Deployment):
            rows.append((d.Namespace, d.Name, d.ID, d))
        if q:
            rows = [r for r in rows if _workload_matches(r[3], q)]
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        start = max(offset, 0)
        page = rows[start:start + max(limit, 0)]
        items: list[WorkloadRow] = []
        nodes: dict[str, Node] | None = None
        kube_services: list[KubeService] | None = None
        rss: dict[str, list[ReplicaSet]] | None = None
        for _, _, _, obj in page:
            if isinstance(obj, Service):
                key = (obj.Version.Index, self._owner_gen.get(obj.ID, 0), self._node_gen)
                kept = self._rows.get(obj.ID)
                if kept is None or kept[0] != key:
                    if nodes is None:
                        nodes = {n.ID: n for n in self.store.list(Node)}
                    kept = self._rows[obj.ID] = (key, self._service_row(obj, nodes))
                items.append(kept[1])
                continue
            if kube_services is None:
                kube_services = self.store.list(KubeService)
                rss = {}
                for rs in self.store.list(ReplicaSet):
                    ctl = wl.controller_of(rs)
                    if ctl is not None:
                        rss.setdefault(ctl.ID, []).append(rs)
            assert rss is not None
            items.append(self._deployment_row(obj, rss.get(obj.ID, []), kube_services))
        return WorkloadPage(Total=len(rows), Offset=offset, Items=items)

    def _service_row(self, s: Service, nodes: dict[str, Node]) -> WorkloadRow:
        st = self.control.service_status(s, nodes)
        us = s.UpdateStatus
        step = ""
        if us is not None and us.State in IN_UPDATE:
            sv = s.SpecVersion.Index if s.SpecVersion is not None else 0
            updated = sum(1 for t in self.store.tasks_of_owner(s.ID)
                          if t.SpecVersion is not None and t.SpecVersion.Index == sv
                          and t.DesiredState <= TaskState.RUNNING and is_current(t))
            step = f"{updated}/{st.DesiredTasks} updated"
        ep = s.Endpoint
        ports = [f"{p.PublishedPort}:{p.TargetPort}/{p.Protocol}" if p.PublishedPort else f"{p.TargetPort}/{p.Protocol}"
                 for p in (ep.Ports if ep is not None else None) or []]
        vips = [str(v.get("Addr", "")) for v in (ep.VirtualIPs if ep is not None else None) or [] if v.get("Addr")]
        containers = s.Spec.TaskTemplate.Containers
        return WorkloadRow(
            ID=s.ID, Kind="service", Name=s.Spec.Name, Mode=mode_name(s),
            Image=containers[0].Image if containers else "", Replicas=st.DesiredTasks, Running=st.RunningTasks,
            Ready=st.RunningTasks, Version=s.Version.Index, Rollout=us.State if us is not None else "",
            RolloutMessage=us.Message if us is not None else "", Step=step, Ports=ports, Addresses=vips,
            UpdatedAt=s.UpdatedAt)

    def _deployment_row(self, d: Deployment, rss: list[ReplicaSet], kube_services: list[KubeService]) -> WorkloadRow:
        running = sum(1 for rs in rss for t in self.store.tasks_of_owner(rs.ID)
                      if t.Status.State == TaskState.RUNNING and not t.DeletionTimestamp)
        rollout = deployment_rollout(d)
        cond = wl.get_condition(d.Status.Conditions, PROGRESSING)
        labels = d.Spec.Template.Labels or {}
        ports: list[str] = []
        addrs: list[str] = []
        for ks in kube_services:
            sel = ks.Spec.Selector
            if ks.Namespace != d.Namespace or not sel or any(labels.get(k) != v for k, v in sel.items()):
                continue
            if ks.Spec.ClusterIP and ks.Spec.ClusterIP != "None":
                addrs.append(ks.Spec.ClusterIP)
            ports.extend(f"{p.Port}/{p.Protocol}" for p in ks.Spec.Ports or [])
        containers = d.Spec.Template.Spec.Containers
        return WorkloadRow(
            ID=d.ID, Kind="deployment", Name=d.Name, Namespace=d.Namespace, Mode="replicated",
            Image=containers[0].Image if containers else "", Replicas=d.Spec.Replicas, Running=running,
            Ready=d.Status.ReadyReplicas, Version=d.Version.Index, Rollout=rollout,
            RolloutMessage=cond.Message if cond is not None else "",
            Step="" if rollout == "complete" else f"{d.Status.UpdatedReplicas}/{d.Spec.Replicas} updated",
            Ports=ports, Addresses=addrs, UpdatedAt=d.UpdatedAt)

    # ------------------------------------------------------------ payloads

    def payloads(self, query: str = "") -> list[PayloadRow]:
        """Secrets and configs of both worlds, sorted by kind, namespace and name: never a value."""
        q = query.lower()
        rows: list[PayloadRow] = []
        for s in self.store.list(Secret):
            rows.append(PayloadRow(ID=s.ID, Kind="secret", Name=s.Name or s.Spec.Name, Namespace=s.Namespace,
                                   Type=s.Spec.Type, Keys=sorted(s.Spec.Items or ()), Labels=dict(s.Labels or {}),
                                   CreatedAt=s.CreatedAt, UpdatedAt=s.UpdatedAt))
        for c in self.store.list(Config):
            keys = sorted({*(c.Spec.Items or ()), *(c.Spec.BinaryItems or ())})
            rows.append(PayloadRow(ID=c.ID, Kind="config", Name=c.Name or c.Spec.Name, Namespace=c.Namespace,
                                   Keys=keys, Labels=dict(c.Labels or {}), CreatedAt=c.CreatedAt,
                                   UpdatedAt=c.UpdatedAt))
        if q:
            rows = [r for r in rows if any(q in x.lower() for x in (r.Name, r.ID, r.Namespace, *r.Keys,
                                                                    *_label_texts(r.Labels)))]
        rows.sort(key=lambda r: (r.Kind, r.Namespace, r.Name, r.ID))
        return rows

    # ------------------------------------------------------------ notices

    async def changes(self) -> AsyncIterator[ConsoleChange]:
        """Coalesced notices (see the module's docstring) until the caller stops or the view closes."""
        w = _Watcher()
        self._watchers.add(w)
        loop = asyncio.get_running_loop()
        last = -math.inf
        try:
            while not self._closed:
                await w.wake.wait()
                if self._closed:
                    break
                await asyncio.sleep(max(self.gather, last + self.interval - loop.time()))
                if self._closed:
                    break
                w.wake.clear()
                notice = ConsoleChange(Revision=self.store.revision, Kinds=sorted(w.kinds), Nodes=sorted(w.nodes))
                w.kinds, w.nodes = set(), set()
                last = loop.time()
                yield notice
        finally:
            self._watchers.discard(w)

    # ------------------------------------------------------------ actions

    async def scale(self, kind: str, workload_id: str, replicas: int) -> None:
        if replicas < 0:
            raise InvalidArgument(f"invalid replicas value {replicas}: replicas must be a non-negative number")
        if kind == "service":
            s = self.control.service(workload_id)
            spec = clone(s.Spec)
            mode = spec.Mode
            if mode.Replicated is not None:
                mode.Replicated.Replicas = replicas
            elif mode.ReplicatedJob is not None:
                mode.ReplicatedJob.TotalCompletions = replicas
            else:
                raise InvalidArgument("scale can only be used with replicated or replicated-job mode")
            await self.control.update_service(s.ID, s.Version.Index, spec)
        elif kind == "deployment":
            d = clone(self._deployment(workload_id))
            d.Spec.Replicas = replicas
            await self._kube().update(d)
        else:
            raise InvalidArgument(f"cannot scale a {kind!r}: service or deployment")

    async def rollback(self, kind: str, workload_id: str) -> None:
        if kind == "service":
            s = self.control.service(workload_id)
            await self.control.update_service(s.ID, s.Version.Index, clone(s.Spec), rollback=True)
        elif kind == "deployment":
            d = self._deployment(workload_id)
            undone = undo_template(d, [rs for rs in self.store.list(ReplicaSet) if rs.Namespace == d.Namespace
                                       and (ctl := wl.controller_of(rs)) is not None and ctl.ID == d.ID])
            if undone is not None:
                await self._kube().update(undone)
        else:
            raise InvalidArgument(f"cannot roll back a {kind!r}: service or deployment")

    async def set_availability(self, node_id: str, availability: str) -> None:
        n = self.store.get(Node, node_id)
        if n is None:
            n = self.control.node(node_id)  # by hostname or ID prefix, else Docker's NotFound
            n = self.store.get(Node, n.ID) or n
        spec = clone(n.Spec)
        spec.Availability = availability
        await self.control.update_node(n.ID, n.Version.Index, spec)

    def _deployment(self, oid: str) -> Deployment:
        d = self.store.get(Deployment, oid)
        if d is None:
            raise NotFound(f'deployments.apps "{oid}" not found')
        return d

    def _kube(self) -> KubeObjects:
        if self.kube is None:
            raise FailedPrecondition("this manager serves no Kubernetes objects")
        return self.kube


# ---------------------------------------------------------------- pure helpers


def _service_rolling(s: Service) -> bool:
    return s.UpdateStatus is not None and s.UpdateStatus.State in UPDATING


def deployment_rollout(d: Deployment) -> str:
    """A Deployment's rollout as its conditions and ``paused`` tell: paused, failed (its progress
    deadline passed), complete, or progressing."""
    if d.Spec.Paused:
        return "paused"
    cond = wl.get_condition(d.Status.Conditions, PROGRESSING)
    if cond is not None and cond.Reason == TIMED_OUT:
        return "failed"
    if deployment_complete(d, d.Status):
        return "complete"
    return "progressing"


def undo_template(d: Deployment, rss: list[ReplicaSet]) -> Deployment | None:
    """What ``kubectl rollout undo`` writes: the Deployment with the template (and annotations) of its
    previous revision's ReplicaSet; None when the template already is that one (kubectl's "skipped
    rollback"). Raises FailedPrecondition in kubectl's words for a paused Deployment or no history."""
    if d.Spec.Paused:
        raise FailedPrecondition(f"you cannot rollback a paused deployment; resume it first with 'kubectl rollout "
                                 f"resume deployment/{d.Name}' and try again")
    by_revision = {rs_revision(rs): rs for rs in rss}
    revisions = sorted(by_revision)
    if len(revisions) < 2:
        raise FailedPrecondition(f'no rollout history found for deployment "{d.Name}"')
    rs = by_revision[revisions[-2]]
    if wl.same_template(d.Spec.Template, rs.Spec.Template):
        return None
    out = clone(d)
    template = clone(rs.Spec.Template)
    if template.Labels:
        template.Labels.pop(wl.POD_TEMPLATE_HASH, None)
        template.Labels = template.Labels or None
    out.Spec.Template = template
    annotations = {k: v for k, v in (d.Annotations or {}).items() if k in SKIPPED_ANNOTATIONS}
    annotations.update({k: v for k, v in (rs.Annotations or {}).items() if k not in SKIPPED_ANNOTATIONS})
    out.Annotations = annotations or None
    return out


def _moves_counts(old: Task | None, new: Task | None) -> bool:
    """A task's change that moves a workload's counts (created, gone, a new state or spec version)."""
    if old is None or new is None:
        return True
    return old.Status.State != new.Status.State or old.SpecVersion != new.SpecVersion


def _plain(counts: dict[str, int]) -> dict[str, int]:
    """Counts by state with plain strings for keys (the states are ``TaskState`` members)."""
    return {str(k): v for k, v in counts.items()}


def _label_texts(labels: dict[str, str] | None) -> list[str]:
    return [f"{k}={v}" for k, v in (labels or {}).items()]


def _node_matches(n: Node, q: str) -> bool:
    fields = (n.Description.Hostname, n.ID, n.Status.Addr, n.Spec.Role, n.Status.State, n.Spec.Availability,
              *_label_texts(n.Spec.Labels))
    return any(q in f.lower() for f in fields)


def _workload_matches(obj: Service | Deployment, q: str) -> bool:
    if isinstance(obj, Service):
        containers = obj.Spec.TaskTemplate.Containers
        fields = [obj.Spec.Name, obj.ID, *_label_texts(obj.Spec.Labels)]
    else:
        containers = obj.Spec.Template.Spec.Containers
        fields = [obj.Name, obj.ID, obj.Namespace, *_label_texts(obj.Labels)]
    fields += [c.Image for c in containers]
    return any(q in f.lower() for f in fields)
