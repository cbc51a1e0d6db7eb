"""The web console's routes: the page, its JSON (``api/console.py`` types as they are), its live
notices (server-sent events), the events stream, ``/metrics``, the login, and the few actions.

Who may do what (the listener, ``server.py``, decides ``secure`` from its address):

* ``secure=False`` (a loopback address, plain HTTP): reading needs no login, as Nomad's dev UI.
* ``secure=True`` (any other address, HTTPS): every request but the page, its files, the session
  probe and the login itself needs the login token (``shoal ui-token``), as ``Authorization: Bearer``
  or as the cookie ``POST /api/login`` sets (HttpOnly, Secure, SameSite=Strict).
* Actions (scale, rollback, availability) need the token on any address: the console is read-only
  by default. A POST must carry JSON (``application/json``: a cross-site form or ``text/plain`` post
  cannot, without a CORS preflight this door never answers) and, when the browser says where it
  comes from (``Origin``, ``Sec-Fetch-Site``), come from the console's own origin.

Errors are ``{"message": …}`` with the status the core's error maps to (NotFound 404,
InvalidArgument 400, Conflict 409, Unavailable 503); while the node is not a manager every console
route answers 503 with the reason ``node.console()`` gives (not a manager, locked, no leader).
The door translates; the rules (what a filter matches, what may scale) are the core's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shoal.api.errors import Code, ShoalError
from shoal.api.events import Event
from shoal.api.kube import Event as KubeEvent
from shoal.api.kube import WatchEvent
from shoal.nodeapi import Console, NodeAPI

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COOKIE = "shoal_ui"
KEEPALIVE = 15.0  # s between the comments that keep an idle event stream open through proxies
MAX_LIMIT = 500  # the largest page a client may ask for
EVENTS_BACKLOG = 200  # the Kubernetes events replayed when a client starts following
STATIC = resources.files("shoal.frontdoor.ui") / "static"
_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

# The core's error codes as HTTP statuses (an error of ``node.console()`` itself is always 503).
_STATUS = {
    Code.INVALID_ARGUMENT: 400, Code.NOT_FOUND: 404, Code.ALREADY_EXISTS: 409, Code.ABORTED: 409,
    Code.FAILED_PRECONDITION: 409, Code.UNAVAILABLE: 503, Code.UNAUTHENTICATED: 401,
    Code.PERMISSION_DENIED: 403, Code.UNIMPLEMENTED: 501, Code.OUT_OF_RANGE: 410,
}


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    secure: bool = False  # served on a non-loopback address: HTTPS, every request with the token
    keepalive: float = KEEPALIVE


NODE: web.AppKey[NodeAPI] = web.AppKey("node", NodeAPI)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
AUTHED = web.RequestKey("authed", bool)  # the request carried a valid login token

# Routes anyone may reach, even on a secure address (the page must load to show its login form).
_OPEN = ("/", "/index.html", "/api/session", "/api/login", "/api/logout")


class Unavailable503(Exception):
    """The console is not served here now (the node is not a manager): the reason, for a 503."""


class ActionError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def jresp(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj), status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def err(status: int, message: str) -> web.Response:
    return jresp({"message": message}, status)


def status_of(e: ShoalError) -> int:
    return _STATUS.get(e.code, 500)


def node_of(request: web.Request) -> NodeAPI:
    return request.app[NODE]


def console_of(request: web.Request) -> Console:
    try:
        return node_of(request).console()
    except ShoalError as e:
        raise Unavailable503(e.message) from e


# ---------------------------------------------------------------- who the client is


def token_of(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(COOKIE, "")


def authenticated(request: web.Request) -> bool:
    token = token_of(request)
    if not token:
        return False
    try:
        return node_of(request).ui_authenticate(token)
    except ShoalError:
        return False


def same_origin(request: web.Request) -> bool:
    """Whether a state-changing request may come from where it says it does: JSON only (a cross-site
    ``text/plain`` or form post is a "simple" request a browser sends without asking), and when the
    browser names its origin, the console's own."""
    if request.content_type != "application/json":
        return False
    site = request.headers.get("Sec-Fetch-Site", "")
    if site and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin", "")
    return not origin or origin == f"{request.scheme}://{request.host}"


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Login and origin rules, then the handler, its errors as ``{"message": …}``."""
    settings = request.app[SETTINGS]
    request[AUTHED] = authenticated(request)
    path = request.path
    if request.method == "POST" and not same_origin(request):
        return err(403, "cross-site or non-JSON request refused: send application/json from the console's origin")
    if settings.secure and not request[AUTHED] and path not in _OPEN and not path.startswith("/static/"):
        return err(401, "login required: give the token of `shoal ui-token` (Authorization: Bearer, or log in)")
    try:
        return await handler(request)
    except Unavailable503 as e:
        return err(503, f"the console is served by managers only: {e}")
    except ActionError as e:
        return err(e.status, e.message)
    except ShoalError as e:
        return err(status_of(e), e.message)
    except NotImplementedError:
        return err(503, "not available on this node yet")
    except msgspec.ValidationError as e:
        return err(400, f"invalid JSON: {e}")
    except msgspec.DecodeError as e:
        return err(400, f"invalid JSON: {e}")


def require_login(request: web.Request) -> None:
    if not request[AUTHED]:
        raise ActionError(401, "actions need a login: give the token of `shoal ui-token`")


# ---------------------------------------------------------------- the page


async def index(request: web.Request) -> web.StreamResponse:
    return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html",
                        headers={"Cache-Control": "no-cache", **_PAGE_HEADERS})


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if "/" in name or name.startswith("."):
        raise web.HTTPNotFound()
    f = STATIC / name
    if not f.is_file():
        return err(404, f"no such file: {name}")
    suffix = "." + name.rpartition(".")[2]
    return web.Response(body=f.read_bytes(), content_type=_STATIC_TYPES.get(suffix, "application/octet-stream"),
                        headers={"Cache-Control": "no-cache", **_PAGE_HEADERS})


# The page loads nothing from elsewhere and is never framed.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# ---------------------------------------------------------------- login


class Session(msgspec.Struct, kw_only=True):
    LoggedIn: bool
    LoginRequired: bool  # every read needs the login (a non-loopback address)


class Login(msgspec.Struct, kw_only=True):
    token: str


async def session(request: web.Request) -> web.StreamResponse:
    return jresp(Session(LoggedIn=request[AUTHED], LoginRequired=request.app[SETTINGS].secure))


async def login(request: web.Request) -> web.StreamResponse:
    body = msgspec.json.decode(await request.read(), type=Login)
    if not node_of(request).ui_authenticate(body.token.strip()):
        return err(401, "invalid or expired token")
    resp = jresp(Session(LoggedIn=True, LoginRequired=request.app[SETTINGS].secure))
    # Secure wherever the console is HTTPS; on plain HTTP (loopback) a browser would drop a Secure cookie.
    resp.set_cookie(COOKIE, body.token.strip(), httponly=True, secure=request.secure, samesite="Strict", path="/")
    return resp


async def logout(request: web.Request) -> web.StreamResponse:
    resp = jresp(Session(LoggedIn=False, LoginRequired=request.app[SETTINGS].secure))
    resp.del_cookie(COOKIE, path="/")
    return resp


# ---------------------------------------------------------------- reads


def qint(request: web.Request, name: str, default: int, top: int = 1 << 31) -> int:
    raw = request.query.get(name, "")
    if not raw:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise ActionError(400, f"{name}: not a number: {raw!r}") from None
    if v < 0:
        raise ActionError(400, f"{name}: must not be negative")
    return min(v, top)


async def summary(request: web.Request) -> web.StreamResponse:
    return jresp(console_of(request).summary())


async def nodes(request: web.Request) -> web.StreamResponse:
    q = request.query
    return jresp(console_of(request).nodes(q.get("q", ""), qint(request, "offset", 0),
                                           qint(request, "limit", 100, MAX_LIMIT)))


async def tasks(request: web.Request) -> web.StreamResponse:
    q = request.query
    return jresp(console_of(request).tasks(q.get("node", ""), q.get("owner", ""), q.get("state", ""),
                                           q.get("q", ""), qint(request, "offset", 0),
                                           qint(request, "limit", 100, MAX_LIMIT)))


async def task(request: web.Request) -> web.StreamResponse:
    return jresp(console_of(request).task(request.match_info["id"]))


async def workloads(request: web.Request) -> web.StreamResponse:
    q = request.query
    return jresp(console_of(request).workloads(q.get("q", ""), qint(request, "offset", 0),
                                               qint(request, "limit", 100, MAX_LIMIT)))


async def payloads(request: web.Request) -> web.StreamResponse:
    return jresp(console_of(request).payloads(request.query.get("q", "")))


async def metrics(request: web.Request) -> web.StreamResponse:
    try:
        registry = node_of(request).metrics_registry()
    except NotImplementedError:
        return err(503, "metrics are not available on this node yet")
    except ShoalError as e:
        return err(status_of(e), e.message)
    body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# ---------------------------------------------------------------- live: server-sent events


async def _sse_start(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    await resp.write(b"retry: 2000\n: connected\n\n")
    return resp


def sse_frame(event: str, data: bytes) -> bytes:
    """One server-sent event (``data`` is one line of JSON: msgspec never writes a newline in it)."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


