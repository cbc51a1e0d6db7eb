"""Where a task's time goes on its way to running: stage marks, kept only when asked for.

With ``$SHOAL_TIMINGS`` naming a file when the daemon starts, ``mark(task_id, stage)`` appends one
line ``<wall-clock seconds> <task id> <stage>`` to it, and ``watch_tasks`` (handed to the store's
``subscribe``) marks each state a task reaches as the store commits it (``store:<state>``). The
benchmark (``bench/service_startup.py``) reads the lines back and prints how long each stage took
per task. Without the variable, ``mark`` is one test of a module flag and the store is not watched:
nothing is kept and the hot path pays nothing else.

Stages marked (in the order a Swarm task meets them; ``docs/design/runtime.md`` tells what each holds):
``store:new`` (the orchestrator made it), ``store:pending`` (allocated), ``store:assigned``
(scheduled), ``agent:received`` (the assignment reached the agent), ``agent:preparing``, then the
sandbox ``net:netns``, ``net:wired`` (veth, bridge, addresses, route), ``net:dns``, ``net:egress``,
``runc:prepared`` (bundle, overlay, config), ``agent:starting``, ``runc:started`` (``runc run``),
``agent:running`` and ``store:running`` (the report committed).
"""

from __future__ import annotations

import os
import time
from typing import IO, Any, Protocol

ENV = "SHOAL_TIMINGS"
PATH = os.environ.get(ENV, "")
ENABLED = bool(PATH)
_out: IO[str] | None = None


def mark(task_id: str, stage: str) -> None:
    """Record that ``task_id`` reached ``stage`` now (only with ``$SHOAL_TIMINGS``)."""
    if not ENABLED:
        return
    global _out
    if _out is None:
        _out = open(PATH, "a", buffering=1)
    _out.write(f"{time.time():.6f} {task_id} {stage}\n")


class _Change(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def old(self) -> Any: ...

    @property
    def new(self) -> Any: ...


def watch_tasks(ch: _Change) -> None:
    """A store listener: mark each new state of a task (``store:<state>``)."""
    new = ch.new
    if ch.kind != "tasks" or new is None:
        return
    if ch.old is None or ch.old.Status.State != new.Status.State:
        mark(new.ID, f"store:{new.Status.State}")


def read(path: str) -> dict[str, dict[str, float]]:
    """The marks in a file: per task, per stage, the first time it was reached."""
    out: dict[str, dict[str, float]] = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3:
            continue
        try:
            t = float(parts[0])
        except ValueError:
            continue
        out.setdefault(parts[1], {}).setdefault(parts[2], t)
    return out
