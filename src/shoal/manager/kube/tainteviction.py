"""The taint eviction controller (the leader's): Pods leave a node whose ``NoExecute`` taints they do
not tolerate, at once or after their ``tolerationSeconds``, as Kubernetes' taint manager
(``pkg/controller/tainteviction``) has them leave.

What it watches: the nodes' ``NoExecute`` taints, their own (``NodeSpec.Taints``, what ``kubectl
taint`` writes) and the one Kubernetes' node lifecycle controller would add while the node is not
ready (``node.kubernetes.io/unreachable``, ``api/nodelabels.derived_taints``), and the Pods placed on
each node (tasks with a namespace, from ``assigned`` until they stop; Swarm tasks cost one test).

For each Pod on a node with such taints (``api/taints.py``): a taint no toleration tolerates deletes
the Pod now; when every one is tolerated, the shortest ``tolerationSeconds`` among the tolerations
used says when (none set: the Pod stays for ever). The time counts from when this controller first
saw the Pod so (as Kubernetes' queue does: a re-evaluation keeps the first start, and only an
earlier deadline replaces it). When the taints go or the Pod comes to tolerate them, the planned
eviction is cancelled (``Cancelling deletion of Pod <ns>/<name>``). Every Pod has the default
tolerations of 300 s for ``not-ready`` and ``unreachable`` (the API server's DefaultTolerationSeconds:
the door adds them, and a Pod without them is read as having them), so Pods leave a node that went
down after five minutes.

An eviction is a graceful deletion (the Pod's own grace period) through ``KubeObjects.delete``, with
the event Kubernetes writes: ``TaintManagerEviction`` ``Marking for deletion Pod <ns>/<name>``
(Normal, source ``taint-eviction-controller``). The clock is injected; deadlines are timers of the
loop (``kick_at``), so nothing polls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shoal.api import nodelabels, taints
from shoal.api.errors import Conflict, NotFound
from shoal.api.states import TaskState
from shoal.api.types import Node, Taint, Task
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

COMPONENT = "taint-eviction-controller"
REASON = "TaintManagerEviction"
MARKING = "Marking for deletion Pod {ns}/{name}"
CANCELLING = "Cancelling deletion of Pod {ns}/{name}"

# Told of each event to write: (Pod, reason, message, source component).
Recorder = Callable[[Task, str, str, str], None]


def no_execute_taints(node: Node) -> list[Taint]:
    """The node's ``NoExecute`` taints: its own, then the one its lifecycle would add while not ready."""
    own = [t for t in node.Spec.Taints or () if t.Effect == taints.NO_EXECUTE]
    derived = [t for t in nodelabels.derived_taints(node) if t.Effect == taints.NO_EXECUTE]
    return own + [t for t in derived if not any(o.Key == t.Key for o in own)]


def on_node(t: Task) -> bool:
    """A Pod placed on a node, not yet asked to stop: what a ``NoExecute`` taint may evict."""
    return (bool(t.Namespace) and bool(t.NodeID) and not t.DeletionTimestamp
            and t.DesiredState <= TaskState.RUNNING and TaskState.ASSIGNED <= t.Status.State <= TaskState.RUNNING)


def eviction_delay(node_taints: list[Taint], t: Task) -> float | None:
    """Seconds the Pod may stay on a node with these ``NoExecute`` taints: 0 (now), a delay, or None
    (for ever: no such taint, or every toleration used is unbounded)."""
    if not node_taints:
        return None
    p = t.Spec.Placement
    # The door adds the API server's default tolerations to every Pod; a Pod made some other way (by
    # a controller from a template) is given them here, as the API server would have.
    used = taints.no_execute_tolerations(
        node_taints, taints.with_default_tolerations(p.Tolerations if p is not None else None))
    if used is None:
        return 0.0
    return taints.toleration_seconds(used)


