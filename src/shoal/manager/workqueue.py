"""A keyed work queue and the controller that runs workers over it (client-go's workqueue, asyncio).

Event handlers only ``add`` keys (a service ID, say); workers take keys and reconcile them. The queue
guarantees, as client-go's does:

- **de-duplication**: a key added any number of times before a worker takes it is handed out once;
- **one worker per key**: a key being processed is not handed out again until the worker calls
  ``done``; if it was added meanwhile, ``done`` queues it again, so a change seen during processing is
  never lost and never processed concurrently;
- **delays**: ``add_after(key, seconds)`` makes the key ready later (the earliest of two delays wins);
- **rate-limited retries**: ``add_rate_limited(key)`` re-adds a failed key after a per-key back-off,
  ``BASE_DELAY`` doubling on every consecutive failure up to ``MAX_DELAY``; ``forget(key)`` (on
  success) starts the back-off over. One bad key backs off alone; the others go on;
- **an injected clock**: delays are measured with ``clock`` (``time.monotonic`` by default, a fake
  in tests). A real timer wakes the workers when the earliest delay should have passed; it is only a
  hint, the clock decides. After moving a fake clock, tests call ``wake()``;
- **shutdown with drain**: ``shutdown()`` refuses new keys, lets workers take the keys still ready,
  and then makes ``get`` return nothing, so workers end.

Workers take keys in batches (``get(max_keys)``): the orchestrator reconciles many services together
and commits their tasks in large transactions, which is what makes a thousand services of a thousand
replicas fast. ``Controller`` runs N such workers; a handler settles each key of its batch
(``Batch.succeeded``/``failed``/``retry``) or, if it raises, every key left is retried with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

Clock = Callable[[], float]

BASE_DELAY = 0.005  # the first retry of a failed key (client-go's default item back-off)
MAX_DELAY = 30.0  # the longest a failing key waits between attempts


class WorkQueue:
    """A de-duplicating, delaying, rate-limiting queue of string keys (see the module docstring)."""

    def __init__(self, clock: Clock = time.monotonic, *, base_delay: float = BASE_DELAY,
                 max_delay: float = MAX_DELAY) -> None:
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._ready: dict[str, None] = {}  # keys to hand out, in the order they became ready
        self._dirty: set[str] = set()  # keys that need processing (ready, or added while processing)
        self._processing: set[str] = set()
        self._delayed: dict[str, float] = {}  # key -> when it becomes ready (by ``clock``)
        self._heap: list[tuple[float, int, str]] = []  # (when, sequence, key); stale entries skipped
        self._seq = 0
        self._failures: dict[str, int] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._shutting_down = False

    # ------------------------------------------------------------ adding

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._ready[key] = None
            self._notify()

    def add_after(self, key: str, delay: float) -> None:
        """Make ``key`` ready in ``delay`` seconds (at once if ``delay <= 0``)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        when = self.clock() + delay
        have = self._delayed.get(key)
        if have is not None and have <= when:
            return
        self._delayed[key] = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, key))
        self._arm()

    def add_rate_limited(self, key: str) -> None:
        """Retry ``key`` after its back-off: ``base_delay * 2**failures``, at most ``max_delay``."""
        self.add_after(key, self.backoff(key))
        self._failures[key] = self._failures.get(key, 0) + 1

    def backoff(self, key: str) -> float:
        """The delay the next ``add_rate_limited(key)`` would give."""
        n = self._failures.get(key, 0)
        # 2**n grows without bound; past the cap the answer does not change, so stop doubling.
        return self.max_delay if n >= 32 else min(self.base_delay * 2**n, self.max_delay)

    def forget(self, key: str) -> None:
        """The key succeeded: its next failure starts the back-off from ``base_delay`` again."""
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    # ------------------------------------------------------------ taking

    def get_nowait(self, max_keys: int = 1) -> list[str]:
        """Up to ``max_keys`` ready keys (delayed ones whose time has come included), now processing."""
        self._promote()
        out: list[str] = []
        while self._ready and len(out) < max_keys:
            key = next(iter(self._ready))
            del self._ready[key]
            self._dirty.discard(key)
            self._processing.add(key)
            out.append(key)
        return out

    async def get(self, max_keys: int = 1) -> list[str]:
        """Wait for at least one ready key and take up to ``max_keys``; ``[]`` once shut down and drained."""
        while True:
            await self.wait_ready()
            keys = self.get_nowait(max_keys)
            if keys or self._shutting_down:
                return keys

    async def wait_ready(self) -> None:
        """Until a key is ready to take (or the queue is shut down with nothing left to take)."""
        while True:
            self._promote()
            if self._ready or self._shutting_down:
                return
            await self._wait()

    def done(self, key: str) -> None:
        """The worker is finished with ``key``; if it was added meanwhile, it is ready again."""
        if key not in self._processing:
            return
        self._processing.discard(key)
        if key in self._dirty:
            self._ready[key] = None
        self._notify()

    # ------------------------------------------------------------ state

    def __len__(self) -> int:
        """Keys ready to take (not the delayed ones, not those being processed)."""
        return len(self._ready)

    def processing(self, key: str) -> bool:
        return key in self._processing

    def delayed(self, key: str) -> float | None:
        """When ``key`` becomes ready by the clock, if it waits for a delay."""
        return self._delayed.get(key)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def idle(self) -> bool:
        """Nothing ready and nothing being processed (delayed keys may still wait)."""
        self._promote()
        return not self._ready and not self._processing

    async def wait_idle(self) -> None:
        """Until nothing is ready and nothing is being processed: every change seen so far is handled."""
        while not self.idle():
            await self._wait()

    def wake(self) -> None:
        """The clock moved (a fake clock in tests): hand out the delayed keys whose time has come."""
        self._promote()
        self._notify()

    def shutdown(self) -> None:
        """Take no new keys; workers still get the ready ones, then ``get`` returns ``[]``."""
        self._shutting_down = True
        self._delayed.clear()
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._notify()

    # ------------------------------------------------------------ internals

    def _promote(self) -> None:
        if not self._heap:
            return
        now = self.clock()
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            if self._delayed.get(key) == when:
                del self._delayed[key]
                self.add(key)
        self._arm()

    def _arm(self) -> None:
        """A real timer for the earliest delayed key (only a hint to look again; the clock decides)."""
        while self._heap and self._delayed.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # a stale entry: the key was made ready earlier
        if not self._heap:
            return
        when = self._heap[0][0]
        if self._timer is not None and self._timer_at <= when:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: whoever waits will promote
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = loop.call_later(max(when - self.clock(), 0.0), self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self.wake()

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def _wait(self) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)


