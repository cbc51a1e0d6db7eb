"""Two shoal daemons on one machine form a swarm through the real docker CLI: a worker joins with a
token over mutual TLS, tasks spread over both, a worker that dies is marked Down and its tasks run
again on the manager, and it comes back, leaves and is removed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster, DevNode
from tests.e2e.conftest import make_rootfs
from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNTIME = "runc" if shutil.which("runc") else "process"


@pytest.fixture(scope="module")
def pair(e2e_base: Path) -> Iterator[tuple[DevNode, DevNode]]:
    c = DevCluster(e2e_base, RUNTIME)  # each node in a network namespace of its own, on one bridge
    try:
        a, b = c.add("node-a"), c.add("node-b")
        rootfs = make_rootfs(e2e_base / "rootfs")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        for d in (a, b):
            d.docker("import", "-c", 'CMD ["sh","-c","while true; do echo tick; sleep 1; done"]', "-",
                     "ticker:latest", input=tar)
        yield a, b
    finally:
        c.leave_all()
        c.close()


def nodes(d: DevNode) -> dict[str, list[str]]:
    return {r[1]: r for r in rows(d.docker("node", "ls").stdout)}


def placement(d: DevNode, service: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows(d.docker("service", "ps", "-f", "desired-state=running", service).stdout):
        if r[5].startswith("Running"):
            counts[r[3]] = counts.get(r[3], 0) + 1
    return counts


def test_join_spread_fail_over_and_leave(pair: tuple[DevNode, DevNode], e2e_base: Path) -> None:
    a, b = pair
    manager = f"{a.addr}:2377"
    a.docker("swarm", "init", "--advertise-addr", a.addr,
             "--dispatcher-heartbeat", "1s")
    bad = b.docker("swarm", "join", "--token", "SWMTKN-1-nope", manager, check=False)
    assert "invalid join token" in bad.stderr
    worker_token = a.docker("swarm", "join-token", "-q", "worker").stdout.strip()
    wrong = worker_token[:-25] + "0" * 25
    refused = b.docker("swarm", "join", "--token", wrong, manager, check=False)
    assert "A valid join token is necessary to join this cluster" in refused.stderr
    out = b.docker("swarm", "join", "--token", worker_token, manager).stdout
    assert "This node joined a swarm as a worker." in out
    wait_for(lambda: nodes(a).get("node-b", [""] * 3)[2] == "Ready", what="node-b ready")
    ls = nodes(a)
    assert ls["node-a"][4] == "Leader" and ls["node-b"][4] == ""
    refused = b.docker("node", "ls", check=False)
    assert "Worker nodes can't be used to view or modify cluster state." in refused.stderr

    a.docker("service", "create", "-d", "--name", "web", "--replicas", "4", "ticker")
    wait_for(lambda: placement(a, "web") == {"node-a": 2, "node-b": 2}, what="2 tasks on each node")
    assert len(rows(b.docker("ps").stdout)) == 2  # the worker really runs its two

    # service logs on the manager include the worker's tasks, read by the worker's agent.
    out = wait_for(lambda: (o := a.docker("service", "logs", "web").stdout).count("@node-b") >= 2 and o,
                   what="logs from node-b")
    assert re.search(r"^web\.\d\.[0-9a-z]{12}@node-b\s+\| tick$", out, re.M)
    assert re.search(r"^web\.\d\.[0-9a-z]{12}@node-a\s+\| tick$", out, re.M)
    follow = subprocess.Popen(["docker", "service", "logs", "-f", "--tail", "0", "web"], stdout=subprocess.PIPE,
                              text=True, env=a.env())
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 15
        assert follow.stdout is not None
        while time.monotonic() < deadline and seen != {"node-a", "node-b"}:
            line = follow.stdout.readline()
            if "@node-" in line:
                seen.add(line.split("@", 1)[1].split()[0])
        assert seen == {"node-a", "node-b"}
    finally:
        follow.kill()
        follow.wait()

    # The worker's daemon dies: it is marked Down, its tasks run again on the manager.
    b.kill()
    wait_for(lambda: nodes(a)["node-b"][2] == "Down", timeout=20, what="node-b down")
    wait_for(lambda: placement(a, "web") == {"node-a": 4}, timeout=30, what="all 4 on node-a")
    svc = {r[1]: r[3] for r in rows(a.docker("service", "ls").stdout)}
    assert svc["web"] == "4/4"

    # It comes back (what the crash left is cleaned up), then leaves; the manager removes it.
    b.start()
    wait_for(lambda: nodes(a)["node-b"][2] == "Ready", timeout=20, what="node-b back")
    assert json.loads(b.docker("info", "--format", "{{json .Swarm.LocalNodeState}}").stdout) == "active"
    assert "Node left the swarm." in b.docker("swarm", "leave").stdout
    wait_for(lambda: nodes(a)["node-b"][2] == "Down", timeout=20, what="node-b down after leaving")
    a.docker("node", "rm", "node-b")
    assert set(nodes(a)) == {"node-a"}
    a.docker("service", "rm", "web")
