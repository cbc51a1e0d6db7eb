"""Jobs and CronJobs with the real kubectl (its dispatcher, and 1.32) against the Kubernetes door over an
in-memory store, with the Job and CronJob controllers and the garbage collector running and a fake
kubelet that runs every new Pod and ends it (exit 0; exit 1 for an image called ``fail:*``). No
container runs here: ``tests/e2e/test_kubectl_jobs.py`` runs them on runc."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.api import batch
from shoal.api.states import TaskState
from shoal.api.types import ContainerStatus, clone, now_ts
from shoal.manager.kube.cronjobs import CronJobController
from shoal.manager.kube.jobs import JobController
from tests.unit.frontdoor.kube.apiserver import KUBECTL
from tests.unit.frontdoor.kube.fakenode import Env, serving_with
from tests.unit.frontdoor.kube.test_kubectl_fake import BINARIES, Kubectl

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

FAILING = """apiVersion: batch/v1
kind: Job
metadata:
  name: bad
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: bad
        image: fail:1
"""
ALWAYS = FAILING.replace("name: bad\nspec:", "name: always\nspec:").replace("Never", "Always")


async def fake_kubelet(env: Env) -> None:
    """New Pods run, then end (exit 1 for a ``fail:*`` image, else 0); deleted ones go."""
    while True:
        for t in env.kube.list("tasks"):
            if t.DeletionTimestamp:
                with contextlib.suppress(Exception):
                    await env.store.commit(deletes=[t])
                continue
            t = clone(t)
            if t.Status.State == TaskState.NEW:
                t.Status.State, t.NodeID = TaskState.RUNNING, "node01"
                t.Status.Containers = [ContainerStatus(Name=c.Name, State="running", Ready=True)
                                       for c in t.Spec.Containers]
            elif t.Status.State == TaskState.RUNNING:
                code = 1 if t.Spec.Containers[0].Image.startswith("fail:") else 0
                t.Status.State = TaskState.FAILED if code else TaskState.COMPLETE
                t.Status.Containers = [ContainerStatus(Name=c.Name, State="terminated", ExitCode=code,
                                                       Reason="Error" if code else "Completed")
                                       for c in t.Spec.Containers]
            else:
                continue
            t.Status.Timestamp = now_ts()
            with contextlib.suppress(Exception):
                await env.store.commit(updates=[t])
        await asyncio.sleep(0.05)


def serving_jobs() -> contextlib.AbstractAsyncContextManager[Env]:
    return serving_with(lambda store, kube: [JobController(store, kube), CronJobController(store, kube)],
                        fake_kubelet)


@pytest.fixture(params=BINARIES)
async def kc(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kubectl]:
    async with serving_jobs() as env:
        (tmp_path / "bad.yaml").write_text(FAILING)
        (tmp_path / "always.yaml").write_text(ALWAYS)
        yield Kubectl(env, tmp_path, request.param)


async def test_a_job_completes_and_its_pod_stays_completed(kc: Kubectl) -> None:
    _, out, _ = await kc("create", "job", "once", "--image=busybox:1", "--", "sh", "-c", "echo done")
    assert out.strip() == "job.batch/once created"
    _, out, _ = await kc("wait", "--for=condition=complete", "job/once", "--timeout=30s")
    assert out.strip() == "job.batch/once condition met"
    _, out, _ = await kc("get", "jobs")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert row.split()[:3] == ["once", "Complete", "1/1"]
    _, out, _ = await kc("get", "pods")
    [pod_row] = out.splitlines()[1:]
    assert pod_row.split()[0].startswith("once-") and pod_row.split()[1:3] == ["0/1", "Completed"]
    _, out, _ = await kc("get", "job", "once", "-o", "json")
    job = json.loads(out)
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {batch.CONTROLLER_UID: uid}}
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "once", "controller-uid": uid,
        "job-name": "once"}
    assert (job["spec"]["backoffLimit"], job["spec"]["completions"], job["spec"]["parallelism"]) == (6, 1, 1)
    assert job["status"]["succeeded"] == 1 and job["status"]["ready"] == 0
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    _, out, _ = await kc("describe", "job", "once")
    assert "Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed" in out, out
    assert "Completed" in out and "Job completed" in out
    _, out, _ = await kc("get", "events", "--field-selector", "involvedObject.kind=Job")
    assert "Created pod: once-" in out and "Job completed" in out
    _, out, _ = await kc("delete", "job", "once")
    assert out.strip() == 'job.batch "once" deleted'


async def test_a_failing_job_reaches_its_backoff_limit(kc: Kubectl) -> None:
    _, out, _ = await kc("apply", "-f", str(kc.tmp / "bad.yaml"))
    assert out.strip() == "job.batch/bad created"
    _, out, _ = await kc("apply", "-f", str(kc.tmp / "bad.yaml"))
    assert out.strip() == "job.batch/bad unchanged"  # the generated selector is the server's, not a change
    _, out, _ = await kc("wait", "--for=condition=failed", "job/bad", "--timeout=30s")
    assert out.strip() == "job.batch/bad condition met"
    _, out, _ = await kc("get", "job", "bad", "-o", "jsonpath={.status.conditions[0].reason} {.status.failed}")
    assert out == "BackoffLimitExceeded 1"
    _, out, _ = await kc("get", "jobs")
    assert out.splitlines()[1].split()[:3] == ["bad", "Failed", "0/1"]


async def test_a_job_template_must_say_never_or_on_failure(kc: Kubectl) -> None:
    code, _, err = await kc("apply", "-f", str(kc.tmp / "always.yaml"), ok=False)
    assert code != 0
    assert 'The Job "always" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": ' \
           'supported values: "OnFailure", "Never"' in err


async def test_cronjob_create_get_and_a_job_from_it(kc: Kubectl) -> None:
    _, out, _ = await kc("create", "cronjob", "tick", "--image=busybox:1", "--schedule=*/1 * * * *", "--", "date")
    assert out.strip() == "cronjob.batch/tick created"
    _, out, _ = await kc("get", "cronjobs")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert row.split()[:8] == ["tick", "*/1", "*", "*", "*", "*", "<none>", "False"]
    _, out, _ = await kc("get", "cj", "tick", "-o", "json")
    cj = json.loads(out)
    assert cj["spec"]["concurrencyPolicy"] == "Allow"
    assert (cj["spec"]["successfulJobsHistoryLimit"], cj["spec"]["failedJobsHistoryLimit"]) == (3, 1)
    assert cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    _, out, _ = await kc("create", "job", "manual", "--from=cronjob/tick")
    assert out.strip() == "job.batch/manual created"
    _, out, _ = await kc("get", "job", "manual", "-o", "json")
    job = json.loads(out)
    [ref] = job["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"]) == ("CronJob", "tick", cj["metadata"]["uid"])
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    await kc("wait", "--for=condition=complete", "job/manual", "--timeout=30s")
    code, _, err = await kc("create", "cronjob", "bad", "--image=busybox:1", "--schedule=61 * * * *", ok=False)
    assert code != 0 and 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61' \
        in err
