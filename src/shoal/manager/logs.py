"""Task logs for the front doors: which node reads each task's lines, and how.

``LogService.stream(selector, options)`` yields the selected tasks' lines as ``LogEntry``: first the
lines already there, sorted by time, then (``follow``) the lines that come, of tasks placed later
too. Where a line is read depends on where its task runs:

- a task of this node: from its log file (``LocalLogs``, the agent's reader), then followed from
  where that read ended;
- a task of another node, on the leader: through that node's dispatcher session (its agent reads
  the file and sends the lines);
- a task of another node, on a manager that is not the leader: through the leader, which holds the
  sessions (``leader``); on a single manager without a session for the node: from a local file.

A Pod's task has a log per container (``runtime/base.container_key``: ``<task id>.<name>``): the one
``LogSelector.container`` names, else its first app container's; ``LogOptions.previous`` reads the
container's run before its last restart (``<task id>.<name>.previous``), as ``kubectl logs
--previous``. Either is the name the node's log files are read by, here or on the remote node.

New tasks are learnt from the store's change notifications (no polling). A node that does not answer
a read without ``follow`` in ``REMOTE_READ_TIMEOUT`` contributes what it sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol

from shoal.api.nodeinfo import LogEntry, LogOptions, LogSelector
from shoal.api.types import Task
from shoal.protocol import LogLine
from shoal.runtime.base import container_key, is_pod
from shoal.store.objects import Change, ObjectStore

if TYPE_CHECKING:
    from shoal.manager.dispatcher import Dispatcher

REMOTE_READ_TIMEOUT = 10.0  # seconds a node has to send a task's logs (without follow)


class LogReader(Protocol):
    """A task's lines read by the node that runs it (a dispatcher session, or the leader)."""

    def __call__(self, task_id: str, *, since: float = 0.0, tail: int = -1, follow: bool = False,
                 stdout: bool = True, stderr: bool = True) -> AsyncIterator[LogLine]: ...


class LocalLogs(Protocol):
    """The log files of this node's tasks."""

    def read(self, task_id: str, *, since: float = 0.0, tail: int = -1, stdout: bool = True,
             stderr: bool = True) -> tuple[list[LogLine], int]:
        """The lines there that pass the filters, and the offset where the file ended."""
        ...

    def follow(self, task_id: str, offset: int, *, stdout: bool = True,
               stderr: bool = True) -> AsyncIterator[LogLine]:
        """The lines appended after ``offset``, as they come."""
        ...


class LogService:
    def __init__(self, store: ObjectStore, node_id: str, local: LocalLogs,
                 dispatcher: Callable[[], Dispatcher | None], leader: LogReader | None = None) -> None:
        """``dispatcher``: this manager's, while it leads; ``leader``: how a manager in a quorum reads
        through the leader (None: a single manager)."""
        self.store = store
        self.node_id = node_id
        self.local = local
        self.dispatcher = dispatcher
        self.leader = leader

    @staticmethod
    def log_name(t: Task, selector: LogSelector, options: LogOptions) -> str:
        """The name of the log to read for ``t`` on its node (see the module's docstring)."""
        if not is_pod(t) or not t.Spec.Containers:
            return t.ID
        name = selector.container or t.Spec.Containers[0].Name
        return container_key(t.ID, name) + (".previous" if options.previous else "")

    def _tasks(self, selector: LogSelector) -> list[Task]:
        if selector.service_id:
            return [t for t in self.store.tasks_of_owner(selector.service_id) if t.NodeID]
        cur = self.store.get(Task, selector.task_id) if selector.task_id else None
        return [cur] if cur is not None else []

    async def stream(self, selector: LogSelector, options: LogOptions) -> AsyncGenerator[LogEntry, None]:
        o = options
        dispatcher = self.dispatcher()

        def remote(t: Task) -> LogReader | None:
            """How to read ``t``'s lines when another machine runs it; None: from this node's files."""
            if t.NodeID == self.node_id:
                return None
            if dispatcher is None:
                return self.leader
            sess = dispatcher.sessions.get(t.NodeID)
            return sess.logs if sess is not None and sess.remote else None

        entries: list[LogEntry] = []
        offsets: dict[str, int] = {}
        queue: asyncio.Queue[LogEntry] = asyncio.Queue()
        followers: dict[str, asyncio.Future[None]] = {}

        def entry(t: Task, ll: LogLine) -> LogEntry:
            return LogEntry(t, ll.timestamp, ll.stream, ll.message)

        def name(t: Task) -> str:
            return self.log_name(t, selector, o)

        async def follow_remote(t: Task, reader: LogReader, since: float, tail: int) -> None:
            async for ll in reader(name(t), since=since, tail=tail, follow=True, stdout=o.stdout, stderr=o.stderr):
                await queue.put(entry(t, ll))

        async def follow_local(t: Task, offset: int) -> None:
            async for ll in self.local.follow(name(t), offset, stdout=o.stdout, stderr=o.stderr):
                await queue.put(entry(t, ll))

        try:
            for t in self._tasks(selector):
                reader = remote(t)
                if reader is None:
                    lines, end = self.local.read(name(t), since=o.since, tail=o.tail, stdout=o.stdout, stderr=o.stderr)
                    offsets[t.ID] = end
                    entries.extend(entry(t, ll) for ll in lines)
                elif o.follow:  # the node sends what is there (tail, since) and then what comes
                    followers[t.ID] = asyncio.ensure_future(follow_remote(t, reader, o.since, o.tail))
                else:
                    try:
                        async with asyncio.timeout(REMOTE_READ_TIMEOUT):
                            async for ll in reader(name(t), since=o.since, tail=o.tail, stdout=o.stdout,
                                                   stderr=o.stderr):
                                entries.append(entry(t, ll))
                    except TimeoutError:
                        pass  # a node that does not answer in time contributes what it sent
            entries.sort(key=lambda e: e.timestamp)
            for e in entries:
                yield e
            if not o.follow:
                return

            def start(t: Task) -> None:
                if t.ID in followers:
                    return
                reader = remote(t)
                if reader is None:
                    followers[t.ID] = asyncio.ensure_future(follow_local(t, offsets.get(t.ID, 0)))
                else:
                    followers[t.ID] = asyncio.ensure_future(follow_remote(t, reader, 0.0, -1))

            def on_change(ch: Change) -> None:
                t = ch.new
                if ch.kind != "tasks" or t is None or t.ID in followers or not t.NodeID:
                    return
                if t.Owner.ID == selector.service_id if selector.service_id else t.ID == selector.task_id:
                    start(t)

            unsubscribe = self.store.subscribe(on_change)
            try:
                for t in self._tasks(selector):
                    start(t)
                while True:
                    yield await queue.get()
            finally:
                unsubscribe()
        finally:
            for f in followers.values():
                f.cancel()
