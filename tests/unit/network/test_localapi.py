"""The node's local networks behind the doors' interface: a container's networks kept from its
creation to its removal, connect/disconnect of a stopped container (nothing wired), events."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.api.control import IPAMRequest, IPAMRequestConfig, NetworkCreateRequest
from shoal.api.errors import Conflict, InvalidArgument, NotFound
from shoal.api.events import EventLog
from shoal.network.local import LocalNetworks
from shoal.network.localapi import ContainerRef, NodeLocalNetworks
from shoal.network.node import LocalAttachment

CID = "c" * 64


class OneContainer:
    def find_container(self, ref: str) -> ContainerRef:
        if ref in ("web", CID) or CID.startswith(ref):
            return ContainerRef(CID, "web")  # not running
        raise NotFound(f"No such container: {ref}")


@pytest.fixture
def nets(tmp_path: Path) -> NodeLocalNetworks:
    store = LocalNetworks(tmp_path, choose=lambda _: "10.213.90.1/24", in_use=list)
    store.load()
    api = NodeLocalNetworks(store, None, EventLog())
    api.containers = OneContainer()
    return api


async def test_a_containers_networks_from_creation_to_removal(nets: NodeLocalNetworks) -> None:
    front = await nets.create(NetworkCreateRequest(Name="front", IPAM=IPAMRequest(
        Config=[IPAMRequestConfig(Subnet="10.213.91.0/24")])))
    bridge = nets.network("bridge")
    nets.configure(CID, [LocalAttachment("bridge", CID, "web")])
    assert [a.network for a in nets.attachments(CID)] == [bridge.ID]
    await nets.connect("front", "web", ["www"], "10.213.91.7")
    assert [(a.network, a.aliases, a.ipv4) for a in nets.attachments(CID)] == [
        (bridge.ID, [], ""), (front.ID, ["www"], "10.213.91.7")]
    with pytest.raises(Conflict, match="endpoint with name web already exists in network front"):
        await nets.connect("front", "web")
    assert nets.network("front").Containers == {}  # a stopped container has no endpoint
    await nets.disconnect("front", CID[:8])
    assert [a.network for a in nets.attachments(CID)] == [bridge.ID]
    with pytest.raises(Conflict, match=f"container {CID} is not connected to network front"):
        await nets.disconnect("front", "web")
    with pytest.raises(NotFound, match="No such container: nope"):
        await nets.connect("front", "nope")
    nets.forget(CID)
    assert nets.attachments(CID) == []
    await nets.remove("front")
    assert [(e.Action, e.Attributes["name"]) for e in nets.events.history()] == [  # type: ignore[union-attr]
        ("create", "front"), ("connect", "front"), ("disconnect", "front"), ("destroy", "front")]


def test_configure_refuses_host_or_none_with_others_and_unknown_networks(nets: NodeLocalNetworks) -> None:
    with pytest.raises(InvalidArgument, match="connected to host network"):
        nets.configure(CID, [LocalAttachment("host", CID), LocalAttachment("bridge", CID)])
    with pytest.raises(InvalidArgument, match="private \\(none\\) mode"):
        nets.configure(CID, [LocalAttachment("none", CID), LocalAttachment("bridge", CID)])
    with pytest.raises(NotFound, match="network nope not found"):
        nets.configure(CID, [LocalAttachment("nope", CID)])
