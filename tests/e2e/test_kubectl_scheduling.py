"""The real kubectl against two namespaced nodes (runc): taints (``kubectl taint``: new Pods avoid a
``NoSchedule`` node unless they tolerate it, a ``NoExecute`` taint evicts the Pods that do not, at
once or after their ``tolerationSeconds``), a required node affinity no node meets (Pending,
``FailedScheduling`` in kube-scheduler's words, in ``kubectl get events --field-selector
reason=FailedScheduling`` too), required pod anti-affinity on the hostname,
``kubectl cordon`` / ``drain`` / ``uncordon``, and Swarm's availability seen as a cordon."""

from __future__ import annotations

import os
import shutil
import time
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


def pod(name: str, spec: str = "") -> str:
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
{spec}
  containers:
  - name: main
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'exec httpd -f -p 80 -h /www']
"""


ON_WORKER = "  nodeSelector: {kubernetes.io/hostname: kw}"
TOLERATES_DB = "  tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoSchedule}]"


def phase(k: Kubectl, name: str) -> str:
    return k.run("get", "pod", name, "-o", "jsonpath={.status.phase}", check=False).stdout


def node_of(k: Kubectl, name: str) -> str:
    return k("get", "pod", name, "-o", "jsonpath={.spec.nodeName}")


def gone(k: Kubectl, name: str) -> bool:
    r = k.run("get", "pod", name, check=False)
    return r.returncode != 0 and "NotFound" in r.stderr


def leaving(k: Kubectl, name: str) -> bool:
    """Gone, or marked for deletion."""
    r = k.run("get", "pod", name, "-o", "jsonpath={.metadata.deletionTimestamp}", check=False)
    return (r.returncode != 0 and "NotFound" in r.stderr) or bool(r.stdout.strip())


def event_messages(k: Kubectl, reason: str, pod_name: str) -> list[str]:
    out = k("get", "events", "--field-selector", f"reason={reason},involvedObject.name={pod_name}",
            "-o", "jsonpath={range .items[*]}{.message}{'\\n'}{end}")
    return [line for line in out.splitlines() if line]


def test_taints_affinity_cordon_and_drain(e2e_base: Path) -> None:
    with web_pair(e2e_base / "ksched", ("km", "kw")) as (cluster, _manager, _worker):
        client_ns, _ = cluster.add_client("ksc")
        k = Kubectl(_manager, e2e_base / "ksched-kubectl", netns=client_ns)

        # NoSchedule: a Pod that must go to kw and does not tolerate the taint stays Pending.
        assert "node/kw tainted" in k("taint", "nodes", "kw", "dedicated=db:NoSchedule")
        taints = k("get", "node", "kw", "-o", "jsonpath={.spec.taints}")
        assert '"key":"dedicated"' in taints and '"effect":"NoSchedule"' in taints
        k("apply", "-f", "-", input=pod("free"))
        k("apply", "-f", "-", input=pod("pinned", ON_WORKER))
        k("apply", "-f", "-", input=pod("tolerant", ON_WORKER + "\n" + TOLERATES_DB))
        for name in ("free", "tolerant"):
            wait_for(lambda n=name: phase(k, n) == "Running", timeout=60, what=f"{name} running")
        assert node_of(k, "free") == "km" and node_of(k, "tolerant") == "kw"
        msgs = wait_for(lambda: event_messages(k, "FailedScheduling", "pinned"), timeout=30,
                        what="pinned's FailedScheduling")
        assert msgs[0] == (
            "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "1 node(s) had untolerated taint {dedicated: db}. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
        assert phase(k, "pinned") == "Pending"
        k("delete", "pod", "pinned", "free", timeout=60)

        # NoExecute: the Pod on kw tolerates dedicated=db but not maint, so it is evicted.
        k("taint", "nodes", "kw", "maint=now:NoExecute")
        wait_for(lambda: gone(k, "tolerant"), timeout=60, what="tolerant evicted")
        evicted = k("get", "events", "--field-selector", "reason=TaintManagerEviction",
                    "-o", "jsonpath={.items[*].message}")
        assert "Marking for deletion Pod default/tolerant" in evicted
        assert "node/kw untainted" in k("taint", "nodes", "kw", "maint-", "dedicated-")
        assert k("get", "node", "kw", "-o", "jsonpath={.spec.taints}") == ""

        # A required node affinity no node meets: Pending, explained.
        affinity = """  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: disktype, operator: In, values: [ssd]}]"""
        k("apply", "-f", "-", input=pod("wants-ssd", affinity))
        msgs = wait_for(lambda: event_messages(k, "FailedScheduling", "wants-ssd"), timeout=30,
                        what="wants-ssd's FailedScheduling")
        assert msgs[0] == (
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
        # The plain listing of the reason: kube-scheduler's Warning on the Pod, its text whole.
        table = k("get", "events", "--field-selector", "reason=FailedScheduling").splitlines()
        assert table[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        row = next(line for line in table if "pod/wants-ssd" in line)
        assert row.split()[1:4] == ["Warning", "FailedScheduling", "pod/wants-ssd"]
        assert row.endswith(msgs[0])
        described = k("describe", "pod", "wants-ssd")
        assert "FailedScheduling" in described and "didn't match Pod's node affinity/selector" in described
        k("label", "node", "kw", "disktype=ssd")  # the label comes: it is placed
        wait_for(lambda: phase(k, "wants-ssd") == "Running", timeout=60, what="wants-ssd running")
        assert node_of(k, "wants-ssd") == "kw"

        # cordon, drain, uncordon.
        assert "node/kw cordoned" in k("cordon", "kw")
        row = k("get", "node", "kw").splitlines()[1].split()
        assert row[1] == "Ready,SchedulingDisabled"
        k("apply", "-f", "-", input=pod("after-cordon", ON_WORKER))
        msgs = wait_for(lambda: event_messages(k, "FailedScheduling", "after-cordon"), timeout=30,
                        what="after-cordon's FailedScheduling")
        assert msgs[0] == (
            "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "1 node(s) were unschedulable. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
        drained = k("drain", "kw", "--ignore-daemonsets", "--force", "--timeout=60s", timeout=90)
        assert "node/kw drained" in drained
        assert gone(k, "wants-ssd")
        assert "node/kw uncordoned" in k("uncordon", "kw")
        wait_for(lambda: phase(k, "after-cordon") == "Running", timeout=60, what="after-cordon running")
        assert node_of(k, "after-cordon") == "kw"
        assert k("get", "node", "kw").splitlines()[1].split()[1] == "Ready"
        k("delete", "pod", "after-cordon", "--grace-period=1", timeout=60)


def test_anti_affinity_and_swarm_availability_as_cordon(e2e_base: Path) -> None:
    with web_pair(e2e_base / "kanti", ("km", "kw")) as (cluster, manager, _worker):
        client_ns, _ = cluster.add_client("kac")
        k = Kubectl(manager, e2e_base / "kanti-kubectl", netns=client_ns)

        # Swarm's availability is Kubernetes' cordon, both ways.
        for availability in ("drain", "pause"):
            manager.docker("node", "update", "--availability", availability, "kw")
            assert k("get", "node", "kw", "-o", "jsonpath={.spec.unschedulable}") == "true"
            assert "node.kubernetes.io/unschedulable" in k("get", "node", "kw", "-o", "jsonpath={.spec.taints}")
            assert k("get", "node", "kw").splitlines()[1].split()[1] == "Ready,SchedulingDisabled"
            k("uncordon", "kw")
            got = manager.docker("node", "inspect", "kw", "--format", "{{.Spec.Availability}}").stdout.strip()
            assert got == "active"

        # Required anti-affinity on the hostname: one web Pod per node, the third waits.
        spec = """  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: web}}
        topologyKey: kubernetes.io/hostname"""
        for i in range(3):
            k("apply", "-f", "-", input=pod(f"web-{i}", spec).replace("metadata:\n  name:",
                                                                     "metadata:\n  labels: {app: web}\n  name:"))
            if i < 2:
                wait_for(lambda n=f"web-{i}": phase(k, n) == "Running", timeout=60, what=f"web-{i} running")
        assert {node_of(k, "web-0"), node_of(k, "web-1")} == {"km", "kw"}
        msgs = wait_for(lambda: event_messages(k, "FailedScheduling", "web-2"), timeout=30,
                        what="web-2's FailedScheduling")
        assert msgs[0] == (
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. "
            "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.")
        k("delete", "pod", "web-0", "--grace-period=1", timeout=60)  # room again: web-2 takes its node
        wait_for(lambda: phase(k, "web-2") == "Running", timeout=60, what="web-2 running")
        k("delete", "pod", "web-1", "web-2", "--grace-period=1", timeout=60)

        # NoExecute with tolerationSeconds: the Pod stays that long, then goes; one without the
        # toleration goes at once, while the other still runs.
        patient = (ON_WORKER + "\n  tolerations: [{key: maint, operator: Exists, effect: NoExecute, "
                   "tolerationSeconds: 4}]")
        k("apply", "-f", "-", input=pod("patient", patient))
        k("apply", "-f", "-", input=pod("impatient", ON_WORKER))
        for name in ("patient", "impatient"):
            wait_for(lambda n=name: phase(k, n) == "Running", timeout=60, what=f"{name} running")
        start = time.monotonic()
        k("taint", "nodes", "kw", "maint=now:NoExecute")
        wait_for(lambda: leaving(k, "impatient"), timeout=30, what="impatient evicted")
        assert not leaving(k, "patient") and phase(k, "patient") == "Running"
        wait_for(lambda: gone(k, "patient"), timeout=60, what="patient evicted")
        assert time.monotonic() - start >= 4
        k("taint", "nodes", "kw", "maint:NoExecute-")


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector: {matchLabels: {app: web}}
      containers:
      - name: main
        image: web:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'exec httpd -f -p 80 -h /www']
"""


