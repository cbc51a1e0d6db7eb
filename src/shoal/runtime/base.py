"""The runtime boundary: what the agent needs from whatever runs a task's containers.

A runtime prepares a task (image, bundle, filesystem, the files of its secrets and configs), starts
it, reports its exit, stops it (the stop signal, then SIGKILL after the grace period) and removes
what it made. Output goes to a per-task log file written by ``logs.LogWriter``. Runtimes register
by name (``Daemon._make_runtime``): ``runc``, ``docker``, ``process`` and ``hollow``.

Networking is not a runtime's: the node's network (``network/node.py``) makes each task's sandbox
(its network namespace, wired) before ``prepare``, and the runtime only joins it. A runtime declares
how with ``networking`` (``Networking``): ``JOIN`` joins a namespace by path (runc), ``HOLD`` holds
the namespace itself in a pause container that the node wires (docker: ``network.sandbox.NetnsHolder``),
``HOST`` cannot join one (the process runtime: tasks on networks are refused), ``NONE`` runs nothing
real (hollow, fake: networks are not simulated).

Several containers in one task (a Pod's) are a capability a runtime declares with ``multi_container``
(``MultiContainer``, or None): runc runs each container of such a task (``is_pod``) as a container of
its own in the task's one sandbox, started, watched and stopped one by one by the agent (init
containers first, then the app containers, each restarted in place). A runtime without it refuses
such a task (``main_container``: "this runtime runs one container per task, the task has N").
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shoal.api.types import SERVICE_KIND, ContainerSpec, Task

if TYPE_CHECKING:
    from shoal.network.sandbox import Sandbox
    from shoal.runtime.images import Image, ImageStore


class Networking(enum.Enum):
    """How a runtime's containers get their task's network sandbox."""

    JOIN = "join"  # they join the namespace the node made, by its path (runc)
    HOLD = "hold"  # the runtime holds the namespace (a pause container); the node wires it (docker)
    HOST = "host"  # they run in the node's own namespace; tasks on networks are refused (process)
    NONE = "none"  # nothing real runs: no sandbox (hollow, fake)


class RuntimeError_(Exception):
    """A task could not be prepared or started. ``reject``: the node cannot run it at all."""

    def __init__(self, message: str, reject: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.reject = reject


@dataclass(frozen=True)
class TaskFile:
    """A secret's or config's bytes as the task's container sees them: at ``target`` (an absolute,
    normalized path in the container), owned by ``uid``:``gid``, with permission bits ``mode``. A
    runtime keeps them off the node's disk (a tmpfs) and removes them with the task."""

    kind: str  # "secret" | "config"
    name: str  # the secret's or config's name, for messages
    target: str
    data: bytes = field(repr=False)
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


def main_container(task: Task) -> ContainerSpec | None:
    """The task's one container: the runtimes run one container per task (a Swarm task's), so a task
    with more, or with init containers (a Pod), is refused."""
    spec = task.Spec
    if len(spec.Containers) > 1 or spec.InitContainers:
        n = len(spec.Containers) + len(spec.InitContainers or ())
        raise RuntimeError_(f"this runtime runs one container per task, the task has {n}", reject=True)
    return spec.Containers[0] if spec.Containers else None


def is_pod(task: Task) -> bool:
    """Whether the task's containers run one by one and restart in place (a Pod's): it has several
    containers, or init containers, or Pod settings (``TaskSpec.Pod``), or an owner that is not a Swarm
    service. A Swarm task (one
    container, owner kind ``Service``, or no owner at all) is not: it ends when its container exits
    and its service's orchestrator replaces it."""
    spec = task.Spec
    return (len(spec.Containers) > 1 or bool(spec.InitContainers) or spec.Pod is not None
            or task.Owner.Kind not in ("", SERVICE_KIND))


def container_key(task_id: str, name: str) -> str:
    """The key (and runc container ID) of one container of a Pod's task: ``<task id>.<name>`` (a task ID
    has no dot; a container's name is a DNS label)."""
    return f"{task_id}.{name}"


def task_image(images: ImageStore, task: Task) -> tuple[ContainerSpec, Image]:
    """The task's container spec and its image on this node; Docker's words when either is missing."""
    spec = main_container(task)
    if spec is None or not spec.Image:
        raise RuntimeError_("no image specified", reject=True)
    img = images.resolve(spec.Image)
    if img is None:
        raise RuntimeError_(f"No such image: {spec.Image}", reject=True)
    return spec, img


@dataclass(kw_only=True)
class ContainerRecord:
    """What a runtime that runs real containers (runc, docker) keeps of each one."""

    task_id: str
    pid: int = 0
    exit: asyncio.Future[int] | None = None
    stop_signal: str = ""  # the image's STOPSIGNAL, used when the agent asks for the default
    healthcheck: dict[str, Any] | None = None  # the image's HEALTHCHECK
    volumes: list[str] = field(default_factory=list)  # the named volumes it mounts


class ContainerTable:
    """The calls that only read a runtime's ``containers``: its exit, its image's healthcheck, and
    which named volumes are mounted; and where a task's log and files are."""

    containers: Mapping[str, ContainerRecord]
    logs_dir: Path  # <data-root>/logs
    files_dir: Path  # <exec-root>/files

    def log_path(self, task_id: str) -> Path:
        self.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.logs_dir / f"{task_id}.log"

    def files_path(self, task_id: str) -> Path:
        return self.files_dir / task_id

    async def wait(self, task_id: str) -> int:
        c = self.containers.get(task_id)
        if c is None or c.exit is None:
            raise RuntimeError_(f"container {task_id} is not running")
        return await asyncio.shield(c.exit)

    def exit_future(self, task_id: str) -> asyncio.Future[int]:
        return asyncio.ensure_future(self.wait(task_id))

    def image_healthcheck(self, task_id: str) -> dict[str, Any] | None:
        c = self.containers.get(task_id)
        return c.healthcheck if c is not None else None

    def volumes_in_use(self) -> dict[str, list[str]]:
        """Each named volume that a container here mounts, with those containers."""
        users: dict[str, list[str]] = {}
        for c in self.containers.values():
            for v in c.volumes:
                users.setdefault(v, []).append(c.task_id)
        return users


