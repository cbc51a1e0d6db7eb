"""End to end with the real kubectl (from a client namespace) against two namespaced runc nodes: a bare
ReplicaSet (``kubectl apply -f rs.yaml``) that replaces a deleted Pod and, scaled down, deletes its
not-ready Pod first (Kubernetes' order); a rollout whose new Pods never become ready (their readiness
probe answers 404) that stops at its ``progressDeadlineSeconds`` (``kubectl rollout status`` fails with
kube's message, ``ProgressDeadlineExceeded``, the unready Pods unavailable) and ``kubectl rollout undo``
bringing the old version back; the change cause in ``kubectl rollout history``, ``--revision=2`` and
``rollout undo --to-revision=1``; ``kubectl rollout status`` following a rolling update step by step
(its progress lines, then "successfully rolled out"). Every Pod's image is the tests' busybox root
filesystem, tagged ``web:v1`` and ``web:v2`` on both nodes (IfNotPresent: nothing is pulled)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_for

from .conftest import web_pair
from .kubectl import Kubectl

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

V1, V2 = "web:v1", "web:v2"

# A bare ReplicaSet whose Pods are ready while /www/state says ok (``kubectl exec`` can make one sick).
RS = """apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: front
spec:
  replicas: 3
  selector:
    matchLabels: {app: front}
  template:
    metadata:
      labels: {app: front}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: web:v1
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'echo ok > /www/state; exec httpd -f -p 80 -h /www']
        readinessProbe:
          exec:
            command: [sh, -c, 'test "$(cat /www/state)" = ok']
          periodSeconds: 1
"""


def deployment(name: str, image: str, ready_path: str = "/index.html", deadline: int = 600) -> str:
    """A Deployment of 3 whose Pods are ready once ``ready_path`` answers 200."""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 3
  progressDeadlineSeconds: {deadline}
  selector:
    matchLabels: {{app: {name}}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {image}
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'exec httpd -f -p 80 -h /www']
        readinessProbe:
          httpGet: {{path: {ready_path}, port: 80}}
          periodSeconds: 1
"""


@pytest.fixture(scope="module")
def k(e2e_base: Path) -> Iterator[Kubectl]:
    with web_pair(e2e_base / "krollout", ("krm", "krw")) as (cluster, manager, worker):
        for node in (manager, worker):
            for tag in (V1, V2):
                node.docker("tag", "web:latest", tag)
        client_ns, _ = cluster.add_client("krc")
        kubectl = Kubectl(manager, e2e_base / "krollout-kubectl", netns=client_ns)
        yield kubectl
        kubectl.run("delete", "deployments,replicasets", "--all", "--cascade=orphan", check=False)
        kubectl.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)


def live_pods(k: Kubectl, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k.json("get", "pods", "-l", selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def names(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["name"] for p in pods}


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


def running_unready(pod: dict[str, Any]) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return bool(statuses) and all("running" in s["state"] and not s["ready"] for s in statuses)


def rollout(k: Kubectl, name: str) -> None:
    out = k("rollout", "status", f"deployment/{name}", "--timeout=120s", timeout=140)
    assert out.strip().splitlines()[-1] == f'deployment "{name}" successfully rolled out', out


def all_ready_on(k: Kubectl, app: str, image: str, n: int = 3) -> bool:
    """``n`` Pods, each ready, asked for ``image`` and running it (as its node reports)."""
    pods = live_pods(k, f"app={app}")
    return len(pods) == n and all(ready(p) and p["spec"]["containers"][0]["image"] == image
                                  and p["status"]["containerStatuses"][0]["image"] == image for p in pods)


def history(k: Kubectl, name: str) -> list[list[str]]:
    lines = k("rollout", "history", f"deployment/{name}").splitlines()
    assert lines[0].strip() == f"deployment.apps/{name}" and lines[1].split() == ["REVISION", "CHANGE-CAUSE"]
    return [line.split(None, 1) for line in lines[2:] if line.strip()]


def test_a_bare_replicaset_replaces_a_deleted_pod_and_scales_down_its_unready_pod_first(k: Kubectl) -> None:
    assert k("apply", "-f", "-", input=RS).strip() == "replicaset.apps/front created"
    wait_for(lambda: len(pods := live_pods(k, "app=front")) == 3 and all(ready(p) for p in pods), timeout=90,
             what="3 ready Pods")
    row = k("get", "rs", "front").splitlines()
    assert row[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] and row[1].split()[:4] == \
        ["front", "3", "3", "3"]
    pods = live_pods(k, "app=front")
    owners = [p["metadata"]["ownerReferences"] for p in pods]
    assert all(o == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "front", "uid": o[0]["uid"],
                      "controller": True, "blockOwnerDeletion": True}] for o in owners), owners
    assert {p["spec"]["nodeName"] for p in pods} == {"krm", "krw"}  # spread over both nodes

    # A deleted Pod is replaced by a new one of the ReplicaSet.
    victim = sorted(names(pods))[0]
    assert k("delete", "pod", victim).strip() == f'pod "{victim}" deleted'
    after = wait_for(lambda: len(p := live_pods(k, "app=front")) == 3 and victim not in names(p)
                     and all(ready(x) for x in p) and p, timeout=90, what="the deleted Pod replaced")
    (new,) = names(after) - names(pods)
    assert new.startswith("front-")
    created = k("get", "events", "--field-selector", "reason=SuccessfulCreate,involvedObject.name=front",
                "-o", "jsonpath={range .items[*]}{.message}{'\\n'}{end}")
    assert f"Created pod: {new}" in created.splitlines()

    # One Pod made not ready (its readiness probe now fails): scaled to 2, that Pod is the one deleted.
    sick = sorted(names(after))[1]
    k("exec", sick, "--", "sh", "-c", "echo sick > /www/state")
    wait_for(lambda: not ready(k.json("get", "pod", sick)), timeout=30, what="the sick Pod not ready")
    wait_for(lambda: k("get", "rs", "front", "-o", "jsonpath={.status.readyReplicas}") == "2", timeout=30,
             what="the ReplicaSet counting 2 ready")
    assert k("scale", "rs", "front", "--replicas=2").strip() == "replicaset.apps/front scaled"
    left = wait_for(lambda: len(p := live_pods(k, "app=front")) == 2 and p, timeout=60, what="2 Pods left")
    assert names(left) == names(after) - {sick}
    deleted = k("get", "events", "--field-selector", "reason=SuccessfulDelete,involvedObject.name=front",
                "-o", "jsonpath={range .items[*]}{.message}{'\\n'}{end}")
    assert f"Deleted pod: {sick}" in deleted.splitlines()
    assert k("delete", "rs", "front").strip() == 'replicaset.apps "front" deleted'
    wait_for(lambda: not live_pods(k, "app=front"), timeout=60, what="the ReplicaSet's Pods going")


