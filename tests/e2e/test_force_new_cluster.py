"""Lost managers after ``docker swarm init --force-new-cluster`` come back as Docker's do: three
shoal managers, each in a network namespace of its own; two are stopped, the third forces a new
cluster and lists them as workers (Down); one of them restarted carries on as a worker with its
certificate and runs tasks, and ``docker node promote`` makes it a manager again (a quorum of two).
Along the way: no agent logs a failing manager more than once, and no daemon forks while the etcd
client's threads run (gRPC's ``fork_posix`` warning)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster
from tests.e2e.swarmnodes import manager_status, nodes, running_on, ticker_cluster
from tests.support import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAMES = ("m1", "m2", "m3")
NO_LEADER = "The swarm does not have a leader."
WORKER_REFUSAL = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state."


@pytest.fixture(scope="module")
def cluster(e2e_base: Path) -> Iterator[DevCluster]:
    with ticker_cluster(e2e_base, NAMES) as c:
        yield c


def test_lost_managers_come_back_as_workers_and_can_be_promoted(cluster: DevCluster) -> None:
    m1, m2, m3 = (cluster.nodes[n] for n in NAMES)
    m1.docker("swarm", "init", "--advertise-addr", m1.addr, "--dispatcher-heartbeat", "1s")
    token = m1.docker("swarm", "join-token", "-q", "manager").stdout.strip()
    for d in (m2, m3):  # one at a time: etcd takes one learner at a time
        d.docker("swarm", "join", "--token", token, "--advertise-addr", d.addr, m1.addr)
        wait_for(lambda d=d: manager_status(m1).get(d.name) == "Reachable", timeout=40, what=f"{d.name} reachable")
    m1.docker("service", "create", "-d", "--name", "web", "--replicas", "3", "--stop-grace-period", "1s", "ticker")
    wait_for(lambda: running_on(m1, "web") == {"m1": 1, "m2": 1, "m3": 1}, timeout=40, what="a task per node")

    # Two managers are lost: no quorum. The third forces a new cluster from its state.
    m1.stop()
    m2.stop()
    wait_for(lambda: (r := m3.docker("service", "scale", "-d", "web=3", check=False)).returncode != 0
             and NO_LEADER in r.stderr, timeout=30, what="writes refused without a quorum")
    m3.docker("swarm", "init", "--force-new-cluster", "--advertise-addr", m3.addr)
    wait_for(lambda: manager_status(m3).get("m3") == "Leader", timeout=30, what="m3 leads")
    # The lost managers are workers now, down; the service moves its tasks to m3.
    listed = nodes(m3)
    assert manager_status(m3) == {"m1": "", "m2": "", "m3": "Leader"}
    assert listed["m1"][2] == "Down" and listed["m2"][2] == "Down"
    assert m3.docker("info", "--format", "{{.Swarm.Managers}}").stdout.strip() == "1"
    wait_for(lambda: running_on(m3, "web") == {"m3": 3}, timeout=40, what="web on m3")

    # m1 is restarted: it finds it was left out of the quorum and carries on as a worker.
    m1.start()
    wait_for(lambda: nodes(m3)["m1"][2] == "Ready", timeout=40, what="m1 ready again")
    refused = wait_for(lambda: (r := m1.docker("node", "ls", check=False)).returncode != 0
                       and "Worker nodes" in r.stderr and r, timeout=40, what="m1 answers as a worker")
    assert WORKER_REFUSAL in refused.stderr
    assert m1.docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").stdout.strip() \
        == "active false"
    assert not (m1.data_root / "swarm" / "etcd").exists()
    m3.docker("service", "create", "-d", "--name", "on-m1", "--constraint", "node.hostname==m1",
              "--stop-grace-period", "1s", "ticker")
    wait_for(lambda: running_on(m3, "on-m1") == {"m1": 1}, timeout=40, what="a task on m1")

    # Promoted, it is a manager again: two managers, and either of them takes writes.
    assert "Node m1 promoted to a manager in the swarm." in m3.docker("node", "promote", "m1").stdout
    wait_for(lambda: manager_status(m3) == {"m1": "Reachable", "m2": "", "m3": "Leader"}, timeout=60,
             what="m1 a manager again")
    wait_for(lambda: manager_status(m1) == {"m1": "Reachable", "m2": "", "m3": "Leader"}, timeout=40,
             what="m1 answers as a manager")
    assert m1.docker("info", "--format", "{{.Swarm.Managers}}").stdout.strip() == "2"
    wait_for(lambda: m1.docker("service", "scale", "-d", "web=4", check=False).returncode == 0, timeout=30,
             what="a write through m1")
    wait_for(lambda: sum(running_on(m3, "web").values()) == 4, timeout=40, what="4 tasks of web")

    # The agents logged a failing manager once until it answered again (each agent that started: at
    # init, at m1's restart, at its promotion), not at every redial (m2 is dialled until m3's agent
    # learns it is no manager any more); and nothing forked while gRPC's threads ran.
    for d in (m1, m3):
        text = d.log.read_text(errors="replace")
        for other in (m1, m2, m3):
            lines = [ln for ln in text.splitlines() if f"session with manager {other.addr}:2377:" in ln]
            assert len(lines) <= 5, f"{d.name} logged {len(lines)} failures of {other.name}:\n" + "\n".join(lines)
    for d in (m1, m2, m3):
        assert "fork_posix" not in d.log.read_text(errors="replace")