@dataclass
class Started:
    container_id: str
    pid: int


class Prober(Protocol):
    """What a runtime that can run a healthcheck inside a task's container offers the agent."""

    async def probe(self, task_id: str, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run ``argv`` as the task's container runs (its namespaces, user, environment): the exit code
        and output, -1 when it could not run."""
        ...

    def image_healthcheck(self, task_id: str) -> dict[str, Any] | None:
        """The healthcheck of the task's image, if it has one."""
        ...


class MultiContainer(Protocol):
    """What a runtime that runs several containers of one task (``is_pod``) offers the agent beyond
    ``Runtime``. ``Runtime.prepare`` prepares every container of such a task (init containers too) and
    ``Runtime.remove`` removes them all; the agent starts, watches and stops them one by one, by name."""

    async def start_container(self, task: Task, name: str) -> Started:
        """Run the prepared container ``name`` of the task, or run it again once it has exited (a
        restart in place: the same bundle and filesystem, a new process)."""
        ...

    def container_exit(self, task_id: str, name: str) -> asyncio.Future[int]:
        """The started container's exit code (128+signal when killed), a future shared by all callers."""
        ...

    async def stop_container(self, task_id: str, name: str, signal: str, grace: float) -> None: ...

    def container_log_path(self, task_id: str, name: str) -> Path: ...

    def container_oom_killed(self, task_id: str, name: str) -> bool:
        """Whether the container's last run was killed for going over its memory limit."""
        ...


class Console(Protocol):
    """What a runtime that gives a Pod's container a terminal of its own (``ContainerSpec.TTY``) offers:
    its raw output as it comes (a queue per watcher, ``b""`` at its end), its input, its size (raises
    ``RuntimeError_`` when the container runs without one, or does not run); and where its root
    filesystem is while it is prepared (running or not: ``docker cp``)."""

    def container_rootfs(self, task_id: str, name: str) -> Path | None: ...

    def console_watch(self, task_id: str, name: str) -> asyncio.Queue[bytes]: ...

    def console_unwatch(self, task_id: str, name: str, q: asyncio.Queue[bytes]) -> None: ...

    async def console_write(self, task_id: str, name: str, data: bytes) -> None:
        """To its terminal, or to its stdin when it has none but keeps stdin open (``OpenStdin``)."""
        ...

    def console_close_input(self, task_id: str, name: str) -> None:
        """End of the stdin of a container without a terminal."""
        ...

    def console_resize(self, task_id: str, name: str, width: int, height: int) -> None: ...


class Runtime(Protocol):
    name: str
    networking: Networking
    uses_images: bool  # False: it never needs an image pulled (hollow)

    @property
    def prober(self) -> Prober | None:
        """The runtime itself when it runs healthchecks in its containers; None when it cannot."""
        ...

    @property
    def multi_container(self) -> MultiContainer | None:
        """The runtime itself when it runs a Pod's several containers in one task; None when it runs
        one container per task (and refuses the others)."""
        ...

    async def cleanup(self) -> None:
        """Remove whatever a previous run of the daemon left (containers, mounts, cgroups)."""
        ...

    async def prepare(self, task: Task, files: Sequence[TaskFile] = (), sandbox: Sandbox | None = None) -> None:
        """Make what the task needs to start (image, bundle, filesystem, its secrets' and configs'
        ``files``), its containers joining ``sandbox`` (for a runtime that joins one); raises
        ``RuntimeError_``."""
        ...

    async def start(self, task: Task) -> Started: ...

    async def wait(self, task_id: str) -> int:
        """Wait for the task's main process to exit; its exit code (128+signal when killed)."""
        ...

    def exit_future(self, task_id: str) -> asyncio.Future[int]:
        """``wait`` as a future the agent can hold (a runtime with a future of its own hands that one
        out: no task per container)."""
        ...

    async def stop(self, task_id: str, signal: str, grace: float) -> None: ...

    async def remove(self, task_id: str, keep_logs: bool = False) -> None:
        """Remove what prepare and start made; the log file too unless ``keep_logs``."""
        ...

    def log_path(self, task_id: str) -> Path: ...

    async def close(self) -> None: ...


def resource_env(task: Task) -> list[str]:
    """What the task was given of its node's generic resources, as SwarmKit tells a container:
    ``DOCKER_RESOURCE_<KIND>=<value>,…`` (a count for a discrete kind, the names for a named one)."""
    values: dict[str, list[str]] = {}
    for r in task.GenericResources or []:
        spec = r.NamedResourceSpec or r.DiscreteResourceSpec or {}
        if spec.get("Kind"):
            values.setdefault(str(spec["Kind"]), []).append(str(spec.get("Value", "")))
    return [f"DOCKER_RESOURCE_{kind.upper()}={','.join(v)}" for kind, v in values.items()]


def container_name(task: Task) -> str:
    """Swarm's container name: ``<service>.<slot|node>.<task id>``."""
    svc = (task.ServiceAnnotations or {}).get("Name", task.Owner.ID)
    return f"{svc}.{task.Slot or task.NodeID}.{task.ID}"
