"""Global services: one task on every eligible node, and on each node that becomes eligible.

A node is eligible when it is not down, not drained, and satisfies the service's constraints. A
paused node keeps the task it has but gets no new one; so does a node with a ``NoSchedule`` or
``NoExecute`` taint the task does not tolerate (Kubernetes' DaemonSet rule; a Swarm node has no taints;
evicting on ``NoExecute`` is the node lifecycle's). Tasks on nodes that stop being eligible are shut
down.
"""

from __future__ import annotations

from shoal.api import taints
from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task
from shoal.manager.orchestrator.common import new_task
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.orchestrator.restart import RestartSupervisor
from shoal.manager.scheduler import constraint


def eligible_nodes(service: Service, nodes: dict[str, Node]) -> set[str]:
    placement = service.Spec.TaskTemplate.Placement
    try:
        cons = constraint.parse(placement.Constraints if placement else None)
    except constraint.ConstraintError:
        cons = []
    return {
        n.ID
        for n in nodes.values()
        if n.Status.State != "down" and n.Spec.Availability != "drain" and constraint.node_matches(cons, n)
    }


def reconcile(plan: Plan, service: Service, tasks: list[Task], nodes: dict[str, Node],
              restarts: RestartSupervisor) -> None:
    eligible = eligible_nodes(service, nodes)
    restarts.handle_stopped(plan, service, tasks, nodes, eligible)
    for nid in uncovered_nodes(plan, service, tasks, nodes, eligible, TaskState.RUNNING):
        plan.create(new_task(service, 0, nid))


def uncovered_nodes(plan: Plan, service: Service, tasks: list[Task], nodes: dict[str, Node], eligible: set[str],
                    desired: TaskState) -> list[str]:
    """The eligible nodes, sorted, that get a new task: covered neither by a task of ``tasks`` desired
    at most ``desired`` nor by one the plan creates, active, and their taints tolerated."""
    covered: set[str] = set()
    for t in tasks:
        cur = plan.current(t)
        if cur.DesiredState <= desired:
            covered.add(cur.NodeID)
    for t in plan.created:
        covered.add(t.NodeID)
    placement = service.Spec.TaskTemplate.Placement
    tolerations = placement.Tolerations if placement is not None else None
    out = []
    for nid in sorted(eligible - covered):
        node = nodes[nid]
        if node.Spec.Availability != "active":
            continue
        if node.Spec.Taints and not taints.schedulable(node.Spec.Taints, tolerations):
            continue
        out.append(nid)
    return out
