"""Index keys: what must be unique across the cluster, made unique by the store's transaction.

With several managers every one of them writes to the shared store, and each reads a cache that
may lag; so a name, a published port or an address is never "free" because a cache says so. Each
object claims what it holds with an index key, written in the same transaction as the object and
compared absent (revision 0) there, so of two managers claiming the same thing at once exactly one
commit succeeds. The value of an index key is its owner, ``<kind>/<ID>``.

``keys_of(kind, obj)`` derives the keys an object holds from the object alone, so
``ObjectStore.commit`` adds, moves and drops them on every create, update and delete without the
caller's help:

=====================================  ============================================================
``/shoal/index/name/<kind>/<name>``    services, networks, secrets, configs (node hostnames repeat
                                       in Swarm and are not indexed); Kubernetes objects of a
                                       namespace as ``<namespace>/<name>`` (Pods: their tasks),
                                       namespaces by name
``/shoal/index/port/<proto>/<port>``   a service's published ports in ingress mode (the routing mesh
                                       publishes each on every node: one service per port)
``/shoal/index/ip/<network>/<addr>``   a service's virtual IPs, a node's ingress address, and the
                                       address of a task that has not stopped (it is free again
                                       once the task has); the prefix length is left out
``/shoal/index/vni/<vni>``             a network's VXLAN ID
``/shoal/index/subnet/<cidr>``         a network's subnet (exactly equal ones; overlaps of unequal
                                       ones are checked against the cache only)
``/shoal/index/ip/<SERVICE_RANGE>/..`` a Kubernetes Service's ClusterIPs
``/shoal/index/nodeport/<port>``       a Kubernetes Service's NodePorts (and health check NodePort),
                                       one key a number whatever its protocols, as Kubernetes'
                                       allocator keeps them
``/shoal/index/port/<proto>/<port>``   also each NodePort with its protocol (the health check
                                       NodePort as ``tcp``): the Swarm ingress ports' keys, so a
                                       NodePort and a port the routing mesh publishes, both open on
                                       every node, never share a number and protocol
``/shoal/index/ip/<LB_POOL>/<addr>``   the address of the LoadBalancer pool a Kubernetes Service holds
                                       (``Status.PoolAddress``, ``manager/kube/loadbalancers.py``)
``/shoal/index/ip/<POD_RANGE>/<addr>``  a node's block of the Kubernetes pod range (``Node.PodCIDRs``),
                                       by its first address (every block has the same size)
=====================================  ============================================================

Tasks that have no network attachment (the bulk of a large cluster) hold no key and cost one
attribute test per write.

Every key under ``INDEX_PREFIX`` is one that ``keys_of`` derives: when a manager opens the store it
builds the keys objects hold but the store lacks and deletes the ones nobody holds
(``ObjectStore._backfill``), so a new kind of key is added here, never written on the side.
"""

from __future__ import annotations

from typing import Any

from shoal.api.states import TaskState

INDEX_PREFIX = "/shoal/index/"
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"  # where a network's VXLAN ID is kept

NAMED = frozenset({"services", "networks", "secrets", "configs", "namespaces", "events", "serviceaccounts",
                   "replicasets", "deployments", "daemonsets", "controllerrevisions", "jobs", "cronjobs",
                   "kubeservices", "endpoints", "endpointslices"})
_META_NAMED: tuple[str, ...] = ("namespaces", "events", "serviceaccounts", "replicasets", "deployments", "daemonsets",
               "controllerrevisions", "jobs", "cronjobs", "kubeservices", "endpoints", "endpointslices")
NAMED |= {"ingresses", "ingressclasses"}  # networking.k8s.io/v1
_META_NAMED += ("ingresses", "ingressclasses")
SERVICE_RANGE = "kube-service-range"  # the "network" of the Kubernetes Services' ClusterIPs' keys
LB_POOL = "kube-lb-pool"  # the "network" of the LoadBalancer pool's addresses' keys
POD_RANGE = "kube-pod-range"  # the "network" of the nodes' pod blocks' keys


def name_key(kind: str, name: str) -> str:
    return f"{INDEX_PREFIX}name/{kind}/{name}"


def port_key(protocol: str, port: int) -> str:
    return f"{INDEX_PREFIX}port/{protocol or 'tcp'}/{port}"


def ip_key(network_id: str, addr: str) -> str:
    return f"{INDEX_PREFIX}ip/{network_id}/{addr.split('/')[0]}"


