"""The agent's task state machine (TaskRunner) over the in-memory FakeRuntime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from shoal.agent.executor import LOST_ON_RESTART, TaskRunner
from shoal.agent.pod import backoff_delay
from shoal.api.ids import new_id
from shoal.api.pod import PodContainer, PodSpecExtra, Probe, Probes
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    ContainerStatus,
    Network,
    NetworkAttachment,
    NetworkSpec,
    ObjectRef,
    PullOptions,
    RestartPolicy,
    Task,
    TaskSpec,
    TaskStatus,
    clone,
)
from shoal.network.sandbox import Sandbox, SandboxError
from shoal.runtime.base import Networking, RuntimeError_
from shoal.runtime.fake import FakeRuntime

from ..helpers import until

S = TaskState
UP = [S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING]


class Recorder:
    """A reporter that records every status, and checks no report ever moves a task backwards."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, TaskStatus]] = []

    async def __call__(self, task_id: str, status: TaskStatus) -> None:
        prev = self.last(task_id)
        if prev is not None:
            assert status.State >= prev.State, f"{task_id}: {prev.State} -> {status.State} moves backwards"
        self.reports.append((task_id, status))

    def states(self, task_id: str) -> list[TaskState]:
        return [s.State for tid, s in self.reports if tid == task_id]

    def last(self, task_id: str) -> TaskStatus | None:
        for tid, s in reversed(self.reports):
            if tid == task_id:
                return s
        return None


def task(image: str = "busybox", *, state: TaskState = S.ASSIGNED, desired: TaskState = S.RUNNING,
         grace: int | None = None, signal: str = "") -> Task:
    return Task(
        ID=new_id(),
        Owner=ObjectRef(Kind="Service", ID="svc"),
        Slot=1,
        NodeID="node1",
        Spec=TaskSpec(Containers=[ContainerSpec(Image=image, StopGracePeriod=grace, StopSignal=signal)]),
        Status=TaskStatus(State=state),
        DesiredState=desired,
    )


class Agent:
    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime
        self.rec = Recorder()
        self.runners: list[TaskRunner] = []

    def run(self, t: Task) -> TaskRunner:
        r = TaskRunner(t, self.runtime, self.rec)
        r.start()
        self.runners.append(r)
        return r

    async def reach(self, t: Task, state: TaskState) -> None:
        await until(lambda: self.rec.last(t.ID) is not None and self.rec.last(t.ID).State == state,
                    timeout=1.0, what=f"{t.ID} to report {state}")

    async def idle(self) -> None:
        """Let the runners take every step they can (they have nothing left to do once they wait)."""
        for _ in range(50):
            await asyncio.sleep(0)


@pytest.fixture
async def agent() -> AsyncIterator[Agent]:
    a = Agent(FakeRuntime(images={"busybox:latest"}))
    yield a
    for r in a.runners:
        if r._task is not None and not r._task.done():
            r._task.cancel()
            with contextlib.suppress(BaseException):
                await r._task


def want(t: Task, desired: TaskState) -> Task:
    c = clone(t)
    c.DesiredState = desired
    return c


async def test_runs_through_each_state_once_in_order(agent: Agent) -> None:
    t = task()
    agent.run(t)
    await agent.reach(t, S.RUNNING)
    await agent.idle()
    assert agent.rec.states(t.ID) == UP
    last = agent.rec.last(t.ID)
    assert last.Message == "started" and last.Err == ""
    assert last.Containers[0] is not None and last.Containers[0].ContainerID == f"fake-{t.ID}"
    assert last.Containers[0].PID > 0
    msgs = [s.Message for tid, s in agent.rec.reports]
    assert msgs == ["accepted", "preparing", "prepared", "starting", "started"]
    assert agent.runtime.call_names() == ["prepare", "start", "wait"]


async def test_the_status_has_one_entry_per_container(agent: Agent) -> None:
    t = task()
    t.Spec.Containers[0].Name = "main"
    agent.run(t)
    await agent.reach(t, S.RUNNING)
    (cs,) = agent.rec.last(t.ID).Containers
    assert (cs.Name, cs.State, cs.Ready, cs.ContainerID) == ("main", "running", True, f"fake-{t.ID}")
    agent.runtime.finish(t.ID, 3)
    await agent.reach(t, S.FAILED)
    (cs,) = agent.rec.last(t.ID).Containers
    assert (cs.State, cs.Ready, cs.ExitCode, cs.PID) == ("terminated", False, 3, 0)


async def test_exit_zero_completes(agent: Agent) -> None:
    t = task()
    agent.run(t)
    await agent.reach(t, S.RUNNING)
    agent.runtime.finish(t.ID, 0)
    await agent.reach(t, S.COMPLETE)
    last = agent.rec.last(t.ID)
    assert last.Err == "" and last.Message == "finished"
    assert last.Containers[0].ExitCode == 0 and last.Containers[0].PID == 0
    assert agent.rec.states(t.ID) == [*UP, S.COMPLETE]


async def test_non_zero_exit_fails(agent: Agent) -> None:
    t = task()
    agent.run(t)
    await agent.reach(t, S.RUNNING)
    agent.runtime.finish(t.ID, 1)
    await agent.reach(t, S.FAILED)
    last = agent.rec.last(t.ID)
    assert last.Err == "task: non-zero exit (1)"
    assert last.Containers[0].ExitCode == 1
    await agent.idle()
    assert agent.rec.states(t.ID) == [*UP, S.FAILED]  # and nothing after


