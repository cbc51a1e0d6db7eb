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

from shoal.agent import remote
from shoal.agent.worker import Worker, describe_node
from shoal.api.errors import (
    ALREADY_IN_SWARM,
    LEAVE_LAST_MANAGER,
    NOT_A_MANAGER,
    NOT_A_MANAGER_WORKER,
    SWARM_LOCKED,
    FailedPrecondition,
    InvalidArgument,
)
from shoal.api.ids import new_id
from shoal.api.types import Cluster, ClusterSpec, NodeDescription
from shoal.manager import ca, keys
from shoal.manager.manager import Manager
from shoal.manager.remote import SwarmListener
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
        self.listener: SwarmListener | None = None
        self.registrar: remote.RemoteRegistrar | None = None
        self.node_id = ""
        self.addr = ""
        self.role = ""
        self.listen_addr = ""
        self.managers: list[str] = []
        self.locked = False
        self.hostname = config.hostname or socket.gethostname()
        self._lock = asyncio.Lock()

    def _make_runtime(self) -> Runtime:
        if self.runtime_name == "process":
            return ProcessRuntime(self.data_root, self.images)
        if self.runtime_name == "hollow":
            from shoal.runtime.hollow import HollowRuntime

            return HollowRuntime()
        if self.runtime_name == "runc":
            from shoal.runtime.runc import RuncRuntime

            return RuncRuntime(self.data_root, self.exec_root, self.images)
        raise InvalidArgument(f"unknown runtime: {self.runtime_name}")

    def describe(self) -> NodeDescription:
        return describe_node(self.hostname, self.config.labels, self.config.cpus, self.config.memory)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        node_file = self.swarm_dir / "node.json"
        if not node_file.exists():
            return
        info = json.loads(node_file.read_text())
        self.node_id, self.addr = info["node_id"], info["addr"]
        self.role = info.get("role", "manager")
        self.listen_addr = info.get("listen_addr", "")
        self.managers = list(info.get("managers", []))
        if self.role == "worker":
            await self._run_worker(self._identity())
            return
        if keys.is_sealed(self.keys_path):
            self.locked = True  # autolock: nothing runs until `swarm unlock`
            return
        await self._open_manager(keys.load_dek(self.keys_path))

    @property
    def keys_path(self) -> Path:
        return self.swarm_dir / "keys.json"

    async def _open_manager(self, dek: bytes) -> None:
        self.manager = await Manager.open(self.swarm_dir / "state.db", dek)
        if self.manager.initialized():
            await self._run_swarm()
        else:
            await self.manager.close()
            self.manager = None

    async def unlock(self, key: str) -> None:
        async with self._lock:
            if not self.locked:
                raise FailedPrecondition("Swarm is not locked.")
            dek = keys.load_dek(self.keys_path, key)
            await self._open_manager(dek)
            self.locked = False

    async def set_autolock(self, on: bool, rotate: bool = False) -> str:
        """Seal the data key with a (new) unlock key, or unseal it; returns the unlock key ("" when off)."""
        m = self.require_manager()
        cluster = m.control.cluster()
        dek = keys.load_dek(self.keys_path, cluster.UnlockKey)
        key = (keys.new_unlock_key() if rotate or not cluster.UnlockKey else cluster.UnlockKey) if on else ""
        if key != cluster.UnlockKey:
            def set_key(c: Cluster) -> bool:
                c.UnlockKey = key
                c.Spec.EncryptionConfig.AutoLockManagers = on
                return True

            await m.store.update_with(Cluster, cluster.ID, set_key)
        keys.save_dek(self.keys_path, dek, key)
        return key

    def _save_node(self) -> None:
        (self.swarm_dir / "node.json").write_text(json.dumps({
            "node_id": self.node_id, "addr": self.addr, "role": self.role, "listen_addr": self.listen_addr,
            "managers": self.managers,
        }))

    def _save_identity(self, ca_pem: str, cert_pem: str, key_pem: str) -> None:
        (self.swarm_dir / "ca.pem").write_text(ca_pem)
        (self.swarm_dir / "node.crt").write_text(cert_pem)
        key = self.swarm_dir / "node.key"
        key.touch(mode=0o600)
        key.write_text(key_pem)

    def _identity(self) -> remote.Identity:
        d = self.swarm_dir
        return remote.Identity(self.node_id, self.role, (d / "ca.pem").read_text(), (d / "node.crt").read_text(),
                               (d / "node.key").read_text())

    async def _run_swarm(self) -> None:
        assert self.manager is not None
        await self.manager.start()
        assert self.manager.dispatcher is not None
        ident = self._identity()
        if ca.needs_renewal(ident.cert_pem):
            # A manager signs its own new certificate (checked at each start; agents renew over /renew).
            cluster = self.manager.control.cluster()
            key_pem, csr_pem = ca.new_node_key()
            cert_pem = ca.issue_node_cert(cluster.TLSInfo.TrustRoot, cluster.RootCAKey, csr_pem, self.node_id,
                                          "manager", cluster.ID)
            self._save_identity(cluster.TLSInfo.TrustRoot, cert_pem, key_pem)
            ident = self._identity()
        self.listener = SwarmListener(self.manager, ident.cert_pem, ident.key_pem)
        await self.listener.start(self.listen_addr or f"0.0.0.0:{SWARM_PORT}")
        self.worker = Worker(self.node_id, self.runtime, self.manager.dispatcher, self.describe(),
                             self.addr.rsplit(":", 1)[0], role="manager")
        await self.worker.start()

    async def _run_worker(self, ident: remote.Identity) -> None:
        self.registrar = remote.RemoteRegistrar(
            ident, self.managers, on_renew=lambda new: self._save_identity(new.ca_pem, new.cert_pem, new.key_pem)
        )
        self.registrar.log_path = self.runtime.log_path
        self.worker = Worker(self.node_id, self.runtime, self.registrar, self.describe(),
                             self.addr.rsplit(":", 1)[0], role="worker")
        await self.worker.start()

    async def stop(self) -> None:
        async with self._lock:
            await self._stop_swarm()
            await self.runtime.close()

    async def _stop_swarm(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None
        if self.manager is not None:
            await self.manager.stop_loops()
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        if self.registrar is not None:
            await self.registrar.close()
            self.registrar = None
        if self.manager is not None:
            await self.manager.stop_dispatcher()
            await self.manager.close()
            self.manager = None

    # ------------------------------------------------------------ swarm membership

    def local_node_state(self) -> str:
        if self.locked:
            return "locked"
        return "active" if self.manager is not None or self.worker is not None else "inactive"

    def require_manager(self) -> Manager:
        if self.locked:
            raise FailedPrecondition(SWARM_LOCKED)
        if self.manager is None:
            raise FailedPrecondition(NOT_A_MANAGER_WORKER if self.worker is not None else NOT_A_MANAGER)
        return self.manager

    async def swarm_init(self, advertise_addr: str = "", listen_addr: str = "", spec: ClusterSpec | None = None,
                         default_addr_pool: list[str] | None = None, subnet_size: int = 0,
                         data_path_port: int = 0, force_new_cluster: bool = False, autolock: bool = False) -> str:
        async with self._lock:
            if self.locked:
                raise FailedPrecondition(SWARM_LOCKED)
            if self.worker is not None and self.manager is None:
                raise FailedPrecondition(ALREADY_IN_SWARM)
            if self.manager is not None:
                if not force_new_cluster:
                    raise FailedPrecondition(ALREADY_IN_SWARM)
                return self.node_id
            self.listen_addr = listen_addr or f"0.0.0.0:{SWARM_PORT}"
            addr = resolve_advertise(advertise_addr, self.listen_addr)
            self.node_id = new_id()
            self.addr = addr
            self.role = "manager"
            self.managers = [addr]
            self.swarm_dir.mkdir(parents=True, exist_ok=True)
            state = self.swarm_dir / "state.db"
            for p in (state, Path(str(state) + "-wal"), Path(str(state) + "-shm")):
                p.unlink(missing_ok=True)
            dek = keys.new_dek()
            unlock_key = keys.new_unlock_key() if autolock else ""
            self.manager = await Manager.open(state, dek)
            cluster = await self.manager.init(self.node_id, addr, spec, default_addr_pool, subnet_size,
                                              data_path_port, self.describe(), unlock_key)
            keys.save_dek(self.keys_path, dek, unlock_key)
            key_pem, csr_pem = ca.new_node_key()
            cert_pem = ca.issue_node_cert(cluster.TLSInfo.TrustRoot, cluster.RootCAKey, csr_pem, self.node_id,
                                          "manager", cluster.ID)
            self._save_identity(cluster.TLSInfo.TrustRoot, cert_pem, key_pem)
            self._save_node()
            try:
                await self._run_swarm()
            except OSError as e:
                await self._stop_swarm()
                shutil.rmtree(self.swarm_dir, ignore_errors=True)
                raise InvalidArgument(f"listen tcp {self.listen_addr}: bind: {(e.strerror or str(e)).lower()}") from e
            return self.node_id

    async def swarm_join(self, remote_addrs: list[str], token: str, listen_addr: str = "",
                         advertise_addr: str = "") -> None:
        async with self._lock:
            if self.manager is not None or self.worker is not None:
                raise FailedPrecondition(ALREADY_IN_SWARM)
            if not remote_addrs:
                raise InvalidArgument("at least 1 RemoteAddr is required to join")
            managers = [a if ":" in a else f"{a}:{SWARM_PORT}" for a in remote_addrs]
            ident = await remote.join(managers, token, self.hostname)
            self.node_id, self.role, self.managers = ident.node_id, ident.role, managers
            self.listen_addr = listen_addr or f"0.0.0.0:{SWARM_PORT}"
            self.addr = resolve_advertise(advertise_addr, self.listen_addr)
            self.swarm_dir.mkdir(parents=True, exist_ok=True)
            self._save_identity(ident.ca_pem, ident.cert_pem, ident.key_pem)
            self._save_node()
            await self._run_worker(ident)

    async def swarm_leave(self, force: bool) -> None:
        async with self._lock:
            if self.locked:
                if not force:
                    raise FailedPrecondition(LEAVE_LAST_MANAGER)
                self.locked = False  # a locked manager may still be forced out (its state is erased)
            elif self.manager is None and self.worker is None:
                raise FailedPrecondition("This node is not part of a swarm")
            if self.manager is not None and not force:
                raise FailedPrecondition(LEAVE_LAST_MANAGER)
            await self._stop_swarm()
            shutil.rmtree(self.swarm_dir, ignore_errors=True)
            for f in (self.data_root / "logs").glob("*.log"):
                f.unlink(missing_ok=True)
            self.node_id = ""
            self.addr = ""
            self.role = ""
            self.managers = []


def resolve_advertise(advertise_addr: str, listen_addr: str) -> str:
    """``host:port`` to advertise: the port defaults to the listen port, then to 2377 (Swarm's)."""
    listen_port = listen_addr.rpartition(":")[2] if ":" in listen_addr else ""
    addr = advertise_addr or (listen_addr if listen_addr and not listen_addr.startswith("0.0.0.0") else "")
    if not addr:
        addr = "127.0.0.1"
    if addr.count(":") == 0:
        return f"{addr}:{listen_port or SWARM_PORT}"
    host, _, port = addr.rpartition(":")
    return f"{host}:{port or listen_port or SWARM_PORT}"
