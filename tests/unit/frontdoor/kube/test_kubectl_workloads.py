"""Deployments and ReplicaSets with the real kubectl (its dispatcher, and 1.32) against the Kubernetes door
over an in-memory store, with the ReplicaSet and Deployment controllers and the garbage collector running
and a fake kubelet that makes every new Pod running and ready and lets deleted ones go (no containers run
here: ``tests/e2e/test_kubectl_workloads.py`` runs them on runc)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.api.states import TaskState
from shoal.api.types import ContainerStatus, Task, clone, now_ts
from shoal.manager.kube.deployments import DeploymentController
from shoal.manager.kube.replicasets import ReplicaSetController
from shoal.manager.kube.workloads import POD_TEMPLATE_HASH, SAFE_CHARS
from tests.unit.frontdoor.kube.apiserver import KUBECTL
from tests.unit.frontdoor.kube.fakenode import Env, serving_with
from tests.unit.frontdoor.kube.test_kubectl_fake import BINARIES, Kubectl

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


async def fake_kubelet(env: Env) -> None:
    """Pods to running and ready as they come (but those of an image called ``never:*``); deleted ones gone."""
    while True:
        for t in env.kube.list("tasks"):
            if t.DeletionTimestamp:
                with contextlib.suppress(Exception):
                    await env.store.commit(deletes=[t])
            elif t.Status.State == TaskState.NEW and not t.Spec.Containers[0].Image.startswith("never:"):
                t = clone(t)
                t.Status.State, t.Status.Timestamp, t.NodeID = TaskState.RUNNING, now_ts(), "node01"
                t.Status.Containers = [ContainerStatus(Name=c.Name, State="running", Ready=True)
                                       for c in t.Spec.Containers]
                with contextlib.suppress(Exception):
                    await env.store.commit(updates=[t])
        await asyncio.sleep(0.02)


def serving_workloads() -> contextlib.AbstractAsyncContextManager[Env]:
    """The door over an in-memory store with the ReplicaSet and Deployment controllers and the fake kubelet."""
    return serving_with(lambda store, kube: [ReplicaSetController(store, kube), DeploymentController(store, kube)],
                        fake_kubelet)


@pytest.fixture(params=BINARIES)
async def kc(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kubectl]:
    async with serving_workloads() as env:
        yield Kubectl(env, tmp_path, request.param)


def pods(kc: Kubectl) -> list[Task]:
    return [t for t in kc.env.kube.list("tasks", "default") if not t.DeletionTimestamp]


def rows(out: str) -> dict[str, list[str]]:
    return {r.split()[0]: r.split() for r in out.splitlines()[1:] if r.strip()}


async def test_deployment_lifecycle(kc: Kubectl) -> None:
    _, out, _ = await kc("create", "deployment", "web", "--image=busybox:1", "--replicas=3", "--", "sleep", "3600")
    assert out.strip() == "deployment.apps/web created"
    _, out, _ = await kc("rollout", "status", "deployment/web", "--timeout=60s")
    assert out.strip().endswith('deployment "web" successfully rolled out')
    _, out, _ = await kc("get", "deploy,rs,pods")
    blocks = out.strip().split("\n\n")
    assert blocks[0].splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert blocks[0].splitlines()[1].split()[:4] == ["deployment.apps/web", "3/3", "3", "3"]
    assert blocks[1].splitlines()[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    rs_row = blocks[1].splitlines()[1].split()
    rs_name = rs_row[0].removeprefix("replicaset.apps/")
    assert rs_row[1:4] == ["3", "3", "3"]
    tpl_hash = rs_name.removeprefix("web-")
    assert 9 <= len(tpl_hash) <= 10 and set(tpl_hash) <= set(SAFE_CHARS)
    pod_names = [r.split()[0].removeprefix("pod/") for r in blocks[2].splitlines()[1:]]
    assert len(pod_names) == 3 and all(p.startswith(rs_name + "-") and len(p) == len(rs_name) + 6 for p in pod_names)
    _, out, _ = await kc("get", "all")
    assert "deployment.apps/web" in out and f"replicaset.apps/{rs_name}" in out and f"pod/{pod_names[0]}" in out
    _, out, _ = await kc("get", "deploy", "-o", "wide")
    assert out.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES",
                                           "SELECTOR"]
    assert out.splitlines()[1].split()[5:] == ["busybox", "busybox:1", "app=web"]
    _, out, _ = await kc("get", "rs", "-o", "wide")
    assert out.splitlines()[1].split()[5:] == ["busybox", "busybox:1", f"app=web,{POD_TEMPLATE_HASH}={tpl_hash}"]
    _, out, _ = await kc("get", "deploy", "web", "-o", "json")
    d = json.loads(out)
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%",
                                                                                 "maxSurge": "25%"}}
    assert (d["spec"]["revisionHistoryLimit"], d["spec"]["progressDeadlineSeconds"]) == (10, 600)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"

    _, out, _ = await kc("describe", "deployment", "web")
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in out
    assert f"NewReplicaSet:   {rs_name} (3/3 replicas created)" in out
    assert f"Scaled up replica set {rs_name} from 0 to 3" in out
    _, out, _ = await kc("describe", "rs", rs_name)
    assert "Controlled By:  Deployment/web" in out and "3 Running / 0 Waiting / 0 Succeeded / 0 Failed" in out
    assert "SuccessfulCreate" in out

    _, out, _ = await kc("scale", "deployment", "web", "--replicas=5")
    assert out.strip() == "deployment.apps/web scaled"
    await kc("rollout", "status", "deployment/web", "--timeout=60s")
    assert len(pods(kc)) == 5

    # the image and the change cause in one patch, as ``set image --record`` would send them
    _, out, _ = await kc("patch", "deployment", "web", "-p", json.dumps({
        "metadata": {"annotations": {"kubernetes.io/change-cause": "to-busybox-2"}},
        "spec": {"template": {"spec": {"containers": [{"name": "busybox", "image": "busybox:2"}]}}}}))
    assert out.strip() == "deployment.apps/web patched"
    await kc("rollout", "status", "deployment/web", "--timeout=60s")
    assert {t.Spec.Containers[0].Image for t in pods(kc)} == {"busybox:2"}
    _, out, _ = await kc("rollout", "history", "deployment/web")
    assert [r.split()[:2] for r in out.splitlines()[2:] if r.strip()] == [["1", "<none>"], ["2", "to-busybox-2"]]
    _, out, _ = await kc("rollout", "history", "deployment/web", "--revision=1")
    assert "busybox:1" in out

    _, out, _ = await kc("rollout", "undo", "deployment/web")
    assert out.strip() == "deployment.apps/web rolled back"
    await kc("rollout", "status", "deployment/web", "--timeout=60s")
    assert {t.Spec.Containers[0].Image for t in pods(kc)} == {"busybox:1"}
    _, out, _ = await kc("get", "rs")
    assert rows(out)[rs_name][1] == "5"  # the first ReplicaSet again, now revision 3
    _, out, _ = await kc("rollout", "history", "deployment/web")
    assert [r.split()[0] for r in out.splitlines()[2:] if r.strip()] == ["2", "3"]

    _, out, _ = await kc("rollout", "pause", "deployment/web")
    assert out.strip() == "deployment.apps/web paused"
    await kc("set", "image", "deployment/web", "busybox=busybox:3")
    _, out, _ = await kc("get", "rs", "-o", "name")
    assert len(out.split()) == 2  # paused: no new ReplicaSet
    _, out, _ = await kc("rollout", "resume", "deployment/web")
    assert out.strip() == "deployment.apps/web resumed"
    await kc("rollout", "status", "deployment/web", "--timeout=60s")
    assert {t.Spec.Containers[0].Image for t in pods(kc)} == {"busybox:3"}
    _, out, _ = await kc("rollout", "restart", "deployment/web")
    assert out.strip() == "deployment.apps/web restarted"
    await kc("rollout", "status", "deployment/web", "--timeout=60s")
    assert all("kubectl.kubernetes.io/restartedAt" in (t.Annotations or {}) for t in pods(kc))

    _, out, _ = await kc("delete", "deployment", "web")
    assert out.strip() == 'deployment.apps "web" deleted'
    for _ in range(500):
        if not kc.env.kube.list("replicasets", "default") and not pods(kc):
            break
        await asyncio.sleep(0.02)
    assert not kc.env.kube.list("replicasets", "default") and not pods(kc)


BAD = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: x
    spec:
      containers:
      - name: web
        image: busybox
"""


