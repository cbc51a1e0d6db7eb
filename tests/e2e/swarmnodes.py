"""A cluster of shoal daemons in network namespaces of their own, each holding the ``ticker`` image,
and what their ``docker node ls`` / ``docker service ps`` show (shared by the managers' e2e tests)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster, DevNode
from tests.e2e.conftest import make_rootfs
from tests.support import rows

RUNTIME = "runc" if shutil.which("runc") else "process"


@contextmanager
def ticker_cluster(base: Path, names: tuple[str, ...]) -> Iterator[DevCluster]:
    """One daemon per name (not yet in a swarm), each with ``ticker:latest`` imported; left and closed after."""
    if not shutil.which("etcd"):
        pytest.skip("needs etcd (Debian's etcd-server)")
    c = DevCluster(base, RUNTIME)
    try:
        rootfs = make_rootfs(base / "rootfs")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        for n in names:
            c.add(n).docker("import", "-c", 'CMD ["sh","-c","while true; do echo tick; sleep 1; done"]', "-",
                            "ticker:latest", input=tar)
        yield c
    finally:
        c.leave_all()
        c.close()


def nodes(d: DevNode) -> dict[str, list[str]]:
    """``docker node ls`` rows by hostname (the ``*`` of the node asked dropped)."""
    out: dict[str, list[str]] = {}
    for r in rows(d.docker("node", "ls", check=False).stdout):
        r = [c for c in r if c != "*"]
        out[r[1]] = r
    return out


def manager_status(d: DevNode) -> dict[str, str]:
    """Each node's MANAGER STATUS (empty for a worker)."""
    return {name: r[4] if len(r) > 5 else "" for name, r in nodes(d).items()}


def running_on(d: DevNode, service: str) -> dict[str, int]:
    """How many of a service's tasks run on each node."""
    counts: dict[str, int] = {}
    for r in rows(d.docker("service", "ps", "-f", "desired-state=running", service, check=False).stdout):
        if r[5].startswith("Running"):
            counts[r[3]] = counts.get(r[3], 0) + 1
    return counts
