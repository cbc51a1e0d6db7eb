"""The ReplicaSet controller's flow control (``replicasets.InFlight``): room while fewer Pods than the
limit are in flight; a Pod leaves when it runs, is refused a node or is deleted, and on its own once
the horizon has passed (a Pod stuck starting holds nobody back for longer)."""

from __future__ import annotations

import asyncio

from shoal.api.states import TaskState
from shoal.api.types import Task, TaskStatus
from shoal.manager.kube.replicasets import InFlight


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pod(tid: str, state: TaskState = TaskState.NEW, err: str = "") -> Task:
    return Task(ID=tid, Namespace="default", Name=tid, Status=TaskStatus(State=state, Err=err))


async def test_room_while_below_the_limit() -> None:
    f = InFlight(limit=2, horizon=5.0, clock=Clock())
    f.made([pod("a")])
    assert await f.wait_for_room() is False


async def test_a_pod_that_runs_or_is_refused_a_node_makes_room() -> None:
    f = InFlight(limit=2, horizon=5.0, clock=Clock())
    f.made([pod("a"), pod("b")])
    waiter = asyncio.ensure_future(f.wait_for_room())
    await asyncio.sleep(0)
    f.seen(pod("a"), pod("a", TaskState.PENDING))  # still in flight
    assert set(f.pods) == {"a", "b"}
    f.seen(pod("a"), pod("a", TaskState.RUNNING))
    assert await asyncio.wait_for(waiter, 5) is True
    f.made([pod("c")])
    f.seen(pod("c"), pod("c", TaskState.PENDING, err="0/3 nodes are available"))
    f.seen(pod("b"), None)  # deleted
    assert f.pods == {}


async def test_a_pod_counts_for_the_horizon_at_most() -> None:
    clock = Clock()
    f = InFlight(limit=1, horizon=5.0, clock=clock)
    f.made([pod("a")])
    clock.now += 5.0
    assert await asyncio.wait_for(f.wait_for_room(), 5) is False
    assert f.pods == {}
