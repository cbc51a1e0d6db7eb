"""The ``docker`` runtime: each task runs as a container of a local Docker Engine, through the docker SDK.

``shoal daemon --runtime docker --docker-host unix:///var/run/docker.sock``. Images stay in shoal's
own store; the first task of an image gets it into the dockerd (``ImageStore.save`` → ``docker
load``, once per image ID, then tagged with the image's tags) and containers are created from the
image's ID. A task's container is ``<service>.<slot>.<task id>`` as in Swarm, labelled with Swarm's
``com.docker.swarm.*`` labels, the task's own, ``io.shoal.task.id`` and ``io.shoal.daemon`` (this
daemon's data root: several shoal daemons may share one dockerd; each cleans up only its own).

The spec maps onto the container through ``taskspec.py`` like runc's bundle: command and args
(Docker's entrypoint and cmd rules are dockerd's own), env, user and groups, workdir, hostname,
labels, mounts (binds; named volumes are directories of the node's ``VolumeStore``, anonymous ones
of ``<data-root>/docker/<task id>/``, both bound in, so ``docker volume`` on shoal sees them as with
runc; tmpfs), limits and reservations, ``--init`` (dockerd's docker-init), the stop signal,
read-only root, capabilities, ulimits, sysctls, extra hosts, DNS options. Secrets and configs are
written to a tmpfs of the task's own (``files.mount`` at ``<exec-root>/files/<task id>``, as runc)
and bound read-only into the container; it is unmounted once the container has exited. dockerd runs
no healthcheck of its own (``Test: NONE``): the agent probes with ``probe`` (``docker exec``) as on
runc, so the task states of ``agent/health.py`` hold unchanged.

Output: the container is created with the ``none`` log driver and attached to before it starts
(as ``docker run`` does); a thread per container copies the attach stream into the task's log file
(``logs.LogWriter``), another waits for its exit (``POST /containers/{id}/wait``), which gives the
exit code (128+signal, so 137 after SIGKILL and after an OOM kill). Stop: the stop signal (spec,
else image, else SIGTERM) with ``docker kill -s``, then SIGKILL after the grace period. Short API
calls run in a pool of threads of this runtime, never in the event loop's default executor.

Networks: the task's network sandbox (``network/sandbox.py``) is held by a pause container of its
own (``hold_netns``, ``networking = HOLD``): ``<service>.<slot>.<task id>.sandbox``, labelled
``io.shoal.sandbox`` and ``io.shoal.daemon``, from the image ``shoal/pause`` (the node's static
busybox running ``sleep``, made here and loaded into the dockerd once), with ``network_mode: none``
and the sandbox's hostname, DNS settings, ``--host``s and ``net.*`` sysctls. The node's network
wires ``/proc/<pause pid>/ns/net`` (veths, addresses, DNS, VIP rules) before the task's container is
created, and that container runs with ``network_mode: container:<pause id>``, so it starts in a
namespace already wired and shares the pause container's hostname, hosts and resolv.conf. The pause
container goes when the node removes the sandbox (``release_netns``), after the task's container.
Without a sandbox (the runtime driven alone) a task has ``network_mode: none``, and tasks on
networks are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import signal as signals
import tarfile
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig, Mount, Ulimit

from shoal import ENGINE_VERSION
from shoal.api.hosts import extra_hosts
from shoal.api.types import Task, first_container, service_id_of
from shoal.network.sandbox import Sandbox
from shoal.runtime import files as task_files
from shoal.runtime import logs, private, taskspec
from shoal.runtime.base import (
    ContainerRecord,
    ContainerTable,
    Networking,
    Prober,
    RuntimeError_,
    Started,
    TaskFile,
    container_name,
    resource_env,
    task_image,
)
from shoal.runtime.images import Image, ImageStore, split_ref
from shoal.runtime.process import command_of, signal_number
from shoal.runtime.volumes import VolumeStore

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_HOST = "unix:///var/run/docker.sock"
LABEL_TASK = "io.shoal.task.id"
LABEL_OWNER = "io.shoal.daemon"  # the data root of the shoal daemon that made the container
LABEL_SANDBOX = "io.shoal.sandbox"  # a pause container: the task whose network namespace it holds
PAUSE_REPO = "shoal/pause"
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")  # Debian's busybox-static
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # dockerd's rule for container names
API_THREADS = 32
POOL_SIZE = 256  # kept connections: each running container holds one (its exit is waited for)
DRAIN = 5.0  # seconds for the rest of a container's output after it exited


def _explain(e: Exception) -> str:
    if isinstance(e, docker.errors.APIError):
        return str(e.explanation or e)
    return str(e)


@dataclass(kw_only=True)
class _Container(ContainerRecord):
    id: str = ""  # dockerd's container ID
    threads: list[threading.Thread] = field(default_factory=list)


def pause_archive(busybox: bytes, tag: str) -> bytes:
    """A docker-archive (``docker load``) of a one-layer image: ``/bin/busybox``, run as ``sleep``."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as tf:
        d = tarfile.TarInfo("bin")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(d)
        f = tarfile.TarInfo("bin/busybox")
        f.size, f.mode = len(busybox), 0o755
        tf.addfile(f, io.BytesIO(busybox))
    layer = layer_buf.getvalue()
    diff_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "sleep", "2147483647"], "Labels": {LABEL_SANDBOX: ""}},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [f"{diff_id}/layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for name, data in ((f"{diff_id}/layer.tar", layer), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


class DockerRuntime(ContainerTable):
    name = "docker"
    networking = Networking.HOLD
    multi_container = None  # one container per task
    uses_images = True

    @property
    def prober(self) -> Prober | None:
        return self

    def __init__(self, data_root: Path, exec_root: Path, images: ImageStore, host: str = DEFAULT_HOST) -> None:
        self.data_root = Path(data_root)
        self.exec_root = Path(exec_root)
        self.images = images
        self.host = host
        self.logs_dir = self.data_root / "logs"
        self.tasks_dir = self.data_root / "docker"  # anonymous volumes, the image archives being loaded
        self.files_dir = self.exec_root / "files"
        self.volumes = VolumeStore(self.data_root / "volumes")
        private.make_dir(self.logs_dir)
        self.tasks_dir.mkdir(parents=True, exist_ok=True)
        self.owner = str(self.data_root.resolve())
        self.containers: dict[str, _Container] = {}
        self._api: docker.APIClient | None = None
        self._api_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="docker-api")
        self._loaded: set[str] = set()  # image IDs known to be in the dockerd
        self._image_locks: dict[str, asyncio.Lock] = {}
        self.pauses: dict[str, str] = {}  # task → the pause container holding its network namespace
        self._pause_image = ""
        self._pause_lock = asyncio.Lock()

    # ------------------------------------------------------------ paths

    def task_dir(self, task_id: str) -> Path:
        return self.tasks_dir / task_id

    # ------------------------------------------------------------ the API

    def api(self) -> docker.APIClient:
        """The client, made on first use (``version="auto"`` asks the dockerd which API it speaks)."""
        with self._api_lock:
            if self._api is None:
                try:
                    self._api = docker.APIClient(base_url=self.host, version="auto", timeout=60,
                                                 max_pool_size=POOL_SIZE)
                except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
                    raise RuntimeError_(self.cannot_connect()) from e
            return self._api

    def cannot_connect(self) -> str:
        """Docker's words when its daemon does not answer."""
        return f"Cannot connect to the Docker daemon at {self.host}. Is the docker daemon running?"

    def _error(self, what: str, e: Exception) -> RuntimeError_:
        """A docker SDK error as the task's error: ``what: explanation``."""
        if isinstance(e, docker.errors.APIError):
            text = _explain(e)
        elif isinstance(e, requests.exceptions.ConnectionError):
            text = self.cannot_connect()
        else:
            text = str(e)
        return RuntimeError_(f"{what}: {text}" if what else text)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def _do(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``api().<method>(...)`` in the pool; errors as ``RuntimeError_`` (``what: explanation``)."""
        def call() -> Any:
            return getattr(self.api(), method)(*args, **kwargs)
        try:
            return await self._call(call)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise self._error(what, e) from e

    def _owned(self, task_id: str = "") -> dict[str, list[str]]:
        labels = [f"{LABEL_OWNER}={self.owner}"]
        if task_id:
            labels.append(f"{LABEL_TASK}={task_id}")
        return {"label": labels}

    # ------------------------------------------------------------ lifecycle

    async def cleanup(self) -> None:
        """Remove the containers of this daemon that no task here owns (a crash's), and their tmpfs
        and directories."""
        try:
            found = await self._do("", "containers", all=True, filters=self._owned())
        except RuntimeError_ as e:
            log.warning("docker runtime: cleanup: %s", e.message)
            found = []
        for c in found:
            labels = c.get("Labels") or {}
            tid = labels.get(LABEL_TASK, "")
            if tid in self.containers or labels.get(LABEL_SANDBOX, "") in self.pauses:
                continue
            with contextlib.suppress(RuntimeError_):
                await self._do("", "remove_container", c["Id"], force=True, v=True)
        ids: set[str] = set()
        for parent in (self.tasks_dir, self.files_dir):
            if parent.exists():
                ids.update(p.name for p in parent.iterdir() if p.name != "tmp")
        for tid in sorted(ids - set(self.containers)):
            await self._teardown(tid)

    async def close(self) -> None:
        # Containers were stopped and removed by the agent.
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._api is not None:
            self._api.close()

    # ------------------------------------------------------------ images

    async def _ensure_image(self, img: Image) -> None:
        """Get the image into the dockerd (once per image ID) and give it the image's tags there."""
        if img.id in self._loaded:
            return
        lock = self._image_locks.setdefault(img.id, asyncio.Lock())
        async with lock:
            if img.id in self._loaded:
                return
            if not await self._call(self._has_image, img.id):
                await self._call(self._load, img)
            for ref in img.tags:
                repo, tag = split_ref(ref)
                await self._do(f"tagging {ref}", "tag", img.id, repo, tag, force=True)
            self._loaded.add(img.id)

    def _has_image(self, image_id: str) -> bool:
        try:
            self.api().inspect_image(image_id)
        except docker.errors.ImageNotFound:
            return False
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise self._error("", e) from e
        return True

    def _load(self, img: Image) -> None:
        tmp_dir = self.tasks_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        try:
            with tempfile.TemporaryFile(dir=tmp_dir) as f:
                self.images.save([img.id], f)
                f.seek(0)
                for msg in self.api().load_image(f):
                    if isinstance(msg, dict) and msg.get("error"):
                        raise RuntimeError_(f"loading image {img.id} into the Docker daemon failed: {msg['error']}")
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise self._error(f"loading image {img.id} into the Docker daemon failed", e) from e
        except OSError as e:
            raise RuntimeError_(f"loading image {img.id} into the Docker daemon failed: {e}") from e

    # ------------------------------------------------------------ the sandbox's pause container

    async def _ensure_pause_image(self) -> str:
        """The pause image's ID in the dockerd, loaded there on first use."""
        async with self._pause_lock:
            if self._pause_image:
                return self._pause_image
            busybox = next((p for p in BUSYBOX_PATHS if os.path.exists(p)), None)
            if busybox is None:
                raise RuntimeError_("no static busybox on this node for the network sandbox's pause container "
                                    "(install busybox-static)", reject=True)
            tag = f"{PAUSE_REPO}:{ENGINE_VERSION}"
            if not await self._call(self._has_image, tag):
                await self._call(self._load_archive, pause_archive(Path(busybox).read_bytes(), tag), "the pause image")
            image_id = str((await self._do("", "inspect_image", tag))["Id"])
            self._pause_image = image_id
            return image_id

    async def hold_netns(self, sandbox: Sandbox) -> str:
        """Start the pause container that holds the task's network namespace (``network_mode: none``,
        with the sandbox's hostname, DNS settings and hosts); the namespace's path."""
        image = await self._ensure_pause_image()
        await self.release_netns(sandbox.task_id)  # a crash's
        dns = sandbox.nameservers

        def create() -> str:
            api = self.api()
            host_config = api.create_host_config(
                network_mode="none",
                dns=dns or None,
                dns_search=sandbox.search or None,
                dns_opt=sandbox.options or None,
                extra_hosts=[f"{n}:{ip}" for ip, names in sandbox.extra_hosts for n in names] or None,
                sysctls=sandbox.net_sysctls or None,
                log_config=LogConfig(type="none"),
            )
            created = api.create_container(
                image=image, hostname=sandbox.hostname, host_config=host_config,
                labels={LABEL_SANDBOX: sandbox.task_id, LABEL_OWNER: self.owner},
                name=f"{sandbox.name}.sandbox" if sandbox.name and NAME_RE.match(sandbox.name)
                else f"shoal-{sandbox.task_id}.sandbox",
            )
            return str(created["Id"])

        try:
            cid = await self._call(create)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise self._error("creating the network sandbox failed", e) from e
        self.pauses[sandbox.task_id] = cid
        await self._do("starting the network sandbox failed", "start", cid)
        info = await self._do("starting the network sandbox failed", "inspect_container", cid)
        pid = int((info.get("State") or {}).get("Pid") or 0)
        if pid <= 0:
            raise RuntimeError_("starting the network sandbox failed: its pause container is not running")
        return f"/proc/{pid}/ns/net"

    async def release_netns(self, task_id: str) -> None:
        """Remove the task's pause container (and any other a crash left for it)."""
        ids = {self.pauses.pop(task_id)} if task_id in self.pauses else set()
        with contextlib.suppress(RuntimeError_):
            found = await self._do("", "containers", all=True,
                                   filters={"label": [f"{LABEL_OWNER}={self.owner}", f"{LABEL_SANDBOX}={task_id}"]})
            ids.update(x["Id"] for x in found)
        for cid in ids:
            with contextlib.suppress(RuntimeError_):
                await self._do("", "remove_container", cid, force=True, v=True)

    def _load_archive(self, archive: bytes, what: str) -> None:
        try:
            for msg in self.api().load_image(archive):
                if isinstance(msg, dict) and msg.get("error"):
                    raise RuntimeError_(f"loading {what} into the Docker daemon failed: {msg['error']}")
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise self._error(f"loading {what} into the Docker daemon failed", e) from e

    # ------------------------------------------------------------ prepare

    async def prepare(self, task: Task, files: Sequence[TaskFile] = (), sandbox: Sandbox | None = None) -> None:
        spec, img = task_image(self.images, task)
        if task.ID in self.containers:
            return
        if task.NetworksAttachments and (sandbox is None or task.ID not in self.pauses):
            nets = ", ".join(a.Network.Spec.Name or a.Network.ID for a in task.NetworksAttachments)
            raise RuntimeError_(f"the docker runtime cannot attach tasks to networks without the node's network "
                                f"sandbox ({nets})", reject=True)
        cfg = img.container_config
        command_of(task, cfg)  # refuses a task with no command at all, as runc
        await self._ensure_image(img)
        if self.task_dir(task.ID).exists() or self.files_path(task.ID).exists():
            await self._teardown(task.ID)
        try:
            mounts = self._mounts(task)
            if files:
                binds = await asyncio.to_thread(task_files.mount, self.files_path(task.ID), files)
                mounts += [Mount(b.target, str(b.source), type="bind", read_only=True) for b in binds]
            cid = await self._create(task, img, mounts, self.pauses.get(task.ID, "") if sandbox else "")
        except BaseException:
            await self._teardown(task.ID)
            raise
        self.containers[task.ID] = _Container(task_id=task.ID, id=cid, stop_signal=str(cfg.get("StopSignal") or ""),
                                              healthcheck=cfg.get("Healthcheck"),
                                              volumes=taskspec.named_volumes(spec))

    def _mounts(self, task: Task) -> list[Mount]:
        spec = first_container(task.Spec)
        assert spec is not None
        out = []
        for m in taskspec.host_mounts(spec, self.volumes, self.task_dir(task.ID) / "volumes"):
            if m.type == "tmpfs":
                out.append(Mount(m.target, None, type="tmpfs", read_only=m.read_only,
                                 tmpfs_size=m.tmpfs_size or None, tmpfs_mode=m.tmpfs_mode or None))
            else:
                out.append(Mount(m.target, m.source, type="bind", read_only=m.read_only, propagation=m.propagation))
        return out

    def _labels(self, task: Task, name: str) -> dict[str, str]:
        spec = first_container(task.Spec)
        assert spec is not None
        labels = dict(spec.Labels or {})
        labels.update({
            "com.docker.swarm.task.id": task.ID,
            "com.docker.swarm.task.name": name,
            "com.docker.swarm.node.id": task.NodeID,
            "com.docker.swarm.service.id": service_id_of(task),
            "com.docker.swarm.service.name": (task.ServiceAnnotations or {}).get("Name", ""),
            LABEL_TASK: task.ID,
            LABEL_OWNER: self.owner,
        })
        return {k: v for k, v in labels.items() if v or not k.startswith("com.docker.swarm.")}

    async def _create(self, task: Task, img: Image, mounts: list[Mount], pause: str = "") -> str:
        """The task's container; with ``pause``, in that container's network namespace (whose
        hostname, hosts and resolv.conf it shares: dockerd refuses them on such a container)."""
        spec = first_container(task.Spec)
        assert spec is not None
        lim = taskspec.limits(task)
        dns = spec.DNSConfig or {}
        name = container_name(task)
        if not service_id_of(task) or not NAME_RE.match(name):
            name = f"shoal-{task.ID}"
        security = ["no-new-privileges"] if (spec.Privileges or {}).get("NoNewPrivileges") else []

        sysctls = {k: v for k, v in (spec.Sysctls or {}).items() if not (pause and k.startswith("net."))}
        own_net = not pause

        def create() -> str:
            api = self.api()
            host_config = api.create_host_config(
                network_mode=f"container:{pause}" if pause else "none",
                mounts=mounts,
                read_only=bool(spec.ReadOnly),
                init=True if spec.Init else None,
                cap_add=spec.CapabilityAdd or None,
                cap_drop=spec.CapabilityDrop or None,
                sysctls=sysctls or None,
                ulimits=[Ulimit(name=n, soft=s, hard=h) for n, s, h in taskspec.ulimits(spec)] or None,
                mem_limit=lim.memory or None,
                mem_reservation=lim.memory_reservation or None,
                memswap_limit=lim.memory_swap,
                mem_swappiness=lim.swappiness,
                cpu_quota=lim.cpu_quota or None,
                cpu_period=lim.cpu_period if lim.cpu_quota else None,
                pids_limit=lim.pids or None,
                extra_hosts=([f"{n}:{ip}" for ip, names in extra_hosts(spec) for n in names] or None)
                if own_net else None,
                dns=(dns.get("Nameservers") or None) if own_net else None,
                dns_search=(dns.get("Search") or None) if own_net else None,
                dns_opt=(dns.get("Options") or None) if own_net else None,
                security_opt=security or None,
                oom_score_adj=spec.OomScoreAdj or None,
                group_add=spec.Groups or None,
                log_config=LogConfig(type="none"),
            )
            created = api.create_container(
                image=img.id,
                command=spec.Args or None,
                entrypoint=spec.Command or None,
                hostname=(spec.Hostname or task.ID[:12]) if own_net else None,
                user=spec.User or None,
                environment=[*(spec.Env or []), *resource_env(task)] or None,
                working_dir=spec.Dir or None,
                labels=self._labels(task, name),
                stop_signal=spec.StopSignal or None,
                healthcheck={"Test": ["NONE"]},  # the agent probes (``probe``)
                host_config=host_config,
                name=name,
            )
            return str(created["Id"])

        try:
            return await self._call(create)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            err = self._error("creating container failed", e)
            # dockerd refuses the container's configuration: this node can never run it.
            err.reject = isinstance(e, docker.errors.APIError) and e.is_client_error()
            raise err from e

    # ------------------------------------------------------------ run

    async def start(self, task: Task) -> Started:
        c = self.containers.get(task.ID)
        if c is None:
            raise RuntimeError_("task was not prepared")
        if c.exit is not None:
            raise RuntimeError_(f"container {task.ID} was already started")
        # Attached before it starts, so no output is lost (as ``docker run``).
        stream = await self._do("attaching to the container failed", "attach", c.id, stdout=True, stderr=True,
                                stream=True, logs=False, demux=True)
        try:
            await self._do("starting container failed", "start", c.id)
        except RuntimeError_:
            with contextlib.suppress(Exception):
                stream.close()
            await asyncio.to_thread(task_files.unmount, self.files_path(task.ID))
            raise
        loop = asyncio.get_running_loop()
        c.exit = loop.create_future()
        path = self.log_path(task.ID)
        copier = threading.Thread(target=self._copy_output, args=(stream, path), daemon=True,
                                  name=f"docker-logs-{task.ID[:12]}")
        copier.start()
        waiter = threading.Thread(target=self._wait_exit, args=(c, copier, loop), daemon=True,
                                  name=f"docker-wait-{task.ID[:12]}")
        waiter.start()
        c.threads = [copier, waiter]
        try:
            info = await self._do("", "inspect_container", c.id)
            c.pid = int((info.get("State") or {}).get("Pid") or 0)
        except RuntimeError_:
            c.pid = 0
        return Started(container_id=c.id, pid=c.pid)

    @staticmethod
    def _copy_output(stream: Any, path: Path) -> None:
        """The attach stream (``(stdout, stderr)`` chunks) into the task's log file, until it ends."""
        out, err = logs.LogWriter(path, "stdout"), logs.LogWriter(path, "stderr")
        try:
            for o, e in stream:
                if o:
                    out.feed(o)
                if e:
                    err.feed(e)
        except Exception as e:  # the connection went; the exit is still waited for
            log.warning("docker runtime: log stream of %s: %s", path.stem, e)
        finally:
            out.close()
            err.close()

    def _wait_exit(self, c: _Container, copier: threading.Thread, loop: asyncio.AbstractEventLoop) -> None:
        try:
            code = int(self.api().wait(c.id, timeout=None).get("StatusCode", 255))
        except Exception as e:
            log.warning("docker runtime: waiting for %s: %s", c.task_id, _explain(e))
            code = 255
        copier.join(DRAIN)
        with contextlib.suppress(RuntimeError):  # the loop is gone: the daemon is exiting
            loop.call_soon_threadsafe(lambda: loop.create_task(self._finish(c, code)))

    async def _finish(self, c: _Container, code: int) -> None:
        # Docker unmounts a container's secrets when it stops: so does this runtime.
        with contextlib.suppress(OSError):
            await asyncio.to_thread(task_files.unmount, self.files_path(c.task_id))
        if c.exit is not None and not c.exit.done():
            c.exit.set_result(code)

    async def stop(self, task_id: str, signal: str, grace: float) -> None:
        c = self.containers.get(task_id)
        if c is None or c.exit is None or c.exit.done():
            return
        sig = signal_number(signal or c.stop_signal)
        with contextlib.suppress(RuntimeError_):  # it may have exited meanwhile
            await self._do("", "kill", c.id, signal=sig)
        try:
            await asyncio.wait_for(asyncio.shield(c.exit), timeout=max(grace, 0.0))
        except TimeoutError:
            with contextlib.suppress(RuntimeError_):
                await self._do("", "kill", c.id, signal=int(signals.SIGKILL))
            await asyncio.shield(c.exit)

    async def remove(self, task_id: str, keep_logs: bool = False) -> None:
        c = self.containers.pop(task_id, None)
        ids = {c.id} if c is not None and c.id else set()
        with contextlib.suppress(RuntimeError_):  # and any other of this task (a crash's)
            ids.update(x["Id"] for x in await self._do("", "containers", all=True, filters=self._owned(task_id)))
        for cid in ids:
            with contextlib.suppress(RuntimeError_):
                await self._do("", "remove_container", cid, force=True, v=True)
        if c is not None and c.exit is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(c.exit), DRAIN + 5.0)
        await self._teardown(task_id)
        if not keep_logs:
            logs.remove(self.log_path(task_id))

    async def _teardown(self, task_id: str) -> None:
        """The task's tmpfs of files and its directory (anonymous volumes)."""
        await asyncio.to_thread(task_files.unmount, self.files_path(task_id))
        await asyncio.to_thread(shutil.rmtree, self.task_dir(task_id), True)

    # ------------------------------------------------------------ what the agent asks besides

    async def probe(self, task_id: str, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run a healthcheck in the container (``docker exec``: the container's user, environment and
        working directory); past its timeout the probe's process is killed."""
        c = self.containers.get(task_id)
        if c is None or c.exit is None or c.exit.done():
            return -1, "container is not running"
        try:
            exec_id = (await self._do("", "exec_create", c.id, argv))["Id"]
        except RuntimeError_ as e:
            return -1, e.message
        loop = asyncio.get_running_loop()
        run = loop.run_in_executor(self._pool, lambda: self.api().exec_start(exec_id))
        try:
            out = await asyncio.wait_for(asyncio.shield(run), timeout)
        except (TimeoutError, asyncio.CancelledError) as e:
            await self._kill_exec(exec_id)
            if isinstance(e, asyncio.CancelledError):
                raise
            return -1, f"Health check exceeded timeout ({timeout:g}s)"
        except Exception as e:
            return -1, _explain(e)
        try:
            code = (await self._do("", "exec_inspect", exec_id)).get("ExitCode")
        except RuntimeError_ as e:
            return -1, e.message
        text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
        return (code if isinstance(code, int) else -1), text[:4096]

    async def _kill_exec(self, exec_id: str) -> None:
        """dockerd cannot kill an exec: its process is signalled here (dockerd is local)."""
        with contextlib.suppress(RuntimeError_, OSError, ValueError, TypeError):
            pid = int((await self._do("", "exec_inspect", exec_id)).get("Pid") or 0)
            if pid > 0:
                os.kill(pid, signals.SIGKILL)
