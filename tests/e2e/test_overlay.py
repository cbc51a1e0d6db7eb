"""An overlay network across two nodes (each a daemon in a network namespace of its own on a
bridge): a task on one node fetches a page from a task on the other at its overlay address, through
the kernel's VXLAN, without NAT, and by the service's name (the embedded DNS gives its VIP, which
nftables in the client's namespace sends to the task); each node's VXLAN floods to exactly the other
node."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster, DevNode
from tests.e2e.conftest import web_pair
from tests.support import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def pair(e2e_base: Path) -> Iterator[tuple[DevCluster, DevNode, DevNode]]:
    if not shutil.which("runc"):
        pytest.skip("overlay networks need the runc runtime")
    with web_pair(e2e_base, ("ov-a", "ov-b")) as p:
        yield p


def fdb_flood(d: DevNode, network_id: str) -> set[str]:
    out = subprocess.run(["ip", "netns", "exec", d.netns, "bridge", "fdb", "show", "dev", f"shx-{network_id[:11]}"],
                         capture_output=True, text=True).stdout
    return {line.split(" dst ")[1].split()[0] for line in out.splitlines()
            if line.startswith("00:00:00:00:00:00") and " dst " in line}


def test_task_reaches_a_task_on_another_node(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    _, a, b = pair
    nid = a.docker("network", "create", "-d", "overlay", "--subnet", "10.213.60.0/24", "ov").stdout.strip()
    a.docker("service", "create", "-d", "--name", "web", "--network", "ov", "--constraint", "node.hostname==ov-b",
             "--stop-grace-period", "1s", "web")
    wait_for(lambda: "1/1" in a.docker("service", "ls").stdout, timeout=30, what="web running on ov-b")
    tid = a.docker("service", "ps", "-q", "web").stdout.split()[0]
    ip = a.docker("inspect", "--type", "task", "--format",
                  "{{range .NetworksAttachments}}{{index .Addresses 0}}{{end}}", tid).stdout.strip().split("/")[0]
    assert ip == "10.213.60.3"  # .1 the gateway, .2 the VIP
    a.docker("service", "create", "-d", "--name", "client", "--network", "ov", "--constraint",
             "node.hostname==ov-a", "--stop-grace-period", "1s", "web", "sh", "-c",
             f'while true; do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 {ip} 80; '
             'printf "GET /cgi-bin/host HTTP/1.0\\r\\n\\r\\n" | nc -w 2 web 80; sleep 1; done')
    logs = wait_for(lambda: (o := a.docker("service", "logs", "client").stdout) and "hello from shoal" in o
                    and f"served-by-{tid[:12]}" in o, timeout=40,
                    what="the client on ov-a fetched pages from web on ov-b, by address and by name (VIP)")
    assert logs
    wait_for(lambda: fdb_flood(a, nid) == {b.addr} and fdb_flood(b, nid) == {a.addr}, timeout=10,
             what="each VXLAN floods to the other node")
    a.docker("service", "rm", "web", "client")
    a.docker("network", "rm", "ov")


def test_routing_mesh(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    """-p 8080:80 opens the port on every node; a client outside the swarm reaches the task (on
    ov-b) through either node; delivered on the task's own node, the client's address is kept."""
    c, a, b = pair
    a.docker("service", "create", "-d", "--name", "pub", "-p", "8080:80", "--constraint", "node.hostname==ov-b",
             "--stop-grace-period", "1s", "web")
    wait_for(lambda: "1/1" in a.docker("service", "ls", "-f", "name=pub").stdout, timeout=30, what="pub running")
    assert "*:8080->80/tcp" in a.docker("service", "ls", "-f", "name=pub").stdout
    ns, client_ip = c.add_client("outside")

    def fetch(node: DevNode) -> str:
        r = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "3",
                            f"http://{node.addr}:8080/cgi-bin/addr"], capture_output=True, text=True)
        return r.stdout.strip().replace("[::ffff:", "").replace("]", "")  # httpd shows IPv4 mapped

    assert wait_for(lambda: fetch(b) == f"from-{client_ip}", timeout=20, what="the mesh on ov-b (local task)")
    via_a = wait_for(lambda: fetch(a).startswith("from-10.0.0.") and fetch(a), timeout=20,
                     what="the mesh on ov-a (the task is on ov-b)")
    raw = subprocess.run(["curl", "-s", "--unix-socket", a.sock, "http://x/nodes/ov-a"], capture_output=True,
                         text=True).stdout  # the docker CLI does not show SwarmKit's node attachments
    ingress_a = json.loads(raw)["Attachments"][0]["Addresses"][0].split("/")[0]
    assert via_a == f"from-{ingress_a}"  # forwarded to another node: the node's ingress address
    a.docker("service", "rm", "pub")
    wait_for(lambda: not fetch(a) and not fetch(b), timeout=20, what="the port closed with the service")

    # mode=host: only the node that runs the task publishes the port, and the client's address stays.
    a.docker("service", "create", "-d", "--name", "onnode", "--publish", "mode=host,published=8080,target=80",
             "--constraint", "node.hostname==ov-a", "--stop-grace-period", "1s", "web")
    wait_for(lambda: "1/1" in a.docker("service", "ls", "-f", "name=onnode").stdout, timeout=30, what="onnode")
    assert "*:8080->80/tcp" not in a.docker("service", "ls", "-f", "name=onnode").stdout
    assert wait_for(lambda: fetch(a) == f"from-{client_ip}", timeout=20, what="host-mode port on ov-a")
    assert fetch(b) == ""  # not published on the other node
    a.docker("service", "rm", "onnode")


UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5300))
while True:
    data, addr = s.recvfrom(512)
    s.sendto(data + b" from " + addr[0].encode(), addr)
"""

