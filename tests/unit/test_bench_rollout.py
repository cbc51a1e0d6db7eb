"""``bench/rollout.py``'s arithmetic: the floor of ready replicas a rolling update may leave, and the
lowest ready count of a rollout read from its samples."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("rollout", BENCH / "rollout.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["rollout"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_floor_rounds_unavailable_down() -> None:
    rollout = load()
    assert rollout.rollout_floor(20, "25%") == 15
    assert rollout.rollout_floor(10, "25%") == 8  # 2.5 rounded down
    assert rollout.rollout_floor(5, "1") == 4


def test_lowest_counts_what_held_when_the_clock_started() -> None:
    rollout = load()
    s = rollout.Samples()
    s.add(-1.0, 20, 20)  # before the update
    s.add(0.5, 16, 21)
    s.add(1.0, 15, 25)
    s.add(2.0, 20, 20)
    s.add(30.0, 3, 3)  # after the end: the service being removed
    assert s.lowest(until=2.0) == 15
    assert s.most_up == 25
    quiet = rollout.Samples()
    quiet.add(-1.0, 18, 20)  # nothing changed after the start: what held then counts
    assert quiet.lowest(until=5.0) == 18
