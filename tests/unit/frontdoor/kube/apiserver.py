"""A tiny Kubernetes API server for tests: the static front door (version, discovery, OpenAPI, errors)
over plain http on 127.0.0.1, plus routes a test adds; and a runner for the real kubectl against it.

kubectl gets a fresh ``--cache-dir`` and an empty kubeconfig per server, so nothing cached from another
server (or from the user's ~/.kube) decides what it asks.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from shoal import __version__
from shoal.frontdoor.kube import discovery, openapi, status

Reply = tuple[int, str, Any]
Route = Callable[[web.Request], Awaitable[Reply]]

KUBECTL = shutil.which("kubectl")


def _sibling(name: str) -> str | None:
    """A versioned kubectl next to the dispatcher (``kubectl.1.32``), if installed."""
    if KUBECTL is None:
        return None
    path = Path(KUBECTL).resolve().parent / name
    return str(path) if path.exists() else None


KUBECTL_132 = _sibling("kubectl.1.32")


@dataclass
class FakeAPIServer:
    """The server's address, the requests it saw (``METHOD path?query``, Accept) and the routes a test adds."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        self.seen.append((f"{request.method} {request.path_qs}", accept))
        route = self.routes.get((request.method, request.path))
        if route is not None:
            code, content_type, body = await route(request)
            return _json(code, body, content_type)
        path = request.path
        if path == "/version":
            return _json(200, discovery.version_body(__version__))
        if path == "/api":
            return _json(*_swap(discovery.api(accept, request.host)))
        if path == "/apis":
            return _json(*_swap(discovery.apis(accept)))
        if path == "/api/v1":
            return _json(200, discovery.resource_list("", "v1"))
        if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
            reply = openapi.serve(path.removeprefix("/openapi/v3"), request.query.get("hash"),
                                  request.headers.get("If-None-Match"))
            if reply is not None:
                return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        return _json(*status.route_not_found())


def _swap(pair: tuple[str, dict[str, Any]]) -> tuple[int, dict[str, Any], str]:
    return 200, pair[1], pair[0]


def _json(code: int, body: Any, content_type: str = "application/json") -> web.Response:
    return web.Response(status=code, body=json.dumps(body).encode(), headers={"Content-Type": content_type})


@asynccontextmanager
async def serving() -> AsyncIterator[FakeAPIServer]:
    """A FakeAPIServer listening on a free port of 127.0.0.1 until the block ends."""
    server = FakeAPIServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        server.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield server
    finally:
        await runner.cleanup()
        sock.close()


async def kubectl(server: FakeAPIServer, tmp: Path, *args: str, binary: str | None = None) -> tuple[int, str, str]:
    """Runs the real kubectl against ``server``: its exit code, stdout and stderr."""
    config = tmp / "kubeconfig"
    config.touch()
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp)}
    process = await asyncio.create_subprocess_exec(
        binary or KUBECTL or "kubectl", f"--server={server.url}", f"--cache-dir={tmp / 'cache'}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