UDP_ASK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(10):
    s.sendto(b"ping", (sys.argv[1], 5300))
    try:
        print(s.recvfrom(512)[0].decode())
        break
    except OSError:
        pass
"""


def test_udp_through_a_vip_and_the_routing_mesh(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    """UDP, like TCP: a task reaches a UDP service on another node through its VIP, and a client
    outside the swarm through the published port on either node. The datagrams are answered by a
    small echo server run inside the service task's own network namespace."""
    c, a, b = pair
    a.docker("network", "create", "-d", "overlay", "--subnet", "10.213.63.0/24", "ov-udp")
    a.docker("service", "create", "-d", "--name", "udp", "--network", "ov-udp", "-p", "5300:5300/udp",
             "--constraint", "node.hostname==ov-b", "--stop-grace-period", "1s", "web")
    a.docker("service", "create", "-d", "--name", "ucli", "--network", "ov-udp", "--constraint",
             "node.hostname==ov-a", "--stop-grace-period", "1s", "web")
    wait_for(lambda: a.docker("service", "ls", "--format", "{{.Name}} {{.Replicas}}", "-f", "name=u").stdout.split()
             == ["ucli", "1/1", "udp", "1/1"], timeout=30, what="udp and ucli running")

    def netns(d: DevNode, service: str) -> str:
        return str(d.exec_root / "netns" / a.docker("service", "ps", "-q", service).stdout.split()[0])

    vip = a.docker("service", "inspect", "udp", "--format", '{{range .Endpoint.VirtualIPs}}{{if eq .NetworkID "'
                   + a.docker("network", "inspect", "-f", "{{.Id}}", "ov-udp").stdout.strip()
                   + '"}}{{.Addr}}{{end}}{{end}}').stdout.strip().split("/")[0]
    echo = subprocess.Popen(["nsenter", f"--net={netns(b, 'udp')}", sys.executable, "-c", UDP_ECHO])
    try:
        def ask(ns_args: list[str], host: str) -> str:
            r = subprocess.run([*ns_args, sys.executable, "-c", UDP_ASK, host], capture_output=True, text=True)
            return r.stdout.strip()

        client_ns, client_ip = c.add_client("udp-outside")
        assert wait_for(lambda: ask(["nsenter", f"--net={netns(a, 'ucli')}"], vip).startswith("ping from 10.213.63."),
                        timeout=20, what="UDP through the VIP, across nodes")
        outside = ["ip", "netns", "exec", client_ns]
        assert wait_for(lambda: ask(outside, b.addr) == f"ping from {client_ip}", timeout=20,
                        what="UDP through the mesh on the task's node")
        assert wait_for(lambda: ask(outside, a.addr).startswith("ping from 10.0.0."), timeout=20,
                        what="UDP through the mesh on the other node")
    finally:
        echo.kill()
        echo.wait()
    a.docker("service", "rm", "udp", "ucli")
    a.docker("network", "rm", "ov-udp")


