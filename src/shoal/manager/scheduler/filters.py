"""Scheduler filters. Each is tiny: does it apply to this task, does this node pass, and how to say
why nodes failed, in SwarmKit's fixed words (``insufficient resources on 3 nodes``).

The order is SwarmKit's, cheapest and most telling first: ready/availability, taints (Kubernetes';
kube-scheduler runs its TaintToleration filter as early), resources (CPU, memory and generic
resources), constraints, a Pod's node selector and node affinity, platform, host ports, max replicas
per node; then, given the scheduler's view of the cluster, a Pod's topology spread constraints and
inter-pod affinity (``podfilters.py``, which also has the Pod scorers).
``NodeInfo`` is what the scheduler knows of a node, kept up to date one task at a time.

Each filter also says why it turns a node down in kube-scheduler's words (``kube_reasons``: one node
may give several, as ``Insufficient cpu`` and ``Insufficient memory``), where kube-scheduler runs its
counterpart (``kube_rank``: the first filter of that order that fails names the node's reason) and
whether preemption could help there (``resolvable``: only for resources). ``explain.py`` turns them
into the Kubernetes door's message; Swarm's stays ``Pipeline.explain``.

Beside the filters, scorers rank the nodes that pass (``Scorer``: a penalty per node, lower first);
the one there is counts the ``PreferNoSchedule`` taints a task does not tolerate. Taints are
Kubernetes': when no node has any (always, on the Swarm side) the pipeline leaves the taint filter
and scorer out altogether (``Pipeline(taints=False)``), so they cost nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from shoal.api import nodelabels, taints
from shoal.api.generic import kind_of
from shoal.api.types import GenericResource, Node, Resources, Taint, Task, Toleration
from shoal.manager.scheduler import constraint, generic
from shoal.manager.scheduler.nodeload import NodeLoad
from shoal.manager.scheduler.podfilters import (
    Cluster,
    InterPodAffinityFilter,
    InterPodAffinityScorer,
    NodeAffinityFilter,
    NodeAffinityScorer,
    TopologySpreadFilter,
    TopologySpreadScorer,
    required_anti_affinity,
)


@dataclass
class NodeInfo:
    """What the scheduler knows of a node: the node, what is left of it, and what runs on it."""

    node: Node
    available_cpus: int = 0
    available_memory: int = 0
    generic: generic.Pool = field(default_factory=generic.Pool)
    active_tasks: int = 0
    tasks_by_owner: dict[str, int] = field(default_factory=dict)  # owner ID (a service) → its tasks here
    used_host_ports: set[tuple[str, int]] = field(default_factory=set)
    task_ids: set[str] = field(default_factory=set)
    claimed: dict[str, list[GenericResource]] = field(default_factory=dict)  # task ID → generic resources held
    # (owner ID, spec version) → when its tasks failed here, the last MONITOR_FAILURES seconds
    recent_failures: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    _kube_labels: dict[str, str] | None = None  # the node's Kubernetes labels, made when first asked
    pods: dict[str, Task] = field(default_factory=dict)  # the Pods here (tasks with a namespace), by ID
    anti_affinity_pods: int = 0  # of which with a required pod anti-affinity
    load: NodeLoad | None = None  # the scheduler's index of its nodes by load, told of every task here

    @property
    def kube_labels(self) -> dict[str, str]:
        """The node's labels as Kubernetes has them (``api/nodelabels.py``), for a Pod's node selector."""
        if self._kube_labels is None:
            self._kube_labels = nodelabels.kube_labels(self.node)
        return self._kube_labels

    @classmethod
    def of(cls, node: Node) -> NodeInfo:
        res = node.Description.Resources
        return cls(node=node, available_cpus=res.NanoCPUs, available_memory=res.MemoryBytes,
                   generic=generic.Pool.of(res.GenericResources))

    def update_node(self, node: Node) -> None:
        """A new version of the node: its capacity may have changed; what its tasks hold stays taken."""
        old, new = self.node.Description.Resources, node.Description.Resources
        self.available_cpus += new.NanoCPUs - old.NanoCPUs
        self.available_memory += new.MemoryBytes - old.MemoryBytes
        if old.GenericResources != new.GenericResources:
            self.generic = generic.Pool.of(new.GenericResources)
            for given in self.claimed.values():
                self.generic.take(given)
        self.node = node
        self._kube_labels = None

    def add_task(self, t: Task) -> bool:
        if t.ID in self.task_ids:
            return False
        self.task_ids.add(t.ID)
        self.active_tasks += 1
        owned = self.tasks_by_owner[t.Owner.ID] = self.tasks_by_owner.get(t.Owner.ID, 0) + 1
        if self.load is not None:
            self.load.moved(self.node.ID, self.active_tasks - 1, self.active_tasks)
            if owned == 1:
                self.load.joined(self.node.ID, t.Owner.ID)
        r = reservations(t)
        if r is not None:
            self.available_cpus -= r.NanoCPUs
            self.available_memory -= r.MemoryBytes
        if t.GenericResources:  # given when it was placed (a restarted scheduler re-reads the store)
            self.generic.take(t.GenericResources)
            self.claimed[t.ID] = list(t.GenericResources)
        elif r is not None and r.GenericResources:
            self.claimed[t.ID] = self.generic.claim(r.GenericResources)
        for proto, port in host_ports(t):
            self.used_host_ports.add((proto, port))
        if t.Namespace:
            self.pods[t.ID] = t
            if required_anti_affinity(t):
                self.anti_affinity_pods += 1
        return True

    def remove_task(self, t: Task) -> bool:
        if t.ID not in self.task_ids:
            return False
        self.task_ids.discard(t.ID)
        self.active_tasks -= 1
        n = self.tasks_by_owner.get(t.Owner.ID, 0) - 1
        if n > 0:
            self.tasks_by_owner[t.Owner.ID] = n
        else:
            self.tasks_by_owner.pop(t.Owner.ID, None)
        if self.load is not None:
            self.load.moved(self.node.ID, self.active_tasks + 1, self.active_tasks)
            if n <= 0:
                self.load.left(self.node.ID, t.Owner.ID)
        r = reservations(t)
        if r is not None:
            self.available_cpus += r.NanoCPUs
            self.available_memory += r.MemoryBytes
        given = self.claimed.pop(t.ID, None)
        if given:
            self.generic.give_back(given)
        for proto, port in host_ports(t):
            self.used_host_ports.discard((proto, port))
        if self.pods.pop(t.ID, None) is not None and required_anti_affinity(t):
            self.anti_affinity_pods -= 1
        return True


    def task_failed(self, t: Task, now: float | None = None) -> None:
        """A task of a service failed (or was rejected) here: rank this node last for it for a while."""
        now = time.time() if now is None else now
        self._forget_failures(now)
        key = (t.Owner.ID, t.SpecVersion.Index if t.SpecVersion else 0)
        self.recent_failures.setdefault(key, []).append(now)

    def failing(self, now: float) -> bool:
        """Whether some task failed here in the last MONITOR_FAILURES seconds."""
        self._forget_failures(now)
        return bool(self.recent_failures)

    def failure_rank(self, service_id: str, spec_version: int, now: float) -> int:
        """SwarmKit's: a node where the service (at this spec version) failed MAX_FAILURES times or more
        in the last MONITOR_FAILURES seconds comes after every other; between two such nodes, the one
        with fewer failures first. 0 for every other node."""
        if not self.recent_failures:
            return 0
        times = self.recent_failures.get((service_id, spec_version))
        n = sum(1 for at in times if at > now - MONITOR_FAILURES) if times else 0
        return n if n >= MAX_FAILURES else 0

    def _forget_failures(self, now: float) -> None:
        for key in [k for k, ts in self.recent_failures.items() if ts[-1] <= now - MONITOR_FAILURES]:
            del self.recent_failures[key]


# SwarmKit's scheduler: five failures of a service on a node within five minutes rank the node last.
MAX_FAILURES = 5
MONITOR_FAILURES = 300.0


def reservations(t: Task) -> Resources | None:
    res = t.Spec.Resources
    return res.Reservations if res is not None else None


def host_ports(t: Task) -> list[tuple[str, int]]:
    if t.Endpoint is None or not t.Endpoint.Ports:
        return []
    return [(p.Protocol, p.PublishedPort) for p in t.Endpoint.Ports if p.PublishMode == "host" and p.PublishedPort]


def _on(nodes: int, reason: str) -> str:
    return f"{reason} on 1 node" if nodes == 1 else f"{reason} on {nodes} nodes"


class Filter(Protocol):
    name: str
    reason: str  # what it says of one node, in SwarmKit's words, for a dry run
    kube_rank: int  # where kube-scheduler runs its counterpart: the first that fails names the node
    resolvable: bool  # whether evicting lower-priority Pods could make room (kube-scheduler's preemption)

    def set_task(self, t: Task) -> bool: ...

    def check(self, n: NodeInfo) -> bool: ...

    def explain(self, nodes: int) -> str: ...

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        """kube-scheduler's words for a node this filter turns down (``Insufficient memory``)."""
        ...


