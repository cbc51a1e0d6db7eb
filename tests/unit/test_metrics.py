"""shoal.metrics: the process's metrics and the helpers the layers record with. The metrics are the
process's (other tests move them too): every check compares a value before and after."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from shoal import metrics
from shoal.api.errors import Conflict
from shoal.api.types import Node, NodeSpec, clone
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_metric_follows_the_naming_conventions() -> None:
    names = [m.name for m in REGISTRY.collect() if m.name.startswith("shoal_")]
    assert names, "shoal's metrics are in the default registry"
    for m in REGISTRY.collect():
        if not m.name.startswith("shoal_"):
            continue
        if m.type == "counter":
            assert not m.name.endswith("_total")  # the library adds it to the samples
            assert all(s.name.endswith(("_total", "_created")) for s in m.samples)
        assert not any(unit in m.name for unit in ("_ms", "_milliseconds", "_kb", "_mb")), m.name


def test_scheduled_counts_a_placement_and_its_latency() -> None:
    placed, count, total = (sample("shoal_scheduler_decisions_total", result="placed"),
                            sample("shoal_scheduler_scheduling_latency_seconds_count"),
                            sample("shoal_scheduler_scheduling_latency_seconds_sum"))
    metrics.scheduled(100.0, 102.5)
    metrics.scheduled(0.0, 102.5)  # creation time unknown: counted, not timed
    assert sample("shoal_scheduler_decisions_total", result="placed") == placed + 2
    assert sample("shoal_scheduler_scheduling_latency_seconds_count") == count + 1
    assert sample("shoal_scheduler_scheduling_latency_seconds_sum") == pytest.approx(total + 2.5)


class _Refused(Exception):
    pass


def test_commit_timer_counts_results() -> None:
    ok, conflict, error = (sample("shoal_store_commits_total", result=r) for r in ("ok", "conflict", "error"))
    timed = sample("shoal_store_commit_duration_seconds_count")
    with metrics.commit_timer(_Refused):
        pass
    with pytest.raises(_Refused), metrics.commit_timer(_Refused):
        raise _Refused("compare failed")
    with pytest.raises(OSError), metrics.commit_timer(_Refused):
        raise OSError("disk")
    assert [sample("shoal_store_commits_total", result=r) for r in ("ok", "conflict", "error")] == \
        [ok + 1, conflict + 1, error + 1]
    assert sample("shoal_store_commit_duration_seconds_count") == timed + 3


async def test_the_object_store_records_commits_and_the_memory_backend_compactions() -> None:
    store = ObjectStore(MemoryBackend())
    await store.load()
    ok, conflict = sample("shoal_store_commits_total", result="ok"), sample("shoal_store_commits_total",
                                                                              result="conflict")
    node = Node(ID="n1", Spec=NodeSpec())
    await store.create(node)
    stale = clone(node)
    stale.Version.Index = 0
    stale.Spec.Availability = "drain"
    with pytest.raises(Conflict):
        await store.update(stale)
    assert sample("shoal_store_commits_total", result="ok") == ok + 1
    assert sample("shoal_store_commits_total", result="conflict") == conflict + 1
    compactions = sample("shoal_store_compactions_total", backend="memory")
    await store.backend.compact(store.revision)
    assert sample("shoal_store_compactions_total", backend="memory") == compactions + 1


async def test_pull_timer_counts_success_failure_and_cancel() -> None:
    before = [sample("shoal_image_pulls_total", result=r) for r in ("success", "failure", "cancelled")]
    with metrics.pull_timer():
        pass
    with pytest.raises(ValueError), metrics.pull_timer():
        raise ValueError("manifest unknown")
    with pytest.raises(asyncio.CancelledError), metrics.pull_timer():
        raise asyncio.CancelledError()
    after = [sample("shoal_image_pulls_total", result=r) for r in ("success", "failure", "cancelled")]
    assert after == [b + 1 for b in before]


def test_probed_counts_by_kind_and_result() -> None:
    before = sample("shoal_agent_probe_results_total", kind="liveness", result="failure")
    metrics.probed("Liveness", "failure")  # the kubelet's word
    metrics.probed("nonsense", "failure")  # not a kind: ignored (no series made)
    assert sample("shoal_agent_probe_results_total", kind="liveness", result="failure") == before + 1
    assert REGISTRY.get_sample_value("shoal_agent_probe_results_total",
                                     {"kind": "nonsense", "result": "failure"}) is None


def test_heartbeat_lateness_is_the_time_past_the_period() -> None:
    count = sample("shoal_dispatcher_heartbeat_lateness_seconds_count")
    on_time = sample("shoal_dispatcher_heartbeat_lateness_seconds_bucket", le="0.0")
    late = sample("shoal_dispatcher_heartbeat_lateness_seconds_bucket", le="2.5")
    metrics.heartbeat(10.0, 14.0, 5.0)  # early: on time
    metrics.heartbeat(10.0, 17.0, 5.0)  # two seconds late
    assert sample("shoal_dispatcher_heartbeat_lateness_seconds_count") == count + 2
    assert sample("shoal_dispatcher_heartbeat_lateness_seconds_bucket", le="0.0") == on_time + 1
    assert sample("shoal_dispatcher_heartbeat_lateness_seconds_bucket", le="2.5") == late + 2


def test_containers_running_goes_up_on_start_and_down_on_exit() -> None:
    running = sample("shoal_runtime_containers_running")
    starts = sample("shoal_runtime_container_start_duration_seconds_count")
    metrics.container_started(0.02)
    assert sample("shoal_runtime_containers_running") == running + 1
    metrics.container_exited()
    assert sample("shoal_runtime_containers_running") == running
    assert sample("shoal_runtime_container_start_duration_seconds_count") == starts + 1


def test_requests_count_by_labels_and_code_and_time_unless_told_not_to() -> None:
    req = metrics.DOCKER_REQUESTS
    name = "shoal_docker_api_requests_total"
    before = sample(name, route="/test/{id}", method="GET", code="200")
    timed = sample("shoal_docker_api_request_duration_seconds_count", route="/test/{id}", method="GET")
    req.observe(("/test/{id}", "GET"), 200, 0.01)
    req.observe(("/test/{id}", "GET"), 200, None)  # long-running: counted only
    req.observe(("/test/{id}", "GET"), 404, 0.01)
    assert sample(name, route="/test/{id}", method="GET", code="200") == before + 2
    assert sample(name, route="/test/{id}", method="GET", code="404") >= 1
    assert sample("shoal_docker_api_request_duration_seconds_count", route="/test/{id}", method="GET") == timed + 2
    assert ("/test/{id}", "GET", "200") in req._counters  # the child is made once


class _Extra:
    def collect(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("shoal_test_extra", "A collector of the daemon's own.", value=7)]


def test_node_registry_chains_the_process_metrics_and_the_daemons() -> None:
    reg = metrics.node_registry(lambda: [_Extra()])
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(reg).decode())}
    assert "shoal_scheduler_decisions" in families  # the process's (the parser drops _total)
    assert families["shoal_test_extra"].samples[0].value == 7
    assert reg.get_sample_value("shoal_test_extra") == 7
    # REGISTRY itself does not hold the daemon's collectors.
    assert REGISTRY.get_sample_value("shoal_test_extra") is None
