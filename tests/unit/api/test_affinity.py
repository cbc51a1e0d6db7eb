"""Node affinity and pod affinity terms as Kubernetes matches them: terms ORed, expressions ANDed,
every operator, ``metadata.name`` fields, preferred weights, the namespaces a pod term looks in."""

from __future__ import annotations

from shoal.api.affinity import (
    CompiledTerm,
    LabelSelectorSpec,
    NodeAffinity,
    NodeSelectorTerm,
    PodAffinityTerm,
    PreferredSchedulingTerm,
    Requirement,
    preferred_weight,
    required_matches,
    requirement_matches,
    term_matches,
)

LABELS = {"zone": "a", "gpus": "4", "disk": "ssd"}


def req(key: str, op: str, *values: str) -> Requirement:
    return Requirement(Key=key, Operator=op, Values=list(values) or None)


def test_every_operator() -> None:
    assert requirement_matches(req("zone", "In", "a", "b"), LABELS)
    assert not requirement_matches(req("zone", "In", "b"), LABELS)
    assert requirement_matches(req("zone", "NotIn", "b"), LABELS)
    assert requirement_matches(req("rack", "NotIn", "b"), LABELS)  # absent: not in
    assert requirement_matches(req("disk", "Exists"), LABELS)
    assert not requirement_matches(req("rack", "Exists"), LABELS)
    assert requirement_matches(req("rack", "DoesNotExist"), LABELS)
    assert requirement_matches(req("gpus", "Gt", "3"), LABELS)
    assert not requirement_matches(req("gpus", "Gt", "4"), LABELS)
    assert requirement_matches(req("gpus", "Lt", "5"), LABELS)
    assert not requirement_matches(req("zone", "Lt", "5"), LABELS)  # not an integer
    assert not requirement_matches(req("rack", "Gt", "1"), LABELS)  # absent
    assert not requirement_matches(req("zone", "Weird", "a"), LABELS)


def test_terms_are_ored_and_expressions_anded() -> None:
    both = NodeSelectorTerm(MatchExpressions=[req("zone", "In", "a"), req("disk", "In", "hdd")])
    one = NodeSelectorTerm(MatchExpressions=[req("zone", "In", "a")])
    assert not term_matches(both, LABELS, "n1")
    assert term_matches(one, LABELS, "n1")
    assert required_matches(NodeAffinity(Required=[both, one]), LABELS, "n1")
    assert not required_matches(NodeAffinity(Required=[both]), LABELS, "n1")
    assert not required_matches(NodeAffinity(Required=[]), LABELS, "n1")  # no term: no node
    assert not term_matches(NodeSelectorTerm(), LABELS, "n1")  # an empty term matches nothing
    assert required_matches(NodeAffinity(), LABELS, "n1")  # nothing required
    assert required_matches(None, LABELS, "n1")


def test_match_fields_name_the_node() -> None:
    by_name = NodeSelectorTerm(MatchFields=[req("metadata.name", "In", "n1")])
    assert term_matches(by_name, {}, "n1") and not term_matches(by_name, {}, "n2")
    other = NodeSelectorTerm(MatchFields=[req("metadata.uid", "In", "n1")])
    assert not term_matches(other, {}, "n1")


def test_preferred_weights_add_up() -> None:
    na = NodeAffinity(Preferred=[
        PreferredSchedulingTerm(Weight=10, Preference=NodeSelectorTerm(MatchExpressions=[req("zone", "In", "a")])),
        PreferredSchedulingTerm(Weight=5, Preference=NodeSelectorTerm(MatchExpressions=[req("disk", "In", "ssd")])),
        PreferredSchedulingTerm(Weight=7, Preference=NodeSelectorTerm(MatchExpressions=[req("x", "Exists")]))])
    assert preferred_weight(na, LABELS, "n1") == 15
    assert preferred_weight(None, LABELS, "n1") == 0


def test_pod_terms_look_in_the_pods_namespace_unless_told() -> None:
    sel = LabelSelectorSpec(MatchLabels={"app": "db"})
    own = CompiledTerm(PodAffinityTerm(LabelSelector=sel, TopologyKey="zone"), "prod")
    assert own.matches("prod", {"app": "db"}) and not own.matches("dev", {"app": "db"})
    assert not own.matches("prod", {"app": "web"})
    listed = CompiledTerm(PodAffinityTerm(LabelSelector=sel, Namespaces=["dev"]), "prod")
    assert listed.matches("dev", {"app": "db"}) and not listed.matches("prod", {"app": "db"})
    every = CompiledTerm(PodAffinityTerm(LabelSelector=sel, NamespaceSelector=LabelSelectorSpec()), "prod")
    assert every.matches("anything", {"app": "db"})
    by_name = CompiledTerm(PodAffinityTerm(LabelSelector=sel, NamespaceSelector=LabelSelectorSpec(
        MatchLabels={"kubernetes.io/metadata.name": "qa"})), "prod")
    assert by_name.matches("qa", {"app": "db"}) and not by_name.matches("dev", {"app": "db"})
    nothing = CompiledTerm(PodAffinityTerm(TopologyKey="zone"), "prod")  # no selector: no Pod
    assert not nothing.matches("prod", {"app": "db"})
