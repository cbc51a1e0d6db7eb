"""Healthchecks: the service's check over the image's, Docker's counting of
failures (start period, retries), and the task runner's use of the verdict (starting until healthy,
an unhealthy container stopped and its task failed with Swarm's message)."""

from __future__ import annotations

import asyncio

from shoal.agent import health
from shoal.agent.executor import TaskRunner
from shoal.agent.health import Check, Monitor, Result
from shoal.api.states import TaskState
from shoal.api.types import Task
from shoal.runtime.fake import FakeRuntime

from ..helpers import until
from .test_executor import Recorder, task

MS = 1_000_000


def test_the_services_fields_override_the_images() -> None:
    image = {"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 10 * health.SECOND, "Retries": 5}
    c = health.effective({"Interval": 2 * health.SECOND}, image)
    assert c == Check(test=["/bin/sh", "-c", "wget -q localhost"], interval=2.0, timeout=30.0, retries=5)
    c = health.effective({"Test": ["CMD", "true", "x"], "StartPeriod": 3 * health.SECOND}, image)
    assert c is not None and c.test == ["true", "x"] and c.start_period == 3.0 and c.interval == 10.0
    assert health.effective({"Test": ["NONE"]}, image) is None  # --no-healthcheck
    assert health.effective(None, None) is None
    assert health.effective({}, {"Test": ["NONE"]}) is None
    defaults = health.effective({"Test": ["CMD", "true"]}, None)
    assert defaults == Check(test=["true"], interval=30.0, timeout=30.0, start_period=0.0, start_interval=5.0,
                             retries=3)


def monitor(start_period: float = 0.0, retries: int = 3) -> tuple[Monitor, list[float]]:
    now = [0.0]

    async def never(argv: list[str], timeout: float) -> tuple[int, str]:
        raise AssertionError("not probed in this test")

    m = Monitor(Check(test=["true"], start_period=start_period, retries=retries), never, clock=lambda: now[0])
    return m, now


def test_retries_failures_in_a_row_make_it_unhealthy_and_a_success_resets() -> None:
    m, _ = monitor()
    for code in (1, 1):
        m.record(Result(1.0, 1.0, code, ""))
    assert m.status == "starting" and m.failing_streak == 2
    m.record(Result(2.0, 2.0, 0, "ok"))
    assert m.status == "healthy" and m.failing_streak == 0 and m.changed.is_set()
    for code in (1, 2, -1):  # any non-zero exit, or a timeout
        m.record(Result(3.0, 3.0, code, ""))
    assert m.status == "unhealthy"
    assert len(m.log) == health.LOG_KEEP


def test_failures_in_the_start_period_do_not_count_until_healthy_once() -> None:
    m, _ = monitor(start_period=10.0, retries=1)
    m.record(Result(5.0, 5.0, 1, ""))
    assert m.status == "starting" and m.failing_streak == 0  # still in the start period
    m.record(Result(11.0, 11.0, 1, ""))
    assert m.status == "unhealthy"  # past it: one failure is enough with retries 1
    m, _ = monitor(start_period=10.0, retries=1)
    m.record(Result(2.0, 2.0, 0, ""))
    m.record(Result(4.0, 4.0, 1, ""))  # healthy once: failures count, start period or not
    assert m.status == "unhealthy"


def hc_task(retries: int = 2) -> Task:
    t = task()
    assert t.Spec.ContainerSpec is not None
    t.Spec.ContainerSpec.Healthcheck = {"Test": ["CMD-SHELL", "check"], "Interval": 5 * MS, "Retries": retries}
    t.Spec.ContainerSpec.StopGracePeriod = 0
    return t


async def test_a_task_is_starting_until_healthy_then_running() -> None:
    rt = FakeRuntime()
    rec = Recorder()
    t = hc_task()
    rt.probe_exits[t.ID] = [1, 0]  # one failure, then healthy
    r = TaskRunner(t, rt, rec)
    r.start()
    try:
        await until(lambda: (last := rec.last(t.ID)) is not None and last.State == TaskState.RUNNING,
                    what="running once healthy")
        assert rec.states(t.ID)[-2:] == [TaskState.STARTING, TaskState.RUNNING]
        assert [c[2] for c in rt.calls if c[0] == "probe"][:2] == [("/bin/sh", "-c", "check")] * 2
    finally:
        assert r._task is not None
        r._task.cancel()
        await asyncio.gather(r._task, return_exceptions=True)


async def test_an_unhealthy_task_is_stopped_and_fails_with_swarms_message() -> None:
    rt = FakeRuntime()
    rec = Recorder()
    t = hc_task()
    rt.probe_exits[t.ID] = [0, 1]  # healthy, then failing for good
    r = TaskRunner(t, rt, rec)
    r.start()
    try:
        await until(lambda: (last := rec.last(t.ID)) is not None and last.State == TaskState.FAILED,
                    what="failed once unhealthy")
        last = rec.last(t.ID)
        assert last is not None
        assert last.Err == "task: non-zero exit (143): dockerexec: unhealthy container"
        assert ("stop", t.ID, "", 0.0) in rt.calls
        assert TaskState.RUNNING in rec.states(t.ID)
    finally:
        assert r._task is not None
        r._task.cancel()
        await asyncio.gather(r._task, return_exceptions=True)


async def test_the_images_healthcheck_is_used_and_no_healthcheck_turns_it_off() -> None:
    rt = FakeRuntime()
    rt.image_health["busybox:latest"] = {"Test": ["CMD", "probe-me"], "Interval": 5 * MS, "Retries": 1}
    rec = Recorder()
    t, off = task(), task()
    assert off.Spec.ContainerSpec is not None
    off.Spec.ContainerSpec.Healthcheck = {"Test": ["NONE"]}
    rt.probe_exits[t.ID] = [1]
    runners = [TaskRunner(x, rt, rec) for x in (t, off)]
    for r in runners:
        r.start()
    try:
        await until(lambda: (last := rec.last(t.ID)) is not None and last.State == TaskState.FAILED,
                    what="the image's check failed the task")
        await until(lambda: (last := rec.last(off.ID)) is not None and last.State == TaskState.RUNNING,
                    what="the other task running without a check")
        assert not [c for c in rt.calls if c[0] == "probe" and c[1] == off.ID]
    finally:
        for r in runners:
            if r._task is not None:  # None: parked, running without a coroutine
                r._task.cancel()
                await asyncio.gather(r._task, return_exceptions=True)