# kube-scheduler's reasons (its plugins' fixed strings), as ``FailedScheduling`` counts them per node.
KUBE_UNSCHEDULABLE = "node(s) were unschedulable"
KUBE_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
KUBE_HOST_PORTS = "node(s) didn't have free ports for the requested pod ports"
KUBE_INSUFFICIENT = "Insufficient {}"
KUBE_TOO_MANY = "node(s) didn't match pod topology spread constraints"

# kube-scheduler's filter order (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
# NodePorts, NodeResourcesFit, then the rest).
RANK_UNSCHEDULABLE, RANK_TAINTS, RANK_AFFINITY, RANK_PORTS, RANK_RESOURCES, RANK_OTHER = range(6)


class ReadyFilter:
    """A node takes new tasks when it is ready and active (not paused nor drained). In Kubernetes'
    words a paused or drained node is unschedulable (cordoned), and one not ready has the
    ``node.kubernetes.io/unreachable`` taint its node controller adds."""

    name = "ready"
    reason = "node not available for new tasks"
    kube_rank = RANK_UNSCHEDULABLE
    resolvable = False

    def __init__(self) -> None:
        self.cordon_tolerated = False

    def set_task(self, t: Task) -> bool:
        # A Pod that tolerates the ``node.kubernetes.io/unschedulable`` taint (a DaemonSet's) may go to
        # a cordoned node, as kube-scheduler's NodeUnschedulable filter lets it.
        p = t.Spec.Placement
        self.cordon_tolerated = bool(t.Namespace and p is not None and p.Tolerations and taints.tolerated(
            p.Tolerations, Taint(Key=nodelabels.UNSCHEDULABLE_TAINT, Effect=taints.NO_SCHEDULE)))
        return True

    def check(self, n: NodeInfo) -> bool:
        return n.node.Status.State == "ready" and (n.node.Spec.Availability == "active" or self.cordon_tolerated)

    def explain(self, nodes: int) -> str:
        return "1 node not available for new tasks" if nodes == 1 else f"{nodes} nodes not available for new tasks"

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        if nodelabels.unschedulable(n.node):
            return [KUBE_UNSCHEDULABLE]
        return [KUBE_UNTOLERATED_TAINT.format(key=nodelabels.UNREACHABLE_TAINT, value="")]


