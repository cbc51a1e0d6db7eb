"""End to end with the real kubectl on a single runc node: probes as the kubelet runs them. A liveness
``exec`` probe that starts failing once a file is removed restarts the same Pod's container, the
first time at once (the ``Unhealthy`` and ``Killing`` events in ``kubectl get events`` and ``kubectl
describe pod``); a Pod
whose readiness probes (``httpGet`` and a ``tcpSocket`` on a named port, busybox ``httpd`` as the
servers) cannot answer yet is Running but not Ready, then Ready once they answer (seen through
``kubectl get -w``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from shoal.devcluster import DevNode
from tests.support import wait_for

from .conftest import make_rootfs, web_swarm
from .kubectl import Kubectl

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

LIVE = """apiVersion: v1
kind: Pod
metadata:
  name: live
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: probe:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 1000']
    livenessProbe:
      exec:
        command: [cat, /tmp/healthy]
      periodSeconds: 1
      failureThreshold: 2
"""

SICK = """apiVersion: v1
kind: Pod
metadata:
  name: sick
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: probe:latest
    imagePullPolicy: IfNotPresent
    command: [httpd, -f, -p, "8080", -h, /www]
    ports:
    - {name: http, containerPort: 8080}
    livenessProbe:
      httpGet: {path: /cgi-bin/fail, port: http, httpHeaders: [{name: X-Probe, value: liveness}]}
      periodSeconds: 1
      failureThreshold: 2
"""

SLOW = """apiVersion: v1
kind: Pod
metadata:
  name: slow
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: probe:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "1000"]
    startupProbe:
      exec:
        command: [sleep, "5"]
      timeoutSeconds: 1
      periodSeconds: 1
      failureThreshold: 2
"""

READY = """apiVersion: v1
kind: Pod
metadata:
  name: ready
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: probe:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'sleep 4; exec httpd -f -p 8080 -h /www']
    readinessProbe:
      httpGet: {path: /index.html, port: 8080}
      periodSeconds: 1
  - name: db
    image: probe:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'sleep 5; exec httpd -f -p 9000 -h /www']
    ports:
    - {name: db, containerPort: 9000}
    readinessProbe:
      tcpSocket: {port: db}
      periodSeconds: 1
