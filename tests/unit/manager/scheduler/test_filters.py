"""Scheduler filters one by one (applies to the task? node passes? SwarmKit's explanation), NodeInfo
bookkeeping, and the pipeline's explanation ordered by how often each filter failed."""

from __future__ import annotations

import pytest

from shoal.api.types import Endpoint, Placement, Platform, PortConfig, Task
from shoal.manager.scheduler.filters import (
    ConstraintFilter,
    HostPortFilter,
    MaxReplicasFilter,
    NodeInfo,
    Pipeline,
    PlatformFilter,
    ReadyFilter,
    ResourceFilter,
)

from ...helpers import CPU, GiB, make_node, make_task


def info(**kw: object) -> NodeInfo:
    return NodeInfo.of(make_node(**kw))  # type: ignore[arg-type]


def with_ports(t: Task, *ports: tuple[int, str, str]) -> Task:
    t.Endpoint = Endpoint(Ports=[PortConfig(PublishedPort=p, Protocol=proto, PublishMode=mode, TargetPort=80)
                                 for p, proto, mode in ports])
    return t


# ---------------------------------------------------------------- NodeInfo


def test_node_info_accounts_reservations_ports_and_services() -> None:
    ni = info(cpus=2, memory=4 * GiB)
    assert (ni.available_cpus, ni.available_memory) == (2 * CPU, 4 * GiB)
    t = with_ports(make_task("a", cpus=0.5, memory=GiB), (8080, "tcp", "host"), (53, "udp", "ingress"))
    assert ni.add_task(t)
    assert not ni.add_task(t)  # idempotent
    assert (ni.available_cpus, ni.available_memory) == (int(1.5 * CPU), 3 * GiB)
    assert ni.active_tasks == 1 and ni.tasks_by_owner == {"a": 1}
    assert ni.used_host_ports == {("tcp", 8080)}  # ingress ports are not the node's
    t2 = make_task("a")
    ni.add_task(t2)
    assert ni.tasks_by_owner == {"a": 2} and ni.active_tasks == 2
    assert ni.remove_task(t)
    assert not ni.remove_task(t)
    assert (ni.available_cpus, ni.available_memory) == (2 * CPU, 4 * GiB)
    assert ni.used_host_ports == set() and ni.tasks_by_owner == {"a": 1}
    ni.remove_task(t2)
    assert ni.tasks_by_owner == {} and ni.active_tasks == 0


# ---------------------------------------------------------------- each filter


def test_ready_filter() -> None:
    f = ReadyFilter()
    assert f.set_task(make_task())  # always applies
    assert f.check(info())
    assert not f.check(info(state="down"))
    assert not f.check(info(state="unknown"))
    assert not f.check(info(availability="drain"))
    assert not f.check(info(availability="pause"))
    assert f.explain(1) == "1 node not available for new tasks"
    assert f.explain(3) == "3 nodes not available for new tasks"


def test_resource_filter() -> None:
    f = ResourceFilter()
    assert not f.set_task(make_task())  # no reservations: does not apply
    assert not f.set_task(make_task(cpus=0, memory=0))
    assert f.set_task(make_task(cpus=1))
    assert f.check(info(cpus=1))
    assert not f.check(info(cpus=0.5))
    assert f.set_task(make_task(memory=2 * GiB))
    assert f.check(info(memory=2 * GiB))
    assert not f.check(info(memory=GiB))
    ni = info(cpus=2)
    ni.add_task(make_task(cpus=1.5))
    assert f.set_task(make_task(cpus=1))
    assert not f.check(ni)  # what is left, not the node's total
    assert f.explain(1) == "insufficient resources on 1 node"
    assert f.explain(3) == "insufficient resources on 3 nodes"


def test_constraint_filter() -> None:
    f = ConstraintFilter()
    assert not f.set_task(make_task())
    assert f.set_task(make_task(constraints=["node.labels.zone==east"]))
    assert f.check(info(labels={"zone": "east"}))
    assert not f.check(info(labels={"zone": "west"}))
    assert not f.check(info())
    assert not f.set_task(make_task(constraints=["garbage"]))  # an invalid stored one disables it
    assert f.explain(1) == "scheduling constraints not satisfied on 1 node"
    assert f.explain(3) == "scheduling constraints not satisfied on 3 nodes"


