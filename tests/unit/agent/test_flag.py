"""Flag: set, clear and wait as asyncio.Event, with one shared future for every waiter."""

from __future__ import annotations

import asyncio

from shoal.agent.flag import Flag


async def test_waiters_share_one_future_until_clear() -> None:
    f = Flag()
    a, b = f.future(), f.future()
    assert a is b and not a.done()
    waiter = asyncio.ensure_future(f.wait())
    await asyncio.sleep(0)
    f.set()
    assert a.done() and await waiter is True and f.is_set()
    f.clear()
    assert not f.is_set() and not f.future().done()  # a fresh future after clear


async def test_a_set_flag_is_done_at_once_and_a_cancelled_waiter_leaves_it_usable() -> None:
    f = Flag()
    f.set()
    assert f.future().done() and await f.wait()
    f.clear()
    w = asyncio.ensure_future(f.wait())
    await asyncio.sleep(0)
    w.cancel()
    await asyncio.gather(w, return_exceptions=True)
    assert not f.future().cancelled()  # the shared future survives a waiter's cancellation
    f.set()
    assert f.future().done()
