"""Kubernetes ``Status`` error bodies, in kube-apiserver's words (apimachinery's ``api/errors``).

Each function returns ``(http_code, body)``. kubectl prints ``Error from server (<reason>): <message>``,
so the message is the part users read: a resource in a message is ``<resource>.<group>`` (``pods``,
``deployments.apps``) and ``details.kind`` is the resource, not the kind, except for ``Invalid``, which
names the kind (``Pod "x" is invalid: spec.containers[0].image: Required value``; kubectl itself
rewrites that as ``The Pod "x" is invalid: * spec…``).
"""

from __future__ import annotations

import json
from typing import Any

Body = dict[str, Any]
Result = tuple[int, Body]

# field.ErrorType: the cause type (``details.causes[].reason``) and the words in the message.
CAUSE_WORDS = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}

UNSUPPORTED_MEDIA_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


def status(code: int, reason: str, message: str, details: Body | None = None) -> Result:
    """A failure ``Status`` with ``code``, ``reason`` and ``message``; ``details`` as given (omitted if None)."""
    body: Body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                  "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return code, body


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(resource: str, group: str, name: str = "") -> Body:
    details: Body = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


def not_found(resource: str, group: str, name: str) -> Result:
    """404 ``pods "x" not found``."""
    return status(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found',
                  _details(resource, group, name))


def already_exists(resource: str, group: str, name: str) -> Result:
    """409 ``pods "x" already exists``."""
    return status(409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists',
                  _details(resource, group, name))


MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def conflict(resource: str, group: str, name: str, why: str = MODIFIED) -> Result:
    """409 ``Operation cannot be fulfilled on pods "x": the object has been modified; …``."""
    return status(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
                  _details(resource, group, name))


def cause_body(cause_type: str, detail: str = "") -> str:
    """What a field error says after its path: ``Required value``, ``Invalid value: 0: must be greater…``."""
    words = CAUSE_WORDS.get(cause_type, cause_type)
    return f"{words}: {detail}" if detail else words


def with_value(value: Any, detail: str = "") -> str:
    """The detail of an invalid value as Go prints it: strings quoted (``"abc"``), numbers and booleans bare,
    then ``: detail`` when there is one."""
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, str):
        shown = json.dumps(value)
    else:
        shown = str(value)
    return f"{shown}: {detail}" if detail else shown


def invalid(kind: str, name: str, causes: list[tuple[str, str, str]], group: str = "") -> Result:
    """422 ``Pod "x" is invalid: spec.containers[0].image: Required value``.

    Each cause is ``(field, type, detail)``: ``type`` a cause type (``FieldValueRequired``,
    ``FieldValueInvalid``, …); ``detail`` what follows the type's words, with the bad value first for
    invalid values (``"30080: provided port is already allocated"``). Several causes are joined as an
    aggregate error: ``[a, b]``.
    """
    qualified = f"{kind}.{group}" if group else kind
    errors: list[str] = []
    status_causes: list[Body] = []
    for field, cause_type, detail in causes:
        body = cause_body(cause_type, detail)
        text = f"{field}: {body}" if field else body
        if text not in errors:
            errors.append(text)
        cause: Body = {"reason": cause_type, "message": body}
        if field:
            cause["field"] = field
        status_causes.append(cause)
    if not errors:
        message = f'{qualified} "{name}" is invalid'
    elif len(errors) == 1:
        message = f'{qualified} "{name}" is invalid: {errors[0]}'
    else:
        message = f'{qualified} "{name}" is invalid: [{", ".join(errors)}]'
    details: Body = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = status_causes
    return status(422, "Invalid", message, details)


def bad_request(message: str) -> Result:
    """400 with ``message`` as given (``Pod in version "v1" cannot be handled as a Pod: …``)."""
    return status(400, "BadRequest", message)


def cannot_handle(kind: str, api_version: str, detail: str) -> Result:
    """400 for a body that does not decode: ``Pod in version "v1" cannot be handled as a Pod: <detail>``."""
    version = api_version.rpartition("/")[2]
    return bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}')


def unauthorized(message: str = "Unauthorized") -> Result:
    """401, for a request without (or with bad) credentials."""
    return status(401, "Unauthorized", message)


def forbidden(resource: str, group: str, name: str, why: str) -> Result:
    """403 ``pods "x" is forbidden: <why>`` (``pods is forbidden: …`` without a name); ``why`` is e.g.
    ``User "system:anonymous" cannot get resource "pods" in API group "" in the namespace "default"``."""
    what = f'{_qualified(resource, group)} "{name}"' if name else _qualified(resource, group)
    return status(403, "Forbidden", f"{what} is forbidden: {why}", _details(resource, group, name))


def method_not_allowed(resource: str, group: str, action: str) -> Result:
    """405 ``<action> is not supported on resources of kind "pods"``."""
    return status(405, "MethodNotAllowed",
                  f'{action} is not supported on resources of kind "{_qualified(resource, group)}"',
                  _details(resource, group))


def unsupported_media_type(content_type: str, accepted: tuple[str, ...] = UNSUPPORTED_MEDIA_TYPES) -> Result:
    """415 for a body in ``content_type``, which the server does not read."""
    del content_type  # Kubernetes does not repeat it
    return status(415, "UnsupportedMediaType",
                  "the body of the request was in an unknown format - accepted media types include: "
                  + ", ".join(accepted))


def not_acceptable(accepted: tuple[str, ...]) -> Result:
    """406 for an Accept header that names nothing the server writes."""
    return status(406, "NotAcceptable",
                  "only the following media types are accepted: " + ", ".join(accepted))


def gone(requested: int | str, oldest: int | str) -> Result:
    """410 ``too old resource version: X (Y)``: a watch or list from a revision already compacted."""
    return status(410, "Expired", f"too old resource version: {requested} ({oldest})")


def internal(error: str) -> Result:
    """500 ``Internal error occurred: <error>``."""
    return status(500, "InternalError", f"Internal error occurred: {error}", {"causes": [{"message": error}]})


def service_unavailable(message: str) -> Result:
    """503 with ``message`` (no leader, the store unreachable)."""
    return status(503, "ServiceUnavailable", message)


def route_not_found() -> Result:
    """404 for a path no route serves."""
    return status(404, "NotFound", "the server could not find the requested resource", {})
