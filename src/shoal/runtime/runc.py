"""The ``runc`` runtime: each task runs as an OCI container under runc, with no shim.

This module owns, for every task it runs:

* ``<data-root>/containers/<task id>/`` (0710, ``config.json`` 0600: it holds the task's environment,
  as ``runtime/private.py`` keeps the daemon's files) — the OCI bundle: ``config.json``, the overlayfs ``upper/``,
  ``work/`` and ``rootfs/`` (the image's unpacked layers as lower dirs), and the ``hostname``,
  ``hosts`` and ``resolv.conf`` files bind-mounted into the container;
* nothing of the task's network: the container joins the sandbox the node's network made for the
  task (``network/node.py``; the OCI spec's ``namespaces: [{type: network, path: <exec-root>/netns/
  <task id>}]``), and its ``hostname``, ``hosts`` and ``resolv.conf`` are the sandbox's;
* ``<exec-root>/runc/`` — runc's state directory (``runc --root``);
* ``<exec-root>/files/<task id>`` — a tmpfs of the task's own holding its secrets and configs (never
  on the node's disk; a Pod's container's ``config.json`` too, whose environment may hold a Secret's):
  ``secrets/`` is bind-mounted read-only at ``/run/secrets`` (every target there), every other target
  is a read-only bind of one file (``files/<n>``); unmounted as soon as the container has exited (a
  Pod's container's: when it is removed);
* the cgroups ``/shoal/<task id>`` in every hierarchy (made and removed by runc; removed here if left);
* ``<data-root>/logs/<task id>.log`` (0600, in a 0700 directory) — the task's output, written by ``logs.pump``.

A Pod's task (``base.is_pod``: several containers, init containers, or an owner that is not a
service) is several runc containers, one per container of the task (init containers too), each keyed
``<task id>.<name>`` (``base.container_key``): its own bundle ``containers/<key>/`` (overlay, rootfs),
process, cgroup ``/shoal/<key>``, files tmpfs ``files/<key>`` and log ``logs/<key>.log``, all joining
the task's one network namespace (so they share localhost, the hostname and ``/etc/hosts``).
``prepare`` makes them all; the agent starts, watches and stops them one by one (``MultiContainer``);
a container that exited can be run again in place (``runc delete``, then ``runc run`` of the same
bundle: the same writable layer, a new process; its log so far kept as ``logs/<key>.previous.log``,
what ``kubectl logs --previous`` reads); ``remove`` removes them all. A Pod's container has its own
limits (``ContainerSpec.Resources``) in its own cgroup: one killed for going over its memory limit is
seen in the cgroup's OOM kill count (``container_oom_killed``, read when it exits). A privileged one
(``PodContainer.Privileged``) gets every capability and device, and nothing masked.

``runc run --detach`` starts the container and exits. The daemon is a child subreaper
(``PR_SET_CHILD_SUBREAPER``), so the container's init is then reparented to it: its exit is seen
through a pidfd on the event loop and it is reaped here with ``waitpid`` — there is no per-container
helper process. The container's stdout and stderr are pipes whose read ends the daemon keeps.
As the subreaper it also inherits what a ``runc exec`` (a healthcheck, a probe) leaves when it dies
before reaping it (killed as its probe is cancelled, or failing as its container dies under it): runc's
own stages (``runc:[2:INIT]``) or the command it ran, zombies of the daemon; one inside the container's
PID namespace keeps the container's dying init waiting for it (``zap_pid_ns_processes``), and the
container would never exit. ``reap_runc_orphans`` reaps them while a container is slow to exit and
after a probe that failed.
``cleanup`` removes what a previous run of the daemon left (runc containers, mounts, task
directories, cgroups).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import re
import shutil
import signal as signals
import socket
import struct
import subprocess
import tempfile
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.api.types import ContainerSpec, Task, containers_of
from shoal.network.netns import in_thread
from shoal.network.sandbox import Sandbox
from shoal.runtime import files as task_files
from shoal.runtime import logs, private, taskspec
from shoal.runtime.base import (
    ContainerRecord,
    ContainerTable,
    MultiContainer,
    Networking,
    Prober,
    RuntimeError_,
    Started,
    TaskFile,
    container_key,
    is_pod,
    task_image,
)
from shoal.runtime.images import Image, ImageStore
from shoal.runtime.mounts import mount, mounts_under_any, remove_tree, unmount_point
from shoal.runtime.process import command_of, env_of, signal_number, spawn
from shoal.runtime.taskspec import RLIMITS
from shoal.runtime.volumes import VolumeStore

log = logging.getLogger(__name__)

CGROUP_PARENT = "shoal"
CONTAINER_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # a Pod's container's name: a DNS label
PR_SET_CHILD_SUBREAPER = 36
RUNC_STAGE = "runc:["  # the name runc's own stages take (runc:[0:PARENT], [1:CHILD], [2:INIT])
CLEANUP_CONCURRENCY = 16  # leftovers of a previous run deleted (``runc delete``) and torn down at once
SWEEP_EVERY = 0.25  # s: at most one sweep for runc's leftovers this often, whoever asks
FIRST_SWEEP = 0.5  # s a container may take to exit before what runc left is looked for (then doubling to 5 s)

_libc = ctypes.CDLL(None, use_errno=True)

# Docker's default capability set.
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]

# Docker's masked and read-only paths.
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _dev(kind: str, major: int | None, minor: int | None, access: str = "rwm") -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": True, "type": kind, "access": access}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    return rule


# Docker's default device cgroup rules: deny everything, then allow mknod and the usual devices.
DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    _dev("c", None, None, "m"), _dev("b", None, None, "m"),
    _dev("c", 1, 3), _dev("c", 1, 8), _dev("c", 1, 7), _dev("c", 5, 0), _dev("c", 1, 5), _dev("c", 1, 9),
    _dev("c", 136, None), _dev("c", 5, 2), _dev("c", 10, 200),
]

def capabilities(add: list[str] | None, drop: list[str] | None) -> list[str]:
    """Docker's default set with ``--cap-add`` / ``--cap-drop`` applied (with or without CAP_, or ALL)."""

    def norm(c: str) -> str:
        c = c.upper()
        return c if c.startswith("CAP_") or c == "ALL" else "CAP_" + c

    adds, drops = {norm(c) for c in add or []}, {norm(c) for c in drop or []}
    if "ALL" in drops:
        caps = [c for c in ALL_CAPS if c in adds]
    else:
        caps = list(ALL_CAPS if "ALL" in adds else DEFAULT_CAPS)
        caps += [c for c in sorted(adds) if c not in caps and c != "ALL"]
        caps = [c for c in caps if c not in drops]
    return caps


