"""Three shoal managers (etcd), each in a network namespace of its own: two docker clients create a
service of the same name, or services publishing the same port, at the same moment through two
different managers. Exactly one succeeds each round, the other gets Docker's error, and every
manager then lists just the one service. (tests/integration/test_uniqueness_etcd.py races the same
calls in-process, where both requests are sure to reach etcd before either answers.)"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster, DevNode
from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNTIME = "runc" if shutil.which("runc") else "process"
NAMES = ("m1", "m2", "m3")
ROUNDS = 3


@pytest.fixture(scope="module")
def trio(e2e_base: Path) -> Iterator[dict[str, DevNode]]:
    if not shutil.which("etcd"):
        pytest.skip("needs etcd (Debian's etcd-server)")
    c = DevCluster(e2e_base, RUNTIME)
    try:
        for n in NAMES:
            c.add(n)
        m1 = c.nodes["m1"]
        m1.docker("swarm", "init", "--advertise-addr", m1.addr)
        token = m1.docker("swarm", "join-token", "-q", "manager").stdout.strip()
        for n in ("m2", "m3"):
            c.nodes[n].docker("swarm", "join", "--token", token, "--advertise-addr", c.nodes[n].addr, m1.addr)
            # one join at a time: etcd takes one learner at a time
            wait_for(lambda n=n: manager_status(m1).get(n) == "Reachable", timeout=60, what=f"{n} a manager")
        for n in NAMES:
            wait_for(lambda n=n: manager_status(c.nodes[n]) == {"m1": "Leader", "m2": "Reachable", "m3": "Reachable"},
                     timeout=60, what=f"three managers as {n} sees them")
        yield c.nodes
    finally:
        c.leave_all()
        c.close()


def manager_status(d: DevNode) -> dict[str, str]:
    out = {}
    for r in rows(d.docker("node", "ls", check=False).stdout):
        r = [c for c in r if c != "*"]
        out[r[1]] = r[4] if len(r) > 5 else ""
    return out


def race(a: DevNode, b: DevNode, args: tuple[list[str], list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Run both ``docker service create`` at once, one through each manager."""
    out: list[subprocess.CompletedProcess[str] | None] = [None, None]
    barrier = threading.Barrier(2)

    def run(i: int, d: DevNode) -> None:
        barrier.wait()
        out[i] = d.docker("service", "create", "-d", "--no-resolve-image", "--replicas", "0", *args[i], check=False)

    threads = [threading.Thread(target=run, args=(i, d)) for i, d in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(o is not None for o in out)
    return [o for o in out if o is not None]


def listed(d: DevNode, name: str) -> list[str]:
    return [r[1] for r in rows(d.docker("service", "ls", check=False).stdout) if r[1] == name]


def test_same_name_and_same_port_through_two_managers(trio: dict[str, DevNode]) -> None:
    pairs = [(trio["m1"], trio["m2"]), (trio["m2"], trio["m3"]), (trio["m3"], trio["m1"])]
    for r in range(ROUNDS):
        a, b = pairs[r % len(pairs)]
        name = f"dup{r}"
        done = race(a, b, (["--name", name, "busybox"], ["--name", name, "busybox"]))
        assert sorted(p.returncode for p in done) == [0, 1], [(p.returncode, p.stderr) for p in done]
        loser = next(p for p in done if p.returncode)
        assert ("Error response from daemon: rpc error: code = AlreadyExists desc = name conflicts with an existing "
                f"object: service {name} already exists") in loser.stderr
        for d in trio.values():
            wait_for(lambda d=d, name=name: listed(d, name) == [name], timeout=10, what=f"one {name} on {d.name}")

        port = 8080 + r
        done = race(a, b, ([f"--name=p{r}a", "--publish", f"{port}:80", "busybox"],
                           [f"--name=p{r}b", "--publish", f"{port}:80", "busybox"]))
        assert sorted(p.returncode for p in done) == [0, 1], [(p.returncode, p.stderr) for p in done]
        winner = f"p{r}a" if done[0].returncode == 0 else f"p{r}b"
        wid = (done[0] if done[0].returncode == 0 else done[1]).stdout.strip()
        loser = next(p for p in done if p.returncode)
        assert (f"Error response from daemon: rpc error: code = InvalidArgument desc = port '{port}' is already in "
                f"use by service '{winner}' ({wid}) as an ingress port") in loser.stderr
