"""``shoal kube dry-run`` on a hollow-node cluster (``shoal sim`` in this process): the real ``shoal``
command (CliRunner, in a thread) against the Docker API served on a unix socket, a manifest with a
Deployment, a Pod and a Pod too big for any node, over nodes with a taint, labels and little memory.
The table names the node each Pod would go to and, for every other node, kube-scheduler's reason;
the Pod that fits nowhere gets the ``FailedScheduling`` message and the exit status 1; nothing is
written; the real scheduler then places the same manifest where the dry run said."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from tests.integration import kubesim
from tests.integration.kubesim import manager

from shoal import sim
from shoal.api.types import Deployment, Node, Taint, Task, clone
from shoal.cli.main import cli
from shoal.frontdoor.docker.app import serve
from shoal.frontdoor.kube import convert
from shoal.store.objects import Change

GiB = 1 << 30

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx
        resources:
          requests: {memory: 400Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: db
spec:
  nodeSelector: {disk: ssd}
  tolerations:
  - {key: dedicated, operator: Equal, value: db, effect: NoSchedule}
  containers:
  - name: postgres
    image: postgres
    resources:
      requests: {memory: 300Mi}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data: {a: b}
"""

BIG = """\
apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: x
    image: busybox
    resources:
      requests: {memory: 2Gi}
"""


@dataclass
class Cluster:
    sim: sim.Sim
    host: str

    async def shoal(self, *args: str, input: str | None = None) -> Result:
        """The ``shoal`` command, in a thread (its client blocks; the cluster runs on this loop)."""
        runner = CliRunner()
        return await asyncio.to_thread(runner.invoke, cli, ["-H", self.host, *args], input=input,
                                       catch_exceptions=False)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with kubesim.kube_sim(tmp_path, 3, cpus=2, memory=1 * GiB) as s:
        m = manager(s)
        await kubesim.wait_for(lambda: len(m.store.list(Node)) == 3, "3 nodes")
        nodes = {n.Description.Hostname: n for n in m.store.list(Node)}
        # hollow-1: tainted for the database, with the SSD; hollow-2: no SSD.
        n1 = clone(nodes["hollow-1"])
        n1.Spec.Taints = [Taint(Key="dedicated", Value="db", Effect="NoSchedule")]
        n1.Spec.Labels = {"disk": "ssd"}
        await m.store.commit(updates=[n1])
        sock = str(tmp_path / "docker.sock")
        runner = await serve(s.daemon, [f"unix://{sock}"])
        try:
            yield Cluster(s, f"unix://{sock}")
        finally:
            await runner.cleanup()


