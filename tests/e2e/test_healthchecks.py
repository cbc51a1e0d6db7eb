"""Healthchecks with the real docker CLI on runc: a task with ``--health-cmd`` is Starting until its
first healthy probe; one that never gets healthy, and one that turns unhealthy while running, are
stopped and fail with Swarm's message, and the restart policy replaces them; a bad interval is
refused with SwarmKit's words."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ShoalDaemon, leftover_mounts, make_rootfs, start_daemon, stop_daemon
from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

UNHEALTHY = "dockerexec: unhealthy container"


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    if not shutil.which("runc"):
        pytest.skip("healthchecks run in the container: the runc runtime")
    d = start_daemon(e2e_base / "health", "runc")
    try:
        tar = subprocess.run(["tar", "-C", str(make_rootfs(e2e_base / "health-rootfs")), "-c", "."],
                             capture_output=True, check=True).stdout
        d.docker("import", "-c", 'CMD ["httpd","-f","-p","80","-h","/www"]', "-", "web:latest", input=tar)
        d.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        yield d
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
    assert not leftover_mounts(e2e_base / "health"), "mounts left behind"


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
