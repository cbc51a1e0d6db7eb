"""The ``h`` fixture: an Orchestrator over a fresh memory store, seeded but not looping."""

from __future__ import annotations

import pytest

from shoal.manager.control import ControlAPI
from shoal.manager.orchestrator.orchestrator import Orchestrator

from ...helpers import FakeClock, memory_store, paused
from .harness import Harness


@pytest.fixture
async def h() -> Harness:
    store = await memory_store()
    clock = FakeClock()
    orch = Orchestrator(store, clock=clock)
    await paused(orch)
    return Harness(store, ControlAPI(store), orch, clock)