def table_of(out: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(Pod, node) → (placed, reasons), the Pod's name carried down to its other rows."""
    lines = out.splitlines()
    assert lines[0].split() == ["POD", "NODE", "PLACED", "REJECTED", "BY"]
    starts = [lines[0].index(h) for h in ("POD", "NODE", "PLACED", "REJECTED BY")]
    got: dict[tuple[str, str], tuple[str, str]] = {}
    pod = ""
    for line in lines[1:]:
        if "would be placed on" in line:
            break  # the totals
        pod = line[:starts[1]].strip() or pod
        node = line[starts[1]:starts[2]].strip()
        got[(pod, node)] = (line[starts[2]:starts[3]].strip(), line[starts[3]:].strip())
    return got


async def test_dry_run_shows_placement_and_reasons_and_writes_nothing(cluster: Cluster, tmp_path: Path) -> None:
    m = manager(cluster.sim)
    written: list[Change] = []  # the hollow nodes go on reporting meanwhile: only their own writes may come
    unsubscribe = m.store.subscribe(written.append)
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(MANIFEST)
    r = await cluster.shoal("kube", "dry-run", "-f", str(manifest))
    assert r.exit_code == 0, r.output
    got = table_of(r.stdout)
    taint = "node(s) had untolerated taint {dedicated: db}"
    selector = "node(s) didn't match Pod's node affinity/selector"
    # The Deployment's replicas keep off the tainted node and spread over the other two; the third
    # goes where one is already (each sees the ones before it).
    web = [f"deployment.apps/web #{i}" for i in (1, 2, 3)]
    for pod in web:
        assert got[(pod, "hollow-1")] == ("", taint)
    chosen = [next(n for n in ("hollow-0", "hollow-2") if got[(pod, n)][0] == "yes") for pod in web]
    assert sorted(chosen[:2]) == ["hollow-0", "hollow-2"]
    # db tolerates the taint and wants the SSD: the two other nodes fail its selector.
    assert got[("pod/db", "hollow-1")] == ("yes", "")
    assert got[("pod/db", "hollow-0")] == ("", selector) and got[("pod/db", "hollow-2")] == ("", selector)
    assert "4/4 Pods would be placed on 3 nodes" in r.stdout
    assert "configmap/settings: makes no Pods, left out" in r.stdout
    unsubscribe()
    assert {(c.kind, c.old is None) for c in written} <= {("nodes", False)}, written  # the dry run wrote nothing
    assert not m.kube.list("tasks", "default") and not m.store.list(Deployment)

    # Five replicas: the fifth finds no room left by the four before it (and db's 300Mi on hollow-1
    # does not matter, the taint keeps it off there first).
    r = await cluster.shoal("kube", "dry-run", "-f", "-", input=MANIFEST.replace("replicas: 3", "replicas: 5"))
    assert r.exit_code == 1
    got = table_of(r.stdout)
    assert got[("deployment.apps/web #5", "hollow-0")] == ("", "Insufficient memory")
    assert got[("deployment.apps/web #5", "hollow-2")] == ("", "Insufficient memory")
    assert "5/6 Pods would be placed on 3 nodes" in r.stdout
    assert ("deployment.apps/web #5 would stay Pending: 0/3 nodes are available: 1 node(s) had untolerated taint "
            "{dedicated: db}, 2 Insufficient memory.") in r.stdout

    # From stdin: the big Pod fits nowhere; the message is the scheduler's, and the exit status 1.
    r = await cluster.shoal("kube", "dry-run", "-f", "-", input=BIG)
    assert r.exit_code == 1
    why = ("0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient memory. "
           "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption "
           "victims found for incoming pod.")
    assert f"pod/big would stay Pending: {why}" in r.stdout
    assert "0/1 Pod would be placed on 0 nodes" in r.stdout
    got = table_of(r.stdout)
    assert got[("pod/big", "hollow-0")] == ("", "Insufficient memory")
    assert got[("pod/big", "hollow-1")] == ("", taint)

    # For real: the scheduler puts the Pods where the dry run said.
    await m.kube.create(convert.to_core("pods", yaml.safe_load(MANIFEST.split("---")[1]), namespace="default"))
    await kubesim.wait_for(lambda: bool(m.kube.get("tasks", "default", "db").NodeID), "db placed")
    db: Task = m.kube.get("tasks", "default", "db")
    node = m.store.get(Node, db.NodeID)
    assert node is not None and node.Description.Hostname == "hollow-1"


async def test_invalid_manifest_is_refused_in_the_api_servers_words(cluster: Cluster) -> None:
    bad = MANIFEST.replace("        image: nginx\n", "")
    r = await cluster.shoal("kube", "dry-run", "-f", "-", input=bad)
    assert r.exit_code == 1
    assert r.stderr.strip() == ('The Deployment "web" is invalid: spec.template.spec.containers[0].image: '
                                'Required value')
    r = await cluster.shoal("kube", "dry-run", "-n", "nowhere", "-f", "-", input=BIG)
    assert (r.exit_code, r.stderr.strip()) == (1, 'Error from server (NotFound): namespaces "nowhere" not found')
    r = await cluster.shoal("kube", "dry-run", "-f", "-", input="apiVersion: v1\nkind: Gadget\nmetadata: {name: g}\n")
    assert (r.exit_code, r.stderr.strip()) == (1, 'error: no matches for kind "Gadget" in version "v1"')


async def test_the_service_dry_run_exits_as_the_pods_one(cluster: Cluster) -> None:
    """0 when every task fits, 1 when some would stay pending, the same as ``kube dry-run``."""
    r = await cluster.shoal("service", "create", "--dry-run", "--replicas", "2", "--reserve-memory", "400M",
                            "hollow")
    assert r.exit_code == 0 and "2/2 tasks would be placed on 2 nodes" in r.stdout
    r = await cluster.shoal("service", "create", "--dry-run", "--reserve-memory", "2G", "hollow")
    assert r.exit_code == 1
    assert ("1 task would stay pending: no suitable node (insufficient resources on 2 nodes; untolerated taint on "
            "1 node)") in r.stdout
