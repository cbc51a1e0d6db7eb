"""The ReplicaSet controller (the leader's, on a keyed work queue: key = the ReplicaSet's ID).

Each sync reads the ReplicaSet and the Pods of its namespace from the store's cache and is
idempotent, as Kubernetes' ``ReplicaSetController.syncReplicaSet``:

* **claim**: a Pod whose controller reference is the ReplicaSet is its own, unless its labels no
  longer match the selector (it is *released*: the reference is removed); a Pod with no controller
  whose labels match is *adopted* (``ownerReferences`` gets ``{apps/v1, ReplicaSet, name, uid,
  controller: true, blockOwnerDeletion: true}``), unless the ReplicaSet is being deleted;
* **manage**: of its active Pods (not being deleted, not ended), too few: new Pods from the template,
  named ``<rs>-<5 random characters>``, in Kubernetes' slow start (batches of 1, 2, 4, …, each batch
  one transaction with its ``SuccessfulCreate`` events); too many: the surplus deleted (gracefully),
  in Kubernetes' order (``deletion_key``): not on a node before on a node, pending before running,
  not ready before ready, more Pods of this ReplicaSet on the same node first, ready for less time
  first, more restarts first, newer first;
* **status**: ``replicas`` (active Pods), ``fullyLabeledReplicas`` (those carrying every template
  label), ``readyReplicas``, ``availableReplicas`` (ready for ``minReadySeconds``) and
  ``observedGeneration``; when a ready Pod will become available later, the key comes back then.

Triggers: every change of a ReplicaSet; a Pod change wakes its controller (old and new) and, for an
orphan, the ReplicaSets of its namespace that select it. A Pod's creation is committed before the
sync ends, so the next sync sees it (the store's cache is written by the commit): no expectations
are needed as in client-go.

A Pod carries the ReplicaSet's generation as its spec version, so the scheduler places the Pods of
one template as one group, as a service's tasks. Flow control (``InFlight``; Kubernetes' controllers
have their client's rate limit): while 1,000 Pods the controller made have not started (nor been
refused a node), it makes no more, each Pod counting 5 s at most; a burst of 150,000 Pods then waits
here rather than in the scheduler's queue (``docs/design/kube-scale.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable

from shoal.api.errors import AlreadyExists, NotFound
from shoal.api.meta import ObjectRef, VersionRef
from shoal.api.states import TaskState
from shoal.api.types import ReplicaSet, ReplicaSetStatus, Task, clone
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.objects import KubeObjects, random_suffix
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

KIND = "ReplicaSet"
COMPONENT = "replicaset-controller"
BURST = 500  # Pods made or deleted per sync at most (Kubernetes' burstReplicas)
# Flow control (Kubernetes' controllers have theirs in their client's rate limit): while this many
# Pods the controller made are not yet running (nor refused a node), it makes no more; a Pod counts
# for INFLIGHT_SECONDS at most, so a Pod stuck starting (an image pull) never holds the others.
INFLIGHT_LIMIT = 1000
INFLIGHT_SECONDS = 5.0
MAX_GENERATED_BASE = 58  # a generated name's prefix at most (63 less the 5 random characters)


def deletion_key(t: Task, related_on_node: int) -> tuple[int, int, int, int, float, int, float]:
    """Sorts the Pods to delete first to the front (Kubernetes' ``ActivePodsWithRanks``)."""
    ready = wl.pod_ready(t)
    return (1 if t.NodeID else 0, wl.pod_phase_rank(t), 1 if ready else 0, -related_on_node,
            -wl.ready_since(t) if ready else 0.0, -sum(c.RestartCount for c in t.Status.Containers or []),
            -wl.parse_ts(t.CreatedAt))


def pods_to_delete(active: list[Task], count: int) -> list[Task]:
    """The ``count`` Pods a ReplicaSet gives up first."""
    on_node = Counter(t.NodeID for t in active if t.NodeID)
    ranked = sorted(active, key=lambda t: deletion_key(t, on_node[t.NodeID] if t.NodeID else 0))
    return ranked[:count]


def fully_labeled(t: Task, template_labels: dict[str, str] | None) -> bool:
    labels = t.Labels or {}
    return all(labels.get(k) == v for k, v in (template_labels or {}).items())


def new_pod(rs: ReplicaSet) -> Task:
    """A Pod of the ReplicaSet's template, named ``<rs>-<5 random characters>``, owned by it."""
    tpl = rs.Spec.Template
    name = f"{rs.Name[:MAX_GENERATED_BASE]}-{random_suffix()}"
    spec = clone(tpl.Spec)
    if not spec.Hostname:
        spec.Hostname = name[:63].rstrip("-.")
    # The ReplicaSet's generation as the Pod's spec version: the Pods made from one template are
    # identical to the scheduler, which places them as one group (as a service's tasks).
    t = Task(ID="", Name=name, GenerateName=f"{rs.Name}-", Namespace=rs.Namespace,
             Labels=dict(tpl.Labels) if tpl.Labels else None,
             Annotations=dict(tpl.Annotations) if tpl.Annotations else None, Spec=spec, Owner=ObjectRef(),
             SpecVersion=VersionRef(Index=rs.Generation or 1))
    t.OwnerReferences = [wl.controller_ref(KIND, rs)]
    return t


class InFlight:
    """The Pods a controller made that have not yet started (nor been refused a node), by when they
    were made; ``wait_for_room`` waits while there are ``limit`` of them. A Pod leaves when it runs,
    ends, is refused a node, is deleted, or ``horizon`` seconds after it was made."""

    def __init__(self, limit: int = INFLIGHT_LIMIT, horizon: float = INFLIGHT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.horizon = horizon
        self.clock = clock
        self.pods: dict[str, float] = {}  # in the order made
        self._room = asyncio.Event()

    def made(self, pods: list[Task]) -> None:
        now = self.clock()
        for t in pods:
            self.pods[t.ID] = now

    def seen(self, old: Task | None, new: Task | None) -> None:
        t = new or old
        if t is None or t.ID not in self.pods:
            return
        if new is None or new.Status.State >= TaskState.RUNNING or new.Status.Err or new.DeletionTimestamp:
            del self.pods[t.ID]
            if len(self.pods) < self.limit:
                self._room.set()

    def _expire(self) -> float | None:
        """Forget the Pods made ``horizon`` ago; when the oldest left is due to go."""
        now = self.clock()
        while self.pods:
            tid, made = next(iter(self.pods.items()))
            if made + self.horizon > now:
                return made + self.horizon - now
            del self.pods[tid]
        return None

    async def wait_for_room(self) -> bool:
        """Wait while ``limit`` Pods are in flight; whether it waited."""
        waited = False
        while len(self.pods) >= self.limit:
            due = self._expire()
            if len(self.pods) < self.limit:
                break
            self._room.clear()
            waited = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), due)
        return waited


