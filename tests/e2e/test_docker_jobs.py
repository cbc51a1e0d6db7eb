"""Swarm jobs with the real docker CLI 28 against ``shoal daemon`` on runc: ``service create --mode
replicated-job`` shows Docker's job progress and returns when the job completed, ``service ls`` and
``service ps`` show the job as Docker does, an update (``--force``, ``scale``) runs it again, and the
refusals are Docker's words; a global job runs once on the node, and once on each of two nodes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ShoalDaemon, web_pair, web_swarm
from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNTIME = "runc" if shutil.which("runc") else "process"


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    with web_swarm(e2e_base / "jobs", RUNTIME) as d:
        yield d


def ls_row(d: ShoalDaemon, name: str) -> list[str]:
    for r in rows(d.docker("service", "ls").stdout):
        if r[1] == name:
            return r
    return []


def node_id(d: ShoalDaemon) -> str:
    return str(json.loads(d.docker("info", "--format", "{{json .Swarm.NodeID}}").stdout))


def test_replicated_job_progress_returns_when_complete(shoal: ShoalDaemon) -> None:
    r = shoal.docker("service", "create", "--name", "batch", "--mode", "replicated-job", "--replicas", "6",
                     "--max-concurrent", "2", "web", "sh", "-c", "sleep 1", timeout=120)
    out = r.stdout + r.stderr
    assert "active tasks: 2 out of 2 tasks" in out and "1/6:" in out and "6/6:" in out
    assert "job complete" in out
    # Every task of the run complete by the time the command returned.
    row = ls_row(shoal, "batch")
    assert row[2:4] == ["replicated job", "0/2 (6/6 completed)"]


def test_service_ps_shows_complete_tasks(shoal: ShoalDaemon) -> None:
    ps = rows(shoal.docker("service", "ps", "batch").stdout)
    assert len(ps) == 6
    # Slots 0 to 5, as SwarmKit numbers a job's: the CLI names slot 0 by its node.
    assert {r[1] for r in ps} == {f"batch.{node_id(shoal)}", *(f"batch.{i}" for i in range(1, 6))}
    assert all(r[4] == "Complete" and r[5].startswith("Complete ") for r in ps)
    task = json.loads(shoal.docker("inspect", "--type", "task", ps[0][0]).stdout)[0]
    assert task["JobIteration"].get("Index", 0) == 0 and task["DesiredState"] == "complete"
    svc = json.loads(shoal.docker("service", "inspect", "batch").stdout)[0]
    assert svc["Spec"]["Mode"]["ReplicatedJob"] == {"MaxConcurrent": 2, "TotalCompletions": 6}
    # The CLI prints the service as Go encodes it again: an Index of 0 is left out (omitempty).
    assert svc["JobStatus"]["JobIteration"].get("Index", 0) == 0 and svc["JobStatus"]["LastExecution"]


def test_update_and_scale_run_the_job_again(shoal: ShoalDaemon) -> None:
    refused = shoal.docker("service", "update", "--update-parallelism", "2", "batch", check=False)
    assert refused.returncode != 0
    assert "rpc error: code = InvalidArgument desc = Jobs may not have an update config" in refused.stderr
    shoal.docker("service", "update", "-d", "--force", "batch")
    svc = json.loads(shoal.docker("service", "inspect", "batch").stdout)[0]
    assert svc["JobStatus"]["JobIteration"]["Index"] == 1
    wait_for(lambda: ls_row(shoal, "batch")[3] == "0/2 (6/6 completed)"
             and len(rows(shoal.docker("service", "ps", "batch").stdout)) == 12, timeout=90, what="second run")
    r = shoal.docker("service", "scale", "batch=3", timeout=90)  # CLI 28: TotalCompletions, a third run
    assert "job complete" in r.stdout + r.stderr
    assert ls_row(shoal, "batch")[3] == "0/2 (3/3 completed)"
    shoal.docker("service", "rm", "batch")


def test_job_flags_refused_in_dockers_words(shoal: ShoalDaemon) -> None:
    r = shoal.docker("service", "create", "-d", "--mode", "replicated-job", "--update-parallelism", "2",
                     "web", "true", check=False)
    assert r.returncode != 0 and "update and rollback configuration is not supported for jobs" in r.stderr


def test_global_job_runs_once_on_the_node(shoal: ShoalDaemon) -> None:
    r = shoal.docker("service", "create", "--name", "everywhere", "--mode", "global-job", "web", "sh", "-c",
                     "sleep 0.5", timeout=90)
    assert "job complete" in r.stdout + r.stderr
    row = ls_row(shoal, "everywhere")
    assert row[2:4] == ["global job", "0/0 (1/1 completed)"]
    ps = rows(shoal.docker("service", "ps", "everywhere").stdout)
    assert len(ps) == 1 and ps[0][4] == "Complete" and ps[0][5].startswith("Complete ")
    scale = shoal.docker("service", "scale", "everywhere=2", check=False)
    assert "scale can only be used with replicated or replicated-job mode" in scale.stderr
    shoal.docker("service", "rm", "everywhere")


def test_global_job_runs_once_on_each_of_two_nodes(e2e_base: Path) -> None:
    with web_pair(e2e_base / "pair", ("job-a", "job-b")) as (_, a, _b):
        r = a.docker("service", "create", "--name", "both", "--mode", "global-job", "web", "sh", "-c", "sleep 0.5",
                     timeout=120)
        assert "job complete" in r.stdout + r.stderr
        assert ls_row(a, "both")[2:4] == ["global job", "0/0 (2/2 completed)"]
        ps = rows(a.docker("service", "ps", "both").stdout)
        assert len(ps) == 2 and len({r[3] for r in ps}) == 2
        assert all(r[4] == "Complete" and r[5].startswith("Complete ") for r in ps)
        a.docker("service", "rm", "both")