class _Tolerating:
    """Holds the task's tolerations for a taint filter or scorer (every task applies: one without
    tolerations must keep off every taint that counts)."""

    def __init__(self) -> None:
        self.tolerations: list[Toleration] | None = None

    def set_task(self, t: Task) -> bool:
        p = t.Spec.Placement
        self.tolerations = p.Tolerations if p is not None else None
        return True


class TaintFilter(_Tolerating):
    """A task goes only to nodes whose ``NoSchedule`` and ``NoExecute`` taints it tolerates
    (kube-scheduler's TaintToleration filter; ``api/taints.py`` has the rules). A task without
    tolerations still applies: it must keep off every such taint."""

    name = "taints"
    reason = "untolerated taint"  # SwarmKit's style (Swarm has no taints, so Swarm never shows it)
    kube_rank = RANK_TAINTS
    resolvable = False


    def check(self, n: NodeInfo) -> bool:
        node_taints = n.node.Spec.Taints
        return not node_taints or taints.first_untolerated(node_taints, self.tolerations) is None

    def explain(self, nodes: int) -> str:
        return _on(nodes, self.reason)

    def kube_reason(self, n: NodeInfo) -> str:
        """kube-scheduler's words for a node this filter turns down (the Kubernetes door counts these
        per node, as ``3 node(s) had untolerated taint {dedicated: gpu}``); "" when it passes."""
        taint = taints.first_untolerated(n.node.Spec.Taints, self.tolerations)
        return KUBE_UNTOLERATED_TAINT.format(key=taint.Key, value=taint.Value) if taint is not None else ""

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        reason = self.kube_reason(n)
        return [reason] if reason else []


