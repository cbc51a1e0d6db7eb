"""``shoal kube dry-run`` against a hollow cluster (``shoal sim`` with its Kubernetes API), then the same
manifest applied with the real kubectl: the Pods run where the dry run said, and a bad manifest is
refused by both with the same line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_sim import hollow_cluster
from tests.support import free_port, rows, wait_for

pytestmark = [pytest.mark.e2e]

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: web:latest
        imagePullPolicy: IfNotPresent
        resources:
          requests: {memory: 400Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: db
spec:
  nodeSelector: {disk: ssd}
  tolerations:
  - {key: dedicated, operator: Equal, value: db, effect: NoSchedule}
  containers:
  - name: db
    image: db:latest
    imagePullPolicy: IfNotPresent
"""


def planned(out: str) -> dict[str, str]:
    """Pod → the node marked PLACED, from the dry run's table."""
    lines = out.splitlines()
    node_at, placed_at, why_at = (lines[0].index(h) for h in ("NODE", "PLACED", "REJECTED BY"))
    got: dict[str, str] = {}
    pod = ""
    for line in lines[1:]:
        if "would be placed on" in line:
            break
        pod = line[:node_at].strip() or pod
        if line[placed_at:why_at].strip() == "yes":
            got[pod] = line[node_at:placed_at].strip()
    return got


def test_pods_go_where_the_dry_run_said(tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    with hollow_cluster(tmp_path, "--nodes", "3", "--memory", "1G", "--kube-addr", addr) as run:
        (tmp_path / "kubeconfig").write_text(run("shoal", "kubeconfig"))
        wait_for(lambda: len(rows(run("kubectl", "get", "nodes"))) == 3, what="3 nodes")
        run("kubectl", "taint", "nodes", "hollow-1", "dedicated=db:NoSchedule")
        run("kubectl", "label", "nodes", "hollow-1", "disk=ssd")

        out = run("shoal", "kube", "dry-run", "-f", "-", input=MANIFEST)
        plan = planned(out)
        assert "4/4 Pods would be placed on 3 nodes" in out
        assert plan["pod/db"] == "hollow-1"
        assert "hollow-1" not in {plan[f"deployment.apps/web #{i}"] for i in (1, 2, 3)}
        assert rows(run("kubectl", "get", "pods")) == []  # the dry run made nothing

        run("kubectl", "apply", "-f", "-", input=MANIFEST)

        def running() -> list[list[str]] | None:
            pods = rows(run("kubectl", "get", "pods", "-o", "wide"))
            return pods if sum(r[2] == "Running" for r in pods) == 4 else None

        pods = wait_for(running, what="4 Pods Running")
        on = {r[0]: r[6] for r in pods}
        assert on["db"] == "hollow-1"
        web_nodes = sorted(n for name, n in on.items() if name.startswith("web-"))
        assert web_nodes == sorted(plan[f"deployment.apps/web #{i}"] for i in (1, 2, 3))

        # A bad manifest: the same line from kubectl and from shoal, exit status 1 for both.
        bad = MANIFEST.split("---")[0].replace("        image: web:latest\n", "").replace("name: web\n", "name: web2\n")
        shoal = subprocess.run([sys.executable, "-m", "shoal.cli.main", "-H", f"unix://{tmp_path / 'sim.sock'}",
                                "kube", "dry-run", "-f", "-"], input=bad, capture_output=True, text=True)
        kubectl = subprocess.run(["kubectl", "--kubeconfig", str(tmp_path / "kubeconfig"), "--cache-dir",
                                  str(tmp_path / "kube-cache"), "create", "-f", "-"], input=bad,
                                 capture_output=True, text=True)
        assert (shoal.returncode, kubectl.returncode) == (1, 1)
        line = 'The Deployment "web2" is invalid: spec.template.spec.containers[0].image: Required value'
        assert shoal.stderr.strip() == line
        assert kubectl.stderr.strip() == line
