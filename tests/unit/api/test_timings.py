"""Stage marks for the bench (api/timings.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shoal.api import timings
from shoal.api.states import TaskState
from shoal.api.types import Task, TaskStatus


@dataclass
class Change:
    kind: str
    old: Any
    new: Any


def test_nothing_is_kept_without_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timings, "ENABLED", False)
    monkeypatch.setattr(timings, "PATH", str(tmp_path / "marks"))
    timings.mark("t1", "agent:received")
    assert not (tmp_path / "marks").exists()


def test_marks_and_store_states_are_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timings, "ENABLED", True)
    monkeypatch.setattr(timings, "PATH", str(tmp_path / "marks"))
    monkeypatch.setattr(timings, "_out", None)
    pending = Task(ID="t1", Status=TaskStatus(State=TaskState.PENDING))
    assigned = Task(ID="t1", Status=TaskStatus(State=TaskState.ASSIGNED))
    timings.watch_tasks(Change("tasks", None, pending))
    timings.watch_tasks(Change("tasks", pending, pending))  # no new state: no mark
    timings.watch_tasks(Change("tasks", pending, assigned))
    timings.watch_tasks(Change("services", None, object()))
    timings.mark("t1", "agent:received")
    timings.mark("t1", "agent:received")  # the first time counts
    assert timings._out is not None
    timings._out.close()
    marks = timings.read(str(tmp_path / "marks"))
    assert list(marks["t1"]) == ["store:pending", "store:assigned", "agent:received"]
    assert marks["t1"]["store:pending"] <= marks["t1"]["agent:received"]
    assert timings.read(str(tmp_path / "none")) == {}