# kube-scheduler's TaintToleration filter reason, for the Kubernetes door.
KUBE_UNTOLERATED_TAINT = "node(s) had untolerated taint {{{key}: {value}}}"


class ResourceFilter:
    """The task's reservations (a Pod's summed requests) against what is left of the node: Swarm
    tasks and Pods count against the same memory, CPUs and generic resources."""

    name = "resources"
    reason = "insufficient resources"
    kube_rank = RANK_RESOURCES
    resolvable = True

    def __init__(self) -> None:
        self.cpus = 0
        self.memory = 0
        self.generic: list[GenericResource] = []

    def set_task(self, t: Task) -> bool:
        r = reservations(t)
        if r is None or (r.NanoCPUs == 0 and r.MemoryBytes == 0 and not r.GenericResources):
            return False
        self.cpus, self.memory, self.generic = r.NanoCPUs, r.MemoryBytes, r.GenericResources or []
        return True

    def check(self, n: NodeInfo) -> bool:
        if self.cpus > n.available_cpus or self.memory > n.available_memory:
            return False
        return all(n.generic.has_enough(g) for g in self.generic)

    def explain(self, nodes: int) -> str:
        return _on(nodes, self.reason)

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        out = []
        if self.cpus > n.available_cpus:
            out.append(KUBE_INSUFFICIENT.format("cpu"))
        if self.memory > n.available_memory:
            out.append(KUBE_INSUFFICIENT.format("memory"))
        out.extend(KUBE_INSUFFICIENT.format(kind_of(g)) for g in self.generic if not n.generic.has_enough(g))
        return out


class ConstraintFilter:
    name = "constraints"
    reason = "scheduling constraints not satisfied"
    kube_rank = RANK_AFFINITY
    resolvable = False

    def __init__(self) -> None:
        self.constraints: list[constraint.Constraint] = []
        self._cache: dict[tuple[str, ...], list[constraint.Constraint]] = {}

    def set_task(self, t: Task) -> bool:
        p = t.Spec.Placement
        if p is None or not p.Constraints:
            return False
        key = tuple(p.Constraints)
        parsed = self._cache.get(key)
        if parsed is None:
            try:
                parsed = constraint.parse(p.Constraints)
            except constraint.ConstraintError:
                return False  # validated at create time; an old bad one disables the filter, as in Swarm
            self._cache[key] = parsed
        self.constraints = parsed
        return True

    def check(self, n: NodeInfo) -> bool:
        return constraint.node_matches(self.constraints, n.node)

    def explain(self, nodes: int) -> str:
        return _on(nodes, self.reason)

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        return [KUBE_SELECTOR]


