"""The Kubernetes network as the managers describe it to a node: the cluster's settings, and the view of
Services, their endpoints and Ingresses that every node's proxy rules, DNS server and ingress proxy
are made from (issue 16; docs/design/kube-network.md).

* ``KubeNetSettings`` — the cluster-wide settings (``Cluster``'s fields with their defaults filled
  in): the pod range and each node's block size, the service range, the NodePort range, the cluster
  domain, the cluster DNS address, the LoadBalancer pool.
* ``KubeNetView`` — what the manager sends every node that runs Pods (``protocol.Assignments.kube``;
  None: unchanged), whole, whenever some part of it changed: the settings, every Service with its
  ports and its endpoints (from its EndpointSlices: the Pods' own addresses, readiness, node and
  resolved target ports), every Ingress with its rules and TLS secrets, and the nodes' addresses.
  The node hands it to ``NodeNetwork.set_kube_view``, which passes it to each consumer registered
  there (the proxy rules, the DNS server, the ingress proxy).

Plain data (msgspec structs), no rules: what a Service means for a packet is the node's business
(``network/``), what it means for the store the manager's (``manager/kube/``).
"""

from __future__ import annotations

import ipaddress

import msgspec

from shoal.api.types import (
    DEFAULT_CLUSTER_CIDR,
    DEFAULT_CLUSTER_DOMAIN,
    DEFAULT_NODE_CIDR_MASK_SIZE,
    DEFAULT_NODE_PORT_RANGE,
    DEFAULT_SERVICE_CIDR,
    Cluster,
)

DNS_OFFSET = 10  # the cluster DNS address: the service range's tenth, as kubeadm's 10.96.0.10


class KubeNetSettings(msgspec.Struct, frozen=True):
    ClusterCIDR: str = DEFAULT_CLUSTER_CIDR  # the pod range
    NodeCIDRMaskSize: int = DEFAULT_NODE_CIDR_MASK_SIZE  # each node's block of it
    ServiceCIDR: str = DEFAULT_SERVICE_CIDR
    NodePortRange: str = DEFAULT_NODE_PORT_RANGE
    ClusterDomain: str = DEFAULT_CLUSTER_DOMAIN
    ClusterDNS: str = ""  # the DNS Service's address (``kube-system/kube-dns``): filled by ``settings_of``
    ServiceLBPool: str = ""  # LoadBalancer addresses: a CIDR or ``A-B``; "": the nodes' own addresses


def dns_address(service_cidr: str) -> str:
    """The service range's tenth address (172.16.0.10 of 172.16.0.0/16)."""
    return str(ipaddress.IPv4Network(service_cidr)[DNS_OFFSET])


def settings_of(cluster: Cluster | None) -> KubeNetSettings:
    """The cluster's Kubernetes network settings with every default filled in."""
    if cluster is None:
        return KubeNetSettings(ClusterDNS=dns_address(DEFAULT_SERVICE_CIDR))
    return KubeNetSettings(
        ClusterCIDR=cluster.ClusterCIDR or DEFAULT_CLUSTER_CIDR,
        NodeCIDRMaskSize=cluster.NodeCIDRMaskSize or DEFAULT_NODE_CIDR_MASK_SIZE,
        ServiceCIDR=cluster.ServiceClusterIPRange or DEFAULT_SERVICE_CIDR,
        NodePortRange=cluster.ServiceNodePortRange or DEFAULT_NODE_PORT_RANGE,
        ClusterDomain=cluster.ClusterDomain or DEFAULT_CLUSTER_DOMAIN,
        ClusterDNS=cluster.ClusterDNS or dns_address(cluster.ServiceClusterIPRange or DEFAULT_SERVICE_CIDR),
        ServiceLBPool=cluster.ServiceLBPool,
    )


# ---------------------------------------------------------------- the view a node is sent


class KubeEndpoint(msgspec.Struct, frozen=True):
    """One Pod behind a Service, as its EndpointSlice lists it."""

    IP: str
    Ready: bool = True  # EndpointSlice's ``ready``: takes new connections
    Serving: bool = True  # ``serving`` (ready, possibly terminating)
    Terminating: bool = False
    NodeID: str = ""  # the node the Pod runs on (``externalTrafficPolicy``/``internalTrafficPolicy: Local``)
    NodeName: str = ""
    Ports: dict[str, int] = {}  # the Service port's name ("" when unnamed) → the Pod's port number
    Hostname: str = ""  # the Pod's ``spec.hostname`` (headless Services' per-Pod names), else ""
    PodName: str = ""
    PodNamespace: str = ""


