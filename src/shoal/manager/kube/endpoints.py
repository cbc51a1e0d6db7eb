"""The Endpoints controller (the leader's, on a keyed work queue: key = ``<namespace>/<service name>``),
and what it shares with the EndpointSlice controller (``endpointslices.py``): the Pods a Service
selects, each Pod's address, readiness and ports.

As Kubernetes' ``endpoints-controller``, each sync reads the Service and the Pods of its namespace
from the store's cache and writes the Endpoints of the Service's name:

* a Service without a selector is left alone: its Endpoints are the user's; a Service gone takes its
  Endpoints with it;
* a Pod counts when its labels match the selector, it has an IP (``status.podIP`` as the door shows
  it: the first address its node reports once it is on the node; a Pod without one, as on hollow
  nodes, which have no pod network, is left out, as Kubernetes leaves it out), and it has not ended
  (Succeeded or Failed) nor is being deleted, unless ``publishNotReadyAddresses``;
* a ready Pod (``workloads.pod_ready``: the Ready condition) goes under ``addresses``, the others
  under ``notReadyAddresses`` (all under ``addresses`` with ``publishNotReadyAddresses``), each with
  its ``ip``, ``nodeName`` and ``targetRef`` (kind Pod, namespace, name, uid);
* each Service port's ``targetPort`` is resolved per Pod: a number is itself, a name is the Pod's
  container port of that name (and protocol); a Pod without it has no endpoint for that port.
  Addresses with the same resolved ports share a subset (Kubernetes' ``RepackSubsets``), sorted;
* more than 1,000 addresses are cut to 1,000 and marked ``endpoints.kubernetes.io/over-capacity:
  truncated``; a headless Service's Endpoints carry ``service.kubernetes.io/headless``; the
  Service's labels are copied.

It also keeps the ``kubernetes`` Service of ``default``, as kube-apiserver does: the range's first
address, port 443 (``https``) to 6443, and its Endpoints and EndpointSlice listing the managers'
addresses; and ``kube-system/kube-dns``, the cluster DNS address's Service (``clusterdns.py``).

Triggers: a Service's change; a Pod's change wakes the Services of its namespace whose selector
matched its labels before or after; a change of a managed Endpoints (someone edited it) wakes its
Service; a node's change wakes ``default/kubernetes``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from shoal.api.errors import NotFound, PermissionDenied
from shoal.api.meta import OwnerReference
from shoal.api.states import TaskState
from shoal.api.types import (
    CLUSTER_IP_NONE,
    EndpointAddress,
    EndpointConditions,
    EndpointPort,
    Endpoints,
    EndpointSlice,
    EndpointSubset,
    EndpointTarget,
    KubeService,
    KubeServicePort,
    KubeServiceSpec,
    Node,
    SliceEndpoint,
    Task,
    clone,
)
from shoal.manager.kube import services
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.clusterdns import DNS_SERVICE, ensure_dns_service
from shoal.manager.kube.objects import KubeObjects
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

MAX_ADDRESSES = 1000  # Kubernetes' maxCapacity of an Endpoints object
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
HEADLESS_LABEL = "service.kubernetes.io/headless"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MASTER_SERVICE = ("default", "kubernetes")
API_PORT = 6443


# ---------------------------------------------------------------- Pods as endpoints


def pod_ip(t: Task) -> str:
    """The Pod's IP as the door shows it (``status.podIP``): its first address, once on its node."""
    if not t.NodeID or t.Status.State < TaskState.ASSIGNED:
        return ""
    return next((a.split("/")[0] for a in t.Status.Addresses or [] if a), "")


def pod_ended(t: Task) -> bool:
    return t.Status.State.terminal


def target_of(t: Task) -> EndpointTarget:
    return EndpointTarget(Kind="Pod", Namespace=t.Namespace, Name=t.Name, UID=t.ID)


def resolve_port(t: Task, port: KubeServicePort) -> int | None:
    """The Pod's port a Service port's ``targetPort`` names (Kubernetes' ``FindPort``)."""
    target = port.TargetPort
    if isinstance(target, int):
        return target or port.Port
    if target.isdigit():
        return int(target)
    for c in t.Spec.Containers:
        for p in (c.Pod.Ports if c.Pod is not None else None) or []:
            if p.Name == target and (p.Protocol or "TCP") == port.Protocol:
                return p.ContainerPort
    return None


def endpoint_ports(t: Task, spec: KubeServiceSpec) -> tuple[EndpointPort, ...]:
    """The Service's ports as this Pod serves them (a port whose name the Pod lacks is left out)."""
    out: list[EndpointPort] = []
    for p in spec.Ports or []:
        n = resolve_port(t, p)
        if n is not None:
            out.append(EndpointPort(Name=p.Name, Port=n, Protocol=p.Protocol, AppProtocol=p.AppProtocol))
    return tuple(out)


