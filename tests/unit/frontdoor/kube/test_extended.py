"""Extended resources: a container's ``example.com/gpu`` request becomes a generic resource ask (the
counts of several containers added up), and a node shows its generic resources in its capacity."""

from __future__ import annotations

from shoal.api.generic import discrete, named
from shoal.api.types import Node, NodeDescription, NodeSpec, NodeStatus, Resources
from shoal.frontdoor.kube import convert as C
from shoal.frontdoor.kube.extended import capacity


def test_extended_requests_are_generic_resources() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [
               {"name": "a", "image": "x", "resources": {"limits": {"example.com/gpu": "2"}}},
               {"name": "b", "image": "x", "resources": {"requests": {"example.com/gpu": "1", "memory": "1Mi"}}}]}}
    t = C.to_core("pods", obj, namespace="default")
    res = t.Spec.Resources
    assert res is not None and res.Reservations is not None
    assert res.Reservations.GenericResources == [discrete("example.com/gpu", 3)]
    assert res.Reservations.MemoryBytes == 1 << 20
    wire = C.to_wire("pods", t)
    assert wire["spec"]["containers"][0]["resources"] == {"limits": {"example.com/gpu": "2"},
                                                          "requests": {"example.com/gpu": "2"}}


def test_a_nodes_generic_resources_show_in_its_capacity() -> None:
    assert capacity([discrete("gpu", 4), named("fpga", "f1"), named("fpga", "f2")]) == {"fpga": "2", "gpu": "4"}
    node = Node(ID="n1", Spec=NodeSpec(), Status=NodeStatus(State="ready"),
                Description=NodeDescription(Hostname="n1", Resources=Resources(
                    NanoCPUs=2_000_000_000, MemoryBytes=1 << 30, GenericResources=[discrete("example.com/gpu", 2)])))
    status = C.to_wire("nodes", node)["status"]
    assert status["capacity"]["example.com/gpu"] == "2" and status["allocatable"]["example.com/gpu"] == "2"
