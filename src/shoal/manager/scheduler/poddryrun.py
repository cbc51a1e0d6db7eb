"""A dry run of placement for Pods: where the scheduler would put each Pod of a manifest, and, for
every other node, the rule that turns it down, in kube-scheduler's words.

It works as ``dryrun.py`` does for a service: a copy of the scheduler's view built from the store
(nodes, the tasks that count against them), the same pipeline (with the cluster-wide Pod rules) and
``GroupPlacer``, nothing written. The Pods are placed one after another, in the order given, each
seeing the ones before it on their nodes (their requests, their labels for inter-pod affinity and
spread), as the scheduler places the Pods of a ReplicaSet: each is a group of its own
(``scheduler.group_key``).

For each Pod and each node, before the Pod is placed: the node's reasons, from the first filter that
turns it down in kube-scheduler's order (``Pipeline.kube_rejection``: ``Insufficient memory``,
``node(s) had untolerated taint {dedicated: db}``, ``node(s) didn't match Pod's node
affinity/selector``, …), none when it passes. A node that passes but is not chosen has none either
(another node ranked first). A Pod that fits nowhere gets the ``FailedScheduling`` message the
scheduler would write (``0/3 nodes are available: …``).

A Pod with ``nodeName`` is tied to that node, as the scheduler ties it (``NodeID``): only that node is
checked; every other says kube-scheduler's NodeName reason, and a name no node has says ``nodes "x"
not found``.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.api import nodelabels
from shoal.api.affinity import NamespaceLabels, default_namespace_labels
from shoal.api.control import NodeVerdict, PodPlacement
from shoal.api.types import Node, Task
from shoal.manager.scheduler.explain import words_for
from shoal.manager.scheduler.filters import NodeInfo, Pipeline
from shoal.manager.scheduler.placement import GroupPlacer
from shoal.manager.scheduler.podfilters import Cluster
from shoal.manager.scheduler.scheduler import node_infos

# kube-scheduler's NodeName plugin: a Pod whose ``nodeName`` names another node.
KUBE_NODE_NAME = "node(s) didn't match the requested node name"


@dataclass
class NewPod:
    """A Pod to place (a task with a namespace, its ``NodeID`` set when it names its node), and what
    made it: the index of the object in the request, the Pod's place among that object's Pods."""

    task: Task
    index: int
    replica: int = 1
    replicas: int = 1


def plan_pods(nodes: list[Node], tasks: list[Task], pods: list[NewPod],
              namespace_labels: NamespaceLabels = default_namespace_labels) -> list[PodPlacement]:
    """Place ``pods`` one after another over ``nodes`` already running ``tasks``; nothing is written."""
    infos = node_infos(nodes, tasks)
    cluster = Cluster(infos, namespace_labels)
    pipeline = Pipeline(taints=any(n.Spec.Taints for n in nodes), cluster=cluster)
    by_name = sorted(infos.values(), key=lambda ni: (nodelabels.node_name(ni.node), ni.node.ID))
    out = []
    for p in pods:
        cluster.anti_affinity = None  # looked up again: an earlier Pod may have brought one
        t = p.task
        pipeline.set_task(t)
        plan = PodPlacement(Namespace=t.Namespace, Object=p.index, Replica=p.replica, Replicas=p.replicas)
        if t.NodeID:
            _tied(plan, t, pipeline, infos, by_name)
        else:
            plan.Nodes = [NodeVerdict(Node=nodelabels.node_name(ni.node), Reasons=_reasons(pipeline, ni))
                          for ni in by_name]
            placed = GroupPlacer(infos, pipeline, [t]).place()
            if placed:
                plan.Node = nodelabels.node_name(placed[0][1].node)
            else:
                plan.Err = words_for(t).unschedulable(pipeline, list(infos.values()))
        out.append(plan)
    return out


def _reasons(pipeline: Pipeline, ni: NodeInfo) -> list[str] | None:
    rejected = pipeline.kube_rejection(ni)
    return rejected[0] if rejected is not None else None


def _tied(plan: PodPlacement, t: Task, pipeline: Pipeline, infos: dict[str, NodeInfo],
          by_name: list[NodeInfo]) -> None:
    """A Pod with ``nodeName``: its node alone is checked, as the scheduler checks it."""
    name = t.Spec.Pod.NodeName if t.Spec.Pod is not None else ""
    target = infos.get(t.NodeID) or next((ni for ni in by_name if nodelabels.node_name(ni.node) == name), None)
    for ni in by_name:
        reasons = _reasons(pipeline, ni) if ni is target else [KUBE_NODE_NAME]
        plan.Nodes.append(NodeVerdict(Node=nodelabels.node_name(ni.node), Reasons=reasons))
    words = words_for(t)
    if target is None:
        plan.Err = words.no_node(t)
    elif pipeline.process(target):
        target.add_task(t)
        plan.Node = nodelabels.node_name(target.node)
    else:
        plan.Err = words.refused(pipeline, target)
