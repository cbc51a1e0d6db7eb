"""What a task's spec carries, with the real docker CLI on runc.

Healthchecks: a task with ``--health-cmd`` is Starting until its first healthy probe; one that
never gets healthy, and one that turns unhealthy while running, are stopped and fail with Swarm's
message, and the restart policy replaces them; a bad interval is refused with SwarmKit's words.
Templates: ``--hostname``, ``--env`` and ``--mount`` expanded per task on its node; a bad template
refused at create time with Go's error. Named volumes outlive their tasks and show in ``docker
volume``; a memory limit's OOM kill is ``task: non-zero exit (137)``."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ShoalDaemon, leftover_mounts, web_swarm
from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

UNHEALTHY = "dockerexec: unhealthy container"


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    if not shutil.which("runc"):
        pytest.skip("healthchecks run in the container: the runc runtime")
    with web_swarm(e2e_base / "spec", extra=["--node-generic-resource", "gpu=GPU-0", "--node-generic-resource",
                                            "gpu=GPU-1", "--node-generic-resource", "ssd=3"]) as d:
        yield d
    assert not leftover_mounts(e2e_base / "spec"), "mounts left behind"


def tasks(d: ShoalDaemon, service: str) -> list[list[str]]:
    return rows(d.docker("service", "ps", "--no-trunc", service).stdout)


def test_healthy_after_the_first_probe(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "fine", "--health-cmd", "[ -f /www/index.html ]",
                 "--health-interval", "2s", "--stop-grace-period", "1s", "web")
    assert wait_for(lambda: any(r[5].startswith("Starting") for r in tasks(shoal, "fine")), timeout=10,
                    what="Starting while the first probe is due")
    wait_for(lambda: tasks(shoal, "fine")[0][5].startswith("Running"), timeout=15, what="Running once healthy")
    hc = shoal.docker("service", "inspect", "-f", "{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck}}",
                      "fine").stdout
    assert '"Interval":2000000000' in hc
    shoal.docker("service", "rm", "fine")


def test_never_healthy_fails_and_is_replaced(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "sick", "--health-cmd", "false", "--health-interval",
                 "300ms", "--health-retries", "2", "--stop-grace-period", "1s", "web")
    failed = wait_for(lambda: [r for r in tasks(shoal, "sick") if r[5].startswith("Failed")], timeout=30,
                      what="the unhealthy task failed")
    # httpd is the container's PID 1, which ignores SIGTERM: SIGKILL after the grace period, as with Docker.
    assert failed[0][6] == f'"task: non-zero exit (137): {UNHEALTHY}"'
    wait_for(lambda: len(tasks(shoal, "sick")) >= 2, timeout=20, what="a replacement (restart policy)")
    assert "0/1" in shoal.docker("service", "ls", "-f", "name=sick").stdout  # never counted as running
    shoal.docker("service", "rm", "sick")


def test_unhealthy_while_running_fails_and_is_replaced(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "turns", "--health-cmd", "[ ! -e /bad ]",
                 "--health-interval", "300ms", "--health-retries", "2", "--stop-grace-period", "1s",
                 "web", "sh", "-c", "sleep 3; echo x > /bad; exec sleep 1000")
    wait_for(lambda: tasks(shoal, "turns")[0][5].startswith("Running"), timeout=15, what="running while healthy")
    failed = wait_for(lambda: [r for r in tasks(shoal, "turns") if r[5].startswith("Failed")], timeout=30,
                      what="failed once unhealthy")
    assert failed[0][6] == f'"task: non-zero exit (137): {UNHEALTHY}"'
    shoal.docker("service", "rm", "turns")


def test_no_healthcheck_and_swarmkits_validation(shoal: ShoalDaemon) -> None:
    r = shoal.docker("service", "create", "-d", "--name", "bad", "--health-cmd", "true", "--health-timeout",
                     "500us", "web", check=False)
    assert r.returncode != 0 and "Timeout in HealthConfig cannot be less than 1ms" in r.stderr
    shoal.docker("service", "create", "-d", "--name", "off", "--no-healthcheck", "web")
    wait_for(lambda: tasks(shoal, "off")[0][5].startswith("Running"), timeout=15, what="running without a check")
    assert '"Test":["NONE"]' in shoal.docker("service", "inspect", "-f",
                                             "{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck}}", "off").stdout
    shoal.docker("service", "rm", "off")


def test_templates_are_expanded_per_task(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "tmpl", "--replicas", "2", "--hostname",
                 "{{.Node.Hostname}}-{{.Service.Name}}", "--env", "SLOT={{.Task.Slot}}", "--env",
                 "WHO={{.Task.Name}}", "--mount", "type=volume,src=data-{{.Task.Slot}},dst=/data",
                 "--stop-grace-period", "1s", "web")
    wait_for(lambda: "2/2" in shoal.docker("service", "ls", "-f", "name=tmpl").stdout, timeout=20, what="tmpl 2/2")
    hostname = json.loads(shoal.docker("info", "--format", "{{json .Name}}").stdout)
    seen = {}
    for tid in shoal.docker("service", "ps", "-q", "tmpl").stdout.split():
        task = json.loads(shoal.docker("inspect", "--type", "task", tid).stdout)[0]
        pid, slot = task["Status"]["ContainerStatus"]["PID"], task["Slot"]
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        uts = subprocess.run(["nsenter", "-t", str(pid), "-u", "hostname"], capture_output=True,
                             text=True).stdout.strip()
        mounts = open(f"/proc/{pid}/mountinfo").read()
        seen[slot] = (uts, f"SLOT={slot}".encode() in env, f"WHO=tmpl.{slot}.{tid}".encode() in env,
                      f"/volumes/data-{slot}/" in mounts)
    assert seen == {1: (f"{hostname}-tmpl", True, True, True), 2: (f"{hostname}-tmpl", True, True, True)}
    shoal.docker("service", "rm", "tmpl")

    r = shoal.docker("service", "create", "-d", "--name", "badtmpl", "--hostname", "{{.Service.Nam}}", "web",
                     check=False)
    assert r.returncode != 0
    assert 'executing "expansion" at <.Service.Nam>: can\'t evaluate field Nam in type' in r.stderr
    assert "badtmpl" not in shoal.docker("service", "ls").stdout


def test_named_volumes_outlive_tasks_and_docker_volume(shoal: ShoalDaemon) -> None:
    """A named volume is made on first use (with its labels), keeps its data across a task's
    replacement, shows in ``docker volume ls|inspect``, and cannot be removed while mounted."""
    shoal.docker("service", "create", "-d", "--name", "keep", "--mount",
                 "type=volume,src=keepdata,dst=/data,volume-label=owner=keep", "--stop-grace-period", "1s", "web",
                 "sh", "-c", "echo $(cat /data/count 2>/dev/null)x > /data/count; exec sleep 1000")
    wait_for(lambda: "1/1" in shoal.docker("service", "ls", "-f", "name=keep").stdout, timeout=20, what="keep 1/1")
    vol = json.loads(shoal.docker("volume", "inspect", "keepdata").stdout)[0]
    assert vol["Driver"] == "local" and vol["Labels"] == {"owner": "keep"} and vol["Scope"] == "local"
    count = Path(vol["Mountpoint"]) / "count"
    wait_for(lambda: count.exists() and count.read_text() == "x\n", timeout=10, what="the first task wrote")
    shoal.docker("service", "update", "-d", "--force", "keep")  # a new task, the same volume
    wait_for(lambda: count.read_text() == "xx\n", timeout=30, what="the second task saw the first one's data")
    assert "local keepdata" in shoal.docker("volume", "ls", "--format", "{{.Driver}} {{.Name}}").stdout.splitlines()
    r = shoal.docker("volume", "rm", "keepdata", check=False)
    assert r.returncode != 0 and "remove keepdata: volume is in use - [" in r.stderr
    shoal.docker("service", "rm", "keep")
    wait_for(lambda: shoal.docker("volume", "rm", "keepdata", check=False).returncode == 0, timeout=20,
             what="the volume removed once no container mounts it")
    r = shoal.docker("volume", "inspect", "keepdata", check=False)
    assert r.returncode != 0 and "no such volume" in r.stderr
    r = shoal.docker("service", "create", "-d", "--name", "escape", "--mount", "type=volume,src=../x,dst=/x",
                     "web", check=False)
    if r.returncode == 0:  # the CLI passes it on: the node refuses the task
        failed = wait_for(lambda: [t for t in tasks(shoal, "escape") if t[5].startswith("Rejected")], timeout=20,
                          what="the task rejected")
        assert "includes invalid characters for a local volume name" in failed[0][6]
        shoal.docker("service", "rm", "escape")


def test_out_of_memory_kill_shows_as_exit_137(shoal: ShoalDaemon) -> None:
    shoal.docker("service", "create", "-d", "--name", "hog", "--limit-memory", "16M", "--restart-condition", "none",
                 "web", "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1")
    failed = wait_for(lambda: [r for r in tasks(shoal, "hog") if r[5].startswith("Failed")], timeout=30,
                      what="the task killed by the OOM killer")
    assert failed[0][6] == '"task: non-zero exit (137)"'
    shoal.docker("service", "rm", "hog")


def test_generic_resources_reach_the_container(shoal: ShoalDaemon) -> None:
    """What a task is given of the node's generic resources is in its environment, as SwarmKit puts
    it: ``DOCKER_RESOURCE_<KIND>`` with the names of a named kind, the count of a discrete one."""
    d = shoal
    d.docker("service", "create", "-d", "--name", "gres", "--generic-resource", "gpu=1", "--generic-resource",
             "ssd=2", "--stop-grace-period", "1s", "web", "sh", "-c", "env | grep DOCKER_RESOURCE_; sleep 300")
    logs = wait_for(lambda: (o := d.docker("service", "logs", "--raw", "gres").stdout) and "SSD" in o and o,
                    timeout=30, what="the task's environment")
    env = sorted(line.strip() for line in logs.splitlines() if line.strip())
    assert env in (["DOCKER_RESOURCE_GPU=GPU-0", "DOCKER_RESOURCE_SSD=2"],
                   ["DOCKER_RESOURCE_GPU=GPU-1", "DOCKER_RESOURCE_SSD=2"]), env
    d.docker("service", "rm", "gres")
