"""End to end: traffic through Kubernetes Services (issue 16, the Services' data plane), with the real
kubectl against two namespaced runc nodes and a client namespace standing for a machine outside:

* a ClusterIP by address from a Pod (``nc``), balanced over the ready Pods (each answers its own name,
  ``/cgi-bin/host``), a Pod reaching itself through its Service (hairpin), and a not-ready Pod
  getting none of 50 requests;
* a NodePort from outside; ``externalTrafficPolicy: Local`` keeping the client's address
  (``/cgi-bin/addr``) and refusing on a node without a ready Pod; an external IP routed to a node;
* a LoadBalancer from outside at its pool address (announced by one node);
* everything gone from the nodes' tables when the Services go.

Until the pod network is built, each node's Pods are on its own bridge (the same addresses on every
node): the traffic tests pin their Pods to the manager node, and the tests that need Pods reached
across nodes (NodePort on every node, the LoadBalancer) skip when the Pods' addresses are not in the
cluster's pod range. The LoadBalancer test also needs the pool allocator (``status.loadBalancer``)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.devcluster import DevCluster, DevNode
from tests.support import wait_for

from .conftest import WEB_CMD, rootfs_tar
from .kubectl import Kubectl

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

POD_RANGE = ipaddress.IPv4Network("100.64.0.0/16")


def deployment(name: str, replicas: int, node: str = "") -> str:
    """Pods ready while /www/state says ok (``kubectl exec`` can make one sick); on ``node`` if given."""
    pin = f"      nodeSelector: {{kubernetes.io/hostname: {node}}}\n" if node else ""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
{pin}      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: web:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'echo ok > /www/state; exec httpd -f -p 80 -h /www']
        ports:
        - {{name: http, containerPort: 80}}
        readinessProbe:
          exec:
            command: [sh, -c, 'test "$(cat /www/state)" = ok']
          periodSeconds: 1
"""


CLIENT = """apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeSelector: {kubernetes.io/hostname: kpm}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
"""


class Cluster:
    def __init__(self, dev: DevCluster, manager: DevNode, worker: DevNode, kubectl: Kubectl, client_ns: str,
                 client_addr: str, pool: list[str]) -> None:
        self.dev, self.manager, self.worker, self.k = dev, manager, worker, kubectl
        self.client_ns, self.client_addr, self.pool = client_ns, client_addr, pool
        self.nodes = {"kpm": manager, "kpw": worker}


@pytest.fixture(scope="module")
def c(e2e_base: Path) -> Iterator[Cluster]:
    dev = DevCluster(e2e_base / "kproxy", "runc")
    try:
        pool = [dev.addr(i) for i in (200, 201, 202, 203)]
        env = {"SHOAL_SERVICE_LB_POOL": f"{pool[0]}-{pool[-1]}"}
        a, b = dev.add("kpm", env=env), dev.add("kpw", env=env)
        tar = rootfs_tar(e2e_base)
        for d in (a, b):
            d.docker("import", "-c", WEB_CMD, "-", "web:latest", input=tar)
        a.docker("swarm", "init", "--advertise-addr", a.addr)
        token = a.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        b.docker("swarm", "join", "--token", token, f"{a.addr}:2377")
        client_ns, client_addr = dev.add_client("kpc")
        k = Kubectl(a, e2e_base / "kproxy-kubectl", netns=client_ns)
        yield Cluster(dev, a, b, k, client_ns, client_addr, pool)
        k.run("delete", "services", "--all", check=False)
        k.run("delete", "deployments,replicasets", "--all", "--cascade=orphan", check=False)
        k.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
    finally:
        dev.leave_all()
        dev.close()


def ready(pod: dict[str, Any]) -> bool:
    return any(x["type"] == "Ready" and x["status"] == "True" for x in pod.get("status", {}).get("conditions") or [])


def running_pods(k: Kubectl, app: str, n: int) -> list[dict[str, Any]]:
    def live() -> list[dict[str, Any]] | None:
        items = [p for p in k.json("get", "pods", "-l", f"app={app}")["items"]
                 if not p["metadata"].get("deletionTimestamp")]
        return items if len(items) == n and all(ready(p) and p["status"].get("podIP") for p in items) else None
    return wait_for(live, timeout=90, what=f"{n} ready {app} Pods")  # type: ignore[no-any-return]


