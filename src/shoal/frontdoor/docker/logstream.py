"""``GET /services/{id}/logs`` and ``GET /tasks/{id}/logs``: task logs as Docker's stream.

The core's log service (``nodeapi.Logs``) decides where each task's lines are read and learns of
tasks started later; this module maps the query (``follow``, ``timestamps``, ``details``, ``stdout``,
``stderr``, ``tail``, ``since``) to its options and frames each line. Each line is written as a frame
of Docker's multiplexed stream (8-byte header: stream type, three zero bytes, big-endian length), or
raw for a TTY service. With ``timestamps`` the line starts with its RFC 3339 time; with ``details`` it
carries ``com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=…`` as
dockerd writes it, which the docker CLI turns into the ``name.slot.task@node |`` prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from aiohttp import web

from shoal.api.errors import InvalidArgument
from shoal.api.nodeinfo import LogEntry, LogOptions, LogSelector
from shoal.api.types import Service, Task, first_container, service_id_of
from shoal.frontdoor.docker.query import bool_value
from shoal.nodeapi import Logs

STREAM_TYPE = {"stdout": 1, "stderr": 2}


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


def _line(e: LogEntry, timestamps: bool, details: bool) -> bytes:
    out = b""
    if timestamps:
        out += e.timestamp.encode() + b" "
    if details:
        t = e.task
        out += (f"com.docker.swarm.node.id={t.NodeID},com.docker.swarm.service.id={service_id_of(t)},"
                f"com.docker.swarm.task.id={t.ID} ").encode()
    return out + e.message + b"\n"


def options_of(request: web.Request) -> LogOptions:
    q = request.query
    stdout = bool_value(q, "stdout")
    stderr = bool_value(q, "stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail_raw = q.get("tail", "all")
    tail = -1 if tail_raw in ("", "all") else int(tail_raw)
    return LogOptions(since=_since(q.get("since", "")), tail=tail, follow=bool_value(q, "follow"),
                      stdout=stdout, stderr=stderr)


async def serve(request: web.Request, logs: Logs, service: Service | None = None,
                task: Task | None = None) -> web.StreamResponse:
    q = request.query
    timestamps = bool_value(q, "timestamps")
    details = bool_value(q, "details")
    options = options_of(request)
    spec = (service.Spec.TaskTemplate if service else task.Spec if task else None)
    first = first_container(spec) if spec else None
    tty = bool(first and first.TTY)
    selector = LogSelector(service_id=service.ID) if service is not None else LogSelector(
        task_id=task.ID if task is not None else "")
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    })
    await resp.prepare(request)
    try:
        async with contextlib.aclosing(logs.stream(selector, options)) as lines:
            async for e in lines:
                await resp.write(_frame(tty, e.stream, _line(e, timestamps, details)))
    except (ConnectionResetError, asyncio.CancelledError):
        if not options.follow:
            raise
        return resp
    await resp.write_eof()
    return resp
