"""The event log from a worker thread (an image load runs in one): subscribers on the loop get the
event, woken as for one emitted on the loop; the listeners are counted."""

from __future__ import annotations

import asyncio

from shoal.api.events import EventLog


async def test_an_event_emitted_from_a_thread_reaches_a_subscriber() -> None:
    log = EventLog()
    with log.subscribe() as sub:
        assert log.listeners == 1
        waiting = asyncio.ensure_future(sub.__anext__())
        await asyncio.to_thread(log.emit, "image", "load", "sha256:abc", {"name": "sha256:abc"})
        ev = await asyncio.wait_for(waiting, 5)
    assert (ev.Type, ev.Action, ev.Actor) == ("image", "load", "sha256:abc")
    assert log.listeners == 0
    assert [e.Actor for e in log.history()] == ["sha256:abc"]


def test_an_events_own_time() -> None:
    log = EventLog(clock=lambda: 5)
    assert log.emit("service", "create", "s1", {"name": "web"}, "swarm", time_nano=3).TimeNano == 3
    assert log.emit("volume", "create", "v").TimeNano == 5
