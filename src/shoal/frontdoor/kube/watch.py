"""``?watch=true``: a collection's changes as a chunked stream of newline-separated
``{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": …}`` (one-row Tables when the client's
Accept asks for Tables, the column definitions in the first only).

The core's watch (``Kube.watch``) gives the changes after the ``resourceVersion`` asked for (none or
``0``: the current objects as ADDED first). The selectors filter the objects: one that stops matching
is sent as DELETED. ``allowWatchBookmarks`` sends a BOOKMARK (only ``metadata.resourceVersion``) every
``bookmark_interval`` seconds; ``timeoutSeconds`` ends the stream cleanly; a ``resourceVersion``
older than the history kept is answered 410 ``Expired`` (or, found out later, ends the stream with an
ERROR event carrying that Status), after which clients list again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

import msgspec
from aiohttp import web

from shoal.api.errors import Gone, ShoalError
from shoal.api.kube import WatchEvent
from shoal.frontdoor.kube import status, tables
from shoal.frontdoor.kube.replies import JSON, KubeError, error_status
from shoal.frontdoor.kube.rest import Door, NodeLookup, Target, filter_for, qbool, qint, to_wire

DEFAULT_BOOKMARK_INTERVAL = 60.0
_ALIVE_CHECK = 5.0  # how often an idle watch checks that its client is still there


class _Stream:
    """The response being written and what it has told the client."""

    def __init__(self, request: web.Request, resp: web.StreamResponse, target: Target, table: bool) -> None:
        self.request = request
        self.resp = resp
        self.target = target
        self.table = table
        self.headers_sent = False
        self.include = request.query.get("includeObject", "Metadata")

    async def send(self, type_: str, obj: dict[str, Any]) -> None:
        if self.table and type_ in ("ADDED", "MODIFIED", "DELETED"):
            rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
            obj = tables.table(self.target.resource, [obj], rv, self.include, no_headers=self.headers_sent)
            self.headers_sent = True
        await self.resp.write(msgspec.json.encode({"type": type_, "object": obj}) + b"\n")

    def gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


async def serve_watch(request: web.Request, door: Door, target: Target,
                      bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL) -> web.StreamResponse:
    """Stream the changes of ``target``'s collection (see the module's docstring)."""
    kube = door.kube()
    rv = request.query.get("resourceVersion", "")
    try:
        since = int(rv) if rv not in ("", "0") else 0
    except ValueError:
        since = -1
    timeout = qint(request, "timeoutSeconds")
    bookmarks = qbool(request, "allowWatchBookmarks")
    nodes = NodeLookup(kube)
    wanted = filter_for(request, target.resource, nodes)
    accept = request.headers.get("Accept", "")
    table = tables.wants_table(accept)
    seen: set[str] = set()
    if since > 0:  # what the client has (matching objects), to send DELETED when one stops matching
        for o in kube.list(target.kind, target.namespace):
            if wanted(o, to_wire(target.resource, o, nodes)):
                seen.add(o.ID)
    if since >= 0:
        try:  # the core says at the call when ``since`` is older than the history kept: a 410 reply
            it = kube.watch(target.kind, target.namespace, since).__aiter__()
        except Gone as e:
            raise KubeError(status.gone(since, e.oldest)) from None
    resp = web.StreamResponse(status=200)
    resp.headers["Content-Type"] = tables.content_type(accept) if table else JSON
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    out = _Stream(request, resp, target, table)
    if since < 0:
        await _error(out, status.bad_request(f"invalid resourceVersion: {rv!r}")[1])
        return resp
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else math.inf
    last = since or kube.revision
    next_bookmark = loop.time() + bookmark_interval if bookmarks else math.inf
    pending: asyncio.Future[WatchEvent] | None = None
    try:
        while True:
            now = loop.time()
            if now >= deadline:
                break
            if pending is None:
                pending = asyncio.ensure_future(it.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=min(deadline, next_bookmark, now + _ALIVE_CHECK) - now)
            if not done:
                if out.gone():
                    break
                if loop.time() >= next_bookmark:
                    next_bookmark = loop.time() + bookmark_interval
                    await out.send("BOOKMARK", {"kind": target.resource.kind,
                                                "apiVersion": target.resource.api_version,
                                                "metadata": {"resourceVersion": str(last)}})
                continue
            finished, pending = pending, None
            try:
                ev = finished.result()
            except StopAsyncIteration:
                break
            except Gone as e:
                await _error(out, status.gone(since, e.oldest)[1])
                break
            except ShoalError as e:
                await _error(out, error_status(e)[1])
                break
            last = max(last, ev.revision)
            obj = to_wire(target.resource, ev.obj, nodes)
            if ev.type == "DELETED":
                obj.setdefault("metadata", {})["resourceVersion"] = str(ev.revision)
            uid = ev.obj.ID
            match = wanted(ev.obj, obj)
            if ev.type == "DELETED":
                if match or uid in seen:
                    seen.discard(uid)
                    await out.send("DELETED", obj)
            elif match:
                seen.add(uid)
                await out.send(ev.type, obj)
            elif uid in seen:
                seen.discard(uid)
                await out.send("DELETED", obj)
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(BaseException):
            await it.aclose()  # type: ignore[attr-defined]
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp


async def _error(out: _Stream, body: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionError):
        await out.send("ERROR", body)
