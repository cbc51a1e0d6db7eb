"""A Pod's ``spec.affinity`` and ``spec.topologySpreadConstraints`` read into the core's types for
the scheduler, while the JSON the user wrote is shown back unchanged."""

from __future__ import annotations

from typing import Any

from shoal.api.affinity import (
    LabelSelectorSpec,
    NodeSelectorTerm,
    PodAffinityTerm,
    Requirement,
    TopologySpreadConstraint,
)
from shoal.frontdoor.kube import affinity as A
from shoal.frontdoor.kube import convert as C

AFFINITY: dict[str, Any] = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 20, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}]},
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}],
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "podAffinityTerm": {"labelSelector": {"matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["db"]}]}, "namespaces": ["x"],
                "topologyKey": "zone"}}]},
}
SPREAD = [{"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
           "labelSelector": {"matchLabels": {"app": "web"}}}]


def test_affinity_is_read_into_core_types() -> None:
    a = A.affinity(AFFINITY)
    assert a is not None and a.NodeAffinity is not None and a.PodAffinity is None
    assert a.NodeAffinity.Required == [
        NodeSelectorTerm(MatchExpressions=[Requirement(Key="disk", Operator="In", Values=["ssd"])]),
        NodeSelectorTerm(MatchFields=[Requirement(Key="metadata.name", Operator="In", Values=["n1"])])]
    assert a.NodeAffinity.Preferred is not None and a.NodeAffinity.Preferred[0].Weight == 20
    assert a.PodAntiAffinity is not None and a.PodAntiAffinity.Required == [PodAffinityTerm(
        LabelSelector=LabelSelectorSpec(MatchLabels={"app": "web"}), TopologyKey="kubernetes.io/hostname")]
    pref = a.PodAntiAffinity.Preferred
    assert pref is not None and pref[0].Weight == 5 and pref[0].Term.Namespaces == ["x"]
    assert A.affinity(None) is None and A.affinity({}) is None
    # An affinity with no required block requires nothing; an empty list of terms matches no node.
    only_pref = A.affinity({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}})
    assert only_pref is not None and only_pref.NodeAffinity is not None and only_pref.NodeAffinity.Required is None


def test_spread_constraints_are_read() -> None:
    assert A.spread_constraints(SPREAD) == [TopologySpreadConstraint(
        MaxSkew=2, TopologyKey="zone", WhenUnsatisfiable="ScheduleAnyway",
        LabelSelector=LabelSelectorSpec(MatchLabels={"app": "web"}))]
    assert A.spread_constraints(None) is None


def test_a_pod_carries_them_and_shows_them_back_as_written() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "a", "image": "x"}], "affinity": AFFINITY,
                    "topologySpreadConstraints": SPREAD}}
    t = C.to_core("pods", obj, namespace="default")
    assert t.Spec.Pod is not None and t.Spec.Pod.Affinity == A.affinity(AFFINITY)
    assert t.Spec.Pod.TopologySpreadConstraints == A.spread_constraints(SPREAD)
    wire = C.to_wire("pods", t)
    assert wire["spec"]["affinity"] == AFFINITY and wire["spec"]["topologySpreadConstraints"] == SPREAD
