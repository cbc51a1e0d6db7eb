"""The node's event log: what happened to its containers, images, networks and volumes, and to the
swarm's objects, in the order it happened (what ``docker events`` streams).

Producers (the node's containers, its image and volume stores, the swarm's watch on a manager) call
``EventLog.emit`` (from the event loop, or from a worker thread: an image load runs in one); a front
door reads ``history`` and follows ``subscribe`` and words each ``Event`` (the Docker door as the
Engine API's events message). The log keeps the last ``KEEP`` events, as dockerd keeps its last 256,
for ``--since`` to replay.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import AsyncIterator, Callable

import msgspec

KEEP = 256  # dockerd's events limit: the events kept for a subscriber that asks for past ones


class Event(msgspec.Struct, kw_only=True, frozen=True):
    """One event: ``Type`` is the object's kind (container, image, network, volume, service, node,
    secret, config, daemon, plugin), ``Action`` what happened to it (create, start, die, destroy,
    update, remove, pull, tag, connect, …), ``Actor`` its ID, ``Attributes`` what the kind adds (a
    container's name, image and labels; a network's name and type; an exit code)."""

    Type: str
    Action: str
    Actor: str
    Attributes: dict[str, str] = msgspec.field(default_factory=dict)
    Scope: str = "local"  # "local" (this node's objects) | "swarm" (the swarm's)
    TimeNano: int = 0  # nanoseconds since the epoch


class EventLog:
    """The last ``KEEP`` events and the subscribers that follow new ones."""

    def __init__(self, keep: int = KEEP, clock: Callable[[], int] = time.time_ns) -> None:
        self._kept: collections.deque[Event] = collections.deque(maxlen=keep)
        self._subscribers: set[Subscription] = set()
        self._clock = clock
        self._lock = threading.Lock()  # emit may run in a worker thread

    def emit(self, type_: str, action: str, actor: str, attributes: dict[str, str] | None = None,
             scope: str = "local", time_nano: int = 0) -> Event:
        """Record an event and hand it to every subscriber (never blocks). ``time_nano``: when it
        happened, if not now (the swarm's events carry their object's creation or update time)."""
        ev = Event(Type=type_, Action=action, Actor=actor, Attributes=dict(attributes or {}), Scope=scope,
                   TimeNano=time_nano or self._clock())
        with self._lock:
            self._kept.append(ev)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.put(ev)
        return ev

    def history(self, since_nano: int = 0, until_nano: int = 0) -> list[Event]:
        """The kept events at or after ``since_nano`` and, when given, at or before ``until_nano``."""
        with self._lock:
            kept = list(self._kept)
        return [e for e in kept if e.TimeNano >= since_nano and (not until_nano or e.TimeNano <= until_nano)]

    @property
    def listeners(self) -> int:
        """How many subscribers follow the log now (``docker info``'s ``NEventsListener``)."""
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        """Follow the events emitted from now on (registered at once: take it before reading
        ``history``, and no event falls between the two). Close it when done."""
        sub = Subscription(self)
        with self._lock:
            self._subscribers.add(sub)
        return sub


class Subscription:
    """A subscriber's queue of new events; an async iterator, and a context manager that closes it."""

    def __init__(self, log: EventLog) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self._log = log
        self._loop = asyncio.get_running_loop()

    def put(self, ev: Event) -> None:
        """Queue an event, from the subscriber's loop or from any other thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self.queue.put_nowait(ev)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.queue.put_nowait, ev)

    def close(self) -> None:
        with self._log._lock:
            self._log._subscribers.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()
