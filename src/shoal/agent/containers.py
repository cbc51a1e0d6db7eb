"""The node's own containers (``docker run``): a core Task that the node runs by itself, outside any swarm.

``LocalContainers`` is the engine behind the Docker door's containers API on every node. Each
container is a ``Task`` with one ``ContainerSpec`` (named ``c``) whose owner kind is ``Container``,
so the runtime runs it as a Pod's container (``runtime.base.is_pod``, ``MultiContainer``): started,
stopped and started again *in place* (the same bundle and writable layer), its log written by the
runtime, ``exec`` through the runtime's command line (``podaccess``). It is never in the swarm's
store: it works on a node in no swarm, and it survives ``swarm leave``/``join`` (the worker's
``runtime.cleanup()`` spares what the runtime runs, the network's spares its sandboxes).

It keeps, for each container:

* ``<data-root>/local-containers/<id>/config.json`` (0600, ``runtime.private``): the record
  (``api.containers.Container``: Docker's Config and HostConfig as the client sent them, its State);
  not under ``<data-root>/containers/``, which is the runtime's bundles' (its cleanup removes what
  is not its own there);
* ``…/<id>/previous.log``: its output of runs before the current one (the runtime keeps the current
  run's, ``MultiContainer.container_log_path``).

Its network sandbox (the node's default bridge, as the swarm's tasks without networks have) is made
by the node's network when the container first starts and kept until it is removed (so its address
stays). Where the network mode, the networks and the published ports of a container are decided is
``network_of``: today the default bridge only (``bridge``/``default``); other modes and ``-p`` are
refused there.

Restart policies are Docker's (``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``), with
Docker's back-off (100 ms doubling, at most a minute, reset once a run lasted 10 s). At the daemon's
start the containers with ``always`` (and ``unless-stopped`` not stopped by the user) that ran
before start again; at its stop every running container is stopped (no live-restore). Docker's
container events are emitted into the node's event log.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import io
import logging
import os
import random
import secrets
import shutil
import signal as signals
import tarfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import msgspec

from shoal.agent import health
from shoal.agent.containernets import ContainerNets
from shoal.agent.logs import parse as parse_log
from shoal.agent.logs import read as read_log
from shoal.api.containers import (
    CONTAINER_NAME,
    Container,
    Counts,
    CreateRequest,
    ExecInfo,
    Health,
    Stats,
    restart_policy,
)
from shoal.api.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, ShoalError
from shoal.api.events import EventLog
from shoal.api.kube import ExecSession
from shoal.api.meta import ObjectRef
from shoal.api.nodeinfo import LocalTask
from shoal.api.pod import PodContainer
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    Mount,
    ResourceRequirements,
    Resources,
    Task,
    TaskSpec,
    TaskStatus,
    first_container,
    now_ts,
    parse_ts,
    service_id_of,
)
from shoal.network.sandbox import Sandbox, Sandboxes
from shoal.runtime import private
from shoal.runtime.base import Console, MultiContainer, Runtime, RuntimeError_, container_key, container_name
from shoal.runtime.images import ImageStore
from shoal.runtime.podaccess import ExecTarget, LocalPods
from shoal.runtime.runc import MASKED_PATHS, READONLY_PATHS, resolve_in_root, resolve_user

log = logging.getLogger(__name__)

KIND = "Container"  # the owner kind of a node's own container's task
NAME = "c"  # its one container's name in the task (a DNS label: the runtime's key is <id>.c)
ZERO_TIME = "0001-01-01T00:00:00Z"
BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 0.1, 60.0, 10.0  # dockerd's restart manager
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "shoal"

ADJECTIVES = ["admiring", "brave", "clever", "dazzling", "eager", "focused", "gallant", "happy", "jolly",
              "keen", "lucid", "modest", "nifty", "optimistic", "pensive", "quirky", "relaxed", "serene",
              "trusting", "vibrant", "wizardly", "youthful", "zealous", "busy", "charming", "determined"]
SURNAMES = ["albattani", "babbage", "curie", "darwin", "euclid", "fermi", "galileo", "hopper", "hypatia",
            "johnson", "kepler", "lovelace", "mayer", "newton", "noether", "pasteur", "ritchie", "shannon",
            "tesla", "thompson", "turing", "volhard", "wozniak", "yalow", "zhukovsky", "bohr"]

SIGNALS = {s.name.removeprefix("SIG"): s.value for s in signals.Signals}


def signal_number(sig: str | int) -> int:
    """A signal by number or name (``9``, ``KILL``, ``SIGKILL``); InvalidArgument as Docker words it."""
    if isinstance(sig, int):
        return sig
    raw = sig.strip()
    if raw.isdigit():
        return int(raw)
    n = SIGNALS.get(raw.upper().removeprefix("SIG"))
    if n is None:
        raise InvalidArgument(f"Invalid signal: {sig}")
    return n


def docker_argv(config: dict[str, Any], image_config: dict[str, Any]) -> list[str]:
    """Docker's command of a container: its Entrypoint (else the image's) and its Cmd (else, when it
    did not set an Entrypoint, the image's)."""
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if entrypoint:
        ep = [e for e in entrypoint if e != ""] if entrypoint == [""] else list(entrypoint)
        return ep + list(cmd or [])
    ep = [] if entrypoint == [""] else list(image_config.get("Entrypoint") or [])
    return ep + list(cmd if cmd else image_config.get("Cmd") or [])


def parse_bytes(v: Any) -> int:
    return int(v or 0)


def _mounts(host_config: dict[str, Any]) -> list[Mount]:
    """The container's mounts: ``Binds`` (``src:dst[:ro]``: a host path, or a volume's name) and
    ``Mounts`` (Docker's mount objects)."""
    out: list[Mount] = []
    for b in host_config.get("Binds") or []:
        parts = str(b).split(":")
        if len(parts) < 2:
            raise InvalidArgument(f"invalid volume specification: '{b}'")
        src, dst, opts = parts[0], parts[1], parts[2].split(",") if len(parts) > 2 else []
        kind = "bind" if src.startswith("/") else "volume"
        out.append(Mount(Type=kind, Source=src, Target=dst, ReadOnly="ro" in opts))
    for m in host_config.get("Mounts") or []:
        out.append(msgspec.convert(m, Mount, strict=False))
    return out


def network_of(req: CreateRequest) -> str:
    """Where the container's network is decided: its network mode (and, later, its networks and
    published ports, the networks helper's). Only the default bridge is served here yet."""
    mode = str(req.host_config.get("NetworkMode") or "default")
    if mode not in ("default", "bridge"):
        raise InvalidArgument(f"network mode {mode!r} is not supported by shoal yet: only the default bridge")
    if req.host_config.get("PortBindings") or req.host_config.get("PublishAllPorts"):
        raise InvalidArgument("publishing ports (-p, -P) of a container is not supported by shoal yet")
    endpoints = (req.networking.get("EndpointsConfig") or {})
    others = [n for n in endpoints if n not in ("default", "bridge")]
    if others:
        raise InvalidArgument(f"network {others[0]} is not supported by shoal yet: only the default bridge")
    return mode


class _Bridge(Protocol):
    @property
    def gateway(self) -> str: ...


class ContainerNetwork(Sandboxes, Protocol):
    """What the engine asks of the node's network (``network.node.NodeNetwork``): a container's
    sandbox on the default bridge, and that bridge's gateway."""

    async def default_bridge(self) -> _Bridge: ...

    async def cleanup(self) -> None: ...


@dataclass(eq=False)
class _Live:
    """What the engine holds of one container while the daemon runs."""

    rec: Container
    task: Task
    exit: asyncio.Future[int] | None = None
    watcher: asyncio.Task[None] | None = None
    prepared: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    exit_waiters: list[asyncio.Future[int]] = field(default_factory=list)
    stop_waiters: list[asyncio.Future[int]] = field(default_factory=list)
    removed_waiters: list[asyncio.Future[int]] = field(default_factory=list)
    restarting: asyncio.Task[None] | None = None
    stopping: bool = False
    attached: int = 0  # attach streams reading its output: an AutoRemove waits for them
    consoles: list[asyncio.Queue[bytes]] = field(default_factory=list)  # attached to its terminal's output
    forwarder: asyncio.Task[None] | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)  # set while it runs
    health: asyncio.Task[None] | None = None  # its healthcheck's probes, while it runs
    detached: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return self.exit is not None and not self.exit.done()


