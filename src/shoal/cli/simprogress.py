"""``shoal sim``'s and ``shoal sim bench``'s progress line, on stderr (stdout keeps the final numbers):
nodes up of N, tasks running (or assigned) of M, the current rate and the time elapsed::

    nodes up: 5000/5000  tasks running: 41234/100000  rate: 2345 tasks/s  elapsed: 42.0s

On a terminal the line is redrawn in place every half second (``\\r``, erase line). Elsewhere a line
is printed when every node is up, when every task wanted is running, and otherwise every ``every``
seconds when the numbers changed, so a log is not flooded by an idle simulation. The rate is taken
over the last ``RATE_WINDOW`` seconds of samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import IO

from shoal.sim import Reached

ERASE = "\r\x1b[2K"
TTY_PERIOD = 0.5  # seconds between redraws on a terminal
RATE_WINDOW = 3.0  # seconds of samples the rate is taken over


def elapsed_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Ticker:
    """Draws ``reached`` on ``out``; ``tick`` samples and draws (the caller, or ``run``, paces it)."""

    def __init__(self, reached: Reached, out: IO[str] | None = None, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, every: float = 5.0) -> None:
        self.reached = reached
        self.out = out or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self.clock = clock
        self.every = every
        self.t0 = clock()
        self.samples: deque[tuple[float, int]] = deque()
        self.drawn = False  # a line is on screen, not ended (terminal)
        self.last_printed = self.t0  # the first line after `every` seconds (or at a milestone)
        self.last_state: tuple[int, int, int, int] | None = None  # numbers of the last printed line
        self.nodes_were_up = False
        self.tasks_were_done = False

    def rate(self, now: float) -> float:
        done = self.reached.done
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW:
            self.samples.popleft()
        t, d = self.samples[0]
        return (done - d) / (now - t) if now > t else 0.0

    def text(self, now: float, rate: float) -> str:
        r = self.reached
        parts = [f"nodes up: {r.nodes_up}/{r.nodes}"]
        if r.tasks or r.done:
            parts += [f"tasks {r.verb}: {r.done}/{r.tasks}", f"rate: {rate:.0f} tasks/s"]
        parts.append(f"elapsed: {elapsed_text(now - self.t0)}")
        return "  ".join(parts)

    def _state(self) -> tuple[int, int, int, int]:
        r = self.reached
        return r.nodes_up, r.nodes, r.done, r.tasks

    def tick(self, final: bool = False) -> None:
        now = self.clock()
        rate = self.rate(now)
        r = self.reached
        if self.tty:
            self.out.write(ERASE + self.text(now, rate) + ("\n" if final else ""))
            self.drawn = not final
            self.out.flush()
            return
        nodes_up = r.nodes > 0 and r.nodes_up >= r.nodes
        tasks_done = r.tasks > 0 and r.done >= r.tasks
        milestone = (nodes_up and not self.nodes_were_up) or (tasks_done and not self.tasks_were_done)
        self.nodes_were_up, self.tasks_were_done = nodes_up, tasks_done
        changed = self._state() != self.last_state
        if milestone or (changed and (final or now - self.last_printed >= self.every)):
            self.out.write(self.text(now, rate) + "\n")
            self.out.flush()
            self.last_printed, self.last_state = now, self._state()

    def clear(self) -> None:
        """Take the line off the screen (before other output); the next tick draws it again."""
        if self.tty and self.drawn:
            self.out.write(ERASE)
            self.out.flush()
            self.drawn = False

    async def run(self) -> None:
        """Tick until cancelled: every half second on a terminal, every second elsewhere."""
        while True:
            self.tick()
            await asyncio.sleep(TTY_PERIOD if self.tty else 1.0)


@contextlib.asynccontextmanager
async def ticking(reached: Reached, quiet: bool, out: IO[str] | None = None) -> AsyncIterator[Ticker | None]:
    """A ``Ticker`` running while the block runs (None when ``quiet``); its last line at the end."""
    if quiet:
        yield None
        return
    ticker = Ticker(reached, out)
    task = asyncio.get_running_loop().create_task(ticker.run())
    try:
        yield ticker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        ticker.tick(final=True)
