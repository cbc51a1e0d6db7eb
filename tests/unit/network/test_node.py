"""The node's network: what it keeps of the tasks' subnets and loads into the egress table."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from shoal.api.kubenet import KubeNetSettings, KubeNetView
from shoal.api.pod import PodSpecExtra
from shoal.api.types import ContainerSpec, Task, TaskSpec
from shoal.network import egress, node
from shoal.network.sandbox import Sandbox


async def test_egress_syncs_load_the_latest_union_whatever_order_threads_finish(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tasks' syncs at once: the table ends up holding both tasks' subnets. (Each sync runs in a
    thread; unserialised, the first one, slower here, finished last and left the second subnet out
    of the rule that keeps networks apart.)"""
    loaded: list[tuple[set[str], set[str]]] = []
    lock = threading.Lock()

    def sync(out: set[str], local: set[str]) -> None:
        if "10.213.71.0/24" not in local:
            time.sleep(0.05)  # the first task's sync is the slow one
        with lock:
            loaded.append((set(out), set(local)))

    monkeypatch.setattr(egress, "sync", sync)
    net = node.NodeNetwork(tmp_path)
    await asyncio.gather(net._sync_egress("a", {"10.213.70.0/24"}, {"10.213.70.0/24"}),
                         net._sync_egress("b", {"10.213.71.0/24"}, {"10.213.71.0/24"}))
    assert loaded[-1] == ({"10.213.70.0/24", "10.213.71.0/24"}, {"10.213.70.0/24", "10.213.71.0/24"})
    await net._sync_egress("b", set(), set())
    assert loaded[-1] == ({"10.213.70.0/24"}, {"10.213.70.0/24"})
    n = len(loaded)
    await net._sync_egress("a", {"10.213.70.0/24"}, {"10.213.70.0/24"})  # nothing new: no reload
    assert len(loaded) == n


async def test_a_detach_waits_for_attaches_and_runs_alone() -> None:
    """The bridges' lock: attaches side by side, a detach (which deletes bridges without tasks) only
    when no attach is under way, and no attach starts while it runs."""
    lock = node.SharedLock()
    order: list[str] = []
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def attach(name: str) -> None:
        async with lock.shared():
            order.append(f"{name} in")
            first_in.set()
            await release.wait()
            order.append(f"{name} out")

    async def detach() -> None:
        async with lock.exclusive():
            order.append("detach")

    a = asyncio.ensure_future(attach("a"))
    await first_in.wait()
    d = asyncio.ensure_future(detach())
    b = asyncio.ensure_future(attach("b"))  # after the detach asked: it waits for the detach
    await asyncio.sleep(0)
    assert order == ["a in"]
    release.set()
    await asyncio.gather(a, d, b)
    assert order == ["a in", "a out", "detach", "b in", "b out"]


async def test_a_burst_of_tasks_on_one_subnet_loads_the_egress_table_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tasks that find a sync running wait for it, and find their subnet loaded by it."""
    calls: list[set[str]] = []

    def sync(out: set[str], local: set[str]) -> None:
        time.sleep(0.02)
        calls.append(set(local))

    monkeypatch.setattr(egress, "sync", sync)
    net = node.NodeNetwork(tmp_path)
    subnet = {"10.213.72.0/24"}
    await asyncio.gather(*(net._sync_egress(f"t{i}", subnet, subnet) for i in range(20)))
    assert calls == [subnet]


async def test_a_waiter_that_gives_up_holds_no_one_back() -> None:
    lock = node.SharedLock()
    inside = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with lock.shared():
            inside.set()
            await release.wait()

    async def alone() -> None:
        async with lock.exclusive():
            pass

    h = asyncio.ensure_future(holder())
    await inside.wait()
    waiting = asyncio.ensure_future(alone())
    other = asyncio.ensure_future(alone())
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    await asyncio.gather(h, other)
    assert waiting.cancelled()
    async with lock.shared():  # free again
        pass


async def test_a_stale_bridge_index_is_asked_again_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiring on the default bridge fails once (the bridge's index known in this process names a
    link that is gone: rtnetlink's EINVAL or ENODEV); the attempt's namespace is unbound and the task
    is wired on a second attempt, not failed."""
    from shoal.api.types import ContainerSpec, Task, TaskSpec
    from shoal.network.default import DefaultBridge
    from shoal.network.sandbox import Sandbox

    attempts: list[str] = []
    unbound: list[str] = []

    def on_default(netns: str, task_id: str, place: object) -> tuple[int, int]:
        attempts.append(netns)
        if len(attempts) == 1:
            raise OSError(22, "rtnetlink: Invalid argument")
        return (0, 0)

    async def no_dns(*args: object) -> None:
        return None

    async def no_egress(*args: object) -> None:
        return None

    monkeypatch.setattr(node, "_on_default", on_default)
    monkeypatch.setattr(node, "unbind", lambda path: unbound.append(str(path)))
    net = node.NodeNetwork(tmp_path)
    monkeypatch.setattr(net, "_ensure_netns_dir", lambda: net.netns_dir.mkdir(exist_ok=True))  # no mount here
    net._default_bridge = DefaultBridge("10.213.73.1/24")
    monkeypatch.setattr(net.dns, "add", no_dns)
    monkeypatch.setattr(net, "_sync_egress", no_egress)
    task = Task(ID="t1", Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="x")]))
    sb = Sandbox.of(task, net.netns_path("t1"))
    await net._make_on_default(task, sb)
    assert attempts == [str(sb.netns)] * 2 and unbound == [str(sb.netns)]
    assert sb.addresses == ["10.213.73.2/24"]


