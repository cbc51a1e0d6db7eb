"""The real docker CLI 28 against ``shoal daemon`` on runc: the single-node swarm sequence of the
course text, asserting on what the CLI prints (columns, states, counts, Swarm's error text)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ShoalDaemon, leftover_mounts, make_rootfs, start_daemon, stop_daemon
from tests.support import free_port, rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNTIME = "runc" if shutil.which("runc") else "process"


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    d = start_daemon(e2e_base, RUNTIME)
    try:
        rootfs = make_rootfs(e2e_base / "rootfs")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        d.docker("import", "-c", 'CMD ["httpd","-f","-p","80","-h","/www"]', "-", "nginx:latest", input=tar)
        d.docker("import", "-c", 'CMD ["sh","-c","echo started; while true; do echo tick; sleep 1; done"]',
                 "-", "ticker:latest", input=tar)
        yield d
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
        print(d.log.read_text()[-3000:])
    assert not leftover_mounts(e2e_base / "data"), "mounts left behind"


def replicas(d: ShoalDaemon, name: str) -> str:
    for r in rows(d.docker("service", "ls").stdout):
        if r[1] == name:
            return r[3]
    return ""


def node_id(d: ShoalDaemon) -> str:
    return json.loads(d.docker("info", "--format", "{{json .Swarm.NodeID}}").stdout)


def test_images(shoal: ShoalDaemon) -> None:
    out = shoal.docker("images").stdout
    assert out.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    names = {(r[0], r[1]) for r in rows(out)}
    assert ("nginx", "latest") in names and ("ticker", "latest") in names
    inspect = json.loads(shoal.docker("image", "inspect", "nginx").stdout)[0]
    assert inspect["Config"]["Cmd"] == ["httpd", "-f", "-p", "80", "-h", "/www"]


def test_image_save_load_tag_rmi(shoal: ShoalDaemon, e2e_base: Path) -> None:
    shoal.docker("tag", "nginx:latest", "web:v1")
    archive = str(e2e_base / "images.tar")
    shoal.docker("save", "-o", archive, "web:v1")
    out = shoal.docker("rmi", "web:v1").stdout
    assert out.strip() == "Untagged: web:v1"  # nginx:latest still names the image
    assert "Loaded image: web:v1" in shoal.docker("load", "-i", archive).stdout
    ids = {r[0] + ":" + r[1]: r[2] for r in rows(shoal.docker("images").stdout)}
    assert ids["web:v1"] == ids["nginx:latest"]
    shoal.docker("rmi", "web:v1")
    r = shoal.docker("rmi", "nosuch", check=False)
    assert r.returncode != 0 and "No such image: nosuch:latest" in r.stderr


def test_swarm_init_and_join_token(shoal: ShoalDaemon) -> None:
    r = shoal.docker("service", "ls", check=False)
    assert r.returncode != 0
    assert 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join"' in r.stderr
    port = free_port()
    out = shoal.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{port}").stdout
    assert re.search(r"Swarm initialized: current node \([0-9a-z]{25}\) is now a manager\.", out)
    assert re.search(rf"docker swarm join --token SWMTKN-1-[0-9a-z]{{50}}-[0-9a-z]{{25}} 127\.0\.0\.1:{port}", out)
    again = shoal.docker("swarm", "init", check=False)
    assert "This node is already part of a swarm." in again.stderr
    out = shoal.docker("swarm", "join-token", "worker").stdout
    assert "To add a worker to this swarm, run the following command:" in out
    nodes = rows(shoal.docker("node", "ls").stdout)
    assert len(nodes) == 1
    assert nodes[0][0].endswith(" *") and nodes[0][2:5] == ["Ready", "Active", "Leader"]


def test_service_create_attached_converges(shoal: ShoalDaemon) -> None:
    r = shoal.docker("service", "create", "--name", "webserver", "--replicas", "1", "nginx", timeout=90)
    assert "verify: Service" in r.stdout and "converged" in r.stdout
    assert replicas(shoal, "webserver") == "1/1"
    ps = rows(shoal.docker("service", "ps", "webserver").stdout)
    assert ps[0][1] == "webserver.1" and ps[0][4] == "Running" and ps[0][5].startswith("Running")
    containers = rows(shoal.docker("ps").stdout)
    assert len(containers) == 1 and containers[0][1] == "nginx:latest" and containers[0][4].startswith("Up ")
    task_id = shoal.docker("service", "ps", "-q", "--no-trunc", "webserver").stdout.strip()
    assert containers[0][6] == f"webserver.1.{task_id}"


def test_task_really_runs_in_its_own_namespaces(shoal: ShoalDaemon) -> None:
    task_id = shoal.docker("service", "ps", "-q", "webserver").stdout.split()[0]
    task = json.loads(shoal.docker("inspect", "--type", "task", task_id).stdout)[0]
    pid = task["Status"]["ContainerStatus"]["PID"]
    assert pid > 0
    if RUNTIME == "runc":
        for ns in ("pid", "mnt", "net", "uts", "ipc"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
        page = subprocess.run(
            ["nsenter", "-t", str(pid), "-n", "sh", "-c",
             "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc 127.0.0.1 80"],
            capture_output=True, text=True, timeout=10,
        ).stdout
        assert "hello from shoal" in page


def test_missing_image_is_rejected(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "ghost", "nosuch:1.0")
    ps = wait_for(lambda: [r for r in rows(shoal.docker("service", "ps", "--no-trunc", "ghost").stdout)
                           if r[5].startswith("Rejected")], what="rejected task")
    assert ps[0][6] == '"No such image: nosuch:1.0"'
    time.sleep(1.5)  # the restart delay (5 s) holds the next attempt: no tight loop of rejections
    assert len(rows(shoal.docker("service", "ps", "ghost").stdout)) <= 2
    shoal.docker("service", "rm", "ghost")


def test_mounts_docker_refuses_are_refused(shoal: ShoalDaemon) -> None:
    """Duplicate targets in SwarmKit's words; a relative bind source in the words dockerd's executor
    rejects the tasks with (shoal refuses the service at once). Nothing is created."""
    dup = shoal.docker("service", "create", "-d", "--name", "dupm", "--mount", "type=tmpfs,target=/x",
                       "--mount", "type=volume,source=v,target=/x", "nginx", check=False)
    assert dup.returncode != 0
    assert ("Error response from daemon: rpc error: code = InvalidArgument desc = "
            "ContainerSpec: duplicate mount point: /x") in dup.stderr
    rel = shoal.docker("service", "create", "-d", "--name", "relm", "--mount", "type=bind,source=rel/dir,target=/x",
                       "nginx", check=False)
    assert rel.returncode != 0
    assert "Error response from daemon: invalid bind mount source, must be an absolute path: rel/dir" in rel.stderr
    names = [r[1] for r in rows(shoal.docker("service", "ls").stdout)]
    assert "dupm" not in names and "relm" not in names


def test_a_tmpfs_over_root_and_an_api_version_out_of_range_are_refused(shoal: ShoalDaemon) -> None:
    """dockerd's words for a mount over the container's root (its executor would reject every task with
    them; shoal refuses the service), and its version middleware's for a client that asks for too new
    an API (issue 18)."""
    root = shoal.docker("service", "create", "-d", "--name", "rootm", "--mount", "type=tmpfs,target=/", "nginx",
                        check=False)
    assert root.returncode != 0
    assert ("Error response from daemon: invalid mount config for type \"tmpfs\": invalid specification: "
            "destination can't be '/'") in root.stderr
    assert "rootm" not in [r[1] for r in rows(shoal.docker("service", "ls").stdout)]
    env = {**os.environ, "DOCKER_API_VERSION": "1.99"}
    new = subprocess.run(["docker", "-H", shoal.host, "info"], capture_output=True, text=True, env=env)
    assert "client version 1.99 is too new. Maximum supported API version is 1.47" in new.stdout + new.stderr


def test_scale_and_update_replicas(shoal: ShoalDaemon) -> None:
    assert "webserver scaled to 5" in shoal.docker("service", "scale", "-d", "webserver=5").stdout
    wait_for(lambda: replicas(shoal, "webserver") == "5/5", what="5/5")
    shoal.docker("service", "update", "-d", "--replicas", "3", "webserver")
    wait_for(lambda: replicas(shoal, "webserver") == "3/3", what="3/3")
    running = rows(shoal.docker("service", "ps", "-f", "desired-state=running", "webserver").stdout)
    assert sorted(r[1] for r in running) == ["webserver.1", "webserver.2", "webserver.3"]


def test_global_service(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--mode", "global", "--name", "g", "nginx")
    wait_for(lambda: replicas(shoal, "g") == "1/1", what="global 1/1")
    ps = rows(shoal.docker("service", "ps", "g").stdout)
    assert ps[0][1].startswith("g.") and ps[0][1][2:] == node_id(shoal)


def test_constraints_pending_then_label(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "demotroubleshoot", "--replicas", "3",
                 "--constraint", "node.labels.pci==true", "nginx")

    def pending() -> list[list[str]]:
        ps = rows(shoal.docker("service", "ps", "--no-trunc", "demotroubleshoot").stdout)
        return ps if len(ps) == 3 and all("no suitable node" in r[6] for r in ps) else []

    ps = wait_for(pending, what="pending tasks with an explanation")
    for r in ps:
        assert r[3] == "" and r[4] == "Running" and r[5].startswith("Pending")
        assert r[6] == '"no suitable node (scheduling constraints not satisfied on 1 node)"'
    short = rows(shoal.docker("service", "ps", "demotroubleshoot").stdout)
    assert short[0][6] == '"no suitable node (scheduling …"'
    shoal.docker("node", "update", "--label-add", "pci=true", node_id(shoal))
    wait_for(lambda: replicas(shoal, "demotroubleshoot") == "3/3", what="constrained tasks running")


def test_insufficient_resources(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "big", "--reserve-memory", "1000G", "nginx")
    ps = wait_for(lambda: [r for r in rows(shoal.docker("service", "ps", "--no-trunc", "big").stdout)
                           if r[6] == '"no suitable node (insufficient resources on 1 node)"'],
                  what="resources explanation")
    assert ps[0][5].startswith("Pending")
    shoal.docker("service", "rm", "big")


def test_drain_and_activate(shoal: ShoalDaemon) -> None:
    nid = node_id(shoal)
    shoal.docker("node", "update", "--availability", "drain", nid)
    wait_for(lambda: replicas(shoal, "webserver") == "0/3", what="drained")
    node = rows(shoal.docker("node", "ls").stdout)[0]
    assert node[3] == "Drain"
    wait_for(lambda: "no suitable node (1 node not available for new tasks)"
             in shoal.docker("service", "ps", "--no-trunc", "webserver").stdout, what="drain explanation")
    shoal.docker("node", "update", "--availability", "active", nid)
    wait_for(lambda: replicas(shoal, "webserver") == "3/3", what="active again")


def test_logs_inspect_and_rm(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "ticker", "--replicas", "2", "ticker")
    wait_for(lambda: replicas(shoal, "ticker") == "2/2", what="ticker")
    out = wait_for(lambda: (o := shoal.docker("service", "logs", "ticker").stdout).count("tick") >= 2 and o,
                   what="ticks in logs")
    assert re.search(r"^ticker\.1\.[0-9a-z]{12}@\S+\s+\| (started|tick)$", out, re.M)
    assert re.search(r"^ticker\.2\.[0-9a-z]{12}@\S+\s+\| (started|tick)$", out, re.M)
    ts = shoal.docker("service", "logs", "-t", "--tail", "1", "ticker").stdout
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ticker\.", ts, re.M)
    pretty = shoal.docker("service", "inspect", "--pretty", "webserver").stdout
    assert "Name:\t\twebserver" in pretty and "Replicas:\t3" in pretty and "Image:\t\tnginx:latest" in pretty
    shoal.docker("service", "rm", "ticker", "webserver")
    assert not any(r[1] in ("webserver", "ticker") for r in rows(shoal.docker("service", "ls").stdout))
    r = shoal.docker("service", "rm", "webserver", check=False)
    assert "service webserver not found" in r.stderr


def test_restart_keeps_services_and_converges(shoal: ShoalDaemon, e2e_base: Path) -> None:
    before = {r[1]: r[3] for r in rows(shoal.docker("service", "ls").stdout)}
    stop_daemon(shoal)
    fresh = start_daemon(e2e_base, RUNTIME)
    shoal.proc = fresh.proc
    assert {r[1] for r in rows(shoal.docker("service", "ls").stdout)} == set(before)
    for name, rep in before.items():
        wait_for(lambda name=name, rep=rep: replicas(shoal, name) == rep, timeout=40, what=f"{name} back at {rep}")


def test_leave(shoal: ShoalDaemon) -> None:
    r = shoal.docker("swarm", "leave", check=False)
    assert "You are attempting to leave the swarm on a node that is participating as a manager." in r.stderr
    assert "Node left the swarm." in shoal.docker("swarm", "leave", "--force").stdout
    assert "This node is not a swarm manager" in shoal.docker("node", "ls", check=False).stderr