def nodeport_key(port: int) -> str:
    return f"{INDEX_PREFIX}nodeport/{port}"


def vni_key(vni: int | str) -> str:
    return f"{INDEX_PREFIX}vni/{vni}"


def subnet_key(cidr: str) -> str:
    return f"{INDEX_PREFIX}subnet/{cidr}"


def owner_of(kind: str, oid: str) -> str:
    return f"{kind}/{oid}"


def parse(key: str) -> tuple[str, ...]:
    """The parts of an index key after the prefix: ("name", kind, name), ("port", proto, port),
    ("ip", network, addr), ("vni", vni), ("subnet", cidr), ("nodeport", port)."""
    rest = key[len(INDEX_PREFIX):]
    what, _, tail = rest.partition("/")
    if what == "name":
        kind, _, name = tail.partition("/")
        return (what, kind, name)
    if what in ("port", "ip"):
        a, _, b = tail.partition("/")
        return (what, a, b)
    return (what, tail)


def scoped(namespace: str, name: str) -> str:
    """A name as its index key holds it: ``<namespace>/<name>`` for a Kubernetes object of a namespace
    (Swarm names have no ``/``, so the two never meet), the bare name for the rest."""
    return f"{namespace}/{name}" if namespace else name


def keys_of(kind: str, obj: Any) -> list[str]:
    """The index keys ``obj`` (of store kind ``kind``) holds; [] for most tasks, fast."""
    if kind == "tasks":
        atts = obj.NetworksAttachments
        # A Pod's task holds its name in its namespace for as long as it exists.
        keys = [name_key(kind, scoped(obj.Namespace, obj.Name))] if obj.Namespace else []
        if not atts or obj.Status.State > TaskState.RUNNING:
            return keys
        return [*keys, *(ip_key(a.Network.ID, addr) for a in atts for addr in a.Addresses)]
    keys = []
    if kind in NAMED:
        name = obj.Name if kind in _META_NAMED else obj.Spec.Name
        keys.append(name_key(kind, scoped(obj.Namespace, name)))
    if kind == "services":
        ep = obj.Endpoint
        if ep is not None:
            keys.extend(port_key(p.Protocol, p.PublishedPort) for p in ep.Ports or []
                        if p.PublishMode == "ingress" and p.PublishedPort)
            keys.extend(ip_key(str(v.get("NetworkID", "")), str(v.get("Addr", ""))) for v in ep.VirtualIPs or []
                        if v.get("Addr"))
    elif kind == "networks":
        vni = (obj.DriverState.Options or {}).get(VNI_OPTION)
        if vni:
            keys.append(vni_key(vni))
        keys.extend(subnet_key(c.Subnet) for c in obj.IPAMOptions.Configs or [] if c.Subnet)
    elif kind == "nodes":
        keys.extend(ip_key(a.Network.ID, addr) for a in obj.Attachments or [] for addr in a.Addresses)
        keys.extend(ip_key(POD_RANGE, block) for block in obj.PodCIDRs or [])
    elif kind == "kubeservices":
        keys.extend(kube_service_keys(obj))
    return keys


def kube_service_keys(svc: Any) -> list[str]:
    """What a Kubernetes Service holds: its ClusterIPs (not a headless one's ``None``), its NodePorts (by
    number, and by number and protocol in the Swarm ports' space) and its LoadBalancer pool address."""
    spec = svc.Spec
    keys = [ip_key(SERVICE_RANGE, ip) for ip in spec.ClusterIPs or [] if ip and ip != "None"]
    ports = {p.NodePort for p in spec.Ports or [] if p.NodePort}
    if spec.HealthCheckNodePort:
        ports.add(spec.HealthCheckNodePort)
    keys.extend(nodeport_key(p) for p in sorted(ports))
    keys.extend(port_key(proto, n) for proto, n in sorted(node_port_claims(spec)))
    if svc.Status.PoolAddress:
        keys.append(ip_key(LB_POOL, svc.Status.PoolAddress))
    return keys


def node_port_claims(spec: Any) -> set[tuple[str, int]]:
    """A Kubernetes Service's NodePorts as Swarm names published ports: (``tcp``/``udp``/``sctp``, number);
    the health check NodePort is ``tcp`` (an HTTP check)."""
    out = {(p.Protocol.lower() or "tcp", p.NodePort) for p in spec.Ports or [] if p.NodePort}
    if spec.HealthCheckNodePort:
        out.add(("tcp", spec.HealthCheckNodePort))
    return out