class KubeServicePort(msgspec.Struct, frozen=True):
    Name: str = ""
    Protocol: str = "TCP"  # TCP | UDP | SCTP
    Port: int = 0
    NodePort: int = 0  # 0: none


class KubeServiceInfo(msgspec.Struct, frozen=True):
    """A Service as the data plane needs it (the Service object, ``api/types.KubeService``, reduced)."""

    Namespace: str
    Name: str
    Type: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer | ExternalName
    ClusterIP: str = ""  # "" for ExternalName, "None" for a headless Service
    Ports: tuple[KubeServicePort, ...] = ()
    SessionAffinity: bool = False  # ``ClientIP``
    AffinityTimeout: int = 10800  # s
    ExternalTrafficPolicy: str = "Cluster"  # Cluster | Local (NodePort, LoadBalancer)
    InternalTrafficPolicy: str = "Cluster"  # Cluster | Local
    HealthCheckNodePort: int = 0
    ExternalIPs: tuple[str, ...] = ()  # ``spec.externalIPs``
    LoadBalancerIPs: tuple[str, ...] = ()  # ``status.loadBalancer.ingress[].ip``
    ExternalName: str = ""
    PublishNotReadyAddresses: bool = False
    Endpoints: tuple[KubeEndpoint, ...] = ()


class KubeIngressPath(msgspec.Struct, frozen=True):
    Path: str = "/"
    PathType: str = "Prefix"  # Prefix | Exact | ImplementationSpecific (as Prefix)
    Service: str = ""  # the backend Service's name (same namespace)
    Port: int = 0  # the Service's port by number, or
    PortName: str = ""  # by name


class KubeIngressRule(msgspec.Struct, frozen=True):
    Host: str = ""  # "" any host; may start with ``*.``
    Paths: tuple[KubeIngressPath, ...] = ()


class KubeIngressTLS(msgspec.Struct, frozen=True):
    Hosts: tuple[str, ...] = ()
    SecretName: str = ""
    Cert: str = ""  # PEM (``tls.crt`` of the ``kubernetes.io/tls`` Secret), "" when missing
    Key: str = ""  # PEM (``tls.key``)


class KubeIngressInfo(msgspec.Struct, frozen=True):
    Namespace: str
    Name: str
    Rules: tuple[KubeIngressRule, ...] = ()
    DefaultBackend: KubeIngressPath | None = None
    TLS: tuple[KubeIngressTLS, ...] = ()


class KubeNetView(msgspec.Struct, frozen=True):
    """Everything a node's Kubernetes data plane is made from; sent whole when it changes."""

    Settings: KubeNetSettings = KubeNetSettings()
    Services: tuple[KubeServiceInfo, ...] = ()  # sorted by (namespace, name)
    Ingresses: tuple[KubeIngressInfo, ...] = ()  # of the IngressClass ``shoal``, sorted
    NodeAddrs: dict[str, str] = {}  # node ID → its address (the LoadBalancer Services' default addresses)
    Announce: tuple[str, ...] = ()  # the LoadBalancer pool's addresses this node answers ARP for
    NodeID: str = ""  # the node this view was made for (its endpoints are its ``Local`` ones)


# ---------------------------------------------------------------- the pod network a node is sent


class PodNetPeer(msgspec.Struct, frozen=True):
    """Another node of the pod network: its address (where its VXLAN traffic goes) and its block."""

    Addr: str
    Block: str


class PodNetwork(msgspec.Struct, frozen=True):
    """What a node wires its Pods' network from (``protocol.Assignments.podnet``; None: unchanged): the
    cluster's pod range, this node's own block of it ("" while it has none), and every other node that
    has a block and an address. Sent whole when any of it changes (docs/design/kube-network.md)."""

    ClusterCIDR: str = DEFAULT_CLUSTER_CIDR
    Block: str = ""
    Peers: tuple[PodNetPeer, ...] = ()  # sorted by block
