"""A node for the Kubernetes door's tests: the real object API (``KubeObjects``), namespace controller
and garbage collector over an in-memory store, a node update that writes the store, and task logs from a list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from shoal.api.errors import Conflict, ShoalError
from shoal.api.ids import new_id
from shoal.api.kube import BUILTIN_NAMESPACES, Namespace
from shoal.api.nodeinfo import LogEntry, LogOptions, LogSelector
from shoal.api.types import Node, NodeSpec, Task, clone
from shoal.frontdoor.kube.app import make_app
from shoal.manager.kube.gc import GarbageCollector
from shoal.manager.kube.namespaces import NamespaceController
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.workqueue import Controller
from shoal.store.changelog import ChangeLog
from shoal.store.objects import ObjectStore
from tests.unit.helpers import make_node, memory_store


@dataclass
class FakeLogs:
    lines: dict[tuple[str, str], list[tuple[str, bytes]]] = field(default_factory=dict)
    asked: list[tuple[LogSelector, LogOptions]] = field(default_factory=list)
    follow: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)  # lines that come (None: the end)

    async def stream(self, selector: LogSelector, options: LogOptions) -> AsyncGenerator[LogEntry, None]:
        self.asked.append((selector, options))
        found = self.lines.get((selector.task_id, selector.container), [])
        if options.tail >= 0:
            found = found[-options.tail:] if options.tail else []
        for ts, line in found:
            yield LogEntry(task=None, timestamp=ts, stream="stdout", message=line)  # type: ignore[arg-type]
        if options.follow:
            while (more := await self.follow.get()) is not None:
                yield LogEntry(task=None, timestamp="", stream="stdout", message=more)  # type: ignore[arg-type]


class FakeSession:
    """A process that prints its command line and exits 0 (stdin: echoed back)."""

    def __init__(self, command: list[str], stdin: bool) -> None:
        self.command = command
        self.input: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.stdin = stdin
        self.killed = False

    async def write_stdin(self, data: bytes) -> None:
        await self.input.put(data)

    async def close_stdin(self) -> None:
        await self.input.put(None)

    async def stdout(self) -> AsyncIterator[bytes]:
        yield (" ".join(self.command) + "\n").encode()
        if self.stdin:
            while (data := await self.input.get()) is not None:
                yield data

    async def stderr(self) -> AsyncIterator[bytes]:
        return
        yield b""

    async def resize(self, width: int, height: int) -> None:
        pass

    async def wait(self) -> int:
        return 0

    async def kill(self) -> None:
        self.killed = True


class FakeKube(KubeObjects):
    """The real object API, with exec into Pods faked (no agent here)."""

    execs: list[tuple[str, str, list[str]]]

    async def exec(self, pod: Task, container: str, command: list[str], *, tty: bool = False,
                   stdin: bool = False) -> FakeSession:
        self.execs.append((pod.Name, container, command))
        return FakeSession(command, stdin)


class FakeNode:
    """``NodeAPI`` enough for the Kubernetes door."""

    def __init__(self, store: ObjectStore, kube: KubeObjects) -> None:
        self.store = store
        self._kube = kube
        self.log_lines = FakeLogs()
        self.unavailable: ShoalError | None = None

    def kube(self) -> KubeObjects:
        if self.unavailable is not None:
            raise self.unavailable
        return self._kube

    def control(self) -> FakeNode:
        return self

    def logs(self) -> FakeLogs:
        return self.log_lines

    async def check_writable(self) -> None:
        if self.unavailable is not None:
            raise self.unavailable

    def store_failure(self, e: Exception) -> ShoalError | None:
        return None

    async def update_node(self, ref: str, version: int, spec: NodeSpec) -> None:
        n = self.store.get(Node, ref)
        assert n is not None
        if n.Version.Index != version:
            raise Conflict("update out of sequence")
        n = clone(n)
        n.Spec = spec
        await self.store.commit(updates=[n])


@dataclass
class Env:
    client: TestClient
    store: ObjectStore
    kube: FakeKube
    node: FakeNode
    url: str = ""

    async def call(self, method: str, path: str, body: Any = None, ctype: str = "application/json",
                   **kw: Any) -> tuple[int, Any, Any]:
        import json

        data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        headers = dict(kw.pop("headers", {}))
        if data is not None:
            headers["Content-Type"] = ctype
        resp = await self.client.request(method, path, data=data, headers=headers, **kw)
        text = await resp.text()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return resp.status, parsed, resp.headers


@asynccontextmanager
async def serving(bookmark_interval: float = 60.0, controller: bool = True) -> AsyncIterator[Env]:
    """The door over a fresh store with the built-in namespaces and one node, ``node01``."""
    store = await memory_store()
    await store.commit(creates=[Namespace(ID=new_id(), Name=ns) for ns in BUILTIN_NAMESPACES])
    await store.commit(creates=[make_node("node01", role="manager")])
    changes = ChangeLog(store)
    kube = FakeKube(store, changes)
    kube.execs = []
    ns_controller = NamespaceController(store, kube) if controller else None
    gc = GarbageCollector(store, kube) if controller else None
    if ns_controller is not None and gc is not None:
        ns_controller.start()
        gc.start()
    node = FakeNode(store, kube)
    try:
        async with TestClient(TestServer(make_app(node, bookmark_interval=bookmark_interval))) as client:
            yield Env(client, store, kube, node, str(client.make_url("/")).rstrip("/"))
    finally:
        if gc is not None:
            await gc.stop()
        if ns_controller is not None:
            await ns_controller.stop()
        kube.close()
        changes.close()


@asynccontextmanager
async def serving_with(controllers: Callable[[ObjectStore, KubeObjects], list[Controller]],
                       kubelet: Callable[[Env], Awaitable[None]]) -> AsyncIterator[Env]:
    """``serving`` with the controllers ``controllers`` makes running and ``kubelet`` (a fake one: a loop
    that moves the Pods along) running beside them; all stopped at the end, the kubelet first."""
    async with serving() as env:
        running = controllers(env.store, env.kube)
        for c in running:
            c.start()
        loop = asyncio.create_task(kubelet(env))
        try:
            yield env
        finally:
            loop.cancel()
            with suppress(asyncio.CancelledError):
                await loop
            for c in reversed(running):
                await c.stop()
