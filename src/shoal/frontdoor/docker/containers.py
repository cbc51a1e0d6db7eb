"""The Engine API's containers routes (``docker run``, ``ps``, ``logs``, ``exec``, ``stop``, ``rm``, …).

A translator over the node's containers (``nodeapi.Containers``): it reads Docker's query strings and
bodies (decoded leniently: unknown fields are ignored), calls the node, and writes Docker 20.10's
JSON shapes (``GET /containers/json`` summaries with every filter Docker has, the inspect shape,
stats), its status codes (304 for a start of a running container or a stop of a stopped one) and
its streams: logs and attach as Docker's multiplexed frames (8-byte header: stream, three zero
bytes, big-endian length) or raw for a TTY; attach and ``exec`` start hijack the connection
(``Upgrade: tcp`` → 101) and carry the process's stdin too. ``wait`` answers its headers at once
(the CLI waits for them before it starts the container) and its body when the condition is met.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import struct
import subprocess
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import msgspec
from aiohttp import web

from shoal.api.containers import Container, CreateRequest, Stats
from shoal.api.errors import InvalidArgument, NotFound
from shoal.api.humanize import human_duration
from shoal.api.types import parse_ts
from shoal.frontdoor.docker import query
from shoal.nodeapi import Containers, Images, NodeAPI

STREAM = {"stdin": 0, "stdout": 1, "stderr": 2}
ZERO_TIME = "0001-01-01T00:00:00Z"
_BACKGROUND: set[asyncio.Future[None]] = set()  # detached execs being reaped


def _node(request: web.Request) -> NodeAPI:
    from shoal.frontdoor.docker.app import NODE

    return request.app[NODE]


def _containers(request: web.Request) -> Containers:
    return _node(request).local_containers


def _qbool(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "t")


def _qint(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid value for {name}: {raw!r}") from e


def _filters(request: web.Request) -> dict[str, list[str]]:
    return query.filters(request.query)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj) + b"\n", status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    from shoal.frontdoor.docker.app import check_for_json

    check_for_json(request)
    raw = await request.read()
    if not raw.strip():
        return {}
    data = msgspec.json.decode(raw)  # a body that is not JSON: the door's 400 "invalid JSON: …"
    if not isinstance(data, dict):
        raise InvalidArgument("invalid JSON: json: cannot unmarshal into a struct")
    return data


def frame(stream: str, data: bytes) -> bytes:
    return struct.pack(">BxxxL", STREAM.get(stream, 1), len(data)) + data


# ---------------------------------------------------------------- shapes


def _status_text(c: Container) -> str:
    st = c.State
    now = time.time()
    if st.Restarting:
        return f"Restarting ({st.ExitCode}) {human_duration(max(now - parse_ts(st.FinishedAt), 0))} ago"
    if st.Running:
        up = f"Up {human_duration(max(now - parse_ts(st.StartedAt), 0))}"
        if st.Paused:
            return up + " (Paused)"
        if st.Health is not None:
            return up + {"starting": " (health: starting)", "healthy": " (healthy)",
                         "unhealthy": " (unhealthy)"}.get(st.Health.Status, "")
        return up
    if st.Status == "removing":
        return "Removal In Progress"
    if st.Status == "dead":
        return "Dead"
    if st.StartedAt == ZERO_TIME or not parse_ts(st.StartedAt) or st.Status == "created":
        return "Created"
    return f"Exited ({st.ExitCode}) {human_duration(max(now - parse_ts(st.FinishedAt), 0))} ago"


def _network_entry(c: Container) -> dict[str, Any]:
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "", "EndpointID": "",
            "Gateway": c.Gateway, "IPAddress": c.IPAddress, "IPPrefixLen": c.IPPrefixLen, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": c.MacAddress, "DriverOpts": None}


def _networks(c: Container) -> dict[str, Any]:
    """``NetworkSettings.Networks``: the local networks' view when the node keeps them, else the default
    bridge (none for a swarm task's container)."""
    if c.Networks is not None:
        return c.Networks
    return {"bridge": _network_entry(c)} if not c.Task else {}


def _port_rows(c: Container) -> list[dict[str, Any]]:
    """``Ports`` of a ``GET /containers/json`` row, from ``NetworkSettings.Ports``."""
    rows: list[dict[str, Any]] = []
    for key, bindings in (c.Ports or {}).items():
        port, _, proto = key.partition("/")
        for b in bindings or [None]:
            row: dict[str, Any] = {"PrivatePort": int(port), "Type": proto}
            if b is not None:
                row.update({"IP": b["HostIp"], "PublicPort": int(b["HostPort"])})
            rows.append(row)
    return rows


def _command(c: Container) -> str:
    return " ".join([c.Path, *c.Args]).strip()


def summary(c: Container, size: bool = False) -> dict[str, Any]:
    """One row of ``GET /containers/json``."""
    out: dict[str, Any] = {
        "Id": c.ID, "Names": [c.Name], "Image": c.ImageRef, "ImageID": c.Image, "Command": _command(c),
        "Created": int(parse_ts(c.Created)), "Ports": _port_rows(c), "Labels": c.labels, "State": c.State.Status,
        "Status": _status_text(c), "HostConfig": {"NetworkMode": c.NetworkMode},
        "NetworkSettings": {"Networks": _networks(c)},
        "Mounts": c.Mounts,
    }
    if size:
        out["SizeRw"], out["SizeRootFs"] = 0, 0
    return out


def inspect_json(c: Container) -> dict[str, Any]:
    """``GET /containers/{id}/json``: Docker's ContainerJSON."""
    st = msgspec.to_builtins(c.State)
    if c.State.Health is None:
        st.pop("Health", None)
    bridge = _networks(c)
    return {
        "Id": c.ID, "Created": c.Created, "Path": c.Path, "Args": c.Args, "State": st, "Image": c.Image,
        "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": c.LogPath, "Name": c.Name,
        "RestartCount": c.RestartCount, "Driver": "overlay2", "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None, "HostConfig": c.HostConfig,
        "GraphDriver": {"Data": None, "Name": "overlay2"}, "Mounts": c.Mounts, "Config": c.Config,
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "Ports": c.Ports or {}, "SandboxKey": "", "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": c.Gateway, "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "IPAddress": c.IPAddress, "IPPrefixLen": c.IPPrefixLen, "IPv6Gateway": "",
            "MacAddress": c.MacAddress, "Networks": bridge,
        },
    }


