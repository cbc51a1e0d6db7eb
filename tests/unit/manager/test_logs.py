"""The log service: local files vs the node's session vs the leader, the backlog sorted by time, and
tasks placed later followed as soon as the store says so (no polling)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from shoal.api.nodeinfo import LogEntry, LogOptions, LogSelector
from shoal.manager.logs import LogService
from shoal.protocol import LogLine
from tests.unit.helpers import make_task, memory_store

HERE = "node-here"


def line(ts: str, msg: str, stream: str = "stdout") -> LogLine:
    return LogLine(f"2026-01-01T00:00:{ts}.000000000Z", stream, msg.encode())


class FakeFiles:
    """This node's log files: what is there, then what is appended (a queue per task)."""

    def __init__(self) -> None:
        self.lines: dict[str, list[LogLine]] = {}
        self.appended: dict[str, asyncio.Queue[LogLine]] = {}
        self.followed: list[tuple[str, int]] = []

    def read(self, task_id: str, *, since: float = 0.0, tail: int = -1, stdout: bool = True,
             stderr: bool = True) -> tuple[list[LogLine], int]:
        lines = self.lines.get(task_id, [])
        return (lines[-tail:] if tail >= 0 else lines), len(lines)

    async def follow(self, task_id: str, offset: int, *, stdout: bool = True,
                     stderr: bool = True) -> AsyncIterator[LogLine]:
        self.followed.append((task_id, offset))
        q = self.appended.setdefault(task_id, asyncio.Queue())
        while True:
            yield await q.get()


class FakeSession:
    remote = True

    def __init__(self, lines: list[LogLine]) -> None:
        self.lines = lines
        self.asked: list[dict[str, Any]] = []

    async def logs(self, task_id: str, *, since: float = 0.0, tail: int = -1, follow: bool = False,
                   stdout: bool = True, stderr: bool = True) -> AsyncIterator[LogLine]:
        self.asked.append({"task_id": task_id, "follow": follow, "tail": tail})
        for ll in self.lines:
            yield ll
        if follow:
            await asyncio.Event().wait()


class FakeDispatcher:
    def __init__(self, sessions: dict[str, FakeSession]) -> None:
        self.sessions = sessions


async def test_backlog_merges_local_and_remote_tasks_by_time() -> None:
    store = await memory_store()
    here = await store.create(make_task("web", node_id=HERE))
    there = await store.create(make_task("web", slot=2, node_id="node-there"))
    await store.create(make_task("web", slot=3))  # not placed: no logs
    files = FakeFiles()
    files.lines[here.ID] = [line("01", "a"), line("03", "c")]
    sess = FakeSession([line("02", "b")])
    svc = LogService(store, HERE, files, lambda: FakeDispatcher({"node-there": sess}))  # type: ignore[arg-type]
    got = [e async for e in svc.stream(LogSelector(service_id="web"), LogOptions(tail=5))]
    assert [(e.message, e.task.ID) for e in got] == [(b"a", here.ID), (b"b", there.ID), (b"c", here.ID)]
    assert sess.asked == [{"task_id": there.ID, "follow": False, "tail": 5}]


async def test_without_a_dispatcher_a_follower_reads_through_the_leader() -> None:
    store = await memory_store()
    there = await store.create(make_task("web", node_id="node-there"))
    leader = FakeSession([line("01", "from the leader")])
    svc = LogService(store, HERE, FakeFiles(), lambda: None, leader.logs)
    got = [e.message async for e in svc.stream(LogSelector(task_id=there.ID), LogOptions())]
    assert got == [b"from the leader"]


async def test_follow_picks_up_a_task_placed_later_from_the_store() -> None:
    store = await memory_store()
    first = await store.create(make_task("web", node_id=HERE))
    files = FakeFiles()
    files.lines[first.ID] = [line("01", "old")]
    svc = LogService(store, HERE, files, lambda: FakeDispatcher({}))  # type: ignore[arg-type]
    listeners = len(store._listeners)
    stream = svc.stream(LogSelector(service_id="web"), LogOptions(follow=True))
    got: asyncio.Queue[LogEntry] = asyncio.Queue()

    async def consume() -> None:
        async for e in stream:
            await got.put(e)

    reader = asyncio.ensure_future(consume())
    try:
        assert (await asyncio.wait_for(got.get(), 2)).message == b"old"
        unplaced = await store.create(make_task("web", slot=2))
        other = await store.create(make_task("other", node_id=HERE))
        placed = msgspec.structs.replace(unplaced, NodeID=HERE)
        await store.update(placed)
        files.appended.setdefault(placed.ID, asyncio.Queue()).put_nowait(line("05", "new task"))
        e = await asyncio.wait_for(got.get(), 2)
        assert (e.message, e.task.ID) == (b"new task", placed.ID)
        assert (first.ID, 1) in files.followed  # followed from where the first read ended
        assert other.ID not in {tid for tid, _ in files.followed}
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await stream.aclose()
    assert len(store._listeners) == listeners  # the stream let go of the store's notifications
