"""The shoal CLI's progress for jobs, as the docker CLI draws it: a replicated job's completions,
active tasks and a bar per slot (slot n as n+1/T) until its current run completed, a global job's
completions over its nodes; tasks of an earlier run do not count."""

from __future__ import annotations

import io
from typing import Any

from tests.unit.cli.test_service_cli import ScriptedClient

from shoal.cli.service.progress import wait_on_service


def job_service(run: int = 0, replicated: bool = True) -> dict[str, Any]:
    mode = {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}} if replicated else {"GlobalJob": {}}
    return {"ID": "svc1", "Spec": {"Name": "job", "Mode": mode},
            "JobStatus": {"JobIteration": {"Index": run}, "LastExecution": "2026-12-04T20:00:00Z"}}


def jtask(slot: int, state: str, run: int = 0, node: str = "n1") -> dict[str, Any]:
    return {"Slot": slot, "NodeID": node, "DesiredState": "complete", "Status": {"State": state},
            "JobIteration": {"Index": run}}


def follow(svc: dict[str, Any], tasks: list[list[dict[str, Any]]]) -> list[str]:
    out = io.StringIO()
    client = ScriptedClient({"/nodes": [[{"ID": "n1"}, {"ID": "n2"}]], "/services/job": [svc], "/tasks": tasks})
    wait_on_service(client, "job", interval=0, out=out)
    return out.getvalue().splitlines()


def test_replicated_job_progress_until_the_run_completed() -> None:
    lines = follow(job_service(1), [
        [jtask(0, "complete", run=0), jtask(0, "running", run=1), jtask(1, "pending", run=1)],
        [jtask(0, "complete", run=1), jtask(1, "complete", run=1), jtask(2, "running", run=1)],
        [jtask(0, "complete", run=1), jtask(1, "complete", run=1), jtask(2, "complete", run=1)],
    ])
    assert lines[:5] == ["job progress: 0 out of 3 complete", "active tasks: 0 out of 2 tasks", "1/3:", "2/3:",
                         "3/3:"]
    assert "1/3: running" in lines and "2/3: pending" in lines and "active tasks: 2 out of 2 tasks" in lines
    assert lines[-4:] == ["3/3: complete", "job progress: 3 out of 3 complete", "active tasks: 0 out of 0 tasks",
                          "job complete"]


def test_global_job_progress_counts_the_nodes_it_began_on() -> None:
    lines = follow(job_service(replicated=False), [
        [],
        [jtask(0, "running", node="n1"), jtask(0, "pending", node="n2")],
        [jtask(0, "complete", node="n1"), jtask(0, "complete", node="n2")],
    ])
    assert lines[0] == "job progress: waiting for tasks"
    assert "job progress: 0 out of 2 complete" in lines and "n1: running" in lines
    assert lines[-2:] == ["job progress: 2 out of 2 complete", "job complete"]
