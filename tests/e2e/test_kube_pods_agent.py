"""End-to-end tests of Pods run for real: an in-process daemon (manager and agent) with runc, in a
network namespace of the test's own, given Pod tasks through the core Kubernetes API
(``daemon.kube().create``) with Secrets and ConfigMaps of the ``default`` namespace. What is asserted
is what happens inside the containers: the secret's bytes in a file and in the environment, an
emptyDir shared by two containers, the downward API, an OOM kill, a restarted container's previous
log, an exec, a connection dialled to a server in the Pod (root only)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from shoal.agent import logs
from shoal.api.kube import DEFAULT_NAMESPACE
from shoal.api.nodeinfo import LogOptions, LogSelector
from shoal.api.pod import (
    ConfigMapVolume,
    DownwardAPIFile,
    DownwardAPIVolume,
    EmptyDirVolume,
    EnvFromSource,
    EnvVarRef,
    HostPathVolume,
    KeyRef,
    KeyToPath,
    ObjectFieldRef,
    PodContainer,
    PodSpecExtra,
    ProjectedSource,
    ProjectedVolume,
    ResourceFieldRef,
    SecretVolume,
    Volume,
    VolumeMount,
)
from shoal.api.states import TaskState
from shoal.api.types import (
    Config,
    ConfigSpec,
    ContainerSpec,
    ContainerStatus,
    Placement,
    ResourceRequirements,
    Resources,
    Secret,
    SecretSpec,
    Task,
    TaskSpec,
)
from shoal.daemon import Daemon, DaemonConfig
from shoal.devcluster import DevCluster
from tests.support import free_port, named

from .conftest import make_rootfs, mounts_under

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static is not installed"),
]

IMAGE = "kpod:latest"
MORE_APPLETS = ["env", "test", "[", "touch", "wc", "stat", "printf", "grep", "head"]
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
SECRET_VALUE = "hunter2-" + uuid.uuid4().hex[:8]  # never on the node's disk


def _tmpfs_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    p = str(path)
    return [r[4] for r in rows if r[4].startswith(p + "/") and r[r.index("-") + 1] == "tmpfs"]


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """This thread (the event loop's) in the network namespace ``/run/netns/<name>``, and back after."""
    host = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        yield
    finally:
        _setns(host)
        os.close(host)
        os.close(target)


@contextlib.contextmanager
def own_netns() -> Iterator[str]:
    """This thread in a new network namespace of its own (loopback up), deleted after."""
    name = f"shk-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        with in_netns(name):
            yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def kpod_image(tmp_path: Path) -> bytes:
    """The test's busybox root filesystem (with a few more applets) as a tar."""
    root = make_rootfs(tmp_path / "rootfs")
    for a in MORE_APPLETS:
        (root / "bin" / a).symlink_to("busybox")
    return subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    exec_root = Path(tempfile.mkdtemp(prefix="shoal-kpod-", dir="/run"))
    with own_netns():
        cfg = DaemonConfig(data_root=tmp_path / "data", exec_root=exec_root, runtime="runc", hostname="kube-node-1",
                           pod_backoff=0.3)
        d = Daemon(cfg)
        await d.start()
        try:
            d.images.import_tar(io.BytesIO(kpod_image(tmp_path)), "kpod", "latest", ['CMD ["sh"]'])
            await d.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
            await until(lambda: d.manager is not None and named(d.manager.kube, "namespaces", DEFAULT_NAMESPACE),
                        "the default namespace")
            yield d
        finally:
            with contextlib.suppress(Exception):
                await d.stop()
            for m in mounts_under(exec_root) + mounts_under(tmp_path):
                subprocess.run(["umount", "-l", m], check=False)
            shutil.rmtree(exec_root, ignore_errors=True)
    listed = subprocess.run(["runc", "--root", str(exec_root / "runc"), "list", "-q"], capture_output=True,
                            text=True).stdout.split()
    assert not listed, f"runc containers left: {listed}"


async def until(pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def task_of(d: Daemon, tid: str) -> Task:
    assert d.manager is not None
    t = d.manager.store.get(Task, tid)
    assert t is not None
    return t


def status(d: Daemon, tid: str, name: str) -> ContainerStatus | None:
    cs = task_of(d, tid).Status.Containers or []
    return next((c for c in cs if c.Name == name), None)


def log_text(d: Daemon, tid: str, name: str, previous: bool = False) -> str:
    path = d.runtime.log_path(f"{tid}.{name}" + (".previous" if previous else ""))
    return "\n".join(ll.message.decode() for ll in logs.read(path)[0])


def sh(name: str, script: str, mounts: list[VolumeMount] | None = None, **pod: object) -> ContainerSpec:
    return ContainerSpec(Name=name, Image=IMAGE, Command=["sh", "-c", script],
                         Pod=PodContainer(VolumeMounts=mounts, **pod))  # type: ignore[arg-type]


def pod(name: str, containers: list[ContainerSpec], volumes: list[Volume] | None = None, **extra: object) -> Task:
    return Task(ID="", Name=name, Namespace=DEFAULT_NAMESPACE, Labels={"app": "kpod"},
                Spec=TaskSpec(Containers=containers, Pod=PodSpecExtra(Volumes=volumes, **extra)))  # type: ignore[arg-type]


READER = """
while [ ! -f /data/from-writer ]; do sleep 0.05; done
echo "shared=$(cat /data/from-writer)"
[ "$(cat /etc/secret/password)" = "$PASSWORD" ] && echo "secret-file-matches-env"
echo "secret-len=$(cat /etc/secret/password | wc -c)"
echo "mode=$(stat -c %a /etc/secret/password)"
echo "item=$(cat /etc/cfg/sub/renamed)"
echo "single=$(cat /etc/single.conf)"
echo "proj-name=$(cat /etc/proj/podname)"
[ "$(cat /etc/proj/pw)" = "$PASSWORD" ] && echo "projected-secret-matches"
echo "labels=$(cat /etc/proj/labels)"
touch /etc/secret/new 2>/dev/null || echo "secret-volume-read-only"
grep -q ' /mem tmpfs' /proc/mounts && echo "mem-is-tmpfs"
echo "env color=$COLOR prefixed=$CM_size name=$POD_NAME ns=$POD_NS uid=$POD_UID ip=$POD_IP node=$NODE host=$HOST_IP"
echo "env label=$APP mem=$MEM_MI expanded=$EXPANDED missing=[$OPTIONAL_MISSING] arg=$1"
exec sleep 1000
"""


async def test_secrets_configmaps_env_and_volumes_inside_the_containers(daemon: Daemon, tmp_path: Path) -> None:
    kube = daemon.kube()
    await kube.create(Secret(ID="", Namespace=DEFAULT_NAMESPACE, Spec=SecretSpec(
        Name="creds", Type="Opaque", Items={"password": SECRET_VALUE.encode()})))
    await kube.create(Config(ID="", Namespace=DEFAULT_NAMESPACE, Spec=ConfigSpec(
        Name="settings", Items={"color": "blue", "size": "XL"})))
    host_dir = tmp_path / "host-made"
    volumes = [
        Volume(Name="shared", EmptyDir=EmptyDirVolume()),
        Volume(Name="mem", EmptyDir=EmptyDirVolume(Medium="Memory", SizeLimit=8 << 20)),
        Volume(Name="secret", Secret=SecretVolume(SecretName="creds", DefaultMode=0o400)),
        Volume(Name="cfg", ConfigMap=ConfigMapVolume(Name="settings", Items=[KeyToPath(Key="color",
                                                                                          Path="sub/renamed")])),
        Volume(Name="whole-cfg", ConfigMap=ConfigMapVolume(Name="settings")),
        Volume(Name="proj", Projected=ProjectedVolume(Sources=[
            ProjectedSource(Secret=SecretVolume(SecretName="creds", Items=[KeyToPath(Key="password", Path="pw")])),
            ProjectedSource(DownwardAPI=DownwardAPIVolume(Items=[
                DownwardAPIFile(Path="podname", FieldRef=ObjectFieldRef(FieldPath="metadata.name")),
                DownwardAPIFile(Path="labels", FieldRef=ObjectFieldRef(FieldPath="metadata.labels"))])),
        ])),
        Volume(Name="host", HostPath=HostPathVolume(Path=str(host_dir), Type="DirectoryOrCreate")),
    ]
    writer = sh("writer", "echo \"$(GREETING) from $(POD_NAME)\" > /data/from-writer; echo hi > /host/x; "
                          "exec sleep 1000",
                [VolumeMount(Name="shared", MountPath="/data"), VolumeMount(Name="host", MountPath="/host")],
                EnvRefs=[EnvVarRef(Name="POD_NAME", FieldRef=ObjectFieldRef(FieldPath="metadata.name"))])
    writer.Env = ["GREETING=hello"]
    reader = sh("reader", READER, [
        VolumeMount(Name="shared", MountPath="/data", ReadOnly=True),
        VolumeMount(Name="mem", MountPath="/mem"),
        VolumeMount(Name="secret", MountPath="/etc/secret"),
        VolumeMount(Name="cfg", MountPath="/etc/cfg"),
        VolumeMount(Name="whole-cfg", MountPath="/etc/single.conf", SubPath="color"),
        VolumeMount(Name="proj", MountPath="/etc/proj"),
    ], EnvFrom=[EnvFromSource(ConfigMapName="settings", Prefix="CM_")], EnvRefs=[
        EnvVarRef(Name="PASSWORD", SecretKeyRef=KeyRef(Name="creds", Key="password")),
        EnvVarRef(Name="COLOR", ConfigMapKeyRef=KeyRef(Name="settings", Key="color")),
        EnvVarRef(Name="OPTIONAL_MISSING", SecretKeyRef=KeyRef(Name="nope", Key="x", Optional=True)),
        EnvVarRef(Name="POD_NAME", FieldRef=ObjectFieldRef(FieldPath="metadata.name")),
        EnvVarRef(Name="POD_NS", FieldRef=ObjectFieldRef(FieldPath="metadata.namespace")),
        EnvVarRef(Name="POD_UID", FieldRef=ObjectFieldRef(FieldPath="metadata.uid")),
        EnvVarRef(Name="POD_IP", FieldRef=ObjectFieldRef(FieldPath="status.podIP")),
        EnvVarRef(Name="NODE", FieldRef=ObjectFieldRef(FieldPath="spec.nodeName")),
        EnvVarRef(Name="HOST_IP", FieldRef=ObjectFieldRef(FieldPath="status.hostIP")),
        EnvVarRef(Name="APP", FieldRef=ObjectFieldRef(FieldPath="metadata.labels['app']")),
        EnvVarRef(Name="MEM_MI", ResourceFieldRef=ResourceFieldRef(Resource="limits.memory", Divisor="1Mi")),
    ])
    reader.Env = ["EXPANDED=$(COLOR)-$$(NOT)-$(UNKNOWN)"]  # COLOR is a valueFrom: defined after the plain env
    reader.Args = ["x", "$(CM_size)"]
    reader.Resources = ResourceRequirements(Limits=Resources(MemoryBytes=64 << 20))
    t = await kube.create(pod("kpod-all", [writer, reader], volumes))

    await until(lambda: "env label" in log_text(daemon, t.ID, "reader"), "the reader's report", timeout=40)
    out = log_text(daemon, t.ID, "reader")
    cur = task_of(daemon, t.ID)
    assert cur.Status.State == TaskState.RUNNING, cur.Status
    ip = (cur.Status.Addresses or [""])[0]
    assert ip.startswith("100.64."), cur.Status.Addresses  # the node's block of the pod range (issue 16)
    assert cur.Status.StartedAt
    lines = set(out.splitlines())
    assert "shared=hello from kpod-all" in lines, out
    assert "secret-file-matches-env" in lines, out
    assert f"secret-len={len(SECRET_VALUE)}" in lines
    assert "mode=400" in lines
    assert "item=blue" in lines
    assert "single=blue" in lines
    assert "proj-name=kpod-all" in lines
    assert "projected-secret-matches" in lines
    assert 'labels=app="kpod"' in lines
    assert "secret-volume-read-only" in lines
    assert "mem-is-tmpfs" in lines
    assert (f"env color=blue prefixed=XL name=kpod-all ns=default uid={t.ID} ip={ip} node=kube-node-1 "
            "host=127.0.0.1" in lines), out
    assert "env label=kpod mem=64 expanded=$(COLOR)-$(NOT)-$(UNKNOWN) missing=[] arg=XL" in lines, out
    assert (host_dir / "x").read_text() == "hi\n"
    for name in ("writer", "reader"):
        st = status(daemon, t.ID, name)
        assert st is not None and st.State == "running" and st.StartedAt and st.Image == IMAGE
    # No byte of the secret is on the node's disk (the volume and the environment are in memory): not
    # under the data root, nor under the exec root outside its tmpfs mounts (runc's state included).
    data_root = Path(daemon.config.data_root)
    exec_root = Path(daemon.config.exec_root)
    in_memory = [Path(m) for m in _tmpfs_under(exec_root)]
    for root in (data_root, exec_root):
        for f in root.rglob("*"):
            if f.is_file() and not f.is_symlink() and not any(f.is_relative_to(m) for m in in_memory):
                with contextlib.suppress(OSError):
                    assert SECRET_VALUE.encode() not in f.read_bytes(), f

    # A Pod that asks for a key its Secret lacks waits, in Kubernetes' words.
    bad = sh("app", "sleep 1000", EnvRefs=[EnvVarRef(Name="X", SecretKeyRef=KeyRef(Name="creds", Key="nope"))])
    b = await kube.create(pod("kpod-bad", [bad]))

    def config_error() -> bool:
        st = status(daemon, b.ID, "app")
        return st is not None and st.Reason == "CreateContainerConfigError"

    await until(config_error, "CreateContainerConfigError")
    st = status(daemon, b.ID, "app")
    assert st is not None and st.State == "waiting"
    assert st.Message == "couldn't find key nope in Secret default/creds"
    assert task_of(daemon, b.ID).Status.State == TaskState.PREPARING

    # Deleting the Pod stops its containers (SIGTERM) and removes its volumes.
    await kube.delete("tasks", DEFAULT_NAMESPACE, "kpod-all", grace_seconds=5)
    await until(lambda: (daemon.manager is not None and daemon.manager.store.get(Task, t.ID) is None)
                or task_of(daemon, t.ID).Status.State.terminal, "the Pod's end")
    await until(lambda: not (data_root / "pods" / t.ID).exists(), "the Pod's volumes removed")
    assert not mounts_under(Path(daemon.config.exec_root) / "pods" / t.ID)


async def read_logs(d: Daemon, t: Task, container: str, previous: bool = False) -> list[str]:
    """The container's lines through the daemon's LogService (what ``kubectl logs [-c] [--previous]`` reads)."""
    out: list[str] = []
    async for e in d.logs().stream(LogSelector(task_id=t.ID, container=container), LogOptions(previous=previous)):
        out.append(e.message.decode())
    return out


async def collect(it: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in it])


OOM_ONCE = """
n=$(cat /data/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/runs
echo "run $n"
[ $n = 1 ] && exec dd if=/dev/zero of=/dev/null bs=64M count=1
exec sleep 1000
"""


async def test_oom_kill_previous_logs_exec_and_dial(daemon: Daemon, tmp_path: Path) -> None:
    kube = daemon.kube()
    term_dir = tmp_path / "term"
    oom = sh("oom", OOM_ONCE, [VolumeMount(Name="data", MountPath="/data")])
    oom.Resources = ResourceRequirements(Limits=Resources(MemoryBytes=16 << 20))
    web = sh("web", "trap 'echo got-term > /term/web; exit 0' TERM; httpd -f -p 8080 -h /www & wait",
             [VolumeMount(Name="term", MountPath="/term")])
    web.Resources = ResourceRequirements(Limits=Resources(NanoCPUs=500_000_000))  # limits.cpu: 500m
    t = await kube.create(pod("kpod-oom", [oom, web], [
        Volume(Name="data", EmptyDir=EmptyDirVolume()),
        Volume(Name="term", HostPath=HostPathVolume(Path=str(term_dir), Type="DirectoryOrCreate"))],
        RestartPolicy="OnFailure"))

    def restarted() -> bool:
        st = status(daemon, t.ID, "oom")
        return st is not None and st.RestartCount == 1 and st.State == "running"

    await until(restarted, "the OOM-killed container's restart")
    st = status(daemon, t.ID, "oom")
    assert st is not None and st.LastState is not None, st
    assert (st.LastState.Reason, st.LastState.ExitCode) == ("OOMKilled", 137), st.LastState
    assert st.LastState.StartedAt and st.LastState.FinishedAt
    await until(lambda: "run 2" in log_text(daemon, t.ID, "oom"), "the second run's log")
    assert await read_logs(daemon, t, "oom") == ["run 2"]
    assert await read_logs(daemon, t, "oom", previous=True) == ["run 1"]  # killed before "not killed"
    assert task_of(daemon, t.ID).Status.State == TaskState.RUNNING
    # Each container has its own cgroup with its own limits.
    quotas = [q for q in (Path(f"/sys/fs/cgroup/cpu/shoal/{t.ID}.web/cpu.cfs_quota_us"),
                          Path(f"/sys/fs/cgroup/shoal/{t.ID}.web/cpu.max")) if q.exists()]
    assert quotas and quotas[0].read_text().split()[0] == "50000"
    mems = [m for m in (Path(f"/sys/fs/cgroup/memory/shoal/{t.ID}.oom/memory.limit_in_bytes"),
                        Path(f"/sys/fs/cgroup/shoal/{t.ID}.oom/memory.max")) if m.exists()]
    assert mems and int(mems[0].read_text()) == 16 << 20

    # exec: pipes, stdin, the exit code; and with a TTY.
    session = await kube.exec(task_of(daemon, t.ID), "web", ["sh", "-c", "echo out-$(hostname); echo err >&2; cat; "
                                                                     "exit 3"], stdin=True)
    out_task = asyncio.ensure_future(collect(session.stdout()))
    err_task = asyncio.ensure_future(collect(session.stderr()))
    await session.write_stdin(b"piped\n")
    await session.close_stdin()
    assert await asyncio.wait_for(session.wait(), 10) == 3
    out, err = await out_task, await err_task
    assert out.decode().splitlines() == [f"out-{task_of(daemon, t.ID).Spec.Hostname or t.ID[:12]}", "piped"], out
    assert err == b"err\n"
    tty = await kube.exec(task_of(daemon, t.ID), "web", ["sh", "-c", "tty; echo tty-ok"], tty=True)
    await tty.resize(100, 30)
    text = (await asyncio.wait_for(collect(tty.stdout()), 10)).decode()
    assert await tty.wait() == 0
    assert "/dev/pts/" in text and "tty-ok" in text, text

    # dial: a connection to the web container's port, made inside the Pod's network namespace.
    reader, writer = await kube.dial(task_of(daemon, t.ID), 8080)
    writer.write(b"GET /index.html HTTP/1.0\r\n\r\n")
    await writer.drain()
    page = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert b"hello from shoal" in page

    # Graceful deletion: SIGTERM (the web container's trap runs), well before the grace period ends.
    await kube.delete("tasks", DEFAULT_NAMESPACE, "kpod-oom", grace_seconds=20)
    await until(lambda: (term_dir / "web").exists(), "the SIGTERM", timeout=15)
    assert (term_dir / "web").read_text() == "got-term\n"


async def test_restart_policy_never_completed_and_error(daemon: Daemon) -> None:
    kube = daemon.kube()
    nostart = ContainerSpec(Name="nostart", Image=IMAGE, Command=["/no/such/program"], Pod=PodContainer())
    t = await kube.create(pod("kpod-never", [sh("ok", "sleep 0.5; echo done"), sh("bad", "exit 2"), nostart],
                              RestartPolicy="Never"))
    await until(lambda: task_of(daemon, t.ID).Status.State.terminal, "the Pod's end")
    cur = task_of(daemon, t.ID)
    assert cur.Status.State == TaskState.FAILED
    ok, bad = status(daemon, t.ID, "ok"), status(daemon, t.ID, "bad")
    assert ok is not None and (ok.State, ok.Reason, ok.ExitCode, ok.RestartCount) == ("terminated", "Completed", 0, 0)
    assert bad is not None and (bad.State, bad.Reason, bad.ExitCode) == ("terminated", "Error", 2)
    assert ok.StartedAt and ok.FinishedAt
    # One that cannot start does not keep the others from running: it ended, in the kubelet's words.
    gone = status(daemon, t.ID, "nostart")
    assert gone is not None and (gone.State, gone.Reason, gone.ExitCode) == ("terminated", "StartError", 128)
    assert "/no/such/program" in gone.Message, gone.Message

    # An image the node lacks, under imagePullPolicy Never: ErrImageNeverPull, waiting.
    missing = ContainerSpec(Name="app", Image="nothere:1", Pod=PodContainer(ImagePullPolicy="Never"))
    m = await kube.create(pod("kpod-noimage", [missing]))

    def never_pull() -> bool:
        st = status(daemon, m.ID, "app")
        return st is not None and st.Reason == "ErrImageNeverPull"

    await until(never_pull, "ErrImageNeverPull")
    st = status(daemon, m.ID, "app")
    assert st is not None and st.Message == 'Container image "nothere:1" is not present with pull policy of Never'


async def test_security_context_users_read_only_root_and_privileged(daemon: Daemon) -> None:
    kube = daemon.kube()
    plain = sh("plain", "echo uid=$(id -u) gid=$(id -g); touch /x 2>/dev/null || echo ro-root; "
                        "grep CapEff /proc/self/status; exec sleep 1000")
    plain.ReadOnly = True  # readOnlyRootFilesystem
    plain.CapabilityDrop = ["ALL"]
    own = sh("own", "echo uid=$(id -u) gid=$(id -g); exec sleep 1000")
    own.User = "1000:1000"  # the container's runAsUser / runAsGroup win over the Pod's
    priv = sh("priv", "grep CapEff /proc/self/status; exec sleep 1000", Privileged=True)
    priv.User = "0"  # root: its capabilities are effective
    t = await kube.create(pod("kpod-sec", [plain, own, priv], RunAsUser=1234, RunAsGroup=2345,
                              TerminationGracePeriodSeconds=1))

    def said(name: str, what: str) -> bool:
        return what in log_text(daemon, t.ID, name)

    await until(lambda: said("plain", "CapEff") and said("own", "uid=") and said("priv", "CapEff"), "their reports")
    assert log_text(daemon, t.ID, "plain").splitlines() == ["uid=1234 gid=2345", "ro-root",
                                                            "CapEff:\t0000000000000000"]
    assert log_text(daemon, t.ID, "own") == "uid=1000 gid=1000"
    cap_eff = int(log_text(daemon, t.ID, "priv").split()[-1], 16)
    assert cap_eff & (1 << 21)  # CAP_SYS_ADMIN: every capability


async def test_exec_and_dial_into_a_pod_on_another_node(tmp_path: Path) -> None:
    """The manager (in-process, in a namespace on a bridge) and a worker (a ``shoal daemon`` process in
    another): exec and port-forward reach the worker's Pod through its dispatcher session."""
    base = Path(tempfile.mkdtemp(prefix="shoal-kx-", dir="/tmp"))
    cluster = DevCluster(base, "runc")
    exec_root = Path(tempfile.mkdtemp(prefix="shoal-kx-", dir="/run"))
    try:
        ns, addr = cluster.add_client("kmgr")
        worker = cluster.add("kworker")  # wired from the host's namespace, before this thread leaves it
        with in_netns(ns):
            d = Daemon(DaemonConfig(data_root=tmp_path / "data", exec_root=exec_root, runtime="runc",
                                    hostname="kmgr", pod_backoff=0.3))
            await d.start()
            try:
                await d.swarm_init(addr, f"{addr}:2377")
                token = d.control().cluster().JoinTokens.Worker
                await asyncio.to_thread(worker.docker, "import", "-c", 'CMD ["sh"]', "-", IMAGE,
                                        input=kpod_image(tmp_path))
                await asyncio.to_thread(worker.docker, "swarm", "join", "--token", token, f"{addr}:2377")
                assert d.manager is not None
                await until(lambda: d.manager is not None and any(
                    n.Description.Hostname == "kworker" and n.Status.State == "ready"
                    for n in d.manager.store.nodes()), "the worker's node")
                web = sh("web", "echo started; exec httpd -f -p 8080 -h /www")
                t = pod("kpod-far", [web])
                t.Spec.Placement = Placement(Constraints=["node.hostname==kworker"])
                t.Spec.Pod.TerminationGracePeriodSeconds = 1  # type: ignore[union-attr]
                t = await d.kube().create(t)
                await until(lambda: task_of(d, t.ID).Status.State == TaskState.RUNNING, "the Pod on the worker",
                            timeout=40)
                far = task_of(d, t.ID)
                assert far.NodeID != d.node_id

                session = await d.kube().exec(far, "web", ["sh", "-c", "echo on-$(hostname); cat >&2; exit 5"],
                                              stdin=True)
                out_task = asyncio.ensure_future(collect(session.stdout()))
                err_task = asyncio.ensure_future(collect(session.stderr()))
                await session.write_stdin(b"from-the-manager\n")
                await session.close_stdin()
                assert await asyncio.wait_for(session.wait(), 15) == 5
                assert (await out_task).startswith(b"on-") and await err_task == b"from-the-manager\n"

                reader, writer = await d.kube().dial(far, 8080)
                writer.write(b"GET /index.html HTTP/1.0\r\n\r\n")
                await writer.drain()
                page = await asyncio.wait_for(reader.read(), 15)
                writer.close()
                assert b"hello from shoal" in page
                assert await read_logs(d, far, "web") == ["started"]  # read on the worker, through its session
                await d.kube().delete("tasks", DEFAULT_NAMESPACE, "kpod-far", grace_seconds=1)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(cluster.leave_all)
                with contextlib.suppress(Exception):
                    await d.stop()
    finally:
        cluster.close()
        for m in mounts_under(exec_root) + mounts_under(tmp_path):
            subprocess.run(["umount", "-l", m], check=False)
        shutil.rmtree(exec_root, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
