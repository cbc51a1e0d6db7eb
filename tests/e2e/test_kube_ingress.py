"""End to end: Ingress (issue 16 part 5) with the real kubectl and curl from a client namespace (a
browser outside the cluster) against two namespaced runc nodes: the default IngressClass ``shoal``,
``kubectl create ingress`` by host and path to two Services, 404 for an unknown host, HTTPS with the
certificate of a ``kubectl create secret tls`` Secret (SNI, ``curl --resolve --cacert``), the
Ingress's ADDRESS, a killed daemon's nginx stopped at its next start, and every node's nginx gone
once the last Ingress is deleted.

The Pods run on the manager node and are reached through its nginx: until the pod network is merged
(podnet), a node cannot reach another node's Pods; ``test_either_node`` (the worker's nginx, to the
manager's Pods) waits for it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster, DevNode
from tests.support import wait_for

from .conftest import web_pair
from .kubectl import Kubectl

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(not os.path.exists("/usr/sbin/nginx"), reason="nginx is not installed"),
]


def deployment(name: str, node: str) -> str:
    """One Pod on ``node`` serving its name at / and at /api/ (busybox httpd)."""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers:
      - name: main
        image: web:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'mkdir -p /www/api; echo {name} > /www/index.html; echo {name}-api > /www/api/index.html;
          exec httpd -f -p 80 -h /www']
        ports:
        - {{name: http, containerPort: 80}}
        readinessProbe:
          tcpSocket: {{port: 80}}
          periodSeconds: 1
"""


class Env:
    def __init__(self, cluster: DevCluster, manager: DevNode, worker: DevNode, k: Kubectl, client: str,
                 tmp: Path) -> None:
        self.cluster, self.manager, self.worker, self.k, self.client, self.tmp = \
            cluster, manager, worker, k, client, tmp

    def curl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.client, "curl", "-s", "--max-time", "5", *args],
                              capture_output=True, text=True)

    def get(self, addr: str, host: str, path: str = "/") -> tuple[str, str]:
        """(status code, body) of ``http://<addr><path>`` with ``Host: host``, from the client."""
        r = self.curl("-w", "\n%{http_code}", "-H", f"Host: {host}", f"http://{addr}{path}")
        body, _, code = r.stdout.rpartition("\n")
        return code, body.strip()


@pytest.fixture(scope="module")
def env(e2e_base: Path) -> Iterator[Env]:
    with web_pair(e2e_base / "king", ("ingm", "ingw")) as (cluster, manager, worker):
        client_ns, _ = cluster.add_client("ingc")
        kubectl = Kubectl(manager, e2e_base / "king-kubectl", netns=client_ns)
        yield Env(cluster, manager, worker, kubectl, client_ns, e2e_base / "king-tls")
        kubectl.run("delete", "ingress", "--all", check=False)
        kubectl.run("delete", "deployments,replicasets", "--all", "--cascade=orphan", check=False)
        kubectl.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)


def nginx_masters(node: DevNode) -> list[int]:
    """The nginx processes running with this node's ingress directory."""
    conf = str(node.exec_root / "ingress" / "nginx.conf")
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "nginx" in cmd and conf in cmd:
            found.append(int(p.name))
    return found


def ready_pods(k: Kubectl, app: str) -> bool:
    items = k.json("get", "pods", "-l", f"app={app}")["items"]
    return len(items) == 1 and any(c["type"] == "Ready" and c["status"] == "True"
                                   for c in items[0].get("status", {}).get("conditions") or [])


def test_ingress_by_host_and_path_and_tls(env: Env) -> None:
    k, m = env.k, env.manager
    wait_for(lambda: "shoal" in k("get", "ingressclass"), timeout=30, what="the default IngressClass")
    assert k("get", "ingressclass", "shoal", "-o", "jsonpath={.spec.controller}") == "shoal.dev/ingress-nginx"
    for app in ("web", "api"):
        k("apply", "-f", "-", input=deployment(app, "ingm"))
        k("expose", "deployment", app, "--port=80", "--target-port=http")
    wait_for(lambda: ready_pods(k, "web") and ready_pods(k, "api"), timeout=90, what="the two Pods ready")
    assert not nginx_masters(m) and not nginx_masters(env.worker)  # no Ingress yet: no nginx

    # a certificate for web.example, as a kubernetes.io/tls Secret
    env.tmp.mkdir(parents=True, exist_ok=True)
    crt, key = env.tmp / "tls.crt", env.tmp / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "2", "-subj", "/CN=web.example", "-addext", "subjectAltName=DNS:web.example"],
                   check=True, capture_output=True)
    k("create", "secret", "tls", "web-tls", f"--cert={crt}", f"--key={key}")

    out = k("create", "ingress", "web", "--class=shoal", "--rule=web.example/*=web:80,tls=web-tls",
            "--rule=web.example/api/*=api:80")
    assert out.strip() == "ingress.networking.k8s.io/web created"

    wait_for(lambda: env.get(m.addr, "web.example") == ("200", "web"), timeout=30, what="web.example/ to web")
    assert env.get(m.addr, "web.example", "/api/") == ("200", "api-api")
    assert env.get(m.addr, "web.example", "/apix")[0] == "404"  # not under /api: web's, which has no /apix
    assert env.get(m.addr, "unknown.example")[0] == "404"
    # HTTPS with the Secret's certificate
    r = env.curl("--resolve", f"web.example:443:{m.addr}", "--cacert", str(crt), "https://web.example/api/")
    assert r.returncode == 0 and r.stdout.strip() == "api-api", r.stderr
    # the Ingress's address: the nodes'
    wait_for(lambda: sorted(i.get("ip") for i in k.json("get", "ingress", "web")["status"]["loadBalancer"]
                            .get("ingress") or []) == sorted([m.addr, env.worker.addr]),
             timeout=30, what="the nodes' addresses in the Ingress's status")
    row = k("get", "ingress", "web").splitlines()[1].split()
    assert row[:3] == ["web", "shoal", "web.example"] and row[-3:-1] == ["80,", "443"]
    assert "web-tls terminates web.example" in k("describe", "ingress", "web")
    assert len(nginx_masters(m)) == 1 and len(nginx_masters(env.worker)) == 1

    # a daemon killed leaves its nginx running; its next start stops that one (and starts its own)
    w = env.worker
    (old,) = nginx_masters(w)
    w.kill()
    assert nginx_masters(w) == [old]
    w.start()
    wait_for(lambda: (now := nginx_masters(w)) and old not in now, timeout=60, what="the old nginx replaced")

    # the last Ingress deleted: every node's nginx goes
    k("delete", "ingress", "web")
    wait_for(lambda: not nginx_masters(m) and not nginx_masters(env.worker), timeout=30, what="nginx gone")
    assert env.curl(f"http://{m.addr}/").returncode == 7  # connection refused


def test_either_node(env: Env) -> None:
    k, w = env.k, env.worker
    k("create", "ingress", "both", "--class=shoal", "--rule=web.example/*=web:80")
    wait_for(lambda: env.get(w.addr, "web.example") == ("200", "web"), timeout=30, what="the worker's nginx")
    assert env.get(env.manager.addr, "web.example") == ("200", "web")
    k("delete", "ingress", "both")
