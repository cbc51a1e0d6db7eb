"""Kubernetes' placement rules for Pods, as filters and scorers of the one pipeline (``filters.py``):
node affinity, inter-pod affinity and anti-affinity, topology spread constraints. The matching rules
are ``api/affinity.py``'s; the words are kube-scheduler's (its NodeAffinity, InterPodAffinity and
PodTopologySpread plugins). None applies to a Swarm task (it has no ``TaskSpec.Pod``), so Swarm's
placement and words stay what they were.

* ``NodeAffinityFilter``: the required node affinity against the node's Kubernetes labels and name
  (``node(s) didn't match Pod's node affinity/selector``); ``NodeAffinityScorer``: the weights of the
  preferred terms a node misses.
* ``InterPodAffinityFilter`` and ``TopologySpreadFilter`` look at the Pods on every node, so they
  need the scheduler's view of the cluster (``Cluster``, given to the pipeline) and count, when they
  are set to a task, the matching Pods per topology domain (a domain: the nodes with one value of
  the term's ``topologyKey``), as kube-scheduler's PreFilter does. A Pod with such rules is placed
  on its own (``scheduler.group_key``), so the counts include the Pods placed just before it.

  Inter-pod affinity (kube-scheduler's order and words): the new Pod's required affinity wants, for
  each term, a domain where a Pod matching every term runs (``node(s) didn't match pod affinity
  rules``; the first of a series that selects itself may go anywhere the topology labels exist, when
  no Pod matches yet); its required anti-affinity wants no Pod a term selects in the domain
  (``node(s) didn't match pod anti-affinity rules``); a Pod already placed whose required
  anti-affinity selects the new Pod keeps it out of its domain (``node(s) didn't satisfy existing
  pods anti-affinity rules``). Anti-affinity is a rejection preemption could resolve (the message
  then counts ``No preemption victims found for incoming pod``, as shoal preempts nothing),
  affinity is not; the same for a spread's skew and a node without its key. Preferred terms score:
  a node gets the weights of the affinity terms it misses and of the anti-affinity terms it meets
  as penalty.

  Topology spread (``whenUnsatisfiable: DoNotSchedule``): among the nodes that pass the Pod's node
  selector and required node affinity and have every constraint's key, the matching Pods of the
  Pod's namespace are counted per domain (Pods being deleted do not count); a node whose domain would
  exceed the least populated domain by more than ``maxSkew`` once the Pod is there is turned down
  (``node(s) didn't match pod topology spread constraints``; a node without the key: ``… (missing
  required label)``). ``ScheduleAnyway`` constraints score: the fewer matching Pods in the node's
  domain, the better.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoal.api import affinity, nodelabels
from shoal.api.affinity import CompiledTerm, NamespaceLabels, default_namespace_labels
from shoal.api.types import Task

if TYPE_CHECKING:
    from shoal.manager.scheduler.filters import NodeInfo

# kube-scheduler's reasons.
KUBE_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
KUBE_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
KUBE_AFFINITY = "node(s) didn't match pod affinity rules"
KUBE_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
KUBE_SPREAD = "node(s) didn't match pod topology spread constraints"
KUBE_SPREAD_LABEL = KUBE_SPREAD + " (missing required label)"

# Where kube-scheduler runs them (``filters.py`` has the earlier ranks): NodeAffinity with the node
# selector, then PodTopologySpread, then InterPodAffinity, after every other filter.
RANK_AFFINITY, RANK_SPREAD, RANK_INTERPOD = 2, 5, 6

# A node without a ScheduleAnyway constraint's key ranks after every node with it.
MISSING_KEY_PENALTY = 1000


@dataclass
class Cluster:
    """What the cluster-wide filters see: every node (with the Pods it holds) and namespaces' labels."""

    nodes: Mapping[str, NodeInfo]
    namespace_labels: NamespaceLabels = field(default=default_namespace_labels)
    # Whether some placed Pod has a required anti-affinity (None: not known, looked up once). The
    # scheduler forgets it at each tick and sets it when it places such a Pod, so a Pod without
    # rules does not look at every node when no Pod has any.
    anti_affinity: bool | None = None

    def has_anti_affinity(self) -> bool:
        if self.anti_affinity is None:
            self.anti_affinity = any(ni.anti_affinity_pods for ni in self.nodes.values())
        return self.anti_affinity


