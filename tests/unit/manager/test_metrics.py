"""The cluster collector (manager/metrics.py): tasks and Pods by state and node, the pending ones and
the oldest one's age, nodes, services, Deployments, the store, the dispatcher's sessions; and the
scheduler and dispatcher recording into the process's metrics."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shoal.api.ids import new_id
from shoal.api.states import TaskState
from shoal.api.types import Deployment, DeploymentSpec, NodeDescription, Service, ServiceSpec, parse_ts
from shoal.manager.dispatcher import Dispatcher
from shoal.manager.metrics import ClusterCollector
from shoal.manager.scheduler.scheduler import Scheduler
from tests.unit.helpers import FakeClock, make_node, make_task, memory_store, paused


def registry(c: ClusterCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(c)
    return reg


def value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


async def test_counts_tasks_and_pods_by_kind_state_and_node() -> None:
    store = await memory_store()
    a, b = make_node("a", role="manager"), make_node("b")
    drained = make_node("c", availability="drain", state="down")
    await store.commit(creates=[a, b, drained])
    created = "2026-01-01T00:00:00.000000000Z"
    tasks = [make_task("s1", slot=1, state=TaskState.RUNNING, node_id=a.ID),
             make_task("s1", slot=2, state=TaskState.RUNNING, node_id=a.ID),
             make_task("s1", slot=3, state=TaskState.FAILED, node_id=b.ID, desired=TaskState.SHUTDOWN),
             make_task("s2", slot=1, state=TaskState.PENDING),
             make_task("s2", slot=2, state=TaskState.PENDING, desired=TaskState.SHUTDOWN)]  # not wanted: not pending
    pod = make_task("rs", slot=0, state=TaskState.RUNNING, node_id=b.ID)
    pod.Namespace, pod.Name = "default", "web-1"
    waiting_pod = make_task("rs", slot=0, state=TaskState.PENDING)
    waiting_pod.Namespace, waiting_pod.Name = "default", "web-2"
    for t in [*tasks, pod, waiting_pod]:
        t.CreatedAt = created
    await store.commit(creates=[*tasks, pod, waiting_pod])
    clock = FakeClock(parse_ts(created) + 42.0)
    reg = registry(ClusterCollector(store, clock=clock))

    assert value(reg, "shoal_tasks", kind="task", state="running", node=a.ID) == 2
    assert value(reg, "shoal_tasks", kind="task", state="failed", node=b.ID) == 1
    assert value(reg, "shoal_tasks", kind="task", state="pending", node="") == 2
    assert value(reg, "shoal_tasks", kind="pod", state="running", node=b.ID) == 1
    assert value(reg, "shoal_tasks", kind="pod", state="pending", node="") == 1
    assert value(reg, "shoal_tasks", kind="pod", state="running", node=a.ID) is None  # only what exists
    assert value(reg, "shoal_tasks_pending", kind="task") == 1
    assert value(reg, "shoal_tasks_pending", kind="pod") == 1
    assert value(reg, "shoal_tasks_pending_oldest_age_seconds", kind="task") == pytest.approx(42.0)
    assert value(reg, "shoal_nodes", state="ready", availability="active", role="manager") == 1
    assert value(reg, "shoal_nodes", state="ready", availability="active", role="worker") == 1
    assert value(reg, "shoal_nodes", state="down", availability="drain", role="worker") == 1
    assert value(reg, "shoal_store_objects", kind="tasks") == 7
    assert value(reg, "shoal_store_objects", kind="nodes") == 3
    assert value(reg, "shoal_store_revision") == store.revision
    assert value(reg, "shoal_dispatcher_sessions") is None  # not the leader's: no dispatcher

    # The exposition parses (label values escaped as the format wants).
    families = {f.name for f in text_string_to_metric_families(generate_latest(reg).decode())}
    assert {"shoal_tasks", "shoal_nodes", "shoal_services", "shoal_deployments"} <= families


async def test_nothing_pending_is_age_zero_and_counts_services_deployments_and_sessions() -> None:
    store = await memory_store()
    await store.commit(creates=[Service(ID=new_id(), Spec=ServiceSpec(Name="web")),
                                Deployment(ID=new_id(), Name="api", Namespace="default", Spec=DeploymentSpec())])
    d = Dispatcher(store)
    reg = registry(ClusterCollector(store, d))
    assert value(reg, "shoal_tasks_pending", kind="task") == 0
    assert value(reg, "shoal_tasks_pending_oldest_age_seconds", kind="task") == 0
    assert value(reg, "shoal_services") == 1
    assert value(reg, "shoal_deployments") == 1
    assert value(reg, "shoal_dispatcher_sessions") == 0
    node = make_node("a")
    await d.register(node.ID, NodeDescription(Hostname="a"), "127.0.0.1")
    assert value(reg, "shoal_dispatcher_sessions") == 1
    await d.stop()


async def test_the_scheduler_counts_its_decisions() -> None:
    store = await memory_store()
    node = make_node("a", cpus=1)
    await store.commit(creates=[node])
    fits = make_task("s1", slot=1)
    too_big = make_task("s2", slot=1, cpus=8)
    await store.commit(creates=[fits, too_big])
    placed = REGISTRY.get_sample_value("shoal_scheduler_decisions_total", {"result": "placed"}) or 0
    refused = REGISTRY.get_sample_value("shoal_scheduler_decisions_total", {"result": "unschedulable"}) or 0
    timed = REGISTRY.get_sample_value("shoal_scheduler_scheduling_latency_seconds_count") or 0
    s = Scheduler(store)
    await paused(s)
    await s.tick()
    assert REGISTRY.get_sample_value("shoal_scheduler_decisions_total", {"result": "placed"}) == placed + 1
    assert REGISTRY.get_sample_value("shoal_scheduler_decisions_total", {"result": "unschedulable"}) == refused + 1
    assert REGISTRY.get_sample_value("shoal_scheduler_scheduling_latency_seconds_count") == timed + 1


async def test_the_dispatcher_measures_heartbeat_lateness() -> None:
    store = await memory_store()
    clock = FakeClock(1000.0)
    d = Dispatcher(store, heartbeat_period=5.0, clock=clock)
    node = make_node("a")
    session = await d.register(node.ID, NodeDescription(Hostname="a"), "127.0.0.1")
    count = REGISTRY.get_sample_value("shoal_dispatcher_heartbeat_lateness_seconds_count") or 0
    total = REGISTRY.get_sample_value("shoal_dispatcher_heartbeat_lateness_seconds_sum") or 0
    clock.advance(8.0)  # three seconds past the period
    await session.heartbeat()
    clock.advance(4.0)  # on time
    await session.heartbeat()
    assert REGISTRY.get_sample_value("shoal_dispatcher_heartbeat_lateness_seconds_count") == count + 2
    assert REGISTRY.get_sample_value("shoal_dispatcher_heartbeat_lateness_seconds_sum") == pytest.approx(total + 3.0)
    await d.stop()