async def test_desired_ready_waits_at_ready(agent: Agent) -> None:
    t = task(desired=S.READY)
    r = agent.run(t)
    await agent.reach(t, S.READY)
    await agent.idle()
    assert agent.rec.states(t.ID) == [S.ACCEPTED, S.PREPARING, S.READY]
    assert "start" not in agent.runtime.call_names()
    r.update(want(t, S.READY))  # an unrelated update: still waiting
    await agent.idle()
    assert agent.rec.states(t.ID)[-1] == S.READY
    r.update(want(t, S.RUNNING))
    await agent.reach(t, S.RUNNING)
    assert agent.rec.states(t.ID) == UP


@pytest.mark.parametrize(
    ("grace", "signal", "expected_grace", "expected_signal"),
    [(None, "", 10.0, ("", "SIGTERM")), (3_000_000_000, "SIGINT", 3.0, ("SIGINT",))],
)
async def test_shutdown_while_running_stops_with_grace_and_signal(
    agent: Agent, grace: int | None, signal: str, expected_grace: float, expected_signal: tuple[str, ...]
) -> None:
    t = task(grace=grace, signal=signal)
    r = agent.run(t)
    await agent.reach(t, S.RUNNING)
    r.update(want(t, S.SHUTDOWN))
    await agent.reach(t, S.SHUTDOWN)
    (stop,) = [c for c in agent.runtime.calls if c[0] == "stop"]
    assert stop[1] == t.ID
    assert stop[2] in expected_signal
    assert stop[3] == pytest.approx(expected_grace)
    assert agent.rec.states(t.ID) == [*UP, S.SHUTDOWN]
    last = agent.rec.last(t.ID)
    assert last.Err == "" and last.Message == "shutdown"
    assert last.Containers[0].ExitCode == (130 if signal == "SIGINT" else 143)


async def test_shutdown_before_start_does_not_start(agent: Agent) -> None:
    t = task(desired=S.READY)
    r = agent.run(t)
    await agent.reach(t, S.READY)
    r.update(want(t, S.SHUTDOWN))
    await agent.reach(t, S.SHUTDOWN)
    assert "start" not in agent.runtime.call_names() and "stop" not in agent.runtime.call_names()
    assert agent.rec.states(t.ID) == [S.ACCEPTED, S.PREPARING, S.READY, S.SHUTDOWN]


async def test_missing_image_is_rejected(agent: Agent) -> None:
    t = task("x")
    agent.run(t)
    await agent.reach(t, S.REJECTED)
    last = agent.rec.last(t.ID)
    assert last.Err == "No such image: x"
    await agent.idle()
    assert agent.rec.states(t.ID) == [S.ACCEPTED, S.PREPARING, S.REJECTED]
    assert "start" not in agent.runtime.call_names()


async def test_an_unexpected_runtime_error_ends_the_task(agent: Agent) -> None:
    t = task()
    agent.runtime.fail_prepare[t.ID] = OSError(28, "No space left on device")
    r = agent.run(t)
    await agent.idle()
    assert r._task is not None
    last = agent.rec.last(t.ID)
    assert last is not None and last.State in (S.FAILED, S.REJECTED)
    assert "No space left on device" in last.Err


async def test_a_start_error_fails_the_task(agent: Agent) -> None:
    t = task()
    agent.runtime.fail_start[t.ID] = RuntimeError_("starting container failed: no such file: /app")
    agent.run(t)
    await agent.reach(t, S.FAILED)
    assert agent.rec.last(t.ID).Err == "starting container failed: no such file: /app"
    assert agent.rec.states(t.ID) == [*UP[:-1], S.FAILED]


async def test_a_task_found_running_after_a_daemon_restart_is_lost(agent: Agent) -> None:
    t = task(state=S.RUNNING)
    agent.run(t)
    await agent.reach(t, S.FAILED)
    last = agent.rec.last(t.ID)
    assert last.Err == LOST_ON_RESTART
    await agent.idle()
    assert agent.rec.states(t.ID) == [S.FAILED]
    assert agent.runtime.calls == []  # nothing restarted behind the orchestrator's back


async def test_an_assigned_task_after_a_daemon_restart_runs(agent: Agent) -> None:
    t = task(state=S.ASSIGNED)
    agent.run(t)
    await agent.reach(t, S.RUNNING)


async def test_remove_after_stop_cleans_up(agent: Agent) -> None:
    t = task()
    r = agent.run(t)
    await agent.reach(t, S.RUNNING)
    agent.runtime.finish(t.ID, 0)
    await agent.reach(t, S.COMPLETE)
    assert "remove" not in agent.runtime.call_names()  # a stopped task keeps its container for logs
    r.update(want(t, S.REMOVE))
    await until(lambda: r._task is not None and r._task.done(), what="the runner to end")
    assert ("remove", t.ID, False) in agent.runtime.calls


async def test_unassign_stops_and_removes(agent: Agent) -> None:
    t = task()
    r = agent.run(t)
    await agent.reach(t, S.RUNNING)
    r.unassign()
    await until(lambda: r._task is not None and r._task.done(), what="the runner to end")
    assert agent.rec.states(t.ID)[-1] == S.SHUTDOWN
    names = agent.runtime.call_names()
    assert names.index("stop") < names.index("remove")
    assert not agent.runtime.running(t.ID)