def test_a_rollout_that_never_becomes_ready_exceeds_its_progress_deadline_and_undo_restores_it(k: Kubectl) -> None:
    assert k("apply", "-f", "-", input=deployment("web", V1, deadline=10)).strip() == "deployment.apps/web created"
    rollout(k, "web")
    old_rs = k("get", "rs", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}")

    # v2's readiness probe asks for a page that is not there (404): its Pods run, never ready.
    out = k("apply", "-f", "-", input=deployment("web", V2, ready_path="/missing.html", deadline=10))
    assert out.strip() == "deployment.apps/web configured"
    r = k.run("rollout", "status", "deployment/web", "--timeout=120s", check=False, timeout=140)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines()[-1] == 'error: deployment "web" exceeded its progress deadline'
    assert 'Waiting for deployment "web" rollout to finish: 2 out of 3 new replicas have been updated...' \
        in r.stdout

    d = k.json("get", "deployment", "web")
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    new_rs = next(rs["metadata"]["name"] for rs in k.json("get", "rs", "-l", "app=web")["items"]
                  if rs["metadata"]["name"] != old_rs)
    assert (progressing["status"], progressing["reason"], progressing["message"]) == \
        ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{new_rs}" has timed out progressing.')
    # maxSurge 1, maxUnavailable 1: the old ReplicaSet down to 2 ready Pods, the new one up to 2 that
    # never become ready; the 4 Pods minus the 2 available are unavailable.
    st = d["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"],
            st["unavailableReplicas"]) == (4, 2, 2, 2, 2), st
    row = k("get", "deploy", "web").splitlines()[1].split()
    assert row[:4] == ["web", "2/3", "2", "2"]
    pods = live_pods(k, "app=web")
    unready = [p for p in pods if p["spec"]["containers"][0]["image"] == V2]
    assert len(unready) == 2 and all(running_unready(p) for p in unready)
    assert all(ready(p) for p in pods if p["spec"]["containers"][0]["image"] == V1)
    table = {line.split()[0]: line.split()[1:3] for line in k("get", "pods", "-l", "app=web").splitlines()[1:]}
    assert sorted(table[n] for n in names(unready)) == [["0/1", "Running"]] * 2
    first = unready[0]["metadata"]["name"]
    said = k("get", "events", "--field-selector", f"reason=Unhealthy,involvedObject.name={first}",
             "-o", "jsonpath={range .items[*]}{.message}{'\\n'}{end}")
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in said.splitlines()

    # Undo: the old template again, its ReplicaSet scaled back to 3, every Pod on v1 and ready.
    assert k("rollout", "undo", "deployment/web").strip() == "deployment.apps/web rolled back"
    rollout(k, "web")
    wait_for(lambda: all_ready_on(k, "web", V1), timeout=60, what="every Pod on the old image, ready")
    assert k("get", "rs", old_rs, "-o", "jsonpath={.spec.replicas}") == "3"
    assert k("get", "rs", new_rs, "-o", "jsonpath={.spec.replicas}") == "0"
    d = k.json("get", "deployment", "web")
    conds = {c["type"]: c["reason"] for c in d["status"]["conditions"]}
    assert conds == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    assert d["status"].get("unavailableReplicas", 0) == 0
    assert k("delete", "deployment", "web").strip() == 'deployment.apps "web" deleted'


