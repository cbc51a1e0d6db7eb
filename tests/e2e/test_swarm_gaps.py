"""Gaps the Swarm course found, with the real docker CLI against shoal daemons in network namespaces of
their own: ``--advertise-addr`` given an interface name (and other names refused in Docker's words),
``docker stack ps`` of a deployed stack, and a swarm leave that takes every device of the routing mesh
with it, whatever was left, so that the next ``swarm init`` on the daemon starts clean."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster, DevNode
from tests.e2e.conftest import WEB_CMD, rootfs_tar
from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BAD_ADVERTISE = ("advertise address must be a non-zero IP address or network interface "
                 "(with optional port number)")
BAD_DATA_PATH = "data path address must be a non-zero IP address or network interface (without a port number)"
COMPOSE = """\
version: "3.8"
services:
  web:
    image: web:latest
    ports:
      - "8080:80"
    deploy:
      replicas: 2
"""


@pytest.fixture(scope="module")
def pair(e2e_base: Path) -> Iterator[tuple[DevCluster, DevNode, DevNode]]:
    if not shutil.which("runc"):
        pytest.skip("needs runc")
    c = DevCluster(e2e_base, "runc")
    try:
        a, b = c.add("ga"), c.add("gb")
        a.docker("import", "-c", WEB_CMD, "-", "web:latest", input=rootfs_tar(e2e_base))
        yield c, a, b
    finally:
        c.leave_all()
        c.close()


def links(d: DevNode) -> list[str]:
    """The names of the links in the node's namespace."""
    out = subprocess.run(["ip", "-n", d.netns, "-o", "link"], capture_output=True, text=True, check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def nft_tables(d: DevNode) -> list[str]:
    out = subprocess.run(["ip", "netns", "exec", d.netns, "nft", "list", "tables"], capture_output=True,
                         text=True).stdout
    return [line.strip() for line in out.splitlines() if "shoal" in line]


def test_advertise_addr_takes_an_interface_name(pair: tuple[DevCluster, DevNode, DevNode]) -> None:
    _, a, b = pair
    for bad in ("node01", "node01:2377", "0.0.0.0"):
        r = a.docker("swarm", "init", "--advertise-addr", bad, check=False)
        assert r.returncode != 0 and BAD_ADVERTISE in r.stderr, r.stderr
    r = a.docker("swarm", "init", "--advertise-addr", "eth0", "--data-path-addr", "node01", check=False)
    assert r.returncode != 0 and BAD_DATA_PATH in r.stderr, r.stderr
    assert a.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "inactive"
    # eth0 is the namespace's interface: its address, with the swarm port, in the join command.
    out = a.docker("swarm", "init", "--advertise-addr", "eth0").stdout
    assert re.search(rf"docker swarm join --token SWMTKN-1-\S+ {re.escape(a.addr)}:2377", out), out
    assert a.docker("info", "--format", "{{.Swarm.NodeAddr}}").stdout.strip() == a.addr
    assert f"{a.addr}:2377" in a.docker("swarm", "join-token", "worker").stdout
    token = a.docker("swarm", "join-token", "-q", "worker").stdout.strip()
    assert "This node joined a swarm as a worker." in b.docker(
        "swarm", "join", "--token", token, "--advertise-addr", "eth0:2377", "--data-path-addr", "eth0",
        f"{a.addr}:2377").stdout
    wait_for(lambda: any(r[1] == "gb" and r[2] == "Ready" for r in rows(a.docker("node", "ls").stdout)),
             what="gb ready")
    assert a.docker("node", "inspect", "gb", "--format", "{{.Status.Addr}}").stdout.strip() == b.addr
    b.docker("swarm", "leave")
    a.docker("node", "rm", "--force", "gb")


def test_stack_ps_and_a_leave_that_leaves_nothing(pair: tuple[DevCluster, DevNode, DevNode], e2e_base: Path
                                                  ) -> None:
    _, a, _ = pair
    if a.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() != "active":
        a.docker("swarm", "init", "--advertise-addr", "eth0")
    compose = e2e_base / "stack.yml"
    compose.write_text(COMPOSE)
    for cycle in range(2):
        a.docker("stack", "deploy", "-c", str(compose), "app")
        # `docker stack ps` lists the stack's tasks (the CLI filters on the service's stack label).
        wait_for(lambda: sum(r[4] == "Running" for r in rows(a.docker("stack", "ps", "app", check=False).stdout)) == 2,
                 timeout=60, what="the stack's two tasks running")
        names = sorted(r[1] for r in rows(a.docker("stack", "ps", "app").stdout))
        assert names == ["app_web.1", "app_web.2"], names
        assert "nothing found in stack: other" in a.docker("stack", "ps", "other", check=False).stderr
        assert any(n.startswith("shi-") for n in links(a)), links(a)  # the routing mesh is here
        a.docker("swarm", "leave", "--force")
        # Nothing of the swarm's networks is left in the node's namespace.
        assert sorted(links(a)) == ["eth0", "lo"], links(a)
        assert nft_tables(a) == []
        if cycle == 0:
            a.docker("swarm", "init", "--advertise-addr", "eth0")
