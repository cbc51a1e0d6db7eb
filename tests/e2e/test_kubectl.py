"""End to end with the machine's real kubectl (through its version dispatcher, a fresh --cache-dir)
against a single-node cluster made with ``docker swarm init`` on runc: what kubectl prints, and what
really happens (the container runs, the page is fetched inside the Pod, the secret's bytes are in the
file, the Pending reason, the events)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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

# The course's pod.yaml, with the image this machine has (nothing is pulled from outside: the busybox
# web image is tagged nginx, and IfNotPresent keeps the node from asking a registry for `latest`).
POD = """apiVersion: v1
kind: Pod
metadata:
  name: mywebserver
spec:
  containers:
  - name: mywebserver
    image: nginx
    imagePullPolicy: IfNotPresent
"""


@pytest.fixture(scope="module")
def node(e2e_base: Path) -> Iterator[DevNode]:
    with web_swarm(e2e_base / "kube") as d:
        d.docker("tag", "web:latest", "nginx:latest")
        yield d


@pytest.fixture(scope="module")
def k(node: DevNode, e2e_base: Path) -> Iterator[Kubectl]:
    kubectl = Kubectl(node, e2e_base / "kubectl")
    yield kubectl
    # What the tests left runs no longer than a second after this (the node's stop would wait out
    # each Pod's 30 s grace).
    kubectl.run("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=false", check=False)


def pod_phase(k: Kubectl, name: str, ns: str = "default") -> str:
    r = k.run("get", "pod", name, "-n", ns, "-o", "jsonpath={.status.phase}", check=False)
    return r.stdout if r.returncode == 0 else ""


def wait_running(k: Kubectl, name: str, ns: str = "default", timeout: float = 60) -> None:
    wait_for(lambda: pod_phase(k, name, ns) == "Running", timeout=timeout, what=f"pod {name} running")


def test_nodes_are_the_swarms_nodes(k: Kubectl, node: DevNode) -> None:
    out = k("get", "nodes", "-o", "wide").splitlines()
    assert out[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    row = out[1].split()
    hostname = node.docker("node", "ls", "--format", "{{.Hostname}}").stdout.strip()
    assert row[0] == hostname.lower() and row[1] == "Ready" and row[2] == "control-plane"
    assert row[5] == "127.0.0.1"  # INTERNAL-IP: the swarm's address of the node
    # Cordon is Swarm's pause, and Swarm's drain is unschedulable for Kubernetes.
    k("cordon", row[0])
    assert node.docker("node", "inspect", "self", "--format", "{{.Spec.Availability}}").stdout.strip() == "pause"
    assert "Ready,SchedulingDisabled" in k("get", "nodes")
    k("uncordon", row[0])
    node.docker("node", "update", "--availability", "drain", hostname)
    assert k.json("get", "node", row[0])["spec"]["unschedulable"] is True
    node.docker("node", "update", "--availability", "active", hostname)
    assert "unschedulable" not in k.json("get", "node", row[0])["spec"]


def test_anonymous_requests_are_refused(k: Kubectl, node: DevNode) -> None:
    cfg = subprocess.run(["kubectl", "config", "view", "-o", "json"], env=k.env(), capture_output=True, text=True,
                         check=True).stdout
    url = json.loads(cfg)["clusters"][0]["cluster"]["server"]
    r = subprocess.run(["curl", "-sk", f"{url}/api/v1/pods"], capture_output=True, text=True)
    body = json.loads(r.stdout)
    assert (body["code"], body["reason"]) == (401, "Unauthorized")


def test_the_course_pod_runs_and_is_described(k: Kubectl, node: DevNode) -> None:
    watch = k.popen("get", "pods", "-o", "wide", "-w")
    try:
        assert k("apply", "-f", "-", input=POD).strip() == "pod/mywebserver created"
        wait_running(k, "mywebserver")
        wait_for(lambda: "Running" in (watch.stdout.readline() if watch.stdout else ""), timeout=30,
                 what="the watch to print Running")
    finally:
        watch.kill()
        watch.wait()
    assert k("apply", "-f", "-", input=POD).strip() == "pod/mywebserver unchanged"
    pod = k.json("get", "pod", "mywebserver")
    assert pod["status"]["hostIP"] == "127.0.0.1"
    assert pod["spec"]["restartPolicy"] == "Always" and pod["spec"]["terminationGracePeriodSeconds"] == 30
    assert pod["status"]["qosClass"] == "BestEffort"
    desc = wait_for(lambda: "Started" in (o := k("describe", "pod", "mywebserver")) and o, what="the events")
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in desc
    assert "Successfully assigned default/mywebserver to" in desc
    # The Pod's container is a container of the node.
    assert "web:latest" in node.docker("ps").stdout or "nginx" in node.docker("ps").stdout


def test_invalid_pod_is_refused_in_the_api_servers_words(k: Kubectl) -> None:
    bad = POD.replace("    image: nginx\n", "").replace("mywebserver", "bad")
    r = k.run("apply", "-f", "-", input=bad, check=False)
    assert r.returncode != 0
    assert 'The Pod "bad" is invalid: spec.containers[0].image: Required value' in r.stderr


def test_a_pod_too_big_for_every_node_stays_pending(k: Kubectl) -> None:
    big = POD.replace("mywebserver", "big") + "    resources:\n      requests:\n        memory: 4000Gi\n"
    k("apply", "-f", "-", input=big)
    events = wait_for(lambda: "FailedScheduling" in (o := k("get", "events", "--field-selector",
                                                             "reason=FailedScheduling")) and o,
                      what="a FailedScheduling event")
    assert "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: " \
           "1 No preemption victims found for incoming pod." in events
    assert pod_phase(k, "big") == "Pending"
    k("delete", "pod", "big")


def test_labels_and_selectors(k: Kubectl) -> None:
    for name, env, tier in (("l1", "prod", "web"), ("l2", "dev", "db"), ("l3", "test", "web")):
        k("run", name, "--image=nginx", "--image-pull-policy=IfNotPresent", f"--labels=env={env},tier={tier}")
    k("label", "pod", "l3", "env=prod", "--overwrite")
    out = k("get", "pods", "-l", "env in (prod,dev),tier!=db", "--show-labels")
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert names == ["l1", "l3"]
    assert "env=prod" in out
    k("delete", "pod", "l1", "l2", "l3", "--grace-period=1")


def test_secrets_and_configmaps_are_created_and_typed(k: Kubectl, tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("not really a key\n")
    k("create", "secret", "generic", "db", "--from-literal=password=s3cr3t", f"--from-file={tmp_path / 'key.pem'}")
    k("create", "secret", "docker-registry", "regcred", "--docker-server=127.0.0.1:5000", "--docker-username=u",
      "--docker-password=p")
    (tmp_path / "app.conf").write_text("workers 4\n")
    k("create", "configmap", "app", f"--from-file={tmp_path / 'app.conf'}", "--from-literal=mode=fast")
    rows = {r.split()[0]: r.split() for r in k("get", "secrets").splitlines()[1:]}
    assert rows["db"][1:3] == ["Opaque", "2"]
    assert rows["regcred"][1:3] == ["kubernetes.io/dockerconfigjson", "1"]
    cm = k.json("get", "configmap", "app")
    assert cm["data"] == {"app.conf": "workers 4\n", "mode": "fast"}
    # Kubernetes' Secrets are not Swarm's.
    assert "db" not in k.node.docker("secret", "ls").stdout


def test_namespaces(k: Kubectl) -> None:
    k("create", "namespace", "team-a")
    k("-n", "team-a", "run", "tool", "--image=nginx", "--image-pull-policy=IfNotPresent", "--", "sleep", "3600")
    wait_running(k, "tool", "team-a")
    assert "tool" not in k("get", "pods")
    assert "default" in k("get", "sa", "-n", "team-a")
    k("delete", "namespace", "team-a", timeout=120)
    assert k.run("get", "namespace", "team-a", check=False).returncode != 0


def test_server_side_apply_edit_and_explain(k: Kubectl) -> None:
    ssa = POD.replace("mywebserver", "ssa")
    assert "serverside-applied" in k("apply", "--server-side", "-f", "-", input=ssa)
    managers = [m["manager"] for m in k.json("get", "pod", "ssa", "--show-managed-fields")["metadata"]["managedFields"]]
    assert "kubectl" in managers
    k("edit", "pod", "ssa", env={"KUBE_EDITOR": "sed -i -e 's/^  labels:$/  labels:\\n    edited: \"yes\"/' "
                                                "-e 's/^metadata:$/metadata:\\n  annotations:\\n    a: b/'"})
    assert k.json("get", "pod", "ssa")["metadata"]["annotations"]["a"] == "b"
    assert "livenessProbe" in k("explain", "pod.spec.containers")
    k("delete", "pod", "ssa", "--grace-period=1")


def test_delete_sends_sigterm_then_sigkill_after_the_grace_period(k: Kubectl) -> None:
    stubborn = POD.replace("mywebserver", "stubborn").replace(
        "    imagePullPolicy: IfNotPresent\n",
        "    imagePullPolicy: IfNotPresent\n"
        "    command: [sh, -c, 'trap \"echo got TERM\" TERM; while true; do sleep 1; done']\n"
    ) + "  terminationGracePeriodSeconds: 3\n"
    k("apply", "-f", "-", input=stubborn)
    wait_running(k, "stubborn")
    start = time.monotonic()
    k("delete", "pod", "stubborn", timeout=60)  # kubectl waits until it is gone
    took = time.monotonic() - start
    assert 2.5 <= took < 25, took


def test_attach_shows_the_containers_output_as_it_comes(k: Kubectl) -> None:
    ticker = POD.replace("mywebserver", "ticker").replace(
        "    imagePullPolicy: IfNotPresent\n",
        "    imagePullPolicy: IfNotPresent\n"
        "    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done']\n")
    k("apply", "-f", "-", input=ticker)
    wait_running(k, "ticker")
    attach = k.popen("attach", "ticker")
    killer = threading.Timer(30, attach.kill)  # a readline that would wait for ever
    killer.start()
    try:
        assert attach.stdout is not None
        line = attach.stdout.readline()
        assert line.startswith("tick "), line
        later = attach.stdout.readline()
        assert int(later.split()[1]) > int(line.split()[1])
    finally:
        killer.cancel()
        attach.kill()
        attach.wait()
    k("delete", "pod", "ticker", "--grace-period=1")
