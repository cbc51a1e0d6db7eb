"""``/metrics`` of an in-process daemon (manager + agent, process runtime): ``generate_latest`` of its
``metrics_registry()`` parses with prometheus_client's own parser, and the counters move when a service
is created through the Docker door (its route's request counter, the scheduler's decisions, containers
started) and when tasks fail (failed tasks by state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.test_inprocess_cluster import make_image, wait_until
from tests.support import free_port

from shoal.api.states import TaskState
from shoal.api.types import Task
from shoal.daemon import Daemon, DaemonConfig
from shoal.frontdoor.docker.app import make_app

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = Daemon(DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", runtime="process",
                            hostname="node-1"))
    await d.start()
    make_image(d, tmp_path, "ticker:latest", "while true; do echo tick; sleep 0.2; done")
    make_image(d, tmp_path, "fails:latest", "echo bye; exit 3")
    await d.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
    yield d
    await d.stop()


def scrape(d: Daemon) -> Samples:
    """Every sample of the daemon's exposition, parsed back by prometheus_client's parser."""
    text = generate_latest(d.metrics_registry()).decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def test_metrics_parse_and_move_with_services_and_failures(daemon: Daemon) -> None:
    m = daemon.manager
    assert m is not None
    before = scrape(daemon)
    # A manager's exposition has the process's metrics and the cluster's.
    assert total(before, "shoal_nodes", state="ready", role="manager") == 1
    assert value(before, "shoal_dispatcher_sessions") == 1
    assert value(before, "shoal_store_revision") > 0
    assert value(before, "shoal_services") == 0

    async with TestClient(TestServer(make_app(daemon))) as client:
        r = await client.post("/v1.47/services/create", json={
            "Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "ticker"}},
            "Mode": {"Replicated": {"Replicas": 2}}})
        assert r.status == 201
        web_id = (await r.json())["ID"]
        r = await client.post("/v1.47/services/create", json={
            "Name": "flaky", "TaskTemplate": {"ContainerSpec": {"Image": "fails"},
                                             "RestartPolicy": {"Condition": "none"}}})
        assert r.status == 201
        r = await client.get("/v1.47/services/web")
        assert r.status == 200

    def running() -> int:
        return sum(1 for t in m.store.tasks_of_owner(web_id) if t.Status.State == TaskState.RUNNING)

    def failed() -> int:
        return sum(1 for t in m.store.list(Task) if t.Status.State == TaskState.FAILED)

    await wait_until(lambda: running() == 2 and failed() >= 1, timeout=20)
    after = scrape(daemon)

    # The Docker door's counter, by route template (never the raw path), method and code.
    route = ("shoal_docker_api_requests_total", {"route": "/services/create", "method": "POST", "code": "201"})
    assert value(after, route[0], **route[1]) - value(before, route[0], **route[1]) == 2
    got = ("shoal_docker_api_requests_total", {"route": "/services/{id}", "method": "GET", "code": "200"})
    assert value(after, got[0], **got[1]) - value(before, got[0], **got[1]) == 1
    assert not any(n == "shoal_docker_api_requests_total" and ("route", "/services/web") in ls for n, ls in after)
    assert total(after, "shoal_docker_api_request_duration_seconds_count", route="/services/create") >= 2

    # The scheduler placed the three tasks, and measured how long each waited.
    decided = "shoal_scheduler_decisions_total"
    assert value(after, decided, result="placed") - value(before, decided, result="placed") >= 3
    latency = "shoal_scheduler_scheduling_latency_seconds_count"
    assert value(after, latency) - value(before, latency) >= 3
    # The store committed, the agent started containers.
    assert value(after, "shoal_store_commits_total", result="ok") > value(before, "shoal_store_commits_total",
                                                                          result="ok")
    starts = "shoal_runtime_container_start_duration_seconds_count"
    assert value(after, starts) - value(before, starts) >= 3

    # The cluster's state: the services, the running and failed tasks by state and node.
    assert value(after, "shoal_services") == 2
    node = daemon.node_id
    assert value(after, "shoal_tasks", kind="task", state="running", node=node) >= 2
    assert total(after, "shoal_tasks", state="failed") - total(before, "shoal_tasks", state="failed") >= 1
    assert value(after, "shoal_tasks_pending", kind="task") == 0


async def test_a_worker_without_a_swarm_has_the_process_metrics(tmp_path: Path) -> None:
    d = Daemon(DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", runtime="process",
                            hostname="node-1"))
    await d.start()
    try:
        samples = scrape(d)
        assert ("shoal_scheduler_decisions_total", frozenset({("result", "placed")})) in samples
        assert not any(n == "shoal_tasks" for n, _ in samples)  # no cluster state outside a manager
        assert d.metrics_registry() is d.metrics_registry()
    finally:
        await d.stop()
