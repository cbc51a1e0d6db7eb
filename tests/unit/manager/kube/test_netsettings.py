"""The Kubernetes network settings a cluster is made with: defaults apart from the Swarm pools, and
refusals in the words of ``--service-cluster-ip-range``'s."""

from __future__ import annotations

import pytest

from shoal.api.errors import InvalidArgument
from shoal.api.kubenet import KubeNetSettings, settings_of
from shoal.api.types import Cluster
from shoal.manager.kube.netsettings import cluster_settings, pool_range


def test_defaults_are_apart_from_the_swarm_pools() -> None:
    s = cluster_settings(KubeNetSettings(ClusterCIDR=""), ["10.0.0.0/8"])
    assert (s.ClusterCIDR, s.NodeCIDRMaskSize, s.ClusterDomain, s.ClusterDNS) == \
        ("100.64.0.0/16", 24, "cluster.local", "172.16.0.10")
    moved = cluster_settings(KubeNetSettings(ClusterCIDR=""), ["100.64.0.0/10"])
    assert moved.ClusterCIDR == "10.244.0.0/16"


def test_a_range_asked_for_must_be_apart_from_the_pools_and_the_service_range() -> None:
    with pytest.raises(InvalidArgument, match=r"cluster CIDR 10\.244\.0\.0/16 overlaps the default address pool"):
        cluster_settings(KubeNetSettings(ClusterCIDR="10.244.0.0/16"), ["10.0.0.0/8"])
    with pytest.raises(InvalidArgument, match="overlaps the service cluster IP range"):
        cluster_settings(KubeNetSettings(ClusterCIDR="172.16.0.0/12"), ["10.0.0.0/8"])
    with pytest.raises(InvalidArgument, match="node CIDR mask size 8"):
        cluster_settings(KubeNetSettings(ClusterCIDR="", NodeCIDRMaskSize=8), ["10.0.0.0/8"])
    with pytest.raises(InvalidArgument, match="not in the service cluster IP range"):
        cluster_settings(KubeNetSettings(ClusterCIDR="", ClusterDNS="10.1.1.1"), ["10.0.0.0/8"])
    with pytest.raises(InvalidArgument, match="invalid service LoadBalancer pool"):
        cluster_settings(KubeNetSettings(ClusterCIDR="", ServiceLBPool="nope"), ["10.0.0.0/8"])


def test_pools_are_a_cidr_or_a_range() -> None:
    assert [str(a) for a in pool_range("192.168.5.0/29")] == ["192.168.5.1", "192.168.5.6"]
    assert [str(a) for a in pool_range("192.168.5.10-192.168.5.12")] == ["192.168.5.10", "192.168.5.12"]


def test_a_stored_cluster_reads_with_its_defaults() -> None:
    s = settings_of(Cluster(ID="c", ServiceClusterIPRange="10.96.0.0/12", ClusterDNS=""))
    assert s.ClusterDNS == "10.96.0.10" and s.ServiceCIDR == "10.96.0.0/12"


def test_a_load_balancer_pool_keeps_out_of_the_service_and_pod_ranges_but_may_lie_in_a_swarm_pool() -> None:
    with pytest.raises(InvalidArgument) as e:
        cluster_settings(KubeNetSettings(ClusterCIDR="", ServiceLBPool="172.16.9.0/24"), ["10.0.0.0/8"])
    assert str(e.value) == ("service LoadBalancer pool 172.16.9.0/24 overlaps the service cluster IP range "
                            "172.16.0.0/16")
    with pytest.raises(InvalidArgument, match=r"pool 100\.64\.0\.5-100\.64\.0\.9 overlaps the cluster CIDR"):
        cluster_settings(KubeNetSettings(ClusterCIDR="", ServiceLBPool="100.64.0.5-100.64.0.9"), ["10.0.0.0/8"])
    s = cluster_settings(KubeNetSettings(ClusterCIDR="", ServiceLBPool="10.213.7.240/28"), ["10.0.0.0/8"])
    assert s.ServiceLBPool == "10.213.7.240/28"  # the nodes' network, inside Swarm's pool: Swarm's subnets skip it
