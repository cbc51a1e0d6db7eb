"""The agent's worker: holds the session with the dispatcher and a runner per assigned task.

On start it registers the node (its description: hostname, platform, CPUs, memory, engine labels) at
once while, in the background, the runtime, then the node's network, clean what a previous run left;
once they are done it follows the assignment stream — keeping the secrets and configs that come with
it (``dependencies``), starting a runner for each new task, passing changes on, unassigning tasks
that went away, handing the managers' view of the networks to the node's network
(``network/node.py``) — and heartbeats every period with a little jitter. On stop it stops every
container and reports the tasks shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import platform
import random
import socket
import time
from typing import TYPE_CHECKING, Protocol

from shoal import ENGINE_VERSION
from shoal.agent.dependencies import Dependencies
from shoal.agent.executor import TaskRunner
from shoal.agent.pod import DEFAULT_BACKOFF
from shoal.api.types import (
    EngineDescription,
    GenericResource,
    NodeDescription,
    NodeSystem,
    Platform,
    Resources,
    Task,
    TaskStatus,
)
from shoal.protocol import Assignments
from shoal.runtime.base import Runtime, TaskFile
from shoal.runtime.podvolumes import PodVolumes
from shoal.runtime.registry import Puller

if TYPE_CHECKING:
    from shoal.network.node import NodeNetwork

log = logging.getLogger(__name__)

STOP_REPORT_TIMEOUT = 2.0
SHUTDOWN_TIMEOUT = 15.0  # s: dockerd's --shutdown-timeout default
SHUTDOWN_GRACE = 5.0  # s: beyond the longest stop grace period, as dockerd's
REMOVALS_AT_ONCE = 16
CANCEL_WAIT = 1.0  # s: for the removals cut short at the deadline to unwind
CLEANUP_NOTE = 2.0  # s: a cleanup of the previous run's leftovers that took longer is logged


class AgentSession(Protocol):
    async def assignments(self) -> Assignments | None: ...

    async def heartbeat(self) -> float: ...

    async def update_task_status(self, updates: list[tuple[str, TaskStatus]]) -> None: ...


class Registrar(Protocol):
    async def register(self, node_id: str, description: NodeDescription, addr: str,
                       role: str = "worker", kube_network: bool = False) -> AgentSession: ...


def mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@functools.cache  # read once a process (``shoal sim`` describes thousands of nodes)
def os_image() -> str:
    """The operating system's name (``PRETTY_NAME`` of os-release), as the kubelet reports it."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.strip().partition("=")
                    if key == "PRETTY_NAME":
                        return value.strip('"')
        except OSError:
            continue
    return ""


def describe_node(hostname: str = "", labels: dict[str, str] | None = None, cpus: int = 0,
                  memory: int = 0, generic: list[GenericResource] | None = None, runtime: str = "",
                  runtime_version: str = "") -> NodeDescription:
    return NodeDescription(
        Hostname=hostname or socket.gethostname(),
        Platform=Platform(Architecture=platform.machine(), OS="linux"),
        Resources=Resources(NanoCPUs=(cpus or os.cpu_count() or 1) * 1_000_000_000, MemoryBytes=memory or mem_total(),
                            GenericResources=generic or None),
        Engine=EngineDescription(
            EngineVersion=ENGINE_VERSION,
            Labels=labels or None,
            Plugins=[{"Type": "Log", "Name": "json-file"}, {"Type": "Network", "Name": "bridge"},
                     {"Type": "Network", "Name": "host"}, {"Type": "Network", "Name": "overlay"},
                     {"Type": "Volume", "Name": "local"}],
        ),
        System=NodeSystem(KernelVersion=platform.release(), OSImage=os_image(), Runtime=runtime,
                          RuntimeVersion=runtime_version) if runtime else None,
    )


