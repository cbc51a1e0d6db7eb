"""Jobs on the Docker wire: a job's ``JobStatus`` and its tasks' ``JobIteration`` as dockerd writes them
(the first run's ``JobIteration`` is ``{}``: Go leaves a zero ``Index`` out), and neither on any other
service or task."""

from __future__ import annotations

import msgspec

from shoal.api import types as T
from shoal.frontdoor.docker import wire


def job(run: int) -> T.Service:
    spec = T.ServiceSpec(Name="batch", TaskTemplate=T.TaskSpec(Containers=[T.ContainerSpec(Image="busybox")]),
                         Mode=T.ServiceMode(ReplicatedJob=T.ReplicatedJob(MaxConcurrent=2, TotalCompletions=6)))
    return T.Service(ID="s1", Spec=spec, JobStatus=T.JobStatus(JobIteration=T.Version(Index=run),
                                                                LastExecution="2026-12-04T20:05:17.899670626Z"))


def as_json(obj: object) -> dict[str, object]:
    out: dict[str, object] = msgspec.json.decode(msgspec.json.encode(obj))
    return out


def test_a_jobs_status_and_mode_as_dockerd_writes_them() -> None:
    first = as_json(wire.service_from_core(job(0)))
    assert first["JobStatus"] == {"JobIteration": {}, "LastExecution": "2026-12-04T20:05:17.899670626Z"}
    assert first["Spec"]["Mode"]["ReplicatedJob"] == {"MaxConcurrent": 2, "TotalCompletions": 6}  # type: ignore[index]
    assert as_json(wire.service_from_core(job(3)))["JobStatus"]["JobIteration"] == {"Index": 3}  # type: ignore[index]


def test_a_jobs_tasks_carry_their_run_and_no_other_task_does() -> None:
    t = T.Task(ID="t1", Owner=T.ObjectRef(Kind=T.SERVICE_KIND, ID="s1"), DesiredState=T.TaskState.COMPLETE,
               JobIteration=T.Version(Index=0))
    got = as_json(wire.task_from_core(t))
    assert got["JobIteration"] == {} and got["DesiredState"] == "complete"
    assert as_json(wire.task_from_core(msgspec.structs.replace(t, JobIteration=T.Version(Index=2))))[
        "JobIteration"] == {"Index": 2}
    plain = msgspec.structs.replace(t, JobIteration=None, DesiredState=T.TaskState.RUNNING)
    assert "JobIteration" not in as_json(wire.task_from_core(plain))
    svc = job(0)
    svc.JobStatus = None
    svc.Spec.Mode = T.ServiceMode(Replicated=T.ReplicatedService(Replicas=1))
    assert "JobStatus" not in as_json(wire.service_from_core(svc))
