"""What a task's spec asks of the node, whatever runs its container: the mapping shared by runtimes.

A task's ``--mount``s become ``HostMount``s: binds of a node path (a bind's source, a named volume's
directory in the node's ``VolumeStore``, an anonymous volume's directory under the runtime's task
directory) or tmpfs mounts; its resources become ``Limits`` (memory, reservation, swap, swappiness,
CPU quota over a 100 ms period, pids); its ``--ulimit``s and ``--host``s are checked and parsed
here. The runc runtime turns these into an OCI bundle, the docker runtime into a container's
HostConfig; refusals carry Docker's words and reject the task (the node can never run it).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from shoal.api.errors import InvalidArgument
from shoal.api.types import ContainerSpec, ResourceRequirements, Task
from shoal.runtime.base import RuntimeError_
from shoal.runtime.volumes import VolumeStore

CFS_PERIOD = 100_000  # µs

RLIMITS = {name: "RLIMIT_" + name.upper() for name in (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
    "rtprio", "rttime", "sigpending", "stack",
)}


@dataclass(frozen=True)
class HostMount:
    """One mount of the container: a bind of the node's ``source``, or a tmpfs."""

    target: str
    type: str  # "bind" | "tmpfs"
    source: str = ""
    read_only: bool = False
    propagation: str = "rprivate"  # binds
    tmpfs_size: int = 0  # bytes; 0: the kernel's default
    tmpfs_mode: int = 0  # 0: the kernel's default


def host_mounts(spec: ContainerSpec, volumes: VolumeStore, anonymous: Path) -> list[HostMount]:
    """The task's mounts on this node; named volumes are made (with their labels) in ``volumes``,
    anonymous ones under ``anonymous`` (which goes with the task)."""
    out: list[HostMount] = []
    for m in spec.Mounts or []:
        if not m.Target.startswith("/"):
            raise RuntimeError_(f"invalid mount target, must be an absolute path: {m.Target}", reject=True)
        if m.Type == "bind":
            if not os.path.exists(m.Source):
                raise RuntimeError_(f'invalid mount config for type "bind": bind source path does not '
                                    f"exist: {m.Source}", reject=True)
            prop = (m.BindOptions or {}).get("Propagation") or "rprivate"
            out.append(HostMount(m.Target, "bind", m.Source, bool(m.ReadOnly), prop))
        elif m.Type == "tmpfs":
            t = m.TmpfsOptions or {}
            out.append(HostMount(m.Target, "tmpfs", read_only=bool(m.ReadOnly),
                                 tmpfs_size=int(t.get("SizeBytes") or 0), tmpfs_mode=int(t.get("Mode") or 0)))
        elif m.Type == "volume":
            # Docker's local driver layout; an anonymous volume lives (and dies) with the task.
            if m.Source:
                try:
                    src = volumes.ensure(m.Source, (m.VolumeOptions or {}).get("Labels"))
                except InvalidArgument as e:
                    raise RuntimeError_(e.message, reject=True) from e
            else:
                src = anonymous / uuid.uuid4().hex / "_data"
            src.mkdir(parents=True, exist_ok=True)
            out.append(HostMount(m.Target, "bind", str(src), bool(m.ReadOnly)))
        else:
            raise RuntimeError_(f"unsupported mount type: {m.Type}", reject=True)
    return out


def named_volumes(spec: ContainerSpec) -> list[str]:
    """The named volumes the task mounts (``volumes_in_use``)."""
    return [m.Source for m in spec.Mounts or [] if m.Type == "volume" and m.Source]


@dataclass(frozen=True)
class Limits:
    memory: int = 0  # bytes; 0: none
    memory_reservation: int = 0
    memory_swap: int | None = None  # memory plus swap, -1 unlimited; None: the runtime's default
    swappiness: int | None = None
    cpu_quota: int = 0  # µs per ``cpu_period``; 0: none
    cpu_period: int = CFS_PERIOD
    pids: int = 0


def limits(task: Task) -> Limits:
    """The task's resource limits and reservations, as cgroup values."""
    return limits_of(task.Spec.Resources)


def limits_of(reqs: ResourceRequirements | None) -> Limits:
    """Limits and reservations (a task's, or a Pod's container's own) as cgroup values."""
    if reqs is None:
        return Limits()
    lim, res = reqs.Limits, reqs.Reservations
    memory = lim.MemoryBytes if lim and lim.MemoryBytes > 0 else 0
    swap = None
    if reqs.SwapBytes is not None and memory:
        swap = -1 if reqs.SwapBytes < 0 else memory + reqs.SwapBytes
    return Limits(
        memory=memory,
        memory_reservation=res.MemoryBytes if res and res.MemoryBytes > 0 else 0,
        memory_swap=swap,
        swappiness=reqs.MemorySwappiness if reqs.MemorySwappiness is not None and reqs.MemorySwappiness >= 0
        else None,
        cpu_quota=max(1000, lim.NanoCPUs * CFS_PERIOD // 1_000_000_000) if lim and lim.NanoCPUs > 0 else 0,
        pids=lim.Pids if lim and lim.Pids > 0 else 0,
    )


def ulimits(spec: ContainerSpec) -> list[tuple[str, int, int]]:
    """The task's ``--ulimit``s as (name, soft, hard), names lower case as Docker takes them."""
    out = []
    for u in spec.Ulimits or []:
        name = str(u.get("Name", "")).lower()
        if name not in RLIMITS:
            raise RuntimeError_(f"invalid ulimit type: {u.get('Name')}", reject=True)
        out.append((name, int(u.get("Soft", 0)), int(u.get("Hard", 0))))
    return out