class Worker:
    def __init__(self, node_id: str, runtime: Runtime, registrar: Registrar, description: NodeDescription,
                 addr: str, role: str = "worker", puller: Puller | None = None,
                 network: NodeNetwork | None = None, pod_volumes: PodVolumes | None = None,
                 pod_backoff: float = DEFAULT_BACKOFF) -> None:
        self.node_id = node_id
        self.runtime = runtime
        self.network = network  # the tasks' sandboxes and the node's view of the networks (None: no sandboxes)
        self.puller = puller
        self.registrar = registrar
        self.description = description
        self.addr = addr
        self.role = role
        self.runners: dict[str, TaskRunner] = {}
        self.dependencies = Dependencies()  # the secrets and configs of the assigned tasks, in memory
        self.pod_volumes = pod_volumes  # where Pods' volumes are made (None: not on this node)
        self.pod_backoff = pod_backoff  # a Pod's container's back-off base (its second restart's delay)
        self.session: AgentSession | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._cleaned: asyncio.Task[None] | None = None  # the previous run's leftovers being cleaned

    async def start(self) -> None:
        """Register and heartbeat at once; clean what a previous run left in the background, and follow
        the assignments once that is done. A node that a ``kill -9`` left with a thousand containers
        answers its API and holds its session within seconds; its tasks start after the cleanup."""
        self._cleaned = asyncio.get_running_loop().create_task(self._cleanup(), name="agent-cleanup")
        await self._bind()

    async def _cleanup(self) -> None:
        """What the previous run left; a failure is logged, and the assignments are followed anyway
        (a leftover in the way of a task fails that task, in its own words)."""
        t0 = time.monotonic()
        try:
            await self.runtime.cleanup()
            if self.pod_volumes is not None:
                await asyncio.to_thread(self.pod_volumes.cleanup)
            if self.network is not None:  # after the runtime's: a pause container holds a namespace
                await self.network.cleanup()
        except Exception:
            log.exception("cleaning what the previous run left")
        if time.monotonic() - t0 > CLEANUP_NOTE:
            log.info("cleaned what the previous run left in %.1f s", time.monotonic() - t0)

    async def _bind(self) -> None:
        """Register through the registrar, then follow the assignments and heartbeat."""
        self.session = await self.registrar.register(self.node_id, self.description, self.addr, self.role,
                                                     kube_network=self.network is not None)
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._follow()), loop.create_task(self._heartbeats())]

    async def _cancel_loops(self) -> None:
        for t in self._loops:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def rebind(self, registrar: Registrar) -> None:
        """Hold the session through another registrar from now on (a manager that moved its state
        to the managers' quorum). Tasks keep running; the new session's full assignment reconciles."""
        await self._cancel_loops()
        self.registrar = registrar
        await self._bind()

    async def _report(self, task_id: str, status: TaskStatus) -> None:
        assert self.session is not None
        if not self._stopping:
            await self.session.update_task_status([(task_id, status)])
            return
        # Stopping: the last reports go out if a manager is there to take them, but never hold the stop.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.session.update_task_status([(task_id, status)]), STOP_REPORT_TIMEOUT)

    async def _follow(self) -> None:
        assert self.session is not None
        if self._cleaned is not None:
            await asyncio.shield(self._cleaned)  # a rebind while cleaning must not cancel the cleanup
        while True:
            msg = await self.session.assignments()
            if msg is None:
                return
            self.dependencies.apply(msg)  # before the tasks that need them are prepared
            if msg.secrets or msg.configs:  # a Pod waiting for one of them tries again now
                for r in self.runners.values():
                    if r.waiting_for_objects:
                        r.changed.set()
            if msg.full:
                keep = {t.ID for t in msg.tasks}
                for tid in list(self.runners):
                    if tid not in keep:
                        self._unassign(tid)
            for t in msg.tasks:
                self._assign(t)
            for tid in msg.removed:
                self._unassign(tid)
            if msg.peers is not None and self.network is not None:
                try:
                    await self.network.set_view(msg.peers, msg.endpoints or {}, msg.ingress or {},
                                                msg.encryption or {})
                except Exception:  # the overlay's forwarding must never stop the assignments
                    log.exception("updating the view of the networks")
            if msg.kube is not None and self.network is not None:
                await self.network.set_kube_view(msg.kube)  # each consumer's errors are its own
            if msg.podnet is not None and self.network is not None:
                await self.network.set_pod_network(msg.podnet)  # the node's pod block and the others'

    def _files(self, t: Task) -> list[TaskFile]:
        """The task's secrets and configs as files, templated ones expanded with this node."""
        return self.dependencies.files(t, self.description)

    def _assign(self, t: Task) -> None:
        r = self.runners.get(t.ID)
        if r is None:
            r = TaskRunner(t, self.runtime, self._report, files=self._files, node=self.description,
                           puller=self.puller, network=self.network, on_end=functools.partial(self._done, t.ID),
                           objects=self.dependencies, volumes=self.pod_volumes, host_ip=self.addr,
                           restart_backoff=self.pod_backoff)
            self.runners[t.ID] = r
            r.start()
        else:
            r.update(t)

    def _unassign(self, tid: str) -> None:
        r = self.runners.get(tid)
        if r is not None:
            r.unassign()

    def _done(self, tid: str) -> None:
        self.runners.pop(tid, None)

    async def _heartbeats(self) -> None:
        assert self.session is not None
        period = 1.0
        while True:
            try:
                period = await self.session.heartbeat()
            except Exception:  # a heartbeat that failed must not end the heartbeats (the node would go down)
                log.exception("heartbeat")
            await asyncio.sleep(period * random.uniform(0.8, 1.0))

    async def stop(self, deadline: bool = False) -> None:
        """Stop and remove every container, and report the tasks shut down. With ``deadline`` (the
        daemon is exiting), give up removing at dockerd's shutdown timeout: the next start removes what
        is left. Without (``swarm leave``), wait until all are removed."""
        self._stopping = True
        await self._cancel_loops()
        if self._cleaned is not None and not self._cleaned.done():
            self._cleaned.cancel()  # the next start cleans again
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._cleaned
        runners = list(self.runners.values())
        # As dockerd's shutdown timeout: 15 s, or the longest stop grace period and 5 s more.
        limit = max([SHUTDOWN_TIMEOUT, *(r.stop_grace + SHUTDOWN_GRACE for r in runners)])
        # Every container is stopped at once (their grace periods run side by side); their removals
        # go a few at a time, so that at the deadline little removal work is queued in the threads.
        removals = asyncio.Semaphore(REMOVALS_AT_ONCE)
        stops = [asyncio.ensure_future(r.stop_for_exit(removals)) for r in runners]
        pending: set[asyncio.Future[None]] = set()
        if stops:
            _, pending = await asyncio.wait(stops, timeout=limit if deadline else None)
            if pending:
                log.warning("stopping: %d of %d tasks not stopped and removed within %.0f s; the next start "
                            "removes what is left", len(pending), len(stops), limit)
                for t in pending:
                    t.cancel()
                await asyncio.wait(pending, timeout=CANCEL_WAIT)
        self.runners.clear()
        if self.network is not None:  # first: a sandbox left behind is removed while its holder can
            # Given up: the sandboxes still here stay for the next start's cleanup, as the containers.
            await self.network.close(keep_sandboxes=bool(deadline and stops and pending))
        await self.runtime.close()
