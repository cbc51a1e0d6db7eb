"""The front doors' request metrics middleware (frontdoor/metrics.py): counted by the door's labels and
the code the request was answered with (an exception's status, 500 for a bug), timed unless
long-running."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import Counter, Histogram

from shoal.frontdoor.metrics import method_of, request_metrics
from shoal.metrics import Requests

COUNT = Counter("shoal_test_door_requests_total", "A test door's requests.", ["route", "method", "code"],
                registry=None)
LATENCY = Histogram("shoal_test_door_request_duration_seconds", "A test door's latency.", ["route", "method"],
                    registry=None)


def labels(request: web.Request) -> tuple[tuple[str, ...], bool]:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    return (route, method_of(request)), route != "/watch"


async def ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


async def gone(request: web.Request) -> web.StreamResponse:
    raise web.HTTPGone()


async def bug(request: web.Request) -> web.StreamResponse:
    raise RuntimeError("a bug")


def count(route: str, method: str, code: str) -> float:
    return COUNT.labels(route, method, code)._value.get()


def timed(route: str, method: str) -> float:
    return sum(b.get() for b in LATENCY.labels(route, method)._buckets)


async def test_counts_by_route_template_method_and_code() -> None:
    app = web.Application(middlewares=[request_metrics(Requests(COUNT, LATENCY), labels)])
    app.router.add_get("/things/{id}", ok)
    app.router.add_get("/gone", gone)
    app.router.add_get("/bug", bug)
    app.router.add_get("/watch", ok)
    async with TestClient(TestServer(app)) as client:
        for path in ("/things/a", "/things/b", "/gone", "/bug", "/watch"):
            await client.get(path)
        await client.request("PROPFIND", "/things/a")  # no API has it: 405, labelled "other"
    assert count("/things/{id}", "GET", "200") == 2
    assert count("/gone", "GET", "410") == 1
    assert count("/bug", "GET", "500") == 1
    assert count("/watch", "GET", "200") == 1
    assert timed("/things/{id}", "GET") == 2
    assert timed("/watch", "GET") == 0  # long-running: counted, not timed
    assert sum(count(r, "other", "405") for r in ("/things/{id}", "unmatched")) == 1
