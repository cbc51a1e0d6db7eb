"""The ``hollow`` runtime: no processes at all. A task "starts" after a configurable delay and "runs"
until it is stopped, so a simulated node goes through the real agent path (executor, dispatcher
session, status reports) and the manager does all of its real work. Used by ``shoal sim``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shoal.api.types import Task
from shoal.runtime.base import Networking, RuntimeError_, Started, TaskFile, main_container

if TYPE_CHECKING:
    from shoal.network.sandbox import Sandbox


class HollowRuntime:
    name = "hollow"
    networking = Networking.NONE
    multi_container = None  # one container per task
    uses_images = False  # never pulls: every image "exists" (or those of ``images``)
    prober = None  # no processes: no healthchecks

    def __init__(self, start_delay: float = 0.0, images: set[str] | None = None) -> None:
        self.start_delay = start_delay
        self.images = images  # None: every image "exists"
        self.exits: dict[str, asyncio.Future[int]] = {}

    async def cleanup(self) -> None:
        return None

    async def prepare(self, task: Task, files: Sequence[TaskFile] = (), sandbox: Sandbox | None = None) -> None:
        spec = main_container(task)
        image = spec.Image if spec else ""
        if self.images is not None and image not in self.images:
            raise RuntimeError_(f"No such image: {image}", reject=True)

    async def start(self, task: Task) -> Started:
        if self.start_delay:
            await asyncio.sleep(self.start_delay)
        self.exits[task.ID] = asyncio.get_running_loop().create_future()
        return Started(container_id=task.ID, pid=0)

    async def wait(self, task_id: str) -> int:
        return await self.exits[task_id]

    def exit_future(self, task_id: str) -> asyncio.Future[int]:
        """The future ``wait`` awaits (the agent waits on it directly: no task per hollow container)."""
        return self.exits[task_id]

    async def stop(self, task_id: str, signal: str, grace: float) -> None:
        fut = self.exits.get(task_id)
        if fut is not None and not fut.done():
            fut.set_result(0)

    async def remove(self, task_id: str, keep_logs: bool = False) -> None:
        fut = self.exits.pop(task_id, None)
        if fut is not None and not fut.done():
            fut.set_result(137)

    def log_path(self, task_id: str) -> Path:
        return Path("/dev/null")

    async def close(self) -> None:
        for fut in self.exits.values():
            if not fut.done():
                fut.set_result(137)
        self.exits.clear()
