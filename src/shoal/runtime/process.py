"""The ``process`` runtime: a task's command runs as a plain host process.

For unprivileged development and fast tests. The image still has to exist (so a missing image is
rejected as on runc) and gives the command, environment and stop signal; the process runs in the
host's namespaces, from a per-task working directory, in its own process group (so stopping it
stops what it started). Output goes through the same log pipes as runc. Its secrets and configs
are files at their container paths under ``$SHOAL_FILES`` (``<exec-root>/process/<task>/files``, so
``$SHOAL_FILES/run/secrets/db_pass``), removed with the task: host processes share the host's
``/run``, so the paths cannot be the container's own. A host process cannot join a network sandbox
(``networking = HOST``): the agent refuses tasks on networks here, and the others share the host's
network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal as signals
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoal.api.types import ContainerSpec, Task, first_container
from shoal.runtime import files as task_files
from shoal.runtime import logs, private
from shoal.runtime.base import Networking, Prober, RuntimeError_, Started, TaskFile, resource_env, task_image
from shoal.runtime.images import ImageStore

if TYPE_CHECKING:
    from shoal.network.sandbox import Sandbox


# Processes the runtimes run to completion (runc's commands) are started and waited for on these
# threads, not on the event loop: under load (100 tasks on 2 cores) a fork and exec, and asyncio's
# watcher thread for each child, held the loop for 10-400 ms a process, 1.5-2 s in every 20 s.
_SPAWNER = ThreadPoolExecutor(max_workers=16, thread_name_prefix="spawn")


async def spawn(argv: Sequence[str], *, stdout: int | None = subprocess.DEVNULL,
                stderr: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` to its end off the event loop (stdin from /dev/null); raises OSError if it cannot start."""
    def run() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)

    return await asyncio.get_running_loop().run_in_executor(_SPAWNER, run)


def signal_number(name: str | int | None) -> int:
    if not name:
        return signals.SIGTERM
    if isinstance(name, int) or str(name).isdigit():
        return int(name)
    n = str(name).upper()
    if not n.startswith("SIG"):
        n = "SIG" + n
    try:
        return int(signals.Signals[n])
    except KeyError as e:
        raise RuntimeError_(f"invalid signal: {name}") from e


def command_of(task: Task, image_config: dict, container: ContainerSpec | None = None) -> list[str]:
    """Docker's rule: ``Command`` replaces the image's entrypoint (and then its CMD too); ``Args``
    replaces the image's CMD. Of ``container``, by default the task's first."""
    spec = container or first_container(task.Spec)
    assert spec is not None
    if spec.Command:
        argv = list(spec.Command) + list(spec.Args or [])
    else:
        argv = list(image_config.get("Entrypoint") or []) + list(
            spec.Args if spec.Args else image_config.get("Cmd") or []
        )
    if not argv:
        raise RuntimeError_("no command specified", reject=True)
    return argv


def env_of(task: Task, image_config: dict, hostname: str, container: ContainerSpec | None = None) -> dict[str, str]:
    env: dict[str, str] = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    spec = container or first_container(task.Spec)
    for item in [*(image_config.get("Env") or []), *((spec.Env if spec else None) or []), *resource_env(task)]:
        k, _, v = item.partition("=")
        env[k] = v
    env.setdefault("HOSTNAME", hostname)
    return env


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); "" if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@dataclass
class _Proc:
    proc: asyncio.subprocess.Process | None = None
    exit: asyncio.Future[int] | None = None
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""
    healthcheck: dict[str, Any] | None = None  # the image's HEALTHCHECK