def table(node: DevNode) -> str:
    r = subprocess.run(["nsenter", f"--net=/run/netns/{node.netns}", "nft", "list", "table", "ip", "shoal_kube"],
                       capture_output=True, text=True)
    return r.stdout


def curl(c: Cluster, url: str, timeout: float = 3) -> str:
    """The answer's body (httpd gives ``/cgi-bin/addr`` an IPv4 client as ``[::ffff:a.b.c.d]``: unwrapped)."""
    r = subprocess.run(["nsenter", f"--net=/run/netns/{c.client_ns}", "curl", "-s", "--max-time", str(timeout), url],
                       capture_output=True, text=True)
    return r.stdout.strip().replace("[::ffff:", "").replace("]", "")


def in_pod(k: Kubectl, pod: str, ip: str, port: int, path: str, times: int = 1) -> list[str]:
    """``times`` HTTP requests from the Pod with ``nc``; each answer's body line."""
    one = f"echo -e 'GET {path} HTTP/1.0\\r\\n\\r' | nc {ip} {port}; echo"
    out = k("exec", pod, "--", "sh", "-c", "; ".join([one] * times), timeout=120)
    return [line.strip() for line in out.splitlines() if line.startswith(("served-by-", "from-"))]


def pod_network(pods: list[dict[str, Any]]) -> bool:
    return all(ipaddress.IPv4Address(p["status"]["podIP"]) in POD_RANGE for p in pods)


def cluster_ip(k: Kubectl, name: str) -> str:
    return str(k.json("get", "svc", name)["spec"]["clusterIP"])


def node_port(k: Kubectl, name: str) -> int:
    return int(k.json("get", "svc", name)["spec"]["ports"][0]["nodePort"])


def test_a_cluster_ip_balances_over_ready_pods_and_a_not_ready_one_gets_nothing(c: Cluster) -> None:
    k = c.k
    k("apply", "-f", "-", input=deployment("web", 2, node="kpm"))
    k("apply", "-f", "-", input=CLIENT)
    web = running_pods(k, "web", 2)
    wait_for(lambda: ready(k.json("get", "pod", "client")), timeout=90, what="the client Pod")
    names = sorted(p["metadata"]["name"] for p in web)
    k("expose", "deployment", "web", "--port=80", "--target-port=http")
    ip = cluster_ip(k, "web")
    wait_for(lambda: all(f"dnat to {p['status']['podIP']}:80" in table(c.manager) for p in web), timeout=30,
             what="the endpoints in the manager node's table")
    answers = in_pod(k, "client", ip, 80, "/cgi-bin/host", times=20)
    assert len(answers) == 20
    assert {a.removeprefix("served-by-") for a in answers} == set(names)  # both, by the Service's address

    # Hairpin: a Pod reaching its own Service (and sometimes itself) is answered every time.
    assert len(in_pod(k, names[0], ip, 80, "/cgi-bin/host", times=6)) == 6

    # sessionAffinity: ClientIP: the client keeps the Pod it first reached.
    k("patch", "svc", "web", "-p", '{"spec":{"sessionAffinity":"ClientIP"}}')
    wait_for(lambda: "update @affinity-" in table(c.manager), timeout=30, what="the affinity rules")
    answers = in_pod(k, "client", ip, 80, "/cgi-bin/host", times=12)
    assert len(answers) == 12 and len(set(answers)) == 1, answers
    k("patch", "svc", "web", "-p", '{"spec":{"sessionAffinity":"None","sessionAffinityConfig":null}}')
    wait_for(lambda: "update @affinity-" not in table(c.manager), timeout=30, what="no affinity rules")

    # One Pod not ready: out of the rules, then none of 50 requests reaches it.
    sick, well = web[0], web[1]
    k("exec", sick["metadata"]["name"], "--", "sh", "-c", "echo sick > /www/state")
    wait_for(lambda: f"dnat to {sick['status']['podIP']}:80" not in table(c.manager), timeout=30,
             what="the not-ready Pod out of the table")
    answers = in_pod(k, "client", ip, 80, "/cgi-bin/host", times=50)
    assert answers == [f"served-by-{well['metadata']['name']}"] * 50
    k("exec", sick["metadata"]["name"], "--", "sh", "-c", "echo ok > /www/state")
    wait_for(lambda: f"dnat to {sick['status']['podIP']}:80" in table(c.manager), timeout=30,
             what="the Pod back in the table")


