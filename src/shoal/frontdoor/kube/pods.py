"""The subresources of a Pod beyond its status: ``log`` (text, followed as a chunked stream),
``exec``/``attach`` and ``portforward`` (upgraded connections, ``streams.py``) and ``eviction`` (a
graceful deletion, as ``kubectl drain`` asks for it).

The container of ``log`` and ``exec`` defaults to the Pod's only container; with several, the client
must name one (400 ``a container name must be specified for pod two, choose one of: [a b]``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web

from shoal.api.nodeinfo import LogEntry, LogOptions, LogSelector
from shoal.api.types import Task
from shoal.frontdoor.kube import status, streams
from shoal.frontdoor.kube.replies import KubeError, reply
from shoal.frontdoor.kube.rest import Door, Target, qbool, qint, read_body, since_of


def container_of(pod: Task, asked: str, name: str) -> str:
    """The container a request is about: the one asked for, or the Pod's only one."""
    main = [c.Name for c in pod.Spec.Containers]
    init = [c.Name for c in pod.Spec.InitContainers or []]
    if not asked:
        if len(main) == 1:
            return main[0]
        text = f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]"
        if init:
            text += f" or one of the init containers: [{' '.join(init)}]"
        raise KubeError(status.bad_request(text))
    if asked not in main and asked not in init:
        raise KubeError(status.bad_request(f"container {asked} is not valid for pod {name}"))
    return asked


def _timestamp(ts: str) -> str:
    """A log line's time as the kubelet prints it with ``timestamps=true`` (RFC 3339, nanoseconds)."""
    return ts or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


async def logs(request: web.Request, door: Door, target: Target) -> web.StreamResponse:
    """``GET …/pods/NAME/log``: the container's output as text (``follow``: streamed as it comes)."""
    pod: Task = door.current(target)
    container = container_of(pod, request.query.get("container", ""), target.name)
    tail = qint(request, "tailLines")
    limit = qint(request, "limitBytes")
    follow = qbool(request, "follow")
    opts = LogOptions(since=since_of(request), tail=-1 if tail is None else tail, follow=follow,
                      previous=qbool(request, "previous"))
    stamps = qbool(request, "timestamps")
    entries = door.node.logs().stream(LogSelector(task_id=pod.ID, container=container), opts)
    resp = web.StreamResponse(status=200)
    resp.content_type = "text/plain"
    if follow:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    written = 0
    try:
        async for e in entries:
            line = e.message + b"\n"
            if stamps:
                line = _timestamp(e.timestamp).encode() + b" " + line
            if limit is not None and written + len(line) > limit:
                await resp.write(line[: limit - written])
                break
            written += len(line)
            await resp.write(line)
    except ConnectionError:
        return resp
    finally:
        with contextlib.suppress(BaseException):
            await entries.aclose()
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp


class _Attached:
    """``attach`` to a container as shoal offers it: its output from now on, as it comes (its main
    process's stdin is not kept open by the runtimes, so what the client types is dropped). Ends when
    the client leaves; the container runs on."""

    def __init__(self, entries: AsyncIterator[LogEntry]) -> None:
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._err: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._done = asyncio.Event()
        self._pump = asyncio.get_running_loop().create_task(self._run(entries))

    async def _run(self, entries: AsyncIterator[LogEntry]) -> None:
        try:
            async for e in entries:
                await (self._err if e.stream == "stderr" else self._out).put(e.message + b"\n")
        finally:
            await self._out.put(None)
            await self._err.put(None)
            self._done.set()

    async def write_stdin(self, data: bytes) -> None:
        return None

    async def close_stdin(self) -> None:
        return None

    @staticmethod
    async def _drain(q: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        while (chunk := await q.get()) is not None:
            yield chunk

    def stdout(self) -> AsyncIterator[bytes]:
        return self._drain(self._out)

    def stderr(self) -> AsyncIterator[bytes]:
        return self._drain(self._err)

    async def resize(self, width: int, height: int) -> None:
        return None

    async def wait(self) -> int:
        await self._done.wait()
        return 0

    async def kill(self) -> None:
        self._pump.cancel()


async def exec_(request: web.Request, door: Door, target: Target) -> web.StreamResponse:
    """``exec`` (a new process) and ``attach`` (the container's output as it comes, ``_Attached``),
    over WebSocket channels or SPDY."""
    pod: Task = door.current(target)
    try:
        opts = streams.parse_exec_query(request)
    except streams.ExecQueryError as e:
        raise KubeError(status.bad_request(str(e))) from None
    container = container_of(pod, opts.container, target.name)
    if not streams.wants_upgrade(request):
        raise KubeError(status.bad_request("Upgrade request required"))
    if target.sub == "attach":
        entries = door.node.logs().stream(LogSelector(task_id=pod.ID, container=container),
                                          LogOptions(tail=0, follow=True))
        attached = _Attached(entries)
        try:
            return await streams.serve_exec(request, attached, options=opts, attach=True)
        finally:
            await attached.kill()
    if not opts.command:
        raise KubeError(status.bad_request("you must specify at least one command for the container"))
    session = await door.kube().exec(pod, container, opts.command, tty=opts.tty, stdin=opts.stdin)
    return await streams.serve_exec(request, session, options=opts, attach=False)


async def portforward(request: web.Request, door: Door, target: Target) -> web.StreamResponse:
    """``portforward``: TCP connections to the Pod's ports, inside its network namespace."""
    pod: Task = door.current(target)
    kube = door.kube()

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await kube.dial(pod, port)

    return await streams.serve_portforward(request, dial, pod_uid=pod.ID)


async def eviction(request: web.Request, door: Door, target: Target) -> web.StreamResponse:
    """``POST …/pods/NAME/eviction`` (policy/v1 Eviction): the Pod deleted gracefully; 201 Success."""
    await door.node.check_writable()
    body = await read_body(request)
    if not isinstance(body, dict):
        raise KubeError(status.bad_request("the body of an eviction must be an object"))
    name = (body.get("metadata") or {}).get("name") or target.name
    if name != target.name:
        raise KubeError(status.bad_request(f"name in URL does not match name in Eviction object: {target.name}, "
                                           f"{name}"))
    opts = body.get("deleteOptions") or {}
    grace = opts.get("gracePeriodSeconds")
    pre = opts.get("preconditions") or {}
    door.current(target)
    await door.kube().delete("tasks", target.namespace, target.name,
                             grace_seconds=grace if isinstance(grace, int) else None, uid=str(pre.get("uid") or ""),
                             dry_run=bool(opts.get("dryRun")))
    return reply({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)