def selected_pods(kube: KubeObjects, svc: KubeService) -> list[Task]:
    """The Pods of the Service's namespace its selector matches."""
    sel: dict[str, str] = svc.Spec.Selector or {}
    return [t for t in kube.list("tasks", svc.Namespace)
            if all((t.Labels or {}).get(k) == v for k, v in sel.items())]


def selects(svc: KubeService, labels: dict[str, str] | None) -> bool:
    sel = svc.Spec.Selector
    return bool(sel) and all((labels or {}).get(k) == v for k, v in (sel or {}).items())


@dataclass(frozen=True)
class PodEndpoint:
    """One Pod as an endpoint: its address, node, reference, readiness and ports."""

    ip: str
    node_name: str
    target: EndpointTarget
    ready: bool
    terminating: bool
    ports: tuple[EndpointPort, ...]
    hostname: str = ""  # the Pod's ``spec.hostname`` when its ``subdomain`` is the Service


def pod_endpoints(kube: KubeObjects, store: ObjectStore, svc: KubeService,
                  include_terminating: bool) -> list[PodEndpoint]:
    """The Service's selected Pods that have an IP, as endpoints (see the module's docstring; the
    slices keep terminating Pods, with their conditions, when ``include_terminating``)."""
    publish = svc.Spec.PublishNotReadyAddresses
    out: list[PodEndpoint] = []
    for t in selected_pods(kube, svc):
        ip = pod_ip(t)
        if not ip or pod_ended(t):
            continue
        terminating = bool(t.DeletionTimestamp)
        if terminating and not publish and not include_terminating:
            continue
        node = store.get(Node, t.NodeID) if t.NodeID else None
        out.append(PodEndpoint(ip=ip, node_name=kube.node_name(node) if node is not None else "",
                               target=target_of(t), ready=wl.pod_ready(t), terminating=terminating,
                               ports=endpoint_ports(t, svc.Spec), hostname=endpoint_hostname(t, svc)))
    out.sort(key=lambda e: (e.ip, e.target.Name))
    return out


def endpoint_hostname(t: Task, svc: KubeService) -> str:
    """The Pod's own ``spec.hostname`` when its ``subdomain`` names the Service (same namespace), else ""."""
    pod = t.Spec.Pod
    if pod is None or not pod.Hostname or pod.Subdomain != svc.Name or t.Namespace != svc.Namespace:
        return ""
    return pod.Hostname


def service_labels(svc: KubeService) -> dict[str, str]:
    labels = dict(svc.Labels or {})
    if svc.Spec.ClusterIP == CLUSTER_IP_NONE:
        labels[HEADLESS_LABEL] = ""
    return labels


# ---------------------------------------------------------------- the Endpoints of a Service


def subsets_of(eps: list[PodEndpoint], publish: bool) -> tuple[list[EndpointSubset], bool]:
    """The subsets of these endpoints (one per distinct set of ports, addresses sorted by IP), and
    whether they were cut at ``MAX_ADDRESSES``."""
    groups: dict[tuple[tuple[str, str, int, str], ...], tuple[list[EndpointAddress], list[EndpointAddress]]] = {}
    count, truncated = 0, False
    for e in eps:
        if e.terminating and not publish:
            continue
        if count >= MAX_ADDRESSES:
            truncated = True
            break
        count += 1
        key = tuple(sorted((p.Name, p.Protocol, p.Port, p.AppProtocol) for p in e.ports))
        ready, not_ready = groups.setdefault(key, ([], []))
        addr = EndpointAddress(IP=e.ip, Hostname=e.hostname, NodeName=e.node_name, TargetRef=e.target)
        (ready if e.ready or publish else not_ready).append(addr)
    subsets = [EndpointSubset(Addresses=ready or None, NotReadyAddresses=not_ready or None,
                              Ports=[EndpointPort(Name=n, Protocol=proto, Port=port, AppProtocol=app)
                                     for n, proto, port, app in ports])
               for ports, (ready, not_ready) in groups.items() if ports]
    return subsets, truncated


def _stale_endpoints(have: Endpoints, want: Endpoints) -> bool:
    return (have.Subsets or None, have.Labels or None, (have.Annotations or {}).get(OVER_CAPACITY)) != \
        (want.Subsets or None, want.Labels or None, (want.Annotations or {}).get(OVER_CAPACITY))


