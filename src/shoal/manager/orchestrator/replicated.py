"""Replicated services: exactly ``Replicas`` slots, each with one task wanted running."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task
from shoal.manager.orchestrator.common import new_task, replicas

if TYPE_CHECKING:
    from shoal.manager.orchestrator.orchestrator import Orchestrator, Plan


def reconcile(orch: Orchestrator, plan: Plan, service: Service, tasks: list[Task], nodes: dict[str, Node]) -> None:
    orch.restart_stopped(plan, service, tasks, nodes)
    slots: dict[int, list[Task]] = {}
    for t in tasks:
        cur = plan.current(t)
        if cur.DesiredState <= TaskState.RUNNING:
            slots.setdefault(cur.Slot, []).append(cur)
    for t in plan.created_for(service.ID):
        slots.setdefault(t.Slot, []).append(t)

    want = replicas(service)
    if len(slots) < want:
        slot = 0
        for _ in range(want - len(slots)):
            slot += 1
            while slot in slots:
                slot += 1
            nt = new_task(service, slot)
            slots[slot] = [nt]
            plan.create(nt)
    elif len(slots) > want:

        def keep_last(item: tuple[int, list[Task]]) -> tuple[int, int, int]:
            num, ts = item
            running = any(t.Status.State == TaskState.RUNNING for t in ts)
            load = max((len(plan.store.tasks_of_node(t.NodeID)) for t in ts if t.NodeID), default=0)
            return (int(running), -load, -num)

        victims = sorted(slots.items(), key=keep_last)[: len(slots) - want]
        for _num, ts in victims:
            for t in ts:
                if t in plan.created_for(service.ID):
                    plan.uncreate(t)
                    orch.restarts.forget(t.ID)
                else:
                    plan.edit(t).DesiredState = TaskState.REMOVE