class NodeSelectorFilter:
    """A Pod's ``nodeSelector`` (``TaskSpec.Pod.NodeSelector``) against the node's Kubernetes labels
    (``api/nodelabels.py``: its own, and ``kubernetes.io/hostname``, ``os``, ``arch``, the
    control-plane role). Swarm tasks have no selector: it never applies to them."""

    name = "nodeselector"
    reason = "node selector not satisfied"
    kube_rank = RANK_AFFINITY
    resolvable = False

    def __init__(self) -> None:
        self.selector: dict[str, str] = {}

    def set_task(self, t: Task) -> bool:
        pod = t.Spec.Pod
        if pod is None or not pod.NodeSelector:
            return False
        self.selector = pod.NodeSelector
        return True

    def check(self, n: NodeInfo) -> bool:
        return nodelabels.matches_selector(self.selector, n.kube_labels)

    def explain(self, nodes: int) -> str:
        return _on(nodes, self.reason)

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        return [KUBE_SELECTOR]


class PlatformFilter:
    name = "platform"
    reason = "unsupported platform"
    kube_rank = RANK_AFFINITY
    resolvable = False

    def __init__(self) -> None:
        self.platforms: list[tuple[str, str]] = []

    def set_task(self, t: Task) -> bool:
        p = t.Spec.Placement
        if p is None or not p.Platforms:
            return False
        self.platforms = [(_norm(x.Architecture), x.OS) for x in p.Platforms]
        return True

    def check(self, n: NodeInfo) -> bool:
        plat = n.node.Description.Platform
        arch, os_ = _norm(plat.Architecture), plat.OS
        return any((a == "" or a == arch) and (o == "" or o == os_) for a, o in self.platforms)

    def explain(self, nodes: int) -> str:
        return _on(nodes, self.reason)

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        return [KUBE_SELECTOR]


def _norm(arch: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)


class HostPortFilter:
    name = "hostports"
    reason = "host-mode port already in use"
    kube_rank = RANK_PORTS
    resolvable = True

    def __init__(self) -> None:
        self.ports: list[tuple[str, int]] = []

    def set_task(self, t: Task) -> bool:
        self.ports = host_ports(t)
        return bool(self.ports)

    def check(self, n: NodeInfo) -> bool:
        return not any(p in n.used_host_ports for p in self.ports)

    def explain(self, nodes: int) -> str:
        return _on(nodes, self.reason)

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        return [KUBE_HOST_PORTS]


class MaxReplicasFilter:
    name = "maxreplicas"
    reason = "max replicas per node limit exceed"
    kube_rank = RANK_OTHER
    resolvable = False

    def __init__(self) -> None:
        self.service = ""
        self.limit = 0

    def set_task(self, t: Task) -> bool:
        p = t.Spec.Placement
        if p is None or p.MaxReplicas <= 0:
            return False
        self.service, self.limit = t.Owner.ID, p.MaxReplicas
        return True

    def check(self, n: NodeInfo) -> bool:
        return n.tasks_by_owner.get(self.service, 0) < self.limit

    def explain(self, nodes: int) -> str:
        return self.reason  # SwarmKit's words, without a count

    def kube_reasons(self, n: NodeInfo) -> list[str]:
        return [KUBE_TOO_MANY]


FILTERS: dict[str, type] = {
    f.name: f
    for f in (ReadyFilter, TaintFilter, ResourceFilter, ConstraintFilter, NodeSelectorFilter, NodeAffinityFilter,
              PlatformFilter, HostPortFilter, MaxReplicasFilter)
}
# What only matters when some node has taints (the pipeline leaves it out otherwise).
TAINT_ONLY = frozenset((TaintFilter.name,))


class Scorer(Protocol):
    """Ranks the nodes that pass the filters: a penalty per node, the lower the better (0 for most).
    Placement takes the nodes with the least penalty first, before spreading (``placement.py``)."""

    name: str

    def set_task(self, t: Task) -> bool: ...

    def penalty(self, n: NodeInfo) -> int: ...


