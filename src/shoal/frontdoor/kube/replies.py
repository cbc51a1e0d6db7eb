"""What every handler of the Kubernetes door answers with: JSON bodies, ``Status`` failures and the core's
coded errors in kube-apiserver's words.

``KubeError`` carries a finished ``(code, Status body)`` (from ``status.py``); ``error_status`` words a
core error (``api.errors``) as the apiserver would: NotFound 404, AlreadyExists and Conflict 409,
Invalid 422 with one cause per field, Gone 410 ``Expired``, PermissionDenied 403, Unavailable 503.
"""

from __future__ import annotations

import io
import re
from typing import Any

import msgspec
from aiohttp import web

from shoal.api.errors import (
    NOT_A_MANAGER,
    NOT_A_MANAGER_WORKER,
    SWARM_LOCKED,
    AlreadyExists,
    Code,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    PermissionDenied,
    ShoalError,
)
from shoal.frontdoor.kube import status

JSON = "application/json"

_QUOTED = re.compile(r'^(?P<res>[a-z0-9.-]+) "(?P<name>[^"]*)" (not found|already exists)$')
_CONFLICT = re.compile(r'^Operation cannot be fulfilled on (?P<res>[a-z0-9.-]+) "(?P<name>[^"]*)": ')


_NOT_SERVING = (NOT_A_MANAGER, NOT_A_MANAGER_WORKER, SWARM_LOCKED)


class KubeError(Exception):
    """A failure already in Kubernetes' shape: the HTTP code and the ``Status`` body."""

    def __init__(self, result: status.Result) -> None:
        super().__init__(result[1].get("message", ""))
        self.code, self.body = result


def encode(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


LARGE = 1 << 20  # bytes: an answer written in pieces


def reply(obj: Any, code: int = 200, content_type: str = JSON,
          headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer (``content_type`` may carry parameters: the Table and discovery types). A large
    one (a list of thousands of Pods) is written 64 KiB at a time: written at once, TLS encrypts all of
    it into the connection's buffer, which kept the memory of every large answer (a manager listing
    10,000 Pods 30 times reached 1.6 GB, against 0.3 GB written in pieces)."""
    data = encode(obj)
    body: bytes | io.BytesIO = io.BytesIO(data) if len(data) > LARGE else data
    resp = web.Response(body=body, status=code, headers=headers)
    resp.headers["Content-Type"] = content_type
    return resp


async def send(request: web.Request, obj: Any, content_type: str = JSON) -> web.StreamResponse:
    """``reply`` for a list: written from here, 64 KiB at a time, so that nothing keeps the encoded
    list once it is sent (a ``Response`` holds its body, and the server's request and response refer to
    each other: the body of each large list lived until the next full garbage collection)."""
    data = encode(obj)
    del obj
    resp = web.StreamResponse(status=200)
    resp.headers["Content-Type"] = content_type
    resp.content_length = len(data)
    await resp.prepare(request)
    view = memoryview(data)
    for i in range(0, len(data), 1 << 16):
        await resp.write(view[i:i + (1 << 16)])
    await resp.write_eof()
    return resp


def failure(result: status.Result) -> web.Response:
    code, body = result
    return reply(body, code)


def _details(res: str, name: str) -> dict[str, Any]:
    resource, _, group = res.partition(".")
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


def error_status(e: ShoalError) -> status.Result:
    """The ``Status`` of a core error."""
    msg = e.message
    if isinstance(e, Invalid):
        return invalid_status(e)
    if isinstance(e, Gone):
        return status.status(410, "Expired", msg or "too old resource version")
    if isinstance(e, NotFound | AlreadyExists):
        m = _QUOTED.match(msg)
        reason = "NotFound" if isinstance(e, NotFound) else "AlreadyExists"
        code = 404 if isinstance(e, NotFound) else 409
        return status.status(code, reason, msg, _details(m["res"], m["name"]) if m else None)
    if isinstance(e, Conflict) or e.code is Code.ABORTED:
        m = _CONFLICT.match(msg)
        return status.status(409, "Conflict", msg, _details(m["res"], m["name"]) if m else None)
    if isinstance(e, PermissionDenied):
        return status.status(403, "Forbidden", msg)
    if msg in _NOT_SERVING:  # this node cannot serve the cluster's objects now
        return status.service_unavailable(msg)
    by_code = {
        Code.INVALID_ARGUMENT: (400, "BadRequest"), Code.FAILED_PRECONDITION: (400, "BadRequest"),
        Code.UNAVAILABLE: (503, "ServiceUnavailable"), Code.UNAUTHENTICATED: (401, "Unauthorized"),
        Code.UNIMPLEMENTED: (405, "MethodNotAllowed"), Code.OUT_OF_RANGE: (410, "Expired"),
    }
    code, reason = by_code.get(e.code, (500, "InternalError"))
    if code == 500:
        return status.internal(msg)
    return status.status(code, reason, msg)


def invalid_status(e: Invalid) -> status.Result:
    """422 ``Pod "x" is invalid: spec.containers[0].image: Required value`` (several causes: ``[a, b]``);
    the core's causes carry their words (``Required value``, ``Invalid value: …``) already."""
    texts: list[str] = []
    causes: list[dict[str, Any]] = []
    for c in e.causes:
        text = f"{c.field}: {c.detail}" if c.field else c.detail
        if text not in texts:
            texts.append(text)
        cause: dict[str, Any] = {"reason": c.type, "message": c.detail}
        if c.field:
            cause["field"] = c.field
        causes.append(cause)
    message = f'{e.kind} "{e.name}" is invalid'
    if texts:
        message += ": " + (texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]")
    return status.status(422, "Invalid", message, {"name": e.name, "kind": e.kind, "causes": causes})


def success(name: str, resource: str, group: str, uid: str) -> dict[str, Any]:
    """The ``Status`` of a deletion that is done (the object is gone)."""
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = resource
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
