"""``shoal daemon``: one process that is a node — its image store and runtime, its agent, and (on a
manager) the manager — behind the Docker Engine API on unix sockets and TCP.

Before ``swarm init`` the node is inactive: images work, swarm calls answer Docker's "not a swarm
manager" error. ``swarm init`` creates the cluster state under ``<data-root>/swarm`` (SQLite) and
starts the manager and the agent; a restarted daemon finds that state and starts them again, and the
orchestrators converge. ``swarm leave --force`` stops every task and erases the swarm state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from shoal.agent.worker import Worker, describe_node
from shoal.api.errors import (
    ALREADY_IN_SWARM,
    LEAVE_LAST_MANAGER,
    NOT_A_MANAGER,
    FailedPrecondition,
    InvalidArgument,
)
from shoal.api.ids import new_id
from shoal.api.types import ClusterSpec, NodeDescription
from shoal.manager.manager import Manager
from shoal.runtime.base import Runtime
from shoal.runtime.images import ImageStore
from shoal.runtime.process import ProcessRuntime

log = logging.getLogger(__name__)

DEFAULT_DATA_ROOT = Path("/var/lib/shoal")
DEFAULT_EXEC_ROOT = Path("/run/shoal")
SWARM_PORT = 2377


@dataclass
class DaemonConfig:
    data_root: Path = DEFAULT_DATA_ROOT
    exec_root: Path = DEFAULT_EXEC_ROOT
    hosts: list[str] = field(default_factory=list)
    runtime: str = ""  # "" = runc when root and runc is installed, else process
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    cpus: int = 0
    memory: int = 0


def default_runtime() -> str:
    if os.geteuid() == 0 and shutil.which("runc"):
        return "runc"
    return "process"


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.data_root = Path(config.data_root)
        self.exec_root = Path(config.exec_root)
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self.images = ImageStore(self.data_root / "images")
        self.runtime_name = config.runtime or default_runtime()
        self.runtime: Runtime = self._make_runtime()
        self.swarm_dir = self.data_root / "swarm"
        self.manager: Manager | None = None
        self.worker: Worker | None = None
        self.node_id = ""
        self.addr = ""
        self.hostname = config.hostname or socket.gethostname()
        self._lock = asyncio.Lock()

    def _make_runtime(self) -> Runtime:
        if self.runtime_name == "process":
            return ProcessRuntime(self.data_root, self.images)
        if self.runtime_name == "runc":
            from shoal.runtime.runc import RuncRuntime

            return RuncRuntime(self.data_root, self.exec_root, self.images)
        raise InvalidArgument(f"unknown runtime: {self.runtime_name}")

    def describe(self) -> NodeDescription:
        return describe_node(self.hostname, self.config.labels, self.config.cpus, self.config.memory)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        node_file = self.swarm_dir / "node.json"
        if node_file.exists():
            info = json.loads(node_file.read_text())
            self.node_id, self.addr = info["node_id"], info["addr"]
            self.manager = await Manager.open(self.swarm_dir / "state.db")
            if self.manager.initialized():
                await self._run_swarm()
            else:
                await self.manager.close()
                self.manager = None

    async def _run_swarm(self) -> None:
        assert self.manager is not None
        await self.manager.start()
        assert self.manager.dispatcher is not None
        self.worker = Worker(self.node_id, self.runtime, self.manager.dispatcher, self.describe(),
                             self.addr.rsplit(":", 1)[0], role="manager")
        await self.worker.start()

    async def stop(self) -> None:
        async with self._lock:
            await self._stop_swarm()
            await self.runtime.close()

    async def _stop_swarm(self) -> None:
        if self.manager is not None:
            await self.manager.stop_loops()
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        if self.manager is not None:
            await self.manager.stop_dispatcher()
            await self.manager.close()
            self.manager = None

    # ------------------------------------------------------------ swarm membership

    def local_node_state(self) -> str:
        return "active" if self.manager is not None else "inactive"

    def require_manager(self) -> Manager:
        if self.manager is None:
            raise FailedPrecondition(NOT_A_MANAGER)
        return self.manager

    async def swarm_init(self, advertise_addr: str = "", listen_addr: str = "", spec: ClusterSpec | None = None,
                         default_addr_pool: list[str] | None = None, subnet_size: int = 0,
                         data_path_port: int = 0, force_new_cluster: bool = False) -> str:
        async with self._lock:
            if self.manager is not None:
                if not force_new_cluster:
                    raise FailedPrecondition(ALREADY_IN_SWARM)
                return self.node_id
            addr = resolve_advertise(advertise_addr, listen_addr)
            self.node_id = new_id()
            self.addr = addr
            self.swarm_dir.mkdir(parents=True, exist_ok=True)
            state = self.swarm_dir / "state.db"
            for p in (state, Path(str(state) + "-wal"), Path(str(state) + "-shm")):
                p.unlink(missing_ok=True)
            self.manager = await Manager.open(state)
            await self.manager.init(self.node_id, addr, spec, default_addr_pool, subnet_size, data_path_port,
                                    self.describe())
            (self.swarm_dir / "node.json").write_text(json.dumps({"node_id": self.node_id, "addr": addr}))
            await self._run_swarm()
            return self.node_id

    async def swarm_leave(self, force: bool) -> None:
        async with self._lock:
            if self.manager is None:
                raise FailedPrecondition("This node is not part of a swarm")
            if not force:
                raise FailedPrecondition(LEAVE_LAST_MANAGER)
            await self._stop_swarm()
            shutil.rmtree(self.swarm_dir, ignore_errors=True)
            for f in (self.data_root / "logs").glob("*.log"):
                f.unlink(missing_ok=True)
            self.node_id = ""
            self.addr = ""


def resolve_advertise(advertise_addr: str, listen_addr: str) -> str:
    """``host[:port]`` to advertise, defaulting the port to 2377 (Swarm's)."""
    addr = advertise_addr or (listen_addr if listen_addr and not listen_addr.startswith("0.0.0.0") else "")
    if not addr:
        addr = "127.0.0.1"
    if addr.count(":") == 0:
        return f"{addr}:{SWARM_PORT}"
    host, _, port = addr.rpartition(":")
    return f"{host}:{port or SWARM_PORT}"
