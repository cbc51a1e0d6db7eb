"""Kubernetes Services' addresses and ports, allocated in the core as kube-apiserver's Service registry
allocates them (``pkg/registry/core/service``): a ClusterIP from the cluster's service range, NodePorts
from its NodePort range, kept for the Service's life and free again once it is deleted.

``allocate(store, svc, old)`` runs on every create (``old`` None) and update of a Service, before its
write (``KubeObjects.create``/``update``):

* **ClusterIP**: an ExternalName Service has none; ``None`` asked for is a headless Service
  (``clusterIPs: [None]``); an address asked for must lie in the range (``the provided IP (x) is not
  in the valid range. The range of valid IPs is <cidr>``) and be free (``provided IP is already
  allocated``), both under ``spec.clusterIPs`` as ``failed to allocate IP x: …``; otherwise a free
  address is picked at random, first from the upper part of the range, as Kubernetes keeps its lower
  part (at least 16, at most 256 addresses) for the addresses users ask for. The range's first
  address is the ``kubernetes`` Service's (``endpoints.py`` makes it). An update keeps the address
  (one left out is copied from the stored Service); changing it is refused (``may not change once set``);
* **NodePorts**: a NodePort Service, and a LoadBalancer one unless
  ``allocateLoadBalancerNodePorts: false``, gets one per port: asked for (``provided port is not in
  the valid range. The range of valid ports is 30000-32767``, ``provided port is already
  allocated``, under ``spec.ports[i].nodePort``) or picked at random, first above the lower band
  Kubernetes keeps for asked-for ports (at least 16, at most 128); the same number may serve two
  protocols of one Service. An update keeps a port's NodePort when it leaves it out (matched by
  ``port``), as the registry does. A LoadBalancer Service with ``externalTrafficPolicy: Local`` also
  gets a ``healthCheckNodePort``;
* the IP families: ``IPv4``, ``SingleStack`` (a headless Service without a selector:
  ``RequireDualStack``, as Kubernetes sets it; the cluster has IPv4 only, so it has one family).

What is taken is derived from the stored Services every time (so a manager's restart loses nothing),
and claimed with index keys in the Service's own transaction (``store/index.py``: ``ip`` keys of the
service range and ``nodeport`` keys), so two managers allocating at once cannot both win: the loser
gets the ``already allocated`` answer. Deleting the Service drops its keys, which frees them.

**Both worlds on one network** (issue 16 part 6): a NodePort is open on every node, as a port a Swarm
service publishes through the routing mesh is, and Swarm's dynamic range is the same 30000-32767. Each
NodePort is therefore also claimed under the Swarm published ports' own keys (``port/<proto>/<n>``,
``index.node_port_claims``), so a NodePort and an ingress port never share a number and protocol
whichever manager writes first; a NodePort asked for that a Swarm service publishes (through the mesh or
``mode=host``) is refused as ``provided port is already allocated``, and a picked one skips every number
Swarm publishes (the Swarm side, ``manager/networks.py``, does the same the other way). An
``externalIP`` inside a Swarm network's subnet, the pod range or the service range is refused (an
address the cluster routes elsewhere). A Service that stops being a LoadBalancer drops its
``status.loadBalancer`` and the pool address it held (``loadbalancers.py``), as the registry clears it.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass

from shoal.api.errors import Code, Conflict, FieldCause, Invalid, InvalidArgument, ShoalError, error_of
from shoal.api.kubenet import settings_of
from shoal.api.types import (
    CLUSTER_IP_NONE,
    DEFAULT_NODE_PORT_RANGE,
    DEFAULT_SERVICE_CIDR,
    Cluster,
    KubeService,
    KubeServiceSpec,
    KubeServiceStatus,
    Network,
    Service,
)
from shoal.store.index import LB_POOL, node_port_claims
from shoal.store.objects import ObjectStore

KIND = "Service"
NEEDS_IP = ("ClusterIP", "NodePort", "LoadBalancer")
_RANDOM_TRIES = 64


@dataclass(frozen=True)
class Ranges:
    """The cluster's service range and NodePort range."""

    cidr: ipaddress.IPv4Network
    ports: tuple[int, int]

    @property
    def ports_text(self) -> str:
        return f"{self.ports[0]}-{self.ports[1]}"


