"""What every orchestrator shares: making a task from a service, and reading a service's settings
with Swarm's defaults filled in."""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.api.defaults import DEFAULT_RESTART, DEFAULT_UPDATE
from shoal.api.ids import new_id
from shoal.api.states import STATE_MESSAGE, TaskState
from shoal.api.types import (
    Endpoint,
    ObjectRef,
    RestartPolicy,
    Service,
    Task,
    TaskStatus,
    UpdateConfig,
    Version,
    clone,
    now_ts,
    owner_of,
)
from shoal.manager.allocator import needs_allocation

# Bounded work (issue 18): a manager never plans more tasks at once than it can hold. A service's
# missing slots are made at most ``SLOT_BATCH`` per pass (committed, then the loop yields and the
# service is looked at again), and surplus slots are removed at most ``REMOVE_BATCH`` per pass. No
# service has more than ``MAX_REPLICAS`` slots: the control API refuses a larger count, and a larger
# one already stored (by an older shoal) is held at it, so a restart on such data comes up too.
# 50,000: a pass as large as the largest services the benches make in one go (`shoal sim bench`'s
# 100,000 replicas take two passes; with 5,000 they took 20 and twice as long, as each pass reads the
# service's tasks again).
SLOT_BATCH = 50_000
REMOVE_BATCH = 50_000
MAX_REPLICAS = 1_000_000


def is_replicated(s: Service) -> bool:
    return s.Spec.Mode.Replicated is not None


def is_global(s: Service) -> bool:
    return s.Spec.Mode.Global is not None


def is_replicated_job(s: Service) -> bool:
    return s.Spec.Mode.ReplicatedJob is not None


def is_global_job(s: Service) -> bool:
    return s.Spec.Mode.GlobalJob is not None


def is_job(s: Service) -> bool:
    return s.Spec.Mode.ReplicatedJob is not None or s.Spec.Mode.GlobalJob is not None


def job_run(s: Service) -> int:
    """The job's current run (``JobIteration.Index``; 0 before it has a ``JobStatus``, as SwarmKit)."""
    return s.JobStatus.JobIteration.Index if s.JobStatus is not None else 0


def per_node(s: Service) -> bool:
    """The service has one task per node (global, or a global job) rather than numbered slots."""
    return s.Spec.Mode.Global is not None or s.Spec.Mode.GlobalJob is not None


def wanted_until(t: Task) -> TaskState:
    """The desired state up to which a task is meant to run: a job's task is wanted ``complete`` (it
    runs until its container exits, as SwarmKit's), any other ``running``."""
    return TaskState.COMPLETE if t.JobIteration is not None else TaskState.RUNNING


def replicas(s: Service) -> int:
    r = s.Spec.Mode.Replicated
    return (r.Replicas if r is not None and r.Replicas is not None else 1) if r is not None else 0


def restart_policy(spec_policy: RestartPolicy | None) -> RestartPolicy:
    p = spec_policy or RestartPolicy()
    return RestartPolicy(
        Condition=p.Condition or DEFAULT_RESTART.Condition,
        Delay=p.Delay if p.Delay is not None else DEFAULT_RESTART.Delay,
        MaxAttempts=p.MaxAttempts or 0,
        Window=p.Window or 0,
    )


def update_config(s: Service) -> UpdateConfig:
    u = s.Spec.UpdateConfig
    if u is None:
        return DEFAULT_UPDATE
    return UpdateConfig(
        Parallelism=u.Parallelism,
        Delay=u.Delay,
        FailureAction=u.FailureAction or "pause",
        Monitor=u.Monitor or DEFAULT_UPDATE.Monitor,
        MaxFailureRatio=u.MaxFailureRatio,
        Order=u.Order or "stop-first",
    )


_annotations: dict[str, dict[str, Any]] = {}  # service ID -> the ServiceAnnotations its new tasks share


def service_annotations(service: Service) -> dict[str, Any]:
    """The service's name and labels for its tasks, one dict for all of them (as the template is shared)."""
    want = {"Name": service.Spec.Name, "Labels": service.Spec.Labels or {}}
    have = _annotations.get(service.ID)
    if have != want:
        if len(_annotations) >= 4096:
            _annotations.clear()
        _annotations[service.ID] = have = want
    return have


_owners: dict[str, ObjectRef] = {}  # service ID -> the Owner its new tasks share


def service_owner(service: Service) -> ObjectRef:
    """The service as its tasks' owner, one object for all of them (as the template is shared)."""
    have = _owners.get(service.ID)
    if have is None or have.Name != service.Spec.Name:
        if len(_owners) >= 4096:
            _owners.clear()
        _owners[service.ID] = have = owner_of(service)
    return have


def new_task(service: Service, slot: int = 0, node_id: str = "", desired: TaskState = TaskState.RUNNING) -> Task:
    """A task of the service's current spec. A job's task belongs to the job's current run
    (``JobIteration``); its caller wants it ``complete`` (or ``ready``, a restart held back)."""
    # The service's template itself, not a copy: stored objects are never changed in place (every
    # writer copies first), so a service's tasks can share it, as they share it in the store's cache.
    spec = service.Spec.TaskTemplate
    endpoint = None
    if service.Endpoint is not None and service.Endpoint.Ports:
        endpoint = Endpoint(Spec=clone(service.Endpoint.Spec), Ports=[clone(p) for p in service.Endpoint.Ports])
    t = Task(
        ID=new_id(),
        Spec=spec,
        SpecVersion=Version(Index=service.SpecVersion.Index) if service.SpecVersion else Version(),
        Owner=service_owner(service),
        Slot=slot,
        NodeID=node_id,
        DesiredState=desired,
        Status=TaskStatus(Timestamp=now_ts(), State=TaskState.NEW, Message=STATE_MESSAGE[TaskState.NEW]),
        Endpoint=endpoint,
        ServiceAnnotations=service_annotations(service),
    )
    if is_job(service):
        t.JobIteration = Version(Index=job_run(service))
    if not needs_allocation(t):  # nothing for the allocator to give: straight to pending
        t.Status.State, t.Status.Message = TaskState.PENDING, STATE_MESSAGE[TaskState.PENDING]
    return t


def task_dirty(service: Service, t: Task) -> bool:
    """The task was made from a spec other than the service's current one (it needs an update).

    As SwarmKit: new registry credentials alone do not replace a task that has its image already
    (ready to running, and meant to run)."""
    want = service.Spec.TaskTemplate
    if t.Spec == want:
        return False
    mine, theirs = t.Spec.Containers, want.Containers
    if (len(mine) == len(theirs) and any(a.PullOptions != b.PullOptions for a, b in zip(mine, theirs, strict=True))
            and t.DesiredState <= TaskState.RUNNING and TaskState.READY <= t.Status.State <= TaskState.RUNNING):
        return msgspec.structs.replace(t.Spec, Containers=[
            msgspec.structs.replace(a, PullOptions=b.PullOptions) for a, b in zip(mine, theirs, strict=True)]) != want
    return True
