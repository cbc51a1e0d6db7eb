"""The core's coded errors in dockerd's words: the HTTP status and the ``message``.

An error of the cluster's control API (``control=True``) is one SwarmKit returns over gRPC: dockerd
shows it as ``rpc error: code = <Code> desc = <message>`` with the status it gives the gRPC code
(FailedPrecondition is 400 there). An error of the node's own checks is dockerd's: the message as
it is, with dockerd's status for its kind (a node that is not a manager, or is locked, answers 503).
"""

from __future__ import annotations

from shoal.api.errors import Code, ShoalError

# dockerd's status of a gRPC code from SwarmKit (moby's statusCodeFromGRPCError); others: 500.
_CONTROL_STATUS = {
    Code.INVALID_ARGUMENT: 400, Code.NOT_FOUND: 404, Code.ALREADY_EXISTS: 409, Code.PERMISSION_DENIED: 403,
    Code.FAILED_PRECONDITION: 400, Code.UNAUTHENTICATED: 401, Code.UNIMPLEMENTED: 501, Code.UNAVAILABLE: 503,
}
# dockerd's status of its own errors by kind; others: 500.
_NODE_STATUS = {
    Code.INVALID_ARGUMENT: 400, Code.UNAUTHENTICATED: 401, Code.PERMISSION_DENIED: 403, Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409, Code.ABORTED: 409, Code.UNIMPLEMENTED: 501, Code.FAILED_PRECONDITION: 503,
    Code.UNAVAILABLE: 503,
}


def status_of(e: ShoalError) -> int:
    return (_CONTROL_STATUS if e.control else _NODE_STATUS).get(e.code, 500)


def words(e: ShoalError) -> str:
    if e.control:
        return f"rpc error: code = {e.code.value} desc = {e.message}"
    return e.message
