"""End to end: Deployments and ReplicaSets with the machine's real kubectl against a single-node swarm on
runc. What kubectl prints (create, get deploy,rs,pods, scale, set image, rollout status/history/undo/
pause/resume/restart, delete) and what really runs: the Pods' containers with the image of each revision,
a deleted Pod replaced, a ``maxUnavailable: 0`` rollout of 5 replicas that never has fewer than 5 ready
Pods (watched through ``kubectl get pods -w`` while it runs), and a deletion that takes the ReplicaSets
and Pods with it. The image is the tests' busybox root filesystem, tagged ``busybox:1.36`` and
``busybox:1.37`` (IfNotPresent: nothing is pulled)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

OLD, NEW = "busybox:1.36", "busybox:1.37"
# What ``kubectl create deployment web --image=busybox:1.36 -- sleep 3600`` made, scaled to 5, with a
# strategy that keeps full capacity.
WEB = f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 5
  selector:
    matchLabels:
      app: web
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 20%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: busybox
        image: {OLD}
        command: ["sleep", "3600"]
"""


@pytest.fixture(scope="module")
def node(e2e_base: Path) -> Iterator[DevNode]:
    with web_swarm(e2e_base / "kube-workloads") as d:
        for tag in (OLD, NEW):
            d.docker("tag", "web:latest", tag)
        yield d


@pytest.fixture(scope="module")
def k(node: DevNode, e2e_base: Path) -> Iterator[Kubectl]:
    kubectl = Kubectl(node, e2e_base / "kubectl-workloads")
    yield kubectl
    # The controllers would make new Pods for the ones deleted: the workloads go first (leaving their
    # Pods), then the Pods with a short grace (sleep ignores SIGTERM as PID 1).
    kubectl.run("delete", "deployments,replicasets", "--all", "--cascade=orphan", check=False)
    kubectl.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)


def live_pods(k: Kubectl, selector: str = "app=web") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k.json("get", "pods", "-l", selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


def images(k: Kubectl) -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in live_pods(k)}


def rollout(k: Kubectl, name: str = "web") -> str:
    out = k("rollout", "status", f"deployment/{name}", "--timeout=240s", timeout=260)
    assert out.strip().splitlines()[-1] == f'deployment "{name}" successfully rolled out', out
    return out


class ReadyWatch:
    """``kubectl get pods -w -o json`` in a thread: the lowest number of ready Pods (not terminating),
    counted at every event once ``full`` of them have been seen (the first listing comes one Pod at a
    time)."""

    def __init__(self, k: Kubectl, selector: str, full: int) -> None:
        self.full = full
        self.started = False
        self.proc = k.popen("get", "pods", "-l", selector, "-w", "-o", "json", "--output-watch-events")
        self.pods: dict[str, dict[str, Any]] = {}
        self.lowest: int | None = None
        self.events = 0
        self.images_ready: set[str] = set()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def count(self) -> int:
        return sum(1 for p in self.pods.values() if ready(p) and not p["metadata"].get("deletionTimestamp"))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        decoder = json.JSONDecoder()
        buf = ""
        for line in self.proc.stdout:
            buf += line
            while True:
                text = buf.lstrip()
                if not text:
                    buf = ""
                    break
                try:
                    event, end = decoder.raw_decode(text)
                except ValueError:
                    break
                buf = text[end:]
                obj = event.get("object") or {}
                name = obj.get("metadata", {}).get("name", "")
                if event.get("type") == "DELETED":
                    self.pods.pop(name, None)
                else:
                    self.pods[name] = obj
                    if ready(obj):
                        self.images_ready.add(obj["spec"]["containers"][0]["image"])
                self.events += 1
                n = self.count()
                self.started = self.started or n >= self.full
                if self.started:
                    self.lowest = n if self.lowest is None else min(self.lowest, n)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.thread.join(timeout=5)