async def test_stop_for_exit_keeps_logs(agent: Agent) -> None:
    t = task()
    r = agent.run(t)
    await agent.reach(t, S.RUNNING)
    await r.stop_for_exit()
    assert agent.rec.states(t.ID)[-1] == S.SHUTDOWN
    assert ("remove", t.ID, True) in agent.runtime.calls
    assert not agent.runtime.running(t.ID)


# ---------------------------------------------------------------- the fake itself


async def test_fake_runtime_contract() -> None:
    rt = FakeRuntime(images={"busybox", "reg.example:5000/app:1.0"})
    t = task("busybox:latest")
    await rt.prepare(t)
    await rt.prepare(task("reg.example:5000/app:1.0"))
    with pytest.raises(RuntimeError_) as ei:
        await rt.prepare(task("reg.example:5000/app"))
    assert ei.value.reject and ei.value.message == "No such image: reg.example:5000/app"
    started = await rt.start(t)
    assert started.container_id == f"fake-{t.ID}" and rt.running(t.ID)
    await rt.stop(t.ID, "SIGKILL", 1.0)
    assert await rt.wait(t.ID) == 137
    rt2 = FakeRuntime(ignore_stop=True)  # every image exists
    t2 = task("anything")
    await rt2.prepare(t2)
    await rt2.start(t2)
    await rt2.stop(t2.ID, "", 10.0)
    assert await rt2.wait(t2.ID) == 137
    assert rt2.calls_for(t2.ID) == [("prepare", t2.ID), ("start", t2.ID), ("stop", t2.ID, "", 10.0),
                                    ("wait", t2.ID)]
    with pytest.raises(KeyError):
        rt2.finish("nope", 0)
    await rt2.close()
    assert rt2.closed and not rt2.running(t2.ID)


# ---------------------------------------------------------------- pulling in ``preparing``


class FakePuller:
    """Stands in for ``registry.Puller``: the pull completes (adding the image to the fake runtime)
    or fails when the test says so."""

    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime
        self.calls: list[tuple[str, str]] = []
        self.pending: asyncio.Future[None] | None = None

    def needs_pull(self, image: str) -> bool:
        assert self.runtime.images is not None
        return image not in self.runtime.images

    def pull(self, image: str, registry_auth: str = "") -> asyncio.Future[None]:
        self.calls.append((image, registry_auth))
        self.pending = asyncio.get_running_loop().create_future()
        return self.pending

    def finish(self, ok: bool) -> None:
        assert self.pending is not None
        if ok:
            self.runtime.add_image(self.calls[-1][0])
            self.pending.set_result(None)
        else:
            self.pending.set_exception(RuntimeError("manifest unknown"))


def pull_task(image: str, auth: str = "") -> Task:
    t = task(image)
    assert t.Spec.Containers[0] is not None
    if auth:
        t.Spec.Containers[0].PullOptions = PullOptions(RegistryAuth=auth)
    return t


async def pulling(agent: Agent, image: str, auth: str = "") -> tuple[FakePuller, Task, TaskRunner]:
    """A task whose image the node lacks, run up to ``preparing``: its pull has started."""
    puller = FakePuller(agent.runtime)
    t = pull_task(image, auth)
    r = TaskRunner(t, agent.runtime, agent.rec, puller=puller)  # type: ignore[arg-type]
    r.start()
    agent.runners.append(r)
    await agent.reach(t, S.PREPARING)
    return puller, t, r


async def test_pulls_a_missing_image_while_preparing(agent: Agent) -> None:
    puller, t, _ = await pulling(agent, "reg.example:5000/app:1.2", "b64auth")
    await agent.idle()
    assert puller.calls == [("reg.example:5000/app:1.2", "b64auth")] and agent.runtime.call_names() == []
    puller.finish(ok=True)
    await agent.reach(t, S.RUNNING)
    assert agent.rec.states(t.ID) == UP


async def test_failed_pull_is_rejected_by_the_runtime(agent: Agent) -> None:
    puller, t, _ = await pulling(agent, "reg.example:5000/nosuch:1.0")
    puller.finish(ok=False)
    await agent.reach(t, S.REJECTED)
    assert agent.rec.last(t.ID).Err == "No such image: reg.example:5000/nosuch:1.0"


async def test_shutdown_while_pulling_stops_waiting(agent: Agent) -> None:
    puller, t, r = await pulling(agent, "reg.example:5000/slow:1")
    r.update(want(t, S.SHUTDOWN))
    await agent.reach(t, S.SHUTDOWN)
    assert agent.runtime.call_names() == []  # never prepared
    assert puller.pending is not None and not puller.pending.done()  # the pull itself is not ours to cancel


# ---------------------------------------------------------------- parking


async def parked(agent: Agent) -> tuple[Task, TaskRunner, list[str]]:
    """A task run up to running, its runner parked; and the list its ``on_end`` appends to."""
    t = task()
    ended: list[str] = []
    r = TaskRunner(t, agent.runtime, agent.rec, on_end=lambda: ended.append(t.ID))
    r.start()
    agent.runners.append(r)
    await agent.reach(t, S.RUNNING)
    await agent.idle()
    assert r.parked and r._task is None
    return t, r, ended


