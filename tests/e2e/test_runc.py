"""End-to-end tests of the runc runtime: real runc, overlayfs, namespaces and cgroups (root only)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import pytest

from shoal.agent import logs
from shoal.api.ids import new_id
from shoal.api.types import ContainerSpec, ResourceRequirements, Resources, Task, TaskSpec
from shoal.network.default import DefaultBridge
from shoal.network.node import NodeNetwork
from shoal.network.sandbox import Sandbox
from shoal.runtime import logs as runtime_logs
from shoal.runtime.base import RuntimeError_, TaskFile
from shoal.runtime.images import ImageStore
from shoal.runtime.runc import RuncRuntime as Runc
from tests.e2e.conftest import mounts_under

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static is not installed"),
]

APPLETS = ["sh", "sleep", "httpd", "hostname", "cat", "ip", "echo", "id", "ls", "pwd", "true", "env",
           "readlink", "grep", "mount", "touch"]
IMAGE = "busy:latest"


class RuncRuntime(Runc):
    """runc with the node's network, driven as the agent's executor does: the task's sandbox is made
    before ``prepare`` and removed after ``remove``."""

    def __init__(self, data_root: Path, exec_root: Path, images: ImageStore) -> None:
        super().__init__(data_root, exec_root, images)
        self.network = NodeNetwork(exec_root)

    def netns_path(self, task_id: str) -> Path:
        return self.network.netns_path(task_id)

    async def default_bridge(self) -> DefaultBridge:
        return await self.network.default_bridge()

    async def prepare(self, task: Task, files: Sequence[TaskFile] = (), sandbox: Sandbox | None = None) -> None:
        sb = await self.network.create_sandbox(task)
        try:
            await super().prepare(task, files, sb)
        except BaseException:
            await self.network.remove_sandbox(task.ID)
            raise

    async def remove(self, task_id: str, keep_logs: bool = False) -> None:
        try:
            await super().remove(task_id, keep_logs)
        finally:
            await self.network.remove_sandbox(task_id)

    async def cleanup(self) -> None:
        await super().cleanup()
        await self.network.cleanup()

    async def close(self) -> None:
        await super().close()
        await self.network.close()


def _rootfs_tar(extra_applets: Sequence[str] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "work"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tf.addfile(info)
        tf.add("/bin/busybox", arcname="bin/busybox")
        for a in [*APPLETS, *extra_applets]:
            info = tarfile.TarInfo(f"bin/{a}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tf.addfile(info)
        for name, text in {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
            "etc/group": "root:x:0:\nwww:x:33:\nstaff:x:50:www\n",
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> ImageStore:
    store = ImageStore(tmp_path_factory.mktemp("images"))
    changes = ['CMD ["sh","-c","echo hello; sleep 1000"]', "ENV FROM_IMAGE=yes", "WORKDIR /work"]
    store.import_tar(io.BytesIO(_rootfs_tar()), repo="busy", tag="latest", changes=changes)
    return store


@pytest.fixture
def exec_root() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="shoal-test-", dir="/run"))
    yield d
    # Whatever the runtime left mounted under it goes too (it should be only the netns dir mount).
    for m in mounts_under(d):
        subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
async def rt(tmp_path: Path, exec_root: Path, images: ImageStore) -> AsyncIterator[RuncRuntime]:
    r = RuncRuntime(tmp_path / "data", exec_root, images)
    await r.cleanup()
    try:
        yield r
    finally:
        ids = list(r.containers)
        for tid in ids:
            with contextlib.suppress(Exception):
                await r.remove(tid)
        await r.cleanup()  # anything that failed half-way (and runc state, netns files, mounts)
        await r.close()
        assert not mounts_under(tmp_path), "mounts left under the data root"


def make_task(command: list[str] | None = None, args: list[str] | None = None, *,
              resources: ResourceRequirements | None = None, image: str = IMAGE, **spec: object) -> Task:
    cs = ContainerSpec(Image=image, Command=command, Args=args, **spec)  # type: ignore[arg-type]
    return Task(ID=new_id(), Spec=TaskSpec(Containers=[cs], Resources=resources))


def sh(script: str, **spec: object) -> Task:
    return make_task(["sh", "-c", script], **spec)  # type: ignore[arg-type]


async def wait_log(rt: RuncRuntime, task_id: str, pred: Callable[[list[logs.LogLine]], bool],
                   timeout: float = 10.0) -> list[logs.LogLine]:
    deadline = time.monotonic() + timeout
    while True:
        lines, _ = logs.read(rt.log_path(task_id))
        if pred(lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"log condition not met; log: {lines}")
        await asyncio.sleep(0.05)


def out(lines: list[logs.LogLine], stream: str = "stdout") -> list[str]:
    return [ll.message.decode() for ll in lines if ll.stream == stream]


async def run_to_exit(rt: RuncRuntime, task: Task, timeout: float = 20.0) -> tuple[int, list[logs.LogLine]]:
    await rt.prepare(task)
    await rt.start(task)
    code = await asyncio.wait_for(rt.wait(task.ID), timeout)
    lines, _ = logs.read(rt.log_path(task.ID))
    return code, lines


# ---------------------------------------------------------------- namespaces


@pytest.mark.e2e
async def test_the_default_bridge_address_is_chosen_from_the_daemons_loop(
        tmp_path: Path, exec_root: Path, images: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --bip or $SHOAL_BIP the runtime asks netlink which of Docker's candidates is free; it
    must do so from a thread (pyroute2's IPRoute cannot run inside the daemon's event loop: a
    daemon started without either once died at its first step). Nothing is made here."""
    monkeypatch.delenv("SHOAL_BIP", raising=False)
    r = RuncRuntime(tmp_path / "data", exec_root, images)
    bridge = await r.default_bridge()
    assert str(bridge.subnet).startswith("172.") and bridge.subnet.prefixlen == 16
    assert await r.default_bridge() is bridge