def parse_port_range(text: str) -> tuple[int, int]:
    """``30000-32767`` (or one port) as (first, last); ValueError when it is not a range of ports."""
    first, _, last = text.strip().partition("-")
    lo, hi = int(first), int(last or first)
    if not 0 < lo <= hi <= 65535:
        raise ValueError(f"invalid port range {text!r}")
    return lo, hi


def ranges_of(cluster: Cluster | None) -> Ranges:
    cidr = cluster.ServiceClusterIPRange if cluster is not None else DEFAULT_SERVICE_CIDR
    ports = cluster.ServiceNodePortRange if cluster is not None else DEFAULT_NODE_PORT_RANGE
    return Ranges(ipaddress.IPv4Network(cidr or DEFAULT_SERVICE_CIDR),
                  parse_port_range(ports or DEFAULT_NODE_PORT_RANGE))


# The default service range, and the ones taken instead when a swarm's address pools cover it (a
# swarm initialised with ``--default-addr-pool 172.16.0.0/12`` keeps working as Docker's does).
DEFAULT_CANDIDATES = (DEFAULT_SERVICE_CIDR, "10.96.0.0/12", "100.96.0.0/16", "192.168.240.0/20")


def overlapping_pool(net: ipaddress.IPv4Network, pools: list[str]) -> str:
    """The first of ``pools`` that overlaps ``net`` ("" when none)."""
    for pool in pools:
        try:
            other = ipaddress.ip_network(pool, strict=False)
        except ValueError:
            continue
        if other.version == 4 and net.overlaps(other):
            return pool
    return ""


def default_service_range(pools: list[str]) -> str:
    """The first default candidate apart from the Swarm address pools (the first if none is)."""
    for cidr in DEFAULT_CANDIDATES:
        if not overlapping_pool(ipaddress.IPv4Network(cidr), pools):
            return cidr
    return DEFAULT_SERVICE_CIDR


def check_ranges(cidr: str, ports: str, pools: list[str]) -> None:
    """A service range and NodePort range a cluster may be made with (``swarm init`` of a daemon started
    with ``--service-cluster-ip-range``/``--service-node-port-range``): an IPv4 network apart from every
    Swarm address pool, and a range of ports; InvalidArgument otherwise."""
    try:
        net = ipaddress.IPv4Network(cidr)
    except ValueError:
        raise InvalidArgument(f"invalid service cluster IP range {cidr!r}: an IPv4 CIDR is needed") from None
    if net.num_addresses < 8:
        raise InvalidArgument(f"service cluster IP range {cidr} is too small")
    pool = overlapping_pool(net, pools)
    if pool:
        raise InvalidArgument(f"service cluster IP range {cidr} overlaps the default address pool {pool}")
    try:
        parse_port_range(ports)
    except ValueError:
        raise InvalidArgument(f"invalid service node port range {ports!r}") from None


def cluster_ranges(store: ObjectStore) -> Ranges:
    clusters = store.list(Cluster)
    return ranges_of(clusters[0] if clusters else None)


def first_address(r: Ranges) -> str:
    """The range's first usable address: the ``kubernetes`` Service's."""
    return str(r.cidr.network_address + 1)


def needs_node_ports(spec: KubeServiceSpec) -> bool:
    return spec.Type == "NodePort" or (spec.Type == "LoadBalancer" and spec.AllocateLoadBalancerNodePorts is not False)


def needs_health_check(spec: KubeServiceSpec) -> bool:
    return spec.Type == "LoadBalancer" and spec.ExternalTrafficPolicy == "Local"


