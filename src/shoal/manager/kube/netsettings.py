"""The Kubernetes network settings a cluster is made with (``swarm init``): checked and defaulted here.

``shoal daemon`` takes kube-controller-manager's and the kubelet's flag names: ``--cluster-cidr`` (the
pod range; default 100.64.0.0/16, the first of ``POD_CANDIDATES`` apart from the Swarm address pools
and the service range), ``--node-cidr-mask-size`` (24: a block of 256 addresses per node),
``--cluster-domain`` (``cluster.local``), ``--cluster-dns`` (the service range's tenth address) and
``--service-lb-pool`` (LoadBalancer addresses, a CIDR or ``A-B``; none: the nodes' own addresses).
A range asked for that overlaps a Swarm pool or the service range is refused at ``swarm init`` with
the pool named, as ``--service-cluster-ip-range`` is.
"""

from __future__ import annotations

import ipaddress
import re

import msgspec

from shoal.api.errors import InvalidArgument
from shoal.api.kubenet import KubeNetSettings, dns_address
from shoal.api.types import DEFAULT_CLUSTER_CIDR, DEFAULT_CLUSTER_DOMAIN, DEFAULT_NODE_CIDR_MASK_SIZE
from shoal.manager.kube.services import overlapping_pool as _overlap

# The default pod range, and the ones taken instead when the Swarm pools or the service range cover it.
POD_CANDIDATES = (DEFAULT_CLUSTER_CIDR, "100.65.0.0/16", "10.244.0.0/16", "192.168.224.0/20")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def pool_range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """A LoadBalancer pool (``10.0.0.0/28``: its usable addresses, or ``10.0.0.5-10.0.0.9``) as its first and
    last address; ValueError when it is neither."""
    if "-" in text:
        first, _, last = text.partition("-")
        lo, hi = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
    else:
        net = ipaddress.IPv4Network(text.strip(), strict=False)
        hosts = list(net.hosts()) if net.num_addresses > 2 else list(net)
        lo, hi = hosts[0], hosts[-1]
    if lo > hi:
        raise ValueError(f"invalid address range {text!r}")
    return lo, hi


def cluster_settings(asked: KubeNetSettings, pools: list[str]) -> KubeNetSettings:
    """The settings a new cluster gets: ``asked`` (the daemon's flags; ``ClusterCIDR`` "" for the default)
    checked against the Swarm address pools and its service range, the defaults filled in."""
    service = asked.ServiceCIDR
    if asked.ClusterCIDR:
        try:
            pods = ipaddress.IPv4Network(asked.ClusterCIDR)
        except ValueError:
            raise InvalidArgument(f"invalid cluster CIDR {asked.ClusterCIDR!r}: an IPv4 CIDR is needed") from None
        taken = _overlap(pods, pools)
        if taken:
            raise InvalidArgument(f"cluster CIDR {asked.ClusterCIDR} overlaps the default address pool {taken}")
        if _overlap(pods, [service]):
            raise InvalidArgument(f"cluster CIDR {asked.ClusterCIDR} overlaps the service cluster IP range {service}")
        cidr = asked.ClusterCIDR
    else:
        cidr = next((c for c in POD_CANDIDATES
                     if not _overlap(ipaddress.IPv4Network(c), [*pools, service])), DEFAULT_CLUSTER_CIDR)
    mask = asked.NodeCIDRMaskSize or DEFAULT_NODE_CIDR_MASK_SIZE
    if not ipaddress.IPv4Network(cidr).prefixlen <= mask <= 30:
        raise InvalidArgument(f"node CIDR mask size {mask} must be between the cluster CIDR's prefix "
                              f"({ipaddress.IPv4Network(cidr).prefixlen}) and 30")
    domain = (asked.ClusterDomain or DEFAULT_CLUSTER_DOMAIN).rstrip(".").lower()
    if len(domain) > 253 or not _DNS_SUBDOMAIN.match(domain):
        raise InvalidArgument(f"invalid cluster domain {asked.ClusterDomain!r}")
    dns = asked.ClusterDNS or dns_address(service)
    try:
        if ipaddress.IPv4Address(dns) not in ipaddress.IPv4Network(service):
            raise InvalidArgument(f"cluster DNS {dns} is not in the service cluster IP range {service}")
    except ValueError:
        raise InvalidArgument(f"invalid cluster DNS address {dns!r}") from None
    if asked.ServiceLBPool:
        try:
            lo, hi = pool_range(asked.ServiceLBPool)
        except ValueError:
            raise InvalidArgument(f"invalid service LoadBalancer pool {asked.ServiceLBPool!r}: "
                                  "a CIDR or a range A-B is needed") from None
        # Apart from the service and pod ranges (it may lie in a Swarm pool: the nodes' own network is
        # where LoadBalancer addresses are announced; Swarm's automatic subnets skip it).
        for net in ipaddress.summarize_address_range(lo, hi):
            for other, what in ((service, "service cluster IP range"), (cidr, "cluster CIDR")):
                if _overlap(net, [other]):
                    raise InvalidArgument(f"service LoadBalancer pool {asked.ServiceLBPool} overlaps the {what} "
                                          f"{other}")
    return msgspec.structs.replace(asked, ClusterCIDR=cidr, NodeCIDRMaskSize=mask, ClusterDomain=domain,
                                   ClusterDNS=dns)
