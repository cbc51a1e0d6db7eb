"""Whole-set reconcile loops: events only mark work dirty and kick; one ``tick`` does all the work.

For the loops whose work is one batch over everything dirty and has no natural key: the scheduler
(it places groups of identical tasks against every node at once), the allocator, the reaper, the
network key rotation. Per-object controllers (the orchestrator, and later the Kubernetes ones) run
on the keyed work queue instead (``workqueue.py``), where a failure retries one key.

A loop owns one asyncio task. ``kick`` is cheap and safe from store listeners; ticks never overlap;
a tick that raises is logged and retried after a back-off (``BASE_DELAY`` doubling up to
``MAX_DELAY``, reset by a tick that succeeds), so one bad object cannot stop the manager nor make it
spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from shoal.manager.workqueue import BASE_DELAY, MAX_DELAY, Clock

__all__ = ["Clock", "Loop"]

log = logging.getLogger(__name__)


class Loop:
    name = "loop"
    debounce = 0.0  # seconds to gather more events before a tick

    def __init__(self) -> None:
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None  # set by start() when the loop listens to a store
        self.ticks = 0
        self.failures = 0  # consecutive failed ticks

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
                self.failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = self.retry_delay()
                self.failures += 1
                log.exception("%s: tick failed; retrying in %.3f s", self.name, delay)
                await asyncio.sleep(delay)  # events meanwhile wait too: a failing loop does not spin
                self.kick()

    def retry_delay(self) -> float:
        """How long the next retry of a failed tick waits: doubling with each failure in a row."""
        return MAX_DELAY if self.failures >= 32 else min(BASE_DELAY * 2**self.failures, MAX_DELAY)

    async def settle(self) -> None:
        """Run ticks until nothing is kicked (tests)."""
        while self._kick.is_set():
            self._kick.clear()
            await self.tick()