WORLD = """
import socket, sys, threading
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

me = sys.argv[1]
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dns.bind(("0.0.0.0", 53))
web = socket.socket()
web.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
web.bind(("0.0.0.0", 8000))
web.listen(16)


dns_tcp = socket.socket()
dns_tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
dns_tcp.bind(("0.0.0.0", 53))
dns_tcp.listen(16)


def reply(data):
    q = DNSRecord.parse(data)
    r = q.reply()
    if str(q.q.qname).rstrip(".") != "outside.test":
        r.header.rcode = RCODE.NXDOMAIN
    elif q.q.qtype == QTYPE.A:
        r.add_answer(RR(q.q.qname, QTYPE.A, rdata=A(me), ttl=5))
    return r.pack()


def answer():
    while True:
        data, addr = dns.recvfrom(512)
        dns.sendto(reply(data), addr)


def answer_tcp():
    while True:
        conn, _ = dns_tcp.accept()
        size = int.from_bytes(conn.recv(2), "big")
        data = reply(conn.recv(size))
        conn.sendall(len(data).to_bytes(2, "big") + data)
        conn.close()


threading.Thread(target=answer, daemon=True).start()
threading.Thread(target=answer_tcp, daemon=True).start()
print("ready", flush=True)
while True:
    conn, (peer, _) = web.accept()
    conn.sendall(f"from-{peer}\\n".encode())
    conn.close()
"""


TCP_ASK = """
import socket, sys
from dnslib import DNSRecord

q = DNSRecord.question(sys.argv[1]).pack()
s = socket.create_connection(("127.0.0.11", 53), timeout=10)
s.sendall(len(q).to_bytes(2, "big") + q)
size = int.from_bytes(s.recv(2), "big")
data = b""
while len(data) < size:
    data += s.recv(size - len(data))
print(" ".join(str(rr.rdata) for rr in DNSRecord.parse(data).rr))
"""


