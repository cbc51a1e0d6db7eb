"""The node's hold of the pod network (no root: the devices' sync is replaced): which tasks go on it,
a Pod waiting for the node's block, the block's addresses, the record that lets a killed daemon's
devices be removed at the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shoal.api.kubenet import PodNetPeer, PodNetwork
from shoal.api.pod import PodSpecExtra
from shoal.api.types import ContainerSpec, Task, TaskSpec
from shoal.network import node, podnet
from shoal.network.sandbox import SandboxError

VIEW = PodNetwork(Block="100.64.7.0/24", Peers=(PodNetPeer("10.213.0.3", "100.64.8.0/24"),))


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[PodNetwork]:
    got: list[PodNetwork] = []
    torn: list[bool] = []
    monkeypatch.setattr(podnet, "sync", got.append)
    monkeypatch.setattr(podnet, "teardown", lambda: torn.append(True))
    return got


def test_pods_without_swarm_networks_go_on_the_pod_network() -> None:
    spec = TaskSpec(Containers=[ContainerSpec(Image="busybox")])
    assert node.on_pod_network(Task(ID="p", Namespace="default", Spec=spec))
    assert not node.on_pod_network(Task(ID="s", Spec=spec))  # a Swarm task: the default bridge, as before
    host = TaskSpec(Containers=[ContainerSpec(Image="busybox")], Pod=PodSpecExtra(HostNetwork=True))
    assert not node.on_pod_network(Task(ID="h", Namespace="default", Spec=host))


async def test_a_pod_waits_for_the_block_then_gets_its_lowest_address(
        tmp_path: Path, synced: list[PodNetwork]) -> None:
    net = node.NodeNetwork(tmp_path)
    waiting = asyncio.ensure_future(net._pod_place("t1"))  # before the block comes
    await net.set_pod_network(VIEW)
    block, cidr = await waiting
    assert (block.gateway, cidr) == ("100.64.7.1", "100.64.7.2/24")
    assert (await net._pod_place("t2"))[1] == "100.64.7.3/24"
    assert synced == [VIEW] and (tmp_path / "podnet").read_text() == "100.64.7.0/24\n"
    assert net._pod_egress() == {"100.64.0.0/16"}


async def test_no_block_in_time_fails_the_pod(tmp_path: Path, synced: list[PodNetwork],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "PODNET_WAIT", 0.01)
    net = node.NodeNetwork(tmp_path)
    await net.set_pod_network(PodNetwork())  # no block (the range is exhausted)
    with pytest.raises(SandboxError, match=r"no block of the pod range \(podCIDR\)"):
        await net._pod_place("t1")
    assert synced == []


async def test_a_killed_daemons_devices_go_at_the_next_start(tmp_path: Path, synced: list[PodNetwork],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    torn: list[bool] = []
    monkeypatch.setattr(podnet, "teardown", lambda: torn.append(True))
    (tmp_path / "podnet").write_text("100.64.7.0/24\n")  # what the killed daemon left
    net = node.NodeNetwork(tmp_path)
    await net._teardown_podnet()
    assert torn == [True] and not (tmp_path / "podnet").exists()
    await net._teardown_podnet()  # nothing of ours left: another daemon's devices are not touched
    assert torn == [True]
