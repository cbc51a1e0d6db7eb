"""The Kubernetes network view the managers send the nodes (``api/kubenet.KubeNetView``), kept from the
store change by change (issue 16; docs/design/kube-network.md, "The Services' data plane").

``KubeViews`` holds every Service (store kind ``kubeservices``) reduced to a ``KubeServiceInfo``, its
endpoints taken from the EndpointSlices that name it (label ``kubernetes.io/service-name``, whoever
manages them): one ``KubeEndpoint`` per address, with its conditions (``ready`` unset counts as ready,
``serving`` unset as ``ready``), its node (the Pod's task's node, else the node of that Kubernetes
name: ``Local`` traffic policies need it), its Pod and its ports by name. The LoadBalancer addresses
are the Service's ``status.loadBalancer.ingress`` (written by the address allocator). The Ingresses
come from ``ingressview.ingresses_view``, made again when ``ingressview.view_changed`` says so.

Changes mark what they touch: a Service or one of its slices marks that Service, which alone is
reduced again; a node or the cluster object marks the whole view. ``base()`` gives the view common
to every node (rebuilt only when something was marked); ``for_node`` adds what is the node's own:
its ID and the LoadBalancer pool addresses it announces (answers ARP for). Each pool address that a
Service holds is announced by one node among those that are ready and wire Pods' networks, chosen by
rendezvous hashing of the address over their IDs: every manager chooses the same, and when that node
goes, only its addresses move.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable

import msgspec

from shoal.api.kubenet import (
    KubeEndpoint,
    KubeIngressInfo,
    KubeNetSettings,
    KubeNetView,
    KubeServiceInfo,
    KubeServicePort,
    settings_of,
)
from shoal.api.nodelabels import node_name
from shoal.api.types import Cluster, EndpointSlice, KubeService, Node, Task
from shoal.manager.kube.ingressview import ingresses_view, view_changed
from shoal.store.objects import Change, ObjectStore

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_TIMEOUT = 10800

Key = tuple[str, str]  # (namespace, Service name)


def pool_contains(pool: str, addr: str) -> bool:
    """Whether ``addr`` is in the LoadBalancer pool (a CIDR or ``A-B``; "" holds nothing)."""
    if not pool:
        return False
    try:
        ip = ipaddress.IPv4Address(addr)
        if "-" in pool:
            first, _, last = pool.partition("-")
            return ipaddress.IPv4Address(first.strip()) <= ip <= ipaddress.IPv4Address(last.strip())
        return ip in ipaddress.IPv4Network(pool.strip(), strict=False)
    except ValueError:
        return False


def announcer(addr: str, nodes: Iterable[str]) -> str:
    """The node that announces ``addr``: rendezvous (highest random weight) hashing over ``nodes``."""
    best, best_w = "", b""
    for nid in nodes:
        w = hashlib.sha256(f"{addr}/{nid}".encode()).digest()
        if w > best_w:
            best, best_w = nid, w
    return best


def service_info(svc: KubeService, endpoints: tuple[KubeEndpoint, ...]) -> KubeServiceInfo:
    """A Service reduced to what the data plane needs."""
    spec = svc.Spec
    external = spec.Type in ("NodePort", "LoadBalancer")
    return KubeServiceInfo(
        Namespace=svc.Namespace, Name=svc.Name, Type=spec.Type,
        ClusterIP="" if spec.Type == "ExternalName" else spec.ClusterIP,
        Ports=tuple(KubeServicePort(Name=p.Name, Protocol=p.Protocol or "TCP", Port=p.Port, NodePort=p.NodePort)
                    for p in spec.Ports or ()),
        SessionAffinity=spec.SessionAffinity == "ClientIP",
        AffinityTimeout=spec.SessionAffinityTimeout or DEFAULT_AFFINITY_TIMEOUT,
        ExternalTrafficPolicy=(spec.ExternalTrafficPolicy or "Cluster") if external else "Cluster",
        InternalTrafficPolicy=spec.InternalTrafficPolicy or "Cluster",
        HealthCheckNodePort=spec.HealthCheckNodePort,
        ExternalIPs=tuple(spec.ExternalIPs or ()),
        LoadBalancerIPs=tuple(i.IP for i in svc.Status.LoadBalancer or () if i.IP)
        if spec.Type == "LoadBalancer" else (),
        ExternalName=spec.ExternalName,
        PublishNotReadyAddresses=spec.PublishNotReadyAddresses,
        Endpoints=endpoints,
    )


class KubeViews:
    """The view, kept from the store's changes (fed by the dispatcher's ``on_change``)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._infos: dict[Key, KubeServiceInfo] = {}
        self._slices: dict[Key, dict[str, EndpointSlice]] = {}  # Service → its slices by ID
        self._dirty: set[Key] = set()
        self._all = True  # the nodes or the settings changed (or nothing was built yet)
        self._base: KubeNetView | None = None
        self._node_names: dict[str, str] = {}  # Kubernetes node name → node ID
        self._ready: set[str] = set()  # nodes whose state is ready
        self._ingresses: tuple[KubeIngressInfo, ...] = ()
        self._ingresses_dirty = True  # an Ingress, IngressClass or TLS Secret changed (``ingressview.py``)
        self._svcs: dict[Key, KubeService] = {}
        for s in store.list(EndpointSlice):
            self._add_slice(s)
        for svc in store.list(KubeService):
            self._svcs[(svc.Namespace, svc.Name)] = svc
        self._dirty = set(self._svcs)

    @staticmethod
    def _owner(s: EndpointSlice) -> Key | None:
        name = (s.Labels or {}).get(SERVICE_NAME_LABEL)
        return (s.Namespace, name) if name else None

    def _add_slice(self, s: EndpointSlice) -> None:
        key = self._owner(s)
        if key is not None:
            self._slices.setdefault(key, {})[s.ID] = s
            self._dirty.add(key)

    def _drop_slice(self, s: EndpointSlice) -> None:
        key = self._owner(s)
        if key is not None:
            have = self._slices.get(key)
            if have is not None:
                have.pop(s.ID, None)
                if not have:
                    del self._slices[key]
            self._dirty.add(key)

    def apply(self, ch: Change) -> bool:
        """Take a store change; True when it may change the view."""
        if ch.kind == "kubeservices":
            if ch.old is not None:
                self._svcs.pop((ch.old.Namespace, ch.old.Name), None)
                self._dirty.add((ch.old.Namespace, ch.old.Name))
            if ch.new is not None:
                self._svcs[(ch.new.Namespace, ch.new.Name)] = ch.new
                self._dirty.add((ch.new.Namespace, ch.new.Name))
            return True
        if ch.kind == "endpointslices":
            if ch.old is not None:
                self._drop_slice(ch.old)
            if ch.new is not None:
                self._add_slice(ch.new)
            return True
        if ch.kind == "nodes":
            old, new = ch.old, ch.new
            if old is None or new is None or (old.Status.State, old.Status.Addr, node_name(old)) != \
                    (new.Status.State, new.Status.Addr, node_name(new)):
                self._all = True
                return True
            return False
        if ch.kind == "clusters":
            self._all = True
            return True
        if view_changed(ch):
            self._ingresses_dirty = True
            return True
        return False

    @property
    def changed(self) -> bool:
        return self._all or bool(self._dirty) or self._base is None or self._ingresses_dirty

    def _endpoints(self, key: Key) -> tuple[KubeEndpoint, ...]:
        out: dict[tuple[str, str], KubeEndpoint] = {}
        for s in sorted(self._slices.get(key, {}).values(), key=lambda s: s.Name):
            if s.AddressType != "IPv4":
                continue
            ports = {p.Name: p.Port for p in s.Ports or () if p.Port}
            for e in s.Endpoints or ():
                if not e.Addresses:
                    continue
                c = e.Conditions
                ready = c.Ready is not False
                ref = e.TargetRef
                node_id = ""
                if ref is not None and ref.UID:
                    task = self.store.get(Task, ref.UID)
                    if task is not None:
                        node_id = task.NodeID
                if not node_id and e.NodeName:
                    node_id = self._node_names.get(e.NodeName, "")
                ident = (e.Addresses[0], ref.UID if ref is not None else "")
                out[ident] = KubeEndpoint(
                    IP=e.Addresses[0], Ready=ready, Serving=c.Serving if c.Serving is not None else ready,
                    Terminating=bool(c.Terminating), NodeID=node_id, NodeName=e.NodeName, Ports=ports,
                    Hostname=e.Hostname, PodName=ref.Name if ref is not None else "",
                    PodNamespace=ref.Namespace if ref is not None else "")
        return tuple(out[k] for k in sorted(out))

    def base(self) -> KubeNetView:
        """The view common to every node (``NodeID`` and ``Announce`` empty)."""
        if self._base is not None and not self.changed:
            return self._base
        if self._all or self._base is None:
            nodes = self.store.list(Node)
            self._node_names = {node_name(n): n.ID for n in nodes}
            self._ready = {n.ID for n in nodes if n.Status.State == "ready"}
            addrs = {n.ID: n.Status.Addr for n in nodes if n.Status.Addr and n.Status.State != "down"}
            settings = settings_of(next(iter(self.store.list(Cluster)), None))
            self._dirty |= set(self._infos)  # endpoints' nodes may have changed names
        else:
            settings, addrs = self._base.Settings, self._base.NodeAddrs
        for key in self._dirty:
            svc = self._svcs.get(key)
            if svc is None:
                self._infos.pop(key, None)
            else:
                self._infos[key] = service_info(svc, self._endpoints(key))
        self._dirty = set()
        self._all = False
        if self._ingresses_dirty:
            self._ingresses = ingresses_view(self.store)
            self._ingresses_dirty = False
        self._base = KubeNetView(Settings=settings, Services=tuple(self._infos[k] for k in sorted(self._infos)),
                                 Ingresses=self._ingresses, NodeAddrs=addrs)
        return self._base

    def announced(self, base: KubeNetView, nodes: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Node ID → the pool addresses it announces, among ``nodes`` (those that wire Pods' networks)
        that are ready."""
        able = sorted(n for n in nodes if n in self._ready)
        out: dict[str, list[str]] = {}
        if not able or not base.Settings.ServiceLBPool:
            return {}
        pool = base.Settings.ServiceLBPool
        seen: set[str] = set()
        for s in base.Services:
            for ip in s.LoadBalancerIPs:
                if ip not in seen and pool_contains(pool, ip):
                    seen.add(ip)
                    out.setdefault(announcer(ip, able), []).append(ip)
        return {n: tuple(sorted(ips, key=ipaddress.IPv4Address)) for n, ips in out.items()}

    @staticmethod
    def for_node(base: KubeNetView, node_id: str, announce: tuple[str, ...]) -> KubeNetView:
        return msgspec.structs.replace(base, NodeID=node_id, Announce=announce)


__all__ = ["KubeNetSettings", "KubeViews", "announcer", "pool_contains", "service_info"]
