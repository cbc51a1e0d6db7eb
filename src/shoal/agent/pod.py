"""The containers of a Pod's task on the agent: init containers in order, then the app containers,
each restarted in place with Kubernetes' back-off.

A task whose runtime runs several containers (``Runtime.multi_container``) and that is a Pod's
(``runtime.base.is_pod``: several containers, init containers, or an owner that is not a service) is
run by a ``Pod`` inside its ``TaskRunner``: the runner keeps the task's states (``starting`` while
the init containers run, ``running`` once the app containers are started, then ``complete``,
``failed`` or ``shutdown``), the ``Pod`` keeps one ``ContainerStatus`` per container and decides,
when a container exits, whether it runs again:

* **Init containers** run one at a time, in order, each to completion before the next starts. One
  that exits non-zero fails the task when the restart policy is ``none`` (Kubernetes' ``Never``):
  ``init container <name>: non-zero exit (<code>)``; under ``on-failure`` or ``any`` (and by default:
  Kubernetes' ``Always``) it runs again after the back-off, and the next does not start meanwhile.
* **App containers** all start once the last init container has exited 0. One that exits is run
  again in place, under the same task, when the policy says so (``any``: always; ``on-failure``: on a
  non-zero exit; ``none``: never); its ``RestartCount`` grows and its last exit code is kept. The
  others keep running, untouched. When every app container has exited and none is to run again,
  the task ends: ``complete`` when they all exited 0, else ``failed`` (the first non-zero one named).
  One that could not start (the runtime refused: ``StartError``, 128) counts as one that exited.
* **Back-off** (Kubernetes' kubelet): the first restart of a container comes at once (the kubelet
  has no back-off entry for it yet), the n-th after that waits ``base * 2**(n-2)``, at most
  ``30 * base`` (``base`` 10 s: 0, 10 s, 20 s, 40 s … 5 min), whatever ended the run (an exit, a
  failed liveness or startup probe). A run that lasted more than twice the cap (10 min) since its
  last restart starts the count over, as the kubelet's entry expires then. ``base`` is the runner's
  ``restart_backoff`` (tests set it small); time is the Pod's clock (the event loop's by default).

Each status says it in Kubernetes' words too: ``Reason`` ``ContainerCreating`` (or
``PodInitializing`` for an app container while the init containers run; or what the executor set
with ``waiting``: ``CreateContainerConfigError``, ``ErrImagePull``) before it first runs,
``CrashLoopBackOff`` while it waits out its back-off, ``Completed`` / ``Error`` / ``OOMKilled`` once
terminated (OOM as the runtime saw it in the container's cgroup); ``StartedAt`` / ``FinishedAt``,
``LastState`` (how its previous run ended) and ``Image``.

**Probes** (``probes.py``): while an app container runs, a ``Worker`` per probe of its
(``ContainerSpec.Pod.Probes``) runs it every ``periodSeconds`` against ``probe_target(name)`` (what
the runner gives: exec in the container, connections to the Pod's address); none when the runner
gives no target. The container is ``Started`` once its startup probe passed (at once without one) and
``Ready`` while it runs, has started and its readiness probe's verdict is a success (without one: as
soon as it started). A liveness or startup verdict of failure kills it (``Killing`` ``Container <c>
failed liveness probe, will be restarted``; its stop signal, then SIGKILL after the probe's
``terminationGracePeriodSeconds`` or the Pod's), and it runs again as after any exit, whatever its
exit code, unless the policy is ``Never``. Each probe failure and each kill is a ``ContainerEvent``
in the container's status (the last ``EVENTS_KEPT``, numbered): the manager writes them as the
kubelet's events. ``probed`` is set whenever any of that changes, and ``watch`` returns then.

Not yet (what a Pod still lacks here): a fresh writable layer per restart (the restarted container
keeps its filesystem).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shoal import metrics
from shoal.agent.flag import Flag
from shoal.agent.probes import LIVENESS, READINESS, STARTUP, ProbeEvent, Target, Worker
from shoal.api.defaults import DEFAULT_STOP_GRACE, SECOND
from shoal.api.humanize import go_duration
from shoal.api.types import ContainerEvent, ContainerSpec, ContainerStatus, LastTermination, Task, now_ts
from shoal.runtime.base import MultiContainer, RuntimeError_

DEFAULT_BACKOFF = 10.0  # s, Kubernetes' back-off base (its second restart's delay); the cap is 30 times it (5 min)
KUBE_POLICY = {"Always": "any", "OnFailure": "on-failure", "Never": "none"}  # Kubernetes' → Swarm's
START_FAILED = 128  # the exit code kept for a container that could not be started
EVENTS_KEPT = 8  # a container's last events kept in its status


def backoff_delay(base: float, restarts: int) -> float:
    """The wait before a container's ``restarts``-th restart (1 for the first, which waits nothing:
    the kubelet's back-off of a container starts at its first restart)."""
    if restarts <= 1:
        return 0.0
    return min(base * 2 ** (restarts - 2), 30 * base)