async def test_a_running_task_holds_no_coroutine_until_it_exits(agent: Agent) -> None:
    t, r, ended = await parked(agent)
    r.update(clone(t))  # a change that asks nothing: the runner wakes, looks, and parks again
    await agent.idle()
    assert r.parked and agent.rec.states(t.ID) == UP and ended == []
    agent.runtime.finish(t.ID, 3)
    await agent.reach(t, S.FAILED)
    await agent.idle()
    assert not r.parked and ended == []  # ended, kept until the task is to be removed
    r.update(want(t, S.REMOVE))
    await until(lambda: ended == [t.ID], what="the runner to end")


async def test_a_parked_task_is_shut_down_and_removed_when_asked(agent: Agent) -> None:
    t, r, ended = await parked(agent)
    r.update(want(t, S.SHUTDOWN))
    await agent.reach(t, S.SHUTDOWN)
    await agent.idle()
    assert r.parked is False and ended == []  # shut down, kept (its desired state may go back)
    r.update(want(t, S.REMOVE))
    await until(lambda: ended == [t.ID], what="the runner to end")
    assert ("remove", t.ID, False) in agent.runtime.calls


async def test_stopping_the_daemon_shuts_a_parked_task_down_once(agent: Agent) -> None:
    t, r, _ = await parked(agent)
    await r.stop_for_exit()
    await agent.idle()
    assert agent.rec.states(t.ID) == [*UP, S.SHUTDOWN]
    assert not r.parked and (r._task is None or r._task.done())


# ---------------------------------------------------------------- the network sandbox


class FakeNetwork:
    """The node's network as the executor sees it: sandboxes made and removed, every call recorded
    in the runtime's call list (so their order against the runtime's calls shows)."""

    def __init__(self, runtime: FakeRuntime, fail: Exception | None = None, fail_remove: int = 0) -> None:
        self.runtime = runtime
        self.fail = fail
        self.fail_remove = fail_remove  # how many removals fail before one succeeds
        self.sandboxes: dict[str, Sandbox] = {}

    async def create_sandbox(self, task: Task) -> Sandbox:
        self.runtime.calls.append(("create_sandbox", task.ID))
        if self.fail is not None:
            raise self.fail
        sb = self.sandboxes[task.ID] = Sandbox.of(task, Path("/run/netns") / task.ID)
        return sb

    async def remove_sandbox(self, task_id: str) -> None:
        self.runtime.calls.append(("remove_sandbox", task_id))
        if self.fail_remove:
            self.fail_remove -= 1
            raise OSError("cut short")
        self.sandboxes.pop(task_id, None)


def networked(t: Task) -> Task:
    t.NetworksAttachments = [NetworkAttachment(Network=Network(ID="n1", Spec=NetworkSpec(Name="front")),
                                               Addresses=["10.0.1.3/24"])]
    return t


async def test_the_sandbox_is_made_before_prepare_and_removed_after_remove() -> None:
    rt = FakeRuntime(images={"busybox:latest"}, networking=Networking.JOIN)
    net = FakeNetwork(rt)
    rec = Recorder()
    t = task()
    r = TaskRunner(t, rt, rec, network=net)
    r.start()
    await until(lambda: rec.last(t.ID) is not None and rec.last(t.ID).State == S.RUNNING, what="running")
    assert rt.call_names()[:2] == ["create_sandbox", "prepare"]
    assert rt.sandboxes[t.ID] is net.sandboxes[t.ID]  # the runtime joins the sandbox the network made
    r.unassign()
    await until(lambda: r._task is not None and r._task.done(), what="the runner to end")
    names = rt.call_names()
    assert names.index("remove") < names.index("remove_sandbox") and not net.sandboxes


async def test_a_failed_prepare_removes_the_sandbox_at_once() -> None:
    rt = FakeRuntime(images={"busybox:latest"}, networking=Networking.HOLD)
    net = FakeNetwork(rt)
    rec = Recorder()
    t = task("nosuch")
    TaskRunner(t, rt, rec, network=net).start()
    await until(lambda: rec.last(t.ID) is not None and rec.last(t.ID).State == S.REJECTED, what="rejected")
    assert rt.call_names() == ["create_sandbox", "prepare", "remove_sandbox"] and not net.sandboxes


async def test_a_sandbox_that_cannot_be_made_fails_the_task_before_prepare() -> None:
    rt = FakeRuntime(images={"busybox:latest"}, networking=Networking.JOIN)
    net = FakeNetwork(rt, fail=SandboxError("attaching the task to its networks failed: no keys"))
    rec = Recorder()
    t = task()
    TaskRunner(t, rt, rec, network=net).start()
    await until(lambda: rec.last(t.ID) is not None and rec.last(t.ID).State == S.FAILED, what="failed")
    assert rec.last(t.ID).Err == "attaching the task to its networks failed: no keys"
    assert "prepare" not in rt.call_names()


async def test_a_runtime_without_sandboxes_gets_none() -> None:
    rt = FakeRuntime(images={"busybox:latest"})  # Networking.NONE: nothing real runs
    net = FakeNetwork(rt)
    rec = Recorder()
    t = networked(task())
    r = TaskRunner(t, rt, rec, network=net)
    r.start()
    await until(lambda: rec.last(t.ID) is not None and rec.last(t.ID).State == S.RUNNING, what="running")
    assert "create_sandbox" not in rt.call_names() and rt.sandboxes[t.ID] is None
    r.unassign()
    await until(lambda: rt.removed == [t.ID], what="removed")
    assert "remove_sandbox" not in rt.call_names()


