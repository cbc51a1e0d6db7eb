"""An encrypted overlay (``--opt encrypted``) across two nodes (daemons in network namespaces of their
own on a bridge): tasks on different nodes talk, a packet capture on the wire between the nodes
finds only the sealed tunnel's UDP (port 4790) and never the page the tasks exchange (while the same
capture over a plain overlay does find it), the managers' keys rotate under a live TCP connection
that loses nothing, and nothing is left on the nodes after the services and networks go."""

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

ROTATION = 4.0  # seconds between key rotations in this cluster (Swarm's is 12 hours)

# Runs in a node's namespace: every frame on its eth0 (both ways) for a while; prints what it saw.
SNIFF = r"""
import json, socket, sys, time
marker, seconds = sys.argv[1].encode(), float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
s.settimeout(0.2)
seen = {"frames": 0, "marker": 0, "udp_ports": {}, "spis": [], "vnis": []}
spis, vnis = set(), set()
print("ready", flush=True)
end = time.time() + seconds
while time.time() < end:
    try:
        f = s.recv(65535)
    except OSError:
        continue
    seen["frames"] += 1
    seen["marker"] += marker in f
    if f[12:14] == b"\x08\x00" and f[23] == 17:  # IPv4, UDP
        u = 14 + (f[14] & 15) * 4
        port = int.from_bytes(f[u + 2:u + 4], "big")
        seen["udp_ports"][str(port)] = seen["udp_ports"].get(str(port), 0) + 1
        if port == 4790:  # the sealed tunnel: its key ID
            spis.add(int.from_bytes(f[u + 12:u + 16], "big"))
        if port == 4789:  # plain VXLAN: its network
            vnis.add(int.from_bytes(f[u + 12:u + 15], "big"))
seen["spis"], seen["vnis"] = sorted(spis), sorted(vnis)
print(json.dumps(seen), flush=True)
"""

# Runs in a task's namespace: a TCP echo server.
ECHO = r"""
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7000))
s.listen()
def serve(c):
    while (data := c.recv(65536)):
        c.sendall(data)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"""

# Runs in another task's namespace: one connection, a numbered message every 0.1 s, each echo checked.
TALK = r"""
import socket, sys, time
c = socket.create_connection((sys.argv[1], 7000), timeout=5)
end, n = time.time() + float(sys.argv[2]), 0
f = c.makefile("rb")
while time.time() < end:
    n += 1
    line = f"message {n} ".encode() + b"x" * 1000 + b"\n"
    c.sendall(line)
    assert f.readline() == line, n
    time.sleep(0.1)
print(n, flush=True)
"""


@pytest.fixture(scope="module")
def pair(e2e_base: Path) -> Iterator[tuple[DevCluster, DevNode, DevNode]]:
    if not shutil.which("runc"):
        pytest.skip("overlay networks need the runc runtime")
    with web_pair(e2e_base, ("enc-a", "enc-b"), env={"SHOAL_NETWORK_KEY_ROTATION": str(ROTATION)}) as p:
        yield p


def task_netns(d: DevNode, manager: DevNode, service: str) -> str:
    return str(d.exec_root / "netns" / manager.docker("service", "ps", "-q", service).stdout.split()[0])


def task_ip(manager: DevNode, service: str) -> str:
    tid = manager.docker("service", "ps", "-q", service).stdout.split()[0]
    return manager.docker("inspect", "--type", "task", "--format",
                          "{{range .NetworksAttachments}}{{index .Addresses 0}}{{end}}",
                          tid).stdout.strip().split("/")[0]


def vni(manager: DevNode, net: str) -> int:
    return int(manager.docker("network", "inspect", "-f",
                              '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}', net).stdout)


def fetch(netns: str, ip: str) -> str:
    r = subprocess.run(["nsenter", f"--net={netns}", "curl", "-s", "--max-time", "3", f"http://{ip}/"],
                       capture_output=True, text=True)
    return r.stdout


class Sniffer:
    """A capture on a node's wire to the other nodes, while the test makes traffic."""

    def __init__(self, node: DevNode, marker: str, seconds: float) -> None:
        self.proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{node.netns}", sys.executable, "-c", SNIFF,
                                      marker, str(seconds)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def result(self) -> dict[str, object]:
        out, _ = self.proc.communicate(timeout=60)
        return dict(json.loads(out))


def start_pair(a: DevNode, net: str) -> None:
    """A web task on enc-b and a client task on enc-a, both on ``net``."""
    for name, node in ((f"{net}-web", "enc-b"), (f"{net}-cli", "enc-a")):
        a.docker("service", "create", "-d", "--name", name, "--network", net, "--constraint",
                 f"node.hostname=={node}", "--stop-grace-period", "1s", "web")
    wait_for(lambda: a.docker("service", "ls", "--format", "{{.Replicas}}", "-f", f"name={net}-").stdout.split()
             == ["1/1", "1/1"], timeout=40, what=f"both tasks on {net} running")