def test_node_ports_and_external_ips_from_outside(c: Cluster) -> None:
    k = c.k
    web = running_pods(k, "web", 2) if k.run("get", "deployment", "web", check=False).returncode == 0 else None
    if web is None:
        k("apply", "-f", "-", input=deployment("web", 2, node="kpm"))
        web = running_pods(k, "web", 2)
    names = {p["metadata"]["name"] for p in web}
    k("expose", "deployment", "web", "--name=web-np", "--type=NodePort", "--port=80", "--target-port=http")
    port = node_port(k, "web-np")
    wait_for(lambda: f"tcp . {port} : goto external-" in table(c.manager), timeout=30, what="the NodePort's rules")
    got = {curl(c, f"http://{c.manager.addr}:{port}/cgi-bin/host").removeprefix("served-by-") for _ in range(12)}
    assert got == names
    # masqueraded (Cluster policy): the Pod sees the node's bridge address, not the client's
    assert curl(c, f"http://{c.manager.addr}:{port}/cgi-bin/addr") != f"from-{c.client_addr}"

    # externalTrafficPolicy: Local keeps the client's address, and a node without a ready Pod refuses.
    k("patch", "svc", "web-np", "-p", '{"spec":{"externalTrafficPolicy":"Local"}}')
    wait_for(lambda: "fib saddr type local goto service-" in table(c.manager), timeout=30, what="the Local rules")
    assert curl(c, f"http://{c.manager.addr}:{port}/cgi-bin/addr") == f"from-{c.client_addr}"
    wait_for(lambda: "fib saddr type local goto service-" in table(c.worker), timeout=30,
             what="the Local rules on the worker")
    assert curl(c, f"http://{c.worker.addr}:{port}/", timeout=2) == ""  # dropped: no Pod of it there

    # An external IP, routed by the client to the manager node.
    ext = c.dev.addr(220)
    k("patch", "svc", "web", "-p", f'{{"spec":{{"externalIPs":["{ext}"]}}}}')
    wait_for(lambda: f"{ext} . tcp . 80" in table(c.manager), timeout=30, what="the external IP's rules")
    subprocess.run(["ip", "-n", c.client_ns, "route", "add", f"{ext}/32", "via", c.manager.addr], check=True)
    try:
        assert curl(c, f"http://{ext}/cgi-bin/host").removeprefix("served-by-") in names
    finally:
        subprocess.run(["ip", "-n", c.client_ns, "route", "del", f"{ext}/32"], check=False)
    k("patch", "svc", "web", "--type=json", "-p", '[{"op":"remove","path":"/spec/externalIPs"}]')


def test_node_ports_on_every_node_across_the_pod_network(c: Cluster) -> None:
    """Needs the pod network: the worker node reaches the manager node's Pods."""
    k = c.k
    k("apply", "-f", "-", input=deployment("spread", 2))
    pods = running_pods(k, "spread", 2)
    if not pod_network(pods):
        pytest.skip("the Pods are not on the pod network yet (each node's own bridge)")
    names = {p["metadata"]["name"] for p in pods}
    k("expose", "deployment", "spread", "--type=NodePort", "--port=80", "--target-port=http")
    port = node_port(k, "spread")
    for node in c.nodes.values():
        wait_for(lambda node=node: f"tcp . {port} : goto external-" in table(node), timeout=30,  # type: ignore[misc]
                 what=f"the NodePort's rules on {node.name}")
        got = {curl(c, f"http://{node.addr}:{port}/cgi-bin/host").removeprefix("served-by-") for _ in range(12)}
        assert got == names, node.name


