"""A Pod's affinity and topology spread constraints, as core types, and how they match, as Kubernetes
defines them (k8s.io/api/core/v1 ``Affinity``, ``TopologySpreadConstraint``; the scheduler's
NodeAffinity, InterPodAffinity and PodTopologySpread plugins). The Kubernetes door fills them from a
Pod's ``spec.affinity`` and ``spec.topologySpreadConstraints``; the scheduler's filters and scorers
(``manager/scheduler/kubefilters.py``) read them. A Swarm task has none.

**Node affinity.** ``Required`` is a list of node selector terms, ORed (an empty list, or a term
with neither expressions nor fields, matches no node); within a term, every expression and field
must match (ANDed). Operators: ``In``, ``NotIn`` (a node without the label matches), ``Exists``,
``DoesNotExist``, ``Gt`` and ``Lt`` (the label and the one value are integers; a node without the
label, or with a label that is not an integer, does not match). The only field is
``metadata.name`` (the node's name), with ``In`` or ``NotIn``. ``Preferred`` terms add their weight
to the nodes they match.

**Pod affinity.** A term selects Pods by labels (``LabelSelector``; an absent selector selects
none) in ``Namespaces`` (none, and no ``NamespaceSelector``: the Pod's own namespace; a
``NamespaceSelector`` ``{}``: every namespace) and names a ``TopologyKey``: two nodes with the same
value of that label are one domain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from shoal.api import selectors
from shoal.api.meta import Base

IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"
NODE_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT)
NAME_FIELD = "metadata.name"
DO_NOT_SCHEDULE, SCHEDULE_ANYWAY = "DoNotSchedule", "ScheduleAnyway"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class Requirement(Base, omit_defaults=True):
    """One expression: ``Key`` ``Operator`` ``Values`` (a node selector's or a label selector's)."""

    Key: str = ""
    Operator: str = ""
    Values: list[str] | None = None


class NodeSelectorTerm(Base, omit_defaults=True):
    MatchExpressions: list[Requirement] | None = None
    MatchFields: list[Requirement] | None = None


class PreferredSchedulingTerm(Base, omit_defaults=True):
    Weight: int = 0
    Preference: NodeSelectorTerm = msgspec.field(default_factory=NodeSelectorTerm)


class NodeAffinity(Base, omit_defaults=True):
    Required: list[NodeSelectorTerm] | None = None  # None: no requirement
    Preferred: list[PreferredSchedulingTerm] | None = None


class LabelSelectorSpec(Base, omit_defaults=True):
    """A ``metav1.LabelSelector``: ``MatchLabels`` and ``MatchExpressions`` (In, NotIn, Exists,
    DoesNotExist), ANDed; both empty select everything."""

    MatchLabels: dict[str, str] | None = None
    MatchExpressions: list[Requirement] | None = None


class PodAffinityTerm(Base, omit_defaults=True):
    LabelSelector: LabelSelectorSpec | None = None  # None: selects no Pod
    Namespaces: list[str] | None = None
    NamespaceSelector: LabelSelectorSpec | None = None
    TopologyKey: str = ""


class WeightedPodAffinityTerm(Base, omit_defaults=True):
    Weight: int = 0
    Term: PodAffinityTerm = msgspec.field(default_factory=PodAffinityTerm)


class PodAffinity(Base, omit_defaults=True):
    Required: list[PodAffinityTerm] | None = None
    Preferred: list[WeightedPodAffinityTerm] | None = None


_NodeAffinity = NodeAffinity
_PodAffinity = PodAffinity


class Affinity(Base, omit_defaults=True):
    NodeAffinity: _NodeAffinity | None = None
    PodAffinity: _PodAffinity | None = None
    PodAntiAffinity: _PodAffinity | None = None


class TopologySpreadConstraint(Base, omit_defaults=True):
    MaxSkew: int = 1
    TopologyKey: str = ""
    WhenUnsatisfiable: str = DO_NOT_SCHEDULE  # DoNotSchedule | ScheduleAnyway
    LabelSelector: LabelSelectorSpec | None = None  # None: matches no Pod


# ---------------------------------------------------------------- node affinity


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def requirement_matches(r: Requirement, labels: Mapping[str, str]) -> bool:
    """One node selector expression against a node's labels (Kubernetes' ``NodeSelectorRequirement``)."""
    values = r.Values or []
    has = r.Key in labels
    if r.Operator == IN:
        return has and labels[r.Key] in values
    if r.Operator == NOT_IN:
        return not has or labels[r.Key] not in values
    if r.Operator == EXISTS:
        return has
    if r.Operator == DOES_NOT_EXIST:
        return not has
    if r.Operator in (GT, LT):
        if not has or len(values) != 1:
            return False
        mine, bound = _int(labels[r.Key]), _int(values[0])
        if mine is None or bound is None:
            return False
        return mine > bound if r.Operator == GT else mine < bound
    return False


def term_matches(term: NodeSelectorTerm, labels: Mapping[str, str], name: str) -> bool:
    """A node selector term: every expression over the labels and every field (``metadata.name``)
    matches; a term with neither matches nothing."""
    if not term.MatchExpressions and not term.MatchFields:
        return False
    for r in term.MatchExpressions or ():
        if not requirement_matches(r, labels):
            return False
    for f in term.MatchFields or ():
        if f.Key != NAME_FIELD or f.Operator not in (IN, NOT_IN):
            return False
        if not requirement_matches(f, {NAME_FIELD: name}):
            return False
    return True


def required_matches(na: NodeAffinity | None, labels: Mapping[str, str], name: str) -> bool:
    """Whether a node passes the required node affinity (its terms ORed; none required: every node)."""
    if na is None or na.Required is None:
        return True
    return any(term_matches(t, labels, name) for t in na.Required)


def preferred_weight(na: NodeAffinity | None, labels: Mapping[str, str], name: str) -> int:
    """The summed weights of the preferred terms the node matches."""
    if na is None or not na.Preferred:
        return 0
    return sum(p.Weight for p in na.Preferred if term_matches(p.Preference, labels, name))


# ---------------------------------------------------------------- label selectors over Pods


def compile_selector(spec: LabelSelectorSpec | None) -> selectors.LabelSelector:
    """The selector a ``LabelSelectorSpec`` means; None selects nothing, ``{}`` everything. A selector
    that cannot be read (the door validates them) selects nothing."""
    if spec is None:
        return selectors.LabelSelector.nothing()
    exprs = [{"key": r.Key, "operator": r.Operator, "values": r.Values or []} for r in spec.MatchExpressions or ()]
    try:
        return selectors.selector_from_spec(spec.MatchLabels, exprs)
    except selectors.SelectorError:
        return selectors.LabelSelector.nothing()


NamespaceLabels = Callable[[str], Mapping[str, str]]


def default_namespace_labels(namespace: str) -> Mapping[str, str]:
    """The label every namespace has (``kubernetes.io/metadata.name``), when no other is known."""
    return {NAMESPACE_NAME_LABEL: namespace}


class CompiledTerm:
    """A Pod affinity term made ready to match Pods: its selector, and which namespaces it looks in
    (relative to the Pod that has the term)."""

    def __init__(self, term: PodAffinityTerm, own_namespace: str, weight: int = 0) -> None:
        self.term = term
        self.weight = weight
        self.topology_key = term.TopologyKey
        self.selector = compile_selector(term.LabelSelector)
        self.namespaces = frozenset(term.Namespaces or ()) if term.Namespaces or term.NamespaceSelector else \
            frozenset((own_namespace,))
        self.namespace_selector = (compile_selector(term.NamespaceSelector)
                                   if term.NamespaceSelector is not None else None)

    def matches(self, namespace: str, labels: Mapping[str, str] | None,
                namespace_labels: NamespaceLabels = default_namespace_labels) -> bool:
        """Whether a Pod of ``namespace`` with ``labels`` is one this term selects."""
        if namespace not in self.namespaces:
            if self.namespace_selector is None or not self.namespace_selector.matches(namespace_labels(namespace)):
                return False
        return self.selector.matches(labels or {})
