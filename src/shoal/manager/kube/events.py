"""The events controller (the leader's): what happens to Pods, written as core ``Event`` objects
(``api/kube.py``, store kind ``events``) in Kubernetes' reasons and words, for ``kubectl describe``
and ``kubectl get events``.

What flows in: every change of a Pod's task (a task with a namespace; Swarm tasks cost one test and
nothing more), and the scheduler's word of each failed attempt to place a Pod (``failed_scheduling``,
wired to ``Scheduler.on_unschedulable``). What flows out: events, at most one batch per tick.

* **default-scheduler**: ``Scheduled`` ``Successfully assigned <ns>/<pod> to <node>`` when the task
  is first placed (not for a Pod that named its node: kube-scheduler never sees those), and
  ``FailedScheduling`` (Warning) with the scheduler's explanation, at each failed attempt.
* **kubelet** (source host: the node's name), from each container's status as the agent reports it,
  old against new: a new container (a new ``ContainerID`` or a higher ``RestartCount``) gives
  ``Pulled`` ``Container image "<image>" already present on machine`` (or ``Successfully pulled image
  "<image>" in <d>s (<d>s including waiting)`` after a ``Pulling`` one), ``Created`` ``Created
  container: <c>`` and ``Started`` ``Started container <c>``; a container waiting again after it ran
  gives ``BackOff`` (Warning) ``Back-off restarting failed container <c> in pod <pod>_<ns>(<uid>)``;
  the reasons ``Pulling``, ``ErrImagePull`` and ``ImagePullBackOff`` on a waiting container give
  ``Pulling`` ``Pulling image "<image>"``, ``Failed`` ``Failed to pull image "<image>": <message>`` and
  ``Failed`` ``Error: ErrImagePull``, ``BackOff`` ``Back-off pulling image "<image>"`` and ``Failed``
  ``Error: ImagePullBackOff``; a Pod that fails before any of its containers ran gives ``Failed``
  ``Error: <the task's error>``; a Pod asked to stop gives ``Killing`` ``Stopping container <c>`` for
  each running container; what the node itself tells of a container (``ContainerStatus.Events``: its
  probes' ``Unhealthy`` and ``ProbeWarning``, the ``Killing`` ``Container <c> failed liveness probe,
  will be restarted``) once each, by number. Container events carry the container's ``fieldPath``
  (``spec.containers{c}``, ``spec.initContainers{c}``).

An event repeated with the same words (same Pod, source, container, type, reason and message) is not
a new object: its ``Count`` and ``LastTimestamp`` grow, at most once a second per event (repeats in
between are added up). A new object is made only when the words change. Names are Kubernetes':
``<pod>.<nanoseconds in hex>``. Events live an hour after their last occurrence (the API server's
default ``--event-ttl``): the same loop deletes older ones, looking once a minute. Events are not
written into a namespace that is not active.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from shoal.api import nodelabels
from shoal.api.errors import Conflict, NotFound
from shoal.api.ids import new_id
from shoal.api.kube import ACTIVE, Event, EventSource, InvolvedObject, Namespace
from shoal.api.states import TaskState
from shoal.api.types import ContainerStatus, Node, Task, TaskSpec, parse_ts
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

SCHEDULER = "default-scheduler"
KUBELET = "kubelet"
NORMAL, WARNING = "Normal", "Warning"
TTL = 3600.0  # seconds: the API server's default --event-ttl
EXPIRE_PERIOD = 60.0  # how often old events are looked for
BUMP_PERIOD = 1.0  # an event's count is written at most this often

# The waiting reasons the agent reports while it pulls a container's image, and when a pull failed.
PULLING, ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF, CRASH_LOOP = "Pulling", "ErrImagePull", "ImagePullBackOff", \
    "CrashLoopBackOff"

# What makes two occurrences one event: (Pod uid, component, host, fieldPath, type, reason, message).
Key = tuple[str, str, str, str, str, str, str]


@dataclass(slots=True)
class Occurrence:
    """Something that happened to a Pod, not yet written."""

    namespace: str
    pod: str
    uid: str
    reason: str
    message: str
    type: str = NORMAL
    component: str = KUBELET
    host: str = ""
    field_path: str = ""
    at: float = 0.0
    count: int = 1
    kind: str = "Pod"  # the involved object's kind: "Node" for a node's (in ``default``, uid = its name)

    @property
    def key(self) -> Key:
        return (self.uid, self.component, self.host, self.field_path, self.type, self.reason, self.message)


def key_of(e: Event) -> Key:
    io, src = e.InvolvedObject, e.Source
    return (io.ID, src.Component, src.Host, io.FieldPath, e.Type, e.Reason, e.Message)


def timestamp(seconds: float) -> str:
    """RFC 3339 in whole seconds, as Kubernetes writes an event's times."""
    return _whole_second(int(seconds))


