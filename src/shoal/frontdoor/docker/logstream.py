"""``GET /services/{id}/logs`` and ``GET /tasks/{id}/logs``: task log files as Docker's stream.

Each line is written as a frame of Docker's multiplexed stream (8-byte header: stream type, three
zero bytes, big-endian length), or raw for a TTY service. With ``timestamps`` the line starts with
its RFC 3339 time; with ``details`` it carries ``com.docker.swarm.node.id=…,com.docker.swarm.
service.id=…,com.docker.swarm.task.id=…`` as dockerd writes it, which the docker CLI turns into the
``name.slot.task@node |`` prefix. ``tail``, ``since`` and ``follow`` (tasks started later included)
are honoured. Tasks of this node are read from their log files; tasks of other nodes are read by
their agent, which sends the lines through its dispatcher session; a manager that is not the leader
reads them through the leader, which holds those sessions.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from shoal.agent import logs
from shoal.api.errors import InvalidArgument
from shoal.api.types import Service, Task, first_container, service_id_of

if TYPE_CHECKING:
    from shoal.daemon import Daemon

STREAM_TYPE = {"stdout": 1, "stderr": 2}
REMOTE_READ_TIMEOUT = 10.0  # seconds a node has to send a task's logs (without follow)


class LogReader(Protocol):
    def __call__(self, task_id: str, *, since: float = 0.0, tail: int = -1, follow: bool = False,
                 stdout: bool = True, stderr: bool = True) -> AsyncIterator[logs.LogLine]: ...


def _since(raw: str) -> float:
    if not raw:
        return 0.0
    try:
        return float(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid since: {raw}") from e


def _frame(tty: bool, stream: str, data: bytes) -> bytes:
    if tty:
        return data
    return struct.pack(">BxxxL", STREAM_TYPE.get(stream, 1), len(data)) + data


def _line(ll: logs.LogLine, t: Task, timestamps: bool, details: bool) -> bytes:
    out = b""
    if timestamps:
        out += ll.timestamp.encode() + b" "
    if details:
        out += (f"com.docker.swarm.node.id={t.NodeID},com.docker.swarm.service.id={service_id_of(t)},"
                f"com.docker.swarm.task.id={t.ID} ").encode()
    return out + ll.message + b"\n"


async def serve(request: web.Request, d: Daemon, m: Any, service: Service | None = None,
                task: Task | None = None) -> web.StreamResponse:
    q = request.query
    follow = q.get("follow", "") in ("1", "true")
    timestamps = q.get("timestamps", "") in ("1", "true")
    details = q.get("details", "") in ("1", "true")
    stdout = q.get("stdout", "") in ("1", "true")
    stderr = q.get("stderr", "") in ("1", "true")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail_raw = q.get("tail", "all")
    tail = -1 if tail_raw in ("", "all") else int(tail_raw)
    since = _since(q.get("since", ""))
    spec = (service.Spec.TaskTemplate if service else task.Spec if task else None)
    first = first_container(spec) if spec else None
    tty = bool(first and first.TTY)

    def tasks_now() -> list[Task]:
        if service is not None:
            return [t for t in m.store.tasks_of_service(service.ID) if t.NodeID]
        cur = m.store.get(Task, task.ID) if task is not None else None
        return [cur] if cur is not None else []

    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    })
    await resp.prepare(request)
    dispatcher = m.dispatcher

    def remote_session(t: Task) -> LogReader | None:
        """How to read ``t``'s lines when another machine runs it: through that node's session (on
        the leader), or through the leader (on another manager); None: from this node's files."""
        if t.NodeID == d.node_id:
            return None
        if dispatcher is None:
            return d.leader_logs if d.in_quorum else None
        sess = dispatcher.sessions.get(t.NodeID)
        return sess.logs if sess is not None and sess.remote else None

    entries: list[tuple[str, logs.LogLine, Task]] = []
    offsets: dict[str, int] = {}
    queue: asyncio.Queue[tuple[logs.LogLine, Task]] = asyncio.Queue()
    followers: dict[str, asyncio.Task[None]] = {}

    async def follow_remote(t: Task, sess: LogReader, since_: float, tail_: int) -> None:
        async for ll in sess(t.ID, since=since_, tail=tail_, follow=True, stdout=stdout, stderr=stderr):
            await queue.put((ll, t))

    for t in tasks_now():
        sess = remote_session(t)
        if sess is None:
            lines, end = logs.read(d.runtime.log_path(t.ID), since=since, tail=tail, stdout=stdout, stderr=stderr)
            offsets[t.ID] = end
            entries.extend((ll.timestamp, ll, t) for ll in lines)
        elif follow:
            # The agent sends what is there (tail, since) and then what comes.
            followers[t.ID] = asyncio.ensure_future(follow_remote(t, sess, since, tail))
        else:
            try:
                async with asyncio.timeout(REMOTE_READ_TIMEOUT):
                    async for ll in sess(t.ID, since=since, tail=tail, stdout=stdout, stderr=stderr):
                        entries.append((ll.timestamp, ll, t))
            except TimeoutError:
                pass  # a node that does not answer in time contributes what it sent
    entries.sort(key=lambda e: e[0])
    for _, ll, t in entries:
        await resp.write(_frame(tty, ll.stream, _line(ll, t, timestamps, details)))
    if not follow:
        await resp.write_eof()
        return resp

    async def follow_one(t: Task, offset: int) -> None:
        async for ll in logs.follow(d.runtime.log_path(t.ID), offset, stdout=stdout, stderr=stderr):
            await queue.put((ll, t))

    async def watch_tasks() -> None:
        while True:
            for t in tasks_now():
                if t.ID in followers:
                    continue
                sess = remote_session(t)
                if sess is None:
                    followers[t.ID] = asyncio.ensure_future(follow_one(t, offsets.get(t.ID, 0)))
                else:
                    followers[t.ID] = asyncio.ensure_future(follow_remote(t, sess, 0.0, -1))
            await asyncio.sleep(0.5)

    watcher = asyncio.ensure_future(watch_tasks())
    try:
        while True:
            ll, t = await queue.get()
            await resp.write(_frame(tty, ll.stream, _line(ll, t, timestamps, details)))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        watcher.cancel()
        for f in followers.values():
            f.cancel()
    return resp