def test_tasks_reach_outside_the_swarm(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    """A task on an overlay asks the embedded DNS for a name outside the swarm, which forwards it to
    the service's --dns server (over UDP, and over TCP when asked over TCP); the task then connects
    to that address, and its connection leaves the node masqueraded as the node. A network made
    --internal gets no way out. A task without networks does the same from the node's default bridge."""
    c, a, _ = pair
    ns, world_ip = c.add_client("world")
    world = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", WORLD, world_ip],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert world.stdout is not None and world.stdout.readline().strip() == "ready"
        a.docker("network", "create", "-d", "overlay", "--subnet", "10.213.66.0/24", "ov-out")
        a.docker("network", "create", "-d", "overlay", "--internal", "--subnet", "10.213.68.0/24", "ov-in")
        a.docker("service", "create", "-d", "--name", "out", "--network", "ov-out", "--network", "ov-in",
                 "--dns", world_ip, "--constraint", "node.hostname==ov-a", "--stop-grace-period", "1s", "web",
                 "sh", "-c", "while true; do nslookup outside.test; printf x | nc -w 2 outside.test 8000; "
                 "nslookup web-none.test; sleep 1; done")
        seen: list[str] = [""]

        def reached() -> str:
            seen[0] = a.docker("service", "logs", "out").stdout + a.docker("service", "ps", "--no-trunc", "out").stdout
            return seen[0] if f"from-{a.addr}" in seen[0] else ""

        try:
            logs = wait_for(reached, timeout=40, what="the task resolved outside.test and reached it, as ov-a")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{seen[0][-3000:]}") from None
        assert world_ip in logs and "outside.test" in logs
        assert "can't find web-none.test" in logs or "NXDOMAIN" in logs  # the server's NXDOMAIN, relayed
        out = subprocess.run(["ip", "netns", "exec", a.netns, "nft", "list", "set", "ip", "shoal_egress", "out"],
                             capture_output=True, text=True).stdout
        assert "10.213.66." in out and "10.213.68." not in out  # --internal: no way out
        tid = a.docker("service", "ps", "-q", "out").stdout.split()[0]
        resolv = (a.data_root / "containers" / tid / "resolv.conf").read_text()
        assert resolv.splitlines()[0] == "nameserver 127.0.0.11"  # --dns is the embedded server's to ask
        over_tcp = subprocess.run(["nsenter", f"--net={a.exec_root / 'netns' / tid}", sys.executable, "-c",
                                   TCP_ASK, "outside.test"], capture_output=True, text=True, timeout=20)
        assert over_tcp.stdout.split() == [world_ip], over_tcp.stderr  # over TCP, forwarded over TCP
        a.docker("service", "rm", "out")

        # Without networks, as the first service of Docker's swarm tutorial: the default bridge.
        a.docker("service", "create", "-d", "--name", "alone", "--dns", world_ip, "--constraint",
                 "node.hostname==ov-a", "--stop-grace-period", "1s", "web", "sh", "-c",
                 "while true; do printf x | nc -w 2 outside.test 8000; sleep 1; done")
        wait_for(lambda: f"from-{a.addr}" in a.docker("service", "logs", "alone").stdout, timeout=40,
                 what="a task without networks resolved outside.test and reached it, as ov-a")
        a.docker("service", "rm", "alone")
        wait_for(lambda: subprocess.run(["ip", "netns", "exec", a.netns, "nft", "list", "table", "ip",
                                         "shoal_egress"], capture_output=True).returncode != 0,
                 timeout=20, what="the egress table gone with the last task")
        wait_for(lambda: "shb-default" not in subprocess.run(["ip", "-n", a.netns, "-o", "link"], capture_output=True,
                                                              text=True).stdout,
                 timeout=20, what="the default bridge gone with its last task")
        a.docker("network", "rm", "ov-out", "ov-in")
    finally:
        world.kill()
        world.wait()


def test_networks_stay_apart_on_a_node(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    """The node forwards (for the way out), yet a task cannot reach another network's task through
    its gateway, as in Docker; a task on both networks reaches it (bridged, not routed), and so does
    a connection from the other network to a port the service publishes (the routing mesh)."""
    _, a, _ = pair
    a.docker("network", "create", "-d", "overlay", "--subnet", "10.213.70.0/24", "iso-a")
    a.docker("network", "create", "-d", "overlay", "--subnet", "10.213.71.0/24", "iso-b")
    a.docker("service", "create", "-d", "--name", "iso-web", "--network", "iso-b", "--constraint",
             "node.hostname==ov-a", "--stop-grace-period", "1s", "web")
    wait_for(lambda: "1/1" in a.docker("service", "ls", "-f", "name=iso-web").stdout, timeout=30, what="iso-web")
    tid = a.docker("service", "ps", "-q", "iso-web").stdout.split()[0]
    ip = a.docker("inspect", "--type", "task", "--format",
                  "{{range .NetworksAttachments}}{{index .Addresses 0}}{{end}}", tid).stdout.strip().split("/")[0]
    probe = (f'while true; do if printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 {ip} 80 | grep -q hello; '
             "then echo REACHED; else echo BLOCKED; fi; sleep 1; done")
    for name, nets in (("iso-other", ["iso-a"]), ("iso-both", ["iso-a", "iso-b"]), ("iso-plain", [])):
        a.docker("service", "create", "-d", "--name", name, *[f"--network={n}" for n in nets], "--constraint",
                 "node.hostname==ov-a", "--stop-grace-period", "1s", "web", "sh", "-c", probe)

    def said(name: str) -> set[str]:
        return set(a.docker("service", "logs", "--raw", name).stdout.split())

    wait_for(lambda: "REACHED" in said("iso-both"), timeout=40, what="a task on both networks reaches iso-web")
    wait_for(lambda: len(a.docker("service", "logs", "--raw", "iso-other").stdout.split()) >= 3
             and len(a.docker("service", "logs", "--raw", "iso-plain").stdout.split()) >= 3,
             timeout=40, what="three tries from the other network and from the default bridge")
    assert said("iso-other") == {"BLOCKED"} and said("iso-plain") == {"BLOCKED"}
    a.docker("service", "rm", "iso-web", "iso-other", "iso-both", "iso-plain")
    a.docker("network", "rm", "iso-a", "iso-b")


def scrape(node: DevNode) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of a node's /metrics (its daemon's default --ui-addr, 127.0.0.1:9090 in its
    namespace), parsed with prometheus_client's parser: (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    r = subprocess.run(["ip", "netns", "exec", node.netns, "curl", "-sf", "--max-time", "3",
                        "http://127.0.0.1:9090/metrics"], capture_output=True, text=True)
    if r.returncode != 0:
        return {}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(r.stdout) for s in fam.samples}


