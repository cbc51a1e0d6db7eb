"""Swarm networks with the real docker CLI on one node: create, ls and inspect with Swarm's subnet
allocation, tasks get their own address on the network's bridge and reach each other without NAT,
a network in use cannot be removed, and removing everything leaves no bridge behind."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevNode
from tests.e2e.conftest import web_swarm
from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def node(e2e_base: Path) -> Iterator[DevNode]:
    if not shutil.which("runc"):
        pytest.skip("task networks need the runc runtime")
    with web_swarm(e2e_base / "net") as d:
        yield d


def bridges() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    return [line.split(":")[1].strip() for line in out.splitlines() if ": shb-" in line]


def new_bridges(before: set[str]) -> list[str]:
    """The host's ``shb-*`` bridges that were not there when the test began: other daemons on the host
    (other tests' or an earlier module's) keep theirs, and ``shb-default`` is the default bridge's."""
    return sorted(set(bridges()) - before - {"shb-default"})


def task_address(d: DevNode, service: str) -> str:
    tid = d.docker("service", "ps", "-q", "-f", "desired-state=running", service).stdout.split()[0]
    out = d.docker("inspect", "--type", "task", "--format",
                   "{{range .NetworksAttachments}}{{index .Addresses 0}}{{end}}", tid).stdout.strip()
    return out.split("/")[0]


def test_tasks_on_a_network_reach_each_other(node: DevNode) -> None:
    d = node
    before = set(bridges())
    nid = d.docker("network", "create", "-d", "overlay", "front").stdout.strip()
    d.docker("network", "create", "-d", "overlay", "--subnet", "10.213.50.0/24", "--gateway", "10.213.50.254",
             "back")
    ls = {r[1]: r for r in rows(d.docker("network", "ls").stdout)}
    assert ls["front"][2:] == ["overlay", "swarm"] and ls["front"][0] == nid[:12]
    front = json.loads(d.docker("network", "inspect", "front").stdout)[0]
    # The next /24 of the default pool: the ingress network made at `swarm init` has 10.0.0.0/24.
    assert front["IPAM"]["Config"] == [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}]
    assert ls["ingress"][2:] == ["overlay", "swarm"]
    back = json.loads(d.docker("network", "inspect", "back").stdout)[0]
    assert back["IPAM"]["Config"] == [{"Subnet": "10.213.50.0/24", "Gateway": "10.213.50.254"}]
    assert back["Options"]["com.docker.network.driver.overlay.vxlanid_list"] != \
        front["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
    dup = d.docker("network", "create", "-d", "overlay", "front", check=False)
    assert "network with name front already exists" in dup.stderr

    d.docker("service", "create", "-d", "--name", "web", "--network", "front", "--stop-grace-period", "1s", "web")
    wait_for(lambda: "1/1" in d.docker("service", "ls").stdout, what="web running")
    ip = task_address(d, "web")
    assert ip == "10.0.1.3"  # after the gateway (.1) and the service's VIP (.2), as in Swarm
    d.docker("service", "create", "-d", "--name", "client", "--network", "front", "--stop-grace-period", "1s",
             "web", "sh", "-c",
             f'while true; do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 {ip} 80; sleep 1; done')
    wait_for(lambda: "hello from shoal" in d.docker("service", "logs", "client").stdout, timeout=30,
             what="client fetched the page from web's address")
    assert task_address(d, "client") not in ("", ip)
    assert new_bridges(before) == [f"shb-{nid[:11]}"]

    # The embedded DNS server (127.0.0.11 in each task) answers the names of the task's networks:
    # a service's VIP, tasks.<service> its tasks (dnsrr: the tasks for both), each also as
    # <name>.<network>; the VIP balances over every running task.
    d.docker("service", "scale", "-d", "web=2")
    d.docker("service", "create", "-d", "--name", "db", "--network", "front", "--endpoint-mode", "dnsrr",
             "--stop-grace-period", "1s", "web")
    wait_for(lambda: "2/2" in d.docker("service", "ls", "-f", "name=web").stdout
             and "1/1" in d.docker("service", "ls", "-f", "name=db").stdout, what="web 2/2 and db 1/1")
    vip = d.docker("service", "inspect", "web", "--format",
                   "{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}").stdout.strip().split("/")[0]
    assert vip.startswith("10.0.1.") and vip != ip
    assert d.docker("service", "inspect", "db", "--format", "{{json .Endpoint.VirtualIPs}}").stdout.strip() \
        == "null"
    d.docker("service", "create", "-d", "--name", "dns", "--network", "front", "--stop-grace-period", "1s",
             "web", "sh", "-c", "while true; do nslookup web; nslookup tasks.web; nslookup client; nslookup db.front; "
             "nslookup elsewhere; printf 'GET /cgi-bin/host HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 80; "
             "sleep 0.3; done")
    tasks = set(d.docker("service", "ps", "-q", "-f", "desired-state=running", "web").stdout.split())
    logs = wait_for(lambda: (o := d.docker("service", "logs", "dns").stdout)
                    and all(f"served-by-{t[:12]}" in o for t in tasks) and o,
                    timeout=40, what="both web tasks answered through the VIP")
    assert f"Address: {vip}" in logs and f"Address: {ip}" in logs  # web → VIP; tasks.web → the tasks
    client_vip = d.docker("service", "inspect", "client", "--format",
                          "{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}").stdout.strip().split("/")[0]
    assert f"Address: {client_vip}" in logs
    assert f"Address: {task_address(d, 'db')}" in logs  # <service>.<network>, as Docker's resolver
    assert "can't find elsewhere" in logs or "NXDOMAIN" in logs

    # --network-add: a rolling update gives the tasks an address on the other network too.
    d.docker("service", "update", "-d", "--network-add", "back", "db")
    wait_for(lambda: any(a.startswith("10.213.50.") for a in d.docker(
        "inspect", "--type", "task", "--format", "{{range .NetworksAttachments}}{{index .Addresses 0}} {{end}}",
        *d.docker("service", "ps", "-q", "-f", "desired-state=running", "db").stdout.split()).stdout.split()),
        timeout=30, what="db on the back network after --network-add")
    refused = d.docker("network", "rm", "front", check=False)
    assert refused.returncode != 0 and f"network {nid} is in use by service" in refused.stderr
    d.docker("service", "rm", "web", "client", "dns", "db")
    wait_for(lambda: not new_bridges(before), timeout=30, what="the bridge removed with the last task")
    d.docker("network", "rm", "front", "back")
    # Left: the swarm's ingress and the node's local networks (Docker's bridge, host and none).
    assert [r[1] for r in rows(d.docker("network", "ls").stdout)] == ["bridge", "host", "ingress", "none"]