async def test_a_runtime_that_cannot_join_a_namespace_refuses_tasks_on_networks() -> None:
    rt = FakeRuntime(images={"busybox:latest"}, networking=Networking.HOST)
    rec = Recorder()
    t, plain = networked(task()), task()
    TaskRunner(t, rt, rec).start()
    r = TaskRunner(plain, rt, rec)
    r.start()
    await until(lambda: rec.last(t.ID) is not None and rec.last(t.ID).State == S.REJECTED, what="rejected")
    assert rec.last(t.ID).Err == ("the fake runtime cannot join a network namespace: tasks on networks (front) "
                                  "need --runtime runc or docker")
    assert ("prepare", t.ID) not in rt.calls
    await until(lambda: rec.last(plain.ID) is not None and rec.last(plain.ID).State == S.RUNNING,
                what="the task without networks running")
    r.unassign()
    await until(lambda: plain.ID in rt.removed, what="removed")


async def test_a_sandbox_removal_cut_short_is_done_again_when_the_daemon_stops() -> None:
    rt = FakeRuntime(images={"busybox:latest"}, networking=Networking.JOIN)
    net = FakeNetwork(rt, fail_remove=1)
    rec = Recorder()
    t = task()
    r = TaskRunner(t, rt, rec, network=net)
    r.start()
    await until(lambda: rec.last(t.ID) is not None and rec.last(t.ID).State == S.RUNNING, what="running")
    r.unassign()
    await until(lambda: r._task is not None and r._task.done(), what="the runner to end")
    assert net.sandboxes  # the first removal failed
    await r.stop_for_exit()
    assert rt.call_names().count("remove_sandbox") == 2 and not net.sandboxes


# ---------------------------------------------------------------- a Pod's containers (agent/pod.py)


def pod(*apps: str, inits: tuple[str, ...] = (), policy: str | None = None) -> Task:
    """A task of a Pod (owner kind ReplicaSet) with app containers ``apps`` and init containers ``inits``."""
    return Task(
        ID=new_id(), Owner=ObjectRef(Kind="ReplicaSet", ID="rs"), NodeID="node1",
        Spec=TaskSpec(Containers=[ContainerSpec(Name=n, Image="busybox") for n in apps],
                      InitContainers=[ContainerSpec(Name=n, Image="busybox") for n in inits] or None,
                      RestartPolicy=RestartPolicy(Condition=policy) if policy else None),
        Status=TaskStatus(State=S.ASSIGNED), DesiredState=S.RUNNING)


class PodAgent(Agent):
    def run(self, t: Task) -> TaskRunner:
        r = TaskRunner(t, self.runtime, self.rec, restart_backoff=0.01)
        r.start()
        self.runners.append(r)
        return r

    def container(self, t: Task, name: str) -> ContainerStatus:
        last = self.rec.last(t.ID)
        assert last is not None and last.Containers is not None
        return next(c for c in last.Containers if c.Name == name)


@pytest.fixture
async def pods() -> AsyncIterator[PodAgent]:
    a = PodAgent(FakeRuntime(images={"busybox:latest"}, multi_container=True))
    yield a
    for r in a.runners:
        if r._task is not None and not r._task.done():
            r._task.cancel()
            with contextlib.suppress(BaseException):
                await r._task


def started(rt: FakeRuntime) -> list[str]:
    return [c[1] for c in rt.calls if c[0] == "start"]


async def test_init_containers_run_in_order_each_to_completion_then_the_apps(pods: PodAgent) -> None:
    t = pod("web", "side", inits=("one", "two"))
    rt = pods.runtime
    pods.run(t)
    await until(lambda: rt.running(f"{t.ID}.one"), timeout=1.0, what="the first init container")
    await pods.idle()
    assert started(rt) == [f"{t.ID}.one"]  # the second waits for the first to complete
    assert pods.rec.last(t.ID).State == S.STARTING
    rt.finish(f"{t.ID}.one", 0)
    await until(lambda: rt.running(f"{t.ID}.two"), timeout=1.0, what="the second init container")
    await pods.idle()
    assert started(rt) == [f"{t.ID}.one", f"{t.ID}.two"]
    rt.finish(f"{t.ID}.two", 0)
    await pods.reach(t, S.RUNNING)
    assert started(rt) == [f"{t.ID}.{n}" for n in ("one", "two", "web", "side")]
    assert pods.rec.states(t.ID) == UP
    st = {c.Name: (c.State, c.ExitCode, c.RestartCount) for c in pods.rec.last(t.ID).Containers}
    assert st == {"one": ("terminated", 0, 0), "two": ("terminated", 0, 0), "web": ("running", 0, 0),
                  "side": ("running", 0, 0)}


async def test_a_failing_init_container_fails_the_task_under_restart_policy_none(pods: PodAgent) -> None:
    t = pod("web", inits=("init",), policy="none")
    pods.run(t)
    await until(lambda: pods.runtime.running(f"{t.ID}.init"), timeout=1.0, what="the init container")
    pods.runtime.finish(f"{t.ID}.init", 2)
    await pods.reach(t, S.FAILED)
    assert pods.rec.last(t.ID).Err == "init container init: non-zero exit (2)"
    assert started(pods.runtime) == [f"{t.ID}.init"]  # the app container never started


