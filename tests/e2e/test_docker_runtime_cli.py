"""The docker runtime end to end: the real docker CLI 28 against ``shoal daemon --runtime docker``, whose
tasks run as containers of a dockerd of the test's own (``dockerd.py``), seen with the docker SDK.

A replicated service's tasks are containers of that dockerd (Swarm's names and labels), their output
is ``docker service logs``, scaling down removes containers; a healthcheck keeps a task starting until
its first healthy probe and a secret is a file in the container; a task on an overlay network runs in
its network sandbox (a pause container's namespace, wired by shoal), gets its address there, resolves
another service through the embedded DNS and reaches it; and nothing is left in the dockerd when the
service is gone.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import ShoalDaemon, leftover_mounts, make_rootfs, start_daemon, stop_daemon
from tests.e2e.dockerd import DOCKERD, Dockerd, running_dockerd
from tests.support import free_port, rows, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(DOCKERD is None, reason="dockerd is not installed (Debian's docker.io)"),
]


@pytest.fixture(scope="module")
def dockerd(e2e_base: Path) -> Iterator[Dockerd]:
    with running_dockerd() as d:
        yield d


@pytest.fixture(scope="module")
def client(dockerd: Dockerd) -> Iterator[docker.APIClient]:
    c = docker.APIClient(base_url=dockerd.host, version="auto")
    yield c
    c.close()


@pytest.fixture(scope="module")
def shoal(e2e_base: Path, dockerd: Dockerd, client: docker.APIClient) -> Iterator[ShoalDaemon]:
    d = start_daemon(e2e_base / "dk", "docker", ["--docker-host", dockerd.host])
    try:
        tar = subprocess.run(["tar", "-C", str(make_rootfs(e2e_base / "dk-rootfs")), "-c", "."],
                             capture_output=True, check=True).stdout
        d.docker("import", "-", "busy:latest", input=tar)
        d.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
        yield d
        # Every service removed: nothing of shoal's is left in the dockerd.
        wait_for(lambda: not containers(client, all=True), timeout=30, what="no containers left in the dockerd")
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
        print(d.log.read_text()[-3000:])
    assert not leftover_mounts(e2e_base / "dk"), "mounts left behind"


def containers(client: docker.APIClient, service: str = "", all: bool = False) -> list[dict[str, Any]]:
    labels = ["io.shoal.task.id"] + ([f"com.docker.swarm.service.name={service}"] if service else [])
    return list(client.containers(all=all, filters={"label": labels}))


def tasks(d: ShoalDaemon, service: str) -> list[list[str]]:
    return rows(d.docker("service", "ps", "--no-trunc", service).stdout)


def test_replicas_are_containers_of_the_dockerd(shoal: ShoalDaemon, client: docker.APIClient) -> None:
    shoal.docker("service", "create", "-d", "--name", "web", "--replicas", "2", "--stop-grace-period", "1s",
                 "busy:latest", "sh", "-c", "echo hello-from-$HOSTNAME; exec sleep 1000")
    wait_for(lambda: sum(r[5].startswith("Running") for r in tasks(shoal, "web")) == 2, timeout=60,
             what="2 tasks running")
    running = containers(client, "web")
    assert len(running) == 2
    ids = {r[0] for r in tasks(shoal, "web")}
    names = sorted(c["Names"][0].lstrip("/") for c in running)
    assert [n.rsplit(".", 1)[0] for n in names] == ["web.1", "web.2"]
    assert {n.rsplit(".", 1)[1] for n in names} == ids
    assert {c["Labels"]["com.docker.swarm.task.id"] for c in running} == ids
    # The image came from shoal's store into the dockerd.
    assert client.inspect_image("busy:latest")["Id"]
    hosts = {c["Labels"]["com.docker.swarm.task.id"][:12] for c in running}
    logs = wait_for(lambda: [ln for ln in shoal.docker("service", "logs", "--raw", "web").stdout.splitlines()
                             if ln.startswith("hello-from-")], timeout=15, what="both tasks' lines in the logs")
    assert {ln.removeprefix("hello-from-") for ln in logs} == hosts
    shoal.docker("service", "scale", "-d", "web=1")
    wait_for(lambda: len(containers(client, "web", all=True)) == 1, timeout=30, what="one container left")
    shoal.docker("service", "rm", "web")
    wait_for(lambda: not containers(client, "web", all=True), timeout=30, what="the service's containers removed")


def test_healthcheck_and_secret(shoal: ShoalDaemon, client: docker.APIClient) -> None:
    shoal.docker("secret", "create", "pw", "-", input=b"hunter2")
    shoal.docker("service", "create", "-d", "--name", "db", "--secret", "source=pw,mode=0400",
                 "--health-cmd", "[ -f /run/secrets/pw ]", "--health-interval", "1s", "--stop-grace-period", "1s",
                 "busy:latest", "sleep", "1000")
    wait_for(lambda: any(r[5].startswith("Starting") for r in tasks(shoal, "db")), timeout=30,
             what="starting until the first probe")
    wait_for(lambda: tasks(shoal, "db")[0][5].startswith("Running"), timeout=30, what="running once healthy")
    (c,) = containers(client, "db")
    exec_id = client.exec_create(c["Id"], ["sh", "-c", "cat /run/secrets/pw; ls -l /run/secrets/pw"])["Id"]
    text = client.exec_start(exec_id).decode()
    assert text.startswith("hunter2-r--------"), text
    shoal.docker("service", "rm", "db")
    wait_for(lambda: not containers(client, "db", all=True), timeout=30, what="db's container removed")
    shoal.docker("secret", "rm", "pw")


def task_address(d: ShoalDaemon, service: str) -> str:
    tid = d.docker("service", "ps", "-q", "-f", "desired-state=running", service).stdout.split()[0]
    return d.docker("inspect", "--type", "task", "--format",
                    "{{range .NetworksAttachments}}{{index .Addresses 0}}{{end}}", tid).stdout.strip()


def test_a_task_on_an_overlay_network_resolves_and_reaches_another_service(shoal: ShoalDaemon,
                                                                           client: docker.APIClient) -> None:
    """The docker runtime runs tasks on networks (it refused them before the node's network sandboxes):
    the task's container is in its pause container's namespace, has its overlay address on eth0,
    resolves another service's name through the embedded DNS (127.0.0.11) and connects to it."""
    shoal.docker("network", "create", "-d", "overlay", "front")
    shoal.docker("service", "create", "-d", "--name", "www", "--network", "front", "--stop-grace-period", "1s",
                 "busy:latest", "httpd", "-f", "-p", "80", "-h", "/www")
    wait_for(lambda: tasks(shoal, "www") and tasks(shoal, "www")[0][5].startswith("Running"), timeout=60,
             what="www running")
    shoal.docker("service", "create", "-d", "--name", "probe", "--network", "front", "--stop-grace-period", "1s",
                 "busy:latest", "sh", "-c",
                 "ip -o -4 addr show eth0; cat /etc/resolv.conf; nslookup www; "
                 "while true; do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 www 80; sleep 0.5; done")
    logs = wait_for(lambda: (o := shoal.docker("service", "logs", "probe").stdout) and "hello from shoal" in o and o,
                    timeout=60, what="probe fetched the page from www by its name")
    addr = task_address(shoal, "probe")
    subnet = json.loads(shoal.docker("network", "inspect", "front").stdout)[0]["IPAM"]["Config"][0]["Subnet"]
    assert ipaddress.ip_interface(addr).ip in ipaddress.ip_network(subnet), (addr, subnet)
    assert f"inet {addr}" in logs and "eth0" in logs, logs  # its overlay address, inside the container
    assert "nameserver 127.0.0.11" in logs, logs
    vip = shoal.docker("service", "inspect", "www", "--format",
                       "{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}").stdout.strip().split("/")[0]
    assert f"Address: {vip}" in logs, logs  # www → its VIP, from the embedded DNS
    (task_container,) = containers(client, "probe")
    mode = client.inspect_container(task_container["Id"])["HostConfig"]["NetworkMode"]
    pause = client.inspect_container(mode.removeprefix("container:"))
    assert pause["Config"]["Labels"]["io.shoal.sandbox"] == tasks(shoal, "probe")[0][0]
    shoal.docker("service", "rm", "probe", "www")
    wait_for(lambda: not client.containers(all=True, filters={"label": "io.shoal.sandbox"}), timeout=30,
             what="the pause containers removed with their tasks")
    shoal.docker("network", "rm", "front")


def test_after_a_crash_the_daemon_removes_its_old_containers(e2e_base: Path, dockerd: Dockerd,
                                                             client: docker.APIClient) -> None:
    """kill -9: the containers stay in the dockerd; the restarted daemon removes them and the swarm
    replaces the tasks. A daemon's cleanup never touches another daemon's containers."""
    d = start_daemon(e2e_base / "dk-crash", "docker", ["--docker-host", dockerd.host])
    owner = {"label": [f"io.shoal.daemon={d.data_root.resolve()}"]}
    task = {"label": [*owner["label"], "io.shoal.task.id"]}  # not the pause container that holds its network
    try:
        tar = subprocess.run(["tar", "-C", str(make_rootfs(e2e_base / "dk-crash-rootfs")), "-c", "."],
                             capture_output=True, check=True).stdout
        d.docker("import", "-", "busy:latest", input=tar)
        d.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
        d.docker("service", "create", "-d", "--name", "survivor", "busy:latest", "sleep", "1000")
        (before,) = wait_for(lambda: client.containers(filters=task), timeout=60, what="the task's container")
        d.kill()
        assert [c["Id"] for c in client.containers(filters=task)] == [before["Id"]]  # dockerd keeps it
        d.start()
        wait_for(lambda: [c["Id"] for c in client.containers(all=True, filters=task)] not in ([], [before["Id"]]),
                 timeout=60, what="the old container removed and a new one started")
        assert not client.containers(all=True, filters={"id": before["Id"]})
        d.docker("service", "rm", "survivor")
        wait_for(lambda: not client.containers(all=True, filters=owner), timeout=30, what="no containers left")
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
    assert not client.containers(all=True, filters=owner)
    assert not leftover_mounts(e2e_base / "dk-crash"), "mounts left behind"
