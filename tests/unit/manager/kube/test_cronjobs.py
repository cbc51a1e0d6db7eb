"""The CronJob controller (``manager/kube/cronjobs.py``) on an in-memory store with an injected clock:
Jobs made at the scheduled times (names, annotation, owner, generated selector), the next time
waited for, suspend, ``startingDeadlineSeconds``, the concurrency policies, the history limits, the
active list and ``lastSuccessfulTime``, time zones. Jobs are finished by hand (their status
written), without a Job controller."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from shoal.api import batch
from shoal.api.kube import Namespace
from shoal.api.pod import PodSpecExtra
from shoal.api.types import (
    ContainerSpec,
    CronJob,
    CronJobSpec,
    Job,
    JobCondition,
    JobSpec,
    JobTemplate,
    PodTemplate,
    TaskSpec,
    clone,
)
from shoal.manager.kube import cronjobs as cjm
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.cronjobs import CronJobController
from shoal.manager.kube.events import timestamp
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

from ...helpers import FakeClock

START = dt.datetime(2027, 1, 15, 8, 0, 20, tzinfo=dt.UTC).timestamp()  # a Friday, 20 s past 08:00


def cronjob(name: str = "tick", schedule: str = "*/1 * * * *", policy: str = "Allow", suspend: bool = False,
            deadline: int | None = None, ok: int = 3, failed: int = 1, tz: str | None = None) -> CronJob:
    return CronJob(ID="", Name=name, Namespace="default", Spec=CronJobSpec(
        Schedule=schedule, ConcurrencyPolicy=policy, Suspend=suspend, StartingDeadlineSeconds=deadline,
        SuccessfulJobsHistoryLimit=ok, FailedJobsHistoryLimit=failed, TimeZone=tz,
        JobTemplate=JobTemplate(Labels={"app": "tick"}, Annotations={"note": "x"}, Spec=JobSpec(
            Template=PodTemplate(Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="busybox")],
                                               Pod=PodSpecExtra(RestartPolicy="OnFailure")))))))


@dataclass
class World:
    store: ObjectStore
    kube: KubeObjects
    clock: FakeClock
    cc: CronJobController

    async def settle(self) -> None:
        await self.cc.settle()

    async def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.cc.queue.wake()
        await self.settle()

    def jobs(self) -> list[Job]:
        return sorted(self.kube.list("jobs", "default"), key=lambda j: j.Name)

    def cj(self, name: str = "tick") -> CronJob:
        found: CronJob = self.kube.get("cronjobs", "default", name)
        return found

    async def finish(self, job: Job, kind: str = "Complete") -> None:
        j = clone(self.kube.get("jobs", "default", job.Name))
        j.Status.StartTime = j.Status.StartTime or timestamp(self.clock())
        j.Status.Conditions = [JobCondition(Type=kind, Status="True")]
        if kind == "Complete":
            j.Status.CompletionTime = timestamp(self.clock())
        await self.kube.update(j)
        await self.settle()


@pytest.fixture
async def w() -> AsyncIterator[World]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=10000))
    await kube.create(Namespace(ID="", Name="default"))
    clock = FakeClock(START)
    cc = CronJobController(store, kube, clock)
    cc.seed()
    yield World(store, kube, clock, cc)
    await cc.stop()


async def create(w: World, cj: CronJob) -> CronJob:
    made: CronJob = await w.kube.create(cj)
    made = clone(made)
    made.CreatedAt = timestamp(w.clock())  # created "now" by the test's clock
    await w.store.commit(updates=[made])
    await w.settle()
    return made


def events(w: World, reason: str) -> list[str]:
    return [e.Message for e in w.kube.list("events", "default") if e.Reason == reason]


async def test_a_job_at_each_scheduled_minute(w: World) -> None:
    cj = await create(w, cronjob())
    assert w.jobs() == []  # 08:00 was before it was made
    key = cj.ID
    due = w.cc.queue.delayed(key)
    assert due is not None and due - w.clock() == pytest.approx(40.1)  # comes back at 08:01
    await w.later(41)
    [job] = w.jobs()
    minute = int((START + 40) // 60)
    assert job.Name == f"tick-{minute}"
    assert job.Annotations == {"note": "x", batch.SCHEDULED_TIMESTAMP: "2027-01-15T08:01:00Z"}
    assert job.Labels == {"app": "tick"}
    ref = wl.controller_of(job)
    assert ref is not None and (ref.APIVersion, ref.Kind, ref.Name, ref.ID) == ("batch/v1", "CronJob", "tick", key)
    assert job.Spec.Selector.MatchLabels == {batch.CONTROLLER_UID: job.ID}
    assert (job.Spec.Template.Labels or {})["job-name"] == job.Name
    st = w.cj().Status
    assert st.LastScheduleTime == "2027-01-15T08:01:00Z"
    assert [(r.Name, r.ID) for r in st.Active or []] == [(job.Name, job.ID)]
    assert events(w, "SuccessfulCreate") == [f"Created job {job.Name}"]
    await w.later(1)
    assert len(w.jobs()) == 1  # nothing more before 08:02
    await w.later(60)
    assert [j.Name for j in w.jobs()] == [f"tick-{minute}", f"tick-{minute + 1}"]  # Allow: side by side
    assert len(w.cj().Status.Active or []) == 2


async def test_finished_jobs_leave_active_and_move_last_successful_time(w: World) -> None:
    await create(w, cronjob())
    await w.later(41)
    [job] = w.jobs()
    await w.later(5)
    await w.finish(job)
    st = w.cj().Status
    assert st.Active is None and st.LastSuccessfulTime == timestamp(w.clock())
    assert events(w, "SawCompletedJob") == [f"Saw completed job: {job.Name}, status: Complete"]


async def test_forbid_skips_while_one_runs(w: World) -> None:
    await create(w, cronjob(policy="Forbid"))
    await w.later(41)
    [job] = w.jobs()
    await w.later(60)
    assert len(w.jobs()) == 1
    assert events(w, "JobAlreadyActive")
    await w.later(10)
    await w.finish(job)  # the 08:02 time, missed while it ran, runs now (late, as Kubernetes does)
    assert len(w.jobs()) == 2
    assert w.cj().Status.LastScheduleTime == "2027-01-15T08:02:00Z"


async def test_replace_deletes_the_running_job(w: World) -> None:
    await create(w, cronjob(policy="Replace"))
    await w.later(41)
    [first] = w.jobs()
    await w.later(60)
    [second] = w.jobs()
    assert second.Name != first.Name
    assert events(w, "SuccessfulDelete") == [f"Deleted job {first.Name}"]
    assert [r.Name for r in w.cj().Status.Active or []] == [second.Name]


async def test_suspended_makes_nothing(w: World) -> None:
    cj = await create(w, cronjob(suspend=True))
    await w.later(200)
    assert w.jobs() == [] and w.cc.queue.delayed(cj.ID) is None
    cj = clone(w.cj())
    cj.Spec.Suspend = False
    await w.kube.update(cj)
    await w.settle()
    assert len(w.jobs()) == 1  # the most recent time only, not the three missed
    assert w.cj().Status.LastScheduleTime == "2027-01-15T08:03:00Z"


async def test_starting_deadline_skips_a_time_too_old(w: World) -> None:
    cj = await create(w, cronjob(schedule="0 * * * *", deadline=30, suspend=True))
    await w.later(60 * 60 - 20 + 45)  # 09:00:45: 45 s after the time
    cj = clone(w.cj())
    cj.Spec.Suspend = False
    await w.kube.update(cj)
    await w.settle()
    assert w.jobs() == []  # too late to start the 09:00 one
    cj = clone(w.cj())
    cj.Spec.StartingDeadlineSeconds = 60
    await w.kube.update(cj)
    await w.settle()
    assert len(w.jobs()) == 1


async def test_history_limits_keep_the_newest(w: World) -> None:
    await create(w, cronjob(ok=2, failed=1))
    for _ in range(4):
        await w.later(60)
    jobs = w.jobs()
    assert len(jobs) == 4
    for j in jobs[:3]:
        w.clock.advance(1)
        await w.finish(j)
    w.clock.advance(1)
    await w.finish(jobs[3], "Failed")
    names = [j.Name for j in w.jobs()]
    assert names == [jobs[1].Name, jobs[2].Name, jobs[3].Name]  # the oldest success went
    assert events(w, "SuccessfulDelete") == [f"Deleted job {jobs[0].Name}"]
    await w.later(60)
    [new] = [j for j in w.jobs() if j.Name not in names]
    w.clock.advance(1)
    await w.finish(new, "Failed")
    assert jobs[3].Name not in [j.Name for j in w.jobs()]  # one failed one kept: the newest


async def test_a_time_zone(w: World) -> None:
    await create(w, cronjob(schedule="0 3 * * *", tz="Europe/Paris"))  # 03:00 in Paris is 02:00 UTC
    due = w.cc.queue.delayed(w.cj().ID)
    next_run = dt.datetime(2027, 1, 16, 2, 0, tzinfo=dt.UTC).timestamp()
    assert due is not None and due == pytest.approx(next_run + 0.1)
    await w.later(next_run - START + 1)
    [job] = w.jobs()
    assert (job.Annotations or {})[batch.SCHEDULED_TIMESTAMP] == "2027-01-16T03:00:00+01:00"
    assert job.Name == f"tick-{int(next_run // 60)}"


def test_scheduled_stamp() -> None:
    t = dt.datetime(2027, 7, 1, 12, tzinfo=dt.UTC).timestamp()
    assert cjm.scheduled_stamp(t, dt.UTC) == "2027-07-01T12:00:00Z"
    from shoal.api import cron
    assert cjm.scheduled_stamp(t, cron.zone("America/New_York")) == "2027-07-01T08:00:00-04:00"
