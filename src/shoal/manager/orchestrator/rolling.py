"""Rolling replacement: the slots of a service sorted into updated and stale, and the next batch.

A *slot* is a replicated service's slot number, or a global service's node. Its live tasks (desired
state at most ``running``) are *fresh* when made from the service's current spec (``task_dirty``
false) and *stale* otherwise:

- fresh tasks made from an older spec *version* but the same spec (a scale, a label change) only get
  the new version in place;
- a slot with stale tasks only is *dirty*: it waits for its turn;
- a slot with both is mid-replacement. With start-first, once the fresh task runs the stale one is
  shut down here.

**Batches.** At most ``Parallelism`` slots are in flight at once (0: all of them). A slot is in flight
while it is mid-replacement or its new task does not run yet (``monitor.py``; its monitor window
then only holds the update's completion). Example:
parallelism 2, 5 dirty slots, 1 slot in flight: ``room = 2 - 1 = 1`` slot starts now; with
parallelism 0 all 5 start. Slots go in sorted order (slot numbers, or node IDs).

**Order.** stop-first (the default) shuts the old task down and makes the new one with desired
state ``ready``; the restart supervisor starts it ``Delay`` after now, once the old one has stopped.
start-first makes the new one wanted running at once; the old one goes when the new one runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shoal.api.states import TaskState
from shoal.api.types import Service, Task, UpdateConfig
from shoal.manager.orchestrator.common import is_global, new_task, task_dirty
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.orchestrator.restart import RestartSupervisor

SlotKey = int | str


@dataclass
class Slot:
    fresh: list[Task] = field(default_factory=list)
    stale: list[Task] = field(default_factory=list)


def sort_slots(plan: Plan, service: Service) -> dict[SlotKey, Slot]:
    """The service's live slots (as this plan leaves them), each split into fresh and stale tasks."""
    slots: dict[SlotKey, Slot] = {}
    node_bound = is_global(service)
    changed = plan.changed
    live = [changed.get(t.ID, t) for t in plan.store.tasks_of_owner(service.ID)]
    for t in [*live, *plan.created]:
        if t.DesiredState > TaskState.RUNNING:
            continue
        key: SlotKey = t.NodeID if node_bound else t.Slot
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = Slot()
        (slot.stale if task_dirty(service, t) else slot.fresh).append(t)
    return slots


def bring_fresh_tasks_up_to_date(plan: Plan, service: Service, slots: dict[SlotKey, Slot]) -> list[SlotKey]:
    """Give fresh tasks the current spec version, finish start-first replacements whose new task
    runs; return the dirty slots (stale tasks only)."""
    sv = service.SpecVersion.Index if service.SpecVersion else 0
    dirty: list[SlotKey] = []
    for key, slot in slots.items():
        for t in slot.fresh:
            if (t.SpecVersion.Index if t.SpecVersion else 0) != sv:
                plan.edit(t).SpecVersion = service.SpecVersion
        if slot.fresh and slot.stale and any(t.Status.State == TaskState.RUNNING for t in slot.fresh):
            for t in slot.stale:
                plan.edit(t).DesiredState = TaskState.SHUTDOWN  # start-first: the new one runs
        if slot.stale and not slot.fresh:
            dirty.append(key)
    return dirty


def room(cfg: UpdateConfig, dirty: int, in_flight: int) -> int:
    """How many dirty slots may start now: all with parallelism 0, else what is left of it."""
    return dirty if cfg.Parallelism == 0 else max(cfg.Parallelism - in_flight, 0)


def start_batch(plan: Plan, service: Service, cfg: UpdateConfig, slots: dict[SlotKey, Slot],
                batch: list[SlotKey], restarts: RestartSupervisor, delay: float) -> None:
    """Replace the first stale task of each slot in ``batch`` (``delay``: seconds before a stop-first
    replacement may start)."""
    node_bound = is_global(service)
    now = restarts.clock()
    for key in batch:
        old = slots[key].stale[0]
        node = old.NodeID if node_bound else ""
        if cfg.Order == "start-first":
            plan.create(new_task(service, old.Slot, node))
            continue
        plan.edit(old).DesiredState = TaskState.SHUTDOWN
        nt = new_task(service, old.Slot, node, desired=TaskState.READY)
        plan.create(nt)
        restarts.hold(nt, now + delay, "" if old.Status.State.terminal else old.ID)
