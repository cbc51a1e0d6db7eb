"""An in-memory runtime for unit tests: no processes, no files, every call recorded.

``FakeRuntime`` implements the ``Runtime`` protocol of ``base.py``. Images are names in a set (every
image exists unless ``images`` is given); a missing one is rejected with Docker's message, as the
real runtimes do. A started task runs until the test calls ``finish(task_id, code)`` or until it is
stopped; ``stop`` records ``("stop", task_id, signal, grace)`` and makes the task exit with
128 + the signal's number (143 for the default SIGTERM), or with 137 (SIGKILL after the grace
period, without waiting for it) when ``ignore_stop`` is set. Failures can be injected per task with
``fail_prepare`` and ``fail_start``. Healthchecks: ``image_health`` gives an image's HEALTHCHECK, and
a probe of a task answers with the next of ``probe_exits[task_id]`` (then the last one again; 0
when none is set).

With ``multi_container=True`` it runs a Pod's several containers (``base.MultiContainer``): each is
keyed ``<task id>.<name>`` (``container_key``) in ``exits``, ``finish``, ``fail_start`` and the calls
(``("start", key)``, ``("stop", key, signal, grace)``), and can be started again once it has exited.

    rt = FakeRuntime(images={"busybox:latest"})
    ... TaskRunner(task, rt, report).start() ...
    rt.finish(task.ID, 1)
    assert ("stop", task.ID, "SIGTERM", 10.0) in rt.calls
"""

from __future__ import annotations

import asyncio
import signal as signals
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from shoal.api.types import Task, containers_of
from shoal.network.sandbox import Sandbox
from shoal.runtime.base import (
    MultiContainer,
    Networking,
    Prober,
    RuntimeError_,
    Started,
    TaskFile,
    container_key,
    is_pod,
    main_container,
)

SIGKILL_EXIT = 128 + int(signals.SIGKILL)


def normalize_image(ref: str) -> str:
    """``busybox`` → ``busybox:latest``; a reference with a tag or digest is kept."""
    last = ref.rsplit("/", 1)[-1]
    if "@" in ref or ":" in last:
        return ref
    return f"{ref}:latest"


def _signal_exit(name: str) -> int:
    if not name:
        return 128 + int(signals.SIGTERM)
    if name.isdigit():
        return 128 + int(name)
    n = name.upper()
    if not n.startswith("SIG"):
        n = "SIG" + n
    try:
        return 128 + int(signals.Signals[n])
    except KeyError as e:
        raise RuntimeError_(f"invalid signal: {name}") from e