def backoff_expired(base: float, ran: float) -> bool:
    """Whether a run of ``ran`` seconds since the last restart starts the back-off over (the
    kubelet forgets an entry not moved for twice the cap)."""
    return ran > 2 * 30 * base


@dataclass(eq=False)
class _Container:
    spec: ContainerSpec
    init: bool
    exit: asyncio.Future[int] | None = None  # of the process now running (or that ran last)
    container_id: str = ""
    pid: int = 0
    code: int = 0
    restarts: int = 0  # times it was run again (Kubernetes' restartCount)
    exits: int = 0  # times it exited to run again: the back-off's exponent
    not_before: float | None = None  # waiting to run again (the back-off) from this loop time on
    done: bool = False  # exited, and will not run again
    started_at: str = ""
    finished_at: str = ""
    reason: str = ""  # how its last run ended (Completed, Error, OOMKilled; StartError: it could not start)
    message: str = ""
    last: LastTermination | None = None  # how the run before the last one ended
    delay: float = 0.0  # the back-off it waits out (s)
    pod: str = ""  # the Pod as the kubelet names it in messages: <name>_<namespace>(<uid>)
    workers: list[Worker] = field(default_factory=list)  # its probes
    probing: list[asyncio.Task[None]] = field(default_factory=list)  # their loops while it runs
    killer: asyncio.Task[None] | None = None  # stopping it for a failed probe
    probe_killed: bool = False  # its run was ended by a failed liveness or startup probe
    run_started: float = 0.0  # when (the Pod's clock) its current run started (was last tried)
    events: list[ContainerEvent] = field(default_factory=list)
    seq: int = 0

    @property
    def running(self) -> bool:
        return self.exit is not None and not self.exit.done()

    def worker(self, kind: str) -> Worker | None:
        return next((w for w in self.workers if w.kind == kind), None)

    @property
    def startup_done(self) -> bool:
        w = self.worker(STARTUP)
        return w is None or w.verdict is True

    @property
    def ready(self) -> bool:
        if not self.running or not self.startup_done:
            return False
        w = self.worker(READINESS)
        return w is None or w.verdict is True

    def termination(self) -> LastTermination:
        return LastTermination(ExitCode=self.code, Reason=self.reason, StartedAt=self.started_at,
                               FinishedAt=self.finished_at, ContainerID=self.container_id)

    def status(self, waiting: tuple[str, str] = ("ContainerCreating", "")) -> ContainerStatus:
        """Its status; ``waiting``: the reason and message of a container that never ran yet."""
        running = self.running
        # Waiting out its back-off, a container is ``waiting`` (Kubernetes' CrashLoopBackOff), its last exit kept.
        ended = self.exit is not None and self.not_before is None
        state = "running" if running else "terminated" if ended else "waiting"
        out = ContainerStatus(Name=self.spec.Name, ContainerID=self.container_id, PID=self.pid if running else 0,
                              ExitCode=self.code, State=state, RestartCount=self.restarts, Ready=self.ready,
                              Image=self.spec.Image, Events=list(self.events) or None)
        if self.worker(STARTUP) is not None:
            out.Started = running and self.startup_done
        if running:
            out.StartedAt = self.started_at
            out.LastState = self.last
        elif ended:
            out.Reason, out.Message = self.reason, self.message
            out.StartedAt, out.FinishedAt = self.started_at, self.finished_at
            out.LastState = self.last
        elif self.exit is not None:  # in its back-off
            out.Reason = "CrashLoopBackOff"
            delay = go_duration(round(self.delay * 1e9))
            out.Message = f"back-off {delay} restarting failed container={self.spec.Name} pod={self.pod}"
            out.LastState = self.termination()
        else:
            out.Reason, out.Message = waiting
        return out