async def test_a_cancelled_sync_holds_the_next_until_its_thread_is_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task whose sync is cancelled (a leave) leaves its thread running: the next sync (the last
    task's removal, loading nothing) starts only after it, so the table it loads is the last one."""
    started = threading.Event()
    release = threading.Event()
    loaded: list[set[str]] = []

    def sync(out: set[str], local: set[str]) -> None:
        if local:
            started.set()
            release.wait(5)
        loaded.append(set(local))

    monkeypatch.setattr(egress, "sync", sync)
    net = node.NodeNetwork(tmp_path)
    first = asyncio.ensure_future(net._sync_egress("t1", {"10.213.74.0/24"}, {"10.213.74.0/24"}))
    await asyncio.to_thread(started.wait, 5)
    first.cancel()
    second = asyncio.ensure_future(net._sync_egress("t1", set(), set()))
    await asyncio.sleep(0)
    assert not second.done()
    release.set()
    await second
    assert loaded == [{"10.213.74.0/24"}, set()]


async def test_tasks_asking_for_the_default_bridge_at_once_share_one(tmp_path: Path) -> None:
    """Pods started together all wait for the bridge's address; each must not make a bridge of its own
    (they would all be given the same first address)."""
    net = node.NodeNetwork(tmp_path, bip="10.213.74.1/24")
    a, b = await asyncio.gather(net.default_bridge(), net.default_bridge())
    assert a is b
    assert a.attachment("t1").Addresses != b.attachment("t2").Addresses


# ---------------------------------------------------------------- the Kubernetes network: cluster DNS


def _pod() -> Task:
    return Task(ID="p1", Name="web-0", Namespace="shop", Spec=TaskSpec(
        Containers=[ContainerSpec(Name="c", Image="busybox")], Hostname="web-0",
        Pod=PodSpecExtra(DNSPolicy="ClusterFirst", Subdomain="web")))


async def test_the_cluster_dns_server_takes_each_view(tmp_path: Path) -> None:
    net = node.NodeNetwork(tmp_path)
    assert net.kube_dns.apply in net.kube_consumers


async def test_a_pods_resolv_conf_waits_for_the_clusters_settings(tmp_path: Path) -> None:
    """A Pod that comes before the first view waits for it, and gets the cluster's DNS address,
    domain and search list from it."""
    net = node.NodeNetwork(tmp_path)
    net.kube_consumers = []  # no server here: only the settings matter
    task = _pod()
    sb = Sandbox.of(task, tmp_path / "p1")
    waiting = asyncio.ensure_future(net._pod_resolv(task, sb))
    await net.set_kube_view(KubeNetView(Settings=KubeNetSettings(ClusterDomain="k8s.test", ClusterDNS="172.20.0.10")))
    await waiting
    assert sb.nameservers == ["172.20.0.10"] and sb.options == ["ndots:5"]
    assert sb.search[:3] == ["shop.svc.k8s.test", "svc.k8s.test", "k8s.test"]
    assert sb.pod and sb.fqdn == "web-0.web.shop.svc.k8s.test"


async def test_without_a_view_a_pod_gets_the_default_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "KUBE_VIEW_WAIT", 0.01)
    net = node.NodeNetwork(tmp_path)
    task = _pod()
    sb = Sandbox.of(task, tmp_path / "p1")
    await net._pod_resolv(task, sb)
    assert sb.nameservers == ["172.16.0.10"] and sb.search[0] == "shop.svc.cluster.local"


