"""Swarm jobs on in-process clusters (process runtime, no root): a replicated job of 6 completions, 2 at a
time, watched through the store's changes; and a global job on a manager and a worker that joined."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.integration.test_inprocess_cluster import make_image, wait_until
from tests.support import free_port

from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    ReplicatedJob,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskSpec,
)
from shoal.daemon import Daemon, DaemonConfig
from shoal.store.objects import Change


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[tuple[Daemon, str]]:
    d = Daemon(DaemonConfig(data_root=tmp_path / "m", exec_root=tmp_path / "mrun", runtime="process",
                            hostname="node-1"))
    await d.start()
    make_image(d, tmp_path, "quick:latest", "sleep 0.3; echo done")
    addr = f"127.0.0.1:{free_port()}"
    await d.swarm_init("127.0.0.1", addr)
    yield d, addr
    await d.stop()


def job_spec(name: str, mode: ServiceMode) -> ServiceSpec:
    return ServiceSpec(Name=name, TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="quick")]), Mode=mode)


async def test_a_replicated_job_completes_six_never_more_than_two_running(manager: tuple[Daemon, str]) -> None:
    d, _ = manager
    m = d.manager
    assert m is not None
    running: set[str] = set()
    most = 0
    seen_running: set[str] = set()

    def watch(ch: Change) -> None:
        nonlocal most
        if ch.kind != "tasks" or ch.new is None:
            return
        t: Task = ch.new
        if t.Status.State == TaskState.RUNNING:
            running.add(t.ID)
            seen_running.add(t.ID)
        else:
            running.discard(t.ID)
        most = max(most, len(running))

    unsubscribe = m.store.subscribe(watch)
    try:
        svc = await m.control.create_service(
            job_spec("batch", ServiceMode(ReplicatedJob=ReplicatedJob(MaxConcurrent=2, TotalCompletions=6))))

        def complete() -> list[Task]:
            return [t for t in m.store.tasks_of_owner(svc.ID) if t.Status.State == TaskState.COMPLETE]

        await wait_until(lambda: len(complete()) == 6, timeout=30)
    finally:
        unsubscribe()
    assert most == 2  # two at a time, and never more
    assert len(seen_running) == 6
    tasks = m.store.tasks_of_owner(svc.ID)
    assert len(tasks) == 6 and sorted(t.Slot for t in tasks) == [0, 1, 2, 3, 4, 5]
    assert all(t.DesiredState == TaskState.COMPLETE and t.Status.Containers
               and t.Status.Containers[0].ExitCode == 0 for t in tasks)
    await m.orchestrator.queue.wait_idle()
    assert len(m.store.tasks_of_owner(svc.ID)) == 6  # done: nothing more is started
    status = m.control.service_status(m.control.service("batch"))
    assert (status.RunningTasks, status.DesiredTasks, status.CompletedTasks) == (0, 2, 6)


async def test_a_global_job_runs_once_on_each_of_two_nodes(manager: tuple[Daemon, str], tmp_path: Path) -> None:
    d, addr = manager
    m = d.manager
    assert m is not None
    w = Daemon(DaemonConfig(data_root=tmp_path / "w", exec_root=tmp_path / "wrun", runtime="process",
                            hostname="node-2"))
    await w.start()
    try:
        make_image(w, tmp_path / "wimg", "quick:latest", "sleep 0.3; echo done")
        await w.swarm_join([addr], m.control.cluster().JoinTokens.Worker, f"127.0.0.1:{free_port()}", "127.0.0.1")
        await wait_until(lambda: sum(1 for n in m.control.nodes() if n.Status.State == "ready") == 2)
        svc = await m.control.create_service(job_spec("everywhere", ServiceMode(GlobalJob={})))

        def complete() -> list[Task]:
            return [t for t in m.store.tasks_of_owner(svc.ID) if t.Status.State == TaskState.COMPLETE]

        await wait_until(lambda: len(complete()) == 2, timeout=30)
        nodes = {n.ID for n in m.control.nodes()}
        assert {t.NodeID for t in complete()} == nodes
        await m.orchestrator.queue.wait_idle()
        assert len(m.store.tasks_of_owner(svc.ID)) == 2  # once per node
        status = m.control.service_status(m.control.service("everywhere"))
        assert (status.RunningTasks, status.DesiredTasks, status.CompletedTasks) == (0, 0, 2)
    finally:
        await w.stop()
