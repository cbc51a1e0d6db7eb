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
    RestartPolicy,
    Service,
    Task,
    TaskStatus,
    UpdateConfig,
    Version,
    clone,
    now_ts,
)
from shoal.manager.allocator import needs_allocation


def is_replicated(s: Service) -> bool:
    return s.Spec.Mode.Replicated is not None


def is_global(s: Service) -> bool:
    return s.Spec.Mode.Global is not None


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


def new_task(service: Service, slot: int = 0, node_id: str = "", desired: TaskState = TaskState.RUNNING) -> Task:
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
        ServiceID=service.ID,
        Slot=slot,
        NodeID=node_id,
        DesiredState=desired,
        Status=TaskStatus(Timestamp=now_ts(), State=TaskState.NEW, Message=STATE_MESSAGE[TaskState.NEW]),
        Endpoint=endpoint,
        ServiceAnnotations=service_annotations(service),
    )
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
    mine, theirs = t.Spec.ContainerSpec, want.ContainerSpec
    if (mine is not None and theirs is not None and mine.PullOptions != theirs.PullOptions
            and t.DesiredState <= TaskState.RUNNING and TaskState.READY <= t.Status.State <= TaskState.RUNNING):
        return msgspec.structs.replace(t.Spec, ContainerSpec=msgspec.structs.replace(
            mine, PullOptions=theirs.PullOptions)) != want
    return True
