"""The arithmetic of rolling batches (the worked example of rolling.py's docstring)."""

from __future__ import annotations

from shoal.api.types import UpdateConfig
from shoal.manager.orchestrator import rolling


def test_room_is_what_is_left_of_the_parallelism() -> None:
    assert rolling.room(UpdateConfig(Parallelism=2), dirty=5, in_flight=1) == 1
    assert rolling.room(UpdateConfig(Parallelism=2), dirty=5, in_flight=3) == 0
    assert rolling.room(UpdateConfig(Parallelism=0), dirty=5, in_flight=1) == 5  # 0: all at once
