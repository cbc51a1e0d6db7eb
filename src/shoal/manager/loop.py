"""Reconcile loops: events only mark work dirty and kick; one ``tick`` does the work, once per kick.

A loop owns one asyncio task. ``kick`` is cheap and safe from store listeners; ticks never overlap;
a tick that raises is logged and retried after a pause, so one bad object cannot stop the manager.
The clock is injected so tests control time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def monotonic() -> float:
    return time.monotonic()


class Loop:
    name = "loop"
    debounce = 0.0  # seconds to gather more events before a tick

    def __init__(self) -> None:
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None  # set by start() when the loop listens to a store
        self.ticks = 0

    def kick(self) -> None:
        self._kick.set()

    def kick_at(self, delay: float) -> None:
        """Kick again after ``delay`` seconds (for timers: restart delays, update monitors)."""
        loop = asyncio.get_running_loop()
        if self._timer is not None and self._timer.when() <= loop.time() + delay:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(max(delay, 0.0), self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self.kick()

    async def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._kick.wait()
            if self.debounce:
                await asyncio.sleep(self.debounce)
            self._kick.clear()
            try:
                await self.tick()
                self.ticks += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: tick failed; retrying", self.name)
                await asyncio.sleep(0.5)
                self.kick()

    async def settle(self) -> None:
        """Run ticks until nothing is kicked (tests)."""
        while self._kick.is_set():
            self._kick.clear()
            await self.tick()
