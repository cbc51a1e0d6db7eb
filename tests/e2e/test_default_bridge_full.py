"""A default bridge with no address left, end to end (runc, a node in its own namespace): the tasks
past its last address fail with libnetwork's words in ``docker service ps``, and the slot is tried
again once per restart delay (5 s, Swarm's default), never in a loop."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.api.types import parse_ts
from shoal.devcluster import DevCluster, DevNode
from tests.e2e.conftest import WEB_CMD, rootfs_tar
from tests.support import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POOL = "10.213.241.1/29"  # five addresses for tasks beside the gateway
DELAY = 5.0  # Swarm's default restart delay


@pytest.fixture(scope="module")
def node(e2e_base: Path) -> Iterator[DevNode]:
    if not shutil.which("runc"):
        pytest.skip("the default bridge is the runc runtime's")
    c = DevCluster(e2e_base / "full", "runc")
    try:
        n = c.add("full", env={"SHOAL_BIP": POOL})
        n.docker("import", "-c", WEB_CMD, "-", "web:latest", input=rootfs_tar(e2e_base))
        n.docker("swarm", "init", "--advertise-addr", n.addr)
        yield n
    finally:
        c.leave_all()
        c.close()


def tasks_of(n: DevNode, service: str) -> list[dict[str, Any]]:
    ids = n.docker("service", "ps", "-q", service).stdout.split()
    if not ids:  # none made yet
        return []
    out = n.docker("inspect", "--type", "task", *ids).stdout
    return sorted(json.loads(out), key=lambda t: parse_ts(t["CreatedAt"]))


def test_a_task_past_the_last_address_fails_in_dockers_words_once_per_restart_delay(node: DevNode) -> None:
    n = node
    for i in range(5):
        n.docker("service", "create", "-d", "--no-resolve-image", "--name", f"fill{i}", "web:latest")
    wait_for(lambda: n.docker("service", "ls", "--format", "{{.Replicas}}").stdout.split().count("1/1") == 5,
             timeout=60, what="the five addresses taken")
    n.docker("service", "create", "-d", "--no-resolve-image", "--name", "over", "web:latest")

    # The slot's fourth task (the third replacement): each replacement was made a restart delay after
    # the one before it failed, so they stand at least 5 s apart.
    tasks = wait_for(lambda: len(t := tasks_of(n, "over")) >= 4 and t, timeout=60, what="three replacements")
    made = [parse_ts(t["CreatedAt"]) for t in tasks]
    assert all(t["Slot"] == 1 for t in tasks)
    gaps = [b - a for a, b in itertools.pairwise(made[1:])]
    assert gaps and min(gaps) >= DELAY - 0.1, gaps
    # Within the window they span, no more tasks than one per delay (plus the first).
    assert len(tasks) <= 2 + (made[-1] - made[0]) / DELAY, made

    bridge_id = n.docker("network", "inspect", "bridge", "--format", "{{.Id}}").stdout.strip()
    want = ("starting container failed: no available IPv4 addresses on this network's address pools: "
            f"bridge ({bridge_id})")
    failed = [t for t in tasks if t["Status"]["State"] == "failed"]
    assert failed and all(t["Status"]["Err"] == want for t in failed)
    ps = n.docker("service", "ps", "--no-trunc", "--format", "{{.CurrentState}}|{{.Error}}", "over").stdout
    assert any(line.startswith("Failed") and want in line for line in ps.splitlines()), ps
    # The services that have addresses run on, untouched.
    for i in range(5):
        assert len(n.docker("service", "ps", "-q", f"fill{i}").stdout.split()) == 1
