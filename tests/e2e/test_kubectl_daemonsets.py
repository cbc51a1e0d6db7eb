"""The real kubectl against namespaced nodes (runc): DaemonSets. ``kubectl apply -f ds.yaml`` gives one
Pod on every node (a node tainted ``NoSchedule`` only to the DaemonSet that tolerates it), its
containers really running there; a node that joins later gets one, and loses it when it leaves the
cluster; ``kubectl set image ds/x`` rolls node by node with ``kubectl rollout status``; ``kubectl
rollout history`` and ``undo`` read and use the ControllerRevisions; ``kubectl drain
--ignore-daemonsets`` leaves the DaemonSets' Pods alone; deleting a DaemonSet takes its Pods."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from shoal.devcluster import DevNode
from tests.support import wait_for

from .conftest import WEB_CMD, rootfs_tar, web_pair
from .kubectl import Kubectl

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

HTTPD = "httpd -f -p 80 -h /www"


def daemon_set(name: str, image: str = "agent:1", extra: str = "") -> str:
    return f"""apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
{extra}
      containers:
      - name: main
        image: {image}
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'exec {HTTPD}']
"""


TOLERATES_DB = "      tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoSchedule}]"
DS_YAML = daemon_set("agent") + "---\n" + daemon_set("db-agent", extra=TOLERATES_DB)


def with_images(d: DevNode) -> None:
    """The tests' web root filesystem on ``d`` as ``agent:1`` and ``agent:2``."""
    for tag in ("agent:1", "agent:2"):
        d.docker("tag", "web:latest", tag)


