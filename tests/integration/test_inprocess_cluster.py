"""An in-process cluster: a Daemon (manager + agent) with the process runtime, driven through the
control API and the Docker API app, with no sockets and no root."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.support import free_port

from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    NodeSpec,
    ReplicatedService,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskSpec,
)
from shoal.daemon import Daemon, DaemonConfig
from shoal.frontdoor.docker.app import make_app

SH = shutil.which("sh") or "/bin/sh"


def make_image(d: Daemon, tmp: Path, name: str, cmd: str) -> None:
    root = tmp / f"rootfs-{name.replace(':', '-')}"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "hello").write_text("hi\n")
    tar_path = tmp / f"{name.replace(':', '-')}.tar"
    with tarfile.open(tar_path, "w") as tf:
        tf.add(root, arcname=".")
    repo, _, tag = name.partition(":")
    with open(tar_path, "rb") as f:
        d.images.import_tar(f, repo, tag or "latest", [f'CMD ["{SH}", "-c", "{cmd}"]'])


async def wait_until(pred: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    cfg = DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", runtime="process",
                       hostname="node-1")
    d = Daemon(cfg)
    await d.start()
    make_image(d, tmp_path, "ticker:latest", "while true; do echo tick; sleep 0.2; done")
    make_image(d, tmp_path, "fails:latest", "echo bye; exit 3")
    await d.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
    yield d
    await d.stop()


def spec(name: str, image: str, replicas: int = 1, **task: object) -> ServiceSpec:
    return ServiceSpec(
        Name=name,
        TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image=image)], **task),  # type: ignore[arg-type]
        Mode=ServiceMode(Replicated=ReplicatedService(Replicas=replicas)),
    )


def running(d: Daemon, service_id: str) -> list[Task]:
    assert d.manager is not None
    return [t for t in d.manager.store.tasks_of_owner(service_id) if t.Status.State == TaskState.RUNNING]


async def test_replicated_service_runs_scales_and_is_removed(daemon: Daemon) -> None:
    m = daemon.manager
    assert m is not None
    svc = await m.control.create_service(spec("web", "ticker", 3))
    await wait_until(lambda: len(running(daemon, svc.ID)) == 3)
    slots = sorted(t.Slot for t in running(daemon, svc.ID))
    assert slots == [1, 2, 3]
    for t in running(daemon, svc.ID):
        assert t.Status.Containers[0] is not None and t.Status.Containers[0].PID > 0
        os.kill(t.Status.Containers[0].PID, 0)  # really a live process

    cur = m.control.service("web")
    scaled = spec("web", "ticker", 1)
    await m.control.update_service("web", cur.Version.Index, scaled)
    await wait_until(lambda: len(running(daemon, svc.ID)) == 1)

    await m.control.remove_service("web")
    await wait_until(lambda: not m.store.tasks_of_owner(svc.ID))


async def test_failed_task_is_restarted_after_delay(daemon: Daemon) -> None:
    m = daemon.manager
    assert m is not None
    svc = await m.control.create_service(
        spec("flaky", "fails", 1, RestartPolicy=RestartPolicy(Condition="on-failure", Delay=200_000_000,
                                                              MaxAttempts=2))
    )

    def failed() -> list[Task]:
        return [t for t in m.store.tasks_of_owner(svc.ID) if t.Status.State == TaskState.FAILED]

    await wait_until(lambda: len(failed()) == 3, timeout=20)  # the first run and two restarts
    errs = {t.Status.Err for t in failed()}
    assert errs == {"task: non-zero exit (3)"}
    # The third failure queued the service; once the orchestrator has handled it (a restart would have
    # made a fourth task in that same pass), nothing more is coming.
    await m.orchestrator.queue.wait_idle()
    assert len(m.store.tasks_of_owner(svc.ID)) == 3  # max attempts reached: no more restarts


async def test_killed_container_is_replaced(daemon: Daemon) -> None:
    m = daemon.manager
    assert m is not None
    svc = await m.control.create_service(
        spec("victim", "ticker", 1, RestartPolicy=RestartPolicy(Condition="any", Delay=100_000_000))
    )
    await wait_until(lambda: len(running(daemon, svc.ID)) == 1)
    first = running(daemon, svc.ID)[0]
    assert first.Status.Containers[0] is not None
    os.killpg(first.Status.Containers[0].PID, signal.SIGKILL)
    await wait_until(lambda: bool(running(daemon, svc.ID)) and running(daemon, svc.ID)[0].ID != first.ID)
    old = m.store.get(Task, first.ID)
    assert old is not None and old.Status.State == TaskState.FAILED
    assert old.Status.Err == "task: non-zero exit (137)"
    assert old.DesiredState == TaskState.SHUTDOWN


async def test_drain_moves_tasks_off_and_reports_why(daemon: Daemon) -> None:
    m = daemon.manager
    assert m is not None
    svc = await m.control.create_service(spec("drainme", "ticker", 2))
    await wait_until(lambda: len(running(daemon, svc.ID)) == 2)
    node = m.control.node("node-1")
    await m.control.update_node(node.ID, node.Version.Index, NodeSpec(Role="manager", Availability="drain"))
    await wait_until(lambda: not running(daemon, svc.ID))
    pending = [t for t in m.store.tasks_of_owner(svc.ID) if t.DesiredState == TaskState.RUNNING]
    await wait_until(lambda: all(
        (m.store.get(Task, t.ID) or t).Status.Err == "no suitable node (1 node not available for new tasks)"
        for t in pending))
    node = m.control.node("node-1")
    await m.control.update_node(node.ID, node.Version.Index, NodeSpec(Role="manager", Availability="active"))
    await wait_until(lambda: len(running(daemon, svc.ID)) == 2)


async def test_restarted_daemon_keeps_services_and_converges(tmp_path: Path) -> None:
    cfg = DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", runtime="process")
    d = Daemon(cfg)
    await d.start()
    make_image(d, tmp_path, "ticker:latest", "while true; do echo tick; sleep 0.2; done")
    node_id = await d.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
    assert d.manager is not None
    svc = await d.manager.control.create_service(
        spec("keep", "ticker", 2, RestartPolicy=RestartPolicy(Delay=100_000_000))
    )
    await wait_until(lambda: len(running(d, svc.ID)) == 2)
    await d.stop()

    d2 = Daemon(cfg)
    await d2.start()
    try:
        assert d2.node_id == node_id and d2.manager is not None
        assert d2.manager.control.service("keep").ID == svc.ID
        await wait_until(lambda: len(running(d2, svc.ID)) == 2, timeout=20)
    finally:
        await d2.stop()


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(make_app(daemon))) as c:
        yield c


async def test_docker_api_shapes_and_errors(client: TestClient) -> None:  # type: ignore[type-arg]
    r = await client.head("/_ping")
    assert r.status == 200 and r.headers["API-Version"] == "1.47" and r.headers["Swarm"] == "active/manager"
    r = await client.get("/v1.47/nope")
    assert r.status == 404 and (await r.json()) == {"message": "page not found"}
    r = await client.post("/v1.47/services/create", data=b"{not json")
    assert r.status == 400 and "message" in await r.json()
    r = await client.post("/v1.47/services/create", json={"Name": "x", "TaskTemplate": {"ContainerSpec": {}}})
    assert r.status == 400
    assert (await r.json())["message"] == (
        "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided"
    )
    body = {"Name": "dup", "TaskTemplate": {"ContainerSpec": {"Image": "ticker"}}, "Mode": {"Replicated": {}}}
    r = await client.post("/v1.47/services/create", json=body)
    assert r.status == 201
    sid = (await r.json())["ID"]
    r = await client.post("/v1.47/services/create", json=body)
    assert r.status == 409
    assert (await r.json())["message"] == (
        "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service dup already exists"
    )
    svc = await (await client.get(f"/v1.47/services/{sid}")).json()
    assert svc["Spec"]["Mode"]["Replicated"]["Replicas"] == 1
    r = await client.post(f"/v1.47/services/{sid}/update?version=1", json=svc["Spec"])
    assert r.status == 500 and (await r.json())["message"] == "rpc error: code = Unknown desc = update out of sequence"
    r = await client.post("/v1.47/services/create", json={
        "Name": "badc", "TaskTemplate": {"ContainerSpec": {"Image": "ticker"},
                                         "Placement": {"Constraints": ["node.labels.a=b"]}}})
    assert (await r.json())["message"] == (
        "rpc error: code = InvalidArgument desc = constraint expected one operator from ==, !="
    )
    r = await client.get("/v1.47/services/nosuch")
    assert r.status == 404 and (await r.json())["message"] == "service nosuch not found"


async def test_process_runtime_cleans_what_a_crash_left(tmp_path: Path) -> None:
    from shoal.runtime.process import ProcessRuntime

    d = Daemon(DaemonConfig(data_root=tmp_path / "x", exec_root=tmp_path / "xrun", runtime="process"))
    make_image(d, tmp_path, "sleeper:latest", "sleep 60")
    images = d.images
    rt = ProcessRuntime(tmp_path / "data", images)
    t = Task(ID="crashleft0000000000000000", Spec=TaskSpec(Containers=[ContainerSpec(Image="sleeper")]))
    await rt.prepare(t)
    started = await rt.start(t)
    rt.procs.clear()  # the daemon "crashed": nobody waits for the process any more
    fresh = ProcessRuntime(tmp_path / "data", images)
    await fresh.cleanup()
    await wait_until(lambda: not os.path.exists(f"/proc/{started.pid}") or _zombie(started.pid))
    assert not (tmp_path / "data" / "process" / t.ID).exists()


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


async def test_secrets_and_configs_through_the_docker_api(daemon: Daemon, client: TestClient) -> None:  # type: ignore[type-arg]
    """Created and inspected through the Docker API (a secret's bytes never come back), handed to the
    task through the in-process session, under $SHOAL_FILES with the process runtime, and gone with it."""
    import base64

    r = await client.post("/v1.47/secrets/create", json={"Name": "db", "Labels": {"a": "b"},
                                                          "Data": base64.b64encode(b"s3cret").decode()})
    assert r.status == 201
    sid = (await r.json())["ID"]
    r = await client.post("/v1.47/configs/create", json={"Name": "site", "Data": base64.b64encode(b"conf").decode()})
    assert r.status == 201
    listed = await (await client.get('/v1.47/secrets?filters={"name":{"d":true}}')).json()
    assert [s["ID"] for s in listed] == [sid] and "Data" not in listed[0]["Spec"]
    got = await (await client.get(f"/v1.47/secrets/{sid[:5]}")).json()
    assert got["Spec"] == {"Name": "db", "Labels": {"a": "b"}}
    config = await (await client.get("/v1.47/configs/site")).json()
    assert config["Spec"]["Data"] == base64.b64encode(b"conf").decode()
    r = await client.post(f"/v1.47/secrets/{sid}/update?version={got['Version']['Index']}",
                          json={"Name": "db", "Data": base64.b64encode(b"other").decode()})
    assert r.status == 400
    assert (await r.json())["message"] == "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"

    body = {"Name": "app", "TaskTemplate": {"ContainerSpec": {
        "Image": "ticker",
        "Command": [SH, "-c", 'cat "$SHOAL_FILES/run/secrets/db"; echo; cat "$SHOAL_FILES/site"; echo; sleep 60'],
        "Secrets": [{"SecretName": "db"}], "Configs": [{"ConfigName": "site"}]}}}
    r = await client.post("/v1.47/services/create", json=body)
    assert r.status == 201, await r.text()
    svc = (await r.json())["ID"]
    await wait_until(lambda: len(running(daemon, svc)) == 1)
    (t,) = running(daemon, svc)
    log = daemon.runtime.log_path(t.ID)
    await wait_until(lambda: log.exists() and b"conf" in log.read_bytes())
    assert b"s3cret" in log.read_bytes()
    files = daemon.exec_root / "process" / t.ID / "files"
    assert (files / "run/secrets/db").stat().st_mode & 0o777 == 0o444
    r = await client.delete(f"/v1.47/secrets/{sid}")
    assert r.status == 400 and (await r.json())["message"] == (
        "rpc error: code = InvalidArgument desc = secret 'db' is in use by the following service: app")
    assert (await client.delete(f"/v1.47/services/{svc}")).status == 200
    await wait_until(lambda: not files.exists())
    assert (await client.delete(f"/v1.47/secrets/{sid}")).status == 204
    assert (await client.delete("/v1.47/configs/site")).status == 204
    assert await (await client.get("/v1.47/secrets")).json() == []
