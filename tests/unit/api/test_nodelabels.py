"""A swarm node as Kubernetes sees it: its name, labels, the unschedulable flag shared with Swarm's
availability, and the taints Kubernetes' node controllers would add."""

from __future__ import annotations

from shoal.api import nodelabels
from shoal.api.types import Taint

from ..helpers import make_node


def test_labels_of_a_worker_and_a_manager() -> None:
    w = make_node("Worker-1", labels={"disk": "ssd", "kubernetes.io/hostname": "spoofed"})
    assert nodelabels.kube_labels(w) == {
        "disk": "ssd",
        "beta.kubernetes.io/os": "linux", "kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64", "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": "worker-1",  # the kubelet's own win over the node's labels
    }
    m = make_node("m", role="manager", arch="aarch64")
    labels = nodelabels.kube_labels(m)
    assert labels["node-role.kubernetes.io/control-plane"] == "" and labels["kubernetes.io/arch"] == "arm64"
    assert nodelabels.node_name(w) == "worker-1"


def test_selector() -> None:
    labels = {"a": "1", "b": ""}
    assert nodelabels.matches_selector(None, labels) and nodelabels.matches_selector({}, labels)
    assert nodelabels.matches_selector({"a": "1", "b": ""}, labels)
    assert not nodelabels.matches_selector({"a": "2"}, labels)
    assert not nodelabels.matches_selector({"c": ""}, labels)


def test_unschedulable_is_swarms_availability() -> None:
    active, paused, drained = (make_node(availability=a) for a in ("active", "pause", "drain"))
    assert [nodelabels.unschedulable(n) for n in (active, paused, drained)] == [False, True, True]
    # A cordon pauses an active node and leaves a paused or drained one as it is; an uncordon activates.
    assert [nodelabels.availability(n, True) for n in (active, paused, drained)] == ["pause", "pause", "drain"]
    assert [nodelabels.availability(n, False) for n in (active, paused, drained)] == ["active"] * 3


def test_derived_taints() -> None:
    assert nodelabels.derived_taints(make_node()) == []
    assert nodelabels.derived_taints(make_node(availability="drain")) == [
        Taint(Key="node.kubernetes.io/unschedulable", Effect="NoSchedule")]
    assert nodelabels.derived_taints(make_node(state="down")) == [
        Taint(Key="node.kubernetes.io/unreachable", Effect="NoSchedule"),
        Taint(Key="node.kubernetes.io/unreachable", Effect="NoExecute")]
