"""A task's sandbox data: what its containers' /etc gets, from the task's spec."""

from __future__ import annotations

from pathlib import Path

from shoal.api.types import ContainerSpec, ObjectRef, Task, TaskSpec
from shoal.network.sandbox import Sandbox


def test_a_sandbox_of_a_task_without_settings() -> None:
    t = Task(ID="abcdef0123456789", Owner=ObjectRef(Kind="Service", ID="svc1"), ServiceAnnotations={"Name": "web"},
             Slot=2,
             Spec=TaskSpec(Containers=[ContainerSpec(Image="busybox")]))
    sb = Sandbox.of(t, Path("/run/shoal/netns/abcdef0123456789"))
    assert sb.hostname == "abcdef012345" and sb.name == "web.2.abcdef0123456789"
    assert sb.resolv_conf() == "nameserver 127.0.0.11\noptions ndots:0\n"
    assert sb.hosts().splitlines()[-1] == "127.0.0.1\tabcdef012345"
    assert sb.networks == [] and sb.addresses == [] and not sb.held


def test_a_sandbox_takes_the_hostname_dns_settings_hosts_and_net_sysctls() -> None:
    spec = ContainerSpec(Image="busybox", Hostname="db-1", Hosts=["10.213.9.9 db alias", "cache:10.213.9.8"],
                         DNSConfig={"Nameservers": ["10.213.0.53"], "Search": ["example.test"],
                                    "Options": ["ndots:2", "timeout:1"]},
                         Sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"})
    sb = Sandbox.of(Task(ID="t1", Spec=TaskSpec(Containers=[spec])), Path("/x"))
    # The task's own servers are the embedded server's upstreams: its resolv.conf keeps 127.0.0.11.
    assert sb.resolv_conf() == "nameserver 127.0.0.11\nsearch example.test\noptions ndots:2 timeout:1\n"
    assert sb.hosts().splitlines()[-2:] == ["10.213.9.9\tdb alias", "10.213.9.8\tcache"]
    assert sb.hostname == "db-1" and sb.name == ""  # a task of no service
    assert sb.net_sysctls == {"net.ipv4.ip_forward": "1"}
