"""The Docker SDK for Python (``docker`` on PyPI) as a second client, against ``shoal daemon`` and a
Docker 20.10 that the test starts (``dockerd.py``) side by side: the same SDK calls on both, and the
JSON each answers compared key set for key set and value for value (IDs, times, versions and the
addresses each allocates left aside). Swarm init and update with the SDK's defaults (it sends nulls
and the autolock in the spec), services in each mode (scaled through ``service.scale()``), placement,
resources, networks, secrets and configs, and a templated config expanded in the task's file.

Docker 20.10 runs no task here (no image registry, no network): its answers are compared, and what
a task sees is looked at on shoal only. dockerd gets a local busybox image and
``DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1`` so that it never tries a registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.types import (
    ConfigReference,
    EndpointSpec,
    Resources,
    SecretReference,
    ServiceMode,
    UpdateConfig,
)

from tests.e2e.conftest import ShoalDaemon, leftover_mounts, make_rootfs, start_daemon, stop_daemon
from tests.e2e.dockerd import DOCKERD, Dockerd, running_dockerd
from tests.support import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(DOCKERD is None, reason="dockerd is not installed (Debian's docker.io)"),
]

RUNTIME = "runc" if shutil.which("runc") else "process"
IMAGE = "busybox:latest"

# Values that differ between two swarms by nature: identifiers, times, versions, allocated addresses.
VOLATILE = frozenset({"ID", "Id", "CreatedAt", "UpdatedAt", "Created", "Version", "Timestamp", "SecretID", "ConfigID",
                      "NetworkID", "Target", "NodeID", "ServiceID", "Addr", "Addresses", "ContainerID", "PID",
                      "TrustRoot", "CertIssuerSubject", "CertIssuerPublicKey", "JoinTokens", "Hostname",
                      "Options"})
# Left out: shoal's own fields beside Docker's (SwarmKit's objects have them; Docker's API types do
# not), and a service's update status (whether a scale is shown as an update depends on timing).
SHOAL_ONLY = frozenset({"SpecVersion", "ServiceAnnotations", "UpdateStatus"})


def shape(v: Any, leave: frozenset[str] = frozenset()) -> Any:
    """The JSON with the volatile values masked and shoal's own fields (and ``leave``) dropped: what
    must match."""
    if isinstance(v, dict):
        return {k: "*" if k in VOLATILE else shape(x, leave) for k, x in v.items()
                if k not in SHOAL_ONLY and k not in leave}
    if isinstance(v, list):
        return [shape(x, leave) for x in v]
    return v


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two shapes differ, one line each (shoal's value first)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out.append(f"{path}.{k}: shoal only {a[k]!r}")
            elif k not in a:
                out.append(f"{path}.{k}: docker only {b[k]!r}")
            else:
                out += differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: shoal {a!r} docker {b!r}"]


def same(shoal: Any, docker_: Any, leave: frozenset[str] = frozenset()) -> None:
    assert differences(shape(shoal, leave), shape(docker_, leave)) == []


@pytest.fixture(scope="module")
def rootfs_tar(e2e_base: Path) -> bytes:
    rootfs = make_rootfs(e2e_base / "rootfs")
    return subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def shoal(e2e_base: Path, rootfs_tar: bytes) -> Iterator[ShoalDaemon]:
    d = start_daemon(e2e_base, RUNTIME)
    try:
        d.docker("import", "-c", 'CMD ["sh"]', "-", IMAGE, input=rootfs_tar)
        yield d
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
    assert not leftover_mounts(e2e_base / "data"), "mounts left behind"


@pytest.fixture(scope="module")
def dockerd(rootfs_tar: bytes) -> Iterator[Dockerd]:
    before = os.environ.get("DOCKER_SERVICE_PREFER_OFFLINE_IMAGE")
    os.environ["DOCKER_SERVICE_PREFER_OFFLINE_IMAGE"] = "1"  # dockerd's: never pull an image it has
    try:
        with running_dockerd() as d:
            c = docker.APIClient(base_url=d.host, version="auto")
            try:
                c.import_image_from_data(rootfs_tar, repository="busybox", tag="latest")
            finally:
                c.close()
            yield d
    finally:
        if before is None:
            os.environ.pop("DOCKER_SERVICE_PREFER_OFFLINE_IMAGE", None)
        else:
            os.environ["DOCKER_SERVICE_PREFER_OFFLINE_IMAGE"] = before


@pytest.fixture(scope="module")
def clients(shoal: ShoalDaemon, dockerd: Dockerd) -> Iterator[tuple[docker.DockerClient, docker.DockerClient]]:
    """SDK clients of shoal and of Docker 20.10, each the single manager of a swarm the SDK made with
    its defaults."""
    s = docker.DockerClient(base_url=shoal.host, version="auto")
    d = docker.DockerClient(base_url=dockerd.host, version="auto")
    try:
        for c in (s, d):
            c.swarm.init(advertise_addr="127.0.0.1")
        yield s, d
    finally:
        s.close()
        d.close()


def both(clients: tuple[docker.DockerClient, docker.DockerClient], fn: Any) -> tuple[Any, Any]:
    return fn(clients[0]), fn(clients[1])


def test_swarm_init_and_update_with_the_sdks_defaults(clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    s, d = both(clients, lambda c: c.api.inspect_swarm())
    same(s, d)
    assert s["Spec"]["Raft"]["HeartbeatTick"] == 1 and s["Spec"]["Labels"] == {}
    # The SDK's update sends every setting it was not given as null (Go: the zero value, then the defaults).
    for c in clients:
        c.swarm.reload()
        c.swarm.update(snapshot_interval=5000, task_history_retention_limit=7)
    s, d = both(clients, lambda c: c.api.inspect_swarm())
    same(s, d)
    assert s["Spec"]["Raft"]["SnapshotInterval"] == 5000
    assert s["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 7


def test_nodes(clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    """A node: Docker's fields (what each machine's engine reports aside)."""
    s, d = both(clients, lambda c: c.api.nodes()[0])
    assert set(s) == set(d)
    for k in ("Spec", "Status", "ManagerStatus"):
        same(s[k], d[k])
    assert set(s["Description"]) == set(d["Description"])
    assert set(s["Description"]["TLSInfo"]) == set(d["Description"]["TLSInfo"])
    assert s["Spec"] == {"Labels": {}, "Role": "manager", "Availability": "active"}


def test_autolock_through_the_sdk(clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    for c in clients:
        c.swarm.reload()
        c.swarm.update(autolock_managers=True)
    s, d = both(clients, lambda c: c.api.inspect_swarm())
    # The SDK sends no task history limit: Docker stores 0 (and keeps no history); shoal keeps its default.
    assert s["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 5
    same(s, d, leave=frozenset({"TaskHistoryRetentionLimit"}))
    assert s["Spec"]["EncryptionConfig"] == {"AutoLockManagers": True}
    keys = both(clients, lambda c: c.swarm.get_unlock_key())
    for c, key in zip(clients, keys, strict=True):
        assert key["UnlockKey"].startswith("SWMKEY-1-")
        c.swarm.reload()
        c.swarm.update(rotate_manager_unlock_key=True, autolock_managers=True)  # (the SDK sends the spec whole)
        assert c.swarm.get_unlock_key()["UnlockKey"] != key["UnlockKey"]
        c.swarm.reload()
        c.swarm.update(autolock_managers=False)


def create_both(clients: tuple[docker.DockerClient, docker.DockerClient], **kwargs: Any) -> tuple[Any, Any]:
    return both(clients, lambda c: c.services.create(IMAGE, ["sleep", "1000"], **kwargs))


def inspect_both(services: tuple[Any, Any], **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    s, d = services
    return s.client.api.inspect_service(s.id, **kwargs), d.client.api.inspect_service(d.id, **kwargs)


def test_replicated_service_scaled_through_the_sdk(clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    svcs = create_both(clients, name="rep", mode=ServiceMode("replicated", 2),
                       update_config=UpdateConfig(parallelism=1, order="start-first"))
    s, d = inspect_both(svcs)
    same(s, d)
    assert s["Spec"]["Mode"] == {"Replicated": {"Replicas": 2}}
    assert s["Spec"]["UpdateConfig"]["Order"] == "start-first"
    assert "ServiceStatus" not in s
    # a task: its spec as Docker's, and Docker's fields (its status and attachments depend on the run)
    s_task, d_task = (wait_for(lambda svc=svc: min((t for t in svc.tasks() if t.get("NodeID")),
                                                   key=lambda t: t["Slot"], default=None),
                               what="a task assigned") for svc in svcs)
    same(s_task["Spec"], d_task["Spec"])
    assert set(shape(s_task)) - {"NetworksAttachments"} == set(d_task) - {"NetworksAttachments"}
    assert s_task["Labels"] == {} and s_task["Status"]["PortStatus"] == {}
    for svc in svcs:
        svc.reload()
        assert svc.scale(3)
    s, d = inspect_both(svcs)
    same(s, d)
    assert s["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    s, d = inspect_both(svcs, insert_defaults=True)
    same(s, d)
    listed = both(clients, lambda c: [x for x in c.api.services(status=True) if x["Spec"]["Name"] == "rep"])
    assert listed[0][0]["ServiceStatus"]["DesiredTasks"] == listed[1][0]["ServiceStatus"]["DesiredTasks"] == 3
    wait_for(lambda: len([t for t in svcs[0].tasks() if t["Status"]["State"] == "running"]) == 3,
             what="3 running tasks on shoal")
    for svc in svcs:
        svc.remove()


def test_global_service(clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    svcs = create_both(clients, name="glob", mode=ServiceMode("global"))
    s, d = inspect_both(svcs)
    same(s, d)
    assert s["Spec"]["Mode"] == {"Global": {}}
    with pytest.raises(docker.errors.InvalidArgument, match="Cannot scale a global container"):
        svcs[0].scale(2)  # the SDK's own check, as on Docker: the mode is read right
    for svc in svcs:
        svc.remove()


def test_jobs(clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    for mode, name in ((ServiceMode("replicated-job", concurrency=2, replicas=4), "rjob"),
                       (ServiceMode("global-job"), "gjob")):
        svcs = both(clients, lambda c, mode=mode, name=name: c.services.create(IMAGE, ["true"], name=name, mode=mode))
        s, d = inspect_both(svcs)
        same(s, d, leave=frozenset({"LastExecution"}))
        assert "JobStatus" in s and "JobStatus" in d
        for svc in svcs:
            svc.remove()


def test_placement_and_resources(clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    svcs = create_both(
        clients, name="placed", constraints=["node.role==manager"], preferences=[("spread", "node.labels.zone")],
        maxreplicas=2, resources=Resources(cpu_limit=200_000_000, mem_limit=64 << 20, cpu_reservation=100_000_000),
        endpoint_spec=EndpointSpec(ports={18080: 80}))
    wait_for(lambda: inspect_both(svcs)[1]["Endpoint"].get("Ports"), what="Docker's allocation of the port")
    s, d = inspect_both(svcs)
    # shoal's routing mesh gives a published port no virtual IP on the ingress network (Docker's does)
    same(s, d, leave=frozenset({"VirtualIPs"}))
    tt = s["Spec"]["TaskTemplate"]
    assert tt["Placement"] == {"Constraints": ["node.role==manager"],
                               "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}], "MaxReplicas": 2}
    assert tt["Resources"] == {"Limits": {"NanoCPUs": 200_000_000, "MemoryBytes": 64 << 20},
                               "Reservations": {"NanoCPUs": 100_000_000}}
    s, d = inspect_both(svcs, insert_defaults=True)
    same(s, d, leave=frozenset({"VirtualIPs"}))
    for svc in svcs:
        svc.remove()


def test_networks_secrets_and_configs(clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    nets = both(clients, lambda c: c.networks.create("sdknet", driver="overlay", attachable=True))
    # Docker 20.10 may show a swarm network just made without its driver for a moment
    wait_for(lambda: nets[1].client.api.inspect_network(nets[1].id)["Driver"], what="Docker's network driver")
    s, d = (n.client.api.inspect_network(n.id) for n in nets)
    for k in ("Name", "Scope", "Driver", "EnableIPv6", "Internal", "Attachable", "Ingress", "ConfigFrom",
              "ConfigOnly"):
        assert s[k] == d[k], k
    assert set(s["IPAM"]) == set(d["IPAM"]) and s["IPAM"]["Driver"] == d["IPAM"]["Driver"]
    for n in nets:  # the scope filters names (an ID finds the network whatever the scope, on Docker 20.10)
        assert n.client.api.inspect_network("sdknet", scope="swarm")["Id"] == n.id
        assert n.client.api.inspect_network(n.id, scope="local")["Id"] == n.id
        with pytest.raises(docker.errors.NotFound):
            n.client.api.inspect_network("sdknet", scope="local")
    secrets = both(clients, lambda c: c.secrets.create(name="sdksecret", data=b"s3cret", labels={"a": "b"}))
    configs = both(clients, lambda c: c.configs.create(name="sdkconfig", data=b"plain"))
    same(*(x.client.api.inspect_secret(x.id) for x in secrets))
    same(*(x.client.api.inspect_config(x.id) for x in configs))
    svcs = both(clients, lambda c: c.services.create(
        IMAGE, ["sleep", "1000"], name="attached", networks=["sdknet"],
        secrets=[SecretReference(c.secrets.get("sdksecret").id, "sdksecret")],
        configs=[ConfigReference(c.configs.get("sdkconfig").id, "sdkconfig", filename="/etc/app.conf")]))
    wait_for(lambda: inspect_both(svcs)[1]["Endpoint"].get("VirtualIPs"), what="Docker's allocation of the VIP")
    s, d = inspect_both(svcs)
    same(s, d)
    cs = s["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert set(cs["Configs"][0]) == {"File", "ConfigID", "ConfigName"}  # no "Runtime": null
    assert set(s["Spec"]["TaskTemplate"]["Networks"][0]) == {"Target"}  # no "Aliases": null, "DriverOpts": null
    for svc in svcs:
        svc.remove()
    for objs in (secrets, configs):
        for o in objs:
            o.remove()
    for n in nets:
        wait_for(lambda n=n: _removed(n), what="the network removed once its service is gone")


def _removed(net: Any) -> bool:
    try:
        net.remove()
    except docker.errors.APIError:
        return False
    return True


def test_templated_config_is_expanded_in_the_tasks_file(
        clients: tuple[docker.DockerClient, docker.DockerClient]) -> None:
    template = (b'service={{ .Service.Name }} task={{ .Task.Name }} node={{ .Node.Hostname }} '
                b'mode={{ env "MODE" }} secret={{ secret "pw" }}')
    secrets = both(clients, lambda c: c.secrets.create(name="tplpw", data=b"hunter2"))
    configs = both(clients, lambda c: c.configs.create(name="tpl", data=template, templating={"name": "golang"}))
    s, d = (x.client.api.inspect_config(x.id) for x in configs)
    same(s, d)
    assert s["Spec"]["Templating"] == {"Name": "golang"}
    svcs = both(clients, lambda c: c.services.create(
        IMAGE, ["sh", "-c", "cat /tpl.conf; echo; sleep 1000"], name="tpl", env=["MODE=prod"],
        secrets=[SecretReference(c.secrets.get("tplpw").id, "tplpw", filename="pw")],
        configs=[ConfigReference(c.configs.get("tpl").id, "tpl", filename="/tpl.conf")]))
    same(*inspect_both(svcs))
    shoal_svc = svcs[0]
    task = wait_for(lambda: next((t for t in shoal_svc.tasks() if t["Status"]["State"] == "running"), None),
                    what="the templated service's task running on shoal")
    hostname = clients[0].info()["Name"]
    want = (f"service=tpl task=tpl.1.{task['ID']} node={hostname} mode=prod secret=hunter2").encode()

    def logged() -> bytes:
        # the SDK sends stdout=True&stderr=False: Docker's booleans
        return b"".join(shoal_svc.logs(stdout=True, stderr=False))

    assert want in wait_for(lambda: logged() if want in logged() else b"", what="the expanded file in the logs")
    for svc in svcs:
        svc.remove()
    for objs in (configs, secrets):
        for o in objs:
            wait_for(lambda o=o: _removed(o), what="the config or secret removed once its service is gone")