async def test_a_failing_init_container_runs_again_after_its_back_off(pods: PodAgent) -> None:
    t = pod("web", inits=("init",))  # the default policy: Kubernetes' Always
    pods.run(t)
    key = f"{t.ID}.init"
    await until(lambda: pods.runtime.running(key), timeout=1.0, what="the init container")
    pods.runtime.finish(key, 1)
    await until(lambda: started(pods.runtime).count(key) == 2 and pods.runtime.running(key), timeout=1.0,
                what="the init container to run again")
    assert f"{t.ID}.web" not in started(pods.runtime)
    pods.runtime.finish(key, 0)
    await pods.reach(t, S.RUNNING)
    assert pods.container(t, "init").RestartCount == 1


async def test_an_app_container_that_exits_restarts_in_place_while_the_other_runs_on(pods: PodAgent) -> None:
    t = pod("web", "side")
    pods.run(t)
    await pods.reach(t, S.RUNNING)
    web_pid = pods.container(t, "web").PID
    side_pid = pods.container(t, "side").PID
    pods.runtime.finish(f"{t.ID}.side", 3)
    await until(lambda: pods.container(t, "side").RestartCount == 1 and pods.container(t, "side").State == "running",
                timeout=1.0, what="side to restart in place")
    side, web = pods.container(t, "side"), pods.container(t, "web")
    assert (side.ExitCode, web.RestartCount, web.PID, web.State) == (3, 0, web_pid, "running")
    assert side.PID != side_pid
    assert {s.State for tid, s in pods.rec.reports if tid == t.ID} <= set(UP)  # still running, never ended
    # A second exit waits twice as long: the back-off doubles.
    pods.runtime.finish(f"{t.ID}.side", 0)
    await until(lambda: pods.container(t, "side").RestartCount == 2, timeout=1.0, what="the second restart")
    assert pods.rec.last(t.ID).State == S.RUNNING


def test_the_back_off_doubles_from_its_base_to_thirty_times_it() -> None:
    # The first restart comes at once (the kubelet has no back-off entry yet), then 10 s doubling to 5 min.
    assert [backoff_delay(10.0, n) for n in (1, 2, 3, 4, 5, 6, 7, 8, 20)] == [0, 10, 20, 40, 80, 160, 300, 300, 300]


async def test_under_on_failure_the_task_completes_when_every_container_exited_zero(pods: PodAgent) -> None:
    t = pod("a", "b", policy="on-failure")
    pods.run(t)
    await pods.reach(t, S.RUNNING)
    pods.runtime.finish(f"{t.ID}.a", 0)
    await until(lambda: pods.container(t, "a").State == "terminated", timeout=1.0, what="a to end")
    assert pods.rec.last(t.ID).State == S.RUNNING  # b runs on
    pods.runtime.finish(f"{t.ID}.b", 0)
    await pods.reach(t, S.COMPLETE)
    assert started(pods.runtime) == [f"{t.ID}.a", f"{t.ID}.b"]


async def test_under_none_a_non_zero_exit_fails_the_task_once_all_ended(pods: PodAgent) -> None:
    t = pod("a", "b", policy="none")
    pods.run(t)
    await pods.reach(t, S.RUNNING)
    pods.runtime.finish(f"{t.ID}.b", 4)
    pods.runtime.finish(f"{t.ID}.a", 0)
    await pods.reach(t, S.FAILED)
    assert pods.rec.last(t.ID).Err == "container b: non-zero exit (4)"


async def test_shutting_a_pod_down_stops_every_container(pods: PodAgent) -> None:
    t = pod("a", "b")
    r = pods.run(t)
    await pods.reach(t, S.RUNNING)
    r.update(want(t, S.SHUTDOWN))
    await pods.reach(t, S.SHUTDOWN)
    stops = {c[1] for c in pods.runtime.calls if c[0] == "stop"}
    assert stops == {f"{t.ID}.a", f"{t.ID}.b"}
    assert {c.State for c in pods.rec.last(t.ID).Containers} == {"terminated"}


async def test_a_swarm_task_on_a_multi_container_runtime_still_ends_with_its_container(pods: PodAgent) -> None:
    t = task()
    pods.run(t)
    await pods.reach(t, S.RUNNING)
    pods.runtime.finish(t.ID, 1)
    await pods.reach(t, S.FAILED)
    assert started(pods.runtime) == [t.ID]


async def test_a_runtime_of_one_container_per_task_refuses_a_pod(agent: Agent) -> None:
    t = pod("web", inits=("init",))
    agent.run(t)
    await agent.reach(t, S.REJECTED)
    assert agent.rec.last(t.ID).Err == "this runtime runs one container per task, the task has 2"