def _pod_affinity(t: Task) -> affinity.Affinity | None:
    return t.Spec.Pod.Affinity if t.Spec.Pod is not None else None


def _node_affinity(t: Task) -> affinity.NodeAffinity | None:
    a = _pod_affinity(t)
    return a.NodeAffinity if a is not None else None


def fits_node_rules(t: Task, n: NodeInfo) -> bool:
    """The Pod's node selector and required node affinity hold on the node."""
    pod = t.Spec.Pod
    if pod is None:
        return True
    if pod.NodeSelector and not nodelabels.matches_selector(pod.NodeSelector, n.kube_labels):
        return False
    return affinity.required_matches(_node_affinity(t), n.kube_labels, nodelabels.node_name(n.node))


def has_cluster_rules(t: Task) -> bool:
    """Whether the Pod's placement depends on the other Pods (inter-pod terms, spread constraints)."""
    pod = t.Spec.Pod
    if pod is None:
        return False
    a = pod.Affinity
    return bool(pod.TopologySpreadConstraints) or (a is not None and (a.PodAffinity is not None or
                                                                     a.PodAntiAffinity is not None))


def required_anti_affinity(t: Task) -> bool:
    a = _pod_affinity(t)
    return a is not None and a.PodAntiAffinity is not None and bool(a.PodAntiAffinity.Required)


# ---------------------------------------------------------------- node affinity


class NodeAffinityFilter:
    """The Pod's required node affinity (``requiredDuringSchedulingIgnoredDuringExecution``)."""

    name = "nodeaffinity"
    reason = "node affinity not satisfied"
    kube_rank = RANK_AFFINITY
    resolvable = False

    def __init__(self) -> None:
        self.affinity: affinity.NodeAffinity | None = None

    def set_task(self, t: Task) -> bool:
        na = _node_affinity(t)
        if na is None or na.Required is None:
            return False
        self.affinity = na
        return True

    def check(self, n: NodeInfo) -> bool:
        return affinity.required_matches(self.affinity, n.kube_labels, nodelabels.node_name(n.node))

    def explain(self, nodes: int) -> str:
        return f"{self.reason} on 1 node" if nodes == 1 else f"{self.reason} on {nodes} nodes"

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        return [KUBE_NODE_AFFINITY]


class NodeAffinityScorer:
    """The weights of the preferred node affinity terms a node does not match (lower first)."""

    name = "nodeaffinity"

    def __init__(self) -> None:
        self.affinity: affinity.NodeAffinity | None = None
        self.total = 0

    def set_task(self, t: Task) -> bool:
        na = _node_affinity(t)
        if na is None or not na.Preferred:
            return False
        self.affinity = na
        self.total = sum(p.Weight for p in na.Preferred)
        return True

    def penalty(self, n: NodeInfo) -> int:
        return self.total - affinity.preferred_weight(self.affinity, n.kube_labels, nodelabels.node_name(n.node))


# ---------------------------------------------------------------- inter-pod affinity

Pair = tuple[str, str]  # (topology key, value)


def _pods(cluster: Cluster) -> list[tuple[NodeInfo, Task]]:
    return [(ni, p) for ni in cluster.nodes.values() for p in ni.pods.values()]


def _compiled(t: Task, terms: list[affinity.PodAffinityTerm] | None) -> list[CompiledTerm]:
    return [CompiledTerm(term, t.Namespace) for term in terms or ()]


