"""Healthchecks of a task's container, as Docker runs them, and what Swarm makes of the verdict.

The check is the service's ``ContainerSpec.Healthcheck`` over the image's ``HEALTHCHECK`` (a field
the service leaves empty comes from the image; ``Test: ["NONE"]``, ``--no-healthcheck``, turns it
off). ``CMD`` runs its arguments, ``CMD-SHELL`` runs ``/bin/sh -c``, inside the container
(``runtime.probe``). Docker's defaults: every 30 s (every 5 s during the start period), 30 s of
timeout, 3 retries, no start period. The first probe comes one interval after the start. A probe
that exits 0 makes the container healthy and clears the failing streak; any other exit, or a
timeout, adds to the streak, except while the container is still in its start period and has never
been healthy; ``Retries`` failures in a row make it unhealthy.

Swarm's use of it (the agent's ``TaskRunner``): a task whose container has a healthcheck stays
``starting`` until the first healthy probe, then is ``running``; an unhealthy container is stopped
and its task fails with ``task: non-zero exit (<code>): dockerexec: unhealthy container``, after
which the restart policy takes over. What SwarmKit accepts in a service's healthcheck is a core rule
(``api/health.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shoal import metrics
from shoal.agent.flag import Flag
from shoal.api.defaults import SECOND

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
UNHEALTHY = "dockerexec: unhealthy container"
LOG_KEEP = 5  # results kept, as Docker keeps

Probe = Callable[[list[str], float], Awaitable[tuple[int, str]]]


@dataclass
class Check:
    test: list[str]  # what to run in the container
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    start_period: float = 0.0
    start_interval: float = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES


def effective(spec: dict[str, Any] | None, image: dict[str, Any] | None) -> Check | None:
    """The check a container runs: the service's fields, the image's where the service has none."""
    spec, image = spec or {}, image or {}
    test = list(spec.get("Test") or image.get("Test") or [])
    if not test or test[0] == "NONE":
        return None

    def seconds(key: str, default: float) -> float:
        ns = int(spec.get(key) or image.get(key) or 0)
        return ns / SECOND if ns > 0 else default

    if test[0] == "CMD-SHELL":
        argv = ["/bin/sh", "-c", " ".join(test[1:])]
    elif test[0] == "CMD":
        argv = test[1:]
    else:
        return None
    if not argv:
        return None
    return Check(test=argv, interval=seconds("Interval", DEFAULT_INTERVAL),
                 timeout=seconds("Timeout", DEFAULT_TIMEOUT), start_period=seconds("StartPeriod", 0.0),
                 start_interval=seconds("StartInterval", DEFAULT_START_INTERVAL),
                 retries=int(spec.get("Retries") or image.get("Retries") or DEFAULT_RETRIES))


@dataclass
class Result:
    start: float
    end: float
    exit_code: int
    output: str


@dataclass
class Monitor:
    """Probes one container until stopped; ``status`` is ``starting``, ``healthy`` or ``unhealthy``."""

    check: Check
    probe: Probe
    clock: Callable[[], float] = time.monotonic
    status: str = "starting"
    failing_streak: int = 0
    log: list[Result] = field(default_factory=list)
    changed: Flag = field(default_factory=Flag)
    started_at: float = 0.0

    async def run(self) -> None:
        self.started_at = self.clock()
        while self.status != "unhealthy":
            in_start = self.status == "starting" and self.clock() - self.started_at < self.check.start_period
            await asyncio.sleep(self.check.start_interval if in_start else self.check.interval)
            await self.once()

    async def once(self) -> None:
        begin = self.clock()
        try:
            code, output = await asyncio.wait_for(self.probe(self.check.test, self.check.timeout),
                                                  self.check.timeout)
        except TimeoutError:
            code, output = -1, f"Health check exceeded timeout ({self.check.timeout:g}s)"
        self.record(Result(begin, self.clock(), code, output))

    def record(self, r: Result) -> None:
        (metrics.HEALTHCHECK_PASSED if r.exit_code == 0 else metrics.HEALTHCHECK_FAILED).inc()
        self.log = [*self.log, r][-LOG_KEEP:]
        old = self.status
        if r.exit_code == 0:
            self.failing_streak = 0
            self.status = "healthy"
        elif not (self.status == "starting" and r.start - self.started_at < self.check.start_period):
            self.failing_streak += 1
            if self.failing_streak >= self.check.retries:
                self.status = "unhealthy"
        if self.status != old:
            self.changed.set()

    async def wait_change(self) -> str:
        await self.changed.wait()
        self.changed.clear()
        return self.status