def bounding_caps() -> list[str]:
    """Every capability this daemon may hand on (its own bounding set; ``ALL_CAPS`` is in the kernel's
    numbering): what a privileged container gets, as Docker gives it."""
    try:
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("CapBnd:"))
        mask = int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError, IndexError):
        return list(ALL_CAPS)
    return [c for i, c in enumerate(ALL_CAPS) if mask >> i & 1]


def _mnt(destination: str, kind: str, source: str, *options: str) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


TINI_PATHS = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init")


# ---------------------------------------------------------------- users

def resolve_in_root(root: Path, rel: str) -> Path | None:
    """``rel`` inside ``root`` with symlinks followed as if ``root`` were ``/``; None if missing."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    cur: list[str] = []
    links = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if cur:
                cur.pop()
            continue
        host = root.joinpath(*cur, name)
        if host.is_symlink():
            links += 1
            if links > 40:
                return None
            target = os.readlink(host)
            if target.startswith("/"):
                cur = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        cur.append(name)
    out = root.joinpath(*cur)
    return out if out.exists() else None


def _read_db(root: Path, rel: str) -> list[list[str]]:
    p = resolve_in_root(root, rel)
    if p is None or not p.is_file():
        return []
    rows = []
    try:
        text = p.read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _int(s: str) -> int | None:
    return int(s) if s.isdigit() else None


def resolve_user(rootfs: Path, user: str, groups: list[str] | None = None) -> dict[str, Any]:
    """``user[:group]`` (names or numbers) to the OCI process user, as Docker resolves it in the image."""
    name, _, group = (user or "0").partition(":")
    passwd = [r for r in _read_db(rootfs, "etc/passwd") if len(r) >= 4]
    groupdb = [r for r in _read_db(rootfs, "etc/group") if len(r) >= 3]
    username = ""
    uid = _int(name)
    gid = 0
    if uid is not None:
        for r in passwd:
            if _int(r[2]) == uid:
                username, gid = r[0], _int(r[3]) or 0
                break
    else:
        for r in passwd:
            if r[0] == name:
                username, uid, gid = r[0], _int(r[2]) or 0, _int(r[3]) or 0
                break
        else:
            raise RuntimeError_(f"unable to find user {name}: no matching entries in passwd file")

    def group_id(g: str) -> int:
        n = _int(g)
        if n is not None:
            return n
        for r in groupdb:
            if r[0] == g:
                return _int(r[2]) or 0
        raise RuntimeError_(f"unable to find group {g}: no matching entries in group file")

    if group:
        gid = group_id(group)
    extra: list[int] = []
    if username and not group:
        for r in groupdb:
            members = r[3].split(",") if len(r) > 3 else []
            g = _int(r[2])
            if username in members and g is not None and g != gid and g not in extra:
                extra.append(g)
    for name_or_id in groups or []:
        n = group_id(name_or_id)
        if n not in extra:
            extra.append(n)
    out: dict[str, Any] = {"uid": uid, "gid": gid}
    if extra:
        out["additionalGids"] = extra
    return out


# ---------------------------------------------------------------- the runtime

@dataclass(kw_only=True)
class _Container(ContainerRecord):
    bundle: Path
    spec_dir: Path | None = None  # where its config.json is, when not in the bundle (a Pod's: on a tmpfs)
    pidfd: int = -1
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    finisher: asyncio.Task[None] | None = None
    log: Path | None = None  # a Pod's container's own log (a Swarm task's is ``log_path(task id)``)
    keep_files: bool = False  # a Pod's container may run again: its files stay until it is removed
    oom_killed: bool = False  # its last run was killed for its memory limit (each run has a new cgroup)
    tty: bool = False  # a Pod's container with a terminal (``ContainerSpec.TTY``): its output is the console's
    console: int = -1  # the terminal's master side while it runs (its stdin, its size)
    open_stdin: bool = False  # a Pod's container without a terminal whose stdin is kept open (OpenStdin)
    stdin: int = -1  # then the write end of its stdin pipe while it runs
    watchers: list[asyncio.Queue[bytes]] = field(default_factory=list)  # raw console output, b"" at its end


class RuncRuntime(ContainerTable):
    name = "runc"
    networking = Networking.JOIN
    uses_images = True

    @property
    def prober(self) -> Prober | None:
        return self

    @property
    def multi_container(self) -> MultiContainer | None:
        return self

    def __init__(self, data_root: Path, exec_root: Path, images: ImageStore, runc: str = "runc") -> None:
        self.data_root = Path(data_root)
        self.exec_root = Path(exec_root)
        self.images = images
        self.runc = runc
        self.containers_dir = self.data_root / "containers"
        self.logs_dir = self.data_root / "logs"
        self.volumes = VolumeStore(self.data_root / "volumes")
        self.state_root = self.exec_root / "runc"
        self.files_dir = self.exec_root / "files"
        private.make_dir(self.containers_dir, private.ROOT_MODE)
        private.make_dir(self.logs_dir)
        private.make_dir(self.state_root)  # runc's state.json holds the container's spec
        self.containers: dict[str, _Container] = {}
        self._last_sweep = 0.0  # when the children were last swept for runc's leftovers
        self._preparing: set[str] = set()  # containers whose bundles are being made (cleanup skips them)
        self.pods: dict[str, list[str]] = {}  # a Pod's task ID → its containers' keys
        # The container's init is reparented to us once ``runc run -d`` exits: we reap it.
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(e)}")

    # ------------------------------------------------------------ paths

    def bundle_path(self, task_id: str) -> Path:
        return self.containers_dir / task_id

    # ------------------------------------------------------------ runc

    async def _runc(self, *args: str, check: bool = True) -> tuple[int, str]:
        # Started and waited for off the event loop: a fork and exec on a loaded machine blocked the
        # loop for tens of milliseconds each (see ``spawn``).
        done = await spawn([self.runc, "--root", str(self.state_root), *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        out, err, rc = done.stdout or b"", done.stderr or b"", done.returncode or 0
        if check and rc != 0:
            text = err.decode(errors="replace").strip() or f"exit status {rc}"
            raise RuntimeError_(f"runc {args[0]} failed: {text}")
        return rc, out.decode(errors="replace")

    @staticmethod
    def _runc_errors(log_file: Path) -> str:
        msgs: list[str] = []
        try:
            text = log_file.read_text(errors="replace")
        except OSError:
            return ""
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if line.strip():
                    msgs.append(line.strip())
                continue
            if isinstance(entry, dict) and entry.get("level") in ("error", "fatal", "panic"):
                msgs.append(str(entry.get("msg", "")))
        return "; ".join(m for m in msgs if m)

    # ------------------------------------------------------------ lifecycle

    async def cleanup(self) -> None:
        """Remove what a previous run left: its runc containers (``runc delete --force``), then every
        mount under the containers and files directories (one read of the mount table: what is
        mounted there is not known after a crash), then the bundles, files and cgroups; at most
        ``CLEANUP_CONCURRENCY`` containers at a time. What this daemon runs is never touched."""
        ids: set[str] = set()
        with contextlib.suppress(RuntimeError_, OSError):
            _, out = await self._runc("list", "-q", check=False)
            ids.update(line.strip() for line in out.splitlines() if line.strip())
        ids -= self._ours()  # never touch what this daemon runs or prepares
        limit = asyncio.Semaphore(CLEANUP_CONCURRENCY)

        async def delete(cid: str) -> None:
            async with limit:
                await self._runc("delete", "--force", cid, check=False)

        await asyncio.gather(*(delete(cid) for cid in sorted(ids)))
        if self.containers_dir.exists():
            ids.update(d.name for d in self.containers_dir.iterdir())
        if self.files_dir.exists():
            ids.update(p.name for p in self.files_dir.iterdir())
        ids -= self._ours()
        await asyncio.to_thread(self._unmount_leftovers, frozenset(self._ours()))

        async def teardown(cid: str) -> None:
            async with limit:
                if cid not in self._ours():  # a container made meanwhile (the node's API serves already)
                    await self._teardown(cid)

        await asyncio.gather(*(teardown(cid) for cid in sorted(ids)))

    def _ours(self) -> set[str]:
        """The containers of this run: running, or their bundles being made."""
        return set(self.containers) | self._preparing

    def _unmount_leftovers(self, running: frozenset[str]) -> None:
        """Unmount everything under the containers and files directories (deepest first) but what
        belongs to ``running``, from one read of the mount table."""
        roots = [self.containers_dir, self.files_dir]
        for m in mounts_under_any(roots):
            for root in roots:
                rel = os.path.relpath(m, root)
                if rel != "." and not rel.startswith(".."):
                    if rel.split("/", 1)[0] not in running:
                        unmount_point(m)
                    break

    async def close(self) -> None:
        # Containers were stopped and removed by the agent.
        if not self.containers:
            remove_cgroup_parent()

    async def prepare(self, task: Task, files: Sequence[TaskFile] = (), sandbox: Sandbox | None = None) -> None:
        if not is_pod(task):
            spec, _ = task_image(self.images, task)
            if task.ID in self.containers:
                return
            if sandbox is None:
                raise RuntimeError_("runc runs a task only in a network sandbox of the node's", reject=True)
            await self._prepare(task, spec, task.ID, files, sandbox)
            return
        if sandbox is None:
            raise RuntimeError_("runc runs a task only in a network sandbox of the node's", reject=True)
        if task.ID in self.pods:
            return
        keys: list[str] = []
        try:
            for spec in containers_of(task.Spec):
                if not CONTAINER_NAME.fullmatch(spec.Name):
                    raise RuntimeError_(f"invalid container name {spec.Name!r}: a container of a Pod is named by "
                                        "a DNS label (lowercase letters, digits and '-')", reject=True)
                key = container_key(task.ID, spec.Name)
                if key in keys:
                    raise RuntimeError_(f"two containers of the task are named {spec.Name}", reject=True)
                keys.append(key)
                await self._prepare(task, spec, key, files, sandbox)
        except BaseException:
            for key in keys:
                self.containers.pop(key, None)
                await self._teardown(key)
            raise
        self.pods[task.ID] = keys

    async def _prepare(self, task: Task, spec: ContainerSpec, key: str, files: Sequence[TaskFile],
                       sandbox: Sandbox) -> None:
        """The bundle of one container (a Swarm task's, keyed by the task's ID, or a Pod's, keyed
        ``<task id>.<name>``)."""
        if not spec.Image:
            raise RuntimeError_("no image specified", reject=True)
        img = self.images.resolve(spec.Image)
        if img is None:
            raise RuntimeError_(f"No such image: {spec.Image}", reject=True)
        if key in self.containers:
            return
        self._preparing.add(key)  # a cleanup in the background keeps away from it
        try:
            await self._prepare_bundle(task, spec, key, files, sandbox, img)
        finally:
            self._preparing.discard(key)

    async def _prepare_bundle(self, task: Task, spec: ContainerSpec, key: str, files: Sequence[TaskFile],
                              sandbox: Sandbox, img: Image) -> None:
        pod = key != task.ID
        cfg = img.container_config
        argv = command_of(task, cfg, spec)
        lowers = self.images.layer_dirs(img)
        if not lowers:
            raise RuntimeError_(f"image {spec.Image} has no layers", reject=True)
        bundle = self.bundle_path(key)
        if bundle.exists() or self.files_path(key).exists():
            await self._teardown(key)

        def build() -> Path:
            """The bundle on disk and its mounts: in a thread (mkdir, mount and write under load held the
            event loop for 100-400 ms in every 20 s with a hundred tasks starting)."""
            bundle.mkdir(mode=private.ROOT_MODE, exist_ok=True)  # as dockerd's containers/<id>
            for sub in ("upper", "work", "rootfs"):
                (bundle / sub).mkdir(parents=True)
            rootfs = bundle / "rootfs"
            lower = ":".join(str(p) for p in lowers)
            opts = f"lowerdir={lower},upperdir={bundle / 'upper'},workdir={bundle / 'work'}"
            if os.path.exists("/sys/module/overlay/parameters/index"):
                opts += ",index=off"
            try:
                mount("overlay", rootfs, "overlay", 0, opts)
            except OSError as e:
                raise RuntimeError_(f"error creating overlay mount to {rootfs}: {e.strerror}") from e
            hostname = sandbox.hostname
            self._write_etc(bundle, sandbox)
            config = self._spec(task, spec, key, bundle, rootfs, argv, env_of(task, cfg, hostname, spec), hostname,
                                sandbox.netns, cfg)
            if files or pod:
                config["mounts"].extend(self._task_files(key, files))
            # A Pod's container's spec holds its environment (a Secret's values, maybe): it is kept on
            # the container's tmpfs, never on the node's disk; runc runs it from there.
            spec_dir = self.files_path(key) if pod else bundle
            private.write_file(spec_dir / "config.json", json.dumps(config, indent=1))
            return spec_dir

        building = asyncio.ensure_future(asyncio.to_thread(build))
        try:
            spec_dir = await asyncio.shield(building)
        except BaseException:
            with contextlib.suppress(BaseException):
                await building  # cancelled meanwhile: what the thread makes is made before it is undone
            await self._teardown(key)
            raise
        self.containers[key] = _Container(task_id=key, bundle=bundle, spec_dir=spec_dir,
                                          stop_signal=str(cfg.get("StopSignal") or ""),
                                          healthcheck=cfg.get("Healthcheck"),
                                          volumes=taskspec.named_volumes(spec),
                                          log=self.logs_dir / f"{key}.log" if pod else None, keep_files=pod,
                                          tty=pod and spec.TTY, open_stdin=pod and spec.OpenStdin and not spec.TTY)

    def _task_files(self, task_id: str, files: Sequence[TaskFile]) -> list[dict[str, Any]]:
        """The task's secret and config files in a tmpfs of its own (``files.mount``); the container's
        read-only binds of them."""
        ro = ["bind", "ro", "nosuid", "nodev", "noexec"]
        return [_mnt(b.target, "bind", str(b.source), *ro) for b in task_files.mount(self.files_path(task_id), files)]

    @staticmethod
    def _write_etc(bundle: Path, sandbox: Sandbox) -> None:
        """The sandbox's hostname, hosts and resolv.conf, bound into the container."""
        (bundle / "hostname").write_text(sandbox.hostname + "\n")
        (bundle / "hosts").write_text(sandbox.hosts())
        (bundle / "resolv.conf").write_text(sandbox.resolv_conf())

    def _spec(self, task: Task, spec: ContainerSpec, key: str, bundle: Path, rootfs: Path, argv: list[str],
              env: dict[str, str], hostname: str, netns: Path, image_cfg: dict[str, Any]) -> dict[str, Any]:
        user = resolve_user(rootfs, spec.User or image_cfg.get("User") or "", spec.Groups)
        caps = capabilities(spec.CapabilityAdd, spec.CapabilityDrop)
        process: dict[str, Any] = {
            "terminal": key != task.ID and spec.TTY,  # a Pod's container's own terminal (runc's console)
            "user": user,
            "args": argv,
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": spec.Dir or image_cfg.get("WorkingDir") or "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps if user["uid"] == 0 else [],
                "permitted": caps if user["uid"] == 0 else [],
            },
            "noNewPrivileges": bool((spec.Privileges or {}).get("NoNewPrivileges")),
        }
        rlimits = [{"type": RLIMITS[name], "soft": soft, "hard": hard}
                   for name, soft, hard in taskspec.ulimits(spec)]
        if rlimits:
            process["rlimits"] = rlimits
        if spec.OomScoreAdj:
            process["oomScoreAdj"] = spec.OomScoreAdj

        etc_opts = ["rbind", "rprivate"] + (["ro"] if spec.ReadOnly else [])
        mounts: list[dict[str, Any]] = [
            _mnt("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            _mnt("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            _mnt("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
                 "mode=0620", "gid=5"),
            _mnt("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            _mnt("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
            _mnt("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
            _mnt("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=67108864"),
            _mnt("/etc/resolv.conf", "bind", str(bundle / "resolv.conf"), *etc_opts),
            _mnt("/etc/hostname", "bind", str(bundle / "hostname"), *etc_opts),
            _mnt("/etc/hosts", "bind", str(bundle / "hosts"), *etc_opts),
        ]
        if spec.Init:
            tini = next((p for p in TINI_PATHS if os.path.exists(p)), None)
            if tini is None:
                raise RuntimeError_("no init binary (tini-static) found on this node", reject=True)
            mounts.append({"destination": "/sbin/docker-init", "type": "bind", "source": tini,
                           "options": ["bind", "ro"]})
            process["args"] = ["/sbin/docker-init", "--", *argv]
        mounts.extend(self._user_mounts(spec, bundle))

        resources: dict[str, Any] = {"devices": DEVICE_RULES}
        # A Pod's container has its own limits (the task's are the sum of its containers').
        lim = taskspec.limits(task) if key == task.ID else taskspec.limits_of(spec.Resources)
        memory: dict[str, Any] = {}
        if lim.memory:
            memory["limit"] = lim.memory
        if lim.memory_reservation:
            memory["reservation"] = lim.memory_reservation
        swap_control = (Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
                        or Path("/sys/fs/cgroup/cgroup.controllers").exists())
        if lim.memory_swap is not None and swap_control:
            memory["swap"] = lim.memory_swap
        elif key != task.ID and lim.memory and swap_control:
            memory["swap"] = lim.memory  # a Pod's container does not swap (the kubelet's default): over it, OOM
        if lim.swappiness is not None:
            memory["swappiness"] = lim.swappiness
        if memory:
            resources["memory"] = memory
        if lim.cpu_quota:
            resources["cpu"] = {"quota": lim.cpu_quota, "period": lim.cpu_period}
        if lim.pids:
            resources["pids"] = {"limit": lim.pids}

        linux: dict[str, Any] = {
            "cgroupsPath": f"/{CGROUP_PARENT}/{key}",
            "resources": resources,
            "namespaces": [
                {"type": "pid"},
                {"type": "network", "path": str(netns)},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        }
        if spec.Sysctls:
            linux["sysctl"] = dict(spec.Sysctls)
        if spec.Pod is not None and spec.Pod.Privileged:
            every = bounding_caps()
            process["capabilities"] = {k: list(every) for k in ("bounding", "effective", "permitted")}
            resources["devices"] = [{"allow": True, "access": "rwm"}]
            linux["maskedPaths"], linux["readonlyPaths"] = [], []
            for m in mounts:
                if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                    m["options"] = [o for o in m["options"] if o != "ro"]
        annotations = {"io.shoal.task.id": task.ID}
        if key != task.ID:
            annotations["io.shoal.container.name"] = spec.Name
        if task.Owner.ID:
            annotations["io.shoal.service.id"] = task.Owner.ID
        return {
            "ociVersion": "1.0.2-dev",
            "process": process,
            "root": {"path": str(rootfs), "readonly": bool(spec.ReadOnly)},
            "hostname": hostname,
            "mounts": mounts,
            "annotations": annotations,
            "linux": linux,
        }

    def _user_mounts(self, spec: ContainerSpec, bundle: Path) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in taskspec.host_mounts(spec, self.volumes, bundle / "volumes"):
            ro = ["ro"] if m.read_only else []
            if m.type == "tmpfs":
                opts = ["nosuid", "nodev", "noexec"]
                if m.tmpfs_size:
                    opts.append(f"size={m.tmpfs_size}")
                if m.tmpfs_mode:
                    opts.append(f"mode={m.tmpfs_mode:o}")
                out.append(_mnt(m.target, "tmpfs", "tmpfs", *opts, *ro))
            else:
                out.append({"destination": m.target, "type": "bind", "source": m.source,
                            "options": ["rbind", m.propagation, *ro]})
        return out

    async def start(self, task: Task) -> Started:
        c = self.containers.get(task.ID)
        if c is None:
            raise RuntimeError_("task was not prepared")
        if c.exit is not None:
            raise RuntimeError_(f"container {task.ID} was already started")
        return await self._run(c, task.ID, self.log_path(task.ID))

    # ------------------------------------------------------------ a Pod's containers (MultiContainer)

    async def start_container(self, task: Task, name: str) -> Started:
        key = container_key(task.ID, name)
        c = self.containers.get(key)
        if c is None or c.log is None:
            raise RuntimeError_(f"container {name} of task {task.ID} was not prepared")
        if c.exit is not None:
            if not c.exit.done():
                raise RuntimeError_(f"container {name} of task {task.ID} is running")
            if c.finisher is not None:  # it ran before: run it again in place
                await asyncio.gather(c.finisher, return_exceptions=True)
            await self._runc("delete", "--force", key, check=False)
            c.exit, c.pid, c.finisher = None, 0, None
            with contextlib.suppress(FileNotFoundError):  # ``kubectl logs --previous`` reads it
                c.log.replace(previous_log(c.log))
        private.make_dir(self.logs_dir)
        c.oom_killed = False
        return await self._run(c, key, c.log)

    def container_exit(self, task_id: str, name: str) -> asyncio.Future[int]:
        c = self.containers.get(container_key(task_id, name))
        if c is None or c.exit is None:
            raise RuntimeError_(f"container {name} of task {task_id} is not running")
        return c.exit

    async def stop_container(self, task_id: str, name: str, signal: str, grace: float) -> None:
        await self.stop(container_key(task_id, name), signal, grace)

    def container_log_path(self, task_id: str, name: str) -> Path:
        private.make_dir(self.logs_dir)
        return self.logs_dir / f"{container_key(task_id, name)}.log"

    def exec_command(self, task_id: str, name: str, argv: list[str], tty: bool) -> list[str]:
        """``runc exec`` of ``argv`` in a running container of a Pod's task (``podaccess.ExecTarget``):
        the container's user, environment and working directory; with a terminal of its own when ``tty``.
        ``name`` "": the one container of a Swarm task (``docker exec`` into a task's container)."""
        key = container_key(task_id, name) if name else task_id
        c = self.containers.get(key)
        if c is None or c.exit is None or c.exit.done():
            raise RuntimeError_(f'container not found ("{name or task_id}")')
        return [self.runc, "--root", str(self.state_root), "exec", *(["--tty"] if tty else []), key, *argv]

    def container_oom_killed(self, task_id: str, name: str) -> bool:
        c = self.containers.get(container_key(task_id, name))
        return c is not None and c.oom_killed

    async def _run(self, c: _Container, key: str, path: Path) -> Started:
        """``runc run --detach`` of the prepared bundle; its output into ``path``."""
        if c.tty:
            return await self._run_tty(c, key, path)
        loop = asyncio.get_running_loop()
        pid_file = c.bundle / "init.pid"
        runc_log = c.bundle / "runc.log"
        try:
            out, err = await logs.open_writers(path, ("stdout", "stderr"))
        except OSError as e:
            raise RuntimeError_(f"starting container failed: opening its log: {e}") from e
        try:
            (out_r, out_w), (err_r, err_w), (in_r, in_w) = _pipes(3 if c.open_stdin else 2)
        except OSError as e:  # out of descriptors, say: the log files opened above are closed again
            out.close()
            err.close()
            raise RuntimeError_(f"starting container failed: {e}") from e
        c.pumps = [loop.create_task(logs.pump(out_r, out)), loop.create_task(logs.pump(err_r, err))]
        argv = [self.runc, "--root", str(self.state_root), "--log", str(runc_log), "--log-format", "json",
                "run", "--detach", "--bundle", str(c.spec_dir or c.bundle), "--pid-file", str(pid_file), key]
        try:
            rc = await in_thread(lambda: _spawn_wait(argv, out_w, err_w, in_r))
        except OSError as e:
            rc, runc_error = -1, str(e)
        else:
            runc_error = ""
        if in_w >= 0:
            if rc == 0:
                os.set_blocking(in_w, False)
                c.stdin = in_w
            else:
                os.close(in_w)
        if rc != 0:
            msg = runc_error or self._runc_errors(runc_log) or f"runc run exited with {rc}"
            await self._runc("delete", "--force", key, check=False)
            await self._drain(c, 2.0)
            if not c.keep_files:
                await self._remove_files(key)
            raise RuntimeError_(f"starting container failed: {msg}")
        return await self._watch_init(c, key, pid_file)

    async def _watch_init(self, c: _Container, key: str, pid_file: Path) -> Started:
        """After a ``runc run --detach`` that succeeded: the init process from runc's pid file, watched
        through a pidfd for its exit (without one, the container is deleted and the start fails)."""
        loop = asyncio.get_running_loop()
        try:
            pid = int(pid_file.read_text().strip())
            pidfd = os.pidfd_open(pid)
        except (OSError, ValueError) as e:
            await self._runc("delete", "--force", key, check=False)
            await self._drain(c, 2.0)
            raise RuntimeError_(f"starting container failed: no init process: {e}") from e
        c.pid, c.pidfd = pid, pidfd
        c.exit = loop.create_future()
        loop.add_reader(pidfd, self._on_exit, c)
        return Started(container_id=key, pid=pid)

    async def _run_tty(self, c: _Container, key: str, path: Path) -> Started:
        """``runc run --detach --console-socket``: runc hands the terminal's master side over the socket;
        what the container writes there goes to ``path`` (as stdout) and to the console's watchers."""
        loop = asyncio.get_running_loop()
        pid_file = c.bundle / "init.pid"
        runc_log = c.bundle / "runc.log"
        sock_dir = tempfile.mkdtemp(prefix="shoal-console-")  # a short path: sockets have 108 bytes
        sock_path = os.path.join(sock_dir, "s")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock_path)
        srv.listen(1)
        srv.settimeout(30)

        def receive() -> int:
            conn, _ = srv.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            if not fds:
                raise OSError("runc sent no console")
            return fds[0]

        received = asyncio.ensure_future(asyncio.to_thread(receive))
        try:
            proc = await asyncio.create_subprocess_exec(
                self.runc, "--root", str(self.state_root), "--log", str(runc_log), "--log-format", "json",
                "run", "--detach", "--console-socket", sock_path, "--bundle", str(c.spec_dir or c.bundle),
                "--pid-file", str(pid_file), key,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            rc = proc.returncode or 0
            if rc != 0:
                srv.close()  # the thread's accept fails
                with contextlib.suppress(OSError):
                    await received
                msg = self._runc_errors(runc_log) or err.decode(errors="replace").strip() or f"exit status {rc}"
                await self._runc("delete", "--force", key, check=False)
                raise RuntimeError_(f"starting container failed: {msg}")
            try:
                master = await received
            except OSError as e:
                await self._runc("delete", "--force", key, check=False)
                raise RuntimeError_(f"starting container failed: no console: {e}") from e
        finally:
            srv.close()
            shutil.rmtree(sock_dir, ignore_errors=True)
        c.console = master
        c.pumps = [loop.create_task(self._console_pump(c, master, path))]
        return await self._watch_init(c, key, pid_file)

    @staticmethod
    async def _console_pump(c: _Container, master: int, path: Path) -> None:
        """The terminal's output into the log and to its watchers, until every process of the
        container has closed it (EIO); then the master side is closed."""
        loop = asyncio.get_running_loop()
        os.set_blocking(master, False)
        writer = logs.LogWriter(path, "stdout")
        done: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            try:
                data = os.read(master, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                writer.feed(data)
                for q in c.watchers:
                    q.put_nowait(data)
            elif not done.done():
                done.set_result(None)

        loop.add_reader(master, readable)
        try:
            await done
        finally:
            loop.remove_reader(master)
            writer.close()
            c.console = -1
            os.close(master)
            for q in c.watchers:
                q.put_nowait(b"")
            c.watchers.clear()

    # ------------------------------------------------------------ a Pod's container's terminal (base.Console)

    def _console_of(self, task_id: str, name: str) -> _Container:
        c = self.containers.get(container_key(task_id, name))
        if c is None or c.console < 0:
            raise RuntimeError_(f"container {name} of task {task_id} has no terminal")
        return c

    def container_rootfs(self, task_id: str, name: str) -> Path | None:
        """The container's root filesystem as mounted here (its image's layers and its writable layer)."""
        c = self.containers.get(container_key(task_id, name))
        return c.bundle / "rootfs" if c is not None else None

    def console_watch(self, task_id: str, name: str) -> asyncio.Queue[bytes]:
        c = self._console_of(task_id, name)
        q: asyncio.Queue[bytes] = asyncio.Queue()
        c.watchers.append(q)
        return q

    def console_unwatch(self, task_id: str, name: str, q: asyncio.Queue[bytes]) -> None:
        c = self.containers.get(container_key(task_id, name))
        if c is not None and q in c.watchers:
            c.watchers.remove(q)

    async def console_write(self, task_id: str, name: str, data: bytes) -> None:
        """To its terminal, or to its stdin (a container without a terminal whose stdin is open)."""
        c = self.containers.get(container_key(task_id, name))
        if c is None or (c.console < 0 and c.stdin < 0):
            raise RuntimeError_(f"container {name} of task {task_id} has no open input")
        view = memoryview(data)
        while view:
            fd = c.console if c.console >= 0 else c.stdin
            if fd < 0:
                return
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            except BrokenPipeError:
                return
            view = view[n:]

    def console_close_input(self, task_id: str, name: str) -> None:
        """End of its stdin (a container without a terminal): the reader sees end of file."""
        c = self.containers.get(container_key(task_id, name))
        if c is not None:
            self._close_stdin(c)

    @staticmethod
    def _close_stdin(c: _Container) -> None:
        if c.stdin >= 0:
            with contextlib.suppress(OSError):
                os.close(c.stdin)
            c.stdin = -1

    def console_resize(self, task_id: str, name: str, width: int, height: int) -> None:
        c = self._console_of(task_id, name)
        fcntl.ioctl(c.console, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def _on_exit(self, c: _Container) -> None:
        try:
            wpid, status = os.waitpid(c.pid, os.WNOHANG)
        except ChildProcessError:
            # Not our child (we are not its subreaper): the exit status is lost.
            log.warning("container %s: init %d was not reparented to the daemon", c.task_id, c.pid)
            wpid, status = c.pid, -1
        if wpid == 0:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(c.pidfd)
        os.close(c.pidfd)
        c.pidfd = -1
        code = 255 if status == -1 else os.waitstatus_to_exitcode(status)
        if code < 0:
            code = 128 - code
        c.oom_killed = oom_kills(c.task_id) > 0
        c.finisher = loop.create_task(self._finish(c, code))

    async def _finish(self, c: _Container, code: int) -> None:
        self._close_stdin(c)
        # The pid namespace died with its init, so the pipes' writers are gone: let the pumps drain.
        await self._drain(c, 5.0)
        if not c.keep_files:
            await self._remove_files(c.task_id)
        if c.exit is not None and not c.exit.done():
            c.exit.set_result(code)

    @staticmethod
    async def _drain(c: _Container, timeout: float) -> None:
        if not c.pumps:
            return
        _, pending = await asyncio.wait(c.pumps, timeout=timeout)
        for p in pending:
            p.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def probe(self, task_id: str, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run a healthcheck in the container (``runc exec``: the container's user, environment and
        working directory); on timeout the probe's process is killed."""
        c = self.containers.get(task_id)
        if c is None or c.exit is None or c.exit.done():
            return -1, "container is not running"
        pid_file = c.bundle / f"probe-{os.urandom(4).hex()}.pid"
        proc = await asyncio.create_subprocess_exec(
            self.runc, "--root", str(self.state_root), "exec", "--pid-file", str(pid_file), task_id, *argv,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text()), signals.SIGKILL)
            # runc exec reaps the process it ran, then exits: killed first, it would leave the process a
            # zombie of the daemon (the subreaper), and a dying container's init waits for it forever.
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            self._reap_orphans()
            return -1, f"Health check exceeded timeout ({timeout:g}s)"
        finally:
            with contextlib.suppress(OSError):
                pid_file.unlink()
        if proc.returncode:
            self._reap_orphans()  # it may have failed because the container died under it
        return proc.returncode or 0, out.decode(errors="replace")[:4096]

    async def stop(self, task_id: str, signal: str, grace: float) -> None:
        c = self.containers.get(task_id)
        if c is None or c.exit is None or c.exit.done():
            return
        sig = signal_number(signal or c.stop_signal)
        if c.pidfd >= 0:
            self._kill(c, sig)  # its init, as ``runc kill`` signals it, without spawning runc
        else:
            await self._runc("kill", task_id, str(sig), check=False)
        try:
            await asyncio.wait_for(self._exited(c), timeout=max(grace, 0.0))
        except TimeoutError:
            self._kill(c, signals.SIGKILL)
            await self._exited(c)

    async def _exited(self, c: _Container) -> None:
        """Until the container has exited; while it takes long, reap what runc left in its PID
        namespace's way (``reap_runc_orphans``)."""
        assert c.exit is not None
        wait = FIRST_SWEEP
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(c.exit), wait)
                return
            except TimeoutError:
                self._reap_orphans()
                wait = min(wait * 2, 5.0)

    def _reap_orphans(self) -> None:
        """One sweep for all the containers waiting at once (each sweep reads every child of the daemon:
        a thousand containers stopping together swept a thousand children a thousand times)."""
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        reaped = reap_runc_orphans({c.pid for c in self.containers.values() if c.pid})
        if reaped:
            log.info("reaped %d process(es) runc left behind: %s", len(reaped), reaped)

    @staticmethod
    def _kill(c: _Container, sig: int) -> None:
        # The pid cannot have been reused while it is unreaped (pidfd still open): signal it directly.
        if c.pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signals.pidfd_send_signal(c.pidfd, sig)

    async def remove(self, task_id: str, keep_logs: bool = False) -> None:
        for key in self.pods.pop(task_id, []):  # a Pod's containers (their keys are not task IDs)
            await self._remove(key, keep_logs)
        await self._remove(task_id, keep_logs)

    async def _remove(self, task_id: str, keep_logs: bool) -> None:
        c = self.containers.pop(task_id, None)
        if c is not None:
            if c.exit is not None and not c.exit.done():
                self._kill(c, signals.SIGKILL)
                await self._exited(c)
            if c.finisher is not None:
                await asyncio.gather(c.finisher, return_exceptions=True)
            await self._drain(c, 1.0)
        await self._runc("delete", "--force", task_id, check=False)
        await self._teardown(task_id)
        if not keep_logs:
            logs.remove(self.log_path(task_id))
            logs.remove(previous_log(self.log_path(task_id)))

    async def _teardown(self, task_id: str) -> None:
        """Remove the task's mounts, directory and cgroups (whatever of them exists), in a thread."""
        await asyncio.to_thread(self._teardown_now, task_id)

    def _teardown_now(self, task_id: str) -> None:
        """The mounts this runtime makes for a task are known (its overlay at ``<bundle>/rootfs``, its
        tmpfs at ``files_path``): they are unmounted by name, without reading the mount table (which
        grows with the containers: a read per task made removing N tasks O(N²)). The bundle is
        removed without crossing into a file system mounted in it, so a mount left there (one this
        runtime did not make, or that would not go) keeps its contents; ``cleanup`` unmounts those."""
        bundle = self.bundle_path(task_id)
        unmount_point(bundle / "rootfs")
        task_files.unmount(self.files_path(task_id))
        remove_tree(bundle)
        remove_cgroups(task_id)

    async def _remove_files(self, task_id: str) -> None:
        """Unmount the task's tmpfs of secrets and configs once the container has exited."""
        await asyncio.to_thread(task_files.unmount, self.files_path(task_id))

def reap_runc_orphans(keep: set[int]) -> list[int]:
    """Reap the zombies among this process's children that runc left behind (``runc_leftover``), and
    return their PIDs. A ``runc exec`` that dies (killed, or failing as its container dies) before it
    reaped what it started leaves it to the daemon, the subreaper; one in the container's PID namespace
    holds the container's dying init until it is reaped. The daemon's own children are never reaped
    here (their exit statuses belong to their waiters), nor the PIDs in ``keep`` (the containers'
    inits, which ``_on_exit`` reaps)."""
    me = os.getpid()
    try:
        threads = os.listdir(f"/proc/{me}/task")
        with open(f"/proc/{me}/status") as f:
            depth = len(_status_fields(f.read()).get("NSpid", "").split()) or 1
    except OSError:
        return []
    children: set[int] = set()
    for tid in threads:
        try:
            with open(f"/proc/{me}/task/{tid}/children") as f:
                children.update(int(pid) for pid in f.read().split())
        except (OSError, ValueError):
            continue
    reaped: list[int] = []
    for pid in sorted(children - keep):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
        except OSError:
            continue
        if not runc_leftover(status, depth):
            continue
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped.append(pid)
    return reaped


def runc_leftover(status: str, depth: int) -> bool:
    """Whether a child's ``/proc/<pid>/status`` is a zombie that runc left behind: one of runc's own
    stages (``runc:[1:CHILD]``, ``runc:[2:INIT]``), or a process of a PID namespace below ours
    (``depth``: how many namespaces ``NSpid`` lists for us) that is not its init (PID 1 there): an
    exec'd command. The daemon runs neither itself. Example: ``NSpid: 24834 27`` for us at depth 1 is
    PID 27 of a container: a leftover; ``NSpid: 24834 1`` is a container's init: not one."""
    fields = _status_fields(status)
    if not fields.get("State", "").startswith("Z"):
        return False
    if fields.get("Name", "").startswith(RUNC_STAGE):
        return True
    nspid = fields.get("NSpid", "").split()
    return len(nspid) > depth and nspid[-1] != "1"


def _status_fields(status: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in status.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def _pipes(n: int) -> list[tuple[int, int]]:
    """``n`` pipes (read end, write end), padded to three with ``(-1, -1)``; if one cannot be made,
    those made before it are closed and the error raised."""
    made: list[tuple[int, int]] = []
    try:
        for _ in range(n):
            made.append(os.pipe())
    except OSError:
        for r, w in made:
            os.close(r)
            os.close(w)
        raise
    return made + [(-1, -1)] * (3 - n)


def _spawn_wait(argv: list[str], out_w: int, err_w: int, in_r: int = -1) -> int:
    """Run ``argv`` with its output to ``out_w`` and ``err_w`` and its input from ``in_r`` (-1: none)
    (closed here once it has them, or on failure) and wait for it: from a thread of its own
    (``in_thread``), as a spawn blocks its caller for milliseconds (runc's exec), which the event
    loop would pay a hundred times in a burst."""
    try:
        proc = subprocess.Popen(argv, stdin=in_r if in_r >= 0 else subprocess.DEVNULL, stdout=out_w, stderr=err_w)
    finally:
        os.close(out_w)
        os.close(err_w)
        if in_r >= 0:
            os.close(in_r)
    return proc.wait()


def previous_log(path: Path) -> Path:
    """Where a Pod's container's log of its run before the last restart is kept."""
    return path.with_name(path.name.removesuffix(".log") + ".previous.log")


def oom_kills(key: str) -> int:
    """How many processes the kernel killed in a container's cgroup for its memory limit (cgroup v2's
    ``memory.events``, v1's ``memory.oom_control``); 0 when it cannot tell."""
    base = Path("/sys/fs/cgroup")
    for f, field_name in ((base / CGROUP_PARENT / key / "memory.events", "oom_kill"),
                          (base / "memory" / CGROUP_PARENT / key / "memory.oom_control", "oom_kill")):
        try:
            text = f.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == field_name and value.strip().isdigit():
                return int(value)
    return 0


def remove_cgroup_parent() -> None:
    """Remove the empty ``/shoal`` parent cgroups (a no-op while another daemon's containers use them)."""
    base = Path("/sys/fs/cgroup")
    with contextlib.suppress(OSError):
        for h in [base, *(p for p in base.iterdir() if p.is_dir())]:
            with contextlib.suppress(OSError):
                (h / CGROUP_PARENT).rmdir()


def remove_cgroups(task_id: str) -> None:
    """Remove ``/shoal/<task id>`` from every cgroup hierarchy where runc left it (it must be empty)."""
    base = Path("/sys/fs/cgroup")
    candidates = [base / CGROUP_PARENT / task_id]
    with contextlib.suppress(OSError):
        candidates += [h / CGROUP_PARENT / task_id for h in base.iterdir() if h.is_dir()]
    for d in candidates:
        if d.is_dir():
            with contextlib.suppress(OSError):
                # Nested cgroups first (a container may have made some).
                for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    with contextlib.suppress(OSError):
                        sub.rmdir()
                d.rmdir()