@functools.lru_cache(maxsize=1024)
def _whole_second(seconds: int) -> str:
    return _dt.datetime.fromtimestamp(seconds, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _image(spec: TaskSpec, name: str) -> str:
    for c in (*(spec.InitContainers or ()), *spec.Containers):
        if c.Name == name:
            return c.Image
    return ""


def _field_path(spec: TaskSpec, name: str) -> str:
    init = any(c.Name == name for c in spec.InitContainers or ())
    return f"spec.initContainers{{{name}}}" if init else f"spec.containers{{{name}}}"


def _statuses(t: Task | None) -> list[ContainerStatus]:
    if t is None:
        return []
    return [*(t.Status.InitContainers or ()), *(t.Status.Containers or ())]


def pod_events(old: Task | None, new: Task, host: str, at: float,
               pulls: dict[tuple[str, str], float] | None = None) -> list[Occurrence]:
    """What a change of a Pod's task says happened, in Kubernetes' reasons and words (see the module's
    docstring). ``host`` is the name of the Pod's node; ``pulls`` remembers when each (Pod, container)
    began pulling, for the ``Pulled`` words."""
    pulls = {} if pulls is None else pulls
    out: list[Occurrence] = []

    def occur(reason: str, message: str, *, type_: str = NORMAL, component: str = KUBELET,
              container: str = "") -> None:
        out.append(Occurrence(new.Namespace, new.Name, new.ID, reason, message, type_, component,
                              host if component == KUBELET else "",
                              _field_path(new.Spec, container) if container else "", at))

    before, after = (old.Status.State if old is not None else TaskState.NEW), new.Status.State
    named = new.Spec.Pod is not None and bool(new.Spec.Pod.NodeName)
    if before < TaskState.ASSIGNED <= after and new.NodeID and not after.terminal and not named:
        occur("Scheduled", f"Successfully assigned {new.Namespace}/{new.Name} to {host}", component=SCHEDULER)

    was = {c.Name: c for c in _statuses(old)}
    for c in _statuses(new):
        o = was.get(c.Name)
        image = _image(new.Spec, c.Name)
        if c.Reason != (o.Reason if o is not None else ""):
            if c.Reason == PULLING:
                pulls[(new.ID, c.Name)] = at
                occur("Pulling", f'Pulling image "{image}"', container=c.Name)
            elif c.Reason == ERR_IMAGE_PULL:
                pulls.pop((new.ID, c.Name), None)
                detail = f": {c.Message}" if c.Message else ""
                occur("Failed", f'Failed to pull image "{image}"{detail}', type_=WARNING, container=c.Name)
                occur("Failed", f"Error: {ERR_IMAGE_PULL}", type_=WARNING, container=c.Name)
            elif c.Reason == IMAGE_PULL_BACKOFF:
                occur("BackOff", f'Back-off pulling image "{image}"', container=c.Name)
                occur("Failed", f"Error: {IMAGE_PULL_BACKOFF}", type_=WARNING, container=c.Name)
        made = bool(c.ContainerID) and c.State in ("running", "terminated") and (
            o is None or o.ContainerID != c.ContainerID or c.RestartCount > o.RestartCount)
        if made:
            began = pulls.pop((new.ID, c.Name), None)
            if began is not None:
                took = f"{max(at - began, 0.0):.3f}s"
                occur("Pulled", f'Successfully pulled image "{image}" in {took} ({took} including waiting)',
                      container=c.Name)
            else:
                occur("Pulled", f'Container image "{image}" already present on machine', container=c.Name)
            occur("Created", f"Created container: {c.Name}", container=c.Name)
            occur("Started", f"Started container {c.Name}", container=c.Name)
        elif (o is not None and o.State in ("running", "terminated") and c.State == "waiting"
              and c.Reason in ("", CRASH_LOOP)):
            occur("BackOff", f"Back-off restarting failed container {c.Name} in pod "
                             f"{new.Name}_{new.Namespace}({new.ID})", type_=WARNING, container=c.Name)
        seen = max((e.Seq for e in o.Events or ()), default=0) if o is not None else 0
        for e in c.Events or ():
            if e.Seq > seen:  # the node's own (its probes' failures, the kills they caused)
                occur(e.Reason, e.Message, type_=e.Type, container=c.Name)

    if (after in (TaskState.FAILED, TaskState.REJECTED) and before < TaskState.STARTING and new.Status.Err
            and not any(c.ContainerID for c in _statuses(new))):
        first = new.Spec.Containers[0].Name if new.Spec.Containers else ""
        occur("Failed", f"Error: {new.Status.Err}", type_=WARNING, container=first)

    if old is not None and old.DesiredState <= TaskState.RUNNING < new.DesiredState:
        for c in _statuses(new):
            if c.State == "running":
                occur("Killing", f"Stopping container {c.Name}", container=c.Name)
    return out


class EventController(Loop):
    """Writes the events of Pods and deletes expired ones (see the module's docstring)."""

    name = "events"
    debounce = 0.05

    def __init__(self, store: ObjectStore, kube: KubeObjects, *, clock: Callable[[], float] = time.time,
                 ttl: float = TTL) -> None:
        super().__init__()
        self.store = store
        self.kube = kube
        self.clock = clock
        self.ttl = ttl
        self.queue: list[Occurrence] = []
        self.index: dict[Key, str] = {}  # → the ID of the event with those words
        self.written: dict[str, float] = {}  # event ID → when this controller last wrote it
        self.pulls: dict[tuple[str, str], float] = {}
        self.last: dict[str, float] = {}  # event ID → its last occurrence (seconds), for expiry
        self.next_expiry = 0.0

    def start(self) -> None:
        self.index, self.last = {}, {}
        for e in self.store.list(Event):
            self._seen(e)
        self._unsubscribe = self.store.subscribe(self.on_change)
        super().start()
        self.kick()  # expire what a previous leader left

    # ------------------------------------------------------------ what flows in

    def on_change(self, ch: Change) -> None:
        if ch.kind == "tasks":
            new = ch.new
            if new is None or not new.Namespace:
                if ch.old is not None and new is None:
                    self._forget_pulls(ch.old.ID)
                return
            found = pod_events(ch.old, new, self._host(new.NodeID), self.clock(), self.pulls)
            if found:
                self.queue.extend(found)
                self.kick()
        elif ch.kind == "events":
            if ch.new is not None:
                self._seen(ch.new)
                return
            key = key_of(ch.old)
            if self.index.get(key) == ch.old.ID:
                del self.index[key]
            self.written.pop(ch.old.ID, None)
            self.last.pop(ch.old.ID, None)

    def _seen(self, e: Event) -> None:
        self.index.setdefault(key_of(e), e.ID)
        self.last[e.ID] = parse_ts(e.LastTimestamp or e.FirstTimestamp)

    def failed_scheduling(self, t: Task, err: str) -> None:
        """The scheduler could not place the Pod (``Scheduler.on_unschedulable``)."""
        self.queue.append(Occurrence(t.Namespace, t.Name, t.ID, "FailedScheduling", err, WARNING, SCHEDULER,
                                     at=self.clock()))
        self.kick()

    def record(self, t: Task, reason: str, message: str, component: str) -> None:
        """A controller's Normal event about a Pod (the taint eviction controller's)."""
        self.queue.append(Occurrence(t.Namespace, t.Name, t.ID, reason, message, NORMAL, component,
                                     at=self.clock()))
        self.kick()

    def record_node(self, node_name: str, reason: str, message: str, component: str) -> None:
        """A controller's Normal event about a Node (the node IPAM's ``CIDRNotAvailable``): in the
        ``default`` namespace, its uid the node's name, as Kubernetes records a node's events."""
        self.queue.append(Occurrence("default", node_name, node_name, reason, message, NORMAL, component,
                                     at=self.clock(), kind="Node"))
        self.kick()

    def _host(self, node_id: str) -> str:
        node = self.store.get(Node, node_id) if node_id else None
        return nodelabels.node_name(node) if node is not None else node_id

    def _forget_pulls(self, task_id: str) -> None:
        if self.pulls:
            for k in [k for k in self.pulls if k[0] == task_id]:
                del self.pulls[k]

    # ------------------------------------------------------------ what flows out

    async def tick(self) -> None:
        now = self.clock()
        queue, self.queue = self.queue, []
        pending: dict[Key, Occurrence] = {}
        for occ in queue:
            got = pending.get(occ.key)
            if got is None:
                pending[occ.key] = occ
            else:
                got.count += occ.count
                got.at = max(got.at, occ.at)
        await self._write(list(pending.values()), now)
        if now >= self.next_expiry:
            self.next_expiry = now + EXPIRE_PERIOD
            self.kick_at(EXPIRE_PERIOD)
            await self.expire(now)

    async def _write(self, occurrences: list[Occurrence], now: float) -> None:
        creates: list[Event] = []
        updates: list[Event] = []
        names: set[str] = set()
        active: dict[str, bool] = {}
        for occ in occurrences:
            if not active.setdefault(occ.namespace, self._active(occ.namespace)):
                continue
            eid = self.index.get(occ.key)
            cur = self.store.get(Event, eid) if eid is not None else None
            if cur is not None:
                last = self.written.get(cur.ID, 0.0)
                if now - last < BUMP_PERIOD:  # written a moment ago: add these up, write them later
                    self.queue.append(occ)
                    self.kick_at(BUMP_PERIOD - (now - last))
                    continue
                updates.append(msgspec.structs.replace(
                    cur, Count=cur.Count + occ.count, LastTimestamp=timestamp(occ.at)))
            else:
                creates.append(self._new(occ, names))
        if not creates and not updates:
            return
        try:
            await self.store.commit(creates=creates, updates=updates)
            done = [*creates, *updates]
        except Conflict:  # a name taken or an event changed meanwhile: one at a time
            done = []
            for e, create in [*((e, True) for e in creates), *((e, False) for e in updates)]:
                try:
                    await self.store.commit(creates=[e] if create else [], updates=[] if create else [e])
                    done.append(e)
                except Conflict:
                    log.debug("events: %s %s not written", e.Reason, e.Name)
        for e in done:
            self.index[key_of(e)] = e.ID
            self.written[e.ID] = now

    def _active(self, namespace: str) -> bool:
        try:
            ns = self.kube.get("namespaces", "", namespace)
        except NotFound:
            return False
        return isinstance(ns, Namespace) and ns.Phase == ACTIVE

    def _new(self, occ: Occurrence, names: set[str]) -> Event:
        ns_time = int(occ.at * 1e9)
        name = f"{occ.pod}.{ns_time:x}"
        while name in names or self._taken(occ.namespace, name):
            ns_time += 1
            name = f"{occ.pod}.{ns_time:x}"
        names.add(name)
        ts = timestamp(occ.at)
        return Event(
            ID=new_id(), Name=name, Namespace=occ.namespace,
            InvolvedObject=InvolvedObject(Kind=occ.kind, Namespace=occ.namespace if occ.kind == "Pod" else "",
                                          Name=occ.pod, ID=occ.uid,
                                          APIVersion="v1", FieldPath=occ.field_path),
            Reason=occ.reason, Message=occ.message, Type=occ.type,
            Source=EventSource(Component=occ.component, Host=occ.host),
            Count=occ.count, FirstTimestamp=ts, LastTimestamp=ts)

    def _taken(self, namespace: str, name: str) -> bool:
        try:
            self.kube.get("events", namespace, name)
        except NotFound:
            return False
        return True

    async def expire(self, now: float) -> int:
        """Delete the events whose last occurrence is older than the TTL; how many went."""
        cutoff = now - self.ttl
        got = (self.store.get(Event, eid) for eid, at in list(self.last.items()) if at < cutoff)
        old = [e for e in got if e is not None]
        gone = 0
        for i in range(0, len(old), 500):
            batch = old[i:i + 500]
            try:
                await self.store.commit(deletes=batch)
                gone += len(batch)
            except Conflict:
                self.next_expiry = 0.0  # bumped meanwhile: look again next tick
        return gone