async def test_invalid_deployments_in_the_api_servers_words(kc: Kubectl) -> None:
    (kc.tmp / "bad.yaml").write_text(BAD)
    code, _, err = await kc("apply", "-f", str(kc.tmp / "bad.yaml"), ok=False)
    assert code == 1
    assert 'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: ' \
           'map[string]string{"app":"x"}: `selector` does not match template `labels`' in err
    (kc.tmp / "nosel.yaml").write_text(BAD.replace("  selector:\n    matchLabels:\n      app: web\n", ""))
    code, _, err = await kc("apply", "-f", str(kc.tmp / "nosel.yaml"), ok=False)
    assert "spec.selector: Required value" in err
    (kc.tmp / "empty.yaml").write_text(BAD.replace("    matchLabels:\n      app: web\n", "    matchLabels: {}\n"))
    code, _, err = await kc("apply", "-f", str(kc.tmp / "empty.yaml"), ok=False)
    assert "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), " \
           "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment" in err
    zero = BAD.replace("app: x", "app: web").replace(
        "  template:", "  strategy:\n    rollingUpdate:\n      maxSurge: 0\n      maxUnavailable: 0\n  template:")
    (kc.tmp / "zero.yaml").write_text(zero)
    code, _, err = await kc("apply", "-f", str(kc.tmp / "zero.yaml"), ok=False)
    assert "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0" in err


