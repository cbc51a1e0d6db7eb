"""Into a Pod on another node: ``kubectl exec`` and ``port-forward`` through that node's dispatcher
session (its agent's WebSocket to the leader).

``RemotePods`` is a ``PodAccess`` for one node's session: it sends ``StreamOpen`` (``protocol.py``)
and waits for the node's answer ("open", or ``StreamEnd`` with the error, raised in the same words
and kind as on the node itself). Then an exec is a ``RemoteExec`` (``api.kube.ExecSession``): its
stdin, end of input, resizes and kill go out as ``StreamData`` / ``StreamControl``, its output comes
back as ``StreamData``, its exit code as ``StreamEnd``. A dial is a socket pair: one end is the
caller's (asyncio streams), the other is pumped to and from the node's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from shoal.api import errors
from shoal.api.ids import new_id
from shoal.api.kube import ExecSession
from shoal.manager.dispatcher import Session
from shoal.protocol import StreamControl, StreamData, StreamEnd, StreamOpen

_PUMPS: set[asyncio.Future[None]] = set()
OPEN_TIMEOUT = 15.0  # seconds a node has to start an exec or make a connection

_ERRORS: dict[str, type[errors.ShoalError]] = {
    "FailedPrecondition": errors.FailedPrecondition, "NotFound": errors.NotFound,
    "Unavailable": errors.Unavailable, "InvalidArgument": errors.InvalidArgument,
}


class _Stream:
    """One stream's messages from the node, as they come."""

    def __init__(self, session: Session, sid: str) -> None:
        self.session = session
        self.id = sid
        self.inbox: asyncio.Queue[StreamData | StreamEnd | None] = asyncio.Queue()
        session.streams[sid] = self.inbox.put_nowait

    async def open(self, msg: StreamOpen) -> None:
        """Send the open request; raise the node's error if it could not."""
        self.session.outbox.put_nowait(msg)
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                first = await self.inbox.get()
        except TimeoutError:
            self.forget()
            raise errors.Unavailable(f"node {self.session.node_id} did not answer") from None
        if isinstance(first, StreamEnd) or first is None:
            self.forget()
            err = first.error if first is not None else "the node's session closed"
            kind = _ERRORS.get(first.error_kind if first is not None else "", errors.Unavailable)
            raise kind(err)

    def send(self, msg: StreamData | StreamControl) -> None:
        self.session.outbox.put_nowait(msg)

    def forget(self) -> None:
        self.session.streams.pop(self.id, None)


class RemoteExec:
    """An exec on another node (``ExecSession``)."""

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.err: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.code: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._router = asyncio.ensure_future(self._route())

    async def _route(self) -> None:
        try:
            while True:
                msg = await self.stream.inbox.get()
                if isinstance(msg, StreamData):
                    (self.err if msg.stream == "stderr" else self.out).put_nowait(msg.data)
                    continue
                if not self.code.done():
                    self.code.set_result(msg.code if msg is not None else 255)
                return
        finally:
            self.out.put_nowait(None)
            self.err.put_nowait(None)
            self.stream.forget()

    async def write_stdin(self, data: bytes) -> None:
        self.stream.send(StreamData(id=self.stream.id, data=data))

    async def close_stdin(self) -> None:
        self.stream.send(StreamControl(id=self.stream.id, eof=True))

    @staticmethod
    async def _drain(q: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        while True:
            data = await q.get()
            if data is None:
                return
            yield data

    def stdout(self) -> AsyncIterator[bytes]:
        return self._drain(self.out)

    def stderr(self) -> AsyncIterator[bytes]:
        return self._drain(self.err)

    async def resize(self, width: int, height: int) -> None:
        self.stream.send(StreamControl(id=self.stream.id, width=width, height=height))

    async def wait(self) -> int:
        return await asyncio.shield(self.code)

    async def kill(self) -> None:
        self.stream.send(StreamControl(id=self.stream.id, kill=True))


class RemotePods:
    """``PodAccess`` for the Pods of the node of one dispatcher session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.node_id = session.node_id

    async def exec(self, task_id: str, container: str, command: list[str], *, tty: bool = False,
                   stdin: bool = False) -> ExecSession:
        stream = _Stream(self.session, new_id())
        await stream.open(StreamOpen(id=stream.id, kind="exec", task_id=task_id, container=container,
                                     command=command, tty=tty, stdin=stdin))
        return RemoteExec(stream)

    async def dial(self, task_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        stream = _Stream(self.session, new_id())
        await stream.open(StreamOpen(id=stream.id, kind="dial", task_id=task_id, port=port))
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=theirs)
        inner_r, inner_w = await asyncio.open_connection(sock=mine)
        for coro in (self._to_node(stream, inner_r), self._from_node(stream, inner_w)):
            pump = asyncio.ensure_future(coro)
            _PUMPS.add(pump)  # held until done (the loop keeps only weak references)
            pump.add_done_callback(_PUMPS.discard)
        return reader, writer

    @staticmethod
    async def _to_node(stream: _Stream, r: asyncio.StreamReader) -> None:
        """The caller's bytes to the node; its end of writing is the connection's half-close."""
        try:
            while True:
                data = await r.read(32 * 1024)
                if not data:
                    stream.send(StreamControl(id=stream.id, eof=True))
                    return
                stream.send(StreamData(id=stream.id, data=data))
        except (ConnectionError, OSError):
            stream.send(StreamControl(id=stream.id, kill=True))

    @staticmethod
    async def _from_node(stream: _Stream, w: asyncio.StreamWriter) -> None:
        """The node's bytes to the caller, until the node closes the connection."""
        try:
            while True:
                msg = await stream.inbox.get()
                if not isinstance(msg, StreamData):
                    return
                w.write(msg.data)
                await w.drain()
        except (ConnectionError, OSError):
            stream.send(StreamControl(id=stream.id, kill=True))
        finally:
            stream.forget()
            with contextlib.suppress(OSError, RuntimeError):
                w.close()
