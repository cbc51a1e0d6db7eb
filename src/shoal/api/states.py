"""Task states in SwarmKit's order, and the rule that a task's state only moves forward.

States are strings on the wire (``"running"``) and compare by their place in the life of a task, so
``state > TaskState.RUNNING`` means "has stopped" exactly as in SwarmKit.
"""

from __future__ import annotations

import enum

_ORDER = [
    "new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting",
    "running", "complete", "shutdown", "failed", "rejected", "remove", "orphaned",
]
_RANK = {s: i for i, s in enumerate(_ORDER)}  # a member hashes and compares as its string: _RANK[state]
_RUNNING = _RANK["running"]


class TaskState(enum.StrEnum):
    NEW = "new"
    ALLOCATED = "allocated"
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    PREPARING = "preparing"
    READY = "ready"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETE = "complete"
    SHUTDOWN = "shutdown"
    FAILED = "failed"
    REJECTED = "rejected"
    REMOVE = "remove"
    ORPHANED = "orphaned"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, TaskState):
            return NotImplemented
        return _RANK[self] < _RANK[other]

    def __le__(self, other: object) -> bool:
        if not isinstance(other, TaskState):
            return NotImplemented
        return _RANK[self] <= _RANK[other]

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, TaskState):
            return NotImplemented
        return _RANK[self] > _RANK[other]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, TaskState):
            return NotImplemented
        return _RANK[self] >= _RANK[other]

    def __str__(self) -> str:
        return str.__str__(self)

    __hash__ = str.__hash__

    @property
    def terminal(self) -> bool:
        """The task has stopped (or will never run): complete, shutdown, failed, rejected, …"""
        return _RANK[self] > _RUNNING


# The one step an agent takes from each state while the task is wanted running.
NEXT_STATE: dict[TaskState, TaskState] = {
    TaskState.ASSIGNED: TaskState.ACCEPTED,
    TaskState.ACCEPTED: TaskState.PREPARING,
    TaskState.PREPARING: TaskState.READY,
    TaskState.READY: TaskState.STARTING,
    TaskState.STARTING: TaskState.RUNNING,
}


def is_forward(old: TaskState, new: TaskState) -> bool:
    """A status report may only keep or advance the state, never move it back."""
    return new >= old


# Messages SwarmKit's agent sets with each state (shown by `docker service ps --no-trunc` and inspect).
STATE_MESSAGE: dict[TaskState, str] = {
    TaskState.NEW: "created",
    TaskState.PENDING: "pending task scheduling",
    TaskState.ASSIGNED: "scheduler assigned task to node",
    TaskState.ACCEPTED: "accepted",
    TaskState.PREPARING: "preparing",
    TaskState.READY: "prepared",
    TaskState.STARTING: "starting",
    TaskState.RUNNING: "started",
    TaskState.COMPLETE: "finished",
    TaskState.SHUTDOWN: "shutdown",
    TaskState.FAILED: "started",
    TaskState.REJECTED: "preparing",
    TaskState.REMOVE: "removed",
    TaskState.ORPHANED: "orphaned",
}
