"""A Pod's ``spec.affinity`` and ``spec.topologySpreadConstraints`` read into the core's types
(``api/affinity.py``), which the scheduler acts on. The JSON itself stays what the user wrote (the
Pod's kept fields, ``convert.py``), so what ``kubectl get -o yaml`` shows does not change; this only
reads it. Shapes that are not objects or lists read as absent (the API server's validation of these
fields is not repeated here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.api.affinity import (
    Affinity,
    LabelSelectorSpec,
    NodeAffinity,
    NodeSelectorTerm,
    PodAffinity,
    PodAffinityTerm,
    PreferredSchedulingTerm,
    Requirement,
    TopologySpreadConstraint,
    WeightedPodAffinityTerm,
)

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _dict(v: object) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _list(v: object) -> list[Any]:
    return v if isinstance(v, list) else []


def _str(v: object) -> str:
    return v if isinstance(v, str) else ""


def _int(v: object, default: int = 0) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else default


def _requirements(items: object) -> list[Requirement] | None:
    out = [Requirement(Key=_str(x.get("key")), Operator=_str(x.get("operator")),
                       Values=[str(v) for v in _list(x.get("values"))] or None)
           for x in map(_dict, _list(items))]
    return out or None


def _term(d: Mapping[str, Any]) -> NodeSelectorTerm:
    return NodeSelectorTerm(MatchExpressions=_requirements(d.get("matchExpressions")),
                            MatchFields=_requirements(d.get("matchFields")))


def label_selector(v: object) -> LabelSelectorSpec | None:
    """A ``metav1.LabelSelector``; None when absent."""
    if not isinstance(v, Mapping):
        return None
    labels = {str(k): str(x) for k, x in _dict(v.get("matchLabels")).items()}
    return LabelSelectorSpec(MatchLabels=labels or None, MatchExpressions=_requirements(v.get("matchExpressions")))


def _pod_term(d: Mapping[str, Any]) -> PodAffinityTerm:
    return PodAffinityTerm(LabelSelector=label_selector(d.get("labelSelector")),
                           Namespaces=[str(x) for x in _list(d.get("namespaces"))] or None,
                           NamespaceSelector=label_selector(d.get("namespaceSelector")),
                           TopologyKey=_str(d.get("topologyKey")))


def _pod_affinity(v: object) -> PodAffinity | None:
    if not isinstance(v, Mapping):
        return None
    return PodAffinity(
        Required=[_pod_term(_dict(x)) for x in _list(v.get(REQUIRED))] or None,
        Preferred=[WeightedPodAffinityTerm(Weight=_int(_dict(x).get("weight")),
                                           Term=_pod_term(_dict(_dict(x).get("podAffinityTerm"))))
                   for x in _list(v.get(PREFERRED))] or None)


def _node_affinity(v: object) -> NodeAffinity | None:
    if not isinstance(v, Mapping):
        return None
    required = v.get(REQUIRED)
    return NodeAffinity(
        Required=[_term(_dict(t)) for t in _list(_dict(required).get("nodeSelectorTerms"))]
        if isinstance(required, Mapping) else None,
        Preferred=[PreferredSchedulingTerm(Weight=_int(_dict(x).get("weight")),
                                           Preference=_term(_dict(_dict(x).get("preference"))))
                   for x in _list(v.get(PREFERRED))] or None)


def affinity(v: object) -> Affinity | None:
    """``spec.affinity``; None when absent or empty."""
    d = _dict(v)
    out = Affinity(NodeAffinity=_node_affinity(d.get("nodeAffinity")), PodAffinity=_pod_affinity(d.get("podAffinity")),
                   PodAntiAffinity=_pod_affinity(d.get("podAntiAffinity")))
    return out if out != Affinity() else None


def spread_constraints(v: object) -> list[TopologySpreadConstraint] | None:
    """``spec.topologySpreadConstraints``; None when absent or empty."""
    out = [TopologySpreadConstraint(MaxSkew=_int(x.get("maxSkew"), 1), TopologyKey=_str(x.get("topologyKey")),
                                    WhenUnsatisfiable=_str(x.get("whenUnsatisfiable")) or "DoNotSchedule",
                                    LabelSelector=label_selector(x.get("labelSelector")))
           for x in map(_dict, _list(v))]
    return out or None


def _requirements_wire(items: list[Requirement] | None) -> list[dict[str, Any]]:
    return [{"key": r.Key, "operator": r.Operator, **({"values": list(r.Values)} if r.Values else {})}
            for r in items or []]


def _term_wire(t: NodeSelectorTerm) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if t.MatchExpressions:
        d["matchExpressions"] = _requirements_wire(t.MatchExpressions)
    if t.MatchFields:
        d["matchFields"] = _requirements_wire(t.MatchFields)
    return d


def affinity_wire(kept: object, core: Affinity | None) -> dict[str, Any] | None:
    """``spec.affinity`` to show: what the client wrote (``kept``), with the required node affinity the
    core holds when it is not what was written (a controller's, as a DaemonSet's Pods get:
    ``metadata.name In [node]``)."""
    out = dict(_dict(kept))
    required = core.NodeAffinity.Required if core is not None and core.NodeAffinity is not None else None
    written = _node_affinity(out.get("nodeAffinity"))
    if required is None or (written is not None and written.Required == required):
        return out if isinstance(kept, Mapping) else None
    node = dict(_dict(out.get("nodeAffinity")))
    node[REQUIRED] = {"nodeSelectorTerms": [_term_wire(t) for t in required]}
    out["nodeAffinity"] = node
    return out
