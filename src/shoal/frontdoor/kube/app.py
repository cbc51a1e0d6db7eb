"""The Kubernetes API front door (what kubectl 1.32/1.33 and the client libraries use), on aiohttp.

A thin translator over one node (``nodeapi.NodeAPI``), as the Docker door is: ``make_app(node)`` serves

- ``/version``, discovery (``/api``, ``/apis``, aggregated or legacy; ``/api/v1``, ``/apis/G/V``),
  ``/openapi/v3`` and its group-version documents, ``/healthz|livez|readyz``;
- for every resource of ``resources.RESOURCES``, at ``/api/v1/[namespaces/NS/]PLURAL[/NAME[/SUB]]`` (or
  ``/apis/G/V/…``): list and watch, create, get, update, the four patch kinds, delete and delete of a
  collection (``rest.py``, ``watch.py``, ``apply.py``), the status subresource, and a Pod's ``log``,
  ``exec``, ``portforward`` and ``eviction`` (``pods.py``);
- ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` (``kubectl auth can-i``).

TLS and authentication are the server's that mounts the app (``server.py``): its middleware puts the
client's ``User`` in ``request[USER]``. Every failure is a ``Status`` (``replies.py``): the core's errors in
kube-apiserver's words, 404 ``the server could not find the requested resource`` for unknown routes,
503 when the managers have no leader. A follower manager serves reads and writes through the same
core.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shoal import __version__
from shoal.api.errors import ShoalError
from shoal.frontdoor.kube import discovery, openapi, pods, status, watch
from shoal.frontdoor.kube.replies import KubeError, error_status, failure, reply
from shoal.frontdoor.kube.resources import Resource, by_path
from shoal.frontdoor.kube.rest import APPLY_PATCH, Door, Target, qbool, read_body, scale
from shoal.frontdoor.kube.server import USER
from shoal.frontdoor.metrics import method_of, request_metrics
from shoal.metrics import KUBE_REQUESTS
from shoal.nodeapi import NodeAPI

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DOOR: web.AppKey[Door] = web.AppKey("door", Door)
BOOKMARKS: web.AppKey[float] = web.AppKey("bookmark_interval", float)


def may_do_everything(request: web.Request) -> bool:
    """Whether the request's user may do everything: an administrator or a service account (shoal has
    no RBAC yet; the server's middleware lets no one else in), or anyone on a server without
    authentication (no user)."""
    user = request.get(USER)
    return user is None or user.admin or "system:serviceaccounts" in user.groups


# The API server's limit on a request body (kube-apiserver's MaxRequestBodyBytes, 3 MB).
MAX_REQUEST_BODY = 3 * 1024 * 1024


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except KubeError as e:
        return reply(e.body, e.code)
    except ShoalError as e:
        return failure(error_status(e))
    except web.HTTPNotFound:
        return failure(status.route_not_found())
    except web.HTTPRequestEntityTooLarge:
        return failure(status.status(413, "RequestEntityTooLarge",
                                     f"Request entity too large: limit is {MAX_REQUEST_BODY}"))
    except web.HTTPMethodNotAllowed:
        return failure(status.status(405, "MethodNotAllowed", "the server does not allow this method on the "
                                     "requested resource"))
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # a cluster store without a quorum, or a bug: say so as a Status
        found = request.app[DOOR].node.store_failure(e)
        if found is not None:
            return failure(error_status(found))
        log.exception("internal error on %s %s", request.method, request.path)
        return failure(status.internal(str(e)))


# ---------------------------------------------------------------- fixed routes


async def version(request: web.Request) -> web.StreamResponse:
    return reply(discovery.version_body(__version__))


async def health(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok", content_type="text/plain")


async def openapi_doc(request: web.Request) -> web.StreamResponse:
    found = openapi.serve(request.match_info.get("path", ""), request.query.get("hash"),
                          request.headers.get("If-None-Match"))
    if found is None:
        return failure(status.route_not_found())
    return web.Response(status=found.status, headers=found.headers, body=found.body or None)


async def api(request: web.Request) -> web.StreamResponse:
    ctype, body = discovery.api(request.headers.get("Accept", ""), request.host)
    return reply(body, content_type=ctype)


async def apis(request: web.Request) -> web.StreamResponse:
    ctype, body = discovery.apis(request.headers.get("Accept", ""))
    return reply(body, content_type=ctype)


async def access_review(request: web.Request) -> web.StreamResponse:
    """``kubectl auth can-i``: a SelfSubjectAccessReview, answered for the request's user."""
    body = await read_body(request)
    if not isinstance(body, dict):
        raise KubeError(status.bad_request("the body of a SelfSubjectAccessReview must be an object"))
    allowed = may_do_everything(request)
    body.update({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1"})
    body.setdefault("metadata", {})
    body["status"] = {"allowed": allowed} if allowed else {"allowed": False, "reason": "no RBAC rule allows it"}
    return reply(body, 201)


# ---------------------------------------------------------------- resources


def parse(path: str) -> tuple[str, str, list[str], bool] | None:
    """``(group, version, rest, legacy watch)`` of a resource path; None if it is no API path."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    legacy_watch = bool(rest) and rest[0] == "watch"
    return group, version, rest[1:] if legacy_watch else rest, legacy_watch


def target_of(group: str, version: str, rest: list[str]) -> Target | None:
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        inner = by_path(group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    resource = by_path(group, version, rest[0])
    if resource is None:
        return None
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and resource.subresource(sub) is None:
        return None
    if name and resource.namespaced and not namespace:
        return None
    return Target(resource, namespace, name, sub)


def _not_allowed(resource: Resource, verb: str) -> KubeError:
    return KubeError(status.method_not_allowed(resource.resource, resource.group, verb))


async def resources(request: web.Request) -> web.StreamResponse:
    """Every path under ``/api`` and ``/apis``: discovery of a group-version, or a resource."""
    parsed = parse(request.path)
    if parsed is None:
        parts = [p for p in request.path.split("/") if p]
        group_doc = discovery.api_group(parts[1]) if len(parts) == 2 and parts[0] == "apis" else None
        if group_doc is None or request.method != "GET":
            raise web.HTTPNotFound()
        return reply(group_doc)
    group, version, rest, legacy_watch = parsed
    if not rest and not legacy_watch:
        if request.method == "GET":
            found = discovery.resource_list(group, version)
            if found is not None:
                return reply(found)
        raise web.HTTPNotFound()
    if (group, version, rest) == ("authorization.k8s.io", "v1", ["selfsubjectaccessreviews"]) and \
            request.method == "POST":
        return await access_review(request)
    target = target_of(group, version, rest)
    if target is None:
        raise web.HTTPNotFound()
    door = request.app[DOOR]
    method = request.method
    r = target.resource
    if not target.name:
        if method == "GET":
            if legacy_watch or qbool(request, "watch"):
                return await watch.serve_watch(request, door, target, request.app[BOOKMARKS])
            return await door.list_objects(request, target)
        if method == "POST" and "create" in r.verbs:
            if r.namespaced and not target.namespace:
                raise web.HTTPNotFound()
            return await door.create(request, target)
        if method == "DELETE" and "deletecollection" in r.verbs:
            return await door.delete_collection(request, target)
        raise _not_allowed(r, method)
    if not target.sub or target.sub == "status":
        handlers: dict[str, Callable[[web.Request, Target], Awaitable[web.StreamResponse]]] = {
            "GET": door.get, "PUT": door.replace, "PATCH": door.patch}
        if not target.sub:
            handlers["DELETE"] = door.delete
        handler = handlers.get(method)
        if handler is None:
            raise _not_allowed(r, method)
        return await handler(request, target)
    sub_handlers: dict[tuple[str, str], Callable[[web.Request, Door, Target], Awaitable[web.StreamResponse]]] = {
        ("log", "GET"): pods.logs,
        ("exec", "GET"): pods.exec_, ("exec", "POST"): pods.exec_,
        ("attach", "GET"): pods.exec_, ("attach", "POST"): pods.exec_,
        ("portforward", "GET"): pods.portforward, ("portforward", "POST"): pods.portforward,
        ("eviction", "POST"): pods.eviction,
        ("scale", "GET"): scale, ("scale", "PUT"): scale, ("scale", "PATCH"): scale,
    }
    sub_handler = sub_handlers.get((target.sub, method))
    if sub_handler is None:
        raise _not_allowed(r, method)
    return await sub_handler(request, door, target)


async def not_found(request: web.Request) -> web.StreamResponse:
    return failure(status.route_not_found())


CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
LONG_RUNNING = frozenset({"WATCH", "CONNECT"})


def request_labels(request: web.Request) -> tuple[tuple[str, ...], bool]:
    """A request's metric labels as kube-apiserver's ``apiserver_request_total`` has them: the verb
    (GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION, CONNECT; the method for a path
    that names no resource), the resource and subresource ("" for none); timed unless long-running."""
    method = method_of(request)
    parsed = parse(request.path)
    target = target_of(*parsed[:3]) if parsed is not None else None
    if parsed is None or target is None:
        return (method, "", ""), True
    if target.sub in CONNECT_SUBRESOURCES:
        verb = "CONNECT"
    elif method == "GET" and not target.name:
        verb = "WATCH" if parsed[3] or qbool(request, "watch") else "LIST"
    elif method == "DELETE" and not target.name:
        verb = "DELETECOLLECTION"
    elif method == "PATCH" and request.content_type == APPLY_PATCH:
        verb = "APPLY"
    else:
        verb = method
    return (verb, target.resource.resource, target.sub), verb not in LONG_RUNNING


def make_app(node: NodeAPI, bookmark_interval: float = watch.DEFAULT_BOOKMARK_INTERVAL,
             middlewares: tuple[Any, ...] = ()) -> web.Application:
    """The Kubernetes API over ``node`` (``middlewares`` run first, after the request metrics: the server's
    authentication)."""
    app = web.Application(middlewares=[request_metrics(KUBE_REQUESTS, request_labels), *middlewares,
                                       errors_middleware], client_max_size=MAX_REQUEST_BODY)
    app[DOOR] = Door(node)
    app[BOOKMARKS] = bookmark_interval
    r = app.router
    r.add_get("/version", version)
    for path in ("/healthz", "/livez", "/readyz"):
        r.add_get(path, health)
    r.add_get("/openapi/v3", openapi_doc)
    r.add_get("/openapi/v3/{path:.+}", openapi_doc)
    r.add_get("/api", api)
    r.add_get("/apis", apis)
    r.add_route("*", "/api/{tail:.*}", resources)
    r.add_route("*", "/apis/{tail:.*}", resources)
    r.add_route("*", "/{tail:.*}", not_found)
    return app
