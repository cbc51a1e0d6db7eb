"""End to end: Jobs and CronJobs with the machine's real kubectl against a single-node swarm on runc.
What kubectl prints (create job, wait, logs, get jobs and pods, create cronjob, create job --from) and
what really runs: a Job whose busybox container prints ``done`` and exits completes and its Pod stays
``Completed`` with the output in its logs; a Job whose container exits 3 is retried after the back-off
and fails with ``BackoffLimitExceeded``; a CronJob of ``*/1 * * * *`` makes a Job at the next minute
(really waited for) that runs ``date``. The image is the tests' busybox root filesystem tagged
``busybox`` (nothing is pulled: a name without a registry is the node's own)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevNode
from tests.support import wait_for

from .conftest import web_swarm
from .kubectl import Kubectl

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

FAILING = """apiVersion: batch/v1
kind: Job
metadata:
  name: bad
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: bad
        image: busybox
        command: ["sh", "-c", "echo trying; exit 3"]
"""


@pytest.fixture(scope="module")
def node(e2e_base: Path) -> Iterator[DevNode]:
    with web_swarm(e2e_base / "kube-jobs") as d:
        d.docker("tag", "web:latest", "busybox:latest")
        yield d


@pytest.fixture(scope="module")
def k(node: DevNode, e2e_base: Path) -> Iterator[Kubectl]:
    kubectl = Kubectl(node, e2e_base / "kubectl-jobs")
    yield kubectl
    kubectl.run("delete", "cronjobs,jobs", "--all", check=False)
    kubectl.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)


def wait_condition(k: Kubectl, name: str, condition: str = "complete") -> str:
    """``kubectl wait --for=condition=<condition> job/<name>``; on a timeout, the Job and its Pods in the
    failure's message."""
    r = k.run("wait", f"--for=condition={condition}", f"job/{name}", "--timeout=120s", timeout=130, check=False)
    if r.returncode != 0:
        state = k.run("get", "job", name, "-o", "yaml", check=False).stdout
        pods = k.run("get", "pods", "-l", f"job-name={name}", "-o", "yaml", check=False).stdout
        raise AssertionError(f"job {name} not {condition}: {r.stderr}\n{state}\n{pods}")
    return r.stdout


def rows(out: str) -> list[list[str]]:
    return [r.split() for r in out.splitlines()[1:] if r.strip()]


def test_job_completes_and_its_pod_stays_completed(k: Kubectl) -> None:
    out = k("create", "job", "once", "--image=busybox", "--", "sh", "-c", "echo done")
    assert out.strip() == "job.batch/once created"
    out = wait_condition(k, "once")
    assert out.strip() == "job.batch/once condition met"
    assert k("logs", "job/once").strip() == "done"
    [job] = rows(k("get", "jobs"))
    assert job[:3] == ["once", "Complete", "1/1"]
    assert k("get", "jobs").splitlines()[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    [pod] = rows(k("get", "pods", "-l", "job-name=once"))
    assert pod[0].startswith("once-") and pod[1:3] == ["0/1", "Completed"]
    p = k.json("get", "pods", "-l", "batch.kubernetes.io/job-name=once")["items"][0]
    assert p["status"]["phase"] == "Succeeded"
    assert p["metadata"]["ownerReferences"][0]["kind"] == "Job"
    events = k("get", "events", "--field-selector", "involvedObject.name=once")
    assert "Job completed" in events and f"Created pod: {pod[0]}" in events
    assert k("delete", "job", "once").strip() == 'job.batch "once" deleted'
    wait_for(lambda: not k("get", "pods", "-l", "job-name=once", "-o", "name").strip(), timeout=60,
             what="the Job's Pod collected")


def test_failing_job_backs_off_then_reaches_its_backoff_limit(k: Kubectl) -> None:
    assert k("apply", "-f", "-", input=FAILING).strip() == "job.batch/bad created"
    out = wait_condition(k, "bad", "failed")
    assert out.strip() == "job.batch/bad condition met"
    job = k.json("get", "job", "bad")
    [cond] = [c for c in job["status"]["conditions"] if c["type"] == "Failed"]
    assert (cond["reason"], cond["message"]) == ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert job["status"]["failed"] == 2
    pods = k.json("get", "pods", "-l", "job-name=bad")["items"]
    assert len(pods) == 2 and all(p["status"]["phase"] == "Failed" for p in pods)
    ends = sorted(p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] for p in pods)
    starts = sorted(p["metadata"]["creationTimestamp"] for p in pods)
    assert ends[0] <= starts[1]  # the second Pod was made after the first ended (its back-off)
    assert all(r[2] == "Error" for r in rows(k("get", "pods", "-l", "job-name=bad")))
    assert rows(k("get", "jobs", "bad"))[0][:3] == ["bad", "Failed", "0/1"]
    assert "Job has reached the specified backoff limit" in k("get", "events", "--field-selector",
                                                              "reason=BackoffLimitExceeded")

BRIEF = """apiVersion: batch/v1
kind: Job
metadata:
  name: brief
spec:
  ttlSecondsAfterFinished: 2
  template:
    spec:
      restartPolicy: OnFailure
      containers:
      - name: brief
        image: busybox
        command: ["true"]
"""


def test_finished_job_goes_after_its_ttl(k: Kubectl) -> None:
    assert k("apply", "-f", "-", input=BRIEF).strip() == "job.batch/brief created"
    wait_condition(k, "brief")
    k("wait", "--for=delete", "job/brief", "--timeout=60s", timeout=70)  # (also fine if already gone)
    assert "brief" not in k("get", "jobs", "-o", "name")
    wait_for(lambda: not k("get", "pods", "-l", "job-name=brief", "-o", "name").strip(), timeout=60,
             what="the Job's Pod deleted with it")


def test_cronjob_makes_a_job_at_the_next_minute(k: Kubectl) -> None:
    out = k("create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *", "--", "date")
    assert out.strip() == "cronjob.batch/tick created"
    header = k("get", "cronjobs").splitlines()[0].split()
    assert header == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    # kubectl create job --from: a Job of the template, owned by the CronJob
    assert k("create", "job", "now", "--from=cronjob/tick").strip() == "job.batch/now created"
    wait_condition(k, "now")
    # the real schedule: a Job at the next minute
    made = time.time()
    wait_for(lambda: any(n.startswith("job.batch/tick-") for n in k("get", "jobs", "-o", "name").split()),
             timeout=75, what="the CronJob's Job")
    [name] = [n.removeprefix("job.batch/") for n in k("get", "jobs", "-o", "name").split() if "tick-" in n]
    minute = int(name.removeprefix("tick-"))
    assert made - 60 <= minute * 60 <= made + 61
    job = k.json("get", "job", name)
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute * 60))
    wait_condition(k, name)
    assert "UTC" in k("logs", f"job/{name}")  # date's output
    wait_for(lambda: k.json("get", "cronjob", "tick")["status"].get("lastSuccessfulTime") is not None,
             timeout=30, what="the CronJob's lastSuccessfulTime")
    [row] = rows(k("get", "cronjob", "tick"))
    assert row[:7] == ["tick", "*/1", "*", "*", "*", "*", "<none>"] and row[7] == "False"
    assert k("delete", "cronjob", "tick").strip() == 'cronjob.batch "tick" deleted'
    wait_for(lambda: not [n for n in k("get", "jobs", "-o", "name").split() if n != "job.batch/bad"], timeout=60,
             what="the CronJob's Jobs collected")
