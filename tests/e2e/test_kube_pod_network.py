"""End to end with the real kubectl against two namespaced runc nodes: the pod network (issue 16 part 1).

Each node has its own block of the pod range (``spec.podCIDR``), a Pod's address is in its node's
block, a Pod on one node reaches a Pod on the other by its address and the server sees the client
Pod's own address (no NAT), a node reaches a Pod on the other node, a machine outside the cluster sees
a Pod's connection come from its node's address (masquerade), and once the nodes left the swarm
neither the pod bridge, the VXLAN device nor their routes are left in the nodes' namespaces."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
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

# The server answers each request with the address it came from (``/cgi-bin/addr`` of the web image:
# ``from-<REMOTE_ADDR>``, which busybox httpd writes as an IPv4-mapped IPv6 address).
SERVER = """apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'exec httpd -f -p 80 -h /www']
"""
# A machine outside the cluster: answers each connection with the address it came from.
PEER_SERVER = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8099)); s.listen(8)
while True:
    c, (ip, _) = s.accept(); c.sendall(ip.encode() + b"\\n"); c.close()
"""
GET = 'printf "GET /cgi-bin/addr HTTP/1.0\\r\\n\\r\\n" | nc -w 5 {ip} 80'


def source(answer: str) -> str:
    """The address in a ``from-...`` answer, plain IPv4."""
    m = re.search(r"from-\[?(?:::ffff:)?([0-9.]+)\]?", answer)
    return m.group(1) if m else ""


def pod_ip(k: Kubectl, name: str) -> str:
    got = k("get", "pod", name, "-o", "jsonpath={.status.phase} {.status.podIP}").split()
    return got[1] if got[:1] == ["Running"] and len(got) == 2 else ""


def in_netns(ns: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", *cmd], capture_output=True, text=True, timeout=30)


def asked(k: Kubectl, client: str, ip: str) -> str:
    """The address the server at ``ip`` saw a request of Pod ``client`` come from ("" if none came)."""
    r = k.run("exec", client, "--", "sh", "-c", GET.format(ip=ip), check=False)
    return source(r.stdout) if r.returncode == 0 else ""


def test_pods_on_two_nodes_reach_each_other_without_nat(e2e_base: Path) -> None:
    with web_pair(e2e_base / "kpod", ("kpm", "kpw")) as (cluster, manager, worker):
        client_ns, client_addr = cluster.add_client("kpc")
        k = Kubectl(manager, e2e_base / "kpod-kubectl", netns=client_ns)
        k.wait_ready()

        def blocks() -> dict[str, str]:
            items = k.json("get", "nodes")["items"]
            return {n["metadata"]["name"]: n["spec"].get("podCIDR", "") for n in items}

        wait_for(lambda: len(blocks()) == 2 and all(blocks().values()), timeout=20)
        got = blocks()
        assert got["kpm"] != got["kpw"]
        for n in k.json("get", "nodes")["items"]:
            assert n["spec"]["podCIDRs"] == [n["spec"]["podCIDR"]]
            assert ipaddress.IPv4Network(n["spec"]["podCIDR"]).subnet_of(ipaddress.IPv4Network("100.64.0.0/16"))

        k.run("apply", "-f", "-", input=SERVER.format(name="server", node="kpw"))  # on the worker
        k.run("apply", "-f", "-", input=SERVER.format(name="client", node="kpm"))  # on the manager
        k.run("apply", "-f", "-", input=SERVER.format(name="near", node="kpw"))  # beside the server
        wait_for(lambda: all(pod_ip(k, p) for p in ("server", "client", "near")), timeout=60)
        server, client, near = (pod_ip(k, p) for p in ("server", "client", "near"))
        assert ipaddress.IPv4Address(server) in ipaddress.IPv4Network(got["kpw"])
        assert ipaddress.IPv4Address(near) in ipaddress.IPv4Network(got["kpw"])
        assert ipaddress.IPv4Address(client) in ipaddress.IPv4Network(got["kpm"])

        # Across the nodes: the server sees the client Pod's own address.
        wait_for(lambda: asked(k, "client", server) != "", timeout=20)
        assert asked(k, "client", server) == client
        # On one node, through the pod bridge: the same.
        assert asked(k, "near", server) == near
        # And back the other way, server to client.
        assert asked(k, "server", client) == server

        # The manager node itself reaches the Pod on the worker (from its VXLAN address, in its block).
        r = in_netns(manager.netns, "curl", "-s", "--max-time", "5", f"http://{server}/cgi-bin/addr")
        assert r.returncode == 0, r.stderr
        assert ipaddress.IPv4Address(source(r.stdout)) in ipaddress.IPv4Network(got["kpm"])

        # Out of the pod range (a machine on the nodes' network): with the node's address.
        outside = subprocess.Popen(["nsenter", f"--net=/run/netns/{client_ns}", sys.executable, "-c", PEER_SERVER])
        try:
            def seen() -> str:
                r = k.run("exec", "client", "--", "sh", "-c", f"nc -w 3 {client_addr} 8099 </dev/null", check=False)
                return r.stdout.strip()

            assert wait_for(seen, timeout=20) == manager.addr
        finally:
            outside.kill()
            outside.wait()

        k.run("delete", "pods", "--all", "--grace-period=1", check=False, timeout=60)
        for node in (worker, manager):
            node.docker("swarm", "leave", "--force")
        for node in (manager, worker):
            links = in_netns(node.netns, "ip", "-o", "link").stdout
            routes = in_netns(node.netns, "ip", "route").stdout
            assert "shp0" not in links and "shpv" not in links, links
            assert "100.64." not in routes, routes
