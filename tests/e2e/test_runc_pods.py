"""End-to-end test of a Pod's task on runc at the core level (no front door): the runc runtime, the
node's network and the agent's TaskRunner, driven directly. Two app containers and an init container
in one network sandbox: the init container runs first, the app containers share localhost, and one
that exits is restarted in place while the other keeps running (root only)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from shoal.agent import logs
from shoal.agent.executor import TaskRunner
from shoal.api.ids import new_id
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    ContainerStatus,
    Mount,
    ObjectRef,
    RestartPolicy,
    Task,
    TaskSpec,
    TaskStatus,
    clone,
)
from shoal.network.node import NodeNetwork
from shoal.runtime.base import RuntimeError_
from shoal.runtime.images import ImageStore
from shoal.runtime.runc import RuncRuntime

from .conftest import make_rootfs

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static is not installed"),
]

IMAGE = "pod:latest"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> ImageStore:
    root = make_rootfs(tmp_path_factory.mktemp("rootfs") / "root")
    tar = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout
    store = ImageStore(tmp_path_factory.mktemp("images"))
    store.import_tar(io.BytesIO(tar), repo="pod", tag="latest", changes=['CMD ["sh"]'])
    return store


def _mounts_under(path: Path) -> list[str]:
    p = str(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [m for m in reversed(points) if m == p or m.startswith(p + "/")]


@pytest.fixture
def exec_root() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="shoal-test-", dir="/run"))
    yield d
    for m in _mounts_under(d):
        subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(d, ignore_errors=True)


class Node:
    """runc and the node's network, as the daemon wires them for its agent."""

    def __init__(self, data_root: Path, exec_root: Path, images: ImageStore) -> None:
        self.rt = RuncRuntime(data_root, exec_root, images)
        self.network = NodeNetwork(exec_root)
        self.reports: list[TaskStatus] = []

    async def report(self, task_id: str, status: TaskStatus) -> None:
        if self.reports:
            assert status.State >= self.reports[-1].State, "a task's state moved backwards"
        self.reports.append(status)

    def container(self, name: str) -> ContainerStatus:
        assert self.reports and self.reports[-1].Containers is not None
        return next(c for c in self.reports[-1].Containers if c.Name == name)


@pytest.fixture
async def node(tmp_path: Path, exec_root: Path, images: ImageStore) -> AsyncIterator[Node]:
    n = Node(tmp_path / "data", exec_root, images)
    await n.rt.cleanup()
    await n.network.cleanup()
    try:
        yield n
    finally:
        for tid in {k.split(".")[0] for k in n.rt.containers}:
            with contextlib.suppress(Exception):
                await n.rt.remove(tid)
        for tid in list(n.network.sandboxes):
            with contextlib.suppress(Exception):
                await n.network.remove_sandbox(tid)
        await n.rt.cleanup()
        await n.network.cleanup()
        await n.rt.close()
        await n.network.close()
        assert not _mounts_under(tmp_path), "mounts left under the data root"
        listed = subprocess.run(["runc", "--root", str(exec_root / "runc"), "list", "-q"], capture_output=True,
                                text=True).stdout.split()
        assert not listed, f"runc containers left: {listed}"


