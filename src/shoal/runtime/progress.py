"""Docker's progress messages for long image work (``docker pull``'s downloads and extractions,
``docker load``'s layers): their JSON shape and how often they are sent.

A message is what dockerd's ``streamformatter`` writes: a status with an ID (``{"status": "Pulling fs
layer", "progressDetail": {}, "id": "<12 hex>"}``), or a status with bytes done (``"progressDetail":
{"current": …, "total": …}`` with Go's ``omitempty``, and the bar text in ``progress`` as dockerd
28 still sends it).

``Throttle`` is dockerd's ``progress.Reader`` rule: a report when more than 512 KiB (or 1 % of the
total, when that is less) were read since the last one, at most one every 100 ms (a token bucket of
one), and always the one that reaches the total or ends the stream. ``ProgressReader`` applies it to
a file read by a worker thread (a layer being stored); the clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any

UPDATE_EVERY = 512 << 10  # bytes
MIN_INTERVAL = 0.1  # seconds: rate.Every(100ms) with a burst of one

Clock = Callable[[], float]
Emit = Callable[[dict[str, Any]], None]


def human_size(n: float) -> str:
    """go-units ``HumanSize``: decimal units, four significant digits (``1.23MB``)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.4g}{units[i]}"


def progress_bar(current: int, total: int, width: int = 50) -> str:
    """Docker's ``JSONProgress.String()``: ``[=====>      ]  1.23MB/4.56MB``."""
    if total <= 0:
        return human_size(current)
    done = min(width, width * current // total)
    return f"[{'=' * done}>{' ' * (width - done)}] {human_size(current):>8}/{human_size(total)}"


def status(id_: str, action: str) -> dict[str, Any]:
    """``progress.Update``: a step of one item (``Waiting``, ``Pull complete``), no bytes."""
    return {"status": action, "progressDetail": {}, "id": id_}


def detail(id_: str, action: str, current: int, total: int) -> dict[str, Any]:
    """A step with bytes done (``Downloading``, ``Extracting``, ``Loading layer``)."""
    pd: dict[str, int] = {}
    if current:
        pd["current"] = current
    if total:
        pd["total"] = total
    return {"status": action, "progressDetail": pd, "progress": progress_bar(current, total), "id": id_}


class Throttle:
    """When a byte count is worth reporting (dockerd's ``progress.Reader``)."""

    def __init__(self, total: int, clock: Clock = time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.every = UPDATE_EVERY
        if total > 0:
            self.every = min(self.every, int(0.01 * total))
        self.last_update = 0  # bytes at the last check that passed the size rule
        self._next_allowed: float | None = None  # the token bucket: the first report is always allowed

    def _allow(self) -> bool:
        now = self.clock()
        if self._next_allowed is not None and now < self._next_allowed:
            return False
        self._next_allowed = now + MIN_INTERVAL
        return True

    def due(self, current: int, last: bool = False) -> bool:
        """``current`` bytes are done (``last``: the stream ended): report them?"""
        if current - self.last_update <= self.every and not last:
            return False
        self.last_update = current
        return last or current == self.total or self._allow()


class ProgressReader:
    """A file read by a thread (``read`` only), reporting ``action`` for ``id_`` through ``emit`` as
    ``Throttle`` allows, and a full bar at ``close`` when the reader stopped short of the total."""

    def __init__(self, src: IO[bytes], total: int, id_: str, action: str, emit: Emit,
                 clock: Clock = time.monotonic) -> None:
        self.src, self.id, self.action, self.emit = src, id_, action, emit
        self.throttle = Throttle(total, clock)
        self.current = 0
        self.ended = False

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.current += len(data)
        end = not data and n != 0 and not self.ended
        self.ended = self.ended or end
        if (data or end) and self.throttle.due(self.current, end):
            self.emit(detail(self.id, self.action, self.current, self.throttle.total))
        return data

    def close(self) -> None:
        if self.current < self.throttle.total:
            self.current = self.throttle.total
            self.emit(detail(self.id, self.action, self.current, self.throttle.total))