def test_deployment_create_scale_update_history_undo(k: Kubectl, node: DevNode) -> None:
    out = k("create", "deployment", "web", f"--image={OLD}", "--replicas=3", "--", "sleep", "3600")
    assert out.strip() == "deployment.apps/web created"
    rollout(k)
    out = k("get", "deploy,rs,pods")
    deploy, rs, pods = out.strip().split("\n\n")
    assert deploy.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy.splitlines()[1].split()[:4] == ["deployment.apps/web", "3/3", "3", "3"]
    assert rs.splitlines()[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    rs_name = rs.splitlines()[1].split()[0].removeprefix("replicaset.apps/")
    assert rs.splitlines()[1].split()[1:4] == ["3", "3", "3"]
    assert pods.splitlines()[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = [r.split() for r in pods.splitlines()[1:]]
    assert len(rows) == 3 and all(r[0].startswith(f"pod/{rs_name}-") and r[1:3] == ["1/1", "Running"] for r in rows)
    wide = k("get", "rs", "-o", "wide").splitlines()
    assert wide[0].split()[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[5:] == ["busybox", OLD, f"app=web,pod-template-hash={rs_name.removeprefix('web-')}"]
    # what runs: the Pods' containers on the node, each running sleep
    pod = live_pods(k)[0]
    assert k("exec", pod["metadata"]["name"], "--", "cat", "/proc/1/cmdline").replace("\0", " ").strip() == \
        "sleep 3600"

    assert k("scale", "deployment", "web", "--replicas=5").strip() == "deployment.apps/web scaled"
    rollout(k)
    assert len(live_pods(k)) == 5 and all(ready(p) for p in live_pods(k))

    # A rolling update that keeps full capacity: maxUnavailable 0, maxSurge 20% (one Pod at a time).
    out = k("apply", "-f", "-", input=WEB)
    assert out.strip() == "deployment.apps/web configured"
    strategy = k.json("get", "deployment", "web")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "20%"}}
    assert len(k("get", "rs", "-o", "name").split()) == 1  # the same template: no rollout
    watch = ReadyWatch(k, "app=web", 5)
    try:
        wait_for(lambda: watch.count() == 5, timeout=30, what="the watch to list the 5 ready Pods")
        assert k("set", "image", "deployment/web", f"busybox={NEW}").strip() == "deployment.apps/web image updated"
        rollout(k)
        wait_for(lambda: NEW in watch.images_ready and watch.count() == 5, timeout=30,
                 what="the watch to see the new Pods ready")
    finally:
        watch.stop()
    assert watch.lowest is not None and watch.lowest >= 5, f"ready Pods went down to {watch.lowest}"
    assert watch.events > 10
    assert images(k) == {NEW}

    history = k("rollout", "history", "deployment/web").splitlines()
    assert history[0].strip() == "deployment.apps/web" and history[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert [r.split() for r in history[2:] if r.strip()] == [["1", "<none>"], ["2", "<none>"]]
    assert OLD in k("rollout", "history", "deployment/web", "--revision=1")

    assert k("rollout", "undo", "deployment/web").strip() == "deployment.apps/web rolled back"
    rollout(k)
    wait_for(lambda: images(k) == {OLD}, timeout=60, what="every Pod on the old image")
    assert all(ready(p) for p in live_pods(k)) and len(live_pods(k)) == 5
    d = k.json("get", "deployment", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert k("get", "rs", rs_name, "-o", "jsonpath={.spec.replicas}") == "5"  # the first ReplicaSet, again
    conds = {c["type"]: c["reason"] for c in d["status"]["conditions"]}
    assert conds == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}


def test_pause_resume_restart(k: Kubectl) -> None:
    if "web" not in k("get", "deploy", "-o", "name"):
        k("create", "deployment", "web", f"--image={OLD}", "--replicas=2", "--", "sleep", "3600")
    rollout(k)
    before = set(k("get", "rs", "-o", "name").split())
    assert k("rollout", "pause", "deployment/web").strip() == "deployment.apps/web paused"
    k("set", "image", "deployment/web", f"busybox={NEW}")
    wait_for(lambda: k("get", "deploy", "web", "-o",
                       "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}") == "DeploymentPaused",
             timeout=30, what="the paused condition")
    assert set(k("get", "rs", "-o", "name").split()) == before  # paused: no new ReplicaSet
    assert k("rollout", "resume", "deployment/web").strip() == "deployment.apps/web resumed"
    rollout(k)
    wait_for(lambda: images(k) == {NEW}, timeout=60, what="the new image after resume")
    assert k("rollout", "restart", "deployment/web").strip() == "deployment.apps/web restarted"
    rollout(k)
    wait_for(lambda: all("kubectl.kubernetes.io/restartedAt" in (p["metadata"].get("annotations") or {})
                         for p in live_pods(k)), timeout=60, what="restarted Pods")


def test_deleted_pod_is_replaced_and_deletion_cascades(k: Kubectl, node: DevNode) -> None:
    if "web" not in k("get", "deploy", "-o", "name"):
        k("create", "deployment", "web", f"--image={OLD}", "--replicas=2", "--", "sleep", "3600")
    rollout(k)
    n = len(live_pods(k))
    victim = live_pods(k)[0]["metadata"]["name"]
    out = k("delete", "pod", victim, "--grace-period=1")
    assert out.strip() == f'pod "{victim}" deleted'
    wait_for(lambda: len(pods := live_pods(k)) == n and victim not in {p["metadata"]["name"] for p in pods}
             and all(ready(p) for p in pods), timeout=90, what="the deleted Pod replaced")
    events = k("get", "events", "--field-selector", "reason=SuccessfulCreate")
    assert "Created pod:" in events
    assert k("delete", "deployment", "web").strip() == 'deployment.apps "web" deleted'
    wait_for(lambda: not k("get", "rs", "-o", "name").strip(), timeout=60, what="the ReplicaSets gone")
    wait_for(lambda: not live_pods(k), timeout=60, what="the Pods terminating")
    k("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
