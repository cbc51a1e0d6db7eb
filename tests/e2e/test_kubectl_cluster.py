"""The real kubectl against a cluster of two namespaced nodes (runc), from a client namespace on their
network: both nodes listed as ``docker node ls`` lists them, Pods placed by ``nodeSelector`` and
``nodeName``, the logs of a Pod on the other node."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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


def pod(name: str, placement: str) -> str:
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  {placement}
  containers:
  - name: main
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo hello from $(hostname); exec httpd -f -p 80 -h /www']
"""


def test_two_nodes_pods_placed_and_logs_read_across(e2e_base: Path) -> None:
    with web_pair(e2e_base / "kpair", ("km", "kw")) as (cluster, manager, _worker):
        client_ns, _ = cluster.add_client("kc")
        k = Kubectl(manager, e2e_base / "kpair-kubectl", netns=client_ns)
        rows = {r.split()[0]: r.split() for r in k("get", "nodes").splitlines()[1:]}
        assert set(rows) == {"km", "kw"}
        assert rows["km"][1:3] == ["Ready", "control-plane"] and rows["kw"][1:3] == ["Ready", "<none>"]
        docker_nodes = set(manager.docker("node", "ls", "--format", "{{.Hostname}}").stdout.split())
        assert docker_nodes == set(rows)

        k("apply", "-f", "-", input=pod("on-worker", "nodeSelector: {kubernetes.io/hostname: kw}"))
        k("apply", "-f", "-", input=pod("on-manager", "nodeName: km"))
        for name, node in (("on-worker", "kw"), ("on-manager", "km")):
            wait_for(lambda n=name: k.run("get", "pod", n, "-o", "jsonpath={.status.phase}").stdout == "Running",
                     timeout=60, what=f"{name} running")
            assert k("get", "pod", name, "-o", "jsonpath={.spec.nodeName}") == node
        logs = wait_for(lambda: "hello from" in (o := k("logs", "on-worker")) and o, what="the worker's Pod's log")
        assert "hello from on-worker" in logs
        k("delete", "pod", "on-worker", "on-manager", "--grace-period=1", timeout=60)
