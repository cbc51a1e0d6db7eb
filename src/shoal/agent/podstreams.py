"""The node's side of an exec or dial into one of its Pods asked for by the leader (``kubectl exec`` and
``port-forward`` of a Pod on this node, through the dispatcher session: ``manager/kube/podstreams.py``).

``Streams`` serves each ``StreamOpen`` with the node's ``LocalPods`` (``runtime/podaccess.py``): it
answers "open" (or ``StreamEnd`` with the error and its kind), sends the output as ``StreamData``
and, for an exec, the exit code as ``StreamEnd``; it takes the input (``StreamData``) and the
controls (end of input, a resize, kill) that come for it. Closing the session closes every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from shoal.api.errors import ShoalError
from shoal.api.kube import ExecSession
from shoal.protocol import AgentMessage, StreamControl, StreamData, StreamEnd, StreamOpen
from shoal.runtime.podaccess import LocalPods

Send = Callable[[AgentMessage], Awaitable[bool]]
CHUNK = 32 * 1024


@dataclass(eq=False)
class _Open:
    task: asyncio.Task[None] | None = None
    exec: ExecSession | None = None
    writer: asyncio.StreamWriter | None = None
    inbox: asyncio.Queue[StreamData | StreamControl] = field(default_factory=asyncio.Queue)  # in order


class Streams:
    """The open streams of one session (see the module's docstring)."""

    def __init__(self, pods: Callable[[], LocalPods | None], send: Send) -> None:
        self.pods = pods
        self.send = send
        self.open: dict[str, _Open] = {}

    def start(self, msg: StreamOpen) -> None:
        s = _Open()
        self.open[msg.id] = s
        s.task = asyncio.ensure_future(self._serve(msg, s))

    def input(self, msg: StreamData | StreamControl) -> None:
        s = self.open.get(msg.id)
        if s is None:
            return
        s.inbox.put_nowait(msg)

    def close(self) -> None:
        for s in list(self.open.values()):
            if s.task is not None:
                s.task.cancel()
        self.open.clear()

    async def _consume(self, s: _Open) -> None:
        """The input of an open stream, in the order it came."""
        while True:
            await self._apply(s, await s.inbox.get())

    async def _apply(self, s: _Open, msg: StreamData | StreamControl) -> None:
        with contextlib.suppress(OSError, ConnectionError, RuntimeError):
            if s.exec is not None:
                if isinstance(msg, StreamData):
                    await s.exec.write_stdin(msg.data)
                elif msg.kill:
                    await s.exec.kill()
                elif msg.eof:
                    await s.exec.close_stdin()
                elif msg.width and msg.height:
                    await s.exec.resize(msg.width, msg.height)
            elif s.writer is not None:
                if isinstance(msg, StreamData):
                    s.writer.write(msg.data)
                    await s.writer.drain()
                elif msg.kill:
                    s.writer.close()
                elif msg.eof and s.writer.can_write_eof():
                    s.writer.write_eof()

    async def _pump(self, sid: str, stream: str, chunks: AsyncIterator[bytes]) -> None:
        async for data in chunks:
            await self.send(StreamData(id=sid, data=data, stream=stream))

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                return
            yield data

    async def _serve(self, msg: StreamOpen, s: _Open) -> None:
        code = 0
        consumer: asyncio.Future[None] | None = None
        try:
            pods = self.pods()
            if pods is None:
                await self.send(StreamEnd(id=msg.id, error="this node cannot reach into its Pods",
                                          error_kind="FailedPrecondition"))
                return
            try:
                if msg.kind == "exec":
                    s.exec = await pods.exec(msg.task_id, msg.container, msg.command, tty=msg.tty, stdin=msg.stdin)
                else:
                    reader, s.writer = await pods.dial(msg.task_id, msg.port)
            except ShoalError as e:
                await self.send(StreamEnd(id=msg.id, error=e.message, error_kind=type(e).__name__))
                return
            await self.send(StreamData(id=msg.id, stream="open"))
            consumer = asyncio.ensure_future(self._consume(s))
            if s.exec is not None:
                await asyncio.gather(self._pump(msg.id, "stdout", s.exec.stdout()),
                                     self._pump(msg.id, "stderr", s.exec.stderr()))
                code = await s.exec.wait()
            else:
                with contextlib.suppress(OSError, ConnectionError):
                    await self._pump(msg.id, "stdout", self._read(reader))
            await self.send(StreamEnd(id=msg.id, code=code))
        finally:
            if consumer is not None:
                consumer.cancel()
            self.open.pop(msg.id, None)
            if s.exec is not None and s.task is not None and s.task.cancelled():
                with contextlib.suppress(Exception):
                    await s.exec.kill()
            if s.writer is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    s.writer.close()

