"""Typed errors. Each carries a ``Code`` (gRPC's status codes, as SwarmKit's control API returns
them); each front door words them for its clients (the Docker door: dockerd's HTTP status and, for
the control API's errors, ``rpc error: code = X desc = …``; a Kubernetes door: a ``Status``).

    ShoalError           Unknown             anything else
    ├── InvalidArgument   InvalidArgument     bad input: malformed spec, unknown constraint, bad name
    ├── NotFound          NotFound            no such service/node/task/image
    ├── AlreadyExists     AlreadyExists       name conflicts with an existing object
    ├── Conflict          Aborted             a compare-and-swap lost or an object is in use (the node's check)
    ├── FailedPrecondition FailedPrecondition the node or object is not in the state the call needs
    ├── Unavailable       Unavailable         the store or the leader cannot be reached
    ├── Unimplemented     Unimplemented       a feature shoal does not have
    ├── Unauthenticated   Unauthenticated     no (valid) credentials
    └── PermissionDenied  PermissionDenied    credentials that do not allow the call

``control=True`` marks an error of the cluster's control API (the manager's rules: validation,
uniqueness, sequence), as opposed to a check of the node that took the request (finding an object
by name, the node's swarm state). A Docker user sees the former as SwarmKit's gRPC errors and the
latter in dockerd's own words; a door that has no such split ignores the flag. ``message`` is the
description only, never a door's framing. The messages are Docker's and SwarmKit's, word for word,
where a Swarm user would see them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Code(enum.Enum):
    """gRPC's status codes (their names are what SwarmKit's errors show)."""

    UNKNOWN = "Unknown"
    INVALID_ARGUMENT = "InvalidArgument"
    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    PERMISSION_DENIED = "PermissionDenied"
    FAILED_PRECONDITION = "FailedPrecondition"
    ABORTED = "Aborted"
    UNIMPLEMENTED = "Unimplemented"
    INTERNAL = "Internal"
    UNAVAILABLE = "Unavailable"
    UNAUTHENTICATED = "Unauthenticated"
    OUT_OF_RANGE = "OutOfRange"

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
    "node to swarm and try again."
)
NOT_A_MANAGER_WORKER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run "
    "this command on a manager node or promote the current node to a manager."
)
SWARM_LOCKED = (
    'Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to '
    "unlock it."
)
ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join '
    "another one."
)
LEAVE_LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. Removing the "
    "last manager erases all current state of the swarm. Use `--force` to ignore this message. "
)


class ShoalError(Exception):
    code = Code.UNKNOWN

    def __init__(self, message: str, *, control: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.control = control


class InvalidArgument(ShoalError):
    code = Code.INVALID_ARGUMENT


class NotFound(ShoalError):
    code = Code.NOT_FOUND


class AlreadyExists(ShoalError):
    code = Code.ALREADY_EXISTS


class Conflict(ShoalError):
    code = Code.ABORTED


class FailedPrecondition(ShoalError):
    code = Code.FAILED_PRECONDITION


class Unavailable(ShoalError):
    code = Code.UNAVAILABLE


class Unimplemented(ShoalError):
    code = Code.UNIMPLEMENTED


class Unauthenticated(ShoalError):
    code = Code.UNAUTHENTICATED


class PermissionDenied(ShoalError):
    code = Code.PERMISSION_DENIED


class Gone(ShoalError):
    """A watch asked to resume from a revision older than the history kept (Kubernetes' 410 Gone:
    ``too old resource version``); ``oldest`` is the oldest revision it could resume from."""

    code = Code.OUT_OF_RANGE

    def __init__(self, message: str, *, oldest: int = 0) -> None:
        super().__init__(message)
        self.oldest = oldest


@dataclass(frozen=True, slots=True)
class FieldCause:
    """One reason an object is invalid, at one field (Kubernetes' ``StatusCause``): ``field`` is the
    path as the front door's clients write it (``spec.containers[0].image``), ``type`` Kubernetes'
    cause type (``FieldValueRequired``, ``FieldValueInvalid``, ``FieldValueNotSupported``,
    ``FieldValueDuplicate``, ``FieldValueForbidden``, ``FieldValueTooLong``), ``detail`` the words
    after it (``Required value``, ``Invalid value: "x": must be ...``)."""

    field: str
    type: str
    detail: str


class Invalid(InvalidArgument):
    """An object that breaks the rules of its kind, with one cause per field (the Kubernetes door
    answers 422 ``The Pod "x" is invalid: <field>: <detail>``)."""

    def __init__(self, kind: str, name: str, causes: list[FieldCause]) -> None:
        text = ", ".join(f"{c.field}: {c.detail}" for c in causes)
        super().__init__(f'{kind} "{name}" is invalid: {text}')
        self.kind = kind
        self.name = name
        self.causes = causes


_BY_CODE: dict[Code, type[ShoalError]] = {
    c.code: c for c in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, Unavailable, Unimplemented,
                        Unauthenticated, PermissionDenied)
}


def error_of(code: Code, message: str, *, control: bool = False) -> ShoalError:
    """The error of that code (its class, so ``except NotFound`` catches it)."""
    err = _BY_CODE.get(code, ShoalError)(message, control=control)
    if err.code is not code:
        err.code = code  # Unknown, Aborted, Internal: the base class with the code set
    return err