async def test_each_of_a_pods_images_is_pulled_in_turn_before_it_is_prepared(pods: PodAgent) -> None:
    t = pod("web", inits=("init",))
    t.Spec.Containers[0].Image = "reg.example:5000/web:1"
    assert t.Spec.InitContainers is not None
    t.Spec.InitContainers[0].Image = "reg.example:5000/init:1"
    puller = FakePuller(pods.runtime)
    r = TaskRunner(t, pods.runtime, pods.rec, puller=puller, restart_backoff=0.01)  # type: ignore[arg-type]
    r.start()
    pods.runners.append(r)
    await until(lambda: len(puller.calls) == 1, timeout=1.0, what="the first pull")
    assert puller.calls == [("reg.example:5000/init:1", "")]
    puller.finish(ok=True)
    await until(lambda: len(puller.calls) == 2, timeout=1.0, what="the second pull")
    assert puller.calls[1] == ("reg.example:5000/web:1", "") and "prepare" not in pods.runtime.call_names()
    puller.finish(ok=True)
    await until(lambda: pods.runtime.running(f"{t.ID}.init"), timeout=1.0, what="the init container")


async def test_a_container_waiting_out_its_back_off_is_waiting_with_its_last_exit_code() -> None:
    rt = FakeRuntime(images={"busybox:latest"}, multi_container=True)
    rec = Recorder()
    t = pod("web", "side")
    r = TaskRunner(t, rt, rec, restart_backoff=3600.0)  # the restart never comes in this test
    r.start()
    try:
        await until(lambda: rec.last(t.ID) is not None and rec.last(t.ID).State == S.RUNNING, timeout=1.0,
                    what="running")
        rt.finish(f"{t.ID}.side", 1)  # the first restart comes at once; the back-off is the second's
        await until(lambda: rec.last(t.ID).Containers[1].RestartCount == 1 and rt.running(f"{t.ID}.side"),
                    timeout=1.0, what="the first restart")
        rt.finish(f"{t.ID}.side", 2)
        await until(lambda: rec.last(t.ID).Containers[1].ExitCode == 2, timeout=1.0, what="the exit reported")
        side = rec.last(t.ID).Containers[1]
        assert (side.State, side.RestartCount, side.Ready, side.PID) == ("waiting", 1, False, 0)
        assert rec.last(t.ID).State == S.RUNNING
    finally:
        assert r._task is not None
        r._task.cancel()
        with contextlib.suppress(BaseException):
            await r._task


async def test_a_pod_waits_for_its_secret_in_kubernetes_words_then_runs_with_it() -> None:
    """A Pod whose container needs a key of a Secret the node does not hold stays ``preparing``, its
    container ``waiting`` with ``CreateContainerConfigError``; once the Secret is there (the worker
    wakes it), it runs with the value in its environment, and its statuses say so."""
    from shoal.agent.dependencies import Dependencies
    from shoal.api.pod import EnvVarRef, KeyRef, PodContainer, PodSpecExtra
    from shoal.api.types import Secret, SecretSpec
    from shoal.protocol import Assignments
    from shoal.runtime.base import TaskFile

    rt = FakeRuntime(images={"busybox:latest"}, multi_container=True)
    rec = Recorder()
    deps = Dependencies()
    t = Task(ID=new_id(), Name="web", Namespace="default", NodeID="node1",
             Spec=TaskSpec(Containers=[ContainerSpec(Name="app", Image="busybox", Pod=PodContainer(
                 EnvRefs=[EnvVarRef(Name="PW", SecretKeyRef=KeyRef(Name="creds", Key="pw"))]))],
                 Pod=PodSpecExtra(RestartPolicy="Never")),
             Status=TaskStatus(State=S.ASSIGNED), DesiredState=S.RUNNING)
    prepared: list[Task] = []
    real_prepare = rt.prepare

    async def prepare(task: Task, files: Sequence[TaskFile] = (), sandbox: Sandbox | None = None) -> None:
        prepared.append(task)
        await real_prepare(task, files, sandbox)

    rt.prepare = prepare  # type: ignore[method-assign]
    r = TaskRunner(t, rt, rec, objects=deps, restart_backoff=30.0)
    r.start()
    try:
        await until(lambda: r.waiting_for_objects, timeout=1.0, what="the wait for the Secret")
        last = rec.last(t.ID)
        assert last is not None and last.State == S.PREPARING
        assert last.Err == 'secret "creds" not found'
        (cs,) = last.Containers or []
        assert (cs.State, cs.Reason) == ("waiting", "CreateContainerConfigError")
        assert cs.Message == 'secret "creds" not found'
        assert not prepared

        deps.apply(Assignments(secrets=[Secret(ID="s1", Namespace="default",
                                               Spec=SecretSpec(Name="creds", Items={"pw": b"hunter2"}))]))
        r.changed.set()  # what the worker does when a Secret arrives
        await until(lambda: (rec.last(t.ID) or TaskStatus()).State == S.RUNNING, timeout=1.0, what="running")
        assert prepared and prepared[0].Spec.Containers[0].Env == ["PW=hunter2"]
        (cs,) = rec.last(t.ID).Containers or []
        assert cs.State == "running" and cs.StartedAt and cs.Image == "busybox"
        rt.finish(f"{t.ID}.app", 0)
        await until(lambda: (rec.last(t.ID) or TaskStatus()).State == S.COMPLETE, timeout=1.0, what="complete")
        (cs,) = rec.last(t.ID).Containers or []
        assert (cs.State, cs.Reason, cs.ExitCode) == ("terminated", "Completed", 0) and cs.FinishedAt
    finally:
        if r._task is not None and not r._task.done():
            r._task.cancel()
            with contextlib.suppress(BaseException):
                await r._task


