"""The node's own containers (``agent/containers.py``) over the fake runtime (several containers per task,
run in place) and a fake network: names, lifecycle, restart policies, waits, removal, the daemon's
stop and start, events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.agent.containers import KIND, NAME, LocalContainers, docker_argv
from shoal.api.containers import CreateRequest
from shoal.api.errors import Conflict, InvalidArgument, NotFound
from shoal.api.events import EventLog
from shoal.api.types import Task
from shoal.network.sandbox import Sandbox
from shoal.runtime.base import container_key, is_pod
from shoal.runtime.fake import FakeRuntime
from shoal.runtime.images import ImageStore
from tests.unit.helpers import rootfs_tar, until


class FakeBridge:
    gateway = "10.213.240.1"


class FakeNetwork:
    def __init__(self) -> None:
        self.sandboxes: dict[str, Sandbox] = {}
        self.removed: list[str] = []

    async def create_sandbox(self, task: Task) -> Sandbox:
        sb = Sandbox(task_id=task.ID, netns=Path("/nonexistent") / task.ID, hostname=task.Spec.Hostname,
                     addresses=[f"10.213.240.{len(self.sandboxes) + 2}/24"])
        self.sandboxes[task.ID] = sb
        return sb

    async def remove_sandbox(self, task_id: str) -> None:
        self.sandboxes.pop(task_id, None)
        self.removed.append(task_id)

    async def default_bridge(self) -> FakeBridge:
        return FakeBridge()

    async def cleanup(self) -> None:
        pass


class Env:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.images = ImageStore(base / "images")
        self.images.import_tar(rootfs_tar(), "busybox", "latest", changes=['CMD ["sh"]'])
        self.runtime = FakeRuntime(None, log_dir=base / "logs", multi_container=True)
        self.network = FakeNetwork()
        self.events = EventLog()
        self.engine = self.new_engine()

    def new_engine(self) -> LocalContainers:
        return LocalContainers(self.base / "local-containers", self.runtime, self.images, self.events,
                               network=self.network)

    def key(self, cid: str) -> str:
        return container_key(cid, NAME)

    def actions(self, cid: str) -> list[str]:
        return [e.Action for e in self.events.history() if e.Actor == cid]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path)
    yield e
    await e.engine.close()


async def create(env: Env, name: str = "", **config: object) -> str:
    cfg = {"Image": "busybox", **config}
    host = cfg.pop("HostConfig", {})
    cid, warnings = await env.engine.create(CreateRequest(name=name, config=cfg, host_config=host))  # type: ignore[arg-type]
    assert warnings == []
    return cid


def test_docker_argv() -> None:
    image = {"Entrypoint": ["/init"], "Cmd": ["serve"]}
    assert docker_argv({}, image) == ["/init", "serve"]
    assert docker_argv({"Cmd": ["x"]}, image) == ["/init", "x"]
    assert docker_argv({"Entrypoint": ["sh"]}, image) == ["sh"]  # an entrypoint drops the image's CMD
    assert docker_argv({"Entrypoint": ["sh"], "Cmd": ["-c", "true"]}, image) == ["sh", "-c", "true"]


async def test_create_names_and_conflicts(env: Env) -> None:
    cid = await create(env, "web", Cmd=["sleep", "1"])
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    rec = env.engine.inspect("web")
    assert rec.Name == "/web" and rec.State.Status == "created" and rec.Config["Hostname"] == cid[:12]
    assert env.engine.inspect(cid[:8]).ID == cid
    with pytest.raises(Conflict) as e:
        await create(env, "web")
    assert e.value.message == (f'Conflict. The container name "/web" is already in use by container "{cid}". You '
                               "have to remove (or rename) that container to be able to reuse that name.")
    anon = await create(env)
    adjective, _, surname = env.engine.inspect(anon).Name.lstrip("/").partition("_")
    assert adjective and surname
    with pytest.raises(NotFound, match="No such image: nothere:latest"):
        await create(env, Image="nothere")
    with pytest.raises(NotFound, match="No such container: nope"):
        env.engine.inspect("nope")
    with pytest.raises(InvalidArgument, match="not supported by shoal yet"):
        await create(env, HostConfig={"NetworkMode": "host"})
    with pytest.raises(InvalidArgument, match="publishing ports"):
        await create(env, HostConfig={"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}})
    assert env.actions(cid) == ["create"]


async def test_start_exit_and_events(env: Env) -> None:
    cid = await create(env, "web", Cmd=["sleep", "1"], Labels={"tier": "front"})
    assert await env.engine.start("web") is True
    assert await env.engine.start("web") is False  # already running: Docker's 304
    task = next(t for t in env.network.sandboxes)
    assert task == cid
    rec = env.engine.inspect(cid)
    assert rec.State.Running and rec.State.Pid > 0 and rec.IPAddress == "10.213.240.2" and rec.Gateway
    env.runtime.finish(env.key(cid), 3)
    await until(lambda: not env.engine.inspect(cid).State.Running)
    st = env.engine.inspect(cid).State
    assert st.Status == "exited" and st.ExitCode == 3
    die = next(e for e in env.events.history() if e.Action == "die")
    assert die.Attributes == {"tier": "front", "image": "busybox", "name": "web", "exitCode": "3"}
    # Started again in place: the same sandbox, the runtime's container run again.
    await env.engine.start(cid)
    assert env.engine.inspect(cid).State.Running and env.network.removed == []
    assert env.runtime.calls.count(("prepare", cid)) == 1


async def test_task_is_a_pod_of_kind_container(env: Env) -> None:
    cid = await create(env, "web", Cmd=["sleep", "1"], Env=["A=1"], HostConfig={"Memory": 1 << 20, "Init": True})
    task = env.engine.live[cid].task
    assert is_pod(task) and task.Owner.Kind == KIND
    spec = task.Spec.Containers[0]
    assert spec.Name == NAME and spec.Command == ["sleep"] and spec.Args == ["1"] and spec.Env == ["A=1"]
    assert spec.Init and spec.Resources is not None and spec.Resources.Limits is not None
    assert spec.Resources.Limits.MemoryBytes == 1 << 20


async def test_stop_rm_and_waits(env: Env) -> None:
    cid = await create(env, "web", Cmd=["sleep", "1"])
    await env.engine.start(cid)
    next_exit = env.engine.waiter(cid, "next-exit")
    removed = env.engine.waiter(cid, "removed")
    assert await env.engine.stop(cid, timeout=1) is True
    assert await next_exit == 143  # the fake's SIGTERM exit
    assert await env.engine.stop(cid) is False  # not running: Docker's 304
    assert env.engine.waiter(cid, "not-running").result() == 143
    assert env.engine.inspect(cid).StopByUser
    await env.engine.start(cid)
    with pytest.raises(Conflict) as e:
        await env.engine.remove(cid)
    assert e.value.message == (f"You cannot remove a running container {cid}. Stop the container before "
                               "attempting removal or force remove")
    await env.engine.remove(cid, force=True)
    assert removed.done()
    assert cid not in env.engine.live and env.network.removed == [cid]
    assert not (env.base / "local-containers" / cid).exists()
    assert env.actions(cid)[-1] == "destroy"
    with pytest.raises(InvalidArgument):
        env.engine.waiter(await create(env), "sometimes")


async def test_restart_policy_on_failure(env: Env) -> None:
    cid = await create(env, "flaky", Cmd=["false"], HostConfig={"RestartPolicy": {"Name": "on-failure",
                                                                                  "MaximumRetryCount": 2}})
    await env.engine.start(cid)
    for n in range(3):
        await until(lambda n=n: env.engine.inspect(cid).State.Running and env.engine.inspect(cid).RestartCount == n)
        env.runtime.finish(env.key(cid), 1)
    await until(lambda: env.engine.inspect(cid).State.Status == "exited")
    rec = env.engine.inspect(cid)
    assert rec.RestartCount == 2 and rec.State.ExitCode == 1 and not rec.State.Restarting


async def test_restart_policy_always_not_after_stop(env: Env) -> None:
    cid = await create(env, "svc", Cmd=["true"], HostConfig={"RestartPolicy": {"Name": "always"}})
    await env.engine.start(cid)
    env.runtime.finish(env.key(cid), 0)
    await until(lambda: env.engine.inspect(cid).RestartCount == 1 and env.engine.inspect(cid).State.Running)
    await env.engine.stop(cid)
    assert env.engine.inspect(cid).State.Status == "exited"


async def test_auto_remove(env: Env) -> None:
    cid = await create(env, Cmd=["true"], HostConfig={"AutoRemove": True})
    removed = env.engine.waiter(cid, "removed")
    await env.engine.start(cid)
    env.runtime.finish(env.key(cid), 0)
    assert await removed == 0
    assert cid not in env.engine.live


async def test_daemon_stop_and_start(env: Env) -> None:
    always = await create(env, "always", Cmd=["sleep"], HostConfig={"RestartPolicy": {"Name": "always"}})
    stopped = await create(env, "stopped", Cmd=["sleep"], HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    plain = await create(env, "plain", Cmd=["sleep"])
    for c in (always, stopped, plain):
        await env.engine.start(c)
    await env.engine.stop(stopped)
    await env.engine.close()
    assert not env.engine.inspect(always).State.Running
    assert env.network.sandboxes == {}
    env.engine = env.new_engine()
    await env.engine.start_all()
    assert env.engine.inspect(always).State.Running
    assert not env.engine.inspect(stopped).State.Running  # stopped by the user: stays so
    assert not env.engine.inspect(plain).State.Running
    assert env.engine.counts().ContainersRunning == 1 and env.engine.counts().ContainersStopped == 2


async def test_rename_prune_volumes(env: Env) -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid container name \(a\)"):
        await create(env, "a")  # Docker's pattern: two characters at least
    a = await create(env, "aa", Cmd=["true"], HostConfig={"Binds": ["data:/data", "/host:/h:ro"]})
    b = await create(env, "bb", Cmd=["true"])
    await env.engine.start(b)
    env.engine.rename("aa", "cc")
    assert env.engine.inspect(a).Name == "/cc"
    assert [e.Attributes.get("oldName") for e in env.events.history() if e.Action == "rename"] == ["/aa"]
    with pytest.raises(Conflict):
        env.engine.rename("cc", "bb")
    assert env.engine.volumes_in_use() == {"data": [a]}
    assert [m["Type"] for m in env.engine.inspect(a).Mounts] == ["volume", "bind"]
    assert await env.engine.prune() == [a]
    assert list(env.engine.live) == [b]


async def test_logs_of_every_run(env: Env) -> None:
    cid = await create(env, Cmd=["true"])
    await env.engine.start(cid)
    log = env.runtime.log_path(env.key(cid))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"2026-01-01T00:00:00.000000000Z stdout one\n2026-01-01T00:00:01.000000000Z stderr two\n")
    env.runtime.finish(env.key(cid), 0)
    await until(lambda: not env.engine.inspect(cid).State.Running)
    lines = [e async for e in env.engine.log_stream(cid)]
    assert [(s, m) for _, s, m in lines] == [("stdout", b"one"), ("stderr", b"two")]
    assert [m async for _, _, m in env.engine.log_stream(cid, tail=1)] == [b"two"]
    assert [m async for _, _, m in env.engine.log_stream(cid, stderr=False)] == [b"one"]
    lines = [e async for e in env.engine.log_stream(cid, follow=True)]  # not running: ends at once
    assert len(lines) == 2


async def test_exec_needs_a_running_container(env: Env) -> None:
    cid = await create(env, Cmd=["true"])
    with pytest.raises(Conflict, match="is not running"):
        env.engine.exec_create(cid, {"Cmd": ["ls"]})
    with pytest.raises(NotFound, match="No such exec instance: x"):
        env.engine.exec_inspect("x")
    await asyncio.sleep(0)