def test_a_load_balancer_from_outside_at_its_pool_address(c: Cluster) -> None:
    """Needs the pool allocator (``status.loadBalancer.ingress``) and, for the Pods' node not being the
    announcing one, the pod network."""
    k = c.k
    if k.run("get", "deployment", "web", check=False).returncode != 0:
        k("apply", "-f", "-", input=deployment("web", 2, node="kpm"))
    web = running_pods(k, "web", 2)
    names = {p["metadata"]["name"] for p in web}
    k("expose", "deployment", "web", "--name=web-lb", "--type=LoadBalancer", "--port=8080", "--target-port=http")

    def external() -> str:
        ingress = k.json("get", "svc", "web-lb").get("status", {}).get("loadBalancer", {}).get("ingress") or []
        return str(ingress[0].get("ip", "")) if ingress else ""
    try:
        addr = wait_for(external, timeout=20, what="an external address")
    except AssertionError:
        pytest.skip("no LoadBalancer address allocation in this build")
    assert addr in c.pool
    announcers = wait_for(lambda: [n for n in c.nodes.values() if f"{addr}/32" in subprocess.run(
        ["ip", "-n", n.netns, "-4", "-o", "addr"], capture_output=True, text=True).stdout], timeout=30,
        what="the address announced")
    assert len(announcers) == 1  # by one node
    if announcers[0] is not c.manager and not pod_network(web):
        pytest.skip("the announcing node reaches the Pods only across the pod network")
    got = {curl(c, f"http://{addr}:8080/cgi-bin/host").removeprefix("served-by-") for _ in range(12)}
    assert got == names


def test_a_load_balancer_without_a_pool_answers_at_the_nodes_addresses(e2e_base: Path) -> None:
    """One node, no pool: the LoadBalancer's addresses are the nodes' own (needs the allocator)."""
    # (beside the module's cluster: a bridge and a subnet of its own)
    dev = DevCluster(e2e_base / "kproxy1", "runc", tag=f"{(os.getpid() + 50000) % 100000:05d}",
                     subnet=130 + (os.getpid() + 50) % 100)  # DevCluster's range, never the module cluster's
    try:
        node = dev.add("kpo")
        node.docker("import", "-c", WEB_CMD, "-", "web:latest", input=rootfs_tar(e2e_base))
        node.docker("swarm", "init", "--advertise-addr", node.addr)
        client_ns, _ = dev.add_client("kpoc")
        k = Kubectl(node, e2e_base / "kproxy1-kubectl", netns=client_ns)
        k("apply", "-f", "-", input=deployment("web", 2))
        web = running_pods(k, "web", 2)
        k("expose", "deployment", "web", "--name=web-lb", "--type=LoadBalancer", "--port=8080",
          "--target-port=http")

        def external() -> list[str]:
            ingress = k.json("get", "svc", "web-lb").get("status", {}).get("loadBalancer", {}).get("ingress") or []
            return [str(i.get("ip", "")) for i in ingress]
        try:
            addrs = wait_for(external, timeout=20, what="an external address")
        except AssertionError:
            pytest.skip("no LoadBalancer address allocation in this build")
        assert addrs == [node.addr]
        wait_for(lambda: f"{node.addr} . tcp . 8080" in table(node), timeout=30, what="the LoadBalancer's rules")
        r = subprocess.run(["nsenter", f"--net=/run/netns/{client_ns}", "curl", "-s", "--max-time", "3",
                            f"http://{node.addr}:8080/cgi-bin/host"], capture_output=True, text=True)
        assert r.stdout.strip().removeprefix("served-by-") in {p["metadata"]["name"] for p in web}
        k.run("delete", "svc", "web-lb", check=False)
        k.run("delete", "deployments,replicasets", "--all", "--cascade=orphan", check=False)
        k.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
    finally:
        dev.leave_all()
        dev.close()


def test_everything_goes_with_the_services(c: Cluster) -> None:
    k = c.k
    had = {s["metadata"]["name"]: s["spec"].get("clusterIP", "") for s in k.json("get", "svc")["items"]
           if s["metadata"]["name"] != "kubernetes"}
    assert had, "the tests before made Services"
    for name in had:
        k("delete", "svc", name)
    for node in c.nodes.values():
        wait_for(lambda node=node: not any(ip and f"{ip} . " in table(node) for ip in had.values())  # type: ignore[misc]
                 and "goto external-" not in table(node), timeout=30, what=f"the rules gone on {node.name}")
        wait_for(lambda node=node: not any(f"{a}/32" in subprocess.run(  # type: ignore[misc]
            ["ip", "-n", node.netns, "-4", "-o", "addr"], capture_output=True, text=True).stdout for a in c.pool),
            timeout=30, what=f"no address announced on {node.name}")
