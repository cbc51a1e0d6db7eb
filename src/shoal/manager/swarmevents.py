"""The swarm's events: what a manager's store changes mean to ``docker events``.

``SwarmEvents`` listens to a manager's store (leader or follower: every manager's store sees every
committed change) and emits into the node's event log, as dockerd does from SwarmKit's watch
(``ProcessClusterNotifications``): ``service``, ``node``, ``secret``, ``config`` and ``network``
objects, actions ``create``, ``update`` and ``remove``, scope ``swarm``, actor the object's ID with
its ``name``. An update says what changed where dockerd does: a service's image, replica count and
update state (``image.old/new``, ``replicas.old/new``, ``updatestate.old/new``); a node's availability,
role, state, leadership and reachability. The time is the object's creation or update time (now for
a removal). Tasks, the cluster object and the Kubernetes kinds (objects with a namespace) make none.
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

from shoal.api.events import EventLog
from shoal.api.types import Node, Service, first_container
from shoal.store.objects import Change, ObjectStore

# The store's kinds that make events, and the event type of each.
TYPES = {"services": "service", "nodes": "node", "secrets": "secret", "configs": "config", "networks": "network"}


def ts_nano(ts: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp (0 when empty or unreadable)."""
    if not ts:
        return 0
    main, _, frac = ts.rstrip("Z").partition(".")
    try:
        base = _dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.UTC)
    except ValueError:
        return 0
    digits = "".join(c for c in frac if c.isdigit())[:9].ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(digits)


def _name(obj: Any) -> str:
    if isinstance(obj, Node):
        return obj.Spec.Name or obj.Description.Hostname
    return str(obj.Spec.Name)


def _replicas(s: Service) -> int | None:
    r = s.Spec.Mode.Replicated
    return None if r is None else (r.Replicas if r.Replicas is not None else 1)


def _image(s: Service) -> str | None:
    c = first_container(s.Spec.TaskTemplate)
    return None if c is None else c.Image


def service_changes(new: Service, old: Service) -> dict[str, str]:
    """What dockerd says changed in a service update."""
    out: dict[str, str] = {}
    img, old_img = _image(new), _image(old)
    if img is not None and old_img is not None and img != old_img:
        out["image.old"], out["image.new"] = old_img, img
    rep, old_rep = _replicas(new), _replicas(old)
    if rep is not None and old_rep is not None and rep != old_rep:
        out["replicas.old"], out["replicas.new"] = str(old_rep), str(rep)
    if new.UpdateStatus is not None:
        if old.UpdateStatus is None:
            out["updatestate.new"] = new.UpdateStatus.State or "unknown"
        elif new.UpdateStatus.State != old.UpdateStatus.State:
            out["updatestate.old"] = old.UpdateStatus.State or "unknown"
            out["updatestate.new"] = new.UpdateStatus.State or "unknown"
    return out


def node_changes(new: Node, old: Node) -> dict[str, str]:
    """What dockerd says changed in a node update."""
    out: dict[str, str] = {}
    for key, a, b in (("availability", old.Spec.Availability, new.Spec.Availability),
                      ("role", old.Spec.Role, new.Spec.Role),
                      ("state", old.Status.State, new.Status.State)):
        if a != b:
            out[f"{key}.old"], out[f"{key}.new"] = a, b
    if new.ManagerStatus is not None and old.ManagerStatus is not None:
        if new.ManagerStatus.Leader != old.ManagerStatus.Leader:
            out["leader.old"] = str(old.ManagerStatus.Leader).lower()
            out["leader.new"] = str(new.ManagerStatus.Leader).lower()
        if new.ManagerStatus.Reachability != old.ManagerStatus.Reachability:
            out["reachability.old"] = old.ManagerStatus.Reachability
            out["reachability.new"] = new.ManagerStatus.Reachability
    return out


EventArgs = tuple[str, str, str, dict[str, str], int]  # type, action, actor ID, attributes, time (ns)


def translate(ch: Change) -> list[EventArgs]:
    """A store change as events (none for a kind that makes none)."""
    type_ = TYPES.get(ch.kind)
    if type_ is None:
        return []
    obj = ch.new if ch.new is not None else ch.old
    if obj is None or obj.Namespace:
        return []
    attrs = {"name": _name(obj)}
    if ch.new is None:
        return [(type_, "remove", obj.ID, attrs, time.time_ns())]
    if ch.old is None:
        return [(type_, "create", obj.ID, attrs, ts_nano(obj.CreatedAt))]
    when = ts_nano(obj.UpdatedAt)
    if isinstance(ch.new, Service) and isinstance(ch.old, Service):
        changes = service_changes(ch.new, ch.old)
        state: dict[str, str] = {k: changes.pop(k) for k in ("updatestate.old", "updatestate.new") if k in changes}
        if changes and state:
            # SwarmKit writes a new spec and the update's start apart: dockerd says two updates.
            return [(type_, "update", obj.ID, {**attrs, **changes}, when),
                    (type_, "update", obj.ID, {**attrs, **state}, when)]
        attrs.update(changes or state)
    elif isinstance(ch.new, Node) and isinstance(ch.old, Node):
        attrs.update(node_changes(ch.new, ch.old))
    return [(type_, "update", obj.ID, attrs, when)]


class SwarmEvents:
    """Emits the swarm's events of one manager's store into the node's event log while started."""

    def __init__(self, store: ObjectStore, log: EventLog) -> None:
        self.store = store
        self.log = log
        self._unsubscribe: Any = None

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.store.subscribe(self._on_change)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_change(self, ch: Change) -> None:
        if not ch.revision:
            return  # a reload's, not a change
        for type_, action, actor, attrs, when in translate(ch):
            self.log.emit(type_, action, actor, attrs, "swarm", time_nano=when)