RS = """apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: front
spec:
  replicas: 2
  selector:
    matchLabels:
      tier: front
  template:
    metadata:
      labels:
        tier: front
    spec:
      containers:
      - name: web
        image: busybox
"""


async def test_replica_set_replaces_a_deleted_pod_and_scales(kc: Kubectl) -> None:
    (kc.tmp / "rs.yaml").write_text(RS)
    _, out, _ = await kc("apply", "-f", str(kc.tmp / "rs.yaml"))
    assert out.strip() == "replicaset.apps/front created"
    _, out, _ = await kc("apply", "-f", str(kc.tmp / "rs.yaml"))
    assert out.strip() == "replicaset.apps/front unchanged"
    _, out, _ = await kc("explain", "deployment.spec.strategy.rollingUpdate")
    assert "maxSurge" in out and "maxUnavailable" in out
    _, out, _ = await kc("wait", "--for=jsonpath={.status.readyReplicas}=2", "rs/front", "--timeout=60s")
    first = sorted(t.Name for t in pods(kc))
    await kc("delete", "pod", first[0])
    for _ in range(500):
        names = sorted(t.Name for t in pods(kc))
        if len(names) == 2 and first[0] not in names:
            break
        await asyncio.sleep(0.02)
    assert len(names) == 2 and first[0] not in names and first[1] in names
    _, out, _ = await kc("scale", "rs", "front", "--replicas=4")
    assert out.strip() == "replicaset.apps/front scaled"
    await kc("wait", "--for=jsonpath={.status.readyReplicas}=4", "rs/front", "--timeout=60s")
    _, out, _ = await kc("get", "rs", "front", "-o", "jsonpath={.status}")
    status = json.loads(out)
    assert status == {"availableReplicas": 4, "fullyLabeledReplicas": 4, "observedGeneration": 2,
                      "readyReplicas": 4, "replicas": 4}


SLOW = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: slow
spec:
  replicas: 2
  progressDeadlineSeconds: 2
  selector:
    matchLabels:
      app: slow
  template:
    metadata:
      labels:
        app: slow
    spec:
      containers:
      - name: web
        image: busybox:1
"""


async def test_a_rollout_that_never_gets_ready_exceeds_its_deadline_and_is_undone(kc: Kubectl) -> None:
    (kc.tmp / "slow.yaml").write_text(SLOW)
    await kc("apply", "-f", str(kc.tmp / "slow.yaml"))
    await kc("rollout", "status", "deployment/slow", "--timeout=60s")
    await kc("set", "image", "deployment/slow", "web=never:1")
    code, out, err = await kc("rollout", "status", "deployment/slow", "--timeout=60s", ok=False)
    assert code == 1 and 'error: deployment "slow" exceeded its progress deadline' in err, (out, err)
    _, out, _ = await kc("get", "deploy", "slow", "-o", "json")
    status = json.loads(out)["status"]
    conds = {c["type"]: c for c in status["conditions"]}
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert conds["Progressing"]["message"].endswith("has timed out progressing.")
    assert (conds["Available"]["status"], status["availableReplicas"]) == ("True", 2)  # the old Pods still serve
    _, out, _ = await kc("rollout", "undo", "deployment/slow")
    assert out.strip() == "deployment.apps/slow rolled back"
    await kc("rollout", "status", "deployment/slow", "--timeout=60s")
    assert {t.Spec.Containers[0].Image for t in pods(kc) if (t.Labels or {}).get("app") == "slow"} == {"busybox:1"}


async def test_apply_switches_to_recreate_and_rolls_out(kc: Kubectl) -> None:
    manifest = kc.tmp / "slow.yaml"
    manifest.write_text(SLOW.replace("  progressDeadlineSeconds: 2\n", ""))
    await kc("apply", "-f", str(manifest))
    await kc("rollout", "status", "deployment/slow", "--timeout=60s")
    recreate = SLOW.replace("  progressDeadlineSeconds: 2\n", "  strategy:\n    type: Recreate\n")
    manifest.write_text(recreate.replace("image: busybox:1", "image: busybox:2"))
    _, out, _ = await kc("apply", "-f", str(manifest))
    assert out.strip() == "deployment.apps/slow configured"
    _, out, _ = await kc("get", "deploy", "slow", "-o", "jsonpath={.spec.strategy}")
    assert json.loads(out) == {"type": "Recreate"}
    await kc("rollout", "status", "deployment/slow", "--timeout=60s")
    assert {t.Spec.Containers[0].Image for t in pods(kc) if (t.Labels or {}).get("app") == "slow"} == {"busybox:2"}