class Batch:
    """The keys one worker took; the handler settles each one (or the controller settles the rest)."""

    def __init__(self, queue: WorkQueue, keys: list[str]) -> None:
        self.queue = queue
        self.keys = keys
        self.open = set(keys)

    def succeeded(self, key: str) -> None:
        if key in self.open:
            self.open.discard(key)
            self.queue.forget(key)
            self.queue.done(key)

    def failed(self, key: str) -> None:
        """Retry ``key`` after its back-off."""
        if key in self.open:
            self.open.discard(key)
            self.queue.add_rate_limited(key)
            self.queue.done(key)

    def retry(self, key: str) -> None:
        """Look at ``key`` again at once (what it read changed under it: a conflict, not a failure)."""
        if key in self.open:
            self.open.discard(key)
            self.queue.add(key)
            self.queue.done(key)

    def settle(self, keys: Iterable[str], ok: bool) -> None:
        for k in list(keys):
            (self.succeeded if ok else self.failed)(k)


class Controller:
    """Runs ``workers`` asyncio tasks, each taking up to ``max_batch`` keys and calling ``handle``.

    Subclasses fill the queue from store listeners (``start`` subscribes and seeds) and implement
    ``handle``. ``debounce`` gathers more keys after the first is ready, so a burst of events makes
    one batch. ``settle()`` runs the handler in the caller's task until nothing is ready (tests, with
    the workers not started).
    """

    name = "controller"
    workers = 1
    max_batch = 1
    debounce = 0.0

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.queue = WorkQueue(clock)
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None  # set by start() when listening to a store
        self.batches = 0

    async def handle(self, batch: Batch) -> None:
        raise NotImplementedError

    def seed(self) -> None:
        """Subscribe to what feeds the queue and add every key there is (``start`` does this first)."""

    def start(self) -> None:
        """Seed and run the workers; a controller stopped before (a leader deposed and elected again)
        starts over with a new queue."""
        if self.queue.shutting_down:
            q = self.queue
            self.queue = WorkQueue(q.clock, base_delay=q.base_delay, max_delay=q.max_delay)
        self.seed()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._worker(), name=f"{self.name}-{i}") for i in range(self.workers)]

    async def stop(self, drain_timeout: float = 0.0) -> None:
        """Stop listening, shut the queue down, give the workers ``drain_timeout`` seconds to finish
        the keys still ready, and end them. The manager stops at once (0): a manager that is no
        longer the leader must stop writing; the next leader starts from the store."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.queue.shutdown()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=drain_timeout)
        for t in pending:
            t.cancel()  # what a cancelled batch did not commit, the next leader redoes from the store
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

    async def _worker(self) -> None:
        while True:
            await self.queue.wait_ready()
            if self.debounce and not self.queue.shutting_down:
                await asyncio.sleep(self.debounce)
            keys = self.queue.get_nowait(self.max_batch)
            if not keys:
                if self.queue.shutting_down:
                    return
                continue
            await self.run_batch(keys)

    async def run_batch(self, keys: list[str]) -> None:
        batch = Batch(self.queue, keys)
        try:
            await self.handle(batch)
        except asyncio.CancelledError:
            batch.settle(batch.open, ok=False)
            raise
        except Exception:
            log.exception("%s: %d keys failed; retrying them with back-off", self.name, len(batch.open))
            batch.settle(batch.open, ok=False)
        else:
            batch.settle(batch.open, ok=True)
        self.batches += 1

    async def settle(self) -> None:
        """Handle ready keys in this task until none is ready (tests drive a controller so)."""
        while keys := self.queue.get_nowait(self.max_batch):
            await self.run_batch(keys)