async def test_a_pods_failed_pull_is_err_image_pull_with_its_pull_secret_then_it_runs() -> None:
    """A Pod's image pull that fails leaves its container ``waiting`` with ``ErrImagePull``; the pull
    carried the credentials of the Pod's image pull secret; the next try, once the back-off passed,
    pulls again and runs."""
    import base64
    import json

    from shoal.agent.dependencies import Dependencies
    from shoal.api.pod import PodSpecExtra
    from shoal.api.types import Secret, SecretSpec
    from shoal.protocol import Assignments

    rt = FakeRuntime(images=set(), multi_container=True)
    puller = FakePuller(rt)
    rec = Recorder()
    deps = Dependencies()
    config = {"auths": {"reg.example:5000": {"username": "u", "password": "p"}}}
    deps.apply(Assignments(secrets=[Secret(ID="s1", Namespace="default", Spec=SecretSpec(
        Name="regcred", Type="kubernetes.io/dockerconfigjson",
        Items={".dockerconfigjson": json.dumps(config).encode()}))]))
    image = "reg.example:5000/web:1"
    t = Task(ID=new_id(), Name="web", Namespace="default", NodeID="node1",
             Spec=TaskSpec(Containers=[ContainerSpec(Name="app", Image=image)],
                           Pod=PodSpecExtra(ImagePullSecrets=["regcred"])),
             Status=TaskStatus(State=S.ASSIGNED), DesiredState=S.RUNNING)
    r = TaskRunner(t, rt, rec, objects=deps, puller=puller, restart_backoff=0.05)  # type: ignore[arg-type]
    r.start()
    try:
        await until(lambda: puller.pending is not None, timeout=1.0, what="the pull")
        image_ref, auth = puller.calls[-1]
        assert image_ref == image
        sent = json.loads(base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4)))
        assert (sent["username"], sent["password"], sent["serveraddress"]) == ("u", "p", "reg.example:5000")
        puller.finish(False)

        def reasons() -> list[tuple[str, str]]:
            return [(s.Containers[0].Reason, s.Containers[0].Message) for tid, s in rec.reports
                    if tid == t.ID and s.Containers]

        await until(lambda: ("ImagePullBackOff", f'Back-off pulling image "{image}"') in reasons(), timeout=1.0,
                    what="ImagePullBackOff")
        # As the kubelet says it (and main's events controller reads it): Pulling, ErrImagePull, then the back-off.
        seen = [r for r, _ in reasons()]
        first = seen.index("Pulling")
        assert seen[first:first + 3] == ["Pulling", "ErrImagePull", "ImagePullBackOff"]
        assert ("ErrImagePull", f'failed to pull and unpack image "{image}": manifest unknown') in reasons()
        await until(lambda: len(puller.calls) == 2 and not puller.pending.done(), timeout=2.0, what="the next try")
        puller.finish(True)
        await until(lambda: (rec.last(t.ID) or TaskStatus()).State == S.RUNNING, timeout=1.0, what="running")
    finally:
        if r._task is not None and not r._task.done():
            r._task.cancel()
            with contextlib.suppress(BaseException):
                await r._task


async def test_a_pods_readiness_probe_makes_its_container_ready_through_the_runtimes_exec(pods: PodAgent) -> None:

    t = pod("web")
    t.Namespace, t.Spec.Pod = "default", PodSpecExtra()
    t.Spec.Containers[0].Pod = PodContainer(Probes=Probes(Readiness=Probe(Exec=["ready"], PeriodSeconds=1)))
    pods.runtime.probe_exits[f"{t.ID}.web"] = [1, 0]
    pods.run(t)
    await pods.reach(t, S.RUNNING)
    assert not pods.container(t, "web").Ready
    await until(lambda: pods.container(t, "web").Ready, timeout=3.0, what="the container to be ready")
    assert [c for c in pods.runtime.calls if c[0] == "probe"][:2] == [("probe", f"{t.ID}.web", ("ready",))] * 2
    failed = pods.container(t, "web").Events
    assert failed is not None and failed[0].Message == "Readiness probe failed: probe exited 1"


async def test_a_sandbox_failure_is_reported_once_and_never_tried_again() -> None:
    """A replacement (wanted ``ready`` during its restart delay) whose sandbox cannot be made fails once
    with the network's words; its promotion and its shutdown later make no second sandbox, no second
    report of the failure."""
    rt = FakeRuntime(images={"busybox:latest"}, networking=Networking.JOIN)
    err = "starting container failed: no available IPv4 addresses on this network's address pools: bridge (b1)"
    net = FakeNetwork(rt, fail=SandboxError(err))
    rec = Recorder()
    t = task(desired=S.READY)
    r = TaskRunner(t, rt, rec, network=net)
    r.start()
    await until(lambda: rec.last(t.ID) is not None and rec.last(t.ID).State == S.FAILED, what="failed")
    for desired in (S.RUNNING, S.SHUTDOWN, S.REMOVE):  # promoted after the delay, shut down, removed
        r.update(want(t, desired))
        for _ in range(20):  # the runner looks at each change
            await asyncio.sleep(0)
    await until(lambda: r._task is not None and r._task.done(), what="the runner to end")
    assert rec.states(t.ID) == [S.ACCEPTED, S.PREPARING, S.FAILED]
    assert rec.last(t.ID).Err == err
    assert [c for c in rt.call_names() if c in ("create_sandbox", "prepare", "start")] == ["create_sandbox"]