class InterPodAffinityFilter:
    """Required pod affinity and anti-affinity, the new Pod's and the placed Pods' (see the module's
    docstring)."""

    name = "interpodaffinity"
    reason = "pod affinity not satisfied"
    kube_rank = RANK_INTERPOD
    resolvable = False

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.affinity: list[CompiledTerm] = []
        self.anti: list[CompiledTerm] = []
        self.affinity_counts: Counter[Pair] = Counter()
        self.anti_counts: Counter[Pair] = Counter()
        self.existing_anti: Counter[Pair] = Counter()
        self.self_match = False

    def set_task(self, t: Task) -> bool:
        if not t.Namespace:
            return False
        a = _pod_affinity(t)
        self.affinity = _compiled(t, a.PodAffinity.Required if a is not None and a.PodAffinity else None)
        self.anti = _compiled(t, a.PodAntiAffinity.Required if a is not None and a.PodAntiAffinity else None)
        any_existing = self.cluster.has_anti_affinity()
        if not self.affinity and not self.anti and not any_existing:
            return False
        ns_labels = self.cluster.namespace_labels
        self.affinity_counts, self.anti_counts, self.existing_anti = Counter(), Counter(), Counter()
        for ni, p in _pods(self.cluster):
            labels = ni.kube_labels
            if self.affinity and all(c.matches(p.Namespace, p.Labels, ns_labels) for c in self.affinity):
                for c in self.affinity:
                    if c.topology_key in labels:
                        self.affinity_counts[(c.topology_key, labels[c.topology_key])] += 1
            for c in self.anti:
                if c.topology_key in labels and c.matches(p.Namespace, p.Labels, ns_labels):
                    self.anti_counts[(c.topology_key, labels[c.topology_key])] += 1
            if any_existing and required_anti_affinity(p):
                pa = _pod_affinity(p)
                assert pa is not None and pa.PodAntiAffinity is not None
                for c in _compiled(p, pa.PodAntiAffinity.Required):
                    if c.topology_key in labels and c.matches(t.Namespace, t.Labels, ns_labels):
                        self.existing_anti[(c.topology_key, labels[c.topology_key])] += 1
        self.self_match = all(c.matches(t.Namespace, t.Labels, ns_labels) for c in self.affinity)
        return True

    def reason_for(self, n: NodeInfo) -> str:
        """kube-scheduler's reason for turning the node down, "" when it passes; ``resolvable`` then
        says whether preemption could help (anti-affinity: evicting the Pods could; affinity: no)."""
        labels = n.kube_labels
        self.resolvable = False
        if self.affinity:
            if any(c.topology_key not in labels for c in self.affinity):
                return KUBE_AFFINITY
            found = all(self.affinity_counts[(c.topology_key, labels[c.topology_key])] > 0 for c in self.affinity)
            if not found and not (not self.affinity_counts and self.self_match):
                return KUBE_AFFINITY
        self.resolvable = True
        for c in self.anti:
            if c.topology_key in labels and self.anti_counts[(c.topology_key, labels[c.topology_key])] > 0:
                return KUBE_ANTI_AFFINITY
        for (key, value), count in self.existing_anti.items():
            if count > 0 and labels.get(key) == value:
                return KUBE_EXISTING_ANTI
        return ""

    def check(self, n: NodeInfo) -> bool:
        return not self.reason_for(n)

    def explain(self, nodes: int) -> str:
        return f"{self.reason} on 1 node" if nodes == 1 else f"{self.reason} on {nodes} nodes"

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        reason = self.reason_for(n)
        return [reason] if reason else []


class InterPodAffinityScorer:
    """Preferred pod affinity and anti-affinity: the weights of the affinity terms with no selected
    Pod in the node's domain, and of the anti-affinity terms with one, as penalty."""

    name = "interpodaffinity"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.terms: list[tuple[CompiledTerm, bool]] = []  # (term, anti)
        self.counts: Counter[tuple[int, str]] = Counter()  # (term index, domain value) → Pods

    def set_task(self, t: Task) -> bool:
        a = _pod_affinity(t)
        if a is None or not t.Namespace:
            return False
        self.terms = []
        for group, anti in ((a.PodAffinity, False), (a.PodAntiAffinity, True)):
            for w in group.Preferred or () if group is not None else ():
                self.terms.append((CompiledTerm(w.Term, t.Namespace, w.Weight), anti))
        if not self.terms:
            return False
        self.counts = Counter()
        for ni, p in _pods(self.cluster):
            for i, (c, _anti) in enumerate(self.terms):
                value = ni.kube_labels.get(c.topology_key)
                if value is not None and c.matches(p.Namespace, p.Labels, self.cluster.namespace_labels):
                    self.counts[(i, value)] += 1
        return True

    def penalty(self, n: NodeInfo) -> int:
        out = 0
        for i, (c, anti) in enumerate(self.terms):
            value = n.kube_labels.get(c.topology_key)
            present = value is not None and self.counts[(i, value)] > 0
            if present == anti:
                out += c.weight
        return out