def test_change_cause_history_of_a_revision_and_undo_to_revision_1(k: Kubectl) -> None:
    k("apply", "-f", "-", input=deployment("hist", V1))
    rollout(k, "hist")
    out = k("annotate", "deployment/hist", "kubernetes.io/change-cause=first release")
    assert out.strip() == "deployment.apps/hist annotated"
    assert k("set", "image", "deployment/hist", f"main={V2}").strip() == "deployment.apps/hist image updated"
    k("annotate", "--overwrite", "deployment/hist", "kubernetes.io/change-cause=v2 everywhere")
    rollout(k, "hist")
    wait_for(lambda: all_ready_on(k, "hist", V2), timeout=60, what="every Pod on v2")
    # The change cause is copied to the ReplicaSet of each revision, the new one's as it changes.
    wait_for(lambda: history(k, "hist") == [["1", "first release"], ["2", "v2 everywhere"]], timeout=30,
             what="both change causes in the history")

    shown = k("rollout", "history", "deployment/hist", "--revision=2")
    assert shown.splitlines()[0].strip() == "deployment.apps/hist with revision #2"
    fields = [line.split(None, 1) for line in shown.splitlines() if line.strip()]
    assert ["Image:", V2] in fields
    assert ["Annotations:", "kubernetes.io/change-cause: v2 everywhere"] in fields
    assert V1 in k("rollout", "history", "deployment/hist", "--revision=1")
    r = k.run("rollout", "history", "deployment/hist", "--revision=7", check=False)
    assert r.returncode == 1 and "unable to find the specified revision" in r.stderr

    out = k("rollout", "undo", "deployment/hist", "--to-revision=1")
    assert out.strip() == "deployment.apps/hist rolled back"
    rollout(k, "hist")
    wait_for(lambda: all_ready_on(k, "hist", V1), timeout=60, what="every Pod back on v1")
    # Revision 1 comes back as 3, with its change cause (kubectl's undo copies it to the Deployment).
    assert history(k, "hist") == [["2", "v2 everywhere"], ["3", "first release"]]
    annotations = k.json("get", "deployment", "hist")["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "3"
    assert annotations["kubernetes.io/change-cause"] == "first release"
    r = k.run("rollout", "undo", "deployment/hist", "--to-revision=3", check=False)
    assert "skipped rollback (current template already matches revision 3)" in r.stdout + r.stderr
    assert k("delete", "deployment", "hist").strip() == 'deployment.apps "hist" deleted'


ROLLOUT_LINE = re.compile(
    r'Waiting for deployment "prog" rollout to finish: (?:'
    r"(?P<updated>\d+) out of 3 new replicas have been updated|"
    r"(?P<old>\d+) old replicas are pending termination|"
    r"(?P<available>\d+) of 3 updated replicas are available)\.\.\.|"
    r"Waiting for deployment spec update to be observed\.\.\.|"
    r'deployment "prog" successfully rolled out')


def test_rollout_status_follows_a_rolling_update_step_by_step(k: Kubectl) -> None:
    """``kubectl rollout status`` while a Deployment rolls (one Pod at a time, each available two
    seconds after it is ready): kubectl's progress lines as the Deployment's status moves (new
    replicas updated, old ones pending termination, updated ones available), and it returns once
    the rollout is done."""
    k("apply", "-f", "-", input=deployment("prog", V1).replace(
        "  progressDeadlineSeconds: 600\n", "  progressDeadlineSeconds: 600\n  minReadySeconds: 2\n"))
    rollout(k, "prog")
    assert k("set", "image", "deployment/prog", f"main={V2}").strip() == "deployment.apps/prog image updated"
    r = k.run("rollout", "status", "deployment/prog", "--timeout=120s", timeout=140)
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines[-1] == 'deployment "prog" successfully rolled out', r.stdout
    assert all(ROLLOUT_LINE.fullmatch(line) for line in lines), r.stdout
    updated = [int(m["updated"]) for line in lines if (m := ROLLOUT_LINE.fullmatch(line)) and m["updated"]]
    assert updated and updated == sorted(updated) and max(updated) < 3, r.stdout  # it saw the rollout move
    assert any("replicas are available" in line or "pending termination" in line for line in lines), r.stdout
    d = k.json("get", "deployment", "prog")
    st = d["status"]
    assert st["observedGeneration"] == d["metadata"]["generation"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (3, 3, 3, 3), st
    assert all_ready_on(k, "prog", V2)
    assert k("delete", "deployment", "prog").strip() == 'deployment.apps "prog" deleted'
