"""Typed errors. Each knows its HTTP status, so the front doors map them without business logic.

    ShoalError
    ├── InvalidArgument   400  bad input: malformed spec, unknown constraint, bad name
    ├── NotFound          404  no such service/node/task/image
    ├── AlreadyExists     409  name conflicts with an existing object
    ├── Conflict          409  a compare-and-swap lost (``update out of sequence``) or an object is in use
    ├── FailedPrecondition 406/503 the node is not in the state the call needs (not a manager, …)
    └── Unavailable       503  the store or the leader cannot be reached

The messages are Docker's and SwarmKit's, word for word, where a Swarm user would see them.
"""

from __future__ import annotations

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
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ShoalError):
    status = 400


class NotFound(ShoalError):
    status = 404


class AlreadyExists(ShoalError):
    status = 409


class Conflict(ShoalError):
    status = 409


class FailedPrecondition(ShoalError):
    status = 503


class Unavailable(ShoalError):
    status = 503
