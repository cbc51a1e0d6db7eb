"""The task state machine on the agent: one runner per assigned task, moving it one state at a time.

    assigned → accepted → preparing → ready → starting → running → complete | failed
                                   ↘ rejected (cannot run here)     any state → shutdown (when asked)

In ``preparing`` the task's image is pulled first when the node lacks it (``registry.Puller``, with the
registry credentials that came with the service); a task shut down meanwhile stops waiting at once.
A failed pull is only logged: the runtime then rejects the task (``No such image: …``), as Swarm does.
Then, for a runtime that joins network sandboxes, the node's network makes the task's sandbox
(``network/node.py``: its namespace, wired to its networks) and the runtime prepares the task to join
it; the sandbox is removed after the runtime removed the task (at once if preparing failed). A
runtime that cannot join one (``Networking.HOST``) gets no task on networks: it is rejected.
Every step is reported to the dispatcher before the next is taken, so ``docker service ps`` sees
each state. A step only ever moves forward. ``ready`` waits until the task's desired state is
``running`` (restart delays). A container with a healthcheck (``health.py``) stays ``starting``
until its first healthy probe; an unhealthy one is stopped and its task fails. When the desired
state goes past ``running`` the container is stopped with its stop signal, then SIGKILL after the
stop grace period (10 s by default), and the task is ``shutdown``. A job's task is wanted
``complete`` (SwarmKit's): it runs as a task wanted ``running`` does, and is never started again
once it exited; only a desired state past ``complete`` stops it. When the task is to be removed,
or is no longer assigned here, what the runtime made is removed.

A Pod's task on a runtime that runs several containers (``Runtime.multi_container``; ``runtime.base.
is_pod``) is run by a ``pod.Pod``: in ``starting`` its init containers run in order, each to
completion (one that fails for good fails the task), then its app containers all start and the task
is ``running``; a container that exits is restarted in place with Kubernetes' back-off
(at once, then ``restart_backoff``: 10 s by default, doubling to 5 min) while the others run on, and every change of
a container (its ``RestartCount``, exit code, state, readiness, its probes' events) is reported as a
new ``running`` status. Its probes (``probes.py``) reach the container from this node: commands through
the runtime's ``Prober``, connections to the Pod's address (``probes.NodeTarget``). A Swarm
task never goes this way: it ends when its container exits, and its service replaces it.

A Pod's task (``TaskSpec.Pod``) is made what the runtime runs in ``preparing`` (``podtask``): its
containers' environment from its fields and the Secrets and ConfigMaps of its namespace the node holds
(``objects``), its volumes (``volumes``: ``runtime/podvolumes.py``), its image pull policy. What
cannot be made yet (a Secret that is not there: ``CreateContainerConfigError``; a pull that failed:
``ErrImagePull``) keeps the task ``preparing``, its containers ``waiting`` with that reason, and is
tried again after the back-off or when the task changes, as the kubelet does. The task's status
carries its address (``Addresses``: the sandbox's first, the Pod's IP), when it was accepted
(``StartedAt``) and its init containers' statuses (``InitContainers``, also first in ``Containers``).

A running task with nothing to watch but its container's exit and its own changes holds no coroutine:
its runner *parks* (the coroutine ends, and the exit or a change starts a new one), so a node with a
hundred thousand running tasks does not keep a hundred thousand suspended tasks and their waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shoal import metrics
from shoal.agent import health, probes
from shoal.agent.flag import Flag
from shoal.agent.pod import DEFAULT_BACKOFF, Pod
from shoal.agent.podenv import ConfigError, NamedObjects, PodFields
from shoal.agent.podtask import NoObjects, image_policy, pull_auth, runtime_task
from shoal.api import template, timings
from shoal.api.defaults import DEFAULT_STOP_GRACE, SECOND
from shoal.api.states import STATE_MESSAGE, TaskState
from shoal.api.types import (
    ContainerStatus,
    NodeDescription,
    Task,
    TaskStatus,
    containers_of,
    first_container,
    now_ts,
)
from shoal.network.sandbox import Sandbox, SandboxError, Sandboxes
from shoal.runtime.base import Networking, Prober, Runtime, RuntimeError_, TaskFile, container_key, is_pod
from shoal.runtime.podvolumes import PodVolumes
from shoal.runtime.registry import Puller

log = logging.getLogger(__name__)

Reporter = Callable[[str, TaskStatus], Awaitable[None]]

LOST_ON_RESTART = "task: the container was lost when the node's daemon restarted"


def exit_error(code: int) -> str:
    return f"task: non-zero exit ({code})"


class TaskRunner:
    __slots__ = (
        "_health_task",
        "_report",
        "_task",
        "changed",
        "container_id",
        "exit",
        "files",
        "health",
        "host_ip",
        "network",
        "node",
        "objects",
        "on_end",
        "parked",
        "pid",
        "pod",
        "prepared",
        "puller",
        "retry",
        "runtime",
        "sandbox",
        "started_at",
        "status",
        "task",
        "unassigned",
        "volumes",
        "waiting_for_objects",
    )

    def __init__(self, task: Task, runtime: Runtime, report: Reporter, *,
                 files: Callable[[Task], list[TaskFile]] | None = None, node: NodeDescription | None = None,
                 puller: Puller | None = None, network: Sandboxes | None = None,
                 on_end: Callable[[], None] | None = None, restart_backoff: float = DEFAULT_BACKOFF,
                 objects: NamedObjects | None = None, volumes: PodVolumes | None = None, host_ip: str = "") -> None:
        self.task = task
        self.objects: NamedObjects = objects or NoObjects()  # a Pod's Secrets and ConfigMaps, by name
        self.volumes = volumes  # where a Pod's volumes are made (None: none are, hollow nodes)
        self.host_ip = host_ip  # this node's address (a Pod's status.hostIP)
        self.retry = restart_backoff  # how long a Pod that cannot be made yet waits to try again
        self.started_at = task.Status.StartedAt
        self.waiting_for_objects = False  # a Pod's containers wait for a Secret or ConfigMap (or its key)
        multi = runtime.multi_container
        # A Pod's containers, run one by one (None: the task's one container, as Swarm runs it).
        prober = runtime.prober
        probes = functools.partial(self._probe_target, prober) if prober is not None and task.Spec.Pod else None
        self.pod = (Pod(task, multi, backoff=restart_backoff, probe_target=probes)
                    if multi is not None and is_pod(task) else None)
        self.network = network if runtime.networking in (Networking.JOIN, Networking.HOLD) else None
        self.sandbox: Sandbox | None = None
        self.files = files  # the task's secrets and configs as files (the worker's dependencies)
        self.node = node or NodeDescription()  # this node, for the task's templates
        self.runtime = runtime
        self.puller = puller
        self._report = report
        self.status = task.Status
        self.changed = Flag()
        self.unassigned = False
        self.container_id = ""
        self.pid = 0
        self.prepared = False
        self.exit: asyncio.Future[int] | None = None
        self.health: health.Monitor | None = None
        self._health_task: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.parked = False
        self.on_end = on_end  # called once the runner is done for good (not when it parks)

    @property
    def state(self) -> TaskState:
        return self.status.State

    def start(self) -> None:
        if self.state == TaskState.ASSIGNED:
            timings.mark(self.task.ID, "agent:received")
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"task {self.task.ID}")
        self._task.add_done_callback(self._ended)

    def _ended(self, fut: asyncio.Task[None]) -> None:
        if fut is not self._task:
            return  # woken before this callback ran: a newer coroutine carries on
        if self.parked:
            self._task = None  # not even the finished task is kept
        elif self.on_end is not None:
            self.on_end()

    def _park(self) -> bool:
        """Running, and nothing to do until the container exits or the task changes: end the coroutine,
        and let either of them start the next one. False when something has happened already."""
        if self.exit is None or self.exit.done() or self.changed.is_set() or self.health is not None:
            return False
        self.parked = True
        self.exit.add_done_callback(self._wake)
        self.changed.on_set = self._wake
        return True

    def _unpark(self) -> bool:
        if not self.parked:
            return False
        self.parked = False
        self.changed.on_set = None
        if self.exit is not None:
            self.exit.remove_done_callback(self._wake)
        return True

    def _wake(self, _: object = None) -> None:
        if self._unpark():
            self.start()

    def update(self, task: Task) -> None:
        self.task = task
        if self.pod is not None:
            self.pod.update(task)
        self.changed.set()

    def unassign(self) -> None:
        self.unassigned = True
        self.changed.set()

    async def report(self, state: TaskState, *, err: str = "", message: str | None = None,
                     exit_code: int | None = None) -> None:
        cs = None
        inits: list[ContainerStatus] | None = None
        if self.pod is not None:
            cs = self.pod.statuses() if self.pod.started or self.task.Spec.Pod is not None else None
            inits = self.pod.init_statuses() if cs is not None else None
        elif self.container_id:  # the runtimes run one container per task: the task's first
            first = first_container(self.task.Spec)
            running = state == TaskState.RUNNING
            cs = [ContainerStatus(
                Name=first.Name if first else "", ContainerID=self.container_id, PID=self.pid if running else 0,
                ExitCode=exit_code or 0, State="running" if running else "terminated" if state.terminal else "waiting",
                Ready=running and (self.health is None or self.health.status == "healthy"))]
        if state == TaskState.ACCEPTED and not self.started_at:
            self.started_at = now_ts()
        addresses = [a.split("/")[0] for a in self.sandbox.addresses] if self.sandbox is not None else None
        self.status = TaskStatus(
            Timestamp=now_ts(), State=state, Message=message or STATE_MESSAGE.get(state, str(state)),
            Err=err, Containers=cs, InitContainers=inits, Addresses=addresses or self.status.Addresses,
            StartedAt=self.started_at,
        )
        await self._report(self.task.ID, self.status)

    async def wait_change(self) -> None:
        await self.changed.wait()
        self.changed.clear()

    # ------------------------------------------------------------------ the machine

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # A bug or an unexpected system error: end the task (so it is replaced) rather than leave it stuck.
            log.exception("task %s: runner failed", self.task.ID)
            if not self.state.terminal:
                state = TaskState.REJECTED if self.state < TaskState.STARTING else TaskState.FAILED
                with contextlib.suppress(Exception):
                    await self.report(state, err=str(e) or type(e).__name__)
        finally:
            if not self.parked:
                self._stop_health()
            if not self.parked and (self.unassigned or self.task.DesiredState >= TaskState.REMOVE):
                with contextlib.suppress(Exception):
                    await self._remove()

    async def _run(self) -> None:
        if TaskState.ASSIGNED < self.state <= TaskState.RUNNING and not self._started():
            # Assigned to us in an earlier life of this daemon; its container did not survive.
            await self.report(TaskState.FAILED, err=LOST_ON_RESTART, message="started")
        while not self.unassigned:
            desired = self.task.DesiredState
            state = self.state
            if state.terminal:
                if desired >= TaskState.REMOVE:
                    return
                await self.wait_change()
                continue
            if desired > TaskState.COMPLETE:  # a job's task is wanted complete: it runs
                await self._shutdown()
                continue
            if state == TaskState.ASSIGNED:
                await self.report(TaskState.ACCEPTED)
            elif state == TaskState.ACCEPTED:
                await self.report(TaskState.PREPARING)
            elif state == TaskState.PREPARING:
                try:
                    if not await self._pulled():
                        continue  # shut down (or unassigned) while the image was coming
                    task = template.expand_task(self.task, self.task.NodeID, self.node)
                    files = self.files(self.task) if self.files else []  # (templated ones expanded)
                    self._refuse_networks(task)
                    timings.mark(task.ID, "agent:preparing")
                    if self.network is not None:
                        self.sandbox = await self.network.create_sandbox(task)
                    if task.Spec.Pod is not None:
                        task = runtime_task(task, self.objects, self._fields(), self.volumes)
                    await self.runtime.prepare(task, files, self.sandbox)
                    timings.mark(task.ID, "runc:prepared")
                    self.prepared = True
                except ConfigError as e:
                    await self._not_yet(e)
                    continue
                except template.TemplateError as e:
                    await self.report(TaskState.REJECTED, err=str(e))
                    continue
                except (RuntimeError_, SandboxError) as e:
                    self._remove_volumes()
                    await self._remove_sandbox()
                    reject = isinstance(e, RuntimeError_) and e.reject
                    await self.report(TaskState.REJECTED if reject else TaskState.FAILED, err=e.message)
                    continue
                except BaseException:
                    self._remove_volumes()
                    await self._remove_sandbox()
                    raise
                if self.pod is not None:
                    self.pod.waiting = ("ContainerCreating", "")
                    self.pod.container_waiting.clear()
                await self.report(TaskState.READY)
            elif state == TaskState.READY:
                if desired in (TaskState.RUNNING, TaskState.COMPLETE):
                    await self.report(TaskState.STARTING)
                else:
                    await self.wait_change()
            elif state == TaskState.STARTING and self.pod is not None:
                await self._start_pod(self.pod)
            elif state == TaskState.RUNNING and self.pod is not None:
                end = await self.pod.watch(self.changed)
                if self.changed.is_set():
                    self.changed.clear()
                if end is None:
                    if self.pod.statuses() != self.status.Containers:  # a container exited or restarted in place
                        await self.report(TaskState.RUNNING)
                elif end[0]:
                    await self.report(TaskState.COMPLETE, exit_code=0)
                else:
                    await self.report(TaskState.FAILED, err=end[1])
            elif state == TaskState.STARTING:
                if self.exit is None:
                    timings.mark(self.task.ID, "agent:starting")
                    begin = time.perf_counter()
                    try:
                        started = await self.runtime.start(self.task)
                    except RuntimeError_ as e:
                        await self.report(TaskState.REJECTED if e.reject else TaskState.FAILED, err=e.message)
                        continue
                    metrics.container_started(time.perf_counter() - begin)
                    self.container_id, self.pid = started.container_id, started.pid
                    timings.mark(self.task.ID, "runc:started")
                    self.exit = self.runtime.exit_future(self.task.ID)
                    self.exit.add_done_callback(metrics.container_exited)
                    self._watch_health()
                if self.health is None or self.health.status == "healthy":
                    timings.mark(self.task.ID, "agent:running")
                    await self.report(TaskState.RUNNING)
                else:  # a healthcheck: starting until its first healthy probe, as Swarm's
                    await self._watch()
            elif state == TaskState.RUNNING:
                if self._park():
                    return
                await self._watch()
            else:
                await self.wait_change()
        if not self.state.terminal:
            await self._shutdown()

    def _started(self) -> bool:
        """Whether a container of the task has been started (by this runner)."""
        return self.exit is not None or (self.pod is not None and self.pod.started)

    async def _start_pod(self, pod: Pod) -> None:
        """The init containers in order, then the app containers; ``running`` once they all started."""
        if not pod.apps_started:
            err = await pod.run_init(self.changed)
            if err is None:  # the task changed meanwhile: look at it again, then carry on
                self.changed.clear()
                return
            if err:
                await self.report(TaskState.FAILED, err=err)
                return
            err = await pod.start_apps()
            if err:
                await pod.stop()
                await self.report(TaskState.FAILED, err=err)
                return
        await self.report(TaskState.RUNNING)

    def _probe_target(self, prober: Prober, name: str) -> probes.Target:
        """Where a Pod's container is probed from: this node (``probes.NodeTarget``)."""
        def pod_ip() -> str:
            sb = self.sandbox
            return sb.addresses[0].split("/")[0] if sb is not None and sb.addresses else "127.0.0.1"

        def netns() -> str | None:
            return str(self.sandbox.netns) if self.sandbox is not None else None

        def inside() -> bool:  # on networks (not the node's default bridge): dial from the Pod's namespace
            return self.sandbox is not None and bool(self.sandbox.networks) and self.sandbox.mode != "host"

        return probes.NodeTarget(prober, container_key(self.task.ID, name), pod_ip, netns, inside)

    def _fields(self) -> PodFields:
        """What the downward API tells of the Pod beyond its task."""
        pod_ip = self.sandbox.addresses[0].split("/")[0] if self.sandbox is not None and self.sandbox.addresses else ""
        res = self.node.Resources
        return PodFields(node_name=(self.node.Hostname or self.task.NodeID).lower(), pod_ip=pod_ip,
                         host_ip=self.host_ip, node_cpus=res.NanoCPUs, node_memory=res.MemoryBytes)

    async def _not_yet(self, e: ConfigError) -> None:
        """A Pod's containers cannot be made yet: say why, undo what was made, and wait for the task to
        change or the back-off to pass before trying again."""
        self._remove_volumes()
        await self._remove_sandbox()
        if self.pod is not None and e.container:
            self.pod.container_waiting[e.container] = (e.reason, e.message)
        elif self.pod is not None:
            self.pod.waiting = (e.reason, e.message)
        await self.report(TaskState.PREPARING, err=e.message)
        if self.pod is not None and e.reason == "ErrImagePull":  # then the kubelet's back-off of the pull
            image = next((c.Image for c in containers_of(self.task.Spec) if c.Name == e.container), "")
            self.pod.container_waiting[e.container] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            await self.report(TaskState.PREPARING, err=e.message)
        self.waiting_for_objects = True
        try:
            await asyncio.wait([self.changed.future()], timeout=self.retry)
        finally:
            self.waiting_for_objects = False
        self.changed.clear()

    def _remove_volumes(self) -> None:
        if self.volumes is not None and self.task.Spec.Pod is not None:
            self.volumes.remove(self.task.ID)

    def _refuse_networks(self, task: Task) -> None:
        """A runtime that cannot join a network namespace runs no task on networks."""
        if self.runtime.networking is Networking.HOST and task.NetworksAttachments:
            nets = ", ".join(a.Network.Spec.Name or a.Network.ID for a in task.NetworksAttachments)
            raise RuntimeError_(f"the {self.runtime.name} runtime cannot join a network namespace: tasks on networks "
                                f"({nets}) need --runtime runc or docker", reject=True)

    async def _remove_sandbox(self) -> None:
        # Forgotten only once removed: a removal cut short (the daemon stopping cancels the runner)
        # is done again by the next one.
        if self.sandbox is not None and self.network is not None:
            await self.network.remove_sandbox(self.task.ID)
            self.sandbox = None

    async def _remove(self, keep_logs: bool = False) -> None:
        """What the runtime made for the task, then its sandbox."""
        try:
            await self.runtime.remove(self.task.ID, keep_logs=keep_logs)
        finally:
            self._remove_volumes()
            await self._remove_sandbox()

    async def _pulled(self) -> bool:
        """Pull the task's image if the node lacks it (each of a Pod's containers' images, in turn);
        False when the task should no longer start."""
        specs = containers_of(self.task.Spec) if self.pod is not None else [first_container(self.task.Spec)]
        for spec in specs:
            if self.puller is None or spec is None:
                continue
            policy = image_policy(spec)
            missing = self.puller.needs_pull(spec.Image)
            if policy == "Never":
                if missing:
                    raise ConfigError("ErrImageNeverPull", f'Container image "{spec.Image}" is not present with '
                                                           "pull policy of Never", spec.Name)
                continue
            if not missing and not (policy == "Always" and self._pullable(spec.Image)):
                continue
            auth = spec.PullOptions.RegistryAuth if spec.PullOptions else ""
            pull = self.puller.pull(spec.Image, auth or pull_auth(self.task, spec.Image, self.objects))
            if self.pod is not None and self.task.Spec.Pod is not None:  # the kubelet's Pulling
                self.pod.container_waiting[spec.Name] = ("Pulling", "")
                await self.report(TaskState.PREPARING)
            while not pull.done():
                waiting: list[asyncio.Future[Any]] = [pull, self.changed.future()]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if self.changed.is_set():
                    self.changed.clear()
                    if self.unassigned or self.task.DesiredState > TaskState.COMPLETE:
                        return False
            failed = None if pull.cancelled() else pull.exception()
            if self.pod is not None:
                self.pod.container_waiting.pop(spec.Name, None)
            if failed is not None and self.task.Spec.Pod is not None and self.puller.needs_pull(spec.Image):
                raise ConfigError("ErrImagePull", f'failed to pull and unpack image "{spec.Image}": {failed}',
                                  spec.Name)
        return True

    @staticmethod
    def _pullable(image: str) -> bool:
        """Whether the image's name says which registry serves it (``host[:port]/name``): ``Always``
        pulls only those again (a name without one is the node's own, or Docker Hub's)."""
        first = image.split("/")[0]
        return "/" in image and ("." in first or ":" in first or first == "localhost")

    def _watch_health(self) -> None:
        """Start probing the container if it has a healthcheck (the service's over the image's)."""
        prober = self.runtime.prober
        if prober is None:
            return
        spec = first_container(self.task.Spec)
        check = health.effective(spec.Healthcheck if spec else None, prober.image_healthcheck(self.task.ID))
        if check is None:
            return
        self.health = health.Monitor(check, functools.partial(prober.probe, self.task.ID))
        self._health_task = asyncio.ensure_future(self.health.run())

    def _stop_health(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            self._health_task = None

    async def _watch(self) -> None:
        """Wait for the container to exit, the task to change, or its health to change."""
        assert self.exit is not None
        waiting: list[asyncio.Future[Any]] = [self.exit, self.changed.future()]
        if self.health is not None:
            waiting.append(self.health.changed.future())
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if self.exit.done():
            self._stop_health()
            code = self.exit.result()
            if code == 0:
                await self.report(TaskState.COMPLETE, exit_code=0)
            else:
                await self.report(TaskState.FAILED, err=exit_error(code), exit_code=code)
        elif self.health is not None and self.health.status == "unhealthy":
            # Swarm stops an unhealthy container and fails its task; the restart policy does the rest.
            self._stop_health()
            await self._stop_container()
            code = await self.exit
            await self.report(TaskState.FAILED, err=f"{exit_error(code)}: {health.UNHEALTHY}", exit_code=code)
        else:
            if self.health is not None:
                self.health.changed.clear()
            self.changed.clear()

    async def _stop_container(self) -> None:
        """The stop signal, then SIGKILL after the stop grace period."""
        if self.pod is not None:
            await self.pod.stop()
        if self.exit is not None and not self.exit.done():
            spec = first_container(self.task.Spec)
            grace_ns = spec.StopGracePeriod if spec and spec.StopGracePeriod is not None else DEFAULT_STOP_GRACE
            signal = (spec.StopSignal if spec else "") or ""
            await self.runtime.stop(self.task.ID, signal, grace_ns / SECOND)

    async def _shutdown(self) -> None:
        code: int | None = None
        self._stop_health()
        await self._stop_container()
        if self.exit is not None:
            code = await self.exit
        await self.report(TaskState.SHUTDOWN, exit_code=code)

    @property
    def stop_grace(self) -> float:
        """Seconds the task's containers are given to stop (the longest, for a Pod; a deletion's own)."""
        if self.task.DeletionGracePeriodSeconds is not None:
            return float(self.task.DeletionGracePeriodSeconds)
        pod = self.task.Spec.Pod
        fallback = pod.TerminationGracePeriodSeconds * SECOND if pod is not None else DEFAULT_STOP_GRACE
        specs = containers_of(self.task.Spec) if self.pod is not None else [first_container(self.task.Spec)]
        graces = [s.StopGracePeriod if s is not None and s.StopGracePeriod is not None else fallback for s in specs]
        return max(graces, default=fallback) / SECOND

    async def stop_for_exit(self, removals: asyncio.Semaphore | None = None) -> None:
        """The daemon is stopping: stop the container now and report the task shut down, then remove
        it (``removals``: how many tasks' removals may run at once). It can be cancelled (the daemon's
        stop deadline): what it has not removed, the next start cleans."""
        self._unpark()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # this stop itself is cancelled, not only the runner's task
            except Exception:
                pass
        if not self.state.terminal and self._started():
            with contextlib.suppress(Exception):
                await self._shutdown()
        # The task stays in the store (its logs too); its container goes, like dockerd's on shutdown.
        async with removals if removals is not None else contextlib.nullcontext():
            with contextlib.suppress(Exception):
                await self._remove(keep_logs=True)