async def _pump(source: AsyncIterator[Any], queue: asyncio.Queue[Any]) -> None:
    """Copy an async iterator into a queue, then a None when it ends (so a timed wait on the queue
    never cancels the iterator itself)."""
    try:
        async for item in source:
            await queue.put(item)
    finally:
        queue.put_nowait(None)


async def _serve_queue(request: web.Request, resp: web.StreamResponse, queue: asyncio.Queue[Any],
                       frame: Callable[[Any], bytes | None]) -> None:
    keepalive = request.app[SETTINGS].keepalive
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), keepalive)
        except TimeoutError:
            await resp.write(b": keep-alive\n\n")
            continue
        if item is None:
            return
        data = frame(item)
        if data is not None:
            await resp.write(data)


async def stream(request: web.Request) -> web.StreamResponse:
    """One ``change`` event per notice of the console's view; the page refetches what it shows."""
    console = console_of(request)
    resp = await _sse_start(request)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    pump = asyncio.get_running_loop().create_task(_pump(console.changes(), queue), name="ui-stream")
    try:
        await _serve_queue(request, resp, queue, lambda ch: sse_frame("change", msgspec.json.encode(ch)))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
    return resp


class EventLine(msgspec.Struct, kw_only=True):
    """One event as the console lists it: Docker's (``docker events``) and Kubernetes' (``kubectl get
    events``) in one shape."""

    Source: str  # docker | kubernetes
    Time: str  # RFC 3339
    Type: str  # Docker's object type (container, service, node…); Kubernetes' object kind, lower case
    Action: str  # Docker's action (create, update…); a Kubernetes event's reason
    Actor: str = ""  # the object's ID
    Name: str = ""
    Namespace: str = ""
    Level: str = ""  # a Kubernetes event's type: Normal | Warning
    Message: str = ""
    Count: int = 0
    Attributes: dict[str, str] = msgspec.field(default_factory=dict)


