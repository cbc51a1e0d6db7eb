"""The keyed work queue and its controller: de-duplication, one worker per key, delays, back-off,
shutdown with drain, driven by a fake clock (no test waits for time to pass)."""

from __future__ import annotations

import asyncio

import pytest

from shoal.manager.workqueue import BASE_DELAY, MAX_DELAY, Batch, Controller, WorkQueue

from ..helpers import FakeClock, until


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def q(clock: FakeClock) -> WorkQueue:
    return WorkQueue(clock)


# ---------------------------------------------------------------- queue


def test_a_key_added_twice_is_handed_out_once(q: WorkQueue) -> None:
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert q.get_nowait(10) == ["a", "b"]  # in the order they became ready
    assert q.get_nowait(10) == []


def test_get_takes_at_most_max_keys(q: WorkQueue) -> None:
    for k in "abcde":
        q.add(k)
    assert q.get_nowait(2) == ["a", "b"]
    assert q.get_nowait(2) == ["c", "d"]
    assert q.get_nowait(2) == ["e"]


def test_a_key_being_processed_is_not_handed_out_again_until_done(q: WorkQueue) -> None:
    q.add("a")
    assert q.get_nowait() == ["a"]
    q.add("a")  # changed while a worker has it
    q.add("a")
    assert q.get_nowait() == []  # never to a second worker
    assert q.processing("a")
    q.done("a")
    assert q.get_nowait() == ["a"]  # processed again after, once
    q.done("a")
    assert q.get_nowait() == [] and q.idle()


def test_done_without_a_new_add_leaves_nothing(q: WorkQueue) -> None:
    q.add("a")
    (k,) = q.get_nowait()
    q.done(k)
    assert q.get_nowait() == [] and q.idle()
    q.done(k)  # twice is harmless
    assert q.idle()


def test_add_after_waits_for_the_clock(q: WorkQueue, clock: FakeClock) -> None:
    q.add_after("a", 2.0)
    assert q.get_nowait() == [] and q.delayed("a") == 1002.0
    assert q.idle()  # a delayed key is not work yet
    clock.advance(1.999)
    assert q.get_nowait() == []
    clock.advance(0.001)
    assert q.get_nowait() == ["a"]
    assert q.delayed("a") is None


def test_add_after_keeps_the_earliest_time(q: WorkQueue, clock: FakeClock) -> None:
    q.add_after("a", 5.0)
    q.add_after("a", 1.0)
    q.add_after("a", 3.0)
    assert q.delayed("a") == 1001.0
    clock.advance(1.0)
    assert q.get_nowait() == ["a"]
    q.done("a")
    clock.advance(10)
    assert q.get_nowait() == []  # the later delays were folded into the first


def test_add_after_zero_is_add(q: WorkQueue) -> None:
    q.add_after("a", 0)
    q.add_after("b", -1)
    assert q.get_nowait(5) == ["a", "b"]


def test_a_delayed_key_already_ready_is_handed_out_once(q: WorkQueue, clock: FakeClock) -> None:
    q.add("a")
    q.add_after("a", 1.0)
    clock.advance(1.0)
    assert q.get_nowait(5) == ["a"]
    assert q.get_nowait(5) == []


def test_a_delayed_key_due_while_processing_waits_for_done(q: WorkQueue, clock: FakeClock) -> None:
    q.add("a")
    assert q.get_nowait() == ["a"]
    q.add_after("a", 1.0)
    clock.advance(1.0)
    assert q.get_nowait() == []
    q.done("a")
    assert q.get_nowait() == ["a"]


