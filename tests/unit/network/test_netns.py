"""Blocking network work from a fresh thread, awaited on the event loop (network/netns.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from shoal.network import netns


async def test_in_thread_runs_in_a_fresh_thread_and_returns_its_result() -> None:
    loop_thread = threading.get_ident()
    got = await netns.in_thread(threading.get_ident)
    assert got != loop_thread


async def test_in_thread_raises_what_the_function_raised() -> None:
    def fail() -> None:
        raise OSError(19, "no such device")

    with pytest.raises(OSError, match="no such device"):
        await netns.in_thread(fail)


async def test_a_cancelled_in_thread_ends_only_when_its_thread_has() -> None:
    """What a caller holds around the call (the links' lock) still covers the thread's work."""
    release = threading.Event()
    finished: list[str] = []

    def work() -> None:
        release.wait(10)
        finished.append("done")

    started = asyncio.ensure_future(netns.in_thread(work))
    await asyncio.sleep(0.05)
    started.cancel()
    await asyncio.sleep(0.05)
    assert not started.done()  # still waiting for the thread
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await started
    assert finished == ["done"]

