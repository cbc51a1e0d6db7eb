"""End to end with the real kubectl on a single runc node: what a Pod's containers are given and what
kubectl reaches in them — a Secret's bytes in a volume and in the environment, ``kubectl exec`` (with
stdin), ``kubectl logs --previous`` of a container the kernel OOM-killed, and ``kubectl port-forward``
to the Pod's web server, and `kubectl exec -it` on a terminal (root only)."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevNode
from tests.support import wait_for

from .conftest import web_swarm
from .kubectl import Kubectl
from .terminal import on_terminal

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

SECRET = "s3cr3t-" + base64.b32encode(os.urandom(5)).decode().lower()

OBJECTS = f"""apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: {SECRET}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
  - name: web
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo "color=$(COLOR) pod=$(POD_NAME)" > /data/about; exec httpd -f -p 80 -h /data']
    env:
    - name: COLOR
      valueFrom:
        configMapKeyRef: {{name: settings, key: color}}
    - name: POD_NAME
      valueFrom:
        fieldRef: {{fieldPath: metadata.name}}
    - name: PW
      valueFrom:
        secretKeyRef: {{name: creds, key: password}}
    volumeMounts:
    - {{name: data, mountPath: /data}}
    - {{name: secret, mountPath: /etc/secret, readOnly: true}}
  - name: oom
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'n=$(cat /data/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/runs;
              echo "run $n"; [ $n = 1 ] && exec dd if=/dev/zero of=/dev/null bs=64M count=1; exec sleep 1000']
    resources:
      limits: {{memory: 16Mi}}
    volumeMounts:
    - {{name: data, mountPath: /data}}
  volumes:
  - name: data
    emptyDir: {{}}
  - name: secret
    secret: {{secretName: creds}}
  terminationGracePeriodSeconds: 1
"""


@pytest.fixture(scope="module")
def node(e2e_base: Path) -> Iterator[DevNode]:
    with web_swarm(e2e_base / "kpods") as d:
        yield d


@pytest.fixture(scope="module")
def k(node: DevNode, e2e_base: Path) -> Kubectl:
    return Kubectl(node, e2e_base / "kubectl-pods")


def exec_with_tty(k: Kubectl, *args: str) -> str:
    """kubectl run on a terminal of its own (``-t`` needs one): what it printed there."""
    return on_terminal(["kubectl", "--cache-dir", str(k.cache), *args], k.env())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_secret_env_exec_previous_logs_and_port_forward(k: Kubectl, node: DevNode) -> None:
    k("apply", "-f", "-", input=OBJECTS)
    wait_for(lambda: k("get", "pod", "web", "-o", "jsonpath={.status.phase}") == "Running", timeout=60,
             what="the Pod running")

    # The Secret's bytes in its volume and in the environment, seen from inside by kubectl exec.
    assert k("exec", "web", "-c", "web", "--", "cat", "/etc/secret/password") == SECRET
    assert k("exec", "web", "-c", "web", "--", "sh", "-c", 'echo "$PW $COLOR $POD_NAME"').strip() == \
        f"{SECRET} blue web"
    assert k("exec", "-i", "web", "-c", "web", "--", "cat", input="through stdin\n") == "through stdin\n"
    r = k.run("exec", "web", "-c", "web", "--", "sh", "-c", "exit 3", check=False)
    assert r.returncode == 3
    tty = exec_with_tty(k, "exec", "-it", "web", "-c", "web", "--", "sh", "-c", "tty; echo tty-ok")
    assert "/dev/pts/" in tty and "tty-ok" in tty, tty

    # The OOM-killed container ran again; its previous run's log is kept.
    def restarted() -> bool:
        out = k("get", "pod", "web", "-o",
                "jsonpath={.status.containerStatuses[?(@.name=='oom')].lastState.terminated.reason}")
        return out == "OOMKilled"

    wait_for(restarted, timeout=60, what="the OOM kill in lastState")
    wait_for(lambda: k("logs", "web", "-c", "oom").strip() == "run 2", timeout=30, what="the second run's log")
    assert k("logs", "web", "-c", "oom", "--previous").strip() == "run 1"
    code = k("get", "pod", "web", "-o",
             "jsonpath={.status.containerStatuses[?(@.name=='oom')].lastState.terminated.exitCode}")
    assert code == "137"

    # kubectl port-forward: the page the Pod serves, fetched from this machine's loopback.
    port = free_port()
    fwd = k.popen("port-forward", "pod/web", f"{port}:80")
    try:
        def page() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/about", timeout=5) as resp:
                    return resp.read().decode()
            except OSError:
                return ""

        assert wait_for(page, timeout=30, what="the page through port-forward").strip() == "color=blue pod=web"
    finally:
        fwd.kill()
        fwd.wait()

    # Nothing of the Secret on the node's disk (data root), outside the tmpfs mounts.
    found = subprocess.run(["grep", "-rl", SECRET, str(node.data_root)], capture_output=True, text=True).stdout
    assert not found.strip(), found
    k("delete", "pod", "web", timeout=60)
