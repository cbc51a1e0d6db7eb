"""What a node tells a front door about itself, beyond the stored objects: its images, the tasks it
runs, a summary for ``info``, its place in the swarm, and the selection, options and lines of a log
stream. The node's interface (``shoal/nodeapi.py``) returns these; each door words them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import msgspec

from shoal.api.states import TaskState
from shoal.api.types import Cluster, Task, TaskStatus


class Membership(enum.Enum):
    """This node's place in the swarm."""

    INACTIVE = "inactive"  # in no swarm
    MANAGER = "manager"
    WORKER = "worker"
    LOCKED = "locked"  # a manager whose state is sealed (autolock) until unlocked


class ImageInfo(msgspec.Struct, kw_only=True):
    """An image in the node's store."""

    ID: str  # sha256:<hex>
    Tags: list[str]  # the references that name it (busybox:latest, localhost:5000/app:1)
    RepoDigests: list[str]
    Config: dict[str, Any]  # the OCI image configuration, as the image carries it
    Size: int  # bytes of its layers

    @property
    def container_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = self.Config.get("config") or {}
        return cfg

    @property
    def diff_ids(self) -> list[str]:
        return list(self.Config.get("rootfs", {}).get("diff_ids", []))


class ImageRemoval(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of an image removal's report: a reference untagged, or an image or layer deleted."""

    Untagged: str = ""
    Deleted: str = ""


class VolumeInfo(msgspec.Struct, kw_only=True):
    """A named volume of the node."""

    Name: str
    Driver: str = "local"
    Mountpoint: str = ""  # its data directory on the node
    CreatedAt: str = ""
    Labels: dict[str, str] | None = None
    Options: dict[str, str] | None = None


class RegistryCredentials(msgspec.Struct, kw_only=True):
    """What a client logs in to a registry with (``docker login``)."""

    username: str = ""
    password: str = ""
    serveraddress: str = ""
    identitytoken: str = ""
    registrytoken: str = ""


@dataclass(frozen=True, slots=True)
class LocalTask:
    """A task that this node's agent runs (what ``docker ps`` lists on the node)."""

    task: Task
    name: str  # the container's name: <service>.<slot|node>.<task id>
    state: TaskState
    status: TaskStatus


class RemoteManager(msgspec.Struct, kw_only=True):
    NodeID: str = ""
    Addr: str = ""


class SwarmSummary(msgspec.Struct, kw_only=True):
    """This node in the swarm: who it is, which managers it knows, and, on a manager, the counts and
    the cluster (as ``ControlAPI.cluster_view`` shows it: no keys)."""

    NodeID: str = ""
    NodeAddr: str = ""
    LocalNodeState: str = "inactive"  # inactive | active | locked (SwarmKit's local node states)
    ControlAvailable: bool = False
    RemoteManagers: list[RemoteManager] | None = None
    Nodes: int | None = None  # None: not a manager
    Managers: int | None = None
    Cluster: Cluster | None = None


class Members(msgspec.Struct, kw_only=True):
    """The control API's count of the swarm's nodes, and its managers."""

    Nodes: int
    Managers: list[RemoteManager]


class NodeSummary(msgspec.Struct, kw_only=True):
    """``info``: the node, its resources and stores, and its place in the swarm."""

    ID: str
    Hostname: str
    Labels: dict[str, str]
    DataRoot: str
    Runtime: str
    NCPU: int
    MemTotal: int
    Images: int
    ContainersRunning: int
    Swarm: SwarmSummary


@dataclass(frozen=True, slots=True)
class LogSelector:
    """Whose logs: every task of a service (those placed on a node), or one task."""

    service_id: str = ""
    task_id: str = ""
    container: str = ""  # one container of the task (a Pod's); "": its first (a Swarm task's one)


@dataclass(frozen=True, slots=True)
class LogOptions:
    since: float = 0.0  # seconds since the epoch; 0: from the start
    tail: int = -1  # the last N lines of each task; -1: all
    follow: bool = False  # then the lines that come, of tasks started later too
    stdout: bool = True
    stderr: bool = True
    previous: bool = False  # the container's run before its last restart (a Pod's; ``kubectl logs --previous``)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of a task's log."""

    task: Task
    timestamp: str  # RFC 3339 with nanoseconds
    stream: str  # stdout | stderr
    message: bytes  # without the newline