def pods(k: Kubectl, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k.json("get", "pods", "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def placement(k: Kubectl, app: str) -> dict[str, str]:
    """node -> the image of the running Pod of ``app`` there (the Pods not terminating)."""
    out: dict[str, str] = {}
    for p in pods(k, app):
        if p["status"].get("phase") == "Running":
            out[p["spec"]["nodeName"]] = p["spec"]["containers"][0]["image"]
    return out


def ds_row(k: Kubectl, name: str) -> list[str]:
    return k("get", "ds", name, "--no-headers").split()


def rollout(k: Kubectl, name: str) -> str:
    out = k("rollout", "status", f"ds/{name}", "--timeout=120s", timeout=140)
    assert out.strip().splitlines()[-1] == f'daemon set "{name}" successfully rolled out', out
    return out


def runs_httpd(k: Kubectl, pod: dict[str, Any]) -> bool:
    out = k("exec", pod["metadata"]["name"], "--", "cat", "/proc/1/cmdline")
    return out.replace("\0", " ").strip() == HTTPD


def test_a_daemon_set_on_every_node_joining_tainted_rolling_and_drained(e2e_base: Path) -> None:
    with web_pair(e2e_base / "kds", ("dm", "dw")) as (cluster, manager, worker):
        for d in (manager, worker):
            with_images(d)
        client_ns, _ = cluster.add_client("kdsc")
        k = Kubectl(manager, e2e_base / "kds-kubectl", netns=client_ns)
        assert "node/dw tainted" in k("taint", "nodes", "dw", "dedicated=db:NoSchedule")

        out = k("apply", "-f", "-", input=DS_YAML)
        assert out.split("\n")[:2] == ["daemonset.apps/agent created", "daemonset.apps/db-agent created"]
        rollout(k, "agent")
        rollout(k, "db-agent")
        # the tainted node runs only the DaemonSet that tolerates its taint
        assert placement(k, "agent") == {"dm": "agent:1"}
        assert placement(k, "db-agent") == {"dm": "agent:1", "dw": "agent:1"}
        table = k("get", "ds").splitlines()
        assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE",
                                    "SELECTOR", "AGE"]
        assert table[1].split()[:7] == ["agent", "1", "1", "1", "1", "1", "<none>"]
        assert table[2].split()[:7] == ["db-agent", "2", "2", "2", "2", "2", "<none>"]
        wide = k("get", "ds", "agent", "-o", "wide").splitlines()
        assert wide[0].split()[9:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
        assert wide[1].split()[8:] == ["main", "agent:1", "app=agent"]
        # what runs: each Pod's container, on its node
        for p in pods(k, "db-agent"):
            assert runs_httpd(k, p)
        spec = k.json("get", "ds", "agent")
        assert spec["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                                  "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
        assert spec["spec"]["revisionHistoryLimit"] == 10
        assert spec["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "1"
        pod = pods(k, "agent")[0]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
        assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
        terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms["nodeSelectorTerms"] == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                                "values": ["dm"]}]}]
        assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"} in \
            pod["spec"]["tolerations"]

        # the taint goes: the other DaemonSet comes to dw
        k("taint", "nodes", "dw", "dedicated-")
        wait_for(lambda: placement(k, "agent") == {"dm": "agent:1", "dw": "agent:1"}, timeout=60,
                 what="agent on dw")

        # a node joins: it gets one Pod of each DaemonSet
        joiner = cluster.add("dx")
        joiner.docker("import", "-c", WEB_CMD, "-", "web:latest", input=rootfs_tar(e2e_base / "kds"))
        with_images(joiner)
        token = manager.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        joiner.docker("swarm", "join", "--token", token, f"{manager.addr}:2377")
        every = {"dm": "agent:1", "dw": "agent:1", "dx": "agent:1"}
        wait_for(lambda: placement(k, "agent") == every and placement(k, "db-agent") == every, timeout=90,
                 what="a Pod of each DaemonSet on the new node")
        assert rollout(k, "agent")
        assert ds_row(k, "agent")[1:6] == ["3", "3", "3", "3", "3"]
        described = k("describe", "ds", "agent")
        for line in ("Desired Number of Nodes Scheduled: 3", "Number of Nodes Misscheduled: 0",
                     "Pods Status:  3 Running / 0 Waiting / 0 Succeeded / 0 Failed"):
            assert line in described, described
        assert "SuccessfulCreate" in described and "daemonset-controller" in described, described

        # set image: rolled node by node
        assert k("set", "image", "ds/agent", "main=agent:2").strip() == "daemonset.apps/agent image updated"
        out = rollout(k, "agent")
        assert placement(k, "agent") == {"dm": "agent:2", "dw": "agent:2", "dx": "agent:2"}
        assert ds_row(k, "agent")[1:6] == ["3", "3", "3", "3", "3"]
        assert {p["metadata"]["labels"]["pod-template-generation"] for p in pods(k, "agent")} == {"2"}
        # what kubectl printed while it waited (kubectl's DaemonSet status viewer's words)
        assert 'Waiting for daemon set "agent" rollout to finish: ' in out, out
        assert all(line.startswith(("Waiting for daemon set ", 'daemon set "agent" successfully rolled out'))
                   for line in out.strip().splitlines()), out
        for p in pods(k, "agent"):
            assert runs_httpd(k, p)

        # history and undo, through the ControllerRevisions
        history = k("rollout", "history", "ds/agent")
        rows = [line.split() for line in history.splitlines() if line.strip()]
        assert rows[1] == ["REVISION", "CHANGE-CAUSE"] and rows[2:] == [["1", "<none>"], ["2", "<none>"]], history
        assert "agent:1" in k("rollout", "history", "ds/agent", "--revision=1")
        revs = k("get", "controllerrevisions", "-l", "app=agent").splitlines()
        assert revs[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
        assert sorted(r.split()[1:3] for r in revs[1:]) == [["daemonset.apps/agent", "1"],
                                                            ["daemonset.apps/agent", "2"]]
        assert k("rollout", "undo", "ds/agent").strip() == "daemonset.apps/agent rolled back"
        rollout(k, "agent")
        assert placement(k, "agent") == {"dm": "agent:1", "dw": "agent:1", "dx": "agent:1"}
        rows = [line.split() for line in k("rollout", "history", "ds/agent").splitlines() if line.strip()]
        assert rows[2:] == [["2", "<none>"], ["3", "<none>"]]
        # restart: a new template (its restartedAt annotation), so every Pod is replaced
        before = {p["metadata"]["name"] for p in pods(k, "agent")}
        assert k("rollout", "restart", "ds/agent").strip() == "daemonset.apps/agent restarted"
        rollout(k, "agent")
        wait_for(lambda: len(placement(k, "agent")) == 3, timeout=30, what="agent on 3 nodes")
        assert before.isdisjoint(p["metadata"]["name"] for p in pods(k, "agent"))

        # drain skips the DaemonSets' Pods (and keeps them running); uncordon
        r = k.run("drain", "dx", "--ignore-daemonsets", "--timeout=60s", timeout=90)
        assert "node/dx drained" in r.stdout
        skipped = next(line for line in r.stderr.splitlines() if "ignoring DaemonSet-managed Pods: " in line)
        assert skipped.startswith("Warning: ") and skipped.count("default/") == 2
        assert placement(k, "agent")["dx"] == "agent:1" and placement(k, "db-agent")["dx"] == "agent:1"
        # cordoned, dx still takes a DaemonSet's new Pod (it tolerates node.kubernetes.io/unschedulable)
        on_dx = next(p["metadata"]["name"] for p in pods(k, "agent") if p["spec"].get("nodeName") == "dx")
        k("delete", "pod", on_dx, "--grace-period=1", timeout=60)
        wait_for(lambda: placement(k, "agent").get("dx") == "agent:1" and on_dx not in
                 {p["metadata"]["name"] for p in pods(k, "agent")}, timeout=60, what="a new Pod on cordoned dx")
        assert "node/dx uncordoned" in k("uncordon", "dx")

        # the node leaves the cluster: its Pods go, and the DaemonSets want one Pod less
        joiner.docker("swarm", "leave", "--force")
        wait_for(lambda: manager.docker("node", "rm", "--force", "dx", check=False).returncode == 0, timeout=60,
                 what="dx removed")
        wait_for(lambda: set(placement(k, "agent")) == {"dm", "dw"} and len(pods(k, "agent")) == 2, timeout=60,
                 what="dx's Pod gone")
        wait_for(lambda: ds_row(k, "agent")[1:6] == ["2", "2", "2", "2", "2"], timeout=30, what="2 desired")

        # deleted: the Pods go with it
        assert k("delete", "ds", "agent", "db-agent", timeout=90).split("\n")[:2] == [
            'daemonset.apps "agent" deleted', 'daemonset.apps "db-agent" deleted']
        wait_for(lambda: not pods(k, "agent") and not pods(k, "db-agent"), timeout=60, what="the Pods gone")