class Pod:
    """The containers of one task and their lifecycle (see the module's docstring)."""

    def __init__(self, task: Task, runtime: MultiContainer, *, backoff: float = DEFAULT_BACKOFF,
                 clock: Callable[[], float] | None = None,
                 probe_target: Callable[[str], Target] | None = None,
                 probe_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.task = task
        self.runtime = runtime
        self.backoff = backoff
        self.clock = clock or (lambda: asyncio.get_running_loop().time())
        self.probe_target = probe_target  # a container's probe target by name (None: no probes run)
        self.probed = Flag()  # a probe's verdict or event changed a container's status
        self.probe_sleep = probe_sleep  # how a probe waits out its period (tests make it short)
        name = f"{task.Name}_{task.Namespace}({task.ID})"
        self.inits = [_Container(s, True, pod=name) for s in task.Spec.InitContainers or []]
        self.apps = [_Container(s, False, pod=name) for s in task.Spec.Containers]
        for c in self.apps:
            self._make_workers(c)
        self.next_init = 0
        self.apps_started = False
        self.waiting: tuple[str, str] = ("ContainerCreating", "")  # why the containers have not run yet
        # Why one container has not run yet, over ``waiting`` (its image: Pulling, ErrImagePull, ...).
        self.container_waiting: dict[str, tuple[str, str]] = {}
        policy = task.Spec.RestartPolicy
        self.policy = (policy.Condition if policy is not None else None) or "any"
        if task.Spec.Pod is not None:  # a Pod's own words win: Always, OnFailure, Never
            self.policy = KUBE_POLICY.get(task.Spec.Pod.RestartPolicy, self.policy)

    def update(self, task: Task) -> None:
        """The task as it is now (its deletion's grace period, its containers' stop settings)."""
        self.task = task
        specs = {s.Name: s for s in (*(task.Spec.InitContainers or []), *task.Spec.Containers)}
        for c in (*self.inits, *self.apps):
            c.spec = specs.get(c.spec.Name, c.spec)

    @property
    def started(self) -> bool:
        """Whether any container of the task has been started."""
        return any(c.exit is not None for c in (*self.inits, *self.apps))

    def statuses(self) -> list[ContainerStatus]:
        """One per container, init containers first."""
        inits_done = self.next_init >= len(self.inits)
        app_wait = self.waiting if inits_done or self.waiting[0] != "ContainerCreating" else ("PodInitializing", "")
        own = self.container_waiting
        return [*(c.status(own.get(c.spec.Name, self.waiting)) for c in self.inits),
                *(c.status(own.get(c.spec.Name, app_wait)) for c in self.apps)]

    def init_statuses(self) -> list[ContainerStatus] | None:
        """The init containers' (as in ``statuses``); None when the task has none."""
        return [c.status(self.container_waiting.get(c.spec.Name, self.waiting)) for c in self.inits] or None

    def _restarts(self, c: _Container, code: int) -> bool:
        if c.init:
            return code != 0 and self.policy != "none"
        if c.probe_killed:  # killed for a failed probe: it runs again unless the Pod says Never
            return self.policy != "none"
        return self.policy == "any" or (self.policy == "on-failure" and code != 0)

    # ------------------------------------------------------------ probes

    def _make_workers(self, c: _Container) -> None:
        probes = c.spec.Pod.Probes if c.spec.Pod is not None else None
        if probes is None or self.probe_target is None:
            return
        target = self.probe_target(c.spec.Name)
        for kind, probe in ((STARTUP, probes.Startup), (LIVENESS, probes.Liveness), (READINESS, probes.Readiness)):
            if probe is not None:
                c.workers.append(Worker(kind, probe, c.spec, c, target, functools.partial(self._event, c),
                                        functools.partial(self._verdict, c), clock=self.clock,
                                        sleep=self.probe_sleep))

    def _event(self, c: _Container, ev: ProbeEvent) -> None:
        c.seq += 1
        c.events = [*c.events, ContainerEvent(Seq=c.seq, Type=ev.type, Reason=ev.reason,
                                              Message=ev.message)][-EVENTS_KEPT:]
        self.probed.set()

    def _verdict(self, c: _Container, w: Worker) -> None:
        if w.verdict is False and w.kind in (LIVENESS, STARTUP) and c.running and c.killer is None:
            c.probe_killed = True
            self._event(c, ProbeEvent("Normal", "Killing",
                                      f"Container {c.spec.Name} failed {w.kind.lower()} probe, will be restarted"))
            grace = w.probe.TerminationGracePeriodSeconds
            c.killer = asyncio.get_running_loop().create_task(
                self._stop(c, None if grace is None else float(grace)), name=f"probe kill {c.spec.Name}")
        self.probed.set()

    def _start_probing(self, c: _Container) -> None:
        c.run_started = self.clock()
        for w in c.workers:
            w.reset()
        loop = asyncio.get_running_loop()
        c.probing = [loop.create_task(w.loop(), name=f"probe {w.kind} {c.spec.Name}") for w in c.workers]

    @staticmethod
    async def _stop_probing(c: _Container) -> None:
        tasks, c.probing = c.probing, []
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _start(self, c: _Container) -> None:
        c.run_started = self.clock()
        if c.exit is not None:
            c.restarts += 1
            c.last = c.termination()
        begin = time.perf_counter()
        try:
            started = await self.runtime.start_container(self.task, c.spec.Name)
        except RuntimeError_ as e:
            fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            fut.set_result(START_FAILED)
            c.exit, c.pid = fut, 0
            c.started_at = c.finished_at = now_ts()
            c.reason, c.message = "StartError", e.message
            raise
        c.started_at, c.finished_at, c.reason, c.message = now_ts(), "", "", ""
        c.container_id, c.pid = started.container_id, started.pid
        c.exit = self.runtime.container_exit(self.task.ID, c.spec.Name)
        metrics.container_started(time.perf_counter() - begin)
        c.exit.add_done_callback(metrics.container_exited)
        c.not_before = None
        c.probe_killed, c.killer = False, None
        if c.workers:
            self._start_probing(c)

    def _exited(self, c: _Container) -> None:
        """Record a container's exit, and when (if ever) it runs again."""
        assert c.exit is not None
        c.code = c.exit.result()
        self._ended(c)
        if self._restarts(c, c.code):
            if c.exits and backoff_expired(self.backoff, self.clock() - c.run_started):
                c.exits = 0
            c.exits += 1
            c.delay = backoff_delay(self.backoff, c.exits)
            c.not_before = self.clock() + c.delay
        else:
            c.done = True

    def _ended(self, c: _Container) -> None:
        """Its end in Kubernetes' words (a start that failed keeps its own)."""
        if c.reason == "StartError":
            return
        c.finished_at = c.finished_at or now_ts()
        if self.runtime.container_oom_killed(self.task.ID, c.spec.Name):
            c.reason = "OOMKilled"
        else:
            c.reason = "Completed" if c.code == 0 else "Error"

    async def _wait(self, futures: list[asyncio.Future[Any]], until: float | None) -> None:
        timeout = None if until is None else max(until - self.clock(), 0.0)
        await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)

    async def run_init(self, changed: Flag) -> str | None:
        """Run the init containers that have not completed, in order: "" once they all exited 0; the
        task's error when one failed for good (or could not start); None when the task changed first
        (call again to carry on)."""
        while self.next_init < len(self.inits):
            c = self.inits[self.next_init]
            if not c.running:
                if c.not_before is not None and c.not_before > self.clock():
                    await self._wait([changed.future()], c.not_before)
                    if changed.is_set():
                        return None
                    continue
                if c.exit is None or c.not_before is not None:
                    try:
                        await self._start(c)
                    except RuntimeError_ as e:
                        return f"init container {c.spec.Name}: {e.message}"
            assert c.exit is not None
            if not c.exit.done():
                await self._wait([c.exit, changed.future()], None)
                if not c.exit.done():
                    return None
            self._exited(c)
            if c.code == 0:
                self.next_init += 1
            elif c.done:
                return f"init container {c.spec.Name}: non-zero exit ({c.code})"
        return ""

    async def start_apps(self) -> str:
        """Start every app container. One that could not start is as one that exited (128, reason
        ``StartError``, its message the runtime's): it runs again after its back-off if the restart
        policy says so, as the kubelet does, while the others run. Returns "" (kept for callers that
        tell an error)."""
        self.apps_started = True
        for c in self.apps:
            try:
                await self._start(c)
            except RuntimeError_:
                self._exited(c)
        return ""

    @staticmethod
    def _unseen(c: _Container) -> bool:
        """It exited, and that was not recorded yet."""
        return c.exit is not None and c.exit.done() and not c.done and c.not_before is None

    async def watch(self, changed: Flag) -> tuple[bool, str] | None:
        """Wait for an app container to exit, one to be due for its restart, or the task to change;
        restart what is due. The task's end when every app container is done for good (``(True, "")``
        complete, ``(False, err)`` failed); None while it runs on (report ``statuses`` again)."""
        waiting: list[asyncio.Future[Any]] = [changed.future(), self.probed.future()]
        waiting += [c.exit for c in self.apps if c.running and c.exit is not None]
        due = [c.not_before for c in self.apps if c.not_before is not None]
        # One that exited before this call (while the others were starting) is seen at once.
        if not any(self._unseen(c) for c in self.apps) and not self.probed.is_set():
            await self._wait(waiting, min(due) if due else None)
        self.probed.clear()
        for c in self.apps:
            if self._unseen(c):
                await self._stop_probing(c)
                self._exited(c)
        now = self.clock()
        for c in self.apps:
            if c.not_before is not None and c.not_before <= now and not changed.is_set():
                try:
                    await self._start(c)
                except RuntimeError_:
                    self._exited(c)
        if all(c.done for c in self.apps):
            failed = next((c for c in self.apps if c.code != 0), None)
            if failed is None:
                return True, ""
            return False, f"container {failed.spec.Name}: non-zero exit ({failed.code})"
        return None

    async def stop(self) -> None:
        """Stop every running container (its stop signal, then SIGKILL after its grace period) and
        wait for them all; none runs again."""
        running = [c for c in (*self.inits, *self.apps) if c.running]
        for c in (*self.inits, *self.apps):
            c.not_before = None
            c.done = c.done or c.exit is not None
            await self._stop_probing(c)
        await asyncio.gather(*(self._stop(c) for c in running))
        for c in self.apps:
            if c.killer is not None:
                await asyncio.gather(c.killer, return_exceptions=True)
        for c in running:
            assert c.exit is not None
            c.code = await c.exit
            self._ended(c)

    async def _stop(self, c: _Container, probe_grace: float | None = None) -> None:
        """Its stop signal, then SIGKILL after its grace period (``probe_grace``: a failed probe's own)."""
        grace_ns = c.spec.StopGracePeriod if c.spec.StopGracePeriod is not None else DEFAULT_STOP_GRACE
        pod = self.task.Spec.Pod
        if self.task.DeletionGracePeriodSeconds is not None:  # deleted: the grace the deletion gave
            grace_ns = self.task.DeletionGracePeriodSeconds * SECOND
        elif probe_grace is not None:
            grace_ns = int(probe_grace * SECOND)
        elif c.spec.StopGracePeriod is None and pod is not None:  # the Pod's terminationGracePeriodSeconds
            grace_ns = pod.TerminationGracePeriodSeconds * SECOND
        await self.runtime.stop_container(self.task.ID, c.spec.Name, c.spec.StopSignal or "", grace_ns / SECOND)