class ProcessRuntime:
    name = "process"
    networking = Networking.HOST
    multi_container = None  # one container per task
    uses_images = True

    @property
    def prober(self) -> Prober | None:
        return self

    def exit_future(self, task_id: str) -> asyncio.Future[int]:
        return asyncio.ensure_future(self.wait(task_id))

    def __init__(self, data_root: Path, images: ImageStore, exec_root: Path | None = None) -> None:
        self.root = Path(data_root) / "process"
        self.logs = Path(data_root) / "logs"
        # Each task's secret and config files, at their container paths under <exec-root>/process/<task>
        # (a tmpfs: /run/shoal by default); the task finds them through $SHOAL_FILES.
        self.files_root = Path(exec_root if exec_root is not None else data_root) / "process"
        self.root.mkdir(parents=True, exist_ok=True)
        private.make_dir(self.logs)
        self.images = images
        self.procs: dict[str, _Proc] = {}

    def log_path(self, task_id: str) -> Path:
        return self.logs / f"{task_id}.log"

    async def cleanup(self) -> None:
        """Kill the process groups a crashed daemon left running (checked by start time, so a reused
        PID is never hit), and remove their directories."""
        for d in self.root.iterdir():
            with contextlib.suppress(OSError, ValueError):
                pid_s, start_s = (d / "pid").read_text().split()
                pid = int(pid_s)
                if _start_time(pid) == start_s:
                    os.killpg(pid, signals.SIGKILL)
            shutil.rmtree(d, ignore_errors=True)
        if self.files_root != self.root and self.files_root.is_dir():
            for d in self.files_root.iterdir():
                shutil.rmtree(d, ignore_errors=True)

    async def prepare(self, task: Task, files: Sequence[TaskFile] = (), sandbox: Sandbox | None = None) -> None:
        spec, img = task_image(self.images, task)
        cfg = img.container_config
        workdir = self.root / task.ID
        workdir.mkdir(parents=True, exist_ok=True)
        hostname = spec.Hostname or task.ID[:12]
        env = env_of(task, cfg, hostname)
        if files:
            root = self.files_root / task.ID / "files"
            shutil.rmtree(root, ignore_errors=True)
            for f in files:
                task_files.write(root / task_files.relative(f.target), f)
            env["SHOAL_FILES"] = str(root)
        self.procs[task.ID] = _Proc(argv=command_of(task, cfg), env=env, cwd=str(workdir),
                                    healthcheck=cfg.get("Healthcheck"))

    async def start(self, task: Task) -> Started:
        p = self.procs.get(task.ID)
        if p is None:
            raise RuntimeError_("task was not prepared")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            p.proc = await asyncio.create_subprocess_exec(
                *p.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out_w, stderr=err_w, cwd=p.cwd, env=p.env,
                start_new_session=True,
            )
        except OSError as e:
            os.close(out_r)
            os.close(err_r)
            raise RuntimeError_(f"starting container failed: {e.strerror}: {p.argv[0]}") from e
        finally:
            os.close(out_w)
            os.close(err_w)
        path = self.log_path(task.ID)
        p.pumps = [asyncio.ensure_future(logs.pump(out_r, logs.LogWriter(path, "stdout"))),
                   asyncio.ensure_future(logs.pump(err_r, logs.LogWriter(path, "stderr")))]
        p.exit = asyncio.ensure_future(self._wait(p))
        with contextlib.suppress(OSError):
            (Path(p.cwd) / "pid").write_text(f"{p.proc.pid} {_start_time(p.proc.pid)}")
        return Started(container_id=task.ID, pid=p.proc.pid)

    async def _wait(self, p: _Proc) -> int:
        assert p.proc is not None
        rc = await p.proc.wait()
        await asyncio.gather(*p.pumps, return_exceptions=True)
        return 128 - rc if rc < 0 else rc

    def image_healthcheck(self, task_id: str) -> dict[str, Any] | None:
        p = self.procs.get(task_id)
        return p.healthcheck if p is not None else None

    async def probe(self, task_id: str, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run a healthcheck as the task runs: on the host, in its directory, with its environment."""
        p = self.procs.get(task_id)
        if p is None:
            return -1, "container is not running"
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, cwd=p.cwd, env=p.env, start_new_session=True)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signals.SIGKILL)
            await proc.wait()
            return -1, f"Health check exceeded timeout ({timeout:g}s)"
        return proc.returncode or 0, out.decode(errors="replace")[:4096]

    async def wait(self, task_id: str) -> int:
        p = self.procs[task_id]
        assert p.exit is not None
        return await p.exit

    async def stop(self, task_id: str, signal: str, grace: float) -> None:
        p = self.procs.get(task_id)
        if p is None or p.proc is None or p.exit is None or p.exit.done():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.proc.pid, signal_number(signal))
        try:
            await asyncio.wait_for(asyncio.shield(p.exit), timeout=grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.proc.pid, signals.SIGKILL)
            await p.exit

    async def remove(self, task_id: str, keep_logs: bool = False) -> None:
        p = self.procs.pop(task_id, None)
        if p is not None and p.proc is not None and p.exit is not None and not p.exit.done():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.proc.pid, signals.SIGKILL)
            await p.exit
        shutil.rmtree(self.root / task_id, ignore_errors=True)
        shutil.rmtree(self.files_root / task_id, ignore_errors=True)
        if not keep_logs:
            logs.remove(self.log_path(task_id))

    async def close(self) -> None:
        for tid in list(self.procs):
            await self.remove(tid)


def abandon_queued_work() -> None:
    """The daemon is exiting: processes not yet started are not started (``spawn``'s queue dropped)."""
    _SPAWNER.shutdown(wait=False, cancel_futures=True)
