"""Swarm jobs: services whose tasks run to completion, as SwarmKit's jobs orchestrator runs them
(``manager/orchestrator/jobs/replicated`` and ``global``).

A job runs in *runs* (``Service.JobStatus.JobIteration.Index``: 0 when it is created, one more on
every update, which runs it again). Each task carries the run it belongs to (``Task.JobIteration``)
and is wanted ``complete``: the agent runs it until its container exits, and one that exits 0 is
``complete`` and never started again. Only the current run's tasks count; tasks of an earlier run
still going are removed (desired ``remove``), those that finished stay as they are, and none is ever
trimmed by the task history (the reaper leaves a job's tasks alone, as SwarmKit's does).

- **replicated job** (``ReplicatedJob``): ``TotalCompletions`` tasks must complete, at most
  ``MaxConcurrent`` at a time. Each task gets its own slot, numbered from 0 (the docker CLI's
  progress reads slots 0 to N-1), so a run ends with one complete task in every slot. Each pass
  counts the complete tasks and the active ones (every task of the run not complete and still
  wanted, a failed one waiting for its restart included) and makes
  ``min(MaxConcurrent - active, TotalCompletions - complete - active)`` new ones in the lowest free
  slots.
- **global job** (``GlobalJob``): one task on every eligible node (not down, not drained, within the
  constraints; active, and tolerating its taints, to get a new one), and on every node that becomes
  eligible later, once per run: a node whose task completed gets no other. A task on a node that is
  no longer eligible is shut down unless it has completed.

A task that failed is handed to the restart supervisor (``restart.py``): the job's restart condition
is its policy's, where ``any`` means ``on-failure`` (a complete task is never restarted); the
replacement keeps the slot (or the node) and the run. Update and rollback configurations do not
apply to a job: there is no rolling update, each update is a new run.
"""

from __future__ import annotations

from shoal.api.states import TaskState
from shoal.api.types import Node, Service, Task
from shoal.manager.orchestrator.common import MAX_REPLICAS, SLOT_BATCH, job_run, new_task
from shoal.manager.orchestrator.global_ import eligible_nodes, uncovered_nodes
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.orchestrator.restart import RestartSupervisor


def _split_runs(plan: Plan, tasks: list[Task], run: int) -> list[Task]:
    """The tasks of the current run; tasks of an earlier run that have not finished are removed."""
    current: list[Task] = []
    for t in tasks:
        if t.JobIteration is not None and t.JobIteration.Index == run:
            current.append(t)
            continue
        cur = plan.current(t)
        if cur.Status.State <= TaskState.RUNNING and cur.DesiredState < TaskState.REMOVE:
            plan.edit(t).DesiredState = TaskState.REMOVE
    return current


def reconcile_replicated(plan: Plan, service: Service, tasks: list[Task], nodes: dict[str, Node],
                         restarts: RestartSupervisor) -> None:
    rj = service.Spec.Mode.ReplicatedJob
    assert rj is not None
    current = _split_runs(plan, tasks, job_run(service))
    restarts.handle_stopped(plan, service, current, nodes)
    slots: set[int] = set()
    active = complete = 0
    for t in current:
        cur = plan.current(t)
        if cur.Status.State == TaskState.COMPLETE:
            complete += 1
            slots.add(cur.Slot)
        elif cur.DesiredState <= TaskState.COMPLETE:
            active += 1
            slots.add(cur.Slot)
    for t in plan.created:  # replacements made just now for failed tasks
        active += 1
        slots.add(t.Slot)
    total, most = rj.TotalCompletions or 0, min(rj.MaxConcurrent or 0, MAX_REPLICAS)
    new = min(most - active, total - complete - active)
    if new > SLOT_BATCH:  # bounded work, as replicated services (``common.py``)
        new = SLOT_BATCH
        plan.again_in(0.0)
    slot = 0
    for _ in range(max(new, 0)):
        while slot in slots:
            slot += 1
        if slot >= total:
            break
        slots.add(slot)
        plan.create(new_task(service, slot, desired=TaskState.COMPLETE))


def reconcile_global(plan: Plan, service: Service, tasks: list[Task], nodes: dict[str, Node],
                     restarts: RestartSupervisor) -> None:
    current = _split_runs(plan, tasks, job_run(service))
    eligible = eligible_nodes(service, nodes)
    live: list[Task] = []
    for t in current:
        cur = plan.current(t)
        if cur.DesiredState > TaskState.COMPLETE:
            live.append(t)
            continue
        if cur.NodeID and cur.NodeID not in eligible and cur.Status.State <= TaskState.RUNNING:
            plan.edit(t).DesiredState = TaskState.SHUTDOWN  # its node was drained, went down or left
            continue
        live.append(t)
    restarts.handle_stopped(plan, service, live, nodes)
    for nid in uncovered_nodes(plan, service, live, nodes, eligible, TaskState.COMPLETE):
        plan.create(new_task(service, 0, nid, desired=TaskState.COMPLETE))
