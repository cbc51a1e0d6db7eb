"""The front doors' request metrics: one aiohttp middleware, outermost in a door's app, that counts each
request by the door's labels and the status code it was answered with, and times it
(``shoal.metrics.Requests``). Each door says what its labels are: the Docker door its route template
and method (``frontdoor/docker/app.py``), the Kubernetes door its verb, resource and subresource
(``frontdoor/kube/app.py``), never a raw path (which would make a series per object).

A request whose client went away before the answer (cancelled) is not counted: there is no code.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from shoal.metrics import Requests

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# What a door makes of a request: its labels (without the code), and whether it is timed (a
# long-running request, a watch or a stream into a container, is only counted).
LabelsOf = Callable[[web.Request], tuple[tuple[str, ...], bool]]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_of(request: web.Request) -> str:
    """The request's method, or ``other`` for one no API has (a client may send any word)."""
    return request.method if request.method in METHODS else "other"


def request_metrics(requests: Requests, labels_of: LabelsOf) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            _observe(requests, labels_of, request, e.status, start)
            raise
        except Exception:
            _observe(requests, labels_of, request, 500, start)
            raise
        _observe(requests, labels_of, request, resp.status, start)
        return resp

    return middleware


def _observe(requests: Requests, labels_of: LabelsOf, request: web.Request, code: int, start: float) -> None:
    labels, timed = labels_of(request)
    requests.observe(labels, code, time.perf_counter() - start if timed else None)
