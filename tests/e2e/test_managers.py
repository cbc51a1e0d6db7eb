"""Three shoal daemons, each in a network namespace of its own on a bridge, form a quorum of managers
through the real docker CLI: the second manager's join moves the state from SQLite into etcd, a
worker is promoted, demoted and promoted again, the leader's daemon is killed and another takes over
with nothing lost, losing two of three managers makes writes fail in Swarm's words while the tasks
keep running, and ``swarm init --force-new-cluster`` on the survivor makes it writable again."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster, DevNode
from tests.e2e.kubectl import Kubectl
from tests.e2e.swarmnodes import manager_status, nodes, running_on, ticker_cluster
from tests.support import rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAMES = ("m1", "m2", "m3")
LOCKED = 'Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock"'
NO_LEADER = ("The swarm does not have a leader. It's possible that too few managers are online. "
             "Make sure more than half of the managers are online.")


@pytest.fixture(scope="module")
def cluster(e2e_base: Path) -> Iterator[DevCluster]:
    with ticker_cluster(e2e_base, NAMES) as c:
        yield c


def container_pids(d: DevNode) -> list[int]:
    """PIDs of the tasks a daemon runs, from its runtime's state (they outlive a killed daemon)."""
    pids = []
    for root in (d.data_root, d.exec_root):
        for f in [*root.rglob("init.pid"), *root.rglob("pid")]:  # runc's, and the process runtime's
            try:
                pids.append(int(f.read_text().split()[0]))
            except (ValueError, IndexError, OSError):
                continue
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def off_m1(counts: dict[str, int], total: int) -> dict[str, int] | None:
    """``counts`` (running tasks by node) when they are ``total`` tasks, none of them on m1."""
    return counts if sum(counts.values()) == total and "m1" not in counts else None


def explain(cluster: DevCluster, managers: tuple[DevNode, ...], service: str) -> str:
    """What a failed wait shows: the service's tasks as each manager lists them, and each daemon's last
    log lines."""
    out = []
    for d in managers:
        out += [f"--- service ps {service} on {d.name}",
                d.docker("service", "ps", "--no-trunc", service, check=False).stdout]
    for n in cluster.nodes.values():
        lines = n.log.read_text(errors="replace").splitlines() if n.log.exists() else []
        out += [f"--- {n.log} (last 40 lines)", *lines[-40:]]
    return "\n".join(out)


