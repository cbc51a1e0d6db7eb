"""End to end with the real kubectl (from a client namespace) against two namespaced runc nodes: cluster
DNS (docs/design/kube-network.md, "Cluster DNS"). The ``kube-dns`` Service of ``kube-system`` at the
cluster DNS address; a Pod's resolv.conf (the cluster DNS address, Kubernetes' search list,
``ndots:5``; ``dnsPolicy: None`` with ``dnsConfig``) and hosts file; and, from inside a Pod with
busybox's nslookup, a Service by its short name through the search list, a headless Service's Pods,
an ExternalName's CNAME, and a deleted Service no longer resolving. The names come from the view of
Services the managers send the nodes (``Assignments.kube``)."""

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
        command: [httpd, -f, -p, "80", -h, /www]
        ports:
        - {name: http, containerPort: 80}
"""

HEADLESS = """apiVersion: v1
kind: Service
metadata:
  name: web-hl
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: http, port: 80}
"""

CLIENT = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  hostname: {hostname}
  subdomain: {subdomain}
  dnsPolicy: {policy}
  {config}
  containers:
  - name: main
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
"""

NONE_CONFIG = ('dnsConfig: {nameservers: [192.0.2.53], searches: [corp.test], '
               'options: [{name: ndots, value: "2"}, {name: edns0}]}')


@pytest.fixture(scope="module")
def k(e2e_base: Path) -> Iterator[Kubectl]:
    with web_pair(e2e_base / "kdns", ("kdm", "kdw")) as (cluster, manager, _worker):
        client_ns, _ = cluster.add_client("kdc")
        kubectl = Kubectl(manager, e2e_base / "kdns-kubectl", netns=client_ns)
        yield kubectl
        kubectl.run("delete", "services", "web", "web-hl", "search", "--ignore-not-found", check=False)
        kubectl.run("delete", "deployments,replicasets", "--all", "--cascade=orphan", check=False)
        kubectl.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)


def rows(out: str) -> dict[str, list[str]]:
    return {r.split()[0]: r.split() for r in out.splitlines()[1:] if r.strip()}


def running(k: Kubectl, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = wait_for(
        lambda: (p := k.json("get", "pod", name))["status"].get("phase") == "Running" and p["status"].get("podIP")
        and p, timeout=90, what=f"Pod {name} running")
    return pod


def client(k: Kubectl, name: str, policy: str = "ClusterFirst", config: str = "", hostname: str = "",
           subdomain: str = "") -> dict[str, Any]:
    manifest = CLIENT.format(name=name, policy=policy, config=config, hostname=hostname or name,
                             subdomain=subdomain or '""')
    k("apply", "-f", "-", input=manifest)
    return running(k, name)


def nslookup(k: Kubectl, pod: str, name: str) -> str:
    """busybox's nslookup in ``pod`` (its output; it fails when any search domain does not know the name)."""
    r = k.run("exec", pod, "--", "nslookup", name, check=False, timeout=30)
    return r.stdout + r.stderr


def test_the_kube_dns_service(k: Kubectl) -> None:
    svc = wait_for(lambda: rows(k("get", "svc", "-n", "kube-system")).get("kube-dns"), timeout=30,
                   what="the kube-dns Service")
    assert svc[1:5] == ["ClusterIP", "172.16.0.10", "<none>", "53/UDP,53/TCP"]
    labels = k.json("get", "svc", "kube-dns", "-n", "kube-system")["metadata"]["labels"]
    assert labels["k8s-app"] == "kube-dns" and labels["kubernetes.io/name"] == "CoreDNS"


def test_a_pods_resolv_conf_and_hosts(k: Kubectl) -> None:
    pod = client(k, "dns-first", hostname="db-0", subdomain="db")
    resolv = k("exec", "dns-first", "--", "cat", "/etc/resolv.conf").splitlines()
    assert "nameserver 172.16.0.10" in resolv and "options ndots:5" in resolv
    (search,) = [line for line in resolv if line.startswith("search ")]
    assert search.split()[1:4] == ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    hosts = k("exec", "dns-first", "--", "cat", "/etc/hosts").splitlines()
    assert hosts[0] == "# Kubernetes-managed hosts file."
    assert f"{pod['status']['podIP']}\tdb-0.db.default.svc.cluster.local\tdb-0" in hosts
    assert k("exec", "dns-first", "--", "hostname").strip() == "db-0"
    # dnsPolicy None: dnsConfig alone; the Pod reads back as it was written
    client(k, "dns-none", policy="None", config=NONE_CONFIG)
    assert k("exec", "dns-none", "--", "cat", "/etc/resolv.conf").splitlines() == [
        "nameserver 192.0.2.53", "search corp.test", "options ndots:2 edns0"]
    spec = k.json("get", "pod", "dns-none")["spec"]
    assert spec["dnsPolicy"] == "None"
    assert spec["dnsConfig"] == {"nameservers": ["192.0.2.53"], "searches": ["corp.test"],
                                 "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}


def test_services_resolve_by_name_from_a_pod(k: Kubectl) -> None:
    """Needs the managers' view of the Services on the nodes (``Assignments.kube``)."""
    client(k, "dns-client")
    k("apply", "-f", "-", input=DEPLOYMENT)
    ips = wait_for(lambda: len(p := [x["status"].get("podIP") for x in k.json("get", "pods", "-l", "app=web")["items"]
                                     if x["status"].get("phase") == "Running"]) == 2 and all(p) and sorted(p),
                   timeout=90, what="2 web Pods with addresses")
    k("expose", "deployment", "web", "--port=80", "--target-port=http")
    cluster_ip = k("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}").strip()
    # the short name, through the search list
    out = wait_for(lambda: f"Address: {cluster_ip}" in (o := nslookup(k, "dns-client", "web")) and o, timeout=30,
                   what="web resolved in the Pod")
    assert "Name:\tweb.default.svc.cluster.local" in out
    assert f"Address: {cluster_ip}" in nslookup(k, "dns-client", "web.default.svc.cluster.local")
    # (busybox's nslookup tries the search list for names without a dot only)
    dns = nslookup(k, "dns-client", "kube-dns.kube-system.svc.cluster.local")
    assert "Name:\tkube-dns.kube-system.svc.cluster.local\nAddress: 172.16.0.10" in dns
    # a headless Service: the Pods' own addresses
    k("apply", "-f", "-", input=HEADLESS)
    wait_for(lambda: all(f"Address: {ip}" in (o := nslookup(k, "dns-client", "web-hl")) for ip in ips) and o,
             timeout=30, what="the headless Service's Pods")
    # an ExternalName Service: a CNAME to the Service's name
    k("create", "service", "externalname", "search", "--external-name=web.default.svc.cluster.local")
    cname = "canonical name = web.default.svc.cluster.local"
    out = wait_for(lambda: cname in (o := nslookup(k, "dns-client", "search")) and o, timeout=30,
                   what="the ExternalName's CNAME")
    assert f"Address: {cluster_ip}" in out
    # a deleted Service no longer resolves
    k("delete", "svc", "web")
    wait_for(lambda: "can't find web.default.svc.cluster.local: NXDOMAIN" in nslookup(k, "dns-client", "web"),
             timeout=30, what="web gone from DNS")