"""


@pytest.fixture(scope="module")
def node(e2e_base: Path) -> Iterator[DevNode]:
    with web_swarm(e2e_base / "kprobes") as d:
        root = make_rootfs(e2e_base / "kprobes-rootfs")
        for applet in ("rm", "touch"):
            (root / "bin" / applet).symlink_to("busybox")
        fail = root / "www" / "cgi-bin" / "fail"  # a health endpoint that answers 500
        fail.write_text('#!/bin/sh\necho "Status: 500 Internal Server Error"\necho\necho boom\n')
        fail.chmod(0o755)
        tar = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout
        d.docker("import", "-c", 'CMD ["sh"]', "-", "probe:latest", input=tar)
        yield d


@pytest.fixture(scope="module")
def k(node: DevNode, e2e_base: Path) -> Kubectl:
    return Kubectl(node, e2e_base / "kubectl-probes")


def _events(k: Kubectl, pod: str) -> list[tuple[str, str, str]]:
    got = k.json("get", "events", "--field-selector", f"involvedObject.name={pod}")
    return [(e["type"], e["reason"], e["message"]) for e in got["items"]]


def test_a_failing_liveness_probe_restarts_the_same_pods_container(k: Kubectl) -> None:
    k("apply", "-f", "-", input=LIVE)
    try:
        uid = k.json("get", "pod", "live")["metadata"]["uid"]
        status = wait_for(lambda: next((s for s in k.json("get", "pod", "live")["status"].get(
            "containerStatuses", []) if s["restartCount"] >= 1 and "running" in s["state"]), None),
            timeout=60, what="the container restarted by its liveness probe")
        pod = k.json("get", "pod", "live")
        assert pod["metadata"]["uid"] == uid  # the same Pod
        assert status["lastState"]["terminated"]["exitCode"] == 137  # killed (sh ignores SIGTERM as init)
        # The first restart comes at once, as the kubelet's (its back-off starts with the second).
        assert status["restartCount"] == 1
        finished = datetime.fromisoformat(status["lastState"]["terminated"]["finishedAt"])
        started = datetime.fromisoformat(status["state"]["running"]["startedAt"])
        assert 0 <= (started - finished).total_seconds() <= 2, status
        events = wait_for(lambda: (ev := _events(k, "live")) and any(r == "Killing" for _, r, _ in ev) and ev,
                          timeout=20, what="the Killing event")
        assert ("Warning", "Unhealthy",
                "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n") in events
        assert ("Normal", "Killing", "Container web failed liveness probe, will be restarted") in events
        described = k("describe", "pod", "live")
        assert "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory" in described
        assert "Container web failed liveness probe, will be restarted" in described
        probe = "exec [cat /tmp/healthy] delay=0s timeout=1s period=1s #success=1 #failure=2"
        assert f"Liveness:       {probe}" in described
    finally:
        k("delete", "pod", "live", "--timeout=60s", check=False)


def test_a_liveness_http_probe_answered_500_restarts_the_container(k: Kubectl) -> None:
    k("apply", "-f", "-", input=SICK)
    try:
        events = wait_for(lambda: (ev := _events(k, "sick")) and any(r == "Killing" for _, r, _ in ev) and ev,
                          timeout=40, what="the Killing event")
        assert ("Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500") in events
        assert ("Normal", "Killing", "Container web failed liveness probe, will be restarted") in events
        wait_for(lambda: k.json("get", "pod", "sick")["status"]["containerStatuses"][0]["restartCount"] >= 1,
                 timeout=40, what="the restart")
    finally:
        k("delete", "pod", "sick", "--timeout=60s", check=False)


def test_a_startup_probe_past_its_timeout_fails_and_kills_the_container(k: Kubectl) -> None:
    k("apply", "-f", "-", input=SLOW)
    try:
        pod = k.json("get", "pod", "slow")
        assert [s.get("started") for s in pod["status"].get("containerStatuses", [])] in ([], [False])
        events = wait_for(lambda: (ev := _events(k, "slow")) and any(r == "Killing" for _, r, _ in ev) and ev,
                          timeout=40, what="the Killing event")
        assert ("Warning", "Unhealthy", 'Startup probe failed: command timed out: "sleep 5" timed out after 1s') \
            in events
        assert ("Normal", "Killing", "Container web failed startup probe, will be restarted") in events
        status = k.json("get", "pod", "slow")["status"]["containerStatuses"][0]
        assert status["ready"] is False and status["started"] is False
        # The probes' processes are killed at their timeout: never more than the one of the probe running now.
        node_ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        assert node_ps.splitlines().count("sleep 5") <= 1, node_ps
    finally:
        k("delete", "pod", "slow", "--timeout=60s", check=False)


def test_a_pod_is_ready_only_once_its_readiness_probes_answer(k: Kubectl) -> None:
    k("apply", "-f", "-", input=READY)
    watch = k.popen("get", "pod", "ready", "-w", "--no-headers", "-o",
                    "custom-columns=PHASE:.status.phase,READY:.status.conditions[?(@.type=='Ready')].status,"
                    "C:.status.containerStatuses[*].ready")
    lines: list[list[str]] = []
    done = threading.Event()

    def read() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            lines.append(line.split())
            if line.split()[:2] == ["Running", "True"]:
                done.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    try:
        reader.start()
        assert done.wait(60), f"the Pod never became Ready: {lines}"
        # Before the servers answered it ran, not ready; then ready with both containers.
        assert any(row[:2] == ["Running", "False"] for row in lines), lines
        assert lines[-1] == ["Running", "True", "true,true"]
        pod = k.json("get", "pod", "ready")
        conds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conds["Ready"] == conds["ContainersReady"] == "True"
        ip = pod["status"]["podIP"]
        said = {m for t, r, m in _events(k, "ready") if r == "Unhealthy"}
        assert f'Readiness probe failed: Get "http://{ip}:8080/index.html": dial tcp {ip}:8080: connect: ' \
               "connection refused" in said
        assert f"Readiness probe failed: dial tcp {ip}:9000: connect: connection refused" in said
    finally:
        watch.terminate()
        watch.wait(10)
        k("delete", "pod", "ready", "--timeout=60s", check=False)
