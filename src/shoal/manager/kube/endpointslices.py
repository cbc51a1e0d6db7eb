"""The EndpointSlice controller (the leader's, on a keyed work queue: key = ``<namespace>/<service name>``).

As Kubernetes' ``endpointslice-controller``, each sync reads the Service, its selected Pods
(``endpoints.pod_endpoints``) and the slices it manages for it (labels ``kubernetes.io/service-name=<svc>``
and ``endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io``), and writes slices of
``addressType: IPv4``:

* one endpoint per Pod with an IP: ``addresses [ip]``, ``conditions`` (``ready``: the Pod is ready and
  not terminating, or the Service publishes not-ready addresses; ``serving``: the Pod is ready;
  ``terminating``: it is being deleted), ``nodeName`` and ``targetRef``; terminating Pods stay
  listed (not ready) until they are gone, as Kubernetes keeps them;
* endpoints sharing one set of resolved ports (a named ``targetPort`` resolved per Pod) share slices,
  at most ``MAX_ENDPOINTS`` (100, Kubernetes' default) in each; an endpoint stays in the slice it is
  in while it lasts, new ones fill the slices with room before a new slice is made, slices left empty
  are deleted, so a change of one Pod rewrites one slice;
* a Service with no endpoint has one empty slice (Kubernetes' placeholder, no ports);
* slices are named ``<svc>-<5 random characters>`` (``generateName``), carry the Service's labels
  and the two above (``service.kubernetes.io/headless`` for a headless one), and are owned by the
  Service (a controller reference): the garbage collector deletes them with it, and so does this
  controller when it finds the Service gone.

A Service without a selector gets no slices from here (its Endpoints are the user's; Kubernetes'
mirroring controller, which copies them into slices, is not built). Triggers are the Endpoints
controller's (``endpoints.py``), with the managed slices' changes in place of the Endpoints'.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shoal.api.errors import NotFound, PermissionDenied
from shoal.api.types import EndpointConditions, EndpointPort, EndpointSlice, KubeService, SliceEndpoint, Task, clone
from shoal.manager.kube import endpoints as ep
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.objects import KubeObjects
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

MAX_ENDPOINTS = 100  # Kubernetes' --max-endpoints-per-slice default
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"

Ports = tuple[tuple[str, str, int, str], ...]  # a set of ports as a key (name, protocol, port, appProtocol)


def slice_endpoint(e: ep.PodEndpoint, publish: bool) -> SliceEndpoint:
    return SliceEndpoint(Addresses=[e.ip], Conditions=EndpointConditions(
        Ready=publish or (e.ready and not e.terminating), Serving=e.ready, Terminating=e.terminating),
        Hostname=e.hostname, NodeName=e.node_name, TargetRef=e.target)


def ports_key(ports: tuple[EndpointPort, ...] | list[EndpointPort] | None) -> Ports:
    return tuple(sorted((p.Name, p.Protocol, p.Port, p.AppProtocol) for p in ports or ()))


def ports_of(key: Ports) -> list[EndpointPort]:
    return [EndpointPort(Name=n, Protocol=proto, Port=port, AppProtocol=app) for n, proto, port, app in key]


def _uid(e: SliceEndpoint) -> str:
    return e.TargetRef.UID if e.TargetRef is not None else (e.Addresses[0] if e.Addresses else "")


def plan(have: list[EndpointSlice], want: dict[Ports, list[SliceEndpoint]],
         limit: int = MAX_ENDPOINTS) -> tuple[list[EndpointSlice], list[tuple[Ports, list[SliceEndpoint]]],
                                              list[EndpointSlice]]:
    """What to write: (slices to update, with their new endpoints; new slices to make, as (ports,
    endpoints); slices to delete). Endpoints stay where they are; new ones fill slices with room."""
    updates: list[EndpointSlice] = []
    creates: list[tuple[Ports, list[SliceEndpoint]]] = []
    deletes: list[EndpointSlice] = []
    by_ports: dict[Ports, list[EndpointSlice]] = {}
    for s in sorted(have, key=lambda s: s.Name):
        by_ports.setdefault(ports_key(s.Ports), []).append(s)
    for ports, slices in by_ports.items():
        if ports not in want and not (not want and not ports):
            deletes.extend(slices)
    for ports, wanted in want.items():
        todo = {_uid(e): e for e in wanted}
        kept: list[tuple[EndpointSlice, list[SliceEndpoint]]] = []
        for s in by_ports.get(ports, []):
            mine = [todo.pop(_uid(e)) for e in s.Endpoints or [] if _uid(e) in todo][:limit]
            kept.append((s, mine))
        rest = list(todo.values())
        for i, (s, mine) in enumerate(kept):
            room = limit - len(mine)
            if room > 0 and rest:
                mine.extend(rest[:room])
                del rest[:room]
            kept[i] = (s, mine)
        for s, mine in kept:
            if not mine:  # (``wanted`` is never empty: some other slice, or a new one, has them)
                deletes.append(s)
            elif (s.Endpoints or []) != mine:
                s = clone(s)
                s.Endpoints = mine or None
                updates.append(s)
        while rest:
            creates.append((ports, rest[:limit]))
            del rest[:limit]
    if not want:  # no endpoint at all: one empty slice, Kubernetes' placeholder
        empty = by_ports.get((), [])
        if empty:
            for s in empty[1:]:
                deletes.append(s)
            if empty[0].Endpoints:
                s = clone(empty[0])
                s.Endpoints = None
                updates.append(s)
        else:
            creates.append(((), []))
    return updates, creates, deletes


class EndpointSliceController(wl.WorkloadController):
    name = "endpointslices"
    workers = 2

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, kube, clock)

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        for svc in self.store.list(KubeService):
            self.queue.add(f"{svc.Namespace}/{svc.Name}")
        for s in self.store.list(EndpointSlice):
            if self._managed(s):
                self.queue.add(f"{s.Namespace}/{(s.Labels or {})[ep.SERVICE_NAME_LABEL]}")

    @staticmethod
    def _managed(s: EndpointSlice) -> bool:
        labels = s.Labels or {}
        return labels.get(MANAGED_BY) == CONTROLLER_NAME and ep.SERVICE_NAME_LABEL in labels

    def on_change(self, ch: Change) -> None:
        obj = ch.new or ch.old
        if ch.kind == "kubeservices":
            self.queue.add(f"{obj.Namespace}/{obj.Name}")
        elif ch.kind == "endpointslices":
            for s in (ch.old, ch.new):
                if s is not None and self._managed(s):
                    self.queue.add(f"{s.Namespace}/{(s.Labels or {})[ep.SERVICE_NAME_LABEL]}")
        elif ch.kind == "tasks" and obj.Namespace:
            self.wake_for_pod(ch.old, ch.new)

    def wake_for_pod(self, old: Task | None, new: Task | None) -> None:
        ns = (new or old).Namespace  # type: ignore[union-attr]
        for svc in self.kube.list("kubeservices", ns):
            if any(t is not None and ep.selects(svc, t.Labels) for t in (old, new)):
                self.queue.add(f"{svc.Namespace}/{svc.Name}")

    def managed_slices(self, ns: str, name: str) -> list[EndpointSlice]:
        return [s for s in self.kube.list("endpointslices", ns)
                if self._managed(s) and (s.Labels or {}).get(ep.SERVICE_NAME_LABEL) == name]

    async def sync(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        have = self.managed_slices(ns, name)
        try:
            svc: KubeService = self.kube.get("kubeservices", ns, name)
        except NotFound:
            for s in have:
                await self._delete(s)
            return None
        if not svc.Spec.Selector or svc.DeletionTimestamp:
            for s in have:  # a selector removed: the slices it had go (mirroring is not built)
                await self._delete(s)
            return None
        publish = svc.Spec.PublishNotReadyAddresses
        want: dict[Ports, list[SliceEndpoint]] = {}
        for e in ep.pod_endpoints(self.kube, self.store, svc, include_terminating=True):
            if svc.Spec.Ports and not e.ports:
                continue  # none of the Service's ports resolves on this Pod
            want.setdefault(ports_key(e.ports), []).append(slice_endpoint(e, publish))
        labels = {**ep.service_labels(svc), ep.SERVICE_NAME_LABEL: name, MANAGED_BY: CONTROLLER_NAME}
        updates, creates, deletes = plan(have, want)
        for s in have:
            if s not in deletes and s.Labels != labels and not any(u.ID == s.ID for u in updates):
                s = clone(s)
                updates.append(s)
        for s in updates:
            s.Labels = labels
            s.OwnerReferences = [ep.service_owner(svc)]
            await self.kube.update(s)
        for ports, endpoints in creates:
            sl = EndpointSlice(ID="", Name="", GenerateName=f"{name}-", Namespace=ns, Labels=labels,
                               AddressType="IPv4", Endpoints=endpoints or None, Ports=ports_of(ports) or None)
            sl.OwnerReferences = [ep.service_owner(svc)]
            try:
                await self.kube.create(sl)
            except PermissionDenied:
                return None  # its namespace is being deleted: the Service goes too
        for s in deletes:
            await self._delete(s)
        return None

    async def _delete(self, s: EndpointSlice) -> None:
        try:
            await self.kube.delete("endpointslices", s.Namespace, s.Name, uid=s.ID)
        except NotFound:
            pass
