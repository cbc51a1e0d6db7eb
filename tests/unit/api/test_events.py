"""The node's event log: history within a window, subscribers see what comes after they subscribe."""

from __future__ import annotations

import asyncio

from shoal.api.events import EventLog


def test_history_keeps_the_last_and_filters_by_time() -> None:
    now = iter(range(1, 100))
    log = EventLog(keep=3, clock=lambda: next(now))
    for i in range(5):
        log.emit("container", "start", f"c{i}")
    assert [e.Actor for e in log.history()] == ["c2", "c3", "c4"]
    assert [e.Actor for e in log.history(since_nano=4, until_nano=4)] == ["c3"]


async def test_a_subscriber_gets_what_comes_after_it_subscribed() -> None:
    log = EventLog()
    log.emit("image", "pull", "busybox:latest")
    with log.subscribe() as sub:
        log.emit("container", "create", "abc", {"name": "web"})
        ev = await asyncio.wait_for(sub.__anext__(), 1)
    assert (ev.Type, ev.Action, ev.Attributes) == ("container", "create", {"name": "web"})
    log.emit("container", "start", "abc")  # no subscriber left: nothing queued anywhere
    assert not log._subscribers
