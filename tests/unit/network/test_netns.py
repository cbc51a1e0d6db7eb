"""Blocking network work from a fresh thread, awaited on the event loop (network/netns.py)."""

from __future__ import annotations

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
