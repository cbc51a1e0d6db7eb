"""A node's block of the pod range (``Node.PodCIDRs``) as each door shows it: ``spec.podCIDR`` and
``spec.podCIDRs`` in the Kubernetes door, nothing in the Docker door's node JSON."""

from __future__ import annotations

from shoal.api.types import Node, NodeDescription, NodeSpec, NodeStatus
from shoal.frontdoor.docker.wire import object_json
from shoal.frontdoor.kube.convert import to_wire

NODE = Node(ID="n1", Spec=NodeSpec(Role="worker"), Description=NodeDescription(Hostname="w1"),
            Status=NodeStatus(State="ready", Addr="10.213.0.2"), PodCIDRs=["100.64.3.0/24"])


def test_the_kubernetes_door_shows_the_block() -> None:
    spec = to_wire("nodes", NODE)["spec"]
    assert spec["podCIDR"] == "100.64.3.0/24" and spec["podCIDRs"] == ["100.64.3.0/24"]
    assert list(spec)[:2] == ["podCIDR", "podCIDRs"]
    bare = to_wire("nodes", Node(ID="n2", Description=NodeDescription(Hostname="w2")))["spec"]
    assert "podCIDR" not in bare and "podCIDRs" not in bare


def test_the_docker_door_does_not() -> None:
    data = object_json(NODE)
    assert "PodCIDRs" not in data and "PodCIDRs" not in data["Spec"]
    assert "100.64.3.0" not in str(data)