def _iso_of_ns(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat().replace("+00:00", "Z")


def docker_line(ev: Event) -> EventLine:
    return EventLine(Source="docker", Time=_iso_of_ns(ev.TimeNano), Type=ev.Type, Action=ev.Action, Actor=ev.Actor,
                     Name=ev.Attributes.get("name", ""), Attributes=ev.Attributes)


def kube_line(ev: KubeEvent) -> EventLine:
    o = ev.InvolvedObject
    return EventLine(Source="kubernetes", Time=ev.LastTimestamp or ev.FirstTimestamp or ev.CreatedAt,
                     Type=o.Kind.lower(), Action=ev.Reason, Actor=o.ID, Name=o.Name, Namespace=o.Namespace,
                     Level=ev.Type, Message=ev.Message, Count=ev.Count)


class EventFilter(msgspec.Struct, kw_only=True, frozen=True):
    type: str = ""
    action: str = ""
    text: str = ""

    def __call__(self, line: EventLine) -> bool:
        if self.type and line.Type != self.type:
            return False
        if self.action and line.Action.lower() != self.action.lower():
            return False
        if self.text:
            hay = " ".join((line.Source, line.Type, line.Action, line.Actor, line.Name, line.Namespace, line.Level,
                            line.Message, *line.Attributes.values())).lower()
            return self.text.lower() in hay
        return True


async def _kube_events(request: web.Request, queue: asyncio.Queue[Any]) -> None:
    """Kubernetes' events from now on (the manager's store's watch), as lines on the queue."""
    kube = node_of(request).kube()
    async for we in kube.watch("events", "", kube.revision):
        if isinstance(we, WatchEvent) and we.type != "DELETED" and isinstance(we.obj, KubeEvent):
            await queue.put(kube_line(we.obj))


async def events(request: web.Request) -> web.StreamResponse:
    """Docker's and Kubernetes' events as they happen (after the recent ones), as ``event`` SSEs,
    filtered here by ``type``, ``action`` and ``q`` (text anywhere in the event)."""
    console_of(request)  # the console's rule: a manager's
    q = request.query
    keep = EventFilter(type=q.get("type", ""), action=q.get("action", ""), text=q.get("q", ""))
    node = node_of(request)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    sub = node.events.subscribe()  # before the history: no event falls between
    backlog = [docker_line(e) for e in node.events.history()]
    with contextlib.suppress(ShoalError):
        kev = [e for e in node.kube().list("events") if isinstance(e, KubeEvent)]
        kev.sort(key=lambda e: e.LastTimestamp or e.FirstTimestamp or e.CreatedAt)
        backlog += [kube_line(e) for e in kev[-EVENTS_BACKLOG:]]
    backlog.sort(key=lambda line: line.Time)
    loop = asyncio.get_running_loop()
    pumps = [loop.create_task(_pump(_lines(sub), queue), name="ui-events")]
    with contextlib.suppress(ShoalError):
        node.kube()
        pumps.append(loop.create_task(_kube_events(request, queue), name="ui-kube-events"))
    resp = await _sse_start(request)
    try:
        for line in backlog:
            if keep(line):
                await resp.write(sse_frame("event", msgspec.json.encode(line)))
        await _serve_queue(request, resp, queue,
                           lambda line: sse_frame("event", msgspec.json.encode(line)) if keep(line) else None)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        sub.close()
        for p in pumps:
            p.cancel()
        for p in pumps:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await p
    return resp


async def _lines(sub: AsyncIterator[Event]) -> AsyncIterator[EventLine]:
    async for ev in sub:
        yield docker_line(ev)


# ---------------------------------------------------------------- actions


class Scale(msgspec.Struct, kw_only=True):
    replicas: int


class Availability(msgspec.Struct, kw_only=True):
    availability: str


_KINDS = ("service", "deployment")


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in _KINDS:
        raise ActionError(400, f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
    return kind


async def scale(request: web.Request) -> web.StreamResponse:
    require_login(request)
    kind = _kind(request)
    body = msgspec.json.decode(await request.read(), type=Scale)
    if body.replicas < 0:
        raise ActionError(400, "replicas must not be negative")
    await console_of(request).scale(kind, request.match_info["id"], body.replicas)
    return jresp({})


async def rollback(request: web.Request) -> web.StreamResponse:
    require_login(request)
    kind = _kind(request)
    await console_of(request).rollback(kind, request.match_info["id"])
    return jresp({})


async def availability(request: web.Request) -> web.StreamResponse:
    require_login(request)
    body = msgspec.json.decode(await request.read(), type=Availability)
    await console_of(request).set_availability(request.match_info["id"], body.availability)
    return jresp({})


async def not_found(request: web.Request) -> web.StreamResponse:
    return err(404, f"page not found: {request.path}")


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/", index),
    ("GET", "/index.html", index),
    ("GET", "/static/{name}", static),
    ("GET", "/metrics", metrics),
    ("GET", "/api/session", session),
    ("POST", "/api/login", login),
    ("POST", "/api/logout", logout),
    ("GET", "/api/summary", summary),
    ("GET", "/api/nodes", nodes),
    ("GET", "/api/tasks", tasks),
    ("GET", "/api/tasks/{id}", task),
    ("GET", "/api/workloads", workloads),
    ("GET", "/api/payloads", payloads),
    ("GET", "/api/stream", stream),
    ("GET", "/api/events", events),
    ("POST", "/api/workloads/{kind}/{id}/scale", scale),
    ("POST", "/api/workloads/{kind}/{id}/rollback", rollback),
    ("POST", "/api/nodes/{id}/availability", availability),
]


def make_app(node: NodeAPI, settings: Settings | None = None) -> web.Application:
    """The console over ``node`` (a manager's daemon, or any object that implements ``NodeAPI``)."""
    app = web.Application(middlewares=[guard], client_max_size=1 << 20)
    app[NODE] = node
    app[SETTINGS] = settings or Settings()
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


async def metrics_only(request: web.Request) -> web.StreamResponse:
    return err(404, "this node serves only /metrics (the console is a manager's)")


def make_metrics_app(node: NodeAPI) -> web.Application:
    """A worker's: only ``/metrics`` (its listener requires a client certificate off loopback)."""
    app = web.Application()
    app[NODE] = node
    app[SETTINGS] = Settings()
    app.router.add_route("GET", "/metrics", metrics)
    app.router.add_route("*", "/{tail:.*}", metrics_only)
    return app