def test_rate_limited_retries_back_off_per_key(q: WorkQueue, clock: FakeClock) -> None:
    waits = []
    for _ in range(4):
        q.add_rate_limited("bad")
        when = q.delayed("bad")
        assert when is not None
        waits.append(round(when - clock(), 6))
        clock.advance(when - clock())
        assert q.get_nowait() == ["bad"]
        q.done("bad")
    assert waits == [BASE_DELAY, 2 * BASE_DELAY, 4 * BASE_DELAY, 8 * BASE_DELAY]
    assert q.failures("bad") == 4

    # Another key is not slowed down by the failing one.
    q.add_rate_limited("good")
    assert q.delayed("good") == pytest.approx(clock() + BASE_DELAY)

    q.forget("bad")  # it succeeded: the next failure starts from the beginning
    assert q.failures("bad") == 0 and q.backoff("bad") == BASE_DELAY


def test_back_off_is_capped(q: WorkQueue) -> None:
    for _ in range(40):
        q.add_rate_limited("bad")
    assert q.backoff("bad") == MAX_DELAY
    q2 = WorkQueue(FakeClock(), base_delay=1.0, max_delay=4.0)
    got = []
    for _ in range(5):
        got.append(q2.backoff("k"))
        q2.add_rate_limited("k")
    assert got == [1.0, 2.0, 4.0, 4.0, 4.0]


async def test_get_waits_for_a_key(q: WorkQueue) -> None:
    got: list[list[str]] = []

    async def worker() -> None:
        got.append(await q.get(5))

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    assert not task.done()
    q.add("a")
    q.add("b")
    await task
    assert got == [["a", "b"]]


async def test_a_delayed_key_wakes_a_waiting_worker_when_the_clock_says(q: WorkQueue, clock: FakeClock) -> None:
    q.add_after("a", 30.0)  # the real timer will not fire during the test: the fake clock decides
    task = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.wake()  # nothing due yet
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(30.0)
    q.wake()
    assert await task == ["a"]


async def test_a_real_timer_wakes_the_worker() -> None:
    q = WorkQueue()  # the real monotonic clock
    q.add_after("a", 0.01)
    assert await asyncio.wait_for(q.get(), timeout=5) == ["a"]


async def test_shutdown_lets_workers_drain_then_ends_them(q: WorkQueue) -> None:
    q.add("a")
    q.add("b")
    q.add_after("later", 1.0)
    q.shutdown()
    q.add("c")  # refused
    assert await q.get(1) == ["a"]
    assert await q.get(5) == ["b"]
    assert await q.get(5) == []  # drained: the worker ends
    assert q.delayed("later") is None


async def test_shutdown_wakes_an_idle_worker(q: WorkQueue) -> None:
    task = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    assert await task == []


async def test_wait_idle_returns_once_every_key_is_done(q: WorkQueue) -> None:
    q.add("a")
    waiter = asyncio.create_task(q.wait_idle())
    await asyncio.sleep(0)
    assert not waiter.done()
    (k,) = q.get_nowait()
    await asyncio.sleep(0)
    assert not waiter.done()  # taken, but still being processed
    q.done(k)
    await waiter


# ---------------------------------------------------------------- controller


class Recorder(Controller):
    """Records which keys each batch held, and how many workers held each key at once."""

    name = "recorder"

    def __init__(self, clock: FakeClock, *, workers: int = 1, max_batch: int = 1) -> None:
        super().__init__(clock)
        self.workers = workers
        self.max_batch = max_batch
        self.batches_seen: list[list[str]] = []
        self.holding: dict[str, int] = {}
        self.overlap = 0
        self.fail: set[str] = set()
        self.gate: asyncio.Event | None = None

    async def handle(self, batch: Batch) -> None:
        self.batches_seen.append(list(batch.keys))
        for k in batch.keys:
            self.holding[k] = self.holding.get(k, 0) + 1
            self.overlap = max(self.overlap, self.holding[k])
        try:
            if self.gate is not None:
                await self.gate.wait()
            for k in batch.keys:
                if k in self.fail:
                    batch.failed(k)
        finally:
            for k in batch.keys:
                self.holding[k] -= 1


