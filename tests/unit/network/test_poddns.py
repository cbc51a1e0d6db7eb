"""A Pod's resolv.conf and hosts by the kubelet's rules (``network/poddns.py``): each DNS policy,
``dnsConfig`` merged, the kubelet's limits, and the managed hosts file; and the sandbox that carries
them (``Sandbox.resolv_conf``/``hosts`` of a Pod)."""

from __future__ import annotations

from pathlib import Path

from shoal.api.kubenet import KubeNetSettings, settings_of
from shoal.api.pod import PodSpecExtra
from shoal.api.types import ContainerSpec, Task, TaskSpec
from shoal.network.poddns import (
    HostResolv,
    merge_options,
    pod_dns,
    pod_fqdn,
    pod_hosts,
    read_host_resolv,
    uses_cluster_dns,
)
from shoal.network.sandbox import Sandbox

SETTINGS = settings_of(None)
HOST = HostResolv(["10.213.0.53"], ["corp.test"], ["timeout:2"])


def spec(policy: str = "", host_network: bool = False, config: dict[str, object] | None = None,
         subdomain: str = "") -> TaskSpec:
    return TaskSpec(Containers=[ContainerSpec(Name="c", Image="busybox")], Hostname="web-0", DNSConfig=config,
                    Pod=PodSpecExtra(DNSPolicy=policy, HostNetwork=host_network, Subdomain=subdomain))


def test_cluster_first_is_the_default() -> None:
    got = pod_dns(spec(), "shop", SETTINGS, HOST)
    assert got.nameservers == ["172.16.0.10"]
    assert got.searches == ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.test"]
    assert got.options == ["ndots:5"]  # not the host's options
    assert pod_dns(spec("ClusterFirst"), "shop", SETTINGS, HOST) == got
    other = KubeNetSettings(ClusterDomain="k8s.test", ClusterDNS="172.20.0.10")
    assert pod_dns(spec(), "a", other, HostResolv()).searches == ["a.svc.k8s.test", "svc.k8s.test", "k8s.test"]
    assert pod_dns(spec(), "a", other, HostResolv()).nameservers == ["172.20.0.10"]


def test_default_is_the_nodes() -> None:
    got = pod_dns(spec("Default"), "shop", SETTINGS, HOST)
    assert (got.nameservers, got.searches, got.options) == (["10.213.0.53"], ["corp.test"], ["timeout:2"])
    assert pod_dns(spec("Default"), "shop", SETTINGS, HostResolv()).nameservers == []  # SHOAL_DNS=none


def test_host_network_pods() -> None:
    assert pod_dns(spec("ClusterFirst", host_network=True), "a", SETTINGS, HOST).nameservers == ["10.213.0.53"]
    assert pod_dns(spec("ClusterFirstWithHostNet", host_network=True), "a", SETTINGS, HOST).nameservers == \
        ["172.16.0.10"]
    assert uses_cluster_dns(spec("ClusterFirstWithHostNet", host_network=True))
    assert not uses_cluster_dns(spec("ClusterFirst", host_network=True))
    assert not uses_cluster_dns(TaskSpec())  # a Swarm task's


def test_none_takes_dns_config_only() -> None:
    cfg = {"Nameservers": ["192.0.2.1"], "Search": ["a.test"], "Options": ["ndots:2", "edns0"]}
    got = pod_dns(spec("None", config=cfg), "a", SETTINGS, HOST)
    assert (got.nameservers, got.searches, got.options) == (["192.0.2.1"], ["a.test"], ["ndots:2", "edns0"])


def test_dns_config_is_merged() -> None:
    cfg = {"Nameservers": ["192.0.2.1", "172.16.0.10"], "Search": ["a.test", "svc.cluster.local"],
           "Options": ["ndots:2", "edns0", "single-request"]}
    got = pod_dns(spec(config=cfg), "shop", SETTINGS, HOST)
    assert got.nameservers == ["172.16.0.10", "192.0.2.1"]  # duplicates dropped
    assert got.searches == ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.test", "a.test"]
    assert got.options == ["ndots:2", "edns0", "single-request"]  # by name: the Pod's value wins
    assert merge_options(["ndots:5", "timeout:2"], ["timeout:1", "rotate"]) == ["ndots:5", "timeout:1", "rotate"]


def test_the_kubelets_limits() -> None:
    cfg = {"Nameservers": ["192.0.2.1", "192.0.2.2", "192.0.2.3"], "Search": [f"d{i}.test" for i in range(40)]}
    got = pod_dns(spec(config=cfg), "a", SETTINGS, HostResolv())
    assert got.nameservers == ["172.16.0.10", "192.0.2.1", "192.0.2.2"]  # three at most
    assert len(got.searches) == 32 and got.searches[-1] == "d28.test"
    long = {"Search": [f"{'x' * 60}{i}.test" for i in range(32)]}
    got = pod_dns(spec("None", config=long), "a", SETTINGS, HostResolv())
    assert len(" ".join(got.searches)) <= 2048 and len(got.searches) < 32


def test_the_hosts_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 10.0.0.1\ndomain old.test\nsearch corp.test. lab.test # two\n"
                    "options rotate timeout:1\n")
    assert read_host_resolv(["10.213.0.53"], str(conf)) == HostResolv(
        ["10.213.0.53"], ["corp.test", "lab.test"], ["rotate", "timeout:1"])
    assert read_host_resolv([], str(tmp_path / "missing")) == HostResolv()


def test_the_managed_hosts_file() -> None:
    assert pod_hosts("web-0", "", "100.64.1.5/24").splitlines() == [
        "# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters",
        "100.64.1.5\tweb-0"]
    fqdn = pod_fqdn(spec(subdomain="web"), "web-0", "shop", SETTINGS)
    assert fqdn == "web-0.web.shop.svc.cluster.local"
    assert pod_hosts("web-0", fqdn, "100.64.1.5").splitlines()[-1] == \
        "100.64.1.5\tweb-0.web.shop.svc.cluster.local\tweb-0"
    assert pod_fqdn(spec(), "web-0", "shop", SETTINGS) == ""


def test_a_pods_sandbox_writes_them() -> None:
    task = Task(ID="t1", Name="web-0", Namespace="shop", Spec=spec())
    sb = Sandbox.of(task, Path("/nonexistent"))
    got = pod_dns(task.Spec, "shop", SETTINGS, HOST)
    sb.nameservers, sb.search, sb.options = got.nameservers, got.searches, got.options
    sb.pod, sb.addresses = True, ["100.64.1.5/24"]
    assert sb.resolv_conf() == ("nameserver 172.16.0.10\n"
                                "search shop.svc.cluster.local svc.cluster.local cluster.local corp.test\n"
                                "options ndots:5\n")
    assert sb.hosts().splitlines()[-1] == "100.64.1.5\tweb-0"
    sb.options = []
    assert "options" not in sb.resolv_conf()