# ---------------------------------------------------------------- failures that cannot succeed by retrying


def _on_default_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bip: str,
                     on_default: object) -> node.NodeNetwork:
    from shoal.network.default import DefaultBridge

    async def nothing(*args: object) -> None:
        return None

    monkeypatch.setattr(node, "_on_default", on_default)
    monkeypatch.setattr(node, "unbind", lambda path: None)
    monkeypatch.setattr(node.bridge, "detach", lambda *args: None)  # the undoing touches no link of the host
    net = node.NodeNetwork(tmp_path)
    monkeypatch.setattr(net, "_ensure_netns_dir", lambda: net.netns_dir.mkdir(exist_ok=True))  # no mount here
    net._default_bridge = DefaultBridge(bip, network_id="f" * 64)
    monkeypatch.setattr(net.dns, "add", nothing)
    monkeypatch.setattr(net, "_sync_egress", nothing)
    return net


def _swarm_task(task_id: str) -> Task:
    return Task(ID=task_id, Slot=3, ServiceAnnotations={"Name": "web"},
                Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="x")]))


async def test_a_full_bridge_fails_the_task_at_once_in_dockers_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's bridge port limit (EXFULL, simulated: the link call refuses) is not tried again
    (a stale index is, once): the sandbox fails with libnetwork's text, as dockerd on docker0."""
    from shoal.network import rtnl
    from shoal.network.sandbox import SandboxError

    attempts: list[str] = []

    def exfull(netns: str, task_id: str, place: object) -> tuple[int, int]:
        attempts.append(task_id)
        raise rtnl.VethError(54, "rtnetlink: Exchange full")

    net = _on_default_node(tmp_path, monkeypatch, "10.213.73.1/24", exfull)
    task = _swarm_task("t1xxxxxxxxxxxx")
    with pytest.raises(SandboxError) as e:
        await net.create_sandbox(task)
    assert attempts == ["t1xxxxxxxxxxxx"]
    assert e.value.message == (
        "starting container failed: failed to create endpoint web.3.t1xxxxxxxxxxxx on network bridge: "
        "adding interface svt1xxxxxxxxx0 to bridge shb-default failed: exchange full")
    assert not net.sandboxes and not net._default_bridge.has("t1xxxxxxxxxxxx")  # undone: its address is free


async def test_a_veth_the_kernel_refuses_is_libnetworks_pair_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal.network import rtnl
    from shoal.network.sandbox import SandboxError

    def enomem(netns: str, task_id: str, place: object) -> tuple[int, int]:
        raise rtnl.VethError(12, "rtnetlink: Cannot allocate memory")

    net = _on_default_node(tmp_path, monkeypatch, "10.213.73.1/24", enomem)
    with pytest.raises(SandboxError, match=r"failed to create endpoint web\.3\.t2 on network bridge: failed to add "
                                           r"the host \(svt20\) <=> sandbox \(eth0\) pair interfaces: cannot "
                                           r"allocate memory$"):
        await net.create_sandbox(_swarm_task("t2"))


async def test_an_empty_pool_fails_before_any_wiring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A /30 holds one task beside its gateway: the second fails with libnetwork's words and nothing
    of it is made (no namespace wired, nothing to undo)."""
    from shoal.network.sandbox import SandboxError

    wired: list[str] = []

    def on_default(netns: str, task_id: str, place: object) -> tuple[int, int]:
        wired.append(task_id)
        return (0, 0)

    net = _on_default_node(tmp_path, monkeypatch, "10.213.73.1/30", on_default)
    monkeypatch.setattr(net.dns, "remove", lambda task_id: None)
    await net._make_on_default(_swarm_task("t1"), Sandbox.of(_swarm_task("t1"), net.netns_path("t1")))
    with pytest.raises(SandboxError) as e:
        await net.create_sandbox(_swarm_task("t2"))
    assert e.value.message == ("starting container failed: no available IPv4 addresses on this network's address "
                               f"pools: bridge ({'f' * 64})")
    assert wired == ["t1"]
