"""A Pod's container restarts (agent/pod.py) with the kubelet's back-off, on an injected clock: the
first restart comes at once (after an exit or a failed liveness probe alike), the next waits 10 s,
then 20 s, … at most 5 min, and a run of more than 10 minutes since the last restart starts the
count over."""

from __future__ import annotations

import asyncio

from shoal.agent.flag import Flag
from shoal.agent.pod import Pod
from shoal.api.ids import new_id
from shoal.api.pod import PodSpecExtra, Probe, Probes
from shoal.api.states import TaskState
from shoal.api.types import ContainerSpec, ContainerStatus, Task, TaskSpec, TaskStatus
from shoal.runtime.fake import FakeRuntime

from ..helpers import FakeClock
from .test_probes import LocalTarget, fast, probed_pod


def one_container_pod() -> Task:
    return Task(ID=new_id(), Name="p", Namespace="default", NodeID="node1",
                Spec=TaskSpec(Containers=[ContainerSpec(Name="web", Image="busybox")], Pod=PodSpecExtra()),
                Status=TaskStatus(State=TaskState.RUNNING), DesiredState=TaskState.RUNNING)


async def step(p: Pod, changed: Flag) -> ContainerStatus:
    """One turn of the Pod's watch with nothing to wait for (``probed`` makes it look at once: the fake
    clock, not the loop's, says what is due), and the container's status after it."""
    p.probed.set()
    assert await p.watch(changed) is None
    return p.statuses()[0]


async def test_the_first_restart_comes_at_once_then_the_back_off_waits_ten_seconds_doubling() -> None:
    clock = FakeClock(1000.0)
    rt = FakeRuntime(images={"busybox:latest"}, multi_container=True)
    task = one_container_pod()
    rt.prepared.add(task.ID)
    key = f"{task.ID}.web"
    p = Pod(task, rt, backoff=10.0, clock=clock)
    changed = Flag()
    await p.start_apps()
    try:
        rt.finish(key, 1)
        st = await step(p, changed)
        assert (st.State, st.RestartCount, st.LastState and st.LastState.ExitCode) == ("running", 1, 1)
        assert clock.now == 1000.0  # no time passed: the kubelet has no back-off entry before the first restart

        rt.finish(key, 1)
        st = await step(p, changed)
        assert (st.State, st.Reason, st.RestartCount) == ("waiting", "CrashLoopBackOff", 1)
        assert st.Message == f"back-off 10s restarting failed container=web pod=p_default({task.ID})"
        clock.advance(9.5)
        assert (await step(p, changed)).State == "waiting"  # the fake clock says 9.5 s: not yet
        clock.advance(0.5)
        st = await step(p, changed)
        assert (st.State, st.RestartCount) == ("running", 2)

        rt.finish(key, 1)
        st = await step(p, changed)
        assert st.Message is not None and st.Message.startswith("back-off 20s ")
        clock.advance(20)
        assert (await step(p, changed)).RestartCount == 3
        for delay in ("40s", "1m20s"):  # the delay as the kubelet writes it: a Go duration
            rt.finish(key, 1)
            st = await step(p, changed)
            assert st.Message is not None and st.Message.startswith(f"back-off {delay} ")
            clock.advance(80)
            await step(p, changed)
    finally:
        await p.stop()


async def test_a_run_of_more_than_ten_minutes_since_the_last_restart_starts_the_back_off_over() -> None:
    clock = FakeClock(1000.0)
    rt = FakeRuntime(images={"busybox:latest"}, multi_container=True)
    task = one_container_pod()
    rt.prepared.add(task.ID)
    key = f"{task.ID}.web"
    p = Pod(task, rt, backoff=10.0, clock=clock)
    changed = Flag()
    await p.start_apps()
    try:
        rt.finish(key, 1)
        assert (await step(p, changed)).RestartCount == 1  # at once
        clock.advance(300)  # five minutes: not long enough to forget
        rt.finish(key, 1)
        assert (await step(p, changed)).Reason == "CrashLoopBackOff"
        clock.advance(10)
        assert (await step(p, changed)).RestartCount == 2
        clock.advance(601)  # then it ran more than ten minutes
        rt.finish(key, 1)
        st = await step(p, changed)
        assert (st.State, st.RestartCount) == ("running", 3)  # at once again
        rt.finish(key, 1)
        assert (await step(p, changed)).Message.startswith("back-off 10s ")  # type: ignore[union-attr]
    finally:
        await p.stop()


async def test_a_container_killed_by_its_liveness_probe_runs_again_at_once() -> None:
    clock = FakeClock(1000.0)
    rt = FakeRuntime(images={"busybox:latest"}, multi_container=True)
    task = probed_pod(Probes(Liveness=Probe(Exec=["cat", "/tmp/healthy"], FailureThreshold=1)))
    task.Spec.Pod = PodSpecExtra(TerminationGracePeriodSeconds=1)
    rt.prepared.add(task.ID)
    target = LocalTarget([(1, "gone"), (0, "")])
    p = Pod(task, rt, backoff=10.0, clock=clock, probe_target=lambda name: target, probe_sleep=fast)
    changed = Flag()
    await p.start_apps()
    try:
        async with asyncio.timeout(5):  # a back-off would make the watch wait 10 s of the loop's time
            while not p.statuses()[0].RestartCount:  # the probe fails, the kill, the exit seen: a few turns
                assert await p.watch(changed) is None
        st = p.statuses()[0]
        assert (st.State, st.RestartCount) == ("running", 1)
        assert [e.Reason for e in st.Events or []] == ["Unhealthy", "Killing"]
        assert clock.now == 1000.0
    finally:
        await p.stop()