def taken(store: ObjectStore, skip_id: str = "") -> tuple[set[str], set[int]]:
    """The ClusterIPs and NodePorts every stored Service but ``skip_id`` holds."""
    ips: set[str] = set()
    ports: set[int] = set()
    for s in store.list(KubeService):
        if s.ID == skip_id:
            continue
        ips.update(ip for ip in s.Spec.ClusterIPs or [] if ip and ip != CLUSTER_IP_NONE)
        ports.update(p.NodePort for p in s.Spec.Ports or [] if p.NodePort)
        if s.Spec.HealthCheckNodePort:
            ports.add(s.Spec.HealthCheckNodePort)
    return ips, ports


def _pick(size: int, low_band: int, free: Callable[[int], bool], rng: random.Random) -> int | None:
    """An offset in [1, size) for which ``free(offset)`` holds: random ones of the upper band first
    (above ``low_band``), then a walk of the upper band, then of the lower one."""
    upper = range(max(low_band, 1), size)
    for _ in range(_RANDOM_TRIES if len(upper) else 0):
        o = rng.randrange(upper.start, upper.stop)
        if free(o):
            return o
    if len(upper):
        start = rng.randrange(upper.start, upper.stop)
        for o in (*range(start, upper.stop), *range(upper.start, start)):
            if free(o):
                return o
    for o in range(1, min(max(low_band, 1), size)):
        if free(o):
            return o
    return None