async def until(pred: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def sh(name: str, script: str, shared: Path) -> ContainerSpec:
    return ContainerSpec(Name=name, Image=IMAGE, Command=["sh", "-c", script],
                         Mounts=[Mount(Type="bind", Source=str(shared), Target="/shared")])


FETCH = ('i=0; while [ $i -lt 100 ]; do i=$((i+1)); out=$(printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc 127.0.0.1 8080); '
         'case "$out" in *from-init*) echo "fetched: $out"; break;; esac; sleep 0.1; done; sleep 0.5')


@pytest.mark.e2e
async def test_a_task_of_two_containers_and_an_init_container(node: Node, tmp_path: Path) -> None:
    shared = tmp_path / "shared"  # a directory every container of the task mounts (as an emptyDir)
    shared.mkdir()
    task = Task(
        ID=new_id(), Owner=ObjectRef(Kind="ReplicaSet", ID="rs1", Name="web"), NodeID="node1",
        Spec=TaskSpec(
            # The init container takes its time: had the app containers started with it, the web
            # container would find no page and exit 3 (and be restarted: its RestartCount would show).
            InitContainers=[sh("init", "sleep 0.5; echo from-init > /shared/index.html; echo init-done", shared)],
            Containers=[
                sh("web", "[ -f /shared/index.html ] || exit 3; exec httpd -f -p 8080 -h /shared", shared),
                # Fetches the page over localhost (the web container's), then exits: restarted in place.
                sh("client", FETCH, shared),
            ]),
        Status=TaskStatus(State=TaskState.ASSIGNED), DesiredState=TaskState.RUNNING)
    runner = TaskRunner(task, node.rt, node.report, network=node.network, restart_backoff=0.2)
    runner.start()
    try:
        await until(lambda: bool(node.reports) and node.reports[-1].State == TaskState.RUNNING, "running")
        init = node.container("init")
        assert (init.State, init.ExitCode) == ("terminated", 0)
        web = node.container("web")
        assert web.State == "running" and web.PID > 0
        # (b) they share localhost: the client got the web container's page from 127.0.0.1:8080.
        client_log = node.rt.container_log_path(task.ID, "client")
        await until(lambda: any(b"from-init" in ll.message for ll in logs.read(client_log)[0]), "the page")
        # (c) the client exits and is restarted in place; the web container runs on, the same process.
        await until(lambda: node.container("client").RestartCount == 1 and node.container("client").State == "running",
                    "the client's restart in place")
        assert node.reports[-1].State == TaskState.RUNNING
        now = node.container("web")
        assert (now.State, now.PID, now.RestartCount) == ("running", web.PID, 0)
        os.kill(web.PID, 0)  # still alive
        # (a) the init container ran first: it completed, and the web container never had to restart.
        init_log = node.rt.container_log_path(task.ID, "init")
        assert [ll.message for ll in logs.read(init_log)[0]] == [b"init-done"]
        assert {s.State for s in node.reports} <= {TaskState.ACCEPTED, TaskState.PREPARING, TaskState.READY,
                                                  TaskState.STARTING, TaskState.RUNNING}
        # Every container has its own log; the Swarm path (<task id>.log) is not used.
        assert not node.rt.log_path(task.ID).exists()
        # Shutting the task down stops every container.
        down = clone(task)
        down.DesiredState = TaskState.SHUTDOWN
        runner.update(down)
        await until(lambda: node.reports[-1].State == TaskState.SHUTDOWN, "shutdown")
        assert {c.State for c in node.reports[-1].Containers or []} == {"terminated"}
    finally:
        await runner.stop_for_exit()
        await node.rt.remove(task.ID)
    assert not list((tmp_path / "data" / "containers").iterdir())
    assert task.ID not in node.network.sandboxes


@pytest.mark.e2e
async def test_a_failing_init_container_fails_the_task_and_nothing_after_it_starts(node: Node, tmp_path: Path) -> None:
    """Under restart policy ``none`` (Kubernetes' Never) an init container's non-zero exit fails the task;
    the app container never runs. A container's name that is not a DNS label is refused."""
    shared = tmp_path / "shared"
    shared.mkdir()
    task = Task(
        ID=new_id(), Owner=ObjectRef(Kind="ReplicaSet", ID="rs1"), NodeID="node1",
        Spec=TaskSpec(InitContainers=[sh("init", "echo failing; exit 3", shared)],
                      Containers=[sh("app", "touch /shared/app-ran; sleep 1000", shared)],
                      RestartPolicy=RestartPolicy(Condition="none")),
        Status=TaskStatus(State=TaskState.ASSIGNED), DesiredState=TaskState.RUNNING)
    runner = TaskRunner(task, node.rt, node.report, network=node.network, restart_backoff=0.2)
    runner.start()
    try:
        await until(lambda: bool(node.reports) and node.reports[-1].State == TaskState.FAILED, "failed")
        assert node.reports[-1].Err == "init container init: non-zero exit (3)"
        assert (node.container("init").State, node.container("init").ExitCode) == ("terminated", 3)
        assert node.container("app").State == "waiting"
        assert not (shared / "app-ran").exists()
    finally:
        await runner.stop_for_exit()
        await node.rt.remove(task.ID)

    bad = Task(ID=new_id(), Owner=ObjectRef(Kind="ReplicaSet", ID="rs1"), NodeID="node1",
               Spec=TaskSpec(Containers=[sh("ok", "true", shared), sh("../up", "true", shared)]))
    sandbox = await node.network.create_sandbox(bad)
    try:
        with pytest.raises(RuntimeError_) as e:
            await node.rt.prepare(bad, (), sandbox)
        assert e.value.reject and "invalid container name '../up'" in e.value.message
    finally:
        await node.network.remove_sandbox(bad.ID)
    assert not list((tmp_path / "data" / "containers").iterdir())
