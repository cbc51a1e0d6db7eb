"""The Job controller (``manager/kube/jobs.py``) on an in-memory store with an injected clock. A fake
kubelet (``World.run``) brings new Pods to running and ends them as the test says (exit 0 or not),
one step at a time: completions and parallelism, the work queue, back-off between failed Pods, the
backoff limit, the active deadline, suspend and resume, Indexed completions and the TTL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from shoal.api import batch
from shoal.api.kube import Namespace
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import ContainerSpec, ContainerStatus, Job, JobSpec, PodTemplate, Task, TaskSpec, clone
from shoal.manager.kube import jobs as jb
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.events import timestamp
from shoal.manager.kube.gc import GarbageCollector
from shoal.manager.kube.jobs import JobController
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

from ...helpers import FakeClock


def job(name: str = "pi", completions: int | None = 1, parallelism: int = 1, backoff: int = 6,
        deadline: int | None = None, policy: str = "Never", ttl: int | None = None, mode: str = "NonIndexed",
        suspend: bool = False) -> Job:
    j = Job(ID="", Name=name, Namespace="default", Spec=JobSpec(
        Completions=completions, Parallelism=parallelism, BackoffLimit=backoff, ActiveDeadlineSeconds=deadline,
        TTLSecondsAfterFinished=ttl, CompletionMode=mode, Suspend=suspend,
        Template=PodTemplate(Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="busybox")],
                                           Pod=PodSpecExtra(RestartPolicy=policy)))))
    j.ID = f"uid-{name}"
    batch.generate_selector(j)
    return j


@dataclass
class World:
    store: ObjectStore
    kube: KubeObjects
    clock: FakeClock
    jc: JobController
    gc: GarbageCollector
    exits: list[int] = field(default_factory=list)  # the exit codes of the next Pods to end, in order

    async def settle(self) -> None:
        for _ in range(20):
            await self.jc.settle()
            await self.gc.settle()
            if not len(self.jc.queue):
                return

    def pods(self) -> list[Task]:
        return sorted(self.kube.list("tasks", "default"), key=lambda t: t.CreatedAt)

    def active(self) -> list[Task]:
        return [t for t in self.pods() if wl.pod_active(t)]

    def job(self, name: str = "pi") -> Job:
        found: Job = self.kube.get("jobs", "default", name)
        return found

    async def start(self) -> None:
        """New Pods run (and are ready)."""
        for t in self.pods():
            if t.Status.State == TaskState.NEW:
                t = clone(t)
                t.Status.State = TaskState.RUNNING
                t.Status.Timestamp = timestamp(self.clock())
                t.NodeID = "n1"
                t.Status.Containers = [ContainerStatus(Name="c", State="running", Ready=True)]
                await self.store.commit(updates=[t])
        await self.settle()

    async def finish(self, n: int, code: int = 0) -> None:
        """``n`` running Pods end with ``code``; deleted ones go."""
        for t in self.pods():
            if t.DeletionTimestamp:
                await self.store.commit(deletes=[t])
            elif t.Status.State == TaskState.RUNNING and n > 0:
                n -= 1
                t = clone(t)
                t.Status.State = TaskState.COMPLETE if code == 0 else TaskState.FAILED
                t.Status.Timestamp = timestamp(self.clock())
                t.Status.Containers = [ContainerStatus(Name="c", State="terminated", ExitCode=code)]
                await self.store.commit(updates=[t])
        await self.settle()

    async def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.jc.queue.wake()
        await self.settle()


@pytest.fixture
async def w() -> AsyncIterator[World]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=10000))
    await kube.create(Namespace(ID="", Name="default"))
    clock = FakeClock(1_800_000_000.0)
    jc = JobController(store, kube, clock)
    gc = GarbageCollector(store, kube)
    jc.seed()
    gc.attach()
    yield World(store, kube, clock, jc, gc)
    await jc.stop()
    await gc.stop()


def events(w: World, reason: str) -> list[str]:
    return [e.Message for e in w.kube.list("events", "default") if e.Reason == reason]


# ---------------------------------------------------------------- arithmetic


def test_wanted_active_completions_and_parallelism() -> None:
    assert jb.wanted_active(job(completions=5, parallelism=2), 0, 0) == 2
    assert jb.wanted_active(job(completions=5, parallelism=2), 4, 2) == 1  # one left to complete
    assert jb.wanted_active(job(completions=5, parallelism=2), 5, 0) == 0
    assert jb.wanted_active(job(completions=None, parallelism=3), 0, 1) == 3  # a work queue
    assert jb.wanted_active(job(completions=None, parallelism=3), 1, 2) == 2  # one succeeded: the others go on
    assert jb.wanted_active(job(completions=3, parallelism=0), 0, 0) == 0


def test_backoff_doubles_from_ten_seconds_up_to_six_minutes() -> None:
    assert [jb.backoff_delay(n) for n in range(0, 8)] == [0, 10, 20, 40, 80, 160, 320, 600]
    assert jb.backoff_delay(100) == 600  # MaxJobPodFailureBackOff, 10 min


def test_completed_indexes_are_written_as_runs() -> None:
    assert jb.format_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"
    assert jb.parse_indexes("0-2,4,6-7") == {0, 1, 2, 4, 6, 7}
    assert jb.format_indexes(set()) == ""


def test_generated_selector_and_labels() -> None:
    j = job()
    assert j.Spec.Selector.MatchLabels == {batch.CONTROLLER_UID: "uid-pi"}
    assert j.Spec.Template.Labels == {"batch.kubernetes.io/controller-uid": "uid-pi",
                                      "batch.kubernetes.io/job-name": "pi", "controller-uid": "uid-pi",
                                      "job-name": "pi"}


# ---------------------------------------------------------------- the controller


async def test_job_runs_its_pod_to_completion(w: World) -> None:
    await w.kube.create(job())
    await w.settle()
    [pod] = w.pods()
    assert pod.Name.startswith("pi-") and len(pod.Name) == len("pi-") + 5
    assert pod.Labels and pod.Labels["job-name"] == "pi" and pod.Labels[batch.CONTROLLER_UID] == "uid-pi"
    ref = wl.controller_of(pod)
    assert ref is not None and (ref.APIVersion, ref.Kind, ref.Name) == ("batch/v1", "Job", "pi")
    st = w.job().Status
    assert (st.Active, st.Succeeded, st.Failed) == (1, 0, 0) and st.StartTime
    await w.start()
    assert w.job().Status.Ready == 1
    w.clock.advance(5)
    await w.finish(1)
    st = w.job().Status
    assert (st.Active, st.Succeeded, st.Ready) == (0, 1, 0)
    assert [(c.Type, c.Reason, c.Message) for c in st.Conditions or []] == [
        ("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
        ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")]
    assert st.CompletionTime == timestamp(w.clock())
    assert len(w.pods()) == 1  # the ended Pod stays
    assert events(w, "SuccessfulCreate") == [f"Created pod: {pod.Name}"]
    assert events(w, "Completed") == ["Job completed"]


async def test_completions_with_parallelism(w: World) -> None:
    await w.kube.create(job(completions=5, parallelism=2))
    await w.settle()
    assert len(w.active()) == 2
    await w.start()
    await w.finish(2)
    assert w.job().Status.Succeeded == 2 and len(w.active()) == 2
    await w.start()
    await w.finish(2)
    assert w.job().Status.Succeeded == 4 and len(w.active()) == 1  # one left: one Pod
    await w.start()
    await w.finish(1)
    st = w.job().Status
    assert st.Succeeded == 5 and jb.is_finished(w.job()) == "Complete" and len(w.pods()) == 5


async def test_work_queue_completes_when_one_succeeded_and_none_runs(w: World) -> None:
    await w.kube.create(job(completions=None, parallelism=3))
    await w.settle()
    await w.start()
    await w.finish(1)
    assert w.job().Status.Succeeded == 1 and len(w.active()) == 2  # no new Pod, the others go on
    assert not jb.is_finished(w.job())
    await w.finish(2)
    assert jb.is_finished(w.job()) == "Complete" and w.job().Status.Succeeded == 3


async def test_failed_pods_back_off_then_the_limit_fails_the_job(w: World) -> None:
    await w.kube.create(job(backoff=2))
    await w.settle()
    await w.start()
    await w.finish(1, code=1)
    assert w.job().Status.Failed == 1 and not w.active()  # waiting out the back-off (10 s)
    assert w.jc.queue.delayed(w.job().ID) is not None
    await w.later(9)
    assert not w.active()
    await w.later(2)
    assert len(w.active()) == 1
    await w.start()
    await w.finish(1, code=1)
    await w.later(15)
    assert not w.active()  # the second failure waits 20 s
    await w.later(6)
    assert len(w.active()) == 1
    await w.start()
    await w.finish(1, code=1)
    j = w.job()
    assert j.Status.Failed == 3 and jb.is_finished(j) == "Failed"
    assert [(c.Type, c.Reason, c.Message) for c in j.Status.Conditions or []] == [
        ("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]
    assert events(w, "BackoffLimitExceeded") == ["Job has reached the specified backoff limit"]
    assert not j.Status.CompletionTime


async def test_backoff_limit_zero_fails_at_the_first_failure(w: World) -> None:
    await w.kube.create(job(backoff=0))
    await w.settle()
    await w.start()
    await w.finish(1, code=2)
    assert jb.is_finished(w.job()) == "Failed"


async def test_on_failure_counts_restarts(w: World) -> None:
    await w.kube.create(job(backoff=2, policy="OnFailure"))
    await w.settle()
    await w.start()
    [t] = w.active()
    t = clone(t)
    t.Status.Containers = [ContainerStatus(Name="c", State="running", RestartCount=2)]
    await w.store.commit(updates=[t])
    await w.settle()
    assert jb.interim_of(w.job()) == ("Failed", *jb.BACKOFF_LIMIT_EXCEEDED) and not jb.is_finished(w.job())
    assert w.active() == [] and w.pods()[0].DeletionTimestamp  # its running Pod is deleted
    assert w.job().Status.Terminating == 1
    await w.finish(0)  # the Pod stops: then the Job has failed
    assert jb.is_finished(w.job()) == "Failed" and w.job().Status.Terminating == 0


async def test_active_deadline_fails_the_job_and_deletes_its_pods(w: World) -> None:
    await w.kube.create(job(completions=3, parallelism=3, deadline=30))
    await w.settle()
    await w.start()
    await w.later(29)
    assert not jb.is_finished(w.job())
    await w.later(2)
    j = w.job()
    assert [(c.Type, c.Reason) for c in j.Status.Conditions or []] == [("FailureTarget", "DeadlineExceeded")]
    assert not w.active() and all(t.DeletionTimestamp for t in w.pods())
    assert (j.Status.Terminating, j.Status.Active) == (3, 0)
    assert events(w, "DeadlineExceeded") == []  # not before its Pods have stopped
    await w.finish(0)
    j = w.job()
    assert jb.is_finished(j) == "Failed" and (j.Status.Conditions or [])[-1].Reason == "DeadlineExceeded"
    assert events(w, "DeadlineExceeded") == ["Job was active longer than specified deadline"]


async def test_suspend_and_resume(w: World) -> None:
    await w.kube.create(job(suspend=True, completions=2, parallelism=2))
    await w.settle()
    j = w.job()
    assert not w.pods() and not j.Status.StartTime
    assert [(c.Type, c.Status, c.Reason) for c in j.Status.Conditions or []] == [("Suspended", "True", "JobSuspended")]
    j = clone(j)
    j.Spec.Suspend = False
    await w.kube.update(j)
    await w.settle()
    j = w.job()
    assert len(w.active()) == 2 and j.Status.StartTime
    assert [(c.Type, c.Status, c.Reason) for c in j.Status.Conditions or []] == [("Suspended", "False", "JobResumed")]
    assert events(w, "Resumed") == ["Job resumed"]


async def test_indexed_job_gives_each_pod_an_index(w: World) -> None:
    await w.kube.create(job(completions=3, parallelism=2, mode="Indexed"))
    await w.settle()
    pods = w.active()
    idx = sorted(jb.pod_index(t) or 0 for t in pods)
    assert idx == [0, 1]
    for t in pods:
        i = jb.pod_index(t)
        assert t.Name.startswith(f"pi-{i}-") and t.Spec.Hostname == f"pi-{i}"
        assert t.Labels and t.Labels[batch.COMPLETION_INDEX] == str(i)
        assert f"JOB_COMPLETION_INDEX={i}" in (t.Spec.Containers[0].Env or [])
    await w.start()
    await w.finish(1)
    st = w.job().Status
    assert st.Succeeded == 1 and st.CompletedIndexes in ("0", "1")
    assert {jb.pod_index(t) for t in w.active()} == {0, 1, 2} - {int(st.CompletedIndexes)}
    await w.start()
    await w.finish(2)
    st = w.job().Status
    assert st.CompletedIndexes == "0-2" and jb.is_finished(w.job()) == "Complete"


async def test_ttl_after_finished_deletes_the_job_and_its_pods(w: World) -> None:
    await w.kube.create(job(ttl=60))
    await w.settle()
    await w.start()
    await w.finish(1)
    assert jb.is_finished(w.job()) == "Complete"
    await w.later(59)
    assert w.kube.list("jobs", "default")
    await w.later(2)
    await w.finish(0)  # the kubelet lets the deleted Pods go
    assert not w.kube.list("jobs", "default")
    assert not w.pods()
