"""A dry run of placement: where the scheduler would put a new service's tasks, and, for every node
that would get none, the filter that turns it down, in SwarmKit's words.

It works on a copy of the scheduler's view built from the store (nodes, and the tasks that count
against them), runs the same pipeline and ``GroupPlacer`` as the scheduler, and writes nothing. A
replicated service's tasks are placed as one group; a global service's task is checked against each
node on its own, as the scheduler checks a preassigned task. A node that passes every filter but gets
no task (fewer tasks than nodes) has no reason.
"""

from __future__ import annotations

from shoal.api.control import NodePlan, Plan
from shoal.api.types import Node, Task
from shoal.manager.scheduler.filters import Pipeline
from shoal.manager.scheduler.placement import GroupPlacer
from shoal.manager.scheduler.podfilters import Cluster
from shoal.manager.scheduler.scheduler import no_suitable_node, node_infos


def plan(nodes: list[Node], tasks: list[Task], new: list[Task], *, global_mode: bool = False) -> Plan:
    """Place ``new`` (identical tasks of one service) over ``nodes`` already running ``tasks``."""
    infos = node_infos(nodes, tasks)
    out = Plan(Tasks=len(new))
    if not new:
        out.Nodes = [NodePlan(ID=n.ID, Hostname=n.Description.Hostname) for n in _by_host(nodes)]
        return out
    pipeline = Pipeline(taints=any(n.Spec.Taints for n in nodes), cluster=Cluster(infos))
    pipeline.set_task(new[0])
    counts: dict[str, int] = {}
    if global_mode:
        for ni in infos.values():
            if pipeline.rejecting(ni) is None:
                counts[ni.node.ID] = 1
        out.Tasks = len(counts)  # one task on every node that takes it
    else:
        for _t, ni in GroupPlacer(infos, pipeline, new).place():
            counts[ni.node.ID] = counts.get(ni.node.ID, 0) + 1
    out.Placed = sum(counts.values())
    for n in _by_host(nodes):
        rejected = ""
        if not counts.get(n.ID):
            f = pipeline.rejecting(infos[n.ID])
            rejected = f.reason if f is not None else ""
        out.Nodes.append(NodePlan(ID=n.ID, Hostname=n.Description.Hostname, Tasks=counts.get(n.ID, 0),
                                  Rejected=rejected))
    if out.Placed < out.Tasks:
        out.Err = no_suitable_node(pipeline.explain_all(list(infos.values())))
    return out


def _by_host(nodes: list[Node]) -> list[Node]:
    return sorted(nodes, key=lambda n: (n.Description.Hostname, n.ID))