def _cpu(s: Stats) -> dict[str, Any]:
    return {"cpu_usage": {"total_usage": s.cpu_total, "percpu_usage": s.percpu or None,
                          "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "system_cpu_usage": s.cpu_system, "online_cpus": s.online_cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def stats_json(c: Container, s: Stats, pre: Stats | None) -> dict[str, Any]:
    blk = [{"major": 0, "minor": 0, "op": "Read", "value": s.blkio_read},
           {"major": 0, "minor": 0, "op": "Write", "value": s.blkio_write}]
    return {
        "read": s.read, "preread": pre.read if pre else ZERO_TIME, "pids_stats": {"current": s.pids},
        "blkio_stats": {"io_service_bytes_recursive": blk, "io_serviced_recursive": None,
                        "io_queue_recursive": None, "io_service_time_recursive": None,
                        "io_wait_time_recursive": None, "io_merged_recursive": None, "io_time_recursive": None,
                        "sectors_recursive": None},
        "num_procs": 0, "storage_stats": {}, "cpu_stats": _cpu(s),
        "precpu_stats": _cpu(pre) if pre else {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                                             "usage_in_usermode": 0},
                                               "throttling_data": {"periods": 0, "throttled_periods": 0,
                                                                   "throttled_time": 0}},
        "memory_stats": {"usage": s.mem_usage, "stats": s.mem_stats, "limit": s.mem_limit} if s.mem_usage else {},
        "name": c.Name, "id": c.ID, "networks": s.networks or None,
    }


# ---------------------------------------------------------------- list and its filters

_STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
_KNOWN = {"id", "name", "label", "status", "ancestor", "before", "since", "exited", "health", "network", "volume",
          "is-task", "publish", "expose"}


def _match_label(labels: dict[str, str], want: str) -> bool:
    k, eq, v = want.partition("=")
    if not eq:
        return k in labels
    return labels.get(k) == v


def _ancestor(images: Images, c: Container, refs: list[str]) -> bool:
    for r in refs:
        img = images.resolve(r)
        if (img is not None and img.ID == c.Image) or r == c.ImageRef or c.Image.removeprefix("sha256:").startswith(r):
            return True
    return False


def select(containers: Containers, images: Images, filters: dict[str, list[str]], all_: bool = False,
           limit: int = -1) -> list[Container]:
    """Docker's ``GET /containers/json`` selection (moby's ``includeContainerInList``)."""
    for k in filters:
        if k not in _KNOWN:
            raise InvalidArgument(f"invalid filter '{k}'")
    for s in filters.get("status", []):
        if s not in _STATUSES:
            raise InvalidArgument(f"invalid filter 'status={s}'")
    for h in filters.get("health", []):
        if h not in ("starting", "healthy", "unhealthy", "none"):
            raise InvalidArgument(f"Unrecognised filter value for health: {h}")
    recs = containers.list(all_=True)
    before = [containers.inspect(r) for r in filters.get("before", [])]
    since = [containers.inspect(r) for r in filters.get("since", [])]
    want_all = all_ or bool(filters.get("status")) or bool(filters.get("exited")) or bool(before) or bool(since)
    out: list[Container] = []
    for c in recs:
        if not want_all and not c.State.Running:
            continue
        if "id" in filters and not any(c.ID.startswith(v) for v in filters["id"]):
            continue
        if "name" in filters and not any(re.search(v, c.Name) or re.search(v, c.Name.lstrip("/"))
                                         for v in filters["name"]):
            continue
        if "label" in filters and not all(_match_label(c.labels, v) for v in filters["label"]):
            continue
        if "status" in filters and c.State.Status not in filters["status"]:
            continue
        if "exited" in filters and (c.State.Running or c.State.Status == "created"
                                    or str(c.State.ExitCode) not in filters["exited"]):
            continue
        if "ancestor" in filters and not _ancestor(images, c, filters["ancestor"]):
            continue
        if before and not parse_ts(c.Created) < min(parse_ts(b.Created) for b in before):
            continue
        if since and not parse_ts(c.Created) > max(parse_ts(s.Created) for s in since):
            continue
        if "health" in filters:
            h = c.State.Health.Status if c.State.Health is not None else "none"
            if h not in filters["health"]:
                continue
        if "network" in filters and (c.Task or not any(n in ("bridge", c.NetworkMode) for n in filters["network"])):
            continue
        if "volume" in filters and not any(m.get("Name") == v or m.get("Source") == v or m.get("Destination") == v
                                           for m in c.Mounts for v in filters["volume"]):
            continue
        if "is-task" in filters:
            want = filters["is-task"][0].lower() in ("1", "true")
            if bool(c.Task) != want:
                continue
        if "publish" in filters or "expose" in filters:
            continue  # no container here publishes or exposes ports yet
        out.append(c)
    out.sort(key=lambda c: parse_ts(c.Created), reverse=True)
    if limit > 0:
        out = out[:limit]
    return out


async def containers_list(request: web.Request) -> web.StreamResponse:
    n = _node(request)
    limit = _qint(request, "limit") or -1
    if _qbool(request, "latest"):
        limit = 1
    recs = select(n.local_containers, n.local_images, _filters(request), _qbool(request, "all") or limit > 0, limit)
    size = _qbool(request, "size")
    return _json([summary(c, size) for c in recs])


# ---------------------------------------------------------------- lifecycle


async def container_create(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    hc = body.pop("HostConfig", None) or {}
    net = body.pop("NetworkingConfig", None) or {}
    req = CreateRequest(name=request.query.get("name", ""), config=body, host_config=hc, networking=net)
    cid, warnings = await _containers(request).create(req)
    return _json({"Id": cid, "Warnings": warnings}, 201)


async def container_inspect(request: web.Request) -> web.StreamResponse:
    c = _containers(request).inspect(request.match_info["id"])
    out = inspect_json(c)
    if _qbool(request, "size"):
        out["SizeRw"], out["SizeRootFs"] = 0, 0
    return _json(out)


async def container_start(request: web.Request) -> web.StreamResponse:
    started = await _containers(request).start(request.match_info["id"])
    return web.Response(status=204 if started else 304)


async def container_stop(request: web.Request) -> web.StreamResponse:
    stopped = await _containers(request).stop(request.match_info["id"], _qint(request, "t"),
                                              request.query.get("signal", ""))
    return web.Response(status=204 if stopped else 304)


async def container_kill(request: web.Request) -> web.StreamResponse:
    await _containers(request).kill(request.match_info["id"], request.query.get("signal", "") or "KILL")
    return web.Response(status=204)


async def container_restart(request: web.Request) -> web.StreamResponse:
    await _containers(request).restart(request.match_info["id"], _qint(request, "t"))
    return web.Response(status=204)


async def container_delete(request: web.Request) -> web.StreamResponse:
    await _containers(request).remove(request.match_info["id"], _qbool(request, "force"), _qbool(request, "v"))
    return web.Response(status=204)


async def _gone(request: web.Request, interval: float = 0.2) -> None:
    """Returns once the client has closed the connection (aiohttp does not cancel the handler then)."""
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(interval)


async def container_wait(request: web.Request) -> web.StreamResponse:
    fut = _containers(request).waiter(request.match_info["id"], request.query.get("condition", "not-running"))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)  # the CLI waits for the headers before it starts the container
    gone = asyncio.ensure_future(_gone(request))
    try:
        both: list[asyncio.Future[Any]] = [fut, gone]
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not fut.done():
            fut.cancel()
    if not fut.done() or fut.cancelled():
        return resp
    code = fut.result()
    with contextlib.suppress(ConnectionError):  # the client went away
        await resp.write(msgspec.json.encode({"Error": None, "StatusCode": code}) + b"\n")
        await resp.write_eof()
    return resp


async def container_pause(request: web.Request) -> web.StreamResponse:
    await _containers(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def container_unpause(request: web.Request) -> web.StreamResponse:
    await _containers(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def container_rename(request: web.Request) -> web.StreamResponse:
    _containers(request).rename(request.match_info["id"], request.query.get("name", ""))
    return web.Response(status=204)


async def containers_prune(request: web.Request) -> web.StreamResponse:
    f = _filters(request)
    until = [parse_ts(u) if not u.replace(".", "").isdigit() else float(u) for u in f.get("until", [])]
    labels = f.get("label", [])
    not_labels = f.get("label!", [])

    def keep(c: Container) -> bool:
        if until and not parse_ts(c.Created) < min(until):
            return True
        if labels and not all(_match_label(c.labels, v) for v in labels):
            return True
        return bool(not_labels and any(_match_label(c.labels, v) for v in not_labels))

    gone = await _containers(request).prune(keep)
    return _json({"ContainersDeleted": gone or None, "SpaceReclaimed": 0})


async def container_resize(request: web.Request) -> web.StreamResponse:
    _containers(request).resize(request.match_info["id"], _qint(request, "w") or 80, _qint(request, "h") or 24)
    return web.Response(status=200)


# ---------------------------------------------------------------- logs, attach


def _since(raw: str) -> float:
    if not raw:
        return 0.0
    try:
        return float(raw)
    except ValueError:
        return parse_ts(raw)


async def container_logs(request: web.Request) -> web.StreamResponse:
    cs = _containers(request)
    c = cs.inspect(request.match_info["id"])
    stdout, stderr = _qbool(request, "stdout"), _qbool(request, "stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail_raw = request.query.get("tail", "all")
    try:
        tail = -1 if tail_raw in ("", "all") else int(tail_raw)
    except ValueError:
        tail = -1
    timestamps = _qbool(request, "timestamps")
    tty = c.tty
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"})
    await resp.prepare(request)
    entries = cs.log_stream(c.ID, since=_since(request.query.get("since", "")),
                            until=_since(request.query.get("until", "")), tail=tail,
                            follow=_qbool(request, "follow"), stdout=stdout, stderr=stderr)
    gone = asyncio.ensure_future(_gone(request))
    try:
        async for ts, stream, msg in _until(entries, gone):
            line = (ts.encode() + b" " if timestamps else b"") + msg + b"\n"
            await resp.write(line if tty else frame(stream, line))
        if not gone.done():
            await resp.write_eof()
    finally:
        gone.cancel()
    return resp


class _RawReader:
    """The bytes a client sends after a hijacked request (aiohttp hands them here instead of to its parser)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            data = await self.queue.get()
            if not data:
                return
            yield data


class _Hijacked(asyncio.Protocol):
    """The connection's protocol once hijacked: the client's bytes go to the reader, and its
    half-close (the CLI closes its writing side when it has no more stdin) leaves ours open."""

    def __init__(self, orig: Any, reader: _RawReader) -> None:
        self.orig = orig
        self.reader = reader

    def data_received(self, data: bytes) -> None:
        self.reader.feed_data(data)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return True  # keep the transport open: the output still goes out

    def pause_writing(self) -> None:
        self.orig.pause_writing()

    def resume_writing(self) -> None:
        self.orig.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reader.feed_eof()
        self.orig.connection_lost(exc)


async def _hijack(request: web.Request, tty: bool) -> tuple[web.StreamResponse, _RawReader]:
    """Answer 101 (``Upgrade: tcp``) or 200 and take the connection over, as dockerd's hijack does."""
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    ctype = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    headers = {"Content-Type": ctype}
    if upgrade:
        headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
    resp = web.StreamResponse(status=101 if upgrade else 200, headers=headers)
    reader = _RawReader()
    request.protocol.set_parser(cast(Any, reader))  # the bytes that come before the swap below
    await resp.prepare(request)
    if request.transport is not None:
        request.transport.set_protocol(_Hijacked(request.protocol, reader))
    return resp, reader


def _close(request: web.Request, resp: web.StreamResponse) -> None:
    resp.force_close()
    if request.transport is not None:
        request.transport.close()


def _detach_keys(raw: str) -> bytes:
    """Docker's detach keys (``ctrl-p,ctrl-q``) as bytes."""
    out = b""
    for k in (raw or "ctrl-p,ctrl-q").split(","):
        k = k.strip()
        if k.startswith("ctrl-") and len(k) == 6:
            c = k[5]
            out += bytes([ord(c.upper()) & 0x1F if c.isalpha() else {"@": 0, "[": 27, "\\": 28, "]": 29,
                                                                       "^": 30, "_": 31}.get(c, 0)])
        elif len(k) == 1:
            out += k.encode()
    return out


async def container_attach(request: web.Request) -> web.StreamResponse:
    cs = _containers(request)
    c = cs.inspect(request.match_info["id"])
    if c.Task:
        raise InvalidArgument("attaching to a swarm task's container is not supported by shoal")
    stream = _qbool(request, "stream")
    want_out, want_err = _qbool(request, "stdout"), _qbool(request, "stderr")
    resp, reader = await _hijack(request, c.tty)
    if not stream:
        _close(request, resp)
        return resp
    keys = _detach_keys(request.query.get("detachKeys", ""))
    feed = _qbool(request, "stdin") and (c.tty or bool(c.Config.get("OpenStdin")))

    async def stdin() -> None:
        """The client's input, to the container's terminal or stdin; returns at the detach keys."""
        seen = b""
        async for data in reader.chunks():
            seen = (seen + data)[-len(keys):] if keys and c.tty else b""
            if keys and c.tty and seen == keys:
                return
            if feed:
                await cs.attach_input(c.ID, data)
        if feed:
            await cs.attach_close_input(c.ID)
        await asyncio.Event().wait()  # the client closed its side: keep sending output

    detach = asyncio.ensure_future(_first(stdin(), _gone(request)))
    try:
        async for name, msg in _until(cs.attach_output(c.ID), detach):
            if c.tty:
                if want_out:
                    await resp.write(msg)  # the terminal's raw bytes
            elif (name == "stdout" and want_out) or (name == "stderr" and want_err):
                await resp.write(frame(name, msg + b"\n"))
    finally:
        detach.cancel()
        _close(request, resp)
    return resp


async def _first(*coros: Any) -> None:
    """Returns when the first of ``coros`` does (the others are cancelled)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _until(source: AsyncIterator[Any], stop: asyncio.Future[Any]) -> AsyncIterator[Any]:
    """``source``'s items until ``stop`` is done (``source`` is closed then)."""
    it = source.__aiter__()
    try:
        while not stop.done():
            nxt = asyncio.ensure_future(it.__anext__())
            await asyncio.wait([nxt, stop], return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                nxt.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await nxt
                return
            try:
                item = nxt.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if isinstance(it, AsyncGenerator):
            with contextlib.suppress(RuntimeError):
                await it.aclose()


# ---------------------------------------------------------------- exec


async def exec_create(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    eid = _containers(request).exec_create(request.match_info["id"], body)
    return _json({"Id": eid}, 201)


async def exec_start(request: web.Request) -> web.StreamResponse:
    cs = _containers(request)
    eid = request.match_info["id"]
    body = await _body(request)
    info = cs.exec_inspect(eid)
    tty = bool(body.get("Tty", info.Tty))
    detach = bool(body.get("Detach"))
    session = await cs.exec_start(eid, tty)
    size = body.get("ConsoleSize")
    if tty and isinstance(size, list) and len(size) == 2 and all(size):
        await session.resize(int(size[1]), int(size[0]))
    if detach:
        async def reap() -> None:
            async for _ in session.stdout():
                pass
            cs.exec_done(eid, await session.wait())
        _BACKGROUND.add(t := asyncio.ensure_future(reap()))
        t.add_done_callback(_BACKGROUND.discard)
        return web.Response(status=200)
    resp, reader = await _hijack(request, tty)

    async def pump_in() -> None:
        async for data in reader.chunks():
            await session.write_stdin(data)
        await session.close_stdin()

    async def pump(out: AsyncIterator[bytes], name: str) -> None:
        async for data in out:
            await resp.write(data if tty else frame(name, data))

    feeder = asyncio.ensure_future(pump_in()) if info.AttachStdin else None
    try:
        await asyncio.gather(pump(session.stdout(), "stdout"), pump(session.stderr(), "stderr"))
        code = await session.wait()
        cs.exec_done(eid, code)
    except (ConnectionResetError, asyncio.CancelledError):
        await session.kill()
        cs.exec_done(eid, 137)
        raise
    finally:
        if feeder is not None:
            feeder.cancel()
        _close(request, resp)
    return resp


async def exec_resize(request: web.Request) -> web.StreamResponse:
    await _containers(request).exec_resize(request.match_info["id"], _qint(request, "w") or 80,
                                           _qint(request, "h") or 24)
    return web.Response(status=201)


async def exec_inspect(request: web.Request) -> web.StreamResponse:
    info = _containers(request).exec_inspect(request.match_info["id"])
    return _json({
        "ID": info.ID, "Running": info.Running, "ExitCode": info.ExitCode, "ProcessConfig": {
            "tty": info.Tty, "entrypoint": info.Cmd[0], "arguments": info.Cmd[1:], "privileged": info.Privileged,
            "user": info.User},
        "OpenStdin": info.AttachStdin, "OpenStderr": info.AttachStderr, "OpenStdout": info.AttachStdout,
        "CanRemove": False, "ContainerID": info.ContainerID, "DetachKeys": info.DetachKeys, "Pid": info.Pid,
    })


# ---------------------------------------------------------------- top, stats


async def container_top(request: web.Request) -> web.StreamResponse:
    pids = set(_containers(request).pids(request.match_info["id"]))
    args = request.query.get("ps_args", "") or "-ef"
    proc = await asyncio.create_subprocess_exec("ps", *args.split(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode:
        raise InvalidArgument(f"Error running ps: {err.decode(errors='replace').strip()}")
    lines = out.decode(errors="replace").splitlines()
    if not lines:
        return _json({"Titles": [], "Processes": []})
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    col = titles.index("PID")
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            procs.append(fields)
    return _json({"Titles": titles, "Processes": procs})


async def container_stats(request: web.Request) -> web.StreamResponse:
    cs = _containers(request)
    ref = request.match_info["id"]
    stream = _qbool(request, "stream", True)
    one_shot = _qbool(request, "one-shot")
    c, first = cs.stats(ref)
    if not stream:
        pre: Stats | None = None
        if not one_shot and cs.is_running(ref):
            pre = first
            await asyncio.sleep(1.0)
            c, first = cs.stats(ref)
        return _json(stats_json(c, first, pre))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    pre = None
    recent: deque[Stats] = deque(maxlen=1)
    while True:
        c, s = cs.stats(ref)
        await resp.write(msgspec.json.encode(stats_json(c, s, pre)) + b"\n")
        recent.append(s)
        pre = s
        if not cs.is_running(ref):
            break
        await asyncio.sleep(1.0)
    await resp.write_eof()
    return resp


# ---------------------------------------------------------------- archive (docker cp)


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required")
    return path


def _stat_header(stat: dict[str, Any]) -> str:
    import base64

    return base64.b64encode(json.dumps(stat).encode()).decode()


async def archive_head(request: web.Request) -> web.StreamResponse:
    stat = _containers(request).path_stat(request.match_info["id"], _path(request))
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": _stat_header(stat)})


async def archive_get(request: web.Request) -> web.StreamResponse:
    cs = _containers(request)
    ref, path = request.match_info["id"], _path(request)
    stat = cs.path_stat(ref, path)
    data = await asyncio.to_thread(cs.get_archive, ref, path)
    return web.Response(body=data, status=200, headers={"X-Docker-Container-Path-Stat": _stat_header(stat),
                                                        "Content-Type": "application/x-tar"})


async def archive_put(request: web.Request) -> web.StreamResponse:
    cs = _containers(request)
    ref, path = request.match_info["id"], _path(request)
    data = await request.read()
    try:
        await asyncio.to_thread(cs.put_archive, ref, path, data)
    except NotFound:
        raise
    return web.Response(status=200)


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/containers/json", containers_list),
    ("POST", "/containers/create", container_create),
    ("POST", "/containers/prune", containers_prune),
    ("GET", "/containers/{id}/json", container_inspect),
    ("POST", "/containers/{id}/start", container_start),
    ("POST", "/containers/{id}/stop", container_stop),
    ("POST", "/containers/{id}/kill", container_kill),
    ("POST", "/containers/{id}/restart", container_restart),
    ("POST", "/containers/{id}/wait", container_wait),
    ("POST", "/containers/{id}/pause", container_pause),
    ("POST", "/containers/{id}/unpause", container_unpause),
    ("POST", "/containers/{id}/rename", container_rename),
    ("POST", "/containers/{id}/resize", container_resize),
    ("POST", "/containers/{id}/attach", container_attach),
    ("GET", "/containers/{id}/logs", container_logs),
    ("GET", "/containers/{id}/top", container_top),
    ("GET", "/containers/{id}/stats", container_stats),
    ("HEAD", "/containers/{id}/archive", archive_head),
    ("GET", "/containers/{id}/archive", archive_get),
    ("PUT", "/containers/{id}/archive", archive_put),
    ("DELETE", "/containers/{id}", container_delete),
    ("POST", "/containers/{id}/exec", exec_create),
    ("POST", "/exec/{id}/start", exec_start),
    ("POST", "/exec/{id}/resize", exec_resize),
    ("GET", "/exec/{id}/json", exec_inspect),
]