# ---------------------------------------------------------------- topology spread


class _Spread:
    """Counts, per constraint, the Pods its selector matches per domain, over the eligible nodes."""

    def __init__(self, cluster: Cluster, when: str) -> None:
        self.cluster = cluster
        self.when = when
        self.constraints: list[tuple[affinity.TopologySpreadConstraint, bool]] = []  # (constraint, self-match)
        self.counts: list[Counter[str]] = []
        self.least: list[int] = []

    def set_task(self, t: Task) -> bool:
        pod = t.Spec.Pod
        if pod is None or not t.Namespace:
            return False
        mine = [c for c in pod.TopologySpreadConstraints or () if c.WhenUnsatisfiable == self.when]
        if not mine:
            return False
        keys = [c.TopologyKey for c in mine]
        selectors = [affinity.compile_selector(c.LabelSelector) for c in mine]
        self.constraints = [(c, s.matches(t.Labels or {})) for c, s in zip(mine, selectors, strict=True)]
        self.counts = [Counter() for _ in mine]
        for ni in self.cluster.nodes.values():
            labels = ni.kube_labels
            if not all(k in labels for k in keys) or not fits_node_rules(t, ni):
                continue
            for i, key in enumerate(keys):
                value = labels[key]
                self.counts[i][value] += sum(1 for p in ni.pods.values()
                                             if p.Namespace == t.Namespace and not p.DeletionTimestamp
                                             and selectors[i].matches(p.Labels or {}))
        self.least = [min(c.values()) if c else 0 for c in self.counts]
        return True


class TopologySpreadFilter(_Spread):
    """``whenUnsatisfiable: DoNotSchedule`` constraints (see the module's docstring)."""

    name = "topologyspread"
    reason = "topology spread constraints not satisfied"
    kube_rank = RANK_SPREAD
    resolvable = False

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster, affinity.DO_NOT_SCHEDULE)

    def reason_for(self, n: NodeInfo) -> str:
        """kube-scheduler's reason, "" when the node passes; ``resolvable`` then says whether
        preemption could help (a skew: yes; a missing label: no)."""
        labels = n.kube_labels
        self.resolvable = False
        for i, (c, self_match) in enumerate(self.constraints):
            value = labels.get(c.TopologyKey)
            if value is None:
                return KUBE_SPREAD_LABEL
            self.resolvable = True
            if self.counts[i][value] + int(self_match) - self.least[i] > c.MaxSkew:
                return KUBE_SPREAD
        return ""

    def check(self, n: NodeInfo) -> bool:
        return not self.reason_for(n)

    def explain(self, nodes: int) -> str:
        return f"{self.reason} on 1 node" if nodes == 1 else f"{self.reason} on {nodes} nodes"

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        reason = self.reason_for(n)
        return [reason] if reason else []


class TopologySpreadScorer(_Spread):
    """``whenUnsatisfiable: ScheduleAnyway`` constraints: the matching Pods in the node's domains."""

    name = "topologyspread"

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster, affinity.SCHEDULE_ANYWAY)

    def penalty(self, n: NodeInfo) -> int:
        out = 0
        for i, (c, _self_match) in enumerate(self.constraints):
            value = n.kube_labels.get(c.TopologyKey)
            out += MISSING_KEY_PENALTY if value is None else self.counts[i][value]
        return out