class PreferNoScheduleScorer(_Tolerating):
    """Nodes with fewer ``PreferNoSchedule`` taints the task does not tolerate come first
    (kube-scheduler's TaintToleration score)."""

    name = "taints"


    def penalty(self, n: NodeInfo) -> int:
        node_taints = n.node.Spec.Taints
        return taints.untolerated_preferences(node_taints, self.tolerations) if node_taints else 0


class Pipeline:
    """Runs the filters that apply to a task over nodes, counting which filter rejected each node, and
    the scorers that apply to it.

    ``taints``: whether any node has taints; without, the taint filter and scorer are left out (a node
    without taints passes them all, whatever the task tolerates), so Swarm pays nothing for them.
    ``cluster``: every node as the scheduler sees it, for the rules that look at the Pods of other
    nodes (inter-pod affinity, topology spread; ``podfilters.py``); without, they are left out."""

    def __init__(self, filters: list[Filter] | None = None, *, taints: bool = True,
                 scorers: list[Scorer] | None = None, cluster: Cluster | None = None) -> None:
        self.filters: list[Filter] = filters if filters is not None else [
            f() for name, f in FILTERS.items() if taints or name not in TAINT_ONLY]
        if filters is None and cluster is not None:
            self.filters += [TopologySpreadFilter(cluster), InterPodAffinityFilter(cluster)]
        default_scorers: list[Scorer] = [PreferNoScheduleScorer()] if taints else []
        if cluster is not None:
            default_scorers += [NodeAffinityScorer(), InterPodAffinityScorer(cluster), TopologySpreadScorer(cluster)]
        self.scorers: list[Scorer] = scorers if scorers is not None else default_scorers
        self.active: list[Filter] = []
        self.scoring: list[Scorer] = []
        self.failures: dict[str, int] = {}
        self._kube_order: list[Filter] | None = None

    def set_task(self, t: Task) -> None:
        self.active = [f for f in self.filters if f.set_task(t)]
        self.scoring = [s for s in self.scorers if s.set_task(t)]
        self.failures = {}
        self._kube_order = None

    def penalty(self, n: NodeInfo) -> int:
        """The node's penalty for the task: the scorers' added up (0 when none applies)."""
        return sum(s.penalty(n) for s in self.scoring) if self.scoring else 0

    def rejecting(self, n: NodeInfo) -> Filter | None:
        """The first filter that turns the node down, or None if it passes (nothing is counted)."""
        for f in self.active:
            if not f.check(n):
                return f
        return None

    def process(self, n: NodeInfo) -> bool:
        f = self.rejecting(n)
        if f is None:
            return True
        self.failures[f.name] = self.failures.get(f.name, 0) + 1
        return False

    def explain_all(self, nodes: list[NodeInfo]) -> str:
        """Count, afresh, why each of ``nodes`` turns the task down, and explain."""
        self.failures = {}
        for n in nodes:
            self.process(n)
        return self.explain()

    def kube_rejection(self, n: NodeInfo) -> tuple[list[str], bool] | None:
        """kube-scheduler's reasons for turning the node down (its filters' order: the first that fails
        speaks) and whether preemption could help there; None when the node passes."""
        if self._kube_order is None:
            self._kube_order = sorted(self.active, key=lambda f: f.kube_rank)
        for f in self._kube_order:
            if not f.check(n):
                return f.kube_reasons(n), f.resolvable
        return None

    def explain(self) -> str:
        """Failures joined with '; ', most frequent first (ties keep pipeline order)."""
        order = {f.name: i for i, f in enumerate(self.filters)}
        ranked = sorted(self.failures.items(), key=lambda kv: (-kv[1], order[kv[0]]))
        by_name = {f.name: f for f in self.filters}
        return "; ".join(by_name[name].explain(count) for name, count in ranked if count > 0)
