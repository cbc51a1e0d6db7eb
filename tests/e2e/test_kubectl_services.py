"""End to end with the real kubectl (from a client namespace) against two namespaced runc nodes: a
Deployment exposed as a Service (``kubectl expose``), its Endpoints and EndpointSlice listing the Pods'
own addresses (``status.podIP`` as their nodes report them) and following their readiness (a Pod made
not ready moves to ``notReadyAddresses`` and ``ready: false``), a NodePort Service, and the Service's
deletion taking its endpoints. No traffic flows through a Service yet (docs/design/services.md): this
checks the objects only."""

from __future__ import annotations

import os
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

# Pods ready while /www/state says ok (``kubectl exec`` can make one sick).
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: web:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'echo ok > /www/state; exec httpd -f -p 80 -h /www']
        ports:
        - {name: http, containerPort: 80}
        readinessProbe:
          exec:
            command: [sh, -c, 'test "$(cat /www/state)" = ok']
          periodSeconds: 1
"""


@pytest.fixture(scope="module")
def k(e2e_base: Path) -> Iterator[Kubectl]:
    with web_pair(e2e_base / "ksvc", ("ksm", "ksw")) as (cluster, manager, _worker):
        client_ns, _ = cluster.add_client("ksc")
        kubectl = Kubectl(manager, e2e_base / "ksvc-kubectl", netns=client_ns)
        yield kubectl
        kubectl.run("delete", "services", "web", "web-np", "--ignore-not-found", check=False)
        kubectl.run("delete", "deployments,replicasets", "--all", "--cascade=orphan", check=False)
        kubectl.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)


def pods(k: Kubectl) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k.json("get", "pods", "-l", "app=web")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


def subset(k: Kubectl) -> dict[str, Any]:
    subsets = k.json("get", "endpoints", "web").get("subsets") or [{}]
    return subsets[0]  # type: ignore[no-any-return]


def rows(out: str) -> dict[str, list[str]]:
    return {r.split()[0]: r.split() for r in out.splitlines()[1:] if r.strip()}


def test_endpoints_follow_the_pods_addresses_and_readiness(k: Kubectl) -> None:
    k("apply", "-f", "-", input=DEPLOYMENT)
    live = wait_for(lambda: len(p := pods(k)) == 2 and all(ready(x) and x["status"].get("podIP") for x in p) and p,
                    timeout=90, what="2 ready Pods with addresses")
    # (Pods on two nodes may share an address today: each node's Pods are on its own bridge, no pod network)
    pairs = sorted((p["metadata"]["name"], p["status"]["podIP"]) for p in live)
    assert k("expose", "deployment", "web", "--port=8080", "--target-port=http").strip() == "service/web exposed"
    svc = rows(k("get", "svc", "web"))["web"]
    assert svc[1] == "ClusterIP" and svc[2].startswith("172.16.") and svc[4] == "8080/TCP"
    wait_for(lambda: len(subset(k).get("addresses") or []) == 2, timeout=30, what="2 ready addresses")
    ss = subset(k)
    assert sorted((a["targetRef"]["name"], a["ip"]) for a in ss["addresses"]) == pairs
    assert {a["nodeName"] for a in ss["addresses"]} <= {"ksm", "ksw"}
    assert ss["ports"] == [{"port": 80, "protocol": "TCP"}]  # the named port, resolved in each Pod
    assert sorted(rows(k("get", "endpoints", "web"))["web"][1].split(",")) == sorted(f"{ip}:80" for _, ip in pairs)
    (sl,) = k.json("get", "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    assert sorted((e["targetRef"]["name"], e["addresses"][0]) for e in sl["endpoints"]) == pairs

    # One Pod made not ready: it moves to notReadyAddresses, and ready: false in its slice.
    (sick, _), (well, _) = pairs
    k("exec", sick, "--", "sh", "-c", "echo sick > /www/state")
    wait_for(lambda: [a["targetRef"]["name"] for a in subset(k).get("notReadyAddresses") or []] == [sick],
             timeout=30, what="the sick Pod not ready in the Endpoints")
    assert [a["targetRef"]["name"] for a in subset(k)["addresses"]] == [well]
    (sl,) = k.json("get", "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    conditions = {e["targetRef"]["name"]: e["conditions"] for e in sl["endpoints"]}
    assert conditions[sick] == {"ready": False, "serving": False, "terminating": False}
    assert conditions[well] == {"ready": True, "serving": True, "terminating": False}
    k("exec", sick, "--", "sh", "-c", "echo ok > /www/state")
    wait_for(lambda: len(subset(k).get("addresses") or []) == 2, timeout=30, what="the Pod ready again")

    # A NodePort Service of the same Pods; deleting the Services takes their endpoints.
    k("expose", "deployment", "web", "--name=web-np", "--type=NodePort", "--port=80")
    np = rows(k("get", "svc", "web-np"))["web-np"]
    assert np[1] == "NodePort" and 30000 <= int(np[4].split(":")[1].split("/")[0]) <= 32767
    assert "web" in k("describe", "svc", "web")
    k("delete", "svc", "web", "web-np")
    wait_for(lambda: not k.json("get", "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
             and k.run("get", "endpoints", "web", check=False).returncode != 0, timeout=30,
             what="the endpoints gone with the Service")


def test_swarm_and_kubernetes_ports_and_load_balancer_addresses(k: Kubectl) -> None:
    """Both worlds on one network: a Swarm service may not publish a Service's NodePort (the real docker
    CLI's output) nor the reverse; a LoadBalancer Service gets the nodes' addresses (no pool given)."""
    manager = k.node
    k("create", "service", "nodeport", "web-np2", "--tcp=80:80", "--node-port=30080")
    r = manager.docker("service", "create", "--detach", "--name", "clash", "--publish", "30080:80", "web:latest",
                       check=False)
    assert r.returncode != 0
    assert r.stderr.strip() == ("Error response from daemon: rpc error: code = InvalidArgument desc = port '30080' "
                                "is already in use by Kubernetes Service 'default/web-np2' as a NodePort")
    manager.docker("service", "create", "--detach", "--name", "mesh", "--publish", "30090:80", "web:latest")
    try:
        r2 = k.run("create", "service", "nodeport", "web-np3", "--tcp=80:80", "--node-port=30090", check=False)
        assert r2.returncode != 0
        assert ('Service "web-np3" is invalid: spec.ports[0].nodePort: Invalid value: 30090: provided port is '
                "already allocated") in r2.stderr
    finally:
        manager.docker("service", "rm", "mesh", check=False)
    k("create", "service", "loadbalancer", "web-lb", "--tcp=8080:80")
    nodes = sorted((n["status"]["addresses"][0]["address"] for n in k.json("get", "nodes")["items"]),
                   key=lambda a: tuple(int(x) for x in a.split(".")))
    wait_for(lambda: rows(k("get", "svc", "web-lb"))["web-lb"][3] != "<pending>", timeout=30,
             what="web-lb's EXTERNAL-IP")
    assert [i["ip"] for i in k.json("get", "svc", "web-lb")["status"]["loadBalancer"]["ingress"]] == nodes
    assert rows(k("get", "svc", "web-lb"))["web-lb"][3] == ",".join(nodes)[:13] + "..."  # as kubectl cuts it
    k("delete", "svc", "web-np2", "web-lb")
