"""What a task spec asks of any runtime: mounts, limits, ulimits and hosts (``runtime/taskspec.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.api.hosts import extra_hosts
from shoal.api.types import ContainerSpec, GenericResource, Mount, ResourceRequirements, Resources, Task, TaskSpec
from shoal.runtime import taskspec
from shoal.runtime.base import RuntimeError_, resource_env
from shoal.runtime.volumes import VolumeStore


def task(resources: ResourceRequirements | None = None) -> Task:
    return Task(ID="t1", Spec=TaskSpec(Containers=[ContainerSpec(Image="x")], Resources=resources))


def test_limits() -> None:
    assert taskspec.limits(task()) == taskspec.Limits()
    res = ResourceRequirements(Limits=Resources(MemoryBytes=64 << 20, NanoCPUs=1_500_000_000, Pids=10),
                               Reservations=Resources(MemoryBytes=32 << 20), SwapBytes=16 << 20,
                               MemorySwappiness=0)
    assert taskspec.limits(task(res)) == taskspec.Limits(
        memory=64 << 20, memory_reservation=32 << 20, memory_swap=80 << 20, swappiness=0, cpu_quota=150_000,
        cpu_period=100_000, pids=10)
    unlimited_swap = ResourceRequirements(Limits=Resources(MemoryBytes=1 << 20, NanoCPUs=1), SwapBytes=-1)
    lim = taskspec.limits(task(unlimited_swap))
    assert (lim.memory_swap, lim.cpu_quota) == (-1, 1000)  # the kernel's smallest quota


def test_mounts(tmp_path: Path) -> None:
    volumes = VolumeStore(tmp_path / "volumes")
    spec = ContainerSpec(Image="x", Mounts=[
        Mount(Type="bind", Source=str(tmp_path), Target="/data", ReadOnly=True,
              BindOptions={"Propagation": "rslave"}),
        Mount(Type="volume", Source="db", Target="/db", VolumeOptions={"Labels": {"a": "b"}}),
        Mount(Type="volume", Target="/anon"),
        Mount(Type="tmpfs", Target="/t", TmpfsOptions={"SizeBytes": 1024, "Mode": 0o700}),
    ])
    got = taskspec.host_mounts(spec, volumes, tmp_path / "task")
    assert got[0] == taskspec.HostMount("/data", "bind", str(tmp_path), True, "rslave")
    assert got[1] == taskspec.HostMount("/db", "bind", str(volumes.data_path("db")))
    assert volumes.inspect("db")["Labels"] == {"a": "b"}
    assert got[2].source.startswith(str(tmp_path / "task")) and Path(got[2].source).is_dir()
    assert got[3] == taskspec.HostMount("/t", "tmpfs", tmpfs_size=1024, tmpfs_mode=0o700)
    assert taskspec.named_volumes(spec) == ["db"]


@pytest.mark.parametrize(("mount", "message"), [
    (Mount(Type="bind", Source="/no/such/dir", Target="/x"),
     'invalid mount config for type "bind": bind source path does not exist: /no/such/dir'),
    (Mount(Type="tmpfs", Target="relative"), "invalid mount target, must be an absolute path: relative"),
    (Mount(Type="npipe", Target="/x"), "unsupported mount type: npipe"),
])
def test_mount_refusals_reject_the_task(tmp_path: Path, mount: Mount, message: str) -> None:
    with pytest.raises(RuntimeError_) as ei:
        taskspec.host_mounts(ContainerSpec(Image="x", Mounts=[mount]), VolumeStore(tmp_path), tmp_path)
    assert ei.value.message == message and ei.value.reject


def test_ulimits_and_hosts() -> None:
    spec = ContainerSpec(Image="x", Ulimits=[{"Name": "NOFILE", "Soft": 10, "Hard": 20}],
                         Hosts=["10.0.0.1 db db.local", "cache:10.0.0.2"])
    assert taskspec.ulimits(spec) == [("nofile", 10, 20)]
    assert extra_hosts(spec) == [("10.0.0.1", ["db", "db.local"]), ("10.0.0.2", ["cache"])]
    with pytest.raises(RuntimeError_, match="invalid ulimit type: bogus"):
        taskspec.ulimits(ContainerSpec(Image="x", Ulimits=[{"Name": "bogus"}]))


def test_generic_resources_as_the_container_sees_them() -> None:
    t = Task(ID="t1", GenericResources=[
        GenericResource(NamedResourceSpec={"Kind": "gpu", "Value": "GPU-0"}),
        GenericResource(NamedResourceSpec={"Kind": "gpu", "Value": "GPU-3"}),
        GenericResource(DiscreteResourceSpec={"Kind": "ssd", "Value": 2}),
    ])
    assert resource_env(t) == ["DOCKER_RESOURCE_GPU=GPU-0,GPU-3", "DOCKER_RESOURCE_SSD=2"]
    assert resource_env(Task(ID="t2")) == []