def _ip_band(size: int) -> int:
    return min(max(16, size // 16), 256)


def _port_band(size: int) -> int:
    return min(max(16, size // 32), 128)


def _invalid(name: str, path: str, value: str, detail: str) -> Invalid:
    return Invalid(KIND, name, [FieldCause(path, "FieldValueInvalid", f"Invalid value: {value}: {detail}")])


def _go_strings(items: list[str]) -> str:
    return "[]string{" + ", ".join(f'"{i}"' for i in items) + "}"


def allocate(store: ObjectStore, svc: KubeService, old: KubeService | None = None,
             rng: random.Random | None = None) -> None:
    """Fill ``svc``'s ClusterIP(s), IP families, NodePorts and health check NodePort (see the module's
    docstring); Invalid in the API server's words when what it asks for cannot be had, an internal
    error when a range is full."""
    rng = rng or random.Random()
    r = cluster_ranges(store)
    ips, ports = taken(store, svc.ID if old is not None else "")
    _cluster_ip(r, svc, old, ips, rng)
    _node_ports(r, svc, old, ports, rng, swarm_ports(store))
    _external_ips(store, svc, old)
    if old is not None and svc.Spec.Type != "LoadBalancer":
        svc.Status = KubeServiceStatus()  # the registry clears a LoadBalancer's status with its type


def _cluster_ip(r: Ranges, svc: KubeService, old: KubeService | None, ips: set[str], rng: random.Random) -> None:
    spec = svc.Spec
    if spec.Type == "ExternalName":
        spec.ClusterIP, spec.ClusterIPs, spec.IPFamilies, spec.IPFamilyPolicy = "", None, None, ""
        return
    if old is not None and old.Spec.Type != "ExternalName" and old.Spec.ClusterIP:
        if not spec.ClusterIP:
            spec.ClusterIP = old.Spec.ClusterIP
        if spec.ClusterIP != old.Spec.ClusterIP:
            raise _invalid(svc.Name, "spec.clusterIPs[0]", f'"{spec.ClusterIP}"', "may not change once set")
        spec.ClusterIPs = list(old.Spec.ClusterIPs or [old.Spec.ClusterIP])
        spec.IPFamilies = spec.IPFamilies or old.Spec.IPFamilies
        spec.IPFamilyPolicy = spec.IPFamilyPolicy or old.Spec.IPFamilyPolicy
        return
    headless = spec.ClusterIP == CLUSTER_IP_NONE
    if not spec.IPFamilyPolicy:
        spec.IPFamilyPolicy = "RequireDualStack" if headless and not spec.Selector else "SingleStack"
    for i, family in enumerate(spec.IPFamilies or []):
        if family != "IPv4":
            raise _invalid(svc.Name, f"spec.ipFamilies[{i}]", f'"{family}"', "not configured on this cluster")
    spec.IPFamilies = ["IPv4"]
    if headless:
        spec.ClusterIPs = [CLUSTER_IP_NONE]
        return
    asked = spec.ClusterIP
    if asked:
        shown = _go_strings([asked])
        try:
            addr = ipaddress.IPv4Address(asked)
        except ValueError:
            raise _invalid(svc.Name, "spec.clusterIPs[0]", f'"{asked}"', "must be a valid IP address, (e.g. "
                           "10.9.8.7 or 2001:db8::ffff)") from None
        if addr not in r.cidr or addr in (r.cidr.network_address, r.cidr.broadcast_address):
            raise _invalid(svc.Name, "spec.clusterIPs", shown, f"failed to allocate IP {asked}: the provided IP "
                           f"({asked}) is not in the valid range. The range of valid IPs is {r.cidr}")
        if asked in ips:
            raise _invalid(svc.Name, "spec.clusterIPs", shown,
                           f"failed to allocate IP {asked}: provided IP is already allocated")
        spec.ClusterIPs = [asked]
        return
    base, size = int(r.cidr.network_address), r.cidr.num_addresses - 1  # never the broadcast address
    first = first_address(r)
    picked = _pick(size, _ip_band(size), lambda o: (ip := str(ipaddress.IPv4Address(base + o))) not in ips
                   and ip != first, rng)
    if picked is None:
        raise error_of(Code.INTERNAL, "failed to allocate a serviceIP: range is full")
    spec.ClusterIP = str(ipaddress.IPv4Address(base + picked))
    spec.ClusterIPs = [spec.ClusterIP]


def _node_ports(r: Ranges, svc: KubeService, old: KubeService | None, ports: set[int], rng: random.Random,
                swarm: dict[tuple[str, int], Service] | None = None) -> None:
    spec = svc.Spec
    lo, hi = r.ports
    had = {p.NodePort for p in (old.Spec.Ports or []) if p.NodePort} if old is not None else set()
    swarm = swarm or {}
    published = {n for _, n in swarm}  # a picked NodePort skips these whatever their protocol
    if old is not None and needs_node_ports(spec):
        for p in spec.Ports or []:  # left out by the update: the one this port had
            if not p.NodePort:
                p.NodePort = next((o.NodePort for o in old.Spec.Ports or [] if o.Port == p.Port and o.NodePort), 0)
    mine: set[int] = set()

    def free(o: int) -> bool:
        n = lo + o - 1
        return n not in ports and n not in mine and n not in had and n not in published

    def next_port() -> int:
        picked = _pick(hi - lo + 2, _port_band(hi - lo + 1), free, rng)
        if picked is None:
            raise error_of(Code.INTERNAL, "failed to allocate a nodePort: range is full")
        return lo + picked - 1

    for i, p in enumerate(spec.Ports or []):
        if p.NodePort:
            if p.NodePort not in had and p.NodePort not in mine:
                if not lo <= p.NodePort <= hi:
                    raise _invalid(svc.Name, f"spec.ports[{i}].nodePort", str(p.NodePort), "provided port is not in "
                                   f"the valid range. The range of valid ports is {r.ports_text}")
                if p.NodePort in ports:
                    raise _invalid(svc.Name, f"spec.ports[{i}].nodePort", str(p.NodePort),
                                   "provided port is already allocated")
            if (p.Protocol.lower() or "tcp", p.NodePort) in swarm:  # a Swarm service publishes it
                raise _invalid(svc.Name, f"spec.ports[{i}].nodePort", str(p.NodePort),
                               "provided port is already allocated")
            mine.add(p.NodePort)
        elif needs_node_ports(spec):
            p.NodePort = next_port()
            mine.add(p.NodePort)
    if needs_health_check(spec):
        if not spec.HealthCheckNodePort and old is not None and needs_health_check(old.Spec):
            spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
        if spec.HealthCheckNodePort:
            n = spec.HealthCheckNodePort
            if n not in had and n not in mine:
                if not lo <= n <= hi:
                    raise _invalid(svc.Name, "spec.healthCheckNodePort", str(n), "provided port is not in the valid "
                                   f"range. The range of valid ports is {r.ports_text}")
                if n in ports:
                    raise _invalid(svc.Name, "spec.healthCheckNodePort", str(n), "provided port is already allocated")
            if ("tcp", n) in swarm:
                raise _invalid(svc.Name, "spec.healthCheckNodePort", str(n), "provided port is already allocated")
        else:
            spec.HealthCheckNodePort = next_port()
    else:
        spec.HealthCheckNodePort = 0


def lost_race(svc: KubeService, key_parts: tuple[str, ...]) -> ShoalError:
    """The answer to a Service whose claim of an address or port lost to another manager's at commit
    (a NodePort's ``port`` key: to a Swarm service publishing it; a pool address: a Conflict, for the
    LoadBalancer controller to choose again)."""
    if key_parts and key_parts[0] in ("nodeport", "port"):
        port = int(key_parts[-1])
        for i, p in enumerate(svc.Spec.Ports or []):
            if p.NodePort == port:
                return _invalid(svc.Name, f"spec.ports[{i}].nodePort", str(port), "provided port is already allocated")
        return _invalid(svc.Name, "spec.healthCheckNodePort", str(port), "provided port is already allocated")
    if key_parts and key_parts[0] == "ip" and key_parts[1] == LB_POOL:
        return Conflict(f"LoadBalancer address {key_parts[2]} is already in use")
    ip = key_parts[-1] if key_parts else svc.Spec.ClusterIP
    return _invalid(svc.Name, "spec.clusterIPs", _go_strings([ip]),
                    f"failed to allocate IP {ip}: provided IP is already allocated")


# ---------------------------------------------------------------- both worlds on one network


def swarm_ports(store: ObjectStore) -> dict[tuple[str, int], Service]:
    """The ports Swarm services publish, by (protocol, number): through the routing mesh (every node)
    and ``mode=host`` (the nodes its tasks run on, which may be any)."""
    out: dict[tuple[str, int], Service] = {}
    for s in store.list(Service):
        for p in (s.Endpoint.Ports if s.Endpoint else None) or []:
            if p.PublishedPort and (p.PublishMode or "ingress") in ("ingress", "host"):
                out.setdefault((p.Protocol or "tcp", p.PublishedPort), s)
    return out


def node_ports_by_protocol(store: ObjectStore) -> dict[tuple[str, int], KubeService]:
    """The Kubernetes Services' NodePorts (and health check NodePorts) as Swarm names ports:
    (``tcp``/``udp``/``sctp``, number) -> the Service."""
    out: dict[tuple[str, int], KubeService] = {}
    for s in store.list(KubeService):
        for claim in node_port_claims(s.Spec):
            out.setdefault(claim, s)
    return out


def _external_ips(store: ObjectStore, svc: KubeService, old: KubeService | None) -> None:
    """Refuse an ``externalIP`` the cluster routes elsewhere: in the service range, the pod range or a
    Swarm network's subnet (one the Service had already is left alone)."""
    had = set(old.Spec.ExternalIPs or []) if old is not None else set()
    asked = [(i, ip) for i, ip in enumerate(svc.Spec.ExternalIPs or []) if ip not in had]
    if not asked:
        return
    clusters = store.list(Cluster)
    settings = settings_of(clusters[0] if clusters else None)
    ranges = [(settings.ServiceCIDR, "the service cluster IP range"), (settings.ClusterCIDR, "the cluster CIDR")]
    ranges += [(c.Subnet, f'the subnet of Swarm network "{n.Spec.Name}"') for n in store.list(Network)
               for c in n.IPAMOptions.Configs or [] if c.Subnet]
    for i, ip in asked:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            continue  # the door's validation words it
        for cidr, what in ranges:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                continue
            if addr.version == net.version and addr in net:
                raise _invalid(svc.Name, f"spec.externalIPs[{i}]", f'"{ip}"', f"may not be in {what} ({cidr})")
