"""The whole-set loop: a failed tick is retried with a back-off that doubles and resets on success."""

from __future__ import annotations

from shoal.manager.loop import Loop
from shoal.manager.workqueue import BASE_DELAY, MAX_DELAY

from ..helpers import until


class Flaky(Loop):
    name = "flaky"

    def __init__(self, fail: int) -> None:
        super().__init__()
        self.fail = fail
        self.calls = 0

    async def tick(self) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise RuntimeError("boom")


def test_retry_delay_doubles_up_to_the_cap() -> None:
    loop = Flaky(0)
    got = []
    for n in (0, 1, 2, 3, 40):
        loop.failures = n
        got.append(loop.retry_delay())
    assert got == [BASE_DELAY, 2 * BASE_DELAY, 4 * BASE_DELAY, 8 * BASE_DELAY, MAX_DELAY]


async def test_a_failing_tick_is_retried_until_it_succeeds_and_the_back_off_resets() -> None:
    loop = Flaky(fail=3)
    loop.start()
    try:
        loop.kick()
        await until(lambda: loop.ticks == 1, what="a successful tick")  # 5 + 10 + 20 ms of back-off
        assert loop.calls == 4 and loop.failures == 0
        loop.kick()
        await until(lambda: loop.ticks == 2, what="the next tick")
        assert loop.calls == 5
    finally:
        await loop.stop()
