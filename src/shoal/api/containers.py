"""A node's own containers (Docker's ``docker run`` ones, not the swarm's), as the core keeps them.

``Container`` is one container's record: its Docker ``Config`` and ``HostConfig`` as the client sent
them (kept whole, so ``inspect`` gives them back; the engine reads the fields it acts on), its
``State`` and what the node gave it (its address on the default bridge, its restart count). A swarm
task's container on this node is described with the same record (``Task`` set: its task ID, and
Swarm's labels in ``Config.Labels``). ``ExecInfo`` is one ``docker exec``'s record; ``Stats`` one
sample of a container's cgroup counters. The agent's engine (``agent/containers.py``) owns them;
the Docker door words them (``frontdoor/docker/containers.py``).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

CONTAINER_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # Docker's validContainerNamePattern


class Health(msgspec.Struct, kw_only=True):
    Status: str = "starting"  # starting | healthy | unhealthy
    FailingStreak: int = 0
    Log: list[dict[str, Any]] = msgspec.field(default_factory=list)


class State(msgspec.Struct, kw_only=True):
    """Docker's ``State`` of a container."""

    Status: str = "created"  # created | running | paused | restarting | removing | exited | dead
    Running: bool = False
    Paused: bool = False
    Restarting: bool = False
    OOMKilled: bool = False
    Dead: bool = False
    Pid: int = 0
    ExitCode: int = 0
    Error: str = ""
    StartedAt: str = "0001-01-01T00:00:00Z"
    FinishedAt: str = "0001-01-01T00:00:00Z"
    Health: Health | None = None


class Container(msgspec.Struct, kw_only=True):
    """One container of this node (see the module's docstring)."""

    ID: str
    Name: str  # with Docker's leading slash
    Created: str
    Image: str  # the image's ID (sha256:…)
    ImageRef: str  # the reference it was created from (Config.Image)
    Path: str = ""
    Args: list[str] = msgspec.field(default_factory=list)
    Config: dict[str, Any] = msgspec.field(default_factory=dict)
    HostConfig: dict[str, Any] = msgspec.field(default_factory=dict)
    State: State = msgspec.field(default_factory=State)
    RestartCount: int = 0
    Mounts: list[dict[str, Any]] = msgspec.field(default_factory=list)
    IPAddress: str = ""  # on the default bridge, with no prefix ("" while it has no sandbox)
    IPPrefixLen: int = 0
    Gateway: str = ""
    MacAddress: str = ""
    NetworkMode: str = "default"
    NetworkingConfig: dict[str, Any] = msgspec.field(default_factory=dict)  # as the create request sent it
    Networks: dict[str, Any] | None = None  # NetworkSettings.Networks when the node's local networks tell
    Ports: dict[str, Any] | None = None  # NetworkSettings.Ports, the same way
    LogPath: str = ""
    Task: str = ""  # a swarm task's container: its task ID ("" for the node's own)
    Removing: bool = False  # AutoRemove: removed when it exits
    StopByUser: bool = False  # stopped by ``docker stop``/``kill``: ``unless-stopped`` keeps it stopped
    HasBeenStarted: bool = False  # for ``always``/``unless-stopped`` at daemon start

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.Config.get("Labels") or {}
        return labels

    @property
    def tty(self) -> bool:
        return bool(self.Config.get("Tty"))


class CreateRequest(msgspec.Struct, kw_only=True):
    """``POST /containers/create``: Docker's ``Config`` (the body's top level), ``HostConfig`` and
    ``NetworkingConfig``, kept as sent."""

    name: str = ""
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    host_config: dict[str, Any] = msgspec.field(default_factory=dict)
    networking: dict[str, Any] = msgspec.field(default_factory=dict)


class ExecInfo(msgspec.Struct, kw_only=True):
    """One exec (``docker exec``): Docker's ``GET /exec/{id}/json`` fields."""

    ID: str
    ContainerID: str
    Cmd: list[str]
    Tty: bool = False
    AttachStdin: bool = False
    AttachStdout: bool = True
    AttachStderr: bool = True
    User: str = ""
    WorkingDir: str = ""
    Env: list[str] | None = None
    Privileged: bool = False
    Running: bool = False
    ExitCode: int | None = None
    Pid: int = 0
    DetachKeys: str = ""


class Stats(msgspec.Struct, kw_only=True):
    """One sample of a container's counters (cgroup v1 or v2; the network's from its namespace)."""

    read: str
    pids: int = 0
    cpu_total: int = 0  # ns of CPU time
    cpu_system: int = 0  # ns of the node's CPU time (all CPUs), /proc/stat
    online_cpus: int = 1
    percpu: list[int] = msgspec.field(default_factory=list)
    mem_usage: int = 0
    mem_limit: int = 0
    mem_cache: int = 0
    mem_stats: dict[str, int] = msgspec.field(default_factory=dict)
    networks: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    blkio_read: int = 0
    blkio_write: int = 0


class Counts(msgspec.Struct, kw_only=True):
    """``docker info``'s counters."""

    Containers: int = 0
    ContainersRunning: int = 0
    ContainersPaused: int = 0
    ContainersStopped: int = 0


def restart_policy(host_config: dict[str, Any]) -> tuple[str, int]:
    """The container's restart policy's name (``no``, ``always``, ``unless-stopped``, ``on-failure``)
    and its maximum retry count."""
    rp = host_config.get("RestartPolicy") or {}
    return str(rp.get("Name") or "no"), int(rp.get("MaximumRetryCount") or 0)
