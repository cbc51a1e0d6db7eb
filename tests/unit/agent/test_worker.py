"""The worker's start and stop under load: it registers while the previous run's leftovers are
cleaned in the background, and a stop that cannot finish removing gives up at dockerd's deadline."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from shoal.agent import worker as worker_mod
from shoal.agent.worker import Worker, describe_node
from shoal.api.ids import new_id
from shoal.api.states import TaskState
from shoal.api.types import ContainerSpec, NodeDescription, ObjectRef, Task, TaskSpec, TaskStatus
from shoal.protocol import Assignments
from shoal.runtime.fake import FakeRuntime

from ..helpers import until


def task(grace: int = 0) -> Task:
    return Task(ID=new_id(), Owner=ObjectRef(Kind="Service", ID="svc"), Slot=1, NodeID="node1",
                Spec=TaskSpec(Containers=[ContainerSpec(Image="busybox", StopGracePeriod=grace)]),
                Status=TaskStatus(State=TaskState.ASSIGNED), DesiredState=TaskState.RUNNING)


class Session:
    """One full assignment of ``tasks``, then nothing more; heartbeats and reports recorded."""

    def __init__(self, tasks: list[Task]) -> None:
        self.queue: asyncio.Queue[Assignments] = asyncio.Queue()
        self.queue.put_nowait(Assignments(tasks=tasks, full=True))
        self.heartbeats = 0
        self.reports: list[tuple[str, TaskState]] = []

    async def assignments(self) -> Assignments | None:
        return await self.queue.get()

    async def heartbeat(self) -> float:
        self.heartbeats += 1
        return 5.0

    async def update_task_status(self, updates: list[tuple[str, TaskStatus]]) -> None:
        self.reports.extend((tid, st.State) for tid, st in updates)


class Registrar:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.registered = 0

    async def register(self, node_id: str, description: NodeDescription, addr: str, role: str = "worker",
                       kube_network: bool = False) -> Session:
        self.registered += 1
        return self.session


class SlowCleanup(FakeRuntime):
    """A runtime whose cleanup of a previous run's leftovers takes until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(["busybox"])
        self.release = asyncio.Event()

    async def cleanup(self) -> None:
        await self.release.wait()
        await super().cleanup()


async def test_it_registers_and_heartbeats_while_the_leftovers_are_cleaned() -> None:
    rt = SlowCleanup()
    t = task()
    session = Session([t])
    reg = Registrar(session)
    w = Worker("node1", rt, reg, describe_node("n1"), "127.0.0.1")
    await asyncio.wait_for(w.start(), 5)  # returns with the cleanup still going
    assert reg.registered == 1
    await until(lambda: session.heartbeats >= 1, what="a heartbeat during the cleanup")
    rt.release.set()
    await until(lambda: ("prepare", t.ID) in rt.calls, what="the task prepared")
    # The assignment was followed only once the runtime had cleaned.
    assert rt.calls.index(("cleanup",)) < rt.calls.index(("prepare", t.ID))
    await w.stop()


class StuckRemoval(FakeRuntime):
    """A runtime that never finishes removing a container (a node too loaded to tear down in time)."""

    async def remove(self, task_id: str, keep_logs: bool = False) -> None:
        await super().remove(task_id, keep_logs)
        await asyncio.Event().wait()


async def test_a_stop_that_cannot_remove_gives_up_at_the_deadline(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(worker_mod, "SHUTDOWN_TIMEOUT", 0.2)
    monkeypatch.setattr(worker_mod, "SHUTDOWN_GRACE", 0.2)
    rt = StuckRemoval(["busybox"])
    tasks = [task() for _ in range(3)]
    session = Session(tasks)
    w = Worker("node1", rt, Registrar(session), describe_node("n1"), "127.0.0.1")
    await w.start()
    await until(lambda: all(tid in rt.exits for tid in (t.ID for t in tasks)), what="three containers running")
    caplog.set_level(logging.WARNING, logger="shoal.agent.worker")
    await asyncio.wait_for(w.stop(deadline=True), 5)  # without the deadline: never
    assert "3 of 3 tasks not stopped and removed within 0 s" in caplog.text
    assert rt.closed
    stops: list[Any] = [c for c in rt.calls if c[0] == "stop"]
    assert {c[1] for c in stops} == {t.ID for t in tasks}  # each was stopped before its removal stuck


class FailingCleanup(FakeRuntime):
    async def cleanup(self) -> None:
        raise OSError("a leftover that cannot be removed")


async def test_a_failed_cleanup_is_logged_and_the_tasks_still_run(caplog: pytest.LogCaptureFixture) -> None:
    rt = FailingCleanup(["busybox"])
    t = task()
    w = Worker("node1", rt, Registrar(Session([t])), describe_node("n1"), "127.0.0.1")
    await w.start()
    await until(lambda: ("prepare", t.ID) in rt.calls, what="the task prepared after the failed cleanup")
    assert "cleaning what the previous run left" in caplog.text
    await w.stop()