def console(node: DevNode, path: str) -> str:
    """A GET of the node's console (its default --ui-addr, in its namespace): the body when 200,
    else "<code> <body>"."""
    out = subprocess.run(["ip", "netns", "exec", node.netns, "curl", "-s", "--max-time", "3", "-w",
                          "\n%{http_code}", f"http://127.0.0.1:9090{path}"], capture_output=True, text=True,
                         check=True).stdout
    body, _, code = out.rpartition("\n")
    return body if code == "200" else f"{code} {body}"


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_on_every_node(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    """Every real daemon serves /metrics by default: the manager the cluster's state and its API's
    requests, each node its containers and the bytes its overlay's VXLAN device carried."""
    _, a, b = pair
    nid = a.docker("network", "create", "-d", "overlay", "--subnet", "10.213.61.0/24", "ovm").stdout.strip()
    before = total(scrape(a), "shoal_docker_api_requests_total", route="/services/create", code="201")
    a.docker("service", "create", "-d", "--name", "mweb", "--network", "ovm", "--constraint",
             "node.hostname==ov-b", "--stop-grace-period", "1s", "web")
    a.docker("service", "create", "-d", "--name", "mclient", "--network", "ovm", "--constraint",
             "node.hostname==ov-a", "--stop-grace-period", "1s", "web", "sh", "-c",
             'while true; do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 mweb 80; sleep 0.5; done')
    wait_for(lambda: "hello from shoal" in a.docker("service", "logs", "mclient").stdout, timeout=40,
             what="the client on ov-a fetched a page from ov-b over the overlay")
    b_id = b.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    dev = f"shx-{nid[:11]}"

    m = wait_for(lambda: (s := scrape(a)) and total(s, "shoal_tasks", state="running", node=b_id) >= 1 and s,
                 timeout=20, what="the manager's /metrics counts the task running on ov-b")
    assert total(m, "shoal_nodes") == 2 and total(m, "shoal_services") >= 2
    assert total(m, "shoal_docker_api_requests_total", route="/services/create", code="201") >= before + 2
    assert total(m, "shoal_scheduler_decisions_total", result="placed") >= 2
    rx = "shoal_network_tunnel_receive_bytes_total"
    w = wait_for(lambda: (s := scrape(b)) and total(s, rx, device=dev) > 0 and s, timeout=20,
                 what="ov-b's /metrics shows bytes received on the overlay's VXLAN device")
    assert total(w, "shoal_runtime_containers_running") >= 1
    assert total(w, "shoal_runtime_container_start_duration_seconds_count") >= 1
    assert total(w, "shoal_network_tunnel_transmit_bytes_total", device=dev) > 0
    assert not any(n == "shoal_tasks" for n, _ in w)  # a worker has no cluster state to show
    # The console beside /metrics: the manager's counts, and a worker's 503 with the reason.
    summary = json.loads(console(a, "/api/summary"))
    assert summary["Nodes"] == 2 and summary["TasksByState"].get("running", 0) >= 2
    assert console(b, "/api/summary").startswith("503 ")
    a.docker("service", "rm", "mweb", "mclient")
    a.docker("network", "rm", "ovm")
