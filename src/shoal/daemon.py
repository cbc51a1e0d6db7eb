"""``shoal daemon``: one process that is a node — its image store and runtime, its agent, and (on a
manager) the manager — behind the Docker Engine API on unix sockets and TCP.

Before ``swarm init`` the node is inactive: images work, swarm calls answer Docker's "not a swarm
manager" error. ``swarm init`` creates the cluster state under ``<data-root>/swarm`` (SQLite) and
starts the manager and the agent; a restarted daemon finds that state and starts them again, and the
orchestrators converge. ``swarm leave --force`` stops every task and erases the swarm state.

When a second manager joins, the first one moves the cluster state from SQLite into etcd: it starts
its own etcd member, copies every key, and from then on every manager runs a member of the managers'
etcd cluster (``membership``), campaigns for leadership (``quorum``), and runs the orchestrators, the
scheduler and the dispatcher only while it leads. The agent of a manager in a quorum holds its
session with the leader over mutual TLS, like any worker's, so leadership can move without
touching the containers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import gc
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from shoal import metrics, pki
from shoal.agent import remote
from shoal.agent.containernets import ContainerNets
from shoal.agent.containers import LocalContainers
from shoal.agent.worker import Worker, describe_node
from shoal.api.errors import (
    ALREADY_IN_SWARM,
    LEAVE_LAST_MANAGER,
    NOT_A_MANAGER,
    NOT_A_MANAGER_WORKER,
    SWARM_LOCKED,
    FailedPrecondition,
    InvalidArgument,
    ShoalError,
    Unavailable,
)
from shoal.api.events import EventLog
from shoal.api.ids import new_id
from shoal.api.kubenet import KubeNetSettings
from shoal.api.nodeinfo import LocalTask, Membership, NodeSummary, RemoteManager, SwarmSummary
from shoal.api.types import (
    Cluster,
    ClusterSpec,
    GenericResource,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
)
from shoal.localstores import NodeImages, NodeLogFiles, NodeVolumes
from shoal.manager import ca, keys
from shoal.manager.console import ConsoleView
from shoal.manager.control import ControlAPI
from shoal.manager.kube import certs as kube_certs
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.logs import LogService
from shoal.manager.manager import Manager
from shoal.manager.membership import EtcdMember, choose_peer_port, peer_url
from shoal.manager.metrics import ClusterCollector
from shoal.manager.quorum import NO_LEADER, Elector, forget_managers
from shoal.manager.remote import SwarmListener, host_of, read_leader_logs
from shoal.network import hostaddrs
from shoal.protocol import JoinRequest, LogLine
from shoal.runtime import private
from shoal.runtime.base import Console, Networking, Runtime, container_name
from shoal.runtime.images import ImageStore
from shoal.runtime.podaccess import ExecTarget, LocalPods
from shoal.runtime.podvolumes import PodVolumes
from shoal.runtime.process import ProcessRuntime
from shoal.runtime.registry import Puller, RegistryClient
from shoal.runtime.volumes import VolumeStore
from shoal.store.backend import StoreError
from shoal.store.encryption import EncryptedBackend
from shoal.store.objects import Change, ObjectStore

if TYPE_CHECKING:
    from shoal.network.local import LocalNetworks
    from shoal.network.localapi import NodeLocalNetworks
    from shoal.network.node import NodeNetwork

log = logging.getLogger(__name__)

DEFAULT_DATA_ROOT = Path("/var/lib/shoal")
DEFAULT_EXEC_ROOT = Path("/run/shoal")
SWARM_PORT = 2377
SERVING_WAIT = 30.0  # s: at most this long, unlock waits for the managers' quorum to serve


@dataclass
class DaemonConfig:
    data_root: Path = DEFAULT_DATA_ROOT
    exec_root: Path = DEFAULT_EXEC_ROOT
    hosts: list[str] = field(default_factory=list)
    runtime: str = ""  # "" = runc when root and runc is installed, else process
    docker_host: str = "unix:///var/run/docker.sock"  # the dockerd of the docker runtime
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    cpus: int = 0
    memory: int = 0
    generic_resources: list[GenericResource] = field(default_factory=list)  # --node-generic-resource
    # Registries this node never contacts ("all": every one not on loopback); by default what
    # $SHOAL_BLOCK_REGISTRY lists (comma-separated), which the test suite sets so that no outside name
    # is ever resolved.
    block_registries: list[str] = field(
        default_factory=lambda: [r for r in os.environ.get("SHOAL_BLOCK_REGISTRY", "").split(",") if r.strip()])
    insecure_registries: list[str] = field(default_factory=list)  # besides loopback: plain HTTP allowed
    dns: list[str] = field(default_factory=list)  # --dns: where tasks' other names are asked (see network/dns.py)
    bip: str = ""  # --bip: the default bridge's address (tasks without networks; see network/default.py)
    pod_backoff: float = 10.0  # s: a Pod's container's back-off base (Kubernetes' 10 s; tests set less)
    # --kube-addr: where a manager serves the Kubernetes API (HTTPS); "" serves none.
    kube_addr: str = "0.0.0.0:6443"
    # --service-cluster-ip-range, --service-node-port-range: the Kubernetes Services' ranges of a cluster
    # this daemon inits ("": 172.16.0.0/16 and 30000-32767; docs/design/services.md).
    service_cluster_ip_range: str = ""
    service_node_port_range: str = ""
    # --cluster-cidr, --node-cidr-mask-size, --cluster-domain, --cluster-dns, --service-lb-pool: the rest of the
    # Kubernetes network of a cluster this daemon inits (manager/kube/netsettings.py; "" or 0: the defaults).
    cluster_cidr: str = field(default_factory=lambda: os.environ.get("SHOAL_CLUSTER_CIDR", ""))
    node_cidr_mask_size: int = 0
    cluster_domain: str = ""
    cluster_dns: str = ""
    service_lb_pool: str = field(default_factory=lambda: os.environ.get("SHOAL_SERVICE_LB_POOL", ""))
    # --ui-addr: where the web console and /metrics are served (frontdoor/ui): plain HTTP on loopback,
    # HTTPS with a login token elsewhere; "" serves none (the CLI's default is 127.0.0.1:9090).
    ui_addr: str = ""


# The cyclic garbage collector's thresholds for a daemon: collections of the youngest objects every
# 50,000 allocations instead of 700, and full ones rarely. A manager holds millions of long-lived
# objects (tasks, their runners on hollow nodes), and Python's defaults spent a third of its time
# scanning them (17.7 of 36.5 s for 100,000 tasks); the stored objects themselves are not tracked.
GC_THRESHOLDS = (50_000, 20, 50)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def default_runtime() -> str:
    if os.geteuid() == 0 and shutil.which("runc"):
        return "runc"
    return "process"


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.data_root = Path(config.data_root)
        self.exec_root = Path(config.exec_root)
        private.make_dir(self.data_root, private.ROOT_MODE)  # as dockerd's /var/lib/docker
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self.events = EventLog()  # what ``docker events`` streams: this node's and, on a manager, the swarm's
        self.images = ImageStore(self.data_root / "images")
        self.volumes = VolumeStore(self.data_root / "volumes")
        self.registry = RegistryClient(config.block_registries, config.insecure_registries)
        self.puller = Puller(self.registry, self.images)
        self.puller.on_pulled = lambda ref: self.local_images.pulled(ref)  # dockerd's pull event
        self.runtime_name = config.runtime or default_runtime()
        self.network: NodeNetwork | None = None  # the tasks' sandboxes, for a runtime that joins them
        self.exec_target: ExecTarget | None = None  # the runtime, when it can exec in a Pod's container (runc)
        self.terminals: Console | None = None  # the runtime, when it gives a container a terminal (runc)
        self._local_store: LocalNetworks | None = None  # the node's local networks, made on first use
        self._local_api: NodeLocalNetworks | None = None
        self.runtime: Runtime = self._make_runtime()
        # The node's own containers (``docker run``): outside the swarm, on the same runtime and network.
        self._containers = LocalContainers(self.data_root / "local-containers", self.runtime, self.images,
                                           self.events, network=self.network, exec_target=self.exec_target,
                                           console=self.terminals,
                                           tasks=self.containers, fail_task=self._fail_task_container,
                                           nets=self._container_nets())
        self.swarm_dir = self.data_root / "swarm"
        self.manager: Manager | None = None
        self.worker: Worker | None = None
        self._metrics: CollectorRegistry | None = None  # made on first use
        self.listener: SwarmListener | None = None
        self.registrar: remote.RemoteRegistrar | None = None
        self.node_id = ""
        self.addr = ""
        self.role = ""
        self.listen_addr = ""
        self.data_path_addr = ""  # --data-path-addr: the node's address for tasks' traffic ("" its advertised one)
        self.interfaces: hostaddrs.HostInterfaces = hostaddrs.netlink_interfaces  # the host's, for the flags
        self.managers: list[str] = []
        self.peer_port = 0  # this manager's etcd peer port; 0 while the state is in SQLite
        self.member: EtcdMember | None = None
        self.elector: Elector | None = None
        self.dek = b""
        self._quorum_task: asyncio.Task[None] | None = None
        self._demotions: set[asyncio.Task[None]] = set()  # members being taken out of the quorum
        self._role_task: asyncio.Task[None] | None = None
        self.locked = False
        self.hostname = config.hostname or socket.gethostname()
        self._lock = asyncio.Lock()

    def _make_runtime(self) -> Runtime:
        if self.runtime_name == "process":
            return ProcessRuntime(self.data_root, self.images, self.exec_root)
        if self.runtime_name == "hollow":
            from shoal.runtime.hollow import HollowRuntime

            return HollowRuntime()
        if self.runtime_name == "runc":
            from shoal.network.node import NodeNetwork
            from shoal.runtime.runc import RuncRuntime

            self.network = NodeNetwork(self.exec_root, dns=self.config.dns, bip=self.config.bip,
                                       local=self._local_network_store())
            runc = RuncRuntime(self.data_root, self.exec_root, self.images)
            self.exec_target = runc
            self.terminals = runc
            return runc
        if self.runtime_name == "docker":
            from shoal.network.node import NodeNetwork
            from shoal.runtime.docker import DockerRuntime

            docker_rt = DockerRuntime(self.data_root, self.exec_root, self.images, self.config.docker_host)
            self.network = NodeNetwork(self.exec_root, dns=self.config.dns, bip=self.config.bip, holder=docker_rt,
                                       local=self._local_network_store())
            return docker_rt
        raise InvalidArgument(f"unknown runtime: {self.runtime_name}")

    def describe(self) -> NodeDescription:
        return describe_node(self.hostname, self.config.labels, self.config.cpus, self.config.memory,
                             self.config.generic_resources, runtime=self.runtime_name,
                             runtime_version=self._runtime_version())

    @functools.cache  # noqa: B019 (one daemon a process; asked once)
    def _runtime_version(self) -> str:
        """runc's version (``runc --version``), for Kubernetes' ``containerRuntimeVersion``; "" for the others."""
        if self.runtime_name != "runc":
            return ""
        try:
            out = subprocess.run(["runc", "--version"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""
        first = out.splitlines()[0] if out else ""
        return first.removeprefix("runc version ").strip()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        tune_gc()
        if self.network is not None:
            await self.network.cleanup_local()  # a previous run's local bridges and published ports
            await self.local_networks.prepare()
        await self._containers.start_all()
        node_file = self.swarm_dir / "node.json"
        if not node_file.exists():
            return
        info = json.loads(node_file.read_text())
        self.node_id, self.addr = info["node_id"], info["addr"]
        self.role = info.get("role", "manager")
        self.listen_addr = info.get("listen_addr", "")
        self.data_path_addr = info.get("data_path_addr", "")
        self.managers = list(info.get("managers", []))
        self.peer_port = int(info.get("etcd_peer_port", 0))
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

    @property
    def in_quorum(self) -> bool:
        """Whether this manager's state is in the managers' etcd cluster (not in SQLite)."""
        return self.peer_port > 0

    async def _open_manager(self, dek: bytes) -> None:
        self.dek = dek
        if self.in_quorum:
            await self._start_quorum(dek)
            return
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
            # As Docker's: unlock returns once the manager serves (its store open, a leader known).
            await self._until_serving(SERVING_WAIT)

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
            "managers": self.managers, "etcd_peer_port": self.peer_port, "data_path_addr": self.data_path_addr,
        }))

    def _save_identity(self, ca_pem: str, cert_pem: str, key_pem: str) -> None:
        """Keep the node's certificate and key. A manager's key is kept encrypted with the data key
        (unreadable on disk when autolock seals that key); the clear copy that etcd and TLS use lives
        under the exec root (a tmpfs: /run) only while the daemon runs. A worker's is kept as it is (as
        Docker keeps a worker's), 0600 in the 0700 swarm directory."""
        private.make_dir(self.swarm_dir)
        (self.swarm_dir / "ca.pem").write_text(ca_pem)
        (self.swarm_dir / "node.crt").write_text(cert_pem)
        plain, sealed = self.swarm_dir / "node.key", self.swarm_dir / "node.key.enc"
        if self.role == "manager" and self.dek:
            private.write_file(sealed, keys.seal_with_dek(self.dek, key_pem.encode()))
            plain.unlink(missing_ok=True)
            self._runtime_key_file(key_pem)
        else:
            private.write_file(plain, key_pem)
            sealed.unlink(missing_ok=True)

    def _key_pem(self) -> str:
        sealed = self.swarm_dir / "node.key.enc"
        if sealed.exists():
            return keys.open_with_dek(self.dek, sealed.read_bytes()).decode()
        return (self.swarm_dir / "node.key").read_text()

    def _runtime_key_file(self, key_pem: str = "") -> Path:
        """The node's key in the clear under the exec root, for etcd's peer TLS."""
        path = self.exec_root / "swarm" / "node.key"
        private.make_dir(path.parent)
        private.write_file(path, key_pem or self._key_pem())
        return path

    def _identity(self) -> remote.Identity:
        d = self.swarm_dir
        return remote.Identity(self.node_id, self.role, (d / "ca.pem").read_text(), (d / "node.crt").read_text(),
                               self._key_pem())

    async def _run_swarm(self) -> None:
        assert self.manager is not None
        self.manager.publish_events(self.events)
        await self.manager.start()
        assert self.manager.dispatcher is not None
        ident = self._identity()
        if pki.needs_renewal(ident.cert_pem):
            # A manager signs its own new certificate (checked at each start; agents renew over /renew).
            cluster = self.manager.control.cluster()
            key_pem, csr_pem = pki.new_node_key()
            cert_pem = ca.issue_node_cert(cluster.TLSInfo.TrustRoot, cluster.RootCAKey, csr_pem, self.node_id,
                                          "manager", cluster.ID)
            self._save_identity(cluster.TLSInfo.TrustRoot, cert_pem, key_pem)
            ident = self._identity()
        self.listener = SwarmListener(self.manager, ident.cert_pem, ident.key_pem, self._add_manager,
                                      self._leader_addr)
        await self.listener.start(self.listen_addr or f"0.0.0.0:{SWARM_PORT}")
        self.worker = Worker(self.node_id, self.runtime, self.manager.dispatcher, self.describe(),
                             self._data_addr(), role="manager", puller=self._task_puller(),
                             network=self._task_network(),
                             pod_volumes=PodVolumes(self.data_root, self.exec_root),
                             pod_backoff=self.config.pod_backoff)
        self.manager.kube.pods = self._pod_access()
        await self.worker.start()

    def _data_addr(self) -> str:
        """The node's address for its tasks' traffic (the overlay's tunnels): --data-path-addr, else
        the advertised address's host."""
        return self.data_path_addr or self.addr.rsplit(":", 1)[0]

    def _pod_access(self) -> LocalPods | None:
        """Into the Pods of this node, for the manager's ``exec`` and ``dial`` (a runtime that can run a
        command in a Pod's container, with the node's network: runc)."""
        rt, net = self.exec_target, self.network
        if rt is None or net is None:
            return None

        def netns_of(task_id: str) -> Path | None:
            sandbox = net.sandboxes.get(task_id)
            return sandbox.netns if sandbox is not None else None

        return LocalPods(self.node_id, rt, netns_of)

    def _task_puller(self) -> Puller | None:
        """What pulls the images of this node's tasks: none for a runtime that runs no images (hollow
        nodes never contact a registry)."""
        return self.puller if self.runtime.uses_images else None

    def _task_network(self) -> NodeNetwork | None:
        """The node's network, for a runtime whose tasks join sandboxes (not one swapped in since)."""
        return self.network if self.runtime.networking in (Networking.JOIN, Networking.HOLD) else None

    def _remote_registrar(self, ident: remote.Identity) -> remote.RemoteRegistrar:
        def managers_changed(addrs: list[str]) -> None:
            self.managers = addrs
            self._save_node()

        registrar = remote.RemoteRegistrar(
            ident, self.managers, on_renew=lambda new: self._save_identity(new.ca_pem, new.cert_pem, new.key_pem),
            on_managers=managers_changed,
        )
        registrar.log_path = self.runtime.log_path
        registrar.pods = self._pod_access()
        registrar.on_role = self._on_role
        return registrar

    async def _run_worker(self, ident: remote.Identity) -> None:
        self.registrar = self._remote_registrar(ident)
        self.worker = Worker(self.node_id, self.runtime, self.registrar, self.describe(),
                             self._data_addr(), role=self.role or "worker", puller=self._task_puller(),
                             network=self._task_network(),
                             pod_volumes=PodVolumes(self.data_root, self.exec_root),
                             pod_backoff=self.config.pod_backoff)
        await self.worker.start()

    # ------------------------------------------------------------ the managers' quorum

    async def _start_quorum(self, dek: bytes, initial_cluster: str = "", state: str = "new") -> None:
        """Run this node's agent at once, and its manager once its etcd member serves (in the
        background: a member whose peers are down waits for them, and the containers keep running)."""
        if self.worker is None:
            await self._run_worker(self._identity())
        self._quorum_task = asyncio.ensure_future(self._quorum_up(dek, initial_cluster, state))

    async def _until_serving(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until a manager in the quorum serves: its store open, its presence
        written and a leader known. A single manager (SQLite) serves once started."""
        if not self.in_quorum:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._quorum_task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._quorum_task), timeout)
        if self.elector is not None:
            await self.elector.settled(max(0.0, deadline - loop.time()))

    async def _quorum_up(self, dek: bytes, initial_cluster: str = "", state: str = "new") -> None:
        if self.member is None:
            member = EtcdMember(self.swarm_dir, self.node_id, host_of(self.addr), self.peer_port,
                                self._runtime_key_file())
            await member.start(initial_cluster, state)
            self.member = member
        while True:
            store = ObjectStore(self.member.store_backend(dek), watch_backend=True)
            try:
                await store.load()
                break
            except StoreError as e:  # a learner not promoted yet, or a quorum that is not there
                log.info("waiting for the managers' quorum: %s", e)
                await store.backend.close()
                await asyncio.sleep(1.0)
        await self._attach(Manager(store))

    async def _attach(self, m: Manager) -> None:
        """Serve and campaign with a manager whose store is the managers' etcd cluster."""
        assert self.member is not None and self.member.client is not None
        m.control.live_manager_status = self._manager_status
        m.control.on_demote = self._on_demote
        m.lease_gone = self._lease_gone
        m.store.subscribe(self._reseal)
        m.publish_events(self.events)
        self.manager = m
        m.kube.pods = self._pod_access()
        if self.listener is None:
            ident = self._identity()
            self.listener = SwarmListener(m, ident.cert_pem, ident.key_pem, self._add_manager, self._leader_addr)
            await self.listener.start(self.listen_addr or f"0.0.0.0:{SWARM_PORT}")
        else:
            self.listener.manager = m
            self.listener.add_manager = self._add_manager
            self.listener._leader_addr = self._leader_addr
        self.elector = Elector(self.member.client, self.node_id, on_elected=m.start, on_deposed=m.stop)
        self.elector.start()

    # ------------------------------------------------------------ promotion and demotion

    def _on_role(self, wanted: str) -> None:
        """The managers want this node in another role (``node promote|demote``): change over."""
        if self._role_task is not None and not self._role_task.done():
            return
        if wanted == "manager" and self.role == "worker":
            self._role_task = asyncio.ensure_future(self._become_manager())
        elif wanted == "worker" and self.role == "manager" and self.in_quorum:
            # Demoted; or a manager of a quorum that was forced anew without it (its member waits for
            # peers that removed it, and no manager of its own came up): a worker either way.
            self._role_task = asyncio.ensure_future(self._become_worker())

    async def _become_manager(self) -> None:
        async with self._lock:
            if self.registrar is None or self.worker is None:
                return
            host = host_of(self.addr)
            peer_port = choose_peer_port(host)
            try:
                ident = await self.registrar.promote(self.addr, peer_port)
            except ShoalError as e:
                log.warning("promotion: %s", e)
                return
            self.role, self.peer_port = "manager", peer_port
            self.managers = list(ident.extra.get("managers") or self.managers)
            self.dek = base64.b64decode(ident.extra["dek"])
            keys.save_dek(self.keys_path, self.dek, str(ident.extra.get("unlock_key", "")))
            self._save_identity(ident.ca_pem, ident.cert_pem, ident.key_pem)
            self._save_node()
            old, self.registrar = self.registrar, self._remote_registrar(self._identity())
            self.worker.role = "manager"
            await self.worker.rebind(self.registrar)
            await old.close()
            log.info("this node was promoted: it is now a manager")
            self._quorum_task = asyncio.ensure_future(
                self._quorum_up(self.dek, str(ident.extra["initial_cluster"]), "existing"))

    async def _become_worker(self) -> None:
        """Demoted: leave the managers' etcd cluster, stop the manager; the agent and its tasks stay."""
        async with self._lock:
            if self.manager is not None and self.member is not None and self.member.client is not None:
                with contextlib.suppress(StoreError, asyncio.TimeoutError):
                    await asyncio.wait_for(self.member.remove(self.node_id), 5)
            await self._stop_manager_side(resign=True)
            if self.listener is not None:
                await self.listener.stop()
                self.listener = None
            shutil.rmtree(self.swarm_dir / "etcd", ignore_errors=True)
            ident = self._identity()
            self.role = "worker"
            self._save_identity(ident.ca_pem, ident.cert_pem, ident.key_pem)  # a worker's key, as workers keep it
            shutil.rmtree(self.exec_root / "swarm", ignore_errors=True)
            self.keys_path.unlink(missing_ok=True)
            self.peer_port, self.dek = 0, b""
            if self.worker is not None:
                self.worker.role = "worker"
            self._save_node()
            log.info("this node was demoted: it is now a worker")

    async def _on_demote(self, node: Node) -> None:
        """The control API demoted ``node`` (the role is written): take its member out of the quorum
        (the node itself does that when it is this one) and forget its manager status, in the
        background as SwarmKit's role manager does. The demotion has happened whatever a membership
        change then meets (a leader changing as the quorum shrinks), so the request does not fail
        on it: the change is retried until it is made or the manager stops."""
        if node.ID == self.node_id or self.member is None or self.manager is None:
            return
        t = asyncio.ensure_future(self._leave_quorum(node))
        self._demotions.add(t)
        t.add_done_callback(self._demotions.discard)

    async def _leave_quorum(self, node: Node) -> None:
        def clear(n: Node) -> bool:
            n.ManagerStatus = None
            return True

        addr = node.ManagerStatus.Addr if node.ManagerStatus is not None else ""
        for attempt in range(60):
            if self.member is None or self.manager is None:
                return
            now = self.manager.store.get(Node, node.ID)
            if now is None or now.Spec.Role != "worker":  # removed, or promoted again meanwhile
                return
            try:
                await self.manager.store.update_with(Node, node.ID, clear)
                await self.member.remove(node.ID)
            except Exception as e:  # a membership change under way, no leader for a moment: again
                log.warning("taking node %s out of the managers' quorum failed (try %d): %s", node.ID,
                            attempt + 1, e)
                await asyncio.sleep(1.0)
                continue
            log.info("node %s (%s) left the managers' quorum", node.ID, addr)
            return

    async def leader_logs(self, task_id: str, *, since: float = 0.0, tail: int = -1, follow: bool = False,
                          stdout: bool = True, stderr: bool = True) -> AsyncIterator[LogLine]:
        """A task's log lines, read through the leader (this manager does not hold the sessions)."""
        ident = self._identity()
        ctx = pki.client_ssl_context(ident.ca_pem, ident.cert_pem, ident.key_pem)
        async for ll in read_leader_logs(self._leader_addr(), ctx, task_id, since=since, tail=tail, follow=follow,
                                         stdout=stdout, stderr=stderr):
            yield ll

    def _reseal(self, ch: Change) -> None:
        """Autolock turned on or off, or its key rotated, on any manager: seal this manager's data key
        with the new unlock key too, so that a restart of this one is locked (or not) in the same way."""
        if ch.kind == "clusters" and ch.new is not None and self.dek and (
            ch.old is None or ch.old.UnlockKey != ch.new.UnlockKey
        ):
            keys.save_dek(self.keys_path, self.dek, ch.new.UnlockKey)

    def _leader_addr(self) -> str:
        if self.elector is None or self.manager is None or not self.elector.leader:
            return ""
        n = self.manager.store.get(Node, self.elector.leader)
        return n.ManagerStatus.Addr if n is not None and n.ManagerStatus is not None else ""

    def _lease_gone(self, node_id: str) -> bool:
        """Whether a manager's etcd lease is gone (as this manager's elector last saw the quorum)."""
        return self.elector is not None and self.elector.last_ok > 0 and node_id not in self.elector.present

    def _manager_status(self, node: Node) -> ManagerStatus | None:
        """A manager's status as the quorum sees it now (leader, reachable or not)."""
        if self.elector is None or node.Spec.Role != "manager":
            return node.ManagerStatus
        ms = node.ManagerStatus or ManagerStatus()
        return ManagerStatus(Leader=node.ID == self.elector.leader,
                             Reachability="reachable" if node.ID in self.elector.present else "unreachable",
                             Addr=ms.Addr)

    async def _add_manager(self, node_id: str, req: JoinRequest) -> dict[str, object]:
        """A manager joins: move to etcd if the state is still in SQLite, record the node, add its
        member; the answer is what it needs to start its member and read the state."""
        async with self._lock:
            if not self.in_quorum:
                await self._migrate_to_quorum()
            m = self.require_manager()
            assert self.member is not None
            host = host_of(req.addr)
            status = ManagerStatus(Reachability="unknown", Addr=req.addr)
            promoted = m.store.get(Node, node_id) is not None

            def set_status(n: Node) -> bool:
                n.ManagerStatus = status
                return True

            if promoted:  # a worker that was promoted: its node record is there
                await m.store.update_with(Node, node_id, set_status)
            else:
                await m.store.create(Node(
                    ID=node_id, Spec=NodeSpec(Role="manager", Availability="active"),
                    Description=NodeDescription(Hostname=req.hostname), Status=NodeStatus(State="unknown", Addr=host),
                    ManagerStatus=status,
                ))
            try:
                initial = await self.member.add(node_id, peer_url(host, req.peer_port))
            except StoreError:
                with contextlib.suppress(StoreError, ShoalError):
                    node = m.store.get(Node, node_id)
                    if node is not None and not promoted:
                        await m.store.delete(node)
                raise
            return {"dek": base64.b64encode(self.dek).decode(), "unlock_key": m.control.cluster().UnlockKey,
                    "initial_cluster": initial, "managers": sorted({*self.listener_managers(), req.addr})}

    def listener_managers(self) -> list[str]:
        return self.listener.manager_addrs() if self.listener is not None else [self.addr]

    async def _migrate_to_quorum(self) -> None:
        """Move this single manager's state from SQLite into a new one-member etcd cluster."""
        old = self.require_manager()
        c = old.control.cluster()
        host = host_of(self.addr)
        key_pem, csr_pem = pki.new_node_key()  # a certificate that names this host, as etcd peers check
        cert_pem = ca.issue_node_cert(c.TLSInfo.TrustRoot, c.RootCAKey, csr_pem, self.node_id, "manager", c.ID,
                                      ips=(host,))
        self._save_identity(c.TLSInfo.TrustRoot, cert_pem, key_pem)
        member = EtcdMember(self.swarm_dir, self.node_id, host, choose_peer_port(host), self._runtime_key_file())
        await member.start()
        try:
            await old.stop()  # nothing writes between the copy and the switch
            raw = old.store.backend.inner if isinstance(old.store.backend, EncryptedBackend) else old.store.backend
            copied = await member.copy_from(raw)
            store = ObjectStore(member.store_backend(self.dek), watch_backend=True)
            await store.load()
        except BaseException:
            await member.stop()  # the SQLite state is untouched: carry on with it
            shutil.rmtree(member.data_dir, ignore_errors=True)
            await old.start()
            raise
        await old.close()
        self.member, self.peer_port = member, member.peer_port
        self._save_node()
        state = self.swarm_dir / "state.db"
        for p in (state, Path(str(state) + "-wal"), Path(str(state) + "-shm")):
            p.unlink(missing_ok=True)
        log.info("moved %d keys of cluster state into etcd", copied)
        await self._attach(Manager(store))
        if self.worker is not None:
            self.registrar = self._remote_registrar(self._identity())
            await self.worker.rebind(self.registrar)

    async def stop(self) -> None:
        async with self._lock:
            await self._stop_swarm(exiting=True)
            await self._containers.close()
            if self.network is not None:
                await self.network.close()
            await self.runtime.close()
            await self.puller.close()
            await self.registry.close()

    async def _stop_swarm(self, resign: bool = True, exiting: bool = False) -> None:
        """Stop the swarm's side of the node; ``exiting``: the daemon is stopping (its tasks' removal
        gives up at the shutdown deadline, as dockerd's)."""
        for t in list(self._demotions):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.elector is not None:
            await self.elector.stop(resign=resign)  # hands leadership over at once
            self.elector = None
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None
        if self.manager is not None:
            await self.manager.stop_loops()
        if self.worker is not None:
            await self.worker.stop(deadline=exiting)
            self.worker = None
        if self.registrar is not None:
            await self.registrar.close()
            self.registrar = None
        await self._stop_manager_side()  # the dispatcher last: it writes the agents' final reports

    # ------------------------------------------------------------ swarm membership

    def local_node_state(self) -> str:
        if self.locked:
            return "locked"
        return "active" if self.manager is not None or self.worker is not None else "inactive"

    def require_manager(self) -> Manager:
        if self.locked:
            raise FailedPrecondition(SWARM_LOCKED)
        if self.manager is None:
            if self.in_quorum and self.role == "manager":
                raise Unavailable(NO_LEADER)  # its member has not reached the quorum (yet)
            raise FailedPrecondition(NOT_A_MANAGER_WORKER if self.worker is not None else NOT_A_MANAGER)
        return self.manager

    # ------------------------------------------------------------ the front doors' interface (nodeapi.NodeAPI)

    @property
    def local_images(self) -> NodeImages:
        return NodeImages(self.images, self.registry, lambda: self.manager.control if self.manager else None,
                          self.events)

    @property
    def local_volumes(self) -> NodeVolumes:
        return NodeVolumes(self.volumes, self.runtime, self.events, self._containers.volumes_in_use)

    @property
    def local_containers(self) -> LocalContainers:
        return self._containers

    async def _fail_task_container(self, task_id: str, reason: str) -> None:
        """A swarm task's container removed from under the swarm (``docker rm -f``): killed, so its
        task fails and its service replaces it, as Swarm does."""
        log.info("task %s: %s", task_id, reason)
        await self.runtime.stop(task_id, "KILL", 0.0)

    def _container_nets(self) -> ContainerNets | None:
        """The node's own containers on its local networks (a runtime whose tasks have sandboxes)."""
        if self.network is None:
            return None
        return ContainerNets(self.local_networks, self.network)

    def _local_network_store(self) -> LocalNetworks:
        if self._local_store is None:
            from shoal.network.local import LocalNetworks

            self._local_store = LocalNetworks(self.data_root / "networks", bip=self.config.bip)
            self._local_store.load()
        return self._local_store

    @property
    def local_networks(self) -> NodeLocalNetworks:
        """This node's local networks (``bridge``, ``host``, ``none``, user-defined bridges)."""
        if self._local_api is None:
            from shoal.network.localapi import NodeLocalNetworks

            self._local_api = NodeLocalNetworks(self._local_network_store(), self.network, self.events,
                                                self._swarm_network_names)
        return self._local_api

    def _swarm_network_names(self) -> set[str]:
        """The swarm's network names (on a manager), which a local network may not take."""
        if self.manager is None or self.locked:
            return set()
        return {n.Spec.Name for n in self.manager.control.networks.networks()}

    def control(self) -> ControlAPI:
        return self.require_manager().control

    def kube(self) -> KubeObjects:
        return self.require_manager().kube

    def console(self) -> ConsoleView:
        return self.require_manager().console

    def metrics_registry(self) -> CollectorRegistry:
        if self._metrics is None:
            self._metrics = metrics.node_registry(self._metric_collectors)
        return self._metrics

    def _metric_collectors(self) -> list[Collector]:
        """What this daemon adds to the process's metrics, at each scrape: its tunnels (a node with a
        network), its cluster's state (a manager, unlocked)."""
        found: list[Collector] = []
        net = self.network
        if net is not None:
            from shoal.network.metrics import TunnelCollector
            found.append(TunnelCollector(seal=lambda: net.tunnel.counters))
        mgr = self.manager
        if mgr is not None:
            found.append(ClusterCollector(mgr.store, mgr.dispatcher))
        return found

    def ui_token(self, ttl: float = 86400.0) -> str:
        return pki.make_ui_token(pki.ui_token_secret(self._root_ca()[1]), ttl, time.time())

    def ui_authenticate(self, token: str) -> bool:
        try:
            secret = pki.ui_token_secret(self._root_ca()[1])
        except ShoalError:  # not a manager (any more): no token is valid here
            return False
        return pki.check_ui_token(secret, token, time.time())

    def node_tls(self) -> tuple[str, str, str]:
        """The node's own root CA, certificate and key (PEM): the console's door on a worker's
        non-loopback address serves /metrics with them, to clients with a certificate of the cluster."""
        ident = self._identity()
        return ident.ca_pem, ident.cert_pem, ident.key_pem

    def _root_ca(self) -> tuple[str, str]:
        for c in self.require_manager().store.list(Cluster):
            return c.TLSInfo.TrustRoot, c.RootCAKey
        raise FailedPrecondition(NOT_A_MANAGER)

    def kube_serving(self) -> tuple[str, str, str]:
        ca_pem, ca_key = self._root_ca()
        host = self.addr.rsplit(":", 1)[0] if self.addr else ""
        ui_host = self.config.ui_addr.rpartition(":")[0].strip("[]")  # the web console serves this certificate too
        cert, key = kube_certs.issue_api_server_cert(ca_pem, ca_key, [h for h in (host, ui_host) if h])
        return ca_pem, cert, key

    def kube_client_cert(self, user: str, groups: list[str]) -> tuple[str, str, str]:
        ca_pem, ca_key = self._root_ca()
        cert, key = kube_certs.issue_client_cert(ca_pem, ca_key, user, groups)
        return ca_pem, cert, key

    def kube_server_url(self) -> str:
        host, _, port = self.config.kube_addr.rpartition(":")
        if host in ("", "0.0.0.0", "::", "[::]"):
            host = self.addr.rsplit(":", 1)[0] if self.addr else "127.0.0.1"
        return f"https://{host}:{port or 6443}"

    def logs(self) -> LogService:
        m = self.require_manager()
        return LogService(m.store, self.node_id, NodeLogFiles(self.runtime.log_path), lambda: m.dispatcher,
                          self.leader_logs if self.in_quorum else None)

    def membership(self) -> Membership:
        if self.manager is not None:
            return Membership.MANAGER
        if self.worker is not None:
            return Membership.WORKER
        return Membership.LOCKED if self.locked else Membership.INACTIVE

    def summary(self) -> NodeSummary:
        desc = self.describe()
        state, addr = self.local_node_state(), self.addr.rsplit(":", 1)[0]
        swarm = SwarmSummary(LocalNodeState=state)
        if self.manager is not None:
            members = self.manager.control.members()
            swarm = SwarmSummary(
                NodeID=self.node_id, NodeAddr=addr, LocalNodeState=state, ControlAvailable=True,
                RemoteManagers=members.Managers, Nodes=members.Nodes, Managers=len(members.Managers),
                Cluster=self.manager.control.cluster_view(),
            )
        elif self.worker is not None:
            swarm = SwarmSummary(NodeID=self.node_id, NodeAddr=addr, LocalNodeState=state,
                                 RemoteManagers=[RemoteManager(Addr=a) for a in self.managers])
        return NodeSummary(
            ID=self.node_id, Hostname=self.hostname, Labels=dict(self.config.labels), DataRoot=str(self.data_root),
            Runtime=self.runtime_name, NCPU=desc.Resources.NanoCPUs // 1_000_000_000,
            MemTotal=desc.Resources.MemoryBytes, Images=len(self.images.ids()),
            ContainersRunning=len(self.worker.runners) if self.worker is not None else 0, Swarm=swarm,
        )

    def containers(self) -> list[LocalTask]:
        runners = list(self.worker.runners.values()) if self.worker is not None else []
        return [LocalTask(r.task, container_name(r.task), r.state, r.status) for r in runners]

    async def check_writable(self) -> None:
        if self.elector is not None and not await self.elector.writable():
            raise Unavailable(NO_LEADER)

    def store_failure(self, e: Exception) -> ShoalError | None:
        """A store request of a manager in a quorum that failed (timed out without a quorum): no leader."""
        if isinstance(e, StoreError) and self.in_quorum:
            log.warning("cluster store: %s", e)
            return Unavailable(NO_LEADER)
        return None

    async def update_swarm(self, version: int, spec: ClusterSpec, rotate_worker_token: bool = False,
                           rotate_manager_token: bool = False, rotate_unlock_key: bool = False) -> None:
        m = self.require_manager()
        autolock = await m.control.update_swarm(version, spec, rotate_worker_token, rotate_manager_token,
                                                rotate_unlock_key)
        await self.set_autolock(autolock, rotate_unlock_key)

    async def swarm_init(self, advertise_addr: str = "", listen_addr: str = "", spec: ClusterSpec | None = None,
                         default_addr_pool: list[str] | None = None, subnet_size: int = 0,
                         data_path_port: int = 0, force_new_cluster: bool = False, autolock: bool = False,
                         data_path_addr: str = "") -> str:
        async with self._lock:
            if self.locked:
                raise FailedPrecondition(SWARM_LOCKED)
            if self.worker is not None and self.manager is None:
                raise FailedPrecondition(ALREADY_IN_SWARM)
            if self.manager is not None or (self.in_quorum and self.role == "manager"):
                if not force_new_cluster:
                    raise FailedPrecondition(ALREADY_IN_SWARM)
                if self.in_quorum:
                    await self._force_new_cluster()
                return self.node_id
            ifaces = await asyncio.to_thread(self.interfaces)
            listen_host, listen_port = hostaddrs.resolve_listen(listen_addr, ifaces)
            addr = hostaddrs.join_host_port(*hostaddrs.resolve_advertise(advertise_addr, listen_port, ifaces))
            self.data_path_addr = hostaddrs.resolve_data_path(data_path_addr, ifaces)
            self.listen_addr = hostaddrs.join_host_port(listen_host, listen_port)
            self.node_id = new_id()
            self.addr = addr
            self.role = "manager"
            self.managers = [addr]
            private.make_dir(self.swarm_dir)
            state = self.swarm_dir / "state.db"
            for p in (state, Path(str(state) + "-wal"), Path(str(state) + "-shm")):
                p.unlink(missing_ok=True)
            dek = self.dek = keys.new_dek()
            unlock_key = keys.new_unlock_key() if autolock else ""
            self.manager = await Manager.open(state, dek)
            cluster = await self.manager.init(self.node_id, addr, spec, default_addr_pool, subnet_size,
                                              data_path_port, self.describe(), unlock_key,
                                              service_cidr=self.config.service_cluster_ip_range,
                                              node_port_range=self.config.service_node_port_range,
                                              kube_net=KubeNetSettings(
                                                  ClusterCIDR=self.config.cluster_cidr,
                                                  NodeCIDRMaskSize=self.config.node_cidr_mask_size,
                                                  ClusterDomain=self.config.cluster_domain,
                                                  ClusterDNS=self.config.cluster_dns,
                                                  ServiceLBPool=self.config.service_lb_pool))
            keys.save_dek(self.keys_path, dek, unlock_key)
            key_pem, csr_pem = pki.new_node_key()
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
                         advertise_addr: str = "", data_path_addr: str = "") -> None:
        async with self._lock:
            if self.manager is not None or self.worker is not None:
                raise FailedPrecondition(ALREADY_IN_SWARM)
            if not remote_addrs:
                raise InvalidArgument("at least 1 RemoteAddr is required to join")
            managers = [a if ":" in a else f"{a}:{SWARM_PORT}" for a in remote_addrs]
            ifaces = await asyncio.to_thread(self.interfaces)
            listen_host, listen_port = hostaddrs.resolve_listen(listen_addr, ifaces)
            listen_addr = hostaddrs.join_host_port(listen_host, listen_port)
            data_path = hostaddrs.resolve_data_path(data_path_addr, ifaces)
            addr = ""
            if advertise_addr:
                # As Docker's: an address that does not resolve is not refused at join (the manager
                # learns the address this node reaches it from instead).
                with contextlib.suppress(hostaddrs.AddrError):
                    addr = hostaddrs.join_host_port(*hostaddrs.resolve_advertise(advertise_addr, listen_port, ifaces))
            if not addr:
                host = local_addr_towards(managers[0]) or (
                    listen_host if listen_host not in ("0.0.0.0", "::") else "127.0.0.1")
                addr = hostaddrs.join_host_port(host, listen_port)
            peer_port = choose_peer_port(host_of(addr))  # used only if the token makes this node a manager
            ident = await remote.join(managers, token, self.hostname, addr, peer_port)
            self.node_id, self.role, self.managers = ident.node_id, ident.role, managers
            self.listen_addr, self.addr, self.data_path_addr = listen_addr, addr, data_path
            private.make_dir(self.swarm_dir)
            if ident.role != "manager":
                self._save_identity(ident.ca_pem, ident.cert_pem, ident.key_pem)
                self._save_node()
                await self._run_worker(ident)
                return
            self.peer_port = peer_port
            self.managers = list(ident.extra.get("managers") or managers)
            self.dek = base64.b64decode(ident.extra["dek"])
            keys.save_dek(self.keys_path, self.dek, str(ident.extra.get("unlock_key", "")))
            self._save_identity(ident.ca_pem, ident.cert_pem, ident.key_pem)
            self._save_node()
            await self._start_quorum(self.dek, str(ident.extra["initial_cluster"]), "existing")
            # Join returns once this manager serves and is present: every manager lists it Reachable.
            await self._until_serving(90)

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
            if self.member is not None and self.elector is not None and await self.elector.writable():
                with contextlib.suppress(StoreError, asyncio.TimeoutError):  # best effort
                    await asyncio.wait_for(self.member.remove(self.node_id), 5)
            await self._stop_swarm()
            shutil.rmtree(self.swarm_dir, ignore_errors=True)
            shutil.rmtree(self.exec_root / "swarm", ignore_errors=True)
            for f in (self.data_root / "logs").glob("*.log"):
                f.unlink(missing_ok=True)
            self.node_id = ""
            self.addr = ""
            self.data_path_addr = ""
            self.role = ""
            self.managers = []
            self.peer_port = 0

    async def _force_new_cluster(self) -> None:
        """``swarm init --force-new-cluster`` on a manager of a lost quorum: its etcd member restarts
        as a one-member cluster with all of the state, and this manager leads it."""
        await self._stop_manager_side()
        member = EtcdMember(self.swarm_dir, self.node_id, host_of(self.addr), self.peer_port,
                            self._runtime_key_file())
        await member.start(force_new_cluster=True)
        self.member = member
        assert member.client is not None
        await forget_managers(member.client)
        log.info("forced a new one-manager cluster from this manager's state")
        await self._quorum_up(self.dek)
        await self._demote_lost_managers()

    async def _demote_lost_managers(self) -> None:
        """After ``--force-new-cluster`` the other managers are out of the managers' etcd cluster:
        their nodes become workers, down until their daemons come back. A lost manager that is
        restarted then hears from this leader that it is a worker, and carries on as one with its
        certificate (``_on_role``); ``node promote`` makes it a manager again."""
        m = self.manager
        assert m is not None

        def demote(n: Node) -> bool:
            n.Spec.Role = "worker"
            n.ManagerStatus = None
            n.Status = NodeStatus(State="down", Message="heartbeat failure", Addr=n.Status.Addr)
            return True

        for n in m.store.list(Node):
            if n.ID != self.node_id and (n.Spec.Role == "manager" or n.ManagerStatus is not None):
                await m.store.update_with(Node, n.ID, demote)
                log.info("node %s (%s) was a manager of the lost quorum: now a worker", n.ID, n.Description.Hostname)

    async def _stop_manager_side(self, resign: bool = False) -> None:
        """Stop this node's manager and etcd member, leaving its agent (and containers) running."""
        if self._quorum_task is not None:
            self._quorum_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._quorum_task
            self._quorum_task = None
        if self.elector is not None:
            await self.elector.stop(resign=resign)
            self.elector = None
        if self.manager is not None:
            if self.listener is not None:
                self.listener.manager = None
            await self.manager.stop()
            await self.manager.close()
            self.manager = None
        if self.member is not None:
            await self.member.stop()
            self.member = None


def local_addr_towards(remote: str) -> str:
    """The local address the kernel would use to reach ``host:port`` (a UDP connect sends nothing)."""
    host, _, port = remote.rpartition(":")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host.strip("[]") or remote, int(port or SWARM_PORT)))
            return str(s.getsockname()[0])
    except (OSError, ValueError):
        return ""