def test_platform_filter() -> None:
    f = PlatformFilter()
    assert not f.set_task(make_task())
    t = make_task()
    t.Spec.Placement = Placement(Platforms=[Platform(Architecture="amd64", OS="linux")])
    assert f.set_task(t)
    assert f.check(info(arch="x86_64", os="linux"))  # x86_64 is amd64
    assert f.check(info(arch="amd64", os="linux"))
    assert not f.check(info(arch="aarch64", os="linux"))
    assert not f.check(info(arch="x86_64", os="windows"))
    t.Spec.Placement = Placement(Platforms=[Platform(Architecture="arm64"), Platform(OS="windows")])
    assert f.set_task(t)
    assert f.check(info(arch="aarch64", os="linux"))  # any OS for the first entry
    assert f.check(info(arch="x86_64", os="windows"))  # any arch for the second
    assert not f.check(info(arch="x86_64", os="linux"))
    assert f.explain(1) == "unsupported platform on 1 node"
    assert f.explain(2) == "unsupported platform on 2 nodes"


def test_host_port_filter() -> None:
    f = HostPortFilter()
    assert not f.set_task(make_task())
    assert not f.set_task(with_ports(make_task(), (80, "tcp", "ingress")))  # ingress does not apply
    ni = info()
    ni.add_task(with_ports(make_task("other"), (8080, "tcp", "host")))
    assert f.set_task(with_ports(make_task(), (8080, "tcp", "host")))
    assert not f.check(ni)
    assert f.check(info())
    assert f.set_task(with_ports(make_task(), (8080, "udp", "host")))
    assert f.check(ni)  # another protocol is another port
    assert f.set_task(with_ports(make_task(), (8081, "tcp", "host")))
    assert f.check(ni)
    assert f.explain(1) == "host-mode port already in use on 1 node"
    assert f.explain(2) == "host-mode port already in use on 2 nodes"


def test_max_replicas_filter() -> None:
    f = MaxReplicasFilter()
    assert not f.set_task(make_task())
    t = make_task("web")
    t.Spec.Placement = Placement(MaxReplicas=2)
    assert f.set_task(t)
    ni = info()
    assert f.check(ni)
    ni.add_task(make_task("web"))
    ni.add_task(make_task("other"))
    ni.add_task(make_task("other"))
    assert f.check(ni)  # other services do not count
    ni.add_task(make_task("web"))
    assert not f.check(ni)
    assert f.explain(1) == "max replicas per node limit exceed"
    assert f.explain(5) == "max replicas per node limit exceed"


# ---------------------------------------------------------------- pipeline


def test_pipeline_counts_the_first_failing_filter_per_node() -> None:
    p = Pipeline()
    p.set_task(make_task(cpus=1, constraints=["node.labels.zone==east"]))
    nodes = [
        info(availability="drain", cpus=0, labels={"zone": "west"}),  # ready fails first
        info(cpus=0.5, labels={"zone": "west"}),  # resources before constraints
        info(cpus=2, labels={"zone": "west"}),
        info(cpus=2, labels={"zone": "west"}),
        info(cpus=2, labels={"zone": "east"}),  # passes
    ]
    assert [p.process(n) for n in nodes] == [False, False, False, False, True]
    assert p.failures == {"ready": 1, "resources": 1, "constraints": 2}
    assert p.explain() == (
        "scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks; "
        "insufficient resources on 1 node"
    )


def test_pipeline_explain_most_frequent_first() -> None:
    p = Pipeline()
    p.set_task(make_task(cpus=1, constraints=["node.role==manager"]))
    for n in [info(cpus=0.1, role="manager")] * 3 + [info(role="worker")] + [info(state="down")] * 2:
        p.process(n)
    assert p.explain() == (
        "insufficient resources on 3 nodes; 2 nodes not available for new tasks; "
        "scheduling constraints not satisfied on 1 node"
    )


def test_pipeline_skips_filters_that_do_not_apply_and_resets_per_task() -> None:
    p = Pipeline()
    p.set_task(make_task(constraints=["node.role==manager"]))
    assert not p.process(info(cpus=0))  # no reservation: resources are not checked
    assert p.explain() == "scheduling constraints not satisfied on 1 node"
    p.set_task(make_task())
    assert p.explain() == ""
    assert p.process(info(cpus=0, labels=None))


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        ({"ready": 1}, "1 node not available for new tasks"),
        (
            {"maxreplicas": 2, "hostports": 2},
            "host-mode port already in use on 2 nodes; max replicas per node limit exceed",
        ),
        ({"platform": 1, "resources": 4}, "insufficient resources on 4 nodes; unsupported platform on 1 node"),
    ],
)
def test_pipeline_ties_keep_pipeline_order(failures: dict[str, int], expected: str) -> None:
    p = Pipeline()
    p.failures = dict(failures)
    assert p.explain() == expected
