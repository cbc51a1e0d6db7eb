"""Replicated services: exactly ``Replicas`` slots, each with one task wanted running.

Scaling up fills the lowest free slot numbers. Scaling down removes slots as SwarmKit ranks them
(``manager/orchestrator/replicated/services.go``): each slot whose one task sits on a node is counted
as the *n*-th copy of this service on that node (running slots counted first), and the slots with the
highest *n* go first, so the nodes with the most copies of the service give them up; slots that are
not on a node, or are mid-restart, go before any of those. Ties: a slot not running goes before a
running one, then the highest slot number. Only this service's live tasks count: other services, and
tasks that have stopped, do not change the choice.

Bounded work: one pass makes at most ``SLOT_BATCH`` new slots and removes at most ``REMOVE_BATCH``,
then asks for the service again at once, so a huge count is worked through pass by pass (each one
committed, the loop free between them) and never planned whole; the count is held at
``MAX_REPLICAS`` (``common.py``).
"""

from __future__ import annotations

from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task
from shoal.manager.orchestrator.common import MAX_REPLICAS, REMOVE_BATCH, SLOT_BATCH, new_task, replicas
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.orchestrator.restart import RestartSupervisor


def reconcile(plan: Plan, service: Service, tasks: list[Task], nodes: dict[str, Node],
              restarts: RestartSupervisor) -> None:
    restarts.handle_stopped(plan, service, tasks, nodes)
    slots: dict[int, list[Task]] = {}
    for t in tasks:
        cur = plan.current(t)
        if cur.DesiredState <= TaskState.RUNNING:
            slots.setdefault(cur.Slot, []).append(cur)
    for t in plan.created:
        slots.setdefault(t.Slot, []).append(t)

    want = min(replicas(service), MAX_REPLICAS)
    if len(slots) < want:
        missing = want - len(slots)
        if missing > SLOT_BATCH:
            plan.again_in(0.0)  # the rest in the next passes
        slot = 0
        for _ in range(min(missing, SLOT_BATCH)):
            slot += 1
            while slot in slots:
                slot += 1
            nt = new_task(service, slot)
            slots[slot] = [nt]
            plan.create(nt)
    elif len(slots) > want:
        created = {t.ID for t in plan.created}
        surplus = len(slots) - want
        if surplus > REMOVE_BATCH:
            plan.again_in(0.0)
        for _num, ts in scale_down_order(slots)[: min(surplus, REMOVE_BATCH)]:
            for t in ts:
                if t.ID in created:
                    plan.uncreate(t)
                    restarts.forget(t.Owner.ID, t.ID)
                else:
                    plan.edit(t).DesiredState = TaskState.REMOVE


def scale_down_order(slots: dict[int, list[Task]]) -> list[tuple[int, list[Task]]]:
    """The slots, the first to remove first (see the module docstring)."""

    def running(ts: list[Task]) -> bool:
        return any(t.Status.State == TaskState.RUNNING for t in ts)

    # The n-th copy of the service on its node, counting running slots first (then by slot number).
    copy: dict[int, int] = {}
    per_node: dict[str, int] = {}
    for num, ts in sorted(slots.items(), key=lambda item: (not running(item[1]), item[0])):
        if len(ts) == 1 and ts[0].NodeID:
            per_node[ts[0].NodeID] = per_node.get(ts[0].NodeID, 0) + 1
            copy[num] = per_node[ts[0].NodeID]

    def keep_first(item: tuple[int, list[Task]]) -> tuple[bool, int, bool, int]:
        num, ts = item
        n = copy.get(num)
        return (n is None, n or 0, not running(ts), num)

    return sorted(slots.items(), key=keep_first, reverse=True)