class EndpointsController(wl.WorkloadController):
    name = "endpoints"
    workers = 2

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, kube, clock)

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        for svc in self.store.list(KubeService):
            self.queue.add(f"{svc.Namespace}/{svc.Name}")
        for ep in self.store.list(Endpoints):
            self.queue.add(f"{ep.Namespace}/{ep.Name}")  # those of Services gone while no leader ran
        self.queue.add("/".join(MASTER_SERVICE))
        self.queue.add("/".join(DNS_SERVICE))

    def on_change(self, ch: Change) -> None:
        obj = ch.new or ch.old
        if ch.kind in ("kubeservices", "endpoints"):
            self.queue.add(f"{obj.Namespace}/{obj.Name}")
        elif ch.kind == "tasks" and obj.Namespace:
            self.wake_for_pod(ch.old, ch.new)
        elif ch.kind in ("nodes", "namespaces"):
            self.queue.add("/".join(MASTER_SERVICE))
            self.queue.add("/".join(DNS_SERVICE))

    def wake_for_pod(self, old: Task | None, new: Task | None) -> None:
        ns = (new or old).Namespace  # type: ignore[union-attr]
        for svc in self.kube.list("kubeservices", ns):
            if any(t is not None and selects(svc, t.Labels) for t in (old, new)):
                self.queue.add(f"{svc.Namespace}/{svc.Name}")

    def _get(self, kind: str, ns: str, name: str) -> object | None:
        try:
            return self.kube.get(kind, ns, name)
        except NotFound:
            return None

    async def sync(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        if (ns, name) == MASTER_SERVICE:
            await ensure_master_service(self.store, self.kube)
            return None
        if (ns, name) == DNS_SERVICE:
            await ensure_dns_service(self.store, self.kube)
            return None
        svc = self._get("kubeservices", ns, name)
        have = self._get("endpoints", ns, name)
        if not isinstance(svc, KubeService):
            if isinstance(have, Endpoints):
                await self.kube.delete("endpoints", ns, name, uid=have.ID)
            return None
        if not svc.Spec.Selector or svc.DeletionTimestamp:
            return None  # a Service without a selector: its Endpoints are the user's
        eps = pod_endpoints(self.kube, self.store, svc, include_terminating=False)
        subsets, truncated = subsets_of(eps, svc.Spec.PublishNotReadyAddresses)
        want = Endpoints(ID="", Name=name, Namespace=ns, Labels=service_labels(svc) or None, Subsets=subsets or None)
        if truncated:
            want.Annotations = {OVER_CAPACITY: "truncated"}
        if not isinstance(have, Endpoints):
            try:
                await self.kube.create(want)
            except PermissionDenied:
                return None  # its namespace is being deleted: the Service goes too

        elif _stale_endpoints(have, want):
            cur = clone(have)
            cur.Subsets, cur.Labels = want.Subsets, want.Labels
            annotations = {k: v for k, v in (cur.Annotations or {}).items() if k != OVER_CAPACITY}
            annotations.update(want.Annotations or {})
            cur.Annotations = annotations or None
            await self.kube.update(cur)
        return None


# ---------------------------------------------------------------- the ``kubernetes`` Service


async def ensure_master_service(store: ObjectStore, kube: KubeObjects) -> None:
    """The ``kubernetes`` Service of ``default`` (the service range's first address, 443 to 6443), its
    Endpoints and its EndpointSlice, listing the managers' addresses; nothing before ``default`` exists."""
    ns, name = MASTER_SERVICE
    try:
        kube.get("namespaces", "", ns)
    except NotFound:
        return  # (its creation wakes the key)
    try:
        svc = kube.get("kubeservices", ns, name)
    except NotFound:
        first = services.first_address(services.cluster_ranges(store))
        svc = KubeService(ID="", Name=name, Namespace=ns, Labels={"component": "apiserver", "provider": "kubernetes"},
                          Spec=KubeServiceSpec(Type="ClusterIP", ClusterIP=first, Ports=[KubeServicePort(
                              Name="https", Protocol="TCP", Port=443, TargetPort=API_PORT)],
                              SessionAffinity="None", InternalTrafficPolicy="Cluster"))
        svc = await kube.create(svc)
    managers = sorted({n.Status.Addr for n in store.list(Node)
                       if (n.Spec.Role == "manager" or n.ManagerStatus is not None) and n.Status.Addr})
    port = EndpointPort(Name="https", Port=API_PORT, Protocol="TCP")
    want = [EndpointSubset(Addresses=[EndpointAddress(IP=a) for a in managers], Ports=[port])] if managers else None
    try:
        have = kube.get("endpoints", ns, name)
    except NotFound:
        await kube.create(Endpoints(ID="", Name=name, Namespace=ns, Subsets=want))
    else:
        if have.Subsets != want:
            have = clone(have)
            have.Subsets = want
            await kube.update(have)
    slice_want = [SliceEndpoint(Addresses=[a], Conditions=EndpointConditions(Ready=True)) for a in managers] or None
    try:
        sl = kube.get("endpointslices", ns, name)
    except NotFound:
        await kube.create(EndpointSlice(ID="", Name=name, Namespace=ns, Labels={SERVICE_NAME_LABEL: name},
                                        Endpoints=slice_want, Ports=[port]))
    else:
        if sl.Endpoints != slice_want:
            sl = clone(sl)
            sl.Endpoints = slice_want
            await kube.update(sl)


def service_owner(svc: KubeService) -> OwnerReference:
    """The controller reference an EndpointSlice carries to its Service."""
    return OwnerReference(APIVersion="v1", Kind="Service", Name=svc.Name, ID=svc.ID, Controller=True,
                          BlockOwnerDeletion=True)
