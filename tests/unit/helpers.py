"""Shared helpers for the unit tests: an injectable clock, polling, store and object builders, a tiny
image layer."""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
from collections.abc import AsyncIterator, Callable

from shoal.api.ids import new_id
from shoal.api.states import TaskState
from shoal.api.types import (
    EngineDescription,
    GenericResource,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    ObjectRef,
    Placement,
    Platform,
    ResourceRequirements,
    Resources,
    Task,
    TaskSpec,
    TaskStatus,
    Version,
)
from shoal.manager.loop import Loop
from shoal.manager.workqueue import Controller
from shoal.store.backend import Event
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

CPU = 1_000_000_000
GiB = 1 << 30


class FakeClock:
    """A clock the test moves by hand (seconds, like ``time.time``)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def until(pred: Callable[[], bool], timeout: float = 2.0, what: str = "condition") -> None:
    """Yield to the event loop until ``pred()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


async def paused(loop: Loop | Controller) -> None:
    """Run a loop's ``start()`` (subscribe, seed from the store) without leaving its background task
    running: the test then drives it with ``tick()`` / ``settle()``."""
    if isinstance(loop, Controller):
        loop.seed()  # subscribe and queue every key; no workers
        return
    loop.start()
    unsubscribe, loop._unsubscribe = loop._unsubscribe, None  # stop() would also stop listening
    await loop.stop()
    loop._unsubscribe = unsubscribe


class TracedBackend(MemoryBackend):
    """A memory backend that tells how far its watchers have got: ``folded`` is the revision of the
    last event a watcher finished with (it asked for the next one), so a watching store has applied
    every change up to it. Tests wait for ``folded`` to reach a revision instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.folded = 0

    async def watch(self, prefix: str, after_revision: int) -> AsyncIterator[Event]:
        async for ev in super().watch(prefix, after_revision):
            yield ev
            self.folded = max(self.folded, ev.revision)  # runs when the consumer asks for the next

    async def caught_up(self, revision: int) -> None:
        """Until a watcher has applied everything up to ``revision``."""
        await until(lambda: self.folded >= revision, what=f"the watcher to fold in revision {revision}")


async def memory_store() -> ObjectStore:
    store = ObjectStore(MemoryBackend())
    await store.load()
    return store


def make_node(
    hostname: str = "",
    *,
    state: str = "ready",
    availability: str = "active",
    role: str = "worker",
    cpus: float = 4,
    memory: int = 8 * GiB,
    labels: dict[str, str] | None = None,
    engine_labels: dict[str, str] | None = None,
    os: str = "linux",
    arch: str = "x86_64",
    node_id: str | None = None,
    generic: list[GenericResource] | None = None,
) -> Node:
    nid = node_id or new_id()
    return Node(
        ID=nid,
        Spec=NodeSpec(Labels=labels, Role=role, Availability=availability),
        Description=NodeDescription(
            Hostname=hostname or f"host-{nid[:6]}",
            Platform=Platform(Architecture=arch, OS=os),
            Resources=Resources(NanoCPUs=int(cpus * CPU), MemoryBytes=memory, GenericResources=generic),
            Engine=EngineDescription(Labels=engine_labels),
        ),
        Status=NodeStatus(State=state),
    )


def make_task(
    service_id: str = "svc",
    *,
    slot: int = 1,
    state: TaskState = TaskState.PENDING,
    desired: TaskState = TaskState.RUNNING,
    node_id: str = "",
    cpus: float = 0,
    memory: int = 0,
    constraints: list[str] | None = None,
    spec_version: int = 1,
    timestamp: str = "",
    task_id: str | None = None,
    spread: list[str] | None = None,
    max_replicas: int = 0,
    generic: list[GenericResource] | None = None,
) -> Task:
    resources = None
    if cpus or memory or generic:
        resources = ResourceRequirements(Reservations=Resources(NanoCPUs=int(cpus * CPU), MemoryBytes=memory,
                                                                GenericResources=generic))
    placement = None
    if constraints or spread or max_replicas:
        placement = Placement(Constraints=constraints,
                              Preferences=[{"Spread": {"SpreadDescriptor": d}} for d in spread or []] or None,
                              MaxReplicas=max_replicas)
    return Task(
        ID=task_id or new_id(),
        Owner=ObjectRef(Kind="Service", ID=service_id),
        Slot=slot,
        NodeID=node_id,
        Spec=TaskSpec(Resources=resources, Placement=placement),
        SpecVersion=Version(Index=spec_version),
        DesiredState=desired,
        Status=TaskStatus(State=state, Timestamp=timestamp),
    )


def rootfs_tar(content: bytes = b"hi") -> io.BytesIO:
    """A one-file layer (``hello`` holding ``content``) as a tar to import as an image."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("hello")
        ti.size = len(content)
        tf.addfile(ti, io.BytesIO(content))
    buf.seek(0)
    return buf