def test_quorum_failover_loss_and_force_new_cluster(cluster: DevCluster) -> None:
    trio = cluster.nodes
    m1 = trio["m1"]

    def addr(n: str) -> str:
        return trio[n].addr  # each node in its own namespace, on the swarm's own port (2377)

    m1.docker("swarm", "init", "--advertise-addr", addr("m1"), "--dispatcher-heartbeat", "1s")
    m1.docker("service", "create", "-d", "--name", "before", "--replicas", "2", "--stop-grace-period", "1s", "ticker")
    wait_for(lambda: running_on(m1, "before") == {"m1": 2}, what="2 tasks on m1")
    # m2 joins as a worker, m3 as a manager: the state moves from SQLite into etcd.
    worker_token = m1.docker("swarm", "join-token", "-q", "worker").stdout.strip()
    out = trio["m2"].docker("swarm", "join", "--token", worker_token, "--advertise-addr", addr("m2"),
                            addr("m1")).stdout
    assert "This node joined a swarm as a worker." in out
    token = m1.docker("swarm", "join-token", "-q", "manager").stdout.strip()
    out = trio["m3"].docker("swarm", "join", "--token", token, "--advertise-addr", addr("m3"), addr("m1")).stdout
    assert "This node joined a swarm as a manager." in out
    # As Docker's: listed Reachable as soon as `join` returns, by the leader and by itself.
    assert manager_status(m1).get("m3") == "Reachable" and manager_status(trio["m3"]).get("m3") == "Reachable"
    assert not (m1.data_root / "swarm" / "state.db").exists()
    wait_for(lambda: manager_status(trio["m3"]) == {"m1": "Leader", "m2": "", "m3": "Reachable"}, timeout=30,
             what="m3 a manager")
    # Promote the worker, demote it, promote it again: its etcd member comes and goes.
    assert "Node m2 promoted to a manager in the swarm." in m1.docker("node", "promote", "m2").stdout
    wait_for(lambda: manager_status(trio["m2"]).get("m2") == "Reachable", timeout=40, what="m2 promoted")
    # A membership change can leave the managers without a leader for a moment on a loaded machine (the
    # write is then refused with Swarm's message, as Swarm's would be during an election): retry.
    demoted = wait_for(lambda: (r := m1.docker("node", "demote", "m2", check=False)).returncode == 0 and r,
                       timeout=20, what="m2 demoted (a leader answering)")
    assert "Manager m2 demoted in the swarm." in demoted.stdout
    wait_for(lambda: manager_status(m1).get("m2") == "", timeout=30, what="m2 demoted")
    # (While its etcd member leaves, m2 may answer for a moment that there is no leader.)
    refused = wait_for(lambda: (r := trio["m2"].docker("node", "ls", check=False)).returncode
                       and "Worker nodes" in r.stderr and r, timeout=30, what="m2 no longer answers as a manager")
    assert "Worker nodes can't be used to view or modify cluster state." in refused.stderr
    m1.docker("node", "promote", "m2")
    # The state moved, and the first service is still there, still running.
    expected = {"m1": "Leader", "m2": "Reachable", "m3": "Reachable"}
    for n in NAMES:  # every manager answers, and agrees on who leads
        wait_for(lambda n=n: manager_status(trio[n]) == expected, timeout=30, what=f"manager status on {n}")
    wait_for(lambda: all(r[2] == "Ready" for r in nodes(m1).values()), timeout=20, what="all nodes ready")
    assert running_on(m1, "before") == {"m1": 2}
    # Every manager serves the Kubernetes API over the same store: a follower's write, the leader's read.
    if shutil.which("kubectl"):
        client_ns, _ = cluster.add_client("kc")
        k3 = Kubectl(trio["m3"], cluster.base / "kubectl-m3", netns=client_ns)
        k3("create", "configmap", "shared", "--from-literal=k=v")
        k1 = Kubectl(m1, cluster.base / "kubectl-m1", netns=client_ns)
        assert k1.json("get", "configmap", "shared")["data"] == {"k": "v"}
        assert len(k1("get", "nodes").splitlines()) == 4

    # Autolock turned on at the leader locks every manager's restart, until `docker swarm unlock`.
    out = m1.docker("swarm", "update", "--autolock=true").stdout
    key = next(w for w in out.split() if w.startswith("SWMKEY-1-"))
    m3 = trio["m3"]
    time.sleep(1.5)  # m3 reseals its data key when it sees the change
    cluster.restart("m3")
    assert m3.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "locked"
    assert LOCKED in m3.docker("node", "ls", check=False).stderr
    m3.docker("swarm", "unlock", input=key.encode() + b"\n")
    wait_for(lambda: manager_status(m3) == expected, timeout=40, what="m3 back after unlock")
    m1.docker("swarm", "update", "--autolock=false")

    # A follower takes writes too; tasks spread over the three nodes.
    trio["m2"].docker("service", "create", "-d", "--name", "web", "--replicas", "6", "--stop-grace-period", "1s",
                      "ticker")
    wait_for(lambda: running_on(m1, "web") == {"m1": 2, "m2": 2, "m3": 2}, timeout=40, what="2 tasks per node")
    # A follower shows every node's logs: its own from its files, the others' through the leader.
    wait_for(lambda: {"@m1", "@m2", "@m3"} <= set(re.findall(r"@m\d", trio["m3"].docker("service", "logs",
             "web").stdout)), timeout=20, what="logs of all three nodes on a follower")

    # kill -9 the leader's daemon: another manager leads, the API answers, nothing is lost.
    m1.kill()
    m2, m3 = trio["m2"], trio["m3"]
    wait_for(lambda: manager_status(m2).get("m1") == "Unreachable"
             and "Leader" in (manager_status(m2)["m2"], manager_status(m2)["m3"]), timeout=30, what="new leader")
    wait_for(lambda: nodes(m2)["m1"][2] == "Down", timeout=30, what="m1 down")
    # Every task off m1, all running. (SwarmKit spreads the two replacements one to each node; a node that
    # missed its heartbeats for a moment on a loaded machine has had its tasks moved, so the counts per
    # node are not asserted.)
    web = wait_for(lambda: off_m1(running_on(m2, "web"), 6), timeout=60, what="web rescheduled off m1",
                   explain=lambda: explain(cluster, (m2, m3), "web"))
    before = wait_for(lambda: off_m1(running_on(m2, "before"), 2), timeout=40, what="before rescheduled",
                      explain=lambda: explain(cluster, (m2, m3), "before"))
    services = {r[1]: r[3] for r in rows(m3.docker("service", "ls").stdout)}
    assert services == {"before": "2/2", "web": "6/6"}

    # Lose a second manager: no quorum. Writes fail fast with Swarm's message; tasks keep running.
    leader = "m2" if manager_status(m3)["m2"] == "Leader" else "m3"
    survivor = trio["m3" if leader == "m2" else "m2"]
    survivor_name = "m3" if leader == "m2" else "m2"
    pids = container_pids(survivor)
    assert len(pids) >= web.get(survivor_name, 0) + before.get(survivor_name, 0)
    trio[leader].kill()
    refused = wait_for(lambda: (r := survivor.docker("service", "scale", "-d", "web=3", check=False)).returncode
                       and r, timeout=30, what="writes refused")
    assert NO_LEADER in refused.stderr
    assert all(alive(p) for p in pids)

    # The survivor forces a new cluster from its state: writable, every service and node intact.
    survivor.docker("swarm", "init", "--force-new-cluster", "--advertise-addr", addr(survivor_name))
    wait_for(lambda: manager_status(survivor).get(survivor_name) == "Leader", timeout=30, what="survivor leads")
    assert set(nodes(survivor)) == set(NAMES)
    survivor.docker("service", "scale", "-d", "web=3")
    wait_for(lambda: running_on(survivor, "web") == {survivor_name: 3}, timeout=40, what="web on the survivor")
    wait_for(lambda: running_on(survivor, "before") == {survivor_name: 2}, timeout=40, what="before on survivor")

    # A restarted one-manager quorum under autolock: `swarm unlock` returns once the manager serves, so
    # the very next command (a write) is taken, with no leaderless moment.
    out = survivor.docker("swarm", "update", "--autolock=true").stdout
    key = next(w for w in out.split() if w.startswith("SWMKEY-1-"))
    cluster.restart(survivor_name)
    assert survivor.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "locked"
    survivor.docker("swarm", "unlock", input=key.encode() + b"\n")
    scaled = survivor.docker("service", "scale", "-d", "web=2", check=False)
    assert scaled.returncode == 0, scaled.stderr
    assert manager_status(survivor)[survivor_name] == "Leader"
    survivor.docker("swarm", "update", "--autolock=false")