@dataclass(eq=False)
class _Exec:
    info: ExecInfo
    task_id: str
    name: str  # the runtime's container name in the task ("" for a swarm task's own container)
    session: ExecSession | None = None


class LocalContainers:
    """The node's own containers (see the module's docstring)."""

    def __init__(self, root: Path, runtime: Runtime, images: ImageStore, events: EventLog, *,
                 network: ContainerNetwork | None = None, exec_target: ExecTarget | None = None,
                 console: Console | None = None,
                 tasks: Callable[[], builtins.list[LocalTask]] | None = None,
                 fail_task: Callable[[str, str], Awaitable[None]] | None = None,
                 hostname: str = "", nets: ContainerNets | None = None) -> None:
        self.root = root
        self.runtime = runtime
        self.images = images
        self.events = events
        self.network = network
        self.exec_target = exec_target
        self.console = console  # the runtime, when it gives a container a terminal (runc)
        self.tasks = tasks or (lambda: [])
        self.fail_task = fail_task
        self.hostname = hostname
        self.nets = nets  # the node's local networks (user networks, -p), when it keeps them
        if nets is not None:
            nets.find, nets.running = self.inspect, lambda cid: cid in self.live and self.live[cid].prepared
        self.live: dict[str, _Live] = {}
        self.execs: dict[str, _Exec] = {}
        self._bg: set[asyncio.Task[Any]] = set()
        private.make_dir(self.root, private.ROOT_MODE)

    # ------------------------------------------------------------ the runtime

    @property
    def multi(self) -> MultiContainer:
        m = self.runtime.multi_container
        if m is None or self.network is None:
            raise FailedPrecondition(f"containers are not supported with the {self.runtime.name} runtime")
        return m

    # ------------------------------------------------------------ records

    def _dir(self, cid: str) -> Path:
        return self.root / cid

    def _save(self, live: _Live) -> None:
        d = private.make_dir(self._dir(live.rec.ID), private.ROOT_MODE)
        private.write_file(d / "config.json", msgspec.json.encode(live.rec))

    def load(self) -> None:
        """The containers kept on disk (at the daemon's start)."""
        for d in sorted(self.root.iterdir()) if self.root.exists() else []:
            try:
                rec = msgspec.json.decode((d / "config.json").read_bytes(), type=Container)
            except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
                log.warning("container %s: cannot read its record: %s", d.name, e)
                continue
            st = rec.State
            if st.Running or st.Paused or st.Restarting:  # the daemon stopped without stopping it
                st.Running = st.Paused = st.Restarting = False
                st.Status, st.Pid = "exited", 0
                st.ExitCode = st.ExitCode or 255
                st.FinishedAt = st.FinishedAt if st.FinishedAt != ZERO_TIME else now_ts()
            rec.IPAddress, rec.IPPrefixLen, rec.Gateway = "", 0, ""
            self.live[rec.ID] = _Live(rec, self._task(rec))
            if self.nets is not None:
                self.nets.restore(rec)

    def _shown(self, rec: Container) -> Container:
        """The record with its networks as the local networks tell them now (user networks, ``-p``)."""
        if self.nets is not None:
            rec.Networks, rec.Ports = self.nets.settings(rec)
            bridge = rec.Networks.get("bridge") or {}  # the top-level fields are the default bridge's, as Docker's
            rec.IPAddress, rec.IPPrefixLen = bridge.get("IPAddress", ""), bridge.get("IPPrefixLen", 0)
            rec.Gateway, rec.MacAddress = bridge.get("Gateway", ""), bridge.get("MacAddress", "")
        return rec

    def _task(self, rec: Container) -> Task:
        cfg, hc = rec.Config, rec.HostConfig
        img = self.images.resolve(rec.Image)
        icfg = img.container_config if img else {}
        argv = docker_argv(cfg, icfg)
        stop_timeout = cfg.get("StopTimeout")
        limits = Resources(NanoCPUs=int(hc.get("NanoCpus") or 0), MemoryBytes=parse_bytes(hc.get("Memory")),
                           Pids=int(hc.get("PidsLimit") or 0))
        spec = ContainerSpec(
            Name=NAME, Image=rec.Image, Labels=dict(rec.labels) or None,
            Command=argv[:1] or None, Args=argv[1:] or None,
            Env=[*(["TERM=xterm"] if cfg.get("Tty") else []), *(cfg.get("Env") or [])] or None,
            Dir=str(cfg.get("WorkingDir") or ""), TTY=bool(cfg.get("Tty")), OpenStdin=bool(cfg.get("OpenStdin")),
            User=str(cfg.get("User") or ""), Init=bool(hc.get("Init")) or None,
            ReadOnly=bool(hc.get("ReadonlyRootfs")), Mounts=_mounts(hc) or None,
            StopSignal=str(cfg.get("StopSignal") or ""),
            StopGracePeriod=int(stop_timeout) * 1_000_000_000 if stop_timeout is not None else None,
            CapabilityAdd=list(hc.get("CapAdd") or []) or None, CapabilityDrop=list(hc.get("CapDrop") or []) or None,
            Resources=ResourceRequirements(Limits=limits),
            Pod=PodContainer(Privileged=bool(hc.get("Privileged"))),
        )
        hostname = str(cfg.get("Hostname") or "") or rec.ID[:12]
        return Task(ID=rec.ID, Spec=TaskSpec(Containers=[spec], Hostname=hostname),
                    Owner=ObjectRef(Kind=KIND, ID=rec.ID, Name=rec.Name.lstrip("/")),
                    Name=rec.Name.lstrip("/"), CreatedAt=rec.Created)

    # ------------------------------------------------------------ look-ups

    def _find(self, ref: str) -> _Live:
        """A container by full ID, name (with or without its slash), or unique ID prefix."""
        ref = ref.strip()
        if ref in self.live:
            return self.live[ref]
        name = "/" + ref.lstrip("/")
        for live in self.live.values():
            if live.rec.Name == name:
                return live
        found = [lv for cid, lv in self.live.items() if ref and cid.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidArgument(f"Multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def _find_task(self, ref: str) -> LocalTask | None:
        ref = ref.strip().lstrip("/")
        tasks = self.tasks()
        for lt in tasks:
            if ref in (lt.task.ID, lt.name):
                return lt
        found = [lt for lt in tasks if ref and lt.task.ID.startswith(ref)]
        return found[0] if len(found) == 1 else None

    def inspect(self, ref: str) -> Container:
        try:
            return self._shown(self._find(ref).rec)
        except NotFound:
            lt = self._find_task(ref)
            if lt is None:
                raise
            return self._task_record(lt)

    def _task_record(self, lt: LocalTask) -> Container:
        """A swarm task's container as Docker shows it."""
        t = lt.task
        spec = first_container(t.Spec) or ContainerSpec()
        img = self.images.resolve(spec.Image) if spec.Image else None
        icfg = img.container_config if img else {}
        argv = list(spec.Command or icfg.get("Entrypoint") or []) + list(spec.Args or icfg.get("Cmd") or [])
        labels = {
            **(spec.Labels or {}),
            "com.docker.swarm.node.id": t.NodeID, "com.docker.swarm.service.id": service_id_of(t),
            "com.docker.swarm.service.name": (t.ServiceAnnotations or {}).get("Name", ""),
            "com.docker.swarm.task": "", "com.docker.swarm.task.id": t.ID, "com.docker.swarm.task.name": lt.name,
        }
        state = lt.state
        running = state == TaskState.RUNNING
        code = lt.status.Containers[0].ExitCode if lt.status.Containers else 0
        pid = lt.status.Containers[0].PID if lt.status.Containers else 0
        st_status = "running" if running else "exited" if state.terminal else "created"
        ip, _, prefix = ((lt.status.Addresses or [""])[0]).partition("/")
        rec = Container(
            ID=t.ID, Name="/" + lt.name, Created=t.CreatedAt or now_ts(), Image=img.id if img else "",
            ImageRef=spec.Image, Path=argv[0] if argv else "", Args=argv[1:],
            Config={"Hostname": t.Spec.Hostname or t.ID[:12], "Image": spec.Image, "Labels": labels,
                    "Env": spec.Env, "Cmd": spec.Args, "Entrypoint": spec.Command, "WorkingDir": spec.Dir,
                    "User": spec.User, "Tty": spec.TTY, "OpenStdin": spec.OpenStdin, "StopSignal": spec.StopSignal},
            HostConfig={"NetworkMode": "default", "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}},
            IPAddress=ip, IPPrefixLen=int(prefix or 0), Task=t.ID,
        )
        rec.State.Status, rec.State.Running, rec.State.Pid, rec.State.ExitCode = st_status, running, pid, code
        rec.State.StartedAt = lt.status.StartedAt or ZERO_TIME
        if state.terminal:
            rec.State.Error = lt.status.Err
        return rec

    def list(self, all_: bool = False) -> builtins.list[Container]:
        """The node's own containers and the swarm's task containers here (only running ones unless ``all_``)."""
        out = [self._shown(lv.rec) for lv in self.live.values()]
        out += [self._task_record(lt) for lt in self.tasks()]
        if not all_:
            out = [c for c in out if c.State.Running]
        out.sort(key=lambda c: parse_ts(c.Created), reverse=True)
        return out

    def counts(self) -> Counts:
        recs = self.list(all_=True)
        running = sum(1 for c in recs if c.State.Running and not c.State.Paused)
        paused = sum(1 for c in recs if c.State.Paused)
        return Counts(Containers=len(recs), ContainersRunning=running, ContainersPaused=paused,
                      ContainersStopped=len(recs) - running - paused)

    def volumes_in_use(self) -> dict[str, builtins.list[str]]:
        """Each named volume a container here mounts (running or not), with those containers."""
        users: dict[str, builtins.list[str]] = {}
        for lv in self.live.values():
            for m in _mounts(lv.rec.HostConfig):
                if m.Type == "volume" and m.Source:
                    users.setdefault(m.Source, []).append(lv.rec.ID)
        return users

    # ------------------------------------------------------------ events

    def _emit(self, rec: Container, action: str, **extra: str) -> None:
        attrs = {**rec.labels, "image": rec.ImageRef, "name": rec.Name.lstrip("/"), **extra}
        self.events.emit("container", action, rec.ID, attrs)

    # ------------------------------------------------------------ create

    def _new_name(self) -> str:
        names = {lv.rec.Name for lv in self.live.values()}
        for _ in range(100):
            name = f"/{random.choice(ADJECTIVES)}_{random.choice(SURNAMES)}"
            if name not in names:
                return name
        return f"/{random.choice(ADJECTIVES)}_{random.choice(SURNAMES)}{random.randint(0, 99)}"

    def _check_name(self, name: str, own: str = "") -> str:
        if not CONTAINER_NAME.fullmatch(name):
            raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        full = "/" + name.lstrip("/")
        for lv in self.live.values():
            if lv.rec.Name == full and lv.rec.ID != own:
                raise Conflict(f'Conflict. The container name "{full}" is already in use by container '
                               f'"{lv.rec.ID}". You have to remove (or rename) that container to be able to '
                               "reuse that name.")
        return full

    async def create(self, req: CreateRequest) -> tuple[str, builtins.list[str]]:
        """A new container (not started): its ID and the warnings."""
        _ = self.multi
        ref = str(req.config.get("Image") or "")
        if not ref:
            raise InvalidArgument("No command specified" if not req.config.get("Cmd") else "image is required")
        img = self.images.resolve(ref)
        if img is None:
            raise NotFound(f"No such image: {ref if ':' in ref or '@' in ref else ref + ':latest'}")
        name = self._check_name(req.name) if req.name else self._new_name()
        hc = dict(req.host_config)
        cid = secrets.token_hex(32)
        hc["NetworkMode"] = self.nets.configure(req, cid, name) if self.nets is not None else network_of(req)
        hc.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
        policy, _ = restart_policy(hc)
        if policy not in ("no", "always", "unless-stopped", "on-failure"):
            raise InvalidArgument(f"invalid restart policy '{policy}'")
        if policy != "no" and hc.get("AutoRemove"):
            raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
        argv = docker_argv(req.config, img.container_config)
        if not argv:
            raise InvalidArgument("No command specified")
        warnings: builtins.list[str] = []
        cfg = dict(req.config)
        cfg.setdefault("Hostname", cid[:12])
        if not cfg.get("Hostname"):
            cfg["Hostname"] = cid[:12]
        labels = {**(img.container_config.get("Labels") or {}), **(cfg.get("Labels") or {})}
        cfg["Labels"] = labels
        env = list(img.container_config.get("Env") or [])
        keys = {e.partition("=")[0] for e in cfg.get("Env") or []}
        cfg["Env"] = [e for e in env if e.partition("=")[0] not in keys] + list(cfg.get("Env") or []) or None
        cfg["Volumes"] = cfg.get("Volumes") or None
        # What dockerd writes into a new container's HostConfig (its defaults, normalized).
        hc.setdefault("Runtime", "runc")
        hc.setdefault("KernelMemory", 0)
        hc.setdefault("KernelMemoryTCP", 0)
        if hc.get("MemorySwappiness") == -1:
            hc["MemorySwappiness"] = None
        hc["PidsLimit"] = hc.get("PidsLimit") or None
        if not hc.get("Privileged"):
            hc["MaskedPaths"] = hc.get("MaskedPaths") or list(MASKED_PATHS)
            hc["ReadonlyPaths"] = hc.get("ReadonlyPaths") or list(READONLY_PATHS)
        if not cfg.get("Cmd") and not cfg.get("Entrypoint"):
            cfg["Cmd"] = img.container_config.get("Cmd")
        if cfg.get("Entrypoint") is None:
            cfg["Entrypoint"] = img.container_config.get("Entrypoint")
        if not cfg.get("WorkingDir"):
            cfg["WorkingDir"] = img.container_config.get("WorkingDir") or ""
        rec = Container(ID=cid, Name=name, Created=now_ts(), Image=img.id, ImageRef=ref, Path=argv[0],
                        Args=argv[1:], Config=cfg, HostConfig=hc, NetworkMode=hc["NetworkMode"],
                        NetworkingConfig=dict(req.networking))
        rec.Mounts = [self._mount_json(m) for m in _mounts(hc)]
        live = _Live(rec, self._task(rec))
        rec.LogPath = str(self._log_path(cid))
        self.live[cid] = live
        self._save(live)
        self._emit(rec, "create")
        return cid, warnings

    def _mount_json(self, m: Mount) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": m.Type, "Source": m.Source, "Destination": m.Target, "Mode": "",
                               "RW": not m.ReadOnly, "Propagation": "rprivate" if m.Type == "bind" else ""}
        if m.Type == "volume":
            out.update({"Name": m.Source, "Driver": "local", "Mode": "z"})
        return out

    def _log_path(self, cid: str) -> Path:
        return self.runtime.log_path(container_key(cid, NAME))

    # ------------------------------------------------------------ start, exit, restart

    async def start(self, ref: str) -> bool:
        """Start the container; False when it already runs (Docker's 304)."""
        live = self._find(ref)
        async with live.lock:
            if live.running:
                return False
            if live.rec.Removing and live.rec.State.Status == "removing":
                raise Conflict(f"container {live.rec.ID} is marked for removal and cannot be started")
            live.rec.StopByUser = False
            await self._start(live)
        return True

    async def _start(self, live: _Live) -> None:
        rec = live.rec
        multi = self.multi
        try:
            if not live.prepared:
                assert self.network is not None
                sb: Sandbox = await (self.nets.sandbox(live.task) if self.nets is not None
                                     else self.network.create_sandbox(live.task))
                addr = sb.addresses[0] if sb.addresses else ""
                ip, _, prefix = addr.partition("/")
                rec.IPAddress, rec.IPPrefixLen = ip, int(prefix or 0)
                rec.Gateway = (await self.network.default_bridge()).gateway if self.nets is None else ""
                rec.MacAddress = ""
                try:
                    await self.runtime.prepare(live.task, sandbox=sb)
                except BaseException:
                    await self.network.remove_sandbox(rec.ID)
                    rec.IPAddress, rec.IPPrefixLen, rec.Gateway = "", 0, ""
                    raise
                live.prepared = True
            started = await multi.start_container(live.task, NAME)
            self._keep_previous_log(rec.ID, self.runtime.log_path(container_key(rec.ID, NAME) + ".previous"))
        except (RuntimeError_, OSError, ShoalError) as e:
            msg = e.message if isinstance(e, RuntimeError_ | ShoalError) else str(e)
            rec.State.Error = msg
            rec.State.ExitCode = 128
            rec.State.Status = "created" if not rec.HasBeenStarted else "exited"
            self._save(live)
            raise FailedPrecondition(msg) from e
        live.exit = multi.container_exit(rec.ID, NAME)
        live.started.set()
        img = self.images.resolve(rec.Image)
        image_check = (img.container_config if img else {}).get("Healthcheck")
        check = health.effective(rec.Config.get("Healthcheck"), image_check)
        if check is not None and self.exec_target is not None:
            rec.State.Health = Health(Status="starting")
            live.health = asyncio.get_running_loop().create_task(self._health(live, check))
        if rec.tty and self.console is not None:
            q = self.console.console_watch(rec.ID, NAME)
            live.forwarder = asyncio.get_running_loop().create_task(self._forward(live, q))
        st = rec.State
        st.Status, st.Running, st.Paused, st.Restarting = "running", True, False, False
        st.OOMKilled = st.Dead = False
        st.Pid, st.ExitCode, st.Error, st.StartedAt = started.pid, 0, "", now_ts()
        st.FinishedAt = ZERO_TIME if not rec.HasBeenStarted else st.FinishedAt
        rec.HasBeenStarted = True
        self._save(live)
        self._emit(rec, "start")
        live.watcher = asyncio.get_running_loop().create_task(self._watch(live, live.exit))

    async def _health(self, live: _Live, check: health.Check) -> None:
        """Docker's healthcheck of a running container: probes for as long as it runs (unlike a Swarm
        task's, an unhealthy container runs on), each change a ``health_status`` event."""
        rec = live.rec

        async def probe(argv: builtins.list[str], timeout: float) -> tuple[int, str]:
            assert self.exec_target is not None
            try:
                cmd = self.exec_target.exec_command(rec.ID, NAME, argv, False)
            except RuntimeError_ as e:
                return -1, e.message
            proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                return -1, f"Health check exceeded timeout ({timeout:g}s)"
            return proc.returncode or 0, out.decode(errors="replace")[:4096]

        monitor = health.Monitor(check, probe)
        monitor.started_at = monitor.clock()
        while True:
            in_start = monitor.status == "starting" and monitor.clock() - monitor.started_at < check.start_period
            await asyncio.sleep(check.start_interval if in_start else check.interval)
            before = monitor.status
            await monitor.once()
            wall = time.time() - time.monotonic()
            rec.State.Health = Health(Status=monitor.status, FailingStreak=monitor.failing_streak, Log=[
                {"Start": _ts(r.start + wall), "End": _ts(r.end + wall), "ExitCode": r.exit_code, "Output": r.output}
                for r in monitor.log])
            if monitor.status != before:
                self._save(live)
                self._emit(rec, f"health_status: {monitor.status}")

    @staticmethod
    async def _forward(live: _Live, q: asyncio.Queue[bytes]) -> None:
        """The terminal's output of this run to every attached client (``b""`` when the run ends)."""
        while True:
            data = await q.get()
            for c in live.consoles:
                c.put_nowait(data)
            if not data:
                return

    def _keep_previous_log(self, cid: str, previous: Path) -> None:
        """The runtime moved the last run's log aside when it started the container again: append it
        to the container's own log of earlier runs."""
        if not previous.exists():
            return
        d = private.make_dir(self._dir(cid), private.ROOT_MODE)
        fd = private.open_append(d / "previous.log")
        with open(fd, "ab") as out, open(previous, "rb") as src:
            shutil.copyfileobj(src, out)
        previous.unlink(missing_ok=True)

    async def _watch(self, live: _Live, exit_: asyncio.Future[int]) -> None:
        code = await asyncio.shield(exit_)
        live.started.clear()
        if live.health is not None:
            live.health.cancel()
            live.health = None
        rec = live.rec
        st = rec.State
        ran = time.time() - parse_ts(st.StartedAt)
        st.Running, st.Paused, st.Pid, st.ExitCode, st.FinishedAt = False, False, 0, code, now_ts()
        st.OOMKilled = self.multi.container_oom_killed(rec.ID, NAME)
        st.Status = "exited"
        self._emit(rec, "die", exitCode=str(code))
        if st.OOMKilled:
            self._emit(rec, "oom")
        for f in live.exit_waiters:
            if not f.done():
                f.set_result(code)
        live.exit_waiters.clear()
        policy, retries = restart_policy(rec.HostConfig)
        again = not live.stopping and not rec.StopByUser and (
            policy in ("always", "unless-stopped") or (policy == "on-failure" and code != 0 and (
                retries == 0 or rec.RestartCount < retries)))
        if again:
            st.Restarting, st.Status = True, "restarting"
            self._save(live)
            live.restarting = asyncio.get_running_loop().create_task(self._restart_later(live, ran))
            return
        self._save(live)
        for f in live.stop_waiters:
            if not f.done():
                f.set_result(code)
        live.stop_waiters.clear()
        if rec.HostConfig.get("AutoRemove") and not live.stopping:
            self._spawn(self._auto_remove(live))

    async def _auto_remove(self, live: _Live) -> None:
        # What the attached clients read last is in the log, which goes with the container.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10.0):
                while live.attached:
                    live.detached.clear()
                    await live.detached.wait()
        with contextlib.suppress(ShoalError):
            await self._remove(live)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        t = asyncio.ensure_future(coro)
        self._bg.add(t)
        t.add_done_callback(self._bg.discard)

    async def _restart_later(self, live: _Live, ran: float) -> None:
        rec = live.rec
        if ran >= BACKOFF_RESET:
            delay = BACKOFF_START
        else:
            delay = min(BACKOFF_START * 2 ** rec.RestartCount, BACKOFF_MAX)
        await asyncio.sleep(delay)
        async with live.lock:
            if live.stopping or rec.StopByUser or not rec.State.Restarting:
                return
            rec.RestartCount += 1
            try:
                await self._start(live)
            except ShoalError as e:
                log.warning("container %s: restart failed: %s", rec.ID[:12], e.message)
                rec.State.Restarting = False
                rec.State.Status = "exited"
                self._save(live)

    # ------------------------------------------------------------ stop, kill, restart

    def _timeout(self, live: _Live, t: int | None) -> float:
        if t is not None and t >= 0:
            return float(t)
        if t is not None and t < 0:
            return 1e9  # -1: wait for ever
        stop_timeout = live.rec.Config.get("StopTimeout")
        return float(stop_timeout) if stop_timeout is not None else 10.0

    async def stop(self, ref: str, timeout: int | None = None, signal: str = "") -> bool:
        """Stop the container (its stop signal, then SIGKILL after the timeout); False when it was not
        running (Docker's 304)."""
        live = self._find(ref)
        if live.restarting is not None and not live.restarting.done():
            live.rec.StopByUser = True
            live.restarting.cancel()
            live.rec.State.Restarting, live.rec.State.Status = False, "exited"
            self._save(live)
            return True
        if not live.running:
            return False
        live.rec.StopByUser = True
        await self._stop(live, self._timeout(live, timeout), signal)
        self._emit(live.rec, "stop")
        return True

    async def _stop(self, live: _Live, grace: float, signal: str = "") -> None:
        if live.rec.State.Paused:
            await self._unpause(live)
        sig = signal or str(live.rec.Config.get("StopSignal") or "")
        exit_ = live.exit
        if sig:
            signal_number(sig)
        self._emit(live.rec, "kill", signal=str(signal_number(sig or "TERM")))
        await self.multi.stop_container(live.rec.ID, NAME, sig, grace)
        if exit_ is not None:
            await asyncio.shield(exit_)
        if live.watcher is not None:
            await asyncio.shield(live.watcher)

    async def kill(self, ref: str, signal: str = "KILL") -> None:
        live = self._find(ref)
        if not live.running:
            raise Conflict(f"Container {live.rec.ID} is not running")
        sig = signal_number(signal or "KILL")
        live.rec.StopByUser = True
        if live.rec.State.Paused and sig == signals.SIGKILL:
            await self._unpause(live)
        self._emit(live.rec, "kill", signal=str(sig))
        assert live.exit is not None
        pid = live.rec.State.Pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if sig == signals.SIGKILL:
            await asyncio.shield(live.exit)
            if live.watcher is not None:
                await asyncio.shield(live.watcher)

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        live = self._find(ref)
        async with live.lock:
            if live.running:
                live.stopping = True
                try:
                    await self._stop(live, self._timeout(live, timeout))
                finally:
                    live.stopping = False
            if live.restarting is not None and not live.restarting.done():
                live.restarting.cancel()
            live.rec.StopByUser = False
            await self._start(live)
        self._emit(live.rec, "restart")

    # ------------------------------------------------------------ wait

    def waiter(self, ref: str, condition: str = "not-running") -> asyncio.Future[int]:
        """A future of the exit code: at the next exit (``next-exit``), when it is not running
        (``not-running``, at once when it is not), or when it is removed (``removed``)."""
        live = self._find(ref)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if condition in ("", "not-running"):
            if not live.running and not live.rec.State.Restarting:
                fut.set_result(live.rec.State.ExitCode)
            else:
                live.stop_waiters.append(fut)
        elif condition == "next-exit":
            live.exit_waiters.append(fut)
        elif condition == "removed":
            live.removed_waiters.append(fut)
        else:
            raise InvalidArgument(f"invalid condition: \"{condition}\"")
        return fut

    # ------------------------------------------------------------ remove

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        try:
            live = self._find(ref)
        except NotFound:
            lt = self._find_task(ref)
            if lt is None:
                raise
            if not force and lt.state == TaskState.RUNNING:
                raise Conflict(  # noqa: B904 (a task's container, not a failed look-up)
                    f"You cannot remove a running container {lt.task.ID}. Stop the container before "
                               "attempting removal or force remove")
            if self.fail_task is not None:  # Swarm: the task fails, and its service replaces it
                await self.fail_task(lt.task.ID, "task: the container was removed")
            return
        if (live.running or live.rec.State.Restarting) and not force:
            raise Conflict(f"You cannot remove a running container {live.rec.ID}. Stop the container before "
                           "attempting removal or force remove")
        await self._remove(live)

    async def _remove(self, live: _Live) -> None:
        rec = live.rec
        if rec.ID not in self.live:
            return
        live.stopping = True
        if live.restarting is not None and not live.restarting.done():
            live.restarting.cancel()
        if live.running:
            rec.State.Status = "removing"
            await self._stop(live, 0.0, "KILL")
        self.live.pop(rec.ID, None)
        with contextlib.suppress(RuntimeError_):
            await self.runtime.remove(rec.ID)
        if self.network is not None and live.prepared:
            await self.network.remove_sandbox(rec.ID)
        if self.nets is not None:
            self.nets.forget(rec.ID)
        await asyncio.to_thread(shutil.rmtree, self._dir(rec.ID), True)
        for ex in [e for e, x in self.execs.items() if x.info.ContainerID == rec.ID]:
            self.execs.pop(ex, None)
        self._emit(rec, "destroy")
        for f in live.removed_waiters + live.stop_waiters + live.exit_waiters:
            if not f.done():
                f.set_result(rec.State.ExitCode)

    async def prune(self, keep: Callable[[Container], bool] | None = None) -> builtins.list[str]:
        """Remove every stopped container (those ``keep`` does not keep); their IDs."""
        gone: builtins.list[str] = []
        for live in list(self.live.values()):
            if live.running or live.rec.State.Restarting or (keep is not None and keep(live.rec)):
                continue
            await self._remove(live)
            gone.append(live.rec.ID)
        if gone:
            self.events.emit("container", "prune", "", {"reclaimed": "0"})
        return gone

    # ------------------------------------------------------------ pause, rename

    async def pause(self, ref: str) -> None:
        live = self._find(ref)
        if not live.running:
            raise Conflict(f"Container {live.rec.ID} is not running")
        if live.rec.State.Paused:
            raise Conflict(f"Container {live.rec.ID} is already paused")
        await self._freeze(live, "pause")
        live.rec.State.Paused, live.rec.State.Status = True, "paused"
        self._save(live)
        self._emit(live.rec, "pause")

    async def unpause(self, ref: str) -> None:
        live = self._find(ref)
        if not live.rec.State.Paused:
            raise Conflict(f"Container {live.rec.ID} is not paused")
        await self._unpause(live)
        self._emit(live.rec, "unpause")

    async def _unpause(self, live: _Live) -> None:
        await self._freeze(live, "resume")
        live.rec.State.Paused, live.rec.State.Status = False, "running"
        self._save(live)

    async def _freeze(self, live: _Live, verb: str) -> None:
        """``runc pause``/``resume`` of the container (the freezer cgroup)."""
        argv = self._runc_argv(live.rec.ID, NAME, verb)
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode:
            raise FailedPrecondition(f"Cannot {verb} container {live.rec.ID}: {err.decode(errors='replace').strip()}")

    def _runc_argv(self, task_id: str, name: str, verb: str) -> builtins.list[str]:
        if self.exec_target is None:
            raise FailedPrecondition(f"{verb} is not supported with the {self.runtime.name} runtime")
        # The runtime's exec command line names runc, its root and the container: reuse them for another verb.
        argv = self.exec_target.exec_command(task_id, name, ["true"], False)
        i = argv.index("exec")
        return [*argv[:i], verb, argv[i + 1]]

    def rename(self, ref: str, new: str) -> None:
        live = self._find(ref)
        if not new:
            raise InvalidArgument("Neither old nor new names may be empty")
        old = live.rec.Name
        full = self._check_name(new, live.rec.ID)
        if full == old:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        live.rec.Name = full
        live.task.Name = full.lstrip("/")
        self._save(live)
        self._emit(live.rec, "rename", oldName=old)

    # ------------------------------------------------------------ logs

    def log_files(self, ref: str) -> tuple[Container, builtins.list[Path]]:
        """The container's log files, oldest first (earlier runs, then this run)."""
        rec = self.inspect(ref)
        if rec.Task:
            return rec, [self.runtime.log_path(rec.Task)]
        return rec, [self._dir(rec.ID) / "previous.log", self._log_path(rec.ID)]

    async def log_stream(self, ref: str, *, since: float = 0.0, until: float = 0.0, tail: int = -1,
                         follow: bool = False, stdout: bool = True, stderr: bool = True
                         ) -> AsyncIterator[tuple[str, str, bytes]]:
        """The container's log entries (timestamp, stream, line): those written, then with ``follow``
        those that come while it runs."""
        rec, files = self.log_files(ref)
        entries: builtins.list[tuple[str, str, bytes]] = []
        end = 0
        for i, f in enumerate(files):
            lines, end_i = read_log(f, since=since, until=until, tail=tail, stdout=stdout, stderr=stderr)
            entries += [(ll.timestamp, ll.stream, ll.message) for ll in lines]
            if i == len(files) - 1:
                end = end_i
        if tail >= 0:
            entries = entries[-tail:] if tail else []
        for e in entries:
            yield e
        if not follow or until:
            return
        async for raw in follow_lines(files[-1], end, lambda: self.is_running(rec.ID)):
            ll = parse_log(raw)
            if ll is not None and ((ll.stream == "stdout" and stdout) or (ll.stream == "stderr" and stderr)):
                yield ll.timestamp, ll.stream, ll.message

    async def attach_output(self, ref: str) -> AsyncIterator[tuple[str, bytes]]:
        """What the container writes from now until it stops (it may not be started yet): (stream, line)."""
        live = self._find(ref)
        if live.rec.tty and self.console is not None:
            async for chunk in self._attach_console(live):
                yield "stdout", chunk
            return
        path = self._log_path(live.rec.ID)
        try:
            offset = path.stat().st_size if live.running else 0
        except FileNotFoundError:
            offset = 0
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        live.stop_waiters.append(done)
        self._emit(live.rec, "attach")
        live.attached += 1
        try:
            async for raw in follow_lines(path, offset, lambda: not done.done()):
                ll = parse_log(raw)
                if ll is not None:
                    yield ll.stream, ll.message
        finally:
            live.attached -= 1
            live.detached.set()

    async def _attach_console(self, live: _Live) -> AsyncIterator[bytes]:
        """A terminal's raw output from now until the run ends (the next run's when it is not running)."""
        q: asyncio.Queue[bytes] = asyncio.Queue()
        live.consoles.append(q)
        self._emit(live.rec, "attach")
        live.attached += 1
        try:
            while data := await q.get():
                yield data
        finally:
            live.consoles.remove(q)
            live.attached -= 1
            live.detached.set()

    async def attach_input(self, ref: str, data: bytes) -> None:
        """Bytes for the container's terminal (an attached client's keys); dropped when it has none."""
        live = self._find(ref)
        if not (live.rec.tty or live.rec.Config.get("OpenStdin")) or self.console is None:
            return
        if not live.running:  # typed before it started (``docker run -it`` attaches first): kept until it runs
            await live.started.wait()
        with contextlib.suppress(RuntimeError_):
            await self.console.console_write(live.rec.ID, NAME, data)

    async def attach_close_input(self, ref: str) -> None:
        """The attached client's input ended: with ``StdinOnce`` (``docker run -i``) the container's
        stdin is closed."""
        live = self._find(ref)
        if live.rec.tty or not live.rec.Config.get("StdinOnce") or self.console is None:
            return
        if not live.running:
            await live.started.wait()
        self.console.console_close_input(live.rec.ID, NAME)

    def resize(self, ref: str, width: int, height: int) -> None:
        live = self._find(ref)
        if live.rec.tty and self.console is not None and live.running:
            with contextlib.suppress(RuntimeError_, OSError):
                self.console.console_resize(live.rec.ID, NAME, width, height)

    def is_running(self, ref: str) -> bool:
        try:
            live = self._find(ref)
        except NotFound:
            lt = self._find_task(ref)
            return lt is not None and lt.state == TaskState.RUNNING
        return live.running or live.rec.State.Restarting

    # ------------------------------------------------------------ exec

    def _exec_key(self, ref: str) -> tuple[Container, str, str]:
        """The container's record, and its key for the runtime's exec: (task ID, container name)."""
        rec = self.inspect(ref)
        if not self.is_running(ref):
            raise Conflict(f"Container {rec.ID} is not running")
        if rec.State.Paused:
            raise Conflict(f"Container {rec.ID} is paused, unpause the container before exec")
        return (rec, rec.Task, "") if rec.Task else (rec, rec.ID, NAME)

    def exec_create(self, ref: str, config: dict[str, Any]) -> str:
        rec, task_id, name = self._exec_key(ref)
        cmd = [str(c) for c in config.get("Cmd") or []]
        if not cmd:
            raise InvalidArgument("No exec command specified")
        eid = secrets.token_hex(32)
        info = ExecInfo(ID=eid, ContainerID=rec.ID, Cmd=cmd, Tty=bool(config.get("Tty")),
                        AttachStdin=bool(config.get("AttachStdin")),
                        AttachStdout=bool(config.get("AttachStdout", True)),
                        AttachStderr=bool(config.get("AttachStderr", True)),
                        User=str(config.get("User") or ""), WorkingDir=str(config.get("WorkingDir") or ""),
                        Env=config.get("Env"), Privileged=bool(config.get("Privileged")),
                        DetachKeys=str(config.get("DetachKeys") or ""))
        self.execs[eid] = _Exec(info, task_id, name)
        self._emit(rec, f"exec_create: {' '.join(cmd)}", execID=eid)
        return eid

    def exec_inspect(self, eid: str) -> ExecInfo:
        ex = self.execs.get(eid)
        if ex is None:
            raise NotFound(f"No such exec instance: {eid}")
        return ex.info

    async def exec_start(self, eid: str, tty: bool | None = None) -> ExecSession:
        ex = self.execs.get(eid)
        if ex is None:
            raise NotFound(f"No such exec instance: {eid}")
        if ex.info.Running or ex.info.ExitCode is not None:
            raise Conflict(f"Error: Exec command {eid} has already run")
        if self.exec_target is None:
            raise FailedPrecondition(f"exec is not supported with the {self.runtime.name} runtime")
        info = ex.info
        use_tty = info.Tty if tty is None else tty
        argv = self._exec_argv(info)
        pods = LocalPods("", _ExecArgs(self.exec_target, argv), lambda _: None)
        rec = self.inspect(info.ContainerID)
        ex.session = await pods.exec(ex.task_id, ex.name, info.Cmd, tty=use_tty, stdin=info.AttachStdin)
        info.Running = True
        self._emit(rec, f"exec_start: {' '.join(info.Cmd)}", execID=eid)
        return ex.session

    def _exec_argv(self, info: ExecInfo) -> builtins.list[str]:
        """``runc exec``'s options for the exec's user (names looked up in the container's own
        ``/etc/passwd`` and ``/etc/group``), directory and environment."""
        opts: builtins.list[str] = []
        if info.User:
            try:
                user = resolve_user(self._rootfs(self.inspect(info.ContainerID)), info.User)
            except RuntimeError_ as e:
                raise InvalidArgument(e.message) from e
            opts += ["--user", f"{user['uid']}:{user['gid']}"]
        if info.WorkingDir:
            opts += ["--cwd", info.WorkingDir]
        for item in info.Env or []:
            opts += ["--env", item]
        return opts

    def exec_done(self, eid: str, code: int) -> None:
        ex = self.execs.get(eid)
        if ex is None:
            return
        ex.info.Running, ex.info.ExitCode = False, code
        with contextlib.suppress(NotFound):
            rec = self.inspect(ex.info.ContainerID)
            self._emit(rec, "exec_die", execID=eid, exitCode=str(code))

    async def exec_resize(self, eid: str, width: int, height: int) -> None:
        ex = self.execs.get(eid)
        if ex is None:
            raise NotFound(f"No such exec instance: {eid}")
        if ex.session is not None:
            await ex.session.resize(width, height)

    # ------------------------------------------------------------ top, stats

    def _cgroup_key(self, rec: Container) -> str:
        return rec.Task or container_key(rec.ID, NAME)

    def pids(self, ref: str) -> builtins.list[int]:
        """The processes in the container's cgroup."""
        rec = self.inspect(ref)
        if not self.is_running(ref):
            raise Conflict(f"Container {rec.ID} is not running")
        key = self._cgroup_key(rec)
        for base in (CGROUP_ROOT / "pids", CGROUP_ROOT / "memory", CGROUP_ROOT / "unified", CGROUP_ROOT):
            f = base / CGROUP_PARENT / key / "cgroup.procs"
            with contextlib.suppress(OSError):
                return [int(x) for x in f.read_text().split()]
        return []

    def stats(self, ref: str) -> tuple[Container, Stats]:
        rec = self.inspect(ref)
        s = Stats(read=now_ts(), online_cpus=os.cpu_count() or 1)
        if not self.is_running(ref):
            return rec, s
        key = self._cgroup_key(rec)
        v1 = CGROUP_ROOT / "memory" / CGROUP_PARENT / key
        if v1.exists():
            s.mem_usage = _read_int(v1 / "memory.usage_in_bytes")
            s.mem_limit = _read_int(v1 / "memory.limit_in_bytes")
            s.mem_stats = _read_kv(v1 / "memory.stat")
            s.mem_cache = s.mem_stats.get("total_inactive_file", s.mem_stats.get("inactive_file", 0))
            cpu = CGROUP_ROOT / "cpuacct" / CGROUP_PARENT / key
            s.cpu_total = _read_int(cpu / "cpuacct.usage")
            with contextlib.suppress(OSError):
                s.percpu = [int(x) for x in (cpu / "cpuacct.usage_percpu").read_text().split()]
            s.pids = _read_int(CGROUP_ROOT / "pids" / CGROUP_PARENT / key / "pids.current")
            blk = CGROUP_ROOT / "blkio" / CGROUP_PARENT / key / "blkio.throttle.io_service_bytes"
            with contextlib.suppress(OSError):
                for line in blk.read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[1] == "Read":
                        s.blkio_read += int(parts[2])
                    elif len(parts) == 3 and parts[1] == "Write":
                        s.blkio_write += int(parts[2])
        else:
            v2 = CGROUP_ROOT / CGROUP_PARENT / key
            s.mem_usage = _read_int(v2 / "memory.current")
            raw = _read_text(v2 / "memory.max")
            s.mem_limit = int(raw) if raw.isdigit() else 0
            s.mem_stats = _read_kv(v2 / "memory.stat")
            s.mem_cache = s.mem_stats.get("inactive_file", 0)
            s.cpu_total = _read_kv(v2 / "cpu.stat").get("usage_usec", 0) * 1000
            s.pids = _read_int(v2 / "pids.current")
        if not s.mem_limit or s.mem_limit >= 1 << 62:
            s.mem_limit = _meminfo_total()
        s.cpu_system = _system_cpu_ns()
        pid = rec.State.Pid
        if pid:
            s.networks = _net_dev(pid)
        return rec, s

    # ------------------------------------------------------------ archive (docker cp)

    def _rootfs(self, rec: Container) -> Path:
        """The container's root filesystem: a running one's through its init process (its own mounts
        seen), a stopped one's as the runtime keeps it mounted."""
        pid = rec.State.Pid
        if pid and self.is_running(rec.ID):
            return Path(f"/proc/{pid}/root")
        if not rec.Task and self.console is not None:
            live = self._find(rec.ID)
            root = self.console.container_rootfs(rec.ID, NAME) if live.prepared else None
            if root is not None and root.is_dir():
                return root
        raise Conflict(f"Could not find the file system of container {rec.ID}: it has not run since the daemon "
                       "started")

    def _resolve(self, rec: Container, path: str) -> Path:
        """``path`` in the container, its symlinks followed inside the container's root (never out of
        it), the last one not followed (``docker cp`` copies a link as a link)."""
        root = self._rootfs(rec)
        parent, name = os.path.split(os.path.normpath("/" + path.lstrip("/")))
        where = resolve_in_root(root, parent)
        if where is None:
            raise NotFound(f"Could not find the file {path} in container {rec.Name.lstrip('/')}")
        return where / name if name else where

    def path_stat(self, ref: str, path: str) -> dict[str, Any]:
        """``X-Docker-Container-Path-Stat``: name, size, mode (Go's FileMode bits), mtime, link target."""
        rec = self.inspect(ref)
        target = self._resolve(rec, path)
        try:
            st = target.lstat()
        except FileNotFoundError as e:
            raise NotFound(f"Could not find the file {path} in container {ref}") from e
        mode = st.st_mode & 0o777
        import stat as st_mod
        if st_mod.S_ISDIR(st.st_mode):
            mode |= 1 << 31
        elif st_mod.S_ISLNK(st.st_mode):
            mode |= 1 << 27
        link = os.readlink(target) if st_mod.S_ISLNK(st.st_mode) else ""
        mtime = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime))
        return {"name": Path(path).name or "/", "size": st.st_size, "mode": mode, "mtime": mtime,
                "linkTarget": link}

    def get_archive(self, ref: str, path: str) -> bytes:
        """A tar of ``path`` in the container (its base name at the top)."""
        rec = self.inspect(ref)
        target = self._resolve(rec, path)
        if not os.path.lexists(target):
            raise NotFound(f"Could not find the file {path} in container {ref}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            name = Path(path.rstrip("/")).name or "."
            tar.add(str(target), arcname=name, recursive=True)
        return buf.getvalue()

    def put_archive(self, ref: str, path: str, data: bytes) -> None:
        """Unpack a tar into ``path`` (a directory) in the container."""
        rec = self.inspect(ref)
        target = self._resolve(rec, path)
        if not target.is_dir():
            raise NotFound(f"Could not find the file {path} in container {ref}")
        root = self._rootfs(rec).resolve()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            tar.extractall(str(target), filter=_inside(root))

    # ------------------------------------------------------------ the daemon's start and stop

    async def start_all(self) -> None:
        """At the daemon's start: the containers kept on disk; those whose policy says so run again."""
        self.load()
        # What a daemon killed before it could stop them left (processes, mounts, namespaces) goes first.
        if self.live and self.runtime.multi_container is not None:
            await self.runtime.cleanup()
            if self.network is not None:
                await self.network.cleanup()
        for live in list(self.live.values()):
            policy, _ = restart_policy(live.rec.HostConfig)
            if not live.rec.HasBeenStarted:
                continue
            if policy == "always" or (policy == "unless-stopped" and not live.rec.StopByUser):
                try:
                    async with live.lock:
                        await self._start(live)
                except ShoalError as e:
                    log.warning("container %s: could not start again: %s", live.rec.ID[:12], e.message)
            self._save(live)

    async def close(self) -> None:
        """At the daemon's stop: stop every running container (no live-restore); what the runtime and
        the network made for each goes, the records stay."""
        for t in list(self._bg):
            t.cancel()
        await asyncio.gather(*(self._close_one(live) for live in list(self.live.values())))

    async def _close_one(self, live: _Live) -> None:
        if live.restarting is not None:
            live.restarting.cancel()
        live.stopping = True
        if live.running:
            with contextlib.suppress(Exception):
                await self._stop(live, self._timeout(live, None))
        self._save(live)
        if live.prepared:
            with contextlib.suppress(Exception):
                await self.runtime.remove(live.rec.ID, keep_logs=True)
            if self.network is not None:
                with contextlib.suppress(Exception):
                    await self.network.remove_sandbox(live.rec.ID)
            live.prepared = False
        live.stopping = False


class _ExecArgs:
    """The runtime's exec command line, with ``runc exec``'s options for the user, directory and env."""

    def __init__(self, target: ExecTarget, opts: list[str]) -> None:
        self.target = target
        self.opts = opts

    def exec_command(self, task_id: str, name: str, argv: list[str], tty: bool) -> list[str]:
        base = self.target.exec_command(task_id, name, argv, tty)
        if not self.opts:
            return base
        i = base.index("exec") + 1
        return [*base[:i], *self.opts, *base[i:]]


def _inside(root: Path) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo | None]:
    def check(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        out = tarfile.data_filter(member, dest)  # no absolute names, no links out of ``dest``
        target = Path(os.path.normpath(os.path.join(dest, member.name)))
        if not str(target).startswith(str(root)):
            raise InvalidArgument(f"invalid archive member {member.name}")
        return out
    return check


def _ts(t: float) -> str:
    """An RFC 3339 time with nanosecond digits, as Go marshals one."""
    sec = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{int((t - sec) * 1e9):09d}Z"


def _read_text(p: Path) -> str:
    try:
        return p.read_text().strip()
    except OSError:
        return ""


def _read_int(p: Path) -> int:
    raw = _read_text(p)
    return int(raw) if raw.lstrip("-").isdigit() else 0


def _read_kv(p: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _read_text(p).splitlines():
        k, _, v = line.partition(" ")
        if v.strip().isdigit():
            out[k] = int(v)
    return out


def _meminfo_total() -> int:
    for line in _read_text(Path("/proc/meminfo")).splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _system_cpu_ns() -> int:
    """The node's CPU time of all CPUs (the ``cpu`` line of /proc/stat), in nanoseconds, as dockerd reads it."""
    for line in _read_text(Path("/proc/stat")).splitlines():
        if line.startswith("cpu "):
            ticks = sum(int(x) for x in line.split()[1:8])
            return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


def _net_dev(pid: int) -> dict[str, dict[str, int]]:
    """The container's interfaces' counters, from its network namespace (``/proc/<pid>/net/dev``)."""
    out: dict[str, dict[str, int]] = {}
    for line in _read_text(Path(f"/proc/{pid}/net/dev")).splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        v = [int(x) for x in rest.split()]
        if name == "lo" or len(v) < 16:
            continue
        out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                     "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


async def follow_lines(path: Path, offset: int, running: Callable[[], bool],
                       interval: float = 0.1) -> AsyncIterator[bytes]:
    """Raw log entries appended to ``path`` after ``offset`` while the container runs (and the last
    ones written as it stopped). The file is held open once it exists: a container removed as it
    exits (``--rm``) takes its log with it, and what it wrote last is still read."""
    buf = b""
    f: BinaryIO | None = None
    try:
        while True:
            alive = running()
            if f is None:
                with contextlib.suppress(FileNotFoundError):
                    f = open(path, "rb")  # held across iterations, closed below
                    f.seek(offset)
            chunk = f.read() if f is not None else b""
            if chunk:
                buf += chunk
                *complete, buf = buf.split(b"\n")
                for raw in complete:
                    yield raw
                continue
            if not alive:
                return
            await asyncio.sleep(interval)
    finally:
        if f is not None:
            f.close()


def task_failed_status(message: str) -> TaskStatus:
    return TaskStatus(State=TaskState.FAILED, Err=message, Message="failed", Timestamp=now_ts())


__all__ = ["LocalContainers", "container_name", "follow_lines", "signal_number"]
