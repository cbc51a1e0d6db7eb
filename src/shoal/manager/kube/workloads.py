"""What the workload controllers (ReplicaSets, Deployments) share: the readiness of a Pod as they
count it, selectors of core objects, controller references, Kubernetes' arithmetic of rollouts
(``resolve_fenceposts``), the ``pod-template-hash``, the order in which a ReplicaSet gives up Pods,
the events the controllers write, and their common frame (``WorkloadController``: a store, the
Kubernetes objects, a clock, and a ``handle`` that syncs each key, looking again when a write lost a race).

Readiness is the Pod's ``Ready`` condition as the Kubernetes door shows it (``convert._pod_status``):
the task runs and every app container the node reports runs and is ready; its time is the task's
last status change (the condition's ``lastTransitionTime``). A Pod is *available* once it has been
ready for ``minReadySeconds``.

The hash: Kubernetes' ``ComputeHash`` is FNV-32a over the Go printout of the Pod template, then the
collision count (4 bytes, little endian) when there is one, and the decimal sum written through
``SafeEncodeString`` (each character mapped into ``bcdfghjklmnpqrstvwxz2456789``). shoal does the same
over the core template's JSON with sorted keys: the same algorithm and alphabet (9 or 10
characters, stable for a template), not the same value as a real API server would give.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from collections.abc import Callable
from typing import Any

import msgspec

from shoal.api import selectors
from shoal.api.errors import AlreadyExists, Conflict, NotFound
from shoal.api.ids import new_id
from shoal.api.kube import Event, EventSource, InvolvedObject
from shoal.api.meta import ObjectRef, OwnerReference, owner_references
from shoal.api.states import TaskState
from shoal.api.types import KIND_OF, LabelSelectorSpec, PodTemplate, Task, WorkloadCondition, clone, parse_ts
from shoal.manager.kube.events import timestamp
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.workqueue import Batch, Controller
from shoal.store.objects import Change, ObjectStore

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
FNV32_OFFSET, FNV32_PRIME = 2166136261, 16777619


# ---------------------------------------------------------------- the controllers' frame


class WorkloadController(Controller):
    """A controller that reconciles one object a key (``sync``) over the store and the Kubernetes objects."""

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.store = store
        self.kube = kube
        self.clock = clock

    async def sync(self, key: str) -> float | None:
        """Reconcile one object; the delay after which it wants to be looked at again, if any."""
        raise NotImplementedError

    async def handle(self, batch: Batch) -> None:
        for key in batch.keys:
            # A sync's writes need not suspend (the store commits in this thread): let the rest of the
            # manager run between two, or a queue of 16,000 Deployments holds it for seconds.
            await asyncio.sleep(0)
            try:
                again = await self.sync(key)
            except (Conflict, AlreadyExists, NotFound):
                batch.retry(key)  # something changed under the sync: look again with what is there now
                continue
            batch.succeeded(key)
            if again is not None:
                self.queue.add_after(key, again)


class PodOwnerController(WorkloadController):
    """A controller whose objects own Pods through a label selector (ReplicaSets, DaemonSets, Jobs):
    the Pods of each namespace without a controller (``orphans``, kept from the store's changes by
    ``track``), and ``claim``, Kubernetes' ``ControllerRefManager.ClaimPods``: an object's Pods are its
    own (the store's index by owner) that its selector still matches, the ones it no longer matches are
    released, and orphans it matches are adopted while it may adopt; never a walk over every Pod.

    ``seed`` subscribes to the store's changes, builds ``orphans`` and queues every owner;
    ``pod_changed`` handles a Pod's change: it keeps ``orphans`` and queues the Pod's controller, or
    for a new orphan every owner of its namespace whose (non-empty) selector matches it."""

    owner_type: type  # the owners' core type (ReplicaSet, DaemonSet, Job)
    owner_kind = ""  # their kind in a controller reference ("ReplicaSet")

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, kube, clock)
        self.orphans: dict[str, set[str]] = {}  # namespace -> IDs of its Pods without a controller

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        self.orphans = {}
        for t in self.store.list(Task):
            if t.Namespace:
                self.track(None, t)
        self.queue_all()

    def on_change(self, ch: Change) -> None:
        raise NotImplementedError

    def queue_all(self) -> None:
        owners: list[Any] = self.store.list(self.owner_type)
        for owner in owners:
            self.queue.add(owner.ID)

    def pod_changed(self, ch: Change) -> None:
        if (ch.new or ch.old).Namespace:
            self.track(ch.old, ch.new)
        for t in (ch.old, ch.new):
            if t is None or not t.Namespace:
                continue
            ctl = controller_of(t)
            if ctl is not None:
                if ctl.Kind == self.owner_kind:
                    self.queue.add(ctl.ID)
            elif t is ch.new and not t.DeletionTimestamp:
                owners: list[Any] = self.kube.list(KIND_OF[self.owner_type], t.Namespace)
                for owner in owners:
                    sel = owner.Spec.Selector
                    if (sel.MatchLabels or sel.MatchExpressions) and selector_of(sel).matches(t.Labels or {}):
                        self.queue.add(owner.ID)

    def track(self, old: Task | None, new: Task | None) -> None:
        """Keep ``orphans``: the Pods of each namespace with no controller, not being deleted."""
        if old is not None:
            self.orphans.get(old.Namespace, set()).discard(old.ID)
        if new is not None and not new.DeletionTimestamp and controller_of(new) is None:
            self.orphans.setdefault(new.Namespace, set()).add(new.ID)

    async def claim(self, owner: Any, selector: LabelSelectorSpec, ref: OwnerReference, adopt: bool) -> list[Task]:
        """The Pods ``owner`` controls once claimed (``ref``: its controller reference, written into an
        adopted Pod; ``adopt``: whether it may adopt, not while it is being deleted or finished)."""
        sel = selector_of(selector)
        owned: list[Task] = []
        found = [t for t in self.store.tasks_of_owner(owner.ID) if t.Namespace == owner.Namespace]
        found += [t for i in list(self.orphans.get(owner.Namespace, ())) if (t := self.store.get(Task, i)) is not None]
        for t in found:
            ctl = controller_of(t)
            matches = sel.matches(t.Labels or {})
            if ctl is not None:
                if ctl.ID != owner.ID:
                    continue
                if not matches:
                    if not t.DeletionTimestamp:
                        t = clone(t)
                        t.OwnerReferences = without_owner(t, owner.ID)
                        t.Owner = ObjectRef()
                        await self.kube.update(t)
                    continue
                owned.append(t)
            elif matches and adopt and pod_active(t):
                t = clone(t)
                t.OwnerReferences = [*owner_references(t), ref]
                owned.append(await self.kube.update(t))
        return owned


# ---------------------------------------------------------------- Pods as the controllers see them


def pod_ready(t: Task) -> bool:
    """The Pod's Ready condition: its task runs and every app container runs and is ready."""
    if t.Status.State != TaskState.RUNNING:
        return False
    status = {c.Name: c for c in t.Status.Containers or []}
    for c in t.Spec.Containers:
        s = status.get(c.Name)
        if s is None or not s.Ready or s.State not in ("running", ""):
            return False
    return True


def ready_since(t: Task) -> float:
    """When the Pod became ready (its last status change), in seconds since the epoch."""
    return parse_ts(t.Status.Timestamp or t.CreatedAt)


def pod_available(t: Task, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (at once when that is 0)."""
    if not pod_ready(t):
        return False
    return min_ready_seconds <= 0 or ready_since(t) + min_ready_seconds <= now


def pod_active(t: Task) -> bool:
    """Counted by its controller: not being deleted and not ended (Kubernetes' ``IsPodActive``)."""
    return not t.DeletionTimestamp and t.DesiredState.rank <= TaskState.RUNNING.rank and not t.Status.State.terminal


def pod_phase_rank(t: Task) -> int:
    """Pending 0, Running 2 (Kubernetes ranks Unknown, 1, between them)."""
    return 2 if t.Status.State == TaskState.RUNNING else 0


# ---------------------------------------------------------------- selectors and owners


def selector_of(spec: LabelSelectorSpec) -> selectors.LabelSelector:
    """The core selector of a workload's ``Selector`` (both lists empty: nothing, as a workload's
    empty selector is refused anyway)."""
    if not spec.MatchLabels and not spec.MatchExpressions:
        return selectors.LabelSelector.nothing()
    exprs = [{"key": e.Key, "operator": e.Operator, "values": list(e.Values or [])}
             for e in spec.MatchExpressions or []]
    return selectors.selector_from_spec(spec.MatchLabels, exprs)


def selector_text(spec: LabelSelectorSpec) -> str:
    """``metav1.FormatLabelSelector``: ``app=web,pod-template-hash=x`` (``<none>`` when empty)."""
    if not spec.MatchLabels and not spec.MatchExpressions:
        return "<none>"
    return str(selector_of(spec))


def controller_of(obj: Any) -> OwnerReference | None:
    """The object's controller reference (``controller: true``), if any."""
    return next((r for r in owner_references(obj) if r.Controller), None)


def controller_ref(kind: str, obj: Any) -> OwnerReference:
    """The reference a controller of ``kind`` puts on what it makes or adopts."""
    return OwnerReference(APIVersion="apps/v1", Kind=kind, Name=obj.Name, ID=obj.ID, Controller=True,
                          BlockOwnerDeletion=True)


def without_owner(obj: Any, owner_id: str) -> list[OwnerReference] | None:
    """The object's owners but the one of ``owner_id`` (a release)."""
    return [r for r in owner_references(obj) if r.ID != owner_id] or None


# ---------------------------------------------------------------- rollout arithmetic


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """A count or a percentage of ``total`` (``GetScaledValueFromIntOrPercent``): ``25%`` of 3 is 1 rounded
    up, 0 rounded down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        return int(text)
    share = int(text[:-1]) * total / 100
    return math.ceil(share) if round_up else math.floor(share)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """(surge, unavailable) for ``desired`` replicas: the surge rounded up, the unavailable rounded
    down; both 0 gives unavailable 1 (the rollout could not move otherwise)."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


# ---------------------------------------------------------------- the template hash


def fnv32a(data: bytes, h: int = FNV32_OFFSET) -> int:
    for b in data:
        h = ((h ^ b) * FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """apimachinery's ``rand.SafeEncodeString``: each character mapped into the name alphabet."""
    return "".join(SAFE_CHARS[ord(c) % len(SAFE_CHARS)] for c in text)


def template_hash(template: PodTemplate, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a template (see the module's docstring); the template's own
    ``pod-template-hash`` label, if any, is left out."""
    labels = {k: v for k, v in (template.Labels or {}).items() if k != POD_TEMPLATE_HASH} or None
    printed = msgspec.json.encode(msgspec.structs.replace(template, Labels=labels), order="sorted")
    h = fnv32a(printed)
    if collision_count is not None:
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF), h)
    return safe_encode(str(h))


def same_template(a: PodTemplate, b: PodTemplate) -> bool:
    """Whether two templates are equal but for the ``pod-template-hash`` label (``EqualIgnoreHash``)."""
    def bare(t: PodTemplate) -> PodTemplate:
        labels = {k: v for k, v in (t.Labels or {}).items() if k != POD_TEMPLATE_HASH} or None
        return msgspec.structs.replace(t, Labels=labels, Annotations=t.Annotations or None)
    return bare(a) == bare(b)


# ---------------------------------------------------------------- conditions


def get_condition(conds: list[WorkloadCondition] | None, kind: str) -> WorkloadCondition | None:
    return next((c for c in conds or [] if c.Type == kind), None)


def set_condition(conds: list[WorkloadCondition] | None, new: WorkloadCondition) -> list[WorkloadCondition]:
    """Kubernetes' ``SetDeploymentCondition``: the same status and reason is no change; a new status
    keeps no transition time of the old, the same status keeps it."""
    cur = get_condition(conds, new.Type)
    if cur is not None and cur.Status == new.Status and cur.Reason == new.Reason:
        return list(conds or [])
    if cur is not None and cur.Status == new.Status:
        new = msgspec.structs.replace(new, LastTransitionTime=cur.LastTransitionTime)
    return [*(c for c in conds or [] if c.Type != new.Type), new]


def condition(kind: str, status: str, reason: str, message: str, now: float) -> WorkloadCondition:
    ts = timestamp(now)
    return WorkloadCondition(Type=kind, Status=status, LastUpdateTime=ts, LastTransitionTime=ts, Reason=reason,
                             Message=message)


# ---------------------------------------------------------------- events


_last_event_ns = 0


def event_name(obj_name: str) -> str:
    """``<object>.<hex nanoseconds>``, as Kubernetes' event recorder names events, by the real clock and
    never the same twice in this process (a test's frozen clock, or two events in one nanosecond, would
    otherwise give two events one name and lose the second)."""
    global _last_event_ns
    _last_event_ns = max(time.time_ns(), _last_event_ns + 1)
    return f"{obj_name}.{_last_event_ns:x}"


def event(obj: Any, kind: str, component: str, reason: str, message: str, now: float, type_: str = "Normal",
          api_version: str = "apps/v1") -> Event:
    """An event about a workload (named by ``event_name``), for ``record`` or a controller's batch."""
    ts = timestamp(now)
    return Event(ID=new_id(), Name=event_name(obj.Name), Namespace=obj.Namespace,
                 InvolvedObject=InvolvedObject(Kind=kind, Namespace=obj.Namespace, Name=obj.Name, ID=obj.ID,
                                               APIVersion=api_version),
                 Reason=reason, Message=message, Type=type_, Source=EventSource(Component=component),
                 FirstTimestamp=ts, LastTimestamp=ts)


async def record(kube: KubeObjects, obj: Any, kind: str, component: str, reason: str, message: str, now: float,
                 type_: str = "Normal", api_version: str = "apps/v1") -> None:
    """Write an event about a workload (best effort: a namespace going away refuses it)."""
    try:
        await kube.create(event(obj, kind, component, reason, message, now, type_, api_version))
    except Exception:
        return