async def test_controller_retries_only_the_failing_key_with_back_off(clock: FakeClock) -> None:
    c = Recorder(clock, max_batch=10)
    c.fail = {"bad"}
    for k in ("a", "bad", "b"):
        c.queue.add(k)
    await c.settle()
    assert c.batches_seen == [["a", "bad", "b"]]
    assert c.queue.delayed("bad") == pytest.approx(clock() + BASE_DELAY)
    assert c.queue.failures("a") == 0  # the others succeeded and are not retried
    clock.advance(BASE_DELAY)
    await c.settle()
    assert c.batches_seen[-1] == ["bad"]
    assert c.queue.delayed("bad") == pytest.approx(clock() + 2 * BASE_DELAY)
    c.fail.clear()
    clock.advance(2 * BASE_DELAY)
    await c.settle()
    assert c.queue.failures("bad") == 0 and c.queue.delayed("bad") is None  # forgotten on success


async def test_a_handler_that_raises_retries_its_unsettled_keys(clock: FakeClock) -> None:
    class Raises(Controller):
        async def handle(self, batch: Batch) -> None:
            batch.succeeded(batch.keys[0])
            raise RuntimeError("boom")

    c = Raises(clock)
    c.max_batch = 5
    c.queue.add("first")
    c.queue.add("second")
    await c.settle()
    assert c.queue.delayed("first") is None
    assert c.queue.delayed("second") == pytest.approx(clock() + BASE_DELAY)


async def test_workers_never_hold_one_key_at_once(clock: FakeClock) -> None:
    c = Recorder(clock, workers=3, max_batch=1)
    c.gate = asyncio.Event()
    c.start()
    try:
        c.queue.add("a")
        c.queue.add("b")
        await until(lambda: c.holding.get("a") == 1 and c.holding.get("b") == 1, what="two workers busy")
        c.queue.add("a")  # changed while held: the idle third worker must not take it
        c.queue.add("c")
        await until(lambda: c.holding.get("c") == 1, what="the third worker busy")
        assert c.holding["a"] == 1 and c.queue.processing("a")
        c.gate.set()
        await c.queue.wait_idle()
        assert c.overlap == 1
        assert sorted(k for b in c.batches_seen for k in b) == ["a", "a", "b", "c"]  # a again, after
    finally:
        await c.stop()


async def test_stop_lets_the_workers_finish_the_ready_keys(clock: FakeClock) -> None:
    c = Recorder(clock, workers=2, max_batch=2)
    c.start()
    for k in "abcde":
        c.queue.add(k)
    await c.stop(drain_timeout=5.0)
    assert sorted(k for b in c.batches_seen for k in b) == list("abcde")
    assert c._tasks == []
    c.queue.add("f")  # after stop: refused
    assert c.queue.idle()


async def test_stop_without_drain_ends_the_workers_at_once(clock: FakeClock) -> None:
    c = Recorder(clock, workers=1, max_batch=1)
    c.gate = asyncio.Event()  # never set: the batch would hold forever
    c.start()
    c.queue.add("a")
    c.queue.add("b")
    await until(lambda: c.holding.get("a") == 1, what="a worker busy")
    await c.stop()
    assert c._tasks == [] and c.batches_seen == [["a"]]


async def test_the_debounce_gathers_a_burst_into_one_batch(clock: FakeClock) -> None:
    c = Recorder(clock, max_batch=100)
    c.debounce = 0.05
    c.start()
    try:
        c.queue.add("a")
        await asyncio.sleep(0)
        c.queue.add("b")  # arrives while the worker gathers
        await until(lambda: bool(c.batches_seen), what="a batch")
        await c.queue.wait_idle()
        assert c.batches_seen == [["a", "b"]]
    finally:
        await c.stop()


async def test_a_stopped_controller_starts_again_with_a_new_queue(clock: FakeClock) -> None:
    c = Recorder(clock)
    c.start()
    await c.stop()  # e.g. the manager was deposed ...
    c.start()  # ... and elected again
    try:
        c.queue.add("a")
        await until(lambda: c.batches_seen == [["a"]], what="the restarted controller to take a key")
    finally:
        await c.stop()