def test_only_ciphertext_crosses_between_nodes(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    _, a, b = pair
    a.docker("network", "create", "-d", "overlay", "--opt", "encrypted", "--subnet", "10.213.70.0/24", "sealed")
    a.docker("network", "create", "-d", "overlay", "--subnet", "10.213.71.0/24", "plain")
    assert "encrypted" in a.docker("network", "inspect", "-f", "{{json .Options}}", "sealed").stdout
    for net in ("sealed", "plain"):
        start_pair(a, net)
    cli_sealed, web_sealed = task_netns(a, a, "sealed-cli"), task_ip(a, "sealed-web")
    cli_plain, web_plain = task_netns(a, a, "plain-cli"), task_ip(a, "plain-web")
    assert wait_for(lambda: fetch(cli_sealed, web_sealed) == "hello from shoal\n", timeout=20,
                    what="the client on enc-a fetched the page from enc-b over the encrypted overlay")
    link = subprocess.run(["nsenter", f"--net={cli_sealed}", "ip", "-o", "link", "show", "eth0"],
                          capture_output=True, text=True).stdout
    assert " mtu 1366 " in link

    sniff = Sniffer(a, "hello from shoal", 3.0)
    for _ in range(5):
        assert fetch(cli_sealed, web_sealed) == "hello from shoal\n"
    sealed = sniff.result()
    assert sealed["marker"] == 0, sealed  # the page never crossed in clear
    ports = dict(sealed["udp_ports"])  # type: ignore[call-overload]
    assert ports.get("4790", 0) >= 10, sealed  # it crossed sealed …
    assert vni(a, "sealed") not in sealed["vnis"], sealed  # … and never as plain VXLAN

    sniff = Sniffer(a, "hello from shoal", 3.0)  # the control: the same capture sees a plain overlay's page
    for _ in range(5):
        assert wait_for(lambda: fetch(cli_plain, web_plain), timeout=10, what="the page over the plain overlay")
    plain = sniff.result()
    assert plain["marker"] >= 5, plain
    assert dict(plain["udp_ports"]).get("4789", 0) >= 10, plain  # type: ignore[call-overload]
    assert vni(a, "plain") in plain["vnis"], plain  # type: ignore[operator]

    # The keys only go to nodes with tasks on an encrypted network: without them, no tunnel.
    a.docker("service", "rm", "sealed-web", "sealed-cli")
    for d in (a, b):
        wait_for(lambda d=d: subprocess.run(["ip", "-n", d.netns, "link", "show", "shs0"],  # type: ignore[misc]
                                            capture_output=True).returncode != 0,
                 timeout=20, what=f"the tunnel gone from {d.name}")
    a.docker("service", "rm", "plain-web", "plain-cli")
    a.docker("network", "rm", "sealed", "plain")
    for d in (a, b):
        wait_for(lambda d=d: not [line for line in subprocess.run(  # type: ignore[misc]
            ["ip", "-n", d.netns, "-o", "link"], capture_output=True, text=True).stdout.splitlines()
            if ": shb-" in line or ": shx-" in line or ": sv" in line], timeout=20, what=f"no links left on {d.name}")


def test_keys_rotate_under_a_live_connection(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    """Three rotations (every 4 s in this cluster) during one TCP connection: every message comes
    back, and the capture shows the sender's key changing."""
    _, a, b = pair
    a.docker("network", "create", "-d", "overlay", "--opt", "encrypted", "--subnet", "10.213.72.0/24", "rot")
    start_pair(a, "rot")
    server = subprocess.Popen(["nsenter", f"--net={task_netns(b, a, 'rot-web')}", sys.executable, "-c", ECHO])
    try:
        cli, ip = task_netns(a, a, "rot-cli"), task_ip(a, "rot-web")
        seconds = 3 * ROTATION + 2
        sniff = Sniffer(a, "message", seconds + 2)
        talk = subprocess.run(["nsenter", f"--net={cli}", sys.executable, "-c", TALK, ip, str(seconds)],
                              capture_output=True, text=True, timeout=seconds + 30)
        seen = sniff.result()
    finally:
        server.kill()
        server.wait()
    assert talk.returncode == 0, talk.stderr  # no message lost or garbled, the connection never broke
    assert int(talk.stdout) >= 50
    assert seen["marker"] == 0, seen
    assert len(seen["spis"]) >= 3, seen  # type: ignore[arg-type]  # the key in use changed (twice at least)
    a.docker("service", "rm", "rot-web", "rot-cli")
    a.docker("network", "rm", "rot")