@pytest.mark.e2e
async def test_own_namespaces_hostname_and_the_default_bridge(rt: RuncRuntime) -> None:
    """A task of its own namespaces; without networks it has loopback and eth0 on the node's default
    bridge (as Docker's docker0), its address from the suite's pool and the bridge as its way out."""
    task = sh("hostname; echo dev; cat /proc/net/dev; echo link; ip -o link; echo addr; ip -o -4 addr; "
              "echo route; ip route; echo done; sleep 1000")
    await rt.prepare(task)
    started = await rt.start(task)
    assert started.container_id == task.ID
    pid = started.pid
    for ns in ("pid", "mnt", "uts", "ipc", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    # The network namespace is the one bound under <exec_root>/netns.
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(rt.netns_path(task.ID)).st_ino
    # No shim: the container's init is our child.
    with open(f"/proc/{pid}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    assert ppid == os.getpid()
    lines = await wait_log(rt, task.ID, lambda ls: "done" in out(ls))
    stdout = out(lines)
    assert stdout[0] == task.ID[:12]
    dev = stdout[stdout.index("dev") + 1:stdout.index("link")]
    assert sorted(ln.split(":")[0].strip() for ln in dev[2:]) == ["eth0", "lo"], dev  # after two header lines
    links = stdout[stdout.index("link") + 1:stdout.index("addr")]
    assert len(links) == 2 and " lo: " in links[0] and "UP" in links[0], links
    addrs = " ".join(stdout[stdout.index("addr") + 1:stdout.index("route")])
    assert "eth0" in addrs and "inet 10.213.240.2/24" in addrs, addrs  # SHOAL_BIP=10.213.240.1/24 (conftest)
    routes = stdout[stdout.index("route") + 1:stdout.index("done")]
    assert "default via 10.213.240.1 dev eth0" in [r.strip() for r in routes], routes


@pytest.mark.e2e
async def test_hostname_env_user_and_workdir(rt: RuncRuntime) -> None:
    task = make_task(args=["sh", "-c", 'hostname; echo "$FROM_IMAGE $MINE $HOSTNAME"; pwd; id -u; id -G; '
                           "cat /etc/hosts"],
                     Hostname="web-1", Env=["MINE=set"], User="www")
    code, lines = await run_to_exit(rt, task)
    stdout = out(lines)
    assert code == 0, lines
    assert stdout[:5] == ["web-1", "yes set web-1", "/work", "33", "33 50"]
    assert any(ln.split() == ["127.0.0.1", "web-1"] for ln in stdout)


@pytest.mark.e2e
async def test_docker_default_capabilities_and_mounts(rt: RuncRuntime, tmp_path: Path) -> None:
    from shoal.api.types import Mount

    host_dir = tmp_path / "shared"
    host_dir.mkdir()
    (host_dir / "hello.txt").write_text("from the host\n")
    task = sh("grep -E '^Cap(Eff|Bnd):' /proc/self/status; cat /data/hello.txt; touch /data/x || echo ro-ok; "
              "grep -E ' /(scratch|data) ' /proc/mounts",
              Mounts=[Mount(Type="bind", Source=str(host_dir), Target="/data", ReadOnly=True),
                      Mount(Type="tmpfs", Target="/scratch")])
    code, lines = await run_to_exit(rt, task)
    stdout = out(lines)
    assert code == 0, lines
    docker_default = "00000000a80425fb"  # Docker's 14 default capabilities
    assert sorted(ln.split()[0] for ln in stdout[:2]) == ["CapBnd:", "CapEff:"]
    assert [ln.split()[1] for ln in stdout[:2]] == [docker_default, docker_default]
    assert stdout[2:4] == ["from the host", "ro-ok"]
    mounts = {ln.split()[1]: ln.split() for ln in stdout[4:]}
    assert mounts["/data"][3].startswith("ro")
    assert mounts["/scratch"][2] == "tmpfs"


@pytest.mark.e2e
async def test_many_containers_at_once(rt: RuncRuntime) -> None:
    tasks = [sh(f"echo {i}; exit {i}") for i in range(12)]
    await asyncio.gather(*(rt.prepare(t) for t in tasks))
    await asyncio.gather(*(rt.start(t) for t in tasks))
    codes = await asyncio.wait_for(asyncio.gather(*(rt.wait(t.ID) for t in tasks)), 30)
    assert codes == list(range(12))
    for i, t in enumerate(tasks):
        assert out(logs.read(rt.log_path(t.ID))[0]) == [str(i)]
    await asyncio.gather(*(rt.remove(t.ID) for t in tasks))


@pytest.mark.e2e
async def test_init_runs_tini_as_pid_1(rt: RuncRuntime) -> None:
    if not os.path.exists("/usr/bin/tini-static"):
        pytest.skip("tini-static is not installed")
    task = sh("readlink /proc/1/exe; echo $PPID", Init=True)
    code, lines = await run_to_exit(rt, task)
    assert code == 0
    assert out(lines) == ["/sbin/docker-init", "1"]  # tini is pid 1, the command its child


# ---------------------------------------------------------------- cgroups


@pytest.mark.e2e
async def test_cgroup_limits(rt: RuncRuntime) -> None:
    mem = 64 * 1024 * 1024
    res = ResourceRequirements(Limits=Resources(MemoryBytes=mem, NanoCPUs=500_000_000, Pids=64))
    task = sh("sleep 1000", resources=res)
    await rt.prepare(task)
    started = await rt.start(task)
    base = Path("/sys/fs/cgroup")
    assert int((base / "memory/shoal" / task.ID / "memory.limit_in_bytes").read_text()) == mem
    assert int((base / "cpu/shoal" / task.ID / "cpu.cfs_quota_us").read_text()) == 50_000
    assert int((base / "cpu/shoal" / task.ID / "cpu.cfs_period_us").read_text()) == 100_000
    assert int((base / "pids/shoal" / task.ID / "pids.max").read_text()) == 64
    with open(f"/proc/{started.pid}/cgroup") as f:
        assert f"/shoal/{task.ID}" in f.read()


# ---------------------------------------------------------------- stop


@pytest.mark.e2e
async def test_stop_term_trapped_exits_quickly(rt: RuncRuntime) -> None:
    task = sh('trap "echo bye; exit 0" TERM; echo ready; sleep 1000 & wait')
    await rt.prepare(task)
    await rt.start(task)
    await wait_log(rt, task.ID, lambda ls: "ready" in out(ls))
    t0 = time.monotonic()
    await rt.stop(task.ID, "", 10.0)
    elapsed = time.monotonic() - t0
    assert await rt.wait(task.ID) == 0
    assert elapsed < 3.0
    assert "bye" in out(logs.read(rt.log_path(task.ID))[0])


@pytest.mark.e2e
async def test_stop_term_ignored_is_killed_after_grace(rt: RuncRuntime) -> None:
    task = sh('trap "" TERM; echo ready; sleep 1000')
    await rt.prepare(task)
    await rt.start(task)
    await wait_log(rt, task.ID, lambda ls: "ready" in out(ls))
    grace = 1.0
    t0 = time.monotonic()
    await rt.stop(task.ID, "SIGTERM", grace)
    elapsed = time.monotonic() - t0
    assert await rt.wait(task.ID) == 137
    assert grace <= elapsed < grace + 3.0


# ---------------------------------------------------------------- logs and exit codes


@pytest.mark.e2e
async def test_stdout_and_stderr_land_in_the_log(rt: RuncRuntime) -> None:
    code, lines = await run_to_exit(rt, sh("echo out1; echo err1 >&2; echo out2; echo err2 >&2"))
    assert code == 0
    assert out(lines, "stdout") == ["out1", "out2"]
    assert out(lines, "stderr") == ["err1", "err2"]


@pytest.mark.e2e
async def test_image_cmd_is_used(rt: RuncRuntime) -> None:
    task = make_task()
    await rt.prepare(task)
    await rt.start(task)
    await wait_log(rt, task.ID, lambda ls: out(ls) == ["hello"])
    await rt.stop(task.ID, "KILL", 5.0)
    assert await rt.wait(task.ID) == 137


@pytest.mark.e2e
async def test_exit_code(rt: RuncRuntime) -> None:
    code, _ = await run_to_exit(rt, sh("exit 3"))
    assert code == 3


@pytest.mark.e2e
async def test_missing_executable_fails_start(rt: RuncRuntime) -> None:
    task = make_task(["/nope"])
    await rt.prepare(task)
    with pytest.raises(RuntimeError_) as ei:
        await rt.start(task)
    assert "/nope" in ei.value.message
    assert not ei.value.reject


@pytest.mark.e2e
async def test_missing_image_is_rejected(rt: RuncRuntime) -> None:
    task = make_task(["true"], image="nosuchimage:1")
    with pytest.raises(RuntimeError_) as ei:
        await rt.prepare(task)
    assert ei.value.message == "No such image: nosuchimage:1"
    assert ei.value.reject
    assert not rt.bundle_path(task.ID).exists()


@pytest.mark.e2e
async def test_unknown_user_fails_prepare_without_leftovers(rt: RuncRuntime, tmp_path: Path) -> None:
    task = sh("true", User="nobody-here")
    with pytest.raises(RuntimeError_, match="unable to find user nobody-here"):
        await rt.prepare(task)
    assert not rt.bundle_path(task.ID).exists()
    assert not rt.netns_path(task.ID).exists()
    assert not mounts_under(tmp_path)


# ---------------------------------------------------------------- removal and recovery


def _leftovers(rt: RuncRuntime, task_id: str, pid: int) -> list[str]:
    found = []
    if mounts_under(rt.bundle_path(task_id)):
        found.append("mounts under the task dir")
    with open("/proc/mounts") as f:
        if task_id in f.read():
            found.append("/proc/mounts mentions the task")
    if rt.bundle_path(task_id).exists():
        found.append("task dir")
    if rt.netns_path(task_id).exists():
        found.append("netns file")
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/shoal/{task_id}")]
    if (rt.state_root / task_id).exists():
        found.append("runc state dir")
    r = subprocess.run(["runc", "--root", str(rt.state_root), "list", "-q"], capture_output=True, text=True)
    if task_id in r.stdout.split():
        found.append("runc list")
    if rt.log_path(task_id).exists():
        found.append("log file")
    if os.path.exists(f"/proc/{pid}"):
        found.append(f"process {pid}")
    return found


@pytest.mark.e2e
async def test_remove_leaves_nothing(rt: RuncRuntime) -> None:
    task = sh("echo up; sleep 1000")
    await rt.prepare(task)
    started = await rt.start(task)
    await wait_log(rt, task.ID, lambda ls: "up" in out(ls))
    assert mounts_under(rt.bundle_path(task.ID))
    await rt.remove(task.ID)
    assert _leftovers(rt, task.ID, started.pid) == []


@pytest.mark.e2e
async def test_remove_after_exit_and_without_start(rt: RuncRuntime) -> None:
    a = sh("exit 0")
    code, _ = await run_to_exit(rt, a)
    assert code == 0
    b = sh("true")
    await rt.prepare(b)
    await rt.remove(a.ID)
    await rt.remove(b.ID)
    assert _leftovers(rt, a.ID, 0) == []
    assert _leftovers(rt, b.ID, 0) == []


@pytest.mark.e2e
async def test_cleanup_recovers_after_a_crash(rt: RuncRuntime, tmp_path: Path, exec_root: Path,
                                              images: ImageStore) -> None:
    task = sh("sleep 1000")
    await rt.prepare(task)
    started = await rt.start(task)
    # A new daemon on the same roots: it does not know the container, cleanup removes it all.
    fresh = RuncRuntime(tmp_path / "data", exec_root, images)
    await fresh.cleanup()
    code = await asyncio.wait_for(rt.wait(task.ID), 10)
    assert code == 137
    rt.containers.pop(task.ID)
    runtime_logs.remove(rt.log_path(task.ID))
    assert _leftovers(rt, task.ID, started.pid) == []


@pytest.mark.e2e
async def test_a_mount_left_in_the_bundle_keeps_its_contents_until_cleanup(rt: RuncRuntime, tmp_path: Path,
                                                                           exec_root: Path, images: ImageStore) -> None:
    """A task's teardown unmounts only what the runtime mounted (by name, without the mount table) and
    never deletes through another mount; the next start's cleanup unmounts what was left."""
    task = sh("sleep 1000")
    await rt.prepare(task)
    started = await rt.start(task)
    surprise = rt.bundle_path(task.ID) / "extra" / "mnt"
    surprise.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(surprise)], check=True)
    (surprise / "kept").write_text("kept")
    await rt.remove(task.ID)
    assert (surprise / "kept").read_text() == "kept"
    assert sorted(p.name for p in rt.bundle_path(task.ID).iterdir()) == ["extra"]  # the rest went
    assert not mounts_under(rt.bundle_path(task.ID) / "rootfs")
    fresh = RuncRuntime(tmp_path / "data", exec_root, images)
    await fresh.cleanup()
    assert _leftovers(rt, task.ID, started.pid) == []
