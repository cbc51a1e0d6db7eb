"""Why a task fits no node, in the words of the door that made it.

The filters (``filters.py``) explain themselves twice: in SwarmKit's words, counted per filter
(``no suitable node (insufficient resources on 2 nodes)``), and in kube-scheduler's, counted per
reason over the nodes. The scheduler asks ``words_for(task)``: a Pod (a task with a namespace) gets
Kubernetes' words, every other task Swarm's, exactly as before.

Kubernetes' message is the scheduler's ``FitError`` followed by its preemption's verdict::

    0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint
    {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 1 No preemption
    victims found for incoming pod, 2 Preemption is not helpful for scheduling.

Each node gives the reasons of the first filter that turns it down in kube-scheduler's order (a node
short of both gives ``Insufficient cpu`` and ``Insufficient memory``); the ``count reason`` strings
are sorted as strings and joined with ", ". Preemption counts nodes: where resources or ports were
short, evicting lower-priority Pods could help, but shoal preempts nothing, so ``No preemption
victims found for incoming pod``; where a taint, a selector or a cordon refused the Pod,
``Preemption is not helpful for scheduling``. With no node at all it is kube-scheduler's ``no nodes
available to schedule pods``.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from shoal.api.types import Task
from shoal.manager.scheduler.filters import NodeInfo, Pipeline

NO_NODES = "no nodes available to schedule pods"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"


def no_suitable_node(explanation: str) -> str:
    return f"no suitable node ({explanation})" if explanation else "no suitable node"


def histogram(counts: Counter[str]) -> str:
    """``count reason`` for each reason, sorted as strings (as kube-scheduler sorts them)."""
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))


def kube_unschedulable(pipeline: Pipeline, nodes: list[NodeInfo]) -> str:
    """kube-scheduler's ``FailedScheduling`` message for the pipeline's task over ``nodes``."""
    if not nodes:
        return NO_NODES
    reasons: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    for n in nodes:
        rejected = pipeline.kube_rejection(n)
        if rejected is None:
            continue
        why, resolvable = rejected
        reasons.update(why)
        preemption[NO_VICTIMS if resolvable else NOT_HELPFUL] += 1
    total = len(nodes)
    msg = f"0/{total} nodes are available: {histogram(reasons)}." if reasons else f"0/{total} nodes are available."
    if preemption:
        msg += f" preemption: 0/{total} nodes are available: {histogram(preemption)}."
    return msg


class Words(Protocol):
    """How one door says why a task could not be placed."""

    def unschedulable(self, pipeline: Pipeline, nodes: list[NodeInfo]) -> str:
        """The task fits none of ``nodes`` (every node the scheduler knows)."""
        ...

    def refused(self, pipeline: Pipeline, node: NodeInfo) -> str:
        """The task is tied to ``node`` (a global service's, a Pod's ``nodeName``), which turns it down."""
        ...

    def no_node(self, t: Task) -> str:
        """The task is tied to a node that does not exist."""
        ...


class SwarmWords:
    """SwarmKit's: ``no suitable node (<reasons>)``, the bare reasons for a task tied to a node."""

    def unschedulable(self, pipeline: Pipeline, nodes: list[NodeInfo]) -> str:
        return no_suitable_node(pipeline.explain_all(nodes))

    def refused(self, pipeline: Pipeline, node: NodeInfo) -> str:
        return pipeline.explain_all([node])

    def no_node(self, t: Task) -> str:
        return "node not found"


class KubeWords:
    """kube-scheduler's (see the module's docstring); a Pod tied to a node that turns it down is
    explained over that one node."""

    def unschedulable(self, pipeline: Pipeline, nodes: list[NodeInfo]) -> str:
        return kube_unschedulable(pipeline, nodes)

    def refused(self, pipeline: Pipeline, node: NodeInfo) -> str:
        return kube_unschedulable(pipeline, [node])

    def no_node(self, t: Task) -> str:
        name = t.Spec.Pod.NodeName if t.Spec.Pod is not None and t.Spec.Pod.NodeName else t.NodeID
        return f'nodes "{name}" not found'


SWARM = SwarmWords()
KUBE = KubeWords()


def is_pod(t: Task) -> bool:
    """Whether the task is a Kubernetes Pod (it has a namespace; a Swarm task has none)."""
    return bool(t.Namespace)


def words_for(t: Task) -> Words:
    """The words of the door that made the task."""
    return KUBE if t.Namespace else SWARM