class TaintEvictionController(Loop):
    """Evicts Pods from nodes with ``NoExecute`` taints they do not tolerate (see the module's docstring)."""

    name = "tainteviction"
    debounce = 0.05

    def __init__(self, store: ObjectStore, kube: KubeObjects, *, clock: Callable[[], float] = time.time,
                 record: Recorder | None = None) -> None:
        super().__init__()
        self.store = store
        self.kube = kube
        self.clock = clock
        self.record = record
        self.pods: dict[str, set[str]] = {}  # node ID → the Pods on it (task IDs)
        self.dirty: set[str] = set()  # Pods to look at again
        self.started: dict[str, float] = {}  # Pod → when its planned eviction was first seen
        self.due: dict[str, float] = {}  # Pod → when it is evicted

    def start(self) -> None:
        self.pods, self.started, self.due = {}, {}, {}
        for t in self.store.list(Task):
            if on_node(t):
                self.pods.setdefault(t.NodeID, set()).add(t.ID)
                self.dirty.add(t.ID)
        self._unsubscribe = self.store.subscribe(self.on_change)
        super().start()
        self.kick()

    # ------------------------------------------------------------ what flows in

    def on_change(self, ch: Change) -> None:
        if ch.kind == "tasks":
            old, new = ch.old, ch.new
            if (old is None or not old.Namespace) and (new is None or not new.Namespace):
                return
            if old is not None and old.NodeID and (new is None or not on_node(new) or new.NodeID != old.NodeID):
                self._forget(old)
            if new is not None and on_node(new):
                self.pods.setdefault(new.NodeID, set()).add(new.ID)
                if old is None or not on_node(old) or old.Spec.Placement != new.Spec.Placement:
                    self.dirty.add(new.ID)
                    self.kick()
        elif ch.kind == "nodes":
            old_n, new_n = ch.old, ch.new
            if new_n is None or old_n is None or no_execute_taints(old_n) != no_execute_taints(new_n):
                node_id = (new_n or old_n).ID
                got = self.pods.get(node_id)
                if got:
                    self.dirty.update(got)
                    self.kick()

    def _forget(self, t: Task) -> None:
        got = self.pods.get(t.NodeID)
        if got is not None:
            got.discard(t.ID)
            if not got:
                del self.pods[t.NodeID]
        self.dirty.discard(t.ID)
        self.started.pop(t.ID, None)
        self.due.pop(t.ID, None)

    # ------------------------------------------------------------ what flows out

    async def tick(self) -> None:
        now = self.clock()
        dirty, self.dirty = self.dirty, set()
        for tid in dirty:
            self._plan(tid, now)
        for tid in [tid for tid, at in self.due.items() if at <= now]:
            await self._evict(tid)
        if self.due:
            self.kick_at(max(min(self.due.values()) - now, 0.0))

    def _plan(self, tid: str, now: float) -> None:
        t = self.store.get(Task, tid)
        node = self.store.get(Node, t.NodeID) if t is not None and on_node(t) else None
        delay = eviction_delay(no_execute_taints(node), t) if node is not None and t is not None else None
        if delay is None:
            if tid in self.due and t is not None:
                self._event(t, CANCELLING)
            self.started.pop(tid, None)
            self.due.pop(tid, None)
            return
        start = self.started.get(tid)
        if start is not None and start + delay >= self.due[tid]:
            return  # already planned, as early or earlier
        start = now if start is None else start
        self.started[tid] = start
        self.due[tid] = start + delay if delay > 0 else now

    async def _evict(self, tid: str) -> None:
        self.due.pop(tid, None)
        self.started.pop(tid, None)
        t = self.store.get(Task, tid)
        if t is None or not on_node(t):
            return
        self._event(t, MARKING)
        try:
            await self.kube.delete("tasks", t.Namespace, t.Name, uid=t.ID)
        except (NotFound, Conflict):
            log.debug("tainteviction: %s/%s changed meanwhile", t.Namespace, t.Name)

    def _event(self, t: Task, message: str) -> None:
        if self.record is not None:
            self.record(t, REASON, message.format(ns=t.Namespace, name=t.Name), COMPONENT)
