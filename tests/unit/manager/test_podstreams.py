"""exec and dial into a Pod of another node, through its dispatcher session: the leader's side
(``manager/kube/podstreams.py``) and the node's (``agent/podstreams.py``) wired by their messages,
each encoded and decoded as on the WebSocket; the node's ``LocalPods`` runs the command on this
machine (a fake runtime that runs it as it is) and dials in this network namespace."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.agent.podstreams import Streams
from shoal.api.errors import FailedPrecondition
from shoal.api.types import NodeDescription
from shoal.manager.dispatcher import Dispatcher, Session
from shoal.manager.kube.podstreams import RemotePods
from shoal.protocol import (
    AGENT_MESSAGES,
    MANAGER_MESSAGES,
    AgentMessage,
    StreamControl,
    StreamData,
    StreamEnd,
    StreamOpen,
    encode,
)
from shoal.runtime.base import RuntimeError_
from shoal.runtime.podaccess import LocalPods

from ..helpers import memory_store


class Target:
    """A runtime whose containers are this machine: the command runs as it is."""

    def exec_command(self, task_id: str, name: str, argv: list[str], tty: bool) -> list[str]:
        if name != "app":
            raise RuntimeError_(f'container not found ("{name}")')
        return argv


@pytest.fixture
async def remote() -> AsyncIterator[RemotePods]:
    store = await memory_store()
    d = Dispatcher(store)
    sess: Session = await d.register("n2", NodeDescription(Hostname="n2"), "10.0.0.2")
    sess.remote = True
    pods = LocalPods("n2", Target(), lambda task_id: Path("/proc/self/ns/net") if task_id == "t1" else None)

    async def to_manager(msg: AgentMessage) -> bool:
        decoded = AGENT_MESSAGES.decode(encode(msg))
        assert isinstance(decoded, StreamData | StreamEnd)
        sess.stream_message(decoded)
        return True

    node = Streams(lambda: pods, to_manager)

    async def to_node() -> None:
        while True:
            msg = MANAGER_MESSAGES.decode(encode(await sess.outbox.get()))
            if isinstance(msg, StreamOpen):
                node.start(msg)
            elif isinstance(msg, StreamData | StreamControl):
                node.input(msg)

    pump = asyncio.ensure_future(to_node())
    yield RemotePods(sess)
    pump.cancel()
    node.close()
    with contextlib.suppress(asyncio.CancelledError):
        await pump
    await d.stop()


async def collect(it: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in it])


async def test_exec_with_pipes_stdin_and_the_exit_code(remote: RemotePods) -> None:
    s = await remote.exec("t1", "app", ["sh", "-c", "echo out; echo err >&2; cat; exit 4"], stdin=True)
    out = asyncio.ensure_future(collect(s.stdout()))
    err = asyncio.ensure_future(collect(s.stderr()))
    await s.write_stdin(b"piped\n")
    await s.close_stdin()
    assert await asyncio.wait_for(s.wait(), 10) == 4
    assert await out == b"out\npiped\n" and await err == b"err\n"


async def test_exec_with_a_tty(remote: RemotePods) -> None:
    s = await remote.exec("t1", "app", ["sh", "-c", "tty; stty size; echo tty-ok"], tty=True)
    await s.resize(100, 30)
    text = (await asyncio.wait_for(collect(s.stdout()), 10)).decode()
    assert await s.wait() == 0
    assert "/dev/pts/" in text and "tty-ok" in text, text


async def test_exec_refused_on_the_node_is_raised_in_its_words(remote: RemotePods) -> None:
    with pytest.raises(FailedPrecondition) as e:
        await remote.exec("t1", "nope", ["true"])
    assert e.value.message == 'container not found ("nope")'


@pytest.mark.skipif(os.geteuid() != 0, reason="entering a network namespace needs root")
async def test_dial_reaches_a_server_in_the_pods_namespace(remote: RemotePods) -> None:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        data = await r.read(100)
        w.write(b"echo:" + data)
        await w.drain()
        w.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await remote.dial("t1", port)
        writer.write(b"hello")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b"echo:hello"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
