"""End-to-end tests of the docker runtime against a real dockerd of their own (root only).

The dockerd (``dockerd.py``) runs in a network namespace the tests create, with its own data and exec
roots; images come from shoal's image store. The runtime is driven as the agent drives it: prepare,
start, wait, stop, remove, probe, cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import msgspec
import pytest

from shoal.agent import logs
from shoal.api.types import (
    Mount,
    NetworkAttachment,
    ResourceRequirements,
    Resources,
    Task,
)
from shoal.network.node import NodeNetwork
from shoal.runtime.base import RuntimeError_, TaskFile
from shoal.runtime.docker import LABEL_OWNER, LABEL_SANDBOX, DockerRuntime
from shoal.runtime.images import ImageStore
from tests.e2e.conftest import mounts_under
from tests.e2e.dockerd import DOCKERD, Dockerd, running_dockerd
from tests.e2e.test_runc import _rootfs_tar, make_task, out, sh

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(DOCKERD is None, reason="dockerd is not installed (Debian's docker.io)"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static is not installed"),
]


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    with running_dockerd() as d:
        yield d


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> ImageStore:
    store = ImageStore(tmp_path_factory.mktemp("images"))
    changes = ['CMD ["sh","-c","echo hello; sleep 1000"]', "ENV FROM_IMAGE=yes", "WORKDIR /work",
               "HEALTHCHECK CMD true"]
    store.import_tar(io.BytesIO(_rootfs_tar(["dd", "stat", "ps"])), repo="busy", tag="latest", changes=changes)
    return store


@pytest.fixture
def client(dockerd: Dockerd) -> Iterator[docker.APIClient]:
    c = docker.APIClient(base_url=dockerd.host, version="auto")
    yield c
    c.close()


@pytest.fixture
def exec_root() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="shoal-test-", dir="/run"))
    yield d
    for m in mounts_under(d):
        subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
async def rt(tmp_path: Path, exec_root: Path, images: ImageStore, dockerd: Dockerd,
             client: docker.APIClient) -> AsyncIterator[DockerRuntime]:
    r = DockerRuntime(tmp_path / "data", exec_root, images, dockerd.host)
    await r.cleanup()
    try:
        yield r
    finally:
        for tid in list(r.containers):
            with contextlib.suppress(Exception):
                await r.remove(tid)
        await r.cleanup()
        await r.close()
        assert not mounts_under(tmp_path) and not mounts_under(exec_root), "mounts left"
        assert not client.containers(all=True, filters={"label": f"{LABEL_OWNER}={r.owner}"}), "containers left"


async def wait_out(rt: DockerRuntime, task_id: str, line: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = out(logs.read(rt.log_path(task_id))[0])
        if line in lines:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{line!r} not in the log: {lines}")
        await asyncio.sleep(0.05)


async def run_to_exit(rt: DockerRuntime, task: Task, files: list[TaskFile] | None = None,
                      timeout: float = 30.0) -> tuple[int, list[logs.LogLine]]:
    await rt.prepare(task, files or [])
    await rt.start(task)
    code = await asyncio.wait_for(rt.wait(task.ID), timeout)
    return code, logs.read(rt.log_path(task.ID))[0]


# ---------------------------------------------------------------- running


@pytest.mark.e2e
async def test_a_task_is_a_container_of_the_dockerd(rt: DockerRuntime, client: docker.APIClient) -> None:
    task = make_task(Labels={"team": "a"})
    await rt.prepare(task)
    started = await rt.start(task)
    lines = await wait_out(rt, task.ID, "hello")  # the image's CMD
    assert lines == ["hello"]
    info = client.inspect_container(started.container_id)
    assert info["State"]["Running"] and info["State"]["Pid"] == started.pid
    labels = info["Config"]["Labels"]
    assert labels["team"] == "a" and labels["io.shoal.task.id"] == task.ID
    assert labels["com.docker.swarm.task.id"] == task.ID
    assert info["HostConfig"]["NetworkMode"] == "none"
    assert info["Config"]["Healthcheck"]["Test"] == ["NONE"]  # the agent probes, not dockerd
    # The image was loaded into the dockerd under its ID, with its tag.
    assert client.inspect_image("busy:latest")["Id"] == rt.images.must("busy:latest").id
    await rt.stop(task.ID, "", 1.0)  # sh as pid 1 ignores SIGTERM: SIGKILL after the grace period
    assert await rt.wait(task.ID) == 137


@pytest.mark.e2e
async def test_a_task_joins_its_sandbox_through_a_pause_container(rt: DockerRuntime, client: docker.APIClient,
                                                                  exec_root: Path) -> None:
    """The node's network has the runtime hold the task's namespace in a pause container, wires it (the
    default bridge here) before the task's container is made, and that container runs in it: eth0 with
    the sandbox's address, the sandbox's hostname, hosts and resolv.conf. Both containers, the
    namespace and the veth go with the task."""
    network = NodeNetwork(exec_root, holder=rt)
    task = make_task(args=["sh", "-c", "hostname; ip -o -4 addr; ip route; cat /etc/resolv.conf /etc/hosts; "
                           "echo done; sleep 1000"], Hostname="sb-1", Hosts=["10.213.9.9 db"])
    sb = await network.create_sandbox(task)
    try:
        await rt.prepare(task, [], sb)
        started = await rt.start(task)
        lines = await wait_out(rt, task.ID, "done")
        assert lines[0] == "sb-1", lines
        text = "\n".join(lines)
        (addr,) = sb.addresses
        assert f"inet {addr}" in text and "eth0" in text, lines
        assert "default via " in text and "nameserver 127.0.0.11" in lines and "options ndots:0" in lines, lines
        assert any(ln.split() == ["10.213.9.9", "db"] for ln in lines), lines
        pause = rt.pauses[task.ID]
        info = client.inspect_container(started.container_id)
        assert info["HostConfig"]["NetworkMode"] == f"container:{pause}"
        assert os.stat(f"/proc/{started.pid}/ns/net").st_ino == os.stat(network.netns_path(task.ID)).st_ino
        held = client.inspect_container(pause)
        assert held["Config"]["Labels"][LABEL_SANDBOX] == task.ID and held["HostConfig"]["NetworkMode"] == "none"
    finally:
        await rt.remove(task.ID)
        await network.remove_sandbox(task.ID)
        await network.close()
    assert not client.containers(all=True, filters={"label": f"{LABEL_SANDBOX}={task.ID}"})
    assert not network.netns_path(task.ID).exists()
    assert not subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.count(
        f"sv{task.ID[:11]}")


@pytest.mark.e2e
async def test_hostname_env_user_and_workdir(rt: DockerRuntime) -> None:
    task = make_task(args=["sh", "-c", 'hostname; echo "$FROM_IMAGE $MINE $HOSTNAME"; pwd; id -u; id -G; '
                           "cat /etc/hosts"],
                     Hostname="web-1", Env=["MINE=set"], User="www", Hosts=["10.213.9.9 db alias"])
    code, lines = await run_to_exit(rt, task)
    stdout = out(lines)
    assert code == 0, lines
    assert stdout[:5] == ["web-1", "yes set web-1", "/work", "33", "33 50"]
    assert any(ln.split() == ["10.213.9.9", "db"] for ln in stdout), stdout


@pytest.mark.e2e
async def test_stdout_stderr_and_exit_code(rt: DockerRuntime) -> None:
    code, lines = await run_to_exit(rt, sh("echo out1; echo err1 >&2; echo out2; printf partial; exit 3"))
    assert code == 3
    assert out(lines, "stdout") == ["out1", "out2", "partial"]
    assert out(lines, "stderr") == ["err1"]


@pytest.mark.e2e
async def test_command_replaces_entrypoint_and_init(rt: DockerRuntime) -> None:
    code, lines = await run_to_exit(rt, sh("readlink /proc/1/exe; echo $PPID", Init=True))
    assert code == 0
    assert out(lines) == ["/sbin/docker-init", "1"]


@pytest.mark.e2e
async def test_missing_image_networks_and_executable(rt: DockerRuntime) -> None:
    with pytest.raises(RuntimeError_) as ei:
        await rt.prepare(make_task(["true"], image="nosuchimage:1"))
    assert ei.value.message == "No such image: nosuchimage:1" and ei.value.reject
    networked = sh("true")
    networked.NetworksAttachments = [msgspec.convert({"Network": {"ID": "n1", "Spec": {"Name": "front"}}},
                                                     NetworkAttachment)]
    with pytest.raises(RuntimeError_) as ei:
        await rt.prepare(networked)
    assert ei.value.reject and "networks" in ei.value.message and "front" in ei.value.message
    task = make_task(["/nope"])
    await rt.prepare(task)
    with pytest.raises(RuntimeError_) as ei:
        await rt.start(task)
    assert "starting container failed" in ei.value.message and "/nope" in ei.value.message
    assert not ei.value.reject


@pytest.mark.e2e
async def test_many_containers_at_once(rt: DockerRuntime) -> None:
    tasks = [sh(f"echo {i}; exit {i}") for i in range(12)]
    await asyncio.gather(*(rt.prepare(t) for t in tasks))  # one image load for all of them
    await asyncio.gather(*(rt.start(t) for t in tasks))
    codes = await asyncio.wait_for(asyncio.gather(*(rt.wait(t.ID) for t in tasks)), 60)
    assert codes == list(range(12))
    for i, t in enumerate(tasks):
        assert out(logs.read(rt.log_path(t.ID))[0]) == [str(i)]
    await asyncio.gather(*(rt.remove(t.ID) for t in tasks))


# ---------------------------------------------------------------- stop, OOM


@pytest.mark.e2e
async def test_stop_signal_trapped_exits_quickly(rt: DockerRuntime) -> None:
    task = sh('trap "echo bye; exit 0" TERM; echo ready; sleep 1000 & wait')
    await rt.prepare(task)
    await rt.start(task)
    await wait_out(rt, task.ID, "ready")
    t0 = time.monotonic()
    await rt.stop(task.ID, "", 10.0)
    assert time.monotonic() - t0 < 3.0
    assert await rt.wait(task.ID) == 0
    assert "bye" in out(logs.read(rt.log_path(task.ID))[0])


@pytest.mark.e2e
async def test_stop_signal_of_the_spec_then_sigkill_after_grace(rt: DockerRuntime) -> None:
    task = sh('trap "echo got-usr1" USR1; trap "" TERM; echo ready; while true; do sleep 0.1; done',
              StopSignal="SIGUSR1")
    await rt.prepare(task)
    await rt.start(task)
    await wait_out(rt, task.ID, "ready")
    t0 = time.monotonic()
    await rt.stop(task.ID, "SIGUSR1", 1.0)
    elapsed = time.monotonic() - t0
    assert await rt.wait(task.ID) == 137
    assert 1.0 <= elapsed < 4.0
    assert "got-usr1" in out(logs.read(rt.log_path(task.ID))[0])


@pytest.mark.e2e
async def test_limits_and_oom_kill_is_137(rt: DockerRuntime, client: docker.APIClient) -> None:
    res = ResourceRequirements(Limits=Resources(MemoryBytes=16 << 20, NanoCPUs=500_000_000, Pids=64),
                               Reservations=Resources(MemoryBytes=8 << 20))
    task = sh("echo up; sleep 1000", resources=res)
    await rt.prepare(task)
    started = await rt.start(task)
    hc = client.inspect_container(started.container_id)["HostConfig"]
    assert (hc["Memory"], hc["MemoryReservation"], hc["CpuQuota"], hc["CpuPeriod"], hc["PidsLimit"]) == (
        16 << 20, 8 << 20, 50_000, 100_000, 64)
    await rt.remove(task.ID)
    hog = sh("dd if=/dev/zero of=/dev/null bs=64M count=1", resources=res)
    code, _ = await run_to_exit(rt, hog)
    assert code == 137
    assert client.inspect_container(f"shoal-{hog.ID}")["State"]["OOMKilled"]


# ---------------------------------------------------------------- mounts and files


@pytest.mark.e2e
async def test_bind_volume_and_tmpfs_mounts(rt: DockerRuntime, tmp_path: Path) -> None:
    host_dir = tmp_path / "shared"
    host_dir.mkdir()
    (host_dir / "hello.txt").write_text("from the host\n")
    task = sh("cat /data/hello.txt; touch /data/x || echo ro-ok; echo kept > /vol/f; echo anon > /anon/f; "
              "grep -E ' /(scratch|data|vol|anon) ' /proc/mounts",
              Mounts=[Mount(Type="bind", Source=str(host_dir), Target="/data", ReadOnly=True),
                      Mount(Type="tmpfs", Target="/scratch", TmpfsOptions={"SizeBytes": 1 << 20}),
                      Mount(Type="volume", Source="appdata", Target="/vol"),
                      Mount(Type="volume", Target="/anon")])
    await rt.prepare(task)
    assert rt.volumes_in_use() == {"appdata": [task.ID]}
    await rt.start(task)
    code = await asyncio.wait_for(rt.wait(task.ID), 30)
    stdout = out(logs.read(rt.log_path(task.ID))[0])
    assert code == 0, stdout
    assert stdout[:2] == ["from the host", "ro-ok"]
    mounts = {ln.split()[1]: ln.split() for ln in stdout[2:]}
    assert mounts["/data"][3].startswith("ro")
    assert mounts["/scratch"][2] == "tmpfs" and "size=1024k" in mounts["/scratch"][3]
    # The named volume is the node's (shoal's ``docker volume``), and outlives the task; the
    # anonymous one goes with it.
    assert (rt.volumes.data_path("appdata") / "f").read_text() == "kept\n"
    anon = list((rt.task_dir(task.ID) / "volumes").glob("*/_data/f"))
    assert [p.read_text() for p in anon] == ["anon\n"]
    await rt.remove(task.ID)
    assert not rt.task_dir(task.ID).exists()
    assert (rt.volumes.data_path("appdata") / "f").exists()


@pytest.mark.e2e
async def test_secret_and_config_files_with_their_mode(rt: DockerRuntime) -> None:
    files = [TaskFile("secret", "db_pass", "/run/secrets/db_pass", b"s3cret", uid=33, gid=33, mode=0o400),
             TaskFile("config", "site", "/etc/site.conf", b"listen 80\n", mode=0o440)]
    task = sh("stat -c '%a %u %g %n' /run/secrets/db_pass /etc/site.conf; cat /run/secrets/db_pass; echo; "
              "cat /etc/site.conf; echo x > /run/secrets/new || echo ro-ok; sleep 1000")
    await rt.prepare(task, files)
    assert mounts_under(rt.files_path(task.ID))  # a tmpfs of the task's own, not the disk
    await rt.start(task)
    lines = await wait_out(rt, task.ID, "ro-ok")
    assert lines == ["400 33 33 /run/secrets/db_pass", "440 0 0 /etc/site.conf", "s3cret", "listen 80", "ro-ok"]
    await rt.stop(task.ID, "KILL", 5.0)
    assert await rt.wait(task.ID) == 137
    assert not mounts_under(rt.files_path(task.ID))  # unmounted once the container has exited


# ---------------------------------------------------------------- healthcheck probes


@pytest.mark.e2e
async def test_probe_runs_in_the_container(rt: DockerRuntime, client: docker.APIClient) -> None:
    task = sh("echo up; sleep 1000", User="www", Dir="/tmp")
    await rt.prepare(task)
    started = await rt.start(task)
    await wait_out(rt, task.ID, "up")
    assert rt.image_healthcheck(task.ID)["Test"] == ["CMD-SHELL", "true"]  # type: ignore[index]
    assert await rt.probe(task.ID, ["sh", "-c", "id -u; pwd"], 5.0) == (0, "33\n/tmp\n")
    assert await rt.probe(task.ID, ["sh", "-c", "echo sick; exit 2"], 5.0) == (2, "sick\n")
    t0 = time.monotonic()
    code, msg = await rt.probe(task.ID, ["sleep", "77"], 1.0)
    assert (code, msg) == (-1, "Health check exceeded timeout (1s)")
    assert time.monotonic() - t0 < 3.0

    def probe_gone() -> bool:
        procs = client.top(started.container_id, ps_args="-eo pid,args")["Processes"] or []
        return not any("sleep 77" in " ".join(p) for p in procs)

    deadline = time.monotonic() + 5
    while not probe_gone():
        assert time.monotonic() < deadline, "the timed-out probe is still running"
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- removal and recovery


@pytest.mark.e2e
async def test_remove_leaves_nothing(rt: DockerRuntime, client: docker.APIClient) -> None:
    task = sh("echo up; sleep 1000")
    files = [TaskFile("secret", "s", "/run/secrets/s", b"x")]
    await rt.prepare(task, files)
    started = await rt.start(task)
    await wait_out(rt, task.ID, "up")
    await rt.remove(task.ID)
    assert not client.containers(all=True, filters={"id": started.container_id})
    assert not rt.files_path(task.ID).exists() and not rt.task_dir(task.ID).exists()
    assert not rt.log_path(task.ID).exists()
    assert not os.path.exists(f"/proc/{started.pid}")
    prepared = sh("true")
    await rt.prepare(prepared)
    await rt.remove(prepared.ID)  # never started
    assert not client.containers(all=True, filters={"label": f"io.shoal.task.id={prepared.ID}"})


@pytest.mark.e2e
async def test_cleanup_removes_what_a_crash_left(rt: DockerRuntime, tmp_path: Path, exec_root: Path,
                                                 images: ImageStore, dockerd: Dockerd,
                                                 client: docker.APIClient) -> None:
    task = sh("sleep 1000")
    await rt.prepare(task, [TaskFile("secret", "s", "/run/secrets/s", b"x")])
    started = await rt.start(task)
    # Another shoal daemon's container on the same dockerd is not this daemon's to remove.
    other = DockerRuntime(tmp_path / "other", exec_root / "other", images, dockerd.host)
    theirs = sh("sleep 1000")
    await other.prepare(theirs)
    # A new daemon on the same roots: it does not know the container; cleanup removes it.
    fresh = DockerRuntime(tmp_path / "data", exec_root, images, dockerd.host)
    await fresh.cleanup()
    await fresh.close()
    assert await asyncio.wait_for(rt.wait(task.ID), 20) == 137
    assert not client.containers(all=True, filters={"id": started.container_id})
    assert not rt.files_path(task.ID).exists()
    assert client.containers(all=True, filters={"label": f"io.shoal.task.id={theirs.ID}"})
    await other.remove(theirs.ID)
    await other.close()
    rt.containers.pop(task.ID)