class FakeRuntime:
    name = "fake"

    def __init__(self, images: Iterable[str] | None = None, *, log_dir: Path | None = None,
                 ignore_stop: bool = False, networking: Networking = Networking.NONE,
                 multi_container: bool = False) -> None:
        self._multi = multi_container
        self.networking = networking  # JOIN: the agent hands it a sandbox (a test's fake network)
        self.images: set[str] | None = None if images is None else {normalize_image(i) for i in images}
        self.log_dir = Path(log_dir) if log_dir is not None else Path("/nonexistent/fake-runtime-logs")
        self.ignore_stop = ignore_stop
        self.calls: list[tuple[Any, ...]] = []
        self.prepared: set[str] = set()
        self.files: dict[str, list[TaskFile]] = {}  # the secrets' and configs' files each task was prepared with
        self.sandboxes: dict[str, Sandbox | None] = {}  # the sandbox each task was prepared to join
        self.exits: dict[str, asyncio.Future[int]] = {}
        self.fail_prepare: dict[str, Exception] = {}
        self.fail_start: dict[str, Exception] = {}
        self.removed: list[str] = []
        self.closed = False
        self.image_health: dict[str, dict[str, Any]] = {}  # image → its HEALTHCHECK
        self.probe_exits: dict[str, list[int]] = {}
        self._images_of: dict[str, str] = {}
        self._pid = 1000

    # ------------------------------------------------------------ test controls

    def add_image(self, ref: str) -> None:
        if self.images is not None:
            self.images.add(normalize_image(ref))

    def running(self, task_id: str) -> bool:
        fut = self.exits.get(task_id)
        return fut is not None and not fut.done()

    def finish(self, task_id: str, code: int = 0) -> None:
        """Make a running task's main process exit with ``code``."""
        fut = self.exits.get(task_id)
        if fut is None:
            raise KeyError(f"task {task_id} was never started")
        if not fut.done():
            fut.set_result(code)

    def call_names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def calls_for(self, task_id: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if len(c) > 1 and c[1] == task_id]

    # ------------------------------------------------------------ Runtime

    uses_images = True

    @property
    def multi_container(self) -> MultiContainer | None:
        return self if self._multi else None

    @property
    def prober(self) -> Prober | None:
        return self

    def exit_future(self, task_id: str) -> asyncio.Future[int]:
        return asyncio.ensure_future(self.wait(task_id))

    async def cleanup(self) -> None:
        self.calls.append(("cleanup",))

    async def prepare(self, task: Task, files: Sequence[TaskFile] = (), sandbox: Sandbox | None = None) -> None:
        self.calls.append(("prepare", task.ID))
        self.files[task.ID] = list(files)
        self.sandboxes[task.ID] = sandbox
        if task.ID in self.fail_prepare:
            raise self.fail_prepare[task.ID]
        if self._multi and is_pod(task):
            for c in containers_of(task.Spec):
                if self.images is not None and normalize_image(c.Image) not in self.images:
                    raise RuntimeError_(f"No such image: {c.Image}", reject=True)
            self.prepared.add(task.ID)
            return
        spec = main_container(task)
        if spec is None or not spec.Image:
            raise RuntimeError_("no image specified", reject=True)
        if self.images is not None and normalize_image(spec.Image) not in self.images:
            raise RuntimeError_(f"No such image: {spec.Image}", reject=True)
        self.prepared.add(task.ID)
        self._images_of[task.ID] = normalize_image(spec.Image)

    def image_healthcheck(self, task_id: str) -> dict[str, Any] | None:
        return self.image_health.get(self._images_of.get(task_id, ""))

    async def probe(self, task_id: str, argv: list[str], timeout: float) -> tuple[int, str]:
        self.calls.append(("probe", task_id, tuple(argv)))
        codes = self.probe_exits.get(task_id) or [0]
        code = codes.pop(0) if len(codes) > 1 else codes[0]
        return code, f"probe exited {code}"

    async def start(self, task: Task) -> Started:
        self.calls.append(("start", task.ID))
        if task.ID in self.fail_start:
            raise self.fail_start[task.ID]
        if task.ID not in self.prepared:
            raise RuntimeError_("task was not prepared")
        if self.running(task.ID):
            raise RuntimeError_(f"task {task.ID} is already running")
        self._pid += 1
        self.exits[task.ID] = asyncio.get_running_loop().create_future()
        return Started(container_id=f"fake-{task.ID}", pid=self._pid)

    async def start_container(self, task: Task, name: str) -> Started:
        key = container_key(task.ID, name)
        self.calls.append(("start", key))
        if key in self.fail_start:
            raise self.fail_start[key]
        if task.ID not in self.prepared:
            raise RuntimeError_("task was not prepared")
        if self.running(key):
            raise RuntimeError_(f"container {key} is already running")
        self._pid += 1
        self.exits[key] = asyncio.get_running_loop().create_future()
        return Started(container_id=f"fake-{key}", pid=self._pid)

    def container_exit(self, task_id: str, name: str) -> asyncio.Future[int]:
        fut = self.exits.get(container_key(task_id, name))
        if fut is None:
            raise RuntimeError_(f"container {name} of task {task_id} was never started")
        return fut

    async def stop_container(self, task_id: str, name: str, signal: str, grace: float) -> None:
        await self.stop(container_key(task_id, name), signal, grace)

    def container_log_path(self, task_id: str, name: str) -> Path:
        return self.log_dir / f"{container_key(task_id, name)}.log"

    def container_oom_killed(self, task_id: str, name: str) -> bool:
        return False

    async def wait(self, task_id: str) -> int:
        self.calls.append(("wait", task_id))
        fut = self.exits.get(task_id)
        if fut is None:
            raise RuntimeError_(f"task {task_id} was never started")
        return await asyncio.shield(fut)

    async def stop(self, task_id: str, signal: str, grace: float) -> None:
        self.calls.append(("stop", task_id, signal, grace))
        fut = self.exits.get(task_id)
        if fut is None or fut.done():
            return
        fut.set_result(SIGKILL_EXIT if self.ignore_stop else _signal_exit(signal))

    async def remove(self, task_id: str, keep_logs: bool = False) -> None:
        self.calls.append(("remove", task_id, keep_logs))
        for key in [task_id, *(k for k in self.exits if k.startswith(task_id + "."))]:
            fut = self.exits.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result(SIGKILL_EXIT)
        self.prepared.discard(task_id)
        self.removed.append(task_id)

    def log_path(self, task_id: str) -> Path:
        return self.log_dir / f"{task_id}.log"

    async def close(self) -> None:
        self.calls.append(("close",))
        for tid in list(self.exits):
            await self.remove(tid)
        self.closed = True