class ReplicaSetController(wl.PodOwnerController):
    name = "replicasets"
    owner_type, owner_kind = ReplicaSet, KIND
    workers = 2

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, kube, clock)
        self.inflight = InFlight()

    # ------------------------------------------------------------ what flows in

    def on_change(self, ch: Change) -> None:
        if ch.kind == "replicasets":
            self.queue.add((ch.new or ch.old).ID)
        elif ch.kind == "tasks":
            if (ch.new or ch.old).Namespace and self.inflight.pods:
                self.inflight.seen(ch.old, ch.new)
            self.pod_changed(ch)

    # ------------------------------------------------------------ the sync

    async def sync(self, rs_id: str) -> float | None:
        """Reconcile one ReplicaSet; the delay after which it wants to be looked at again, if any."""
        rs: ReplicaSet | None = self.store.get(ReplicaSet, rs_id)
        if rs is None:
            return None
        owned = await self.claim(rs, rs.Spec.Selector, wl.controller_ref(KIND, rs), not rs.DeletionTimestamp)
        active = [t for t in owned if wl.pod_active(t)]
        if not rs.DeletionTimestamp:
            diff = len(active) - rs.Spec.Replicas
            if diff < 0:
                await self._create_batches(rs, min(-diff, BURST))
            elif diff > 0:
                for t in pods_to_delete(active, min(diff, BURST)):
                    try:
                        await self.kube.delete("tasks", t.Namespace, t.Name, uid=t.ID)
                    except NotFound:
                        continue
                    await wl.record(self.kube, rs, KIND, COMPONENT, "SuccessfulDelete", f"Deleted pod: {t.Name}",
                                    self.clock())
        return await self._update_status(rs, active)

    async def _create_batches(self, rs: ReplicaSet, count: int) -> None:
        """``count`` new Pods in Kubernetes' slow start: batches of 1, 2, 4, … Pods, each batch one
        transaction with its ``SuccessfulCreate`` events; an error stops the rest (a namespace going
        away fails the first Pod, not 500). A name taken in a batch (a Pod's random suffix, an
        event's) makes that batch one Pod at a time, each Pod and then its event."""
        size = 1
        while count > 0:
            if await self.inflight.wait_for_room():
                cur = self.store.get(ReplicaSet, rs.ID)
                if cur is None or cur.Generation != rs.Generation or cur.DeletionTimestamp:
                    return  # changed while this sync waited: its change brings the key back
            n = min(size, count)
            pods = [new_pod(rs) for _ in range(n)]
            now = self.clock()
            events = [wl.event(rs, KIND, COMPONENT, "SuccessfulCreate", f"Created pod: {p.Name}", now)
                      for p in pods]
            try:
                await self.kube.create_all([*pods, *events])
            except AlreadyExists:
                for _ in range(n):
                    await self._create(rs)
            else:
                self.inflight.made(pods)
            count -= n
            size *= 2

    async def _create(self, rs: ReplicaSet) -> None:
        for _ in range(3):
            pod = new_pod(rs)
            try:
                await self.kube.create(pod)
            except AlreadyExists:
                continue  # the random name was taken: another one
            self.inflight.made([pod])
            await wl.record(self.kube, rs, KIND, COMPONENT, "SuccessfulCreate", f"Created pod: {pod.Name}",
                            self.clock())
            return

    async def _update_status(self, rs: ReplicaSet, active: list[Task]) -> float | None:
        now = self.clock()
        min_ready = rs.Spec.MinReadySeconds
        ready = [t for t in active if wl.pod_ready(t)]
        available = [t for t in ready if wl.pod_available(t, min_ready, now)]
        status = ReplicaSetStatus(
            Replicas=len(active),
            FullyLabeledReplicas=sum(1 for t in active if fully_labeled(t, rs.Spec.Template.Labels)),
            ReadyReplicas=len(ready), AvailableReplicas=len(available), ObservedGeneration=rs.Generation,
            Conditions=rs.Status.Conditions)
        if status != rs.Status:
            cur: ReplicaSet | None = self.store.get(ReplicaSet, rs.ID)
            if cur is not None:
                cur = clone(cur)
                cur.Status = status
                await self.kube.update(cur)
        waiting = [wl.ready_since(t) + min_ready - now for t in ready if t not in available]
        return max(min(waiting), 0.0) + 0.01 if waiting else None