def test_a_deployment_spread_over_nodes_and_drained_off_one(e2e_base: Path) -> None:
    with web_pair(e2e_base / "kdep", ("km", "kw")) as (cluster, manager, _worker):
        client_ns, _ = cluster.add_client("kdc")
        k = Kubectl(manager, e2e_base / "kdep-kubectl", netns=client_ns)
        k("apply", "-f", "-", input=DEPLOYMENT)

        def running() -> list[str]:
            fields = "{.status.phase} {.spec.nodeName} {.metadata.deletionTimestamp}"
            out = k("get", "pods", "-l", "app=web", "-o", f"jsonpath={{range .items[*]}}{fields}{{'\\n'}}{{end}}")
            return [r.split()[1] for r in out.splitlines() if r.split()[:1] == ["Running"] and len(r.split()) == 2]

        wait_for(lambda: len(running()) == 4, timeout=90, what="4 web Pods running")
        assert sorted(running()) == ["km", "km", "kw", "kw"]  # maxSkew 1 over the hostnames

        # drain kw: its Pods are evicted, their replacements cannot go there (cordoned) and the spread
        # (maxSkew 1 against kw's 0) keeps them Pending, with kube-scheduler's words.
        drained = k("drain", "kw", "--ignore-daemonsets", "--timeout=60s", timeout=90)
        assert "node/kw drained" in drained and "evicting pod default/web-" in drained
        wait_for(lambda: running() == ["km", "km"], timeout=60, what="kw emptied")
        pending = wait_for(lambda: [p for p in k.json("get", "pods", "-l", "app=web")["items"]
                                    if p["status"]["phase"] == "Pending"], timeout=30, what="replacements")
        name = pending[0]["metadata"]["name"]
        msgs = wait_for(lambda: event_messages(k, "FailedScheduling", name), timeout=30, what="FailedScheduling")
        assert msgs[0].startswith("0/2 nodes are available: ")
        assert "1 node(s) were unschedulable" in msgs[0]
        assert "1 node(s) didn't match pod topology spread constraints" in msgs[0]
        k("uncordon", "kw")
        wait_for(lambda: sorted(running()) == ["km", "km", "kw", "kw"], timeout=90, what="spread again")
        k("delete", "deployment", "web", timeout=60)
