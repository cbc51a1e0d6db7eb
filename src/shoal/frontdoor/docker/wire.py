"""The Docker Engine API's shapes of services and tasks, and their translation to and from the core's.

Docker's ``TaskTemplate`` has one ``ContainerSpec`` and a task one ``ContainerStatus`` and a
``ServiceID``; the core's task has a list of containers, a status per container and an ``Owner``
(``api/types.py``). Kubernetes' node taints (``NodeSpec.Taints``) and task tolerations
(``Placement.Tolerations``) are the core's only: Docker's ``Placement`` and ``NodeSpec`` here have
neither, a node is shown without its taints, and a Docker node update keeps the node's taints.

These structs are the Engine API's, field for field and in its order (the JSON a docker client sees
is what these encode); everything else on the wire (networks, nodes but their taints, secrets, mounts,
resources) is the core's own struct. The door decodes a request into these, converts it
(``*_to_core``) and converts what it answers (``*_from_core``).

The mapping: a Docker ``ContainerSpec`` is the core task's one container, named
``MAIN_CONTAINER``; a core task with several (a Pod) shows its first. ``ServiceID`` is the owner's ID
when the owner is a service. Registry credentials (``PullOptions``) are never shown: ``*_from_core``
leaves them out, as Swarm does.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import field

from shoal.api import types as core
from shoal.api.meta import META_ONLY
from shoal.api.states import TaskState
from shoal.api.types import (
    MAIN_CONTAINER,
    SERVICE_KIND,
    Base,
    ConfigReference,
    Endpoint,
    EndpointSpec,
    GenericResource,
    Mount,
    NetworkAttachment,
    NetworkAttachmentConfig,
    ObjectRef,
    Platform,
    PullOptions,
    ResourceRequirements,
    RestartPolicy,
    SecretReference,
    ServiceMode,
    ServiceStatus,
    UpdateConfig,
    UpdateConfigRef,
    UpdateStatus,
    Version,
    VersionRef,
)
from shoal.frontdoor.docker import gojson


class Placement(Base):
    Constraints: list[str] | None = None
    Preferences: list[dict[str, Any]] | None = None
    MaxReplicas: int = 0
    Platforms: list[Platform] | None = None


class NodeSpec(Base):
    Name: str = ""
    Labels: dict[str, str] | None = None
    Role: str = "worker"  # worker | manager
    Availability: str = "active"  # active | pause | drain


class ContainerSpec(Base):
    Image: str = ""
    Labels: dict[str, str] | None = None
    Command: list[str] | None = None
    Args: list[str] | None = None
    Hostname: str = ""
    Env: list[str] | None = None
    Dir: str = ""
    User: str = ""
    Groups: list[str] | None = None
    Privileges: dict[str, Any] | None = None
    Init: bool | None = None
    TTY: bool = False
    OpenStdin: bool = False
    ReadOnly: bool = False
    Mounts: list[Mount] | None = None
    StopSignal: str = ""
    StopGracePeriod: int | None = None  # ns
    Healthcheck: dict[str, Any] | None = None
    Hosts: list[str] | None = None
    DNSConfig: dict[str, Any] | None = None
    Secrets: list[SecretReference] | None = None
    Configs: list[ConfigReference] | None = None
    Isolation: str = ""
    Sysctls: dict[str, str] | None = None
    CapabilityAdd: list[str] | None = None
    CapabilityDrop: list[str] | None = None
    Ulimits: list[dict[str, Any]] | None = None
    OomScoreAdj: int = 0
    PullOptions: PullOptions | None = None  # never shown (None, omitted from an answer)


class TaskSpec(Base):
    ContainerSpec: ContainerSpec | None = None
    Resources: ResourceRequirements | None = None
    RestartPolicy: RestartPolicy | None = None
    Placement: Placement | None = None
    Networks: list[NetworkAttachmentConfig] | None = None
    LogDriver: dict[str, Any] | None = None
    ForceUpdate: int = 0
    Runtime: str = ""


class ServiceSpec(Base):
    Name: str = ""
    Labels: dict[str, str] | None = None
    TaskTemplate: TaskSpec = field(default_factory=TaskSpec)
    Mode: ServiceMode = field(default_factory=ServiceMode)
    UpdateConfig: UpdateConfig | None = None
    RollbackConfig: UpdateConfigRef | None = None
    EndpointSpec: EndpointSpec | None = None


class Service(Base):
    ID: str
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
    Spec: ServiceSpec = field(default_factory=ServiceSpec)
    PreviousSpec: ServiceSpec | None = None
    Endpoint: Endpoint | None = None
    UpdateStatus: UpdateStatus | None = None
    ServiceStatus: ServiceStatus | None = None  # `GET /services?status=true`
    SpecVersion: VersionRef | None = None  # shoal's: the `_up-to-date` filter


class ContainerStatus(Base):
    ContainerID: str = ""
    PID: int = 0
    ExitCode: int = 0


class TaskStatus(Base):
    Timestamp: str = ""
    State: TaskState = TaskState.NEW
    Message: str = ""
    Err: str = ""
    ContainerStatus: ContainerStatus | None = None
    PortStatus: dict[str, Any] | None = None


class Task(Base):
    ID: str
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
    Name: str = ""
    Labels: dict[str, str] | None = None
    Spec: TaskSpec = field(default_factory=TaskSpec)
    SpecVersion: VersionRef | None = None
    ServiceID: str = ""
    Slot: int = 0
    NodeID: str = ""
    Status: TaskStatus = field(default_factory=TaskStatus)
    DesiredState: TaskState = TaskState.RUNNING
    NetworksAttachments: list[dict[str, Any]] | None = None  # NetworkAttachment, as attachments_json
    GenericResources: list[GenericResource] | None = None
    Endpoint: Endpoint | None = None
    ServiceAnnotations: dict[str, Any] | None = None


class JobVersion(Base, omit_defaults=True):
    """A job's run as Docker writes it: ``{}`` for the first (Go's ``Index uint64 `json:",omitempty"```)."""

    Index: int = 0


class JobStatus(Base):
    JobIteration: JobVersion = field(default_factory=JobVersion)
    LastExecution: str = ""


class JobService(Service, kw_only=True):
    """A job (replicated-job, global-job): a service with its ``JobStatus``, which Docker leaves out of
    any other service (Go's ``omitempty``)."""

    JobStatus: JobStatus


class JobTask(Task, kw_only=True):
    """A job's task: a task with the run of the job it belongs to (``JobIteration``), which Docker
    leaves out of any other task."""

    JobIteration: JobVersion


# ---------------------------------------------------------------- to and from the core

_NOT_DOCKERS = (*META_ONLY, "Name", "Labels")
_CONTAINER_FIELDS = ContainerSpec.__struct_fields__
_SERVICE_FIELDS = tuple(f for f in Service.__struct_fields__ if f not in ("Spec", "PreviousSpec"))
_TASK_FIELDS = tuple(f for f in Task.__struct_fields__
                     if f not in ("Spec", "ServiceID", "Status", "NetworksAttachments"))


def object_json(obj: Any) -> dict[str, Any]:
    """An object whose Docker shape is the core's (Node, Secret, Config, Cluster) as Docker shows it:
    without the metadata Docker's object does not have (``api.meta.META_ONLY``, and the name and
    labels, which Docker has in the spec)."""
    data: dict[str, Any] = gojson.to_json(obj)
    for k in _NOT_DOCKERS:
        data.pop(k, None)
    spec = data.get("Spec")
    if isinstance(obj, core.Node) and isinstance(spec, dict):
        spec.pop("Taints", None)  # Kubernetes' only
        data.pop("PodCIDRs", None)  # Kubernetes' only (spec.podCIDRs)
        desc = data.get("Description")
        if isinstance(desc, dict):
            desc.pop("System", None)  # Kubernetes' nodeInfo
    for a in data.get("Attachments") or ():  # a node's: each holds the network as it was
        for k in _NOT_DOCKERS:
            a["Network"].pop(k, None)
    return data


def attachments_json(atts: list[NetworkAttachment] | None) -> list[dict[str, Any]] | None:
    """A task's network attachments as Docker shows them: each network without the metadata."""
    if atts is None:
        return None
    out: list[dict[str, Any]] = gojson.to_json(atts, list[NetworkAttachment])
    for a in out:
        for k in _NOT_DOCKERS:
            a["Network"].pop(k, None)
    return out


# dockerd shows the defaults of a container's isolation and a task's runtime by name; the core keeps
# them empty (a spec sent back with them is the same spec).
DEFAULT_ISOLATION = "default"
CONTAINER_RUNTIME = "container"


def container_to_core(c: ContainerSpec, name: str = MAIN_CONTAINER) -> core.ContainerSpec:
    out = core.ContainerSpec(Name=name, **{f: getattr(c, f) for f in _CONTAINER_FIELDS})
    if out.Isolation == DEFAULT_ISOLATION:
        out.Isolation = ""
    return out


def container_from_core(c: core.ContainerSpec) -> ContainerSpec:
    out = ContainerSpec(**{f: getattr(c, f) for f in _CONTAINER_FIELDS})
    out.PullOptions = None
    out.Isolation = out.Isolation or DEFAULT_ISOLATION
    return out


def placement_to_core(p: Placement | None) -> core.Placement | None:
    if p is None:
        return None
    return core.Placement(Constraints=p.Constraints, Preferences=p.Preferences, MaxReplicas=p.MaxReplicas,
                          Platforms=p.Platforms)


def placement_from_core(p: core.Placement | None) -> Placement | None:
    """Docker's placement: without the tolerations, which Swarm does not have."""
    if p is None:
        return None
    return Placement(Constraints=p.Constraints, Preferences=p.Preferences, MaxReplicas=p.MaxReplicas,
                     Platforms=p.Platforms)


def node_spec_to_core(s: NodeSpec, taints: list[core.Taint] | None) -> core.NodeSpec:
    """A Docker node spec as the core's, keeping the node's ``taints`` (which Docker neither shows nor
    sends: an update through this door leaves them as they are)."""
    return core.NodeSpec(Name=s.Name, Labels=s.Labels, Role=s.Role, Availability=s.Availability, Taints=taints)


def task_spec_to_core(s: TaskSpec) -> core.TaskSpec:
    return core.TaskSpec(
        Containers=[container_to_core(s.ContainerSpec)] if s.ContainerSpec is not None else [],
        Resources=s.Resources, RestartPolicy=s.RestartPolicy, Placement=placement_to_core(s.Placement),
        Networks=s.Networks, LogDriver=s.LogDriver, ForceUpdate=s.ForceUpdate,
        Runtime="" if s.Runtime == CONTAINER_RUNTIME else s.Runtime)


def task_spec_from_core(s: core.TaskSpec) -> TaskSpec:
    return TaskSpec(
        ContainerSpec=container_from_core(s.Containers[0]) if s.Containers else None,
        Resources=s.Resources, RestartPolicy=s.RestartPolicy, Placement=placement_from_core(s.Placement),
        Networks=s.Networks, LogDriver=s.LogDriver, ForceUpdate=s.ForceUpdate, Runtime=s.Runtime)


_PROTOCOLS = frozenset({"tcp", "udp", "sctp"})


def _docker_protocols(ep: EndpointSpec | None) -> EndpointSpec | None:
    """dockerd reads a port's protocol by name, whatever its case, and a name it does not know as tcp
    (``icmp`` is stored and shown as ``tcp``), as Docker 20.10 does."""
    for p in ep.Ports or [] if ep is not None else []:
        p.Protocol = p.Protocol.lower() if p.Protocol.lower() in _PROTOCOLS else "tcp"
    return ep


def service_spec_to_core(s: ServiceSpec) -> core.ServiceSpec:
    s.EndpointSpec = _docker_protocols(s.EndpointSpec)
    return core.ServiceSpec(
        Name=s.Name, Labels=s.Labels, TaskTemplate=task_spec_to_core(s.TaskTemplate), Mode=s.Mode,
        UpdateConfig=s.UpdateConfig, RollbackConfig=s.RollbackConfig, EndpointSpec=s.EndpointSpec)


def service_spec_from_core(s: core.ServiceSpec) -> ServiceSpec:
    """A service's spec: its task template names its runtime, as dockerd's (a task's does not)."""
    tt = task_spec_from_core(s.TaskTemplate)
    tt.Runtime = tt.Runtime or CONTAINER_RUNTIME
    return ServiceSpec(
        Name=s.Name, Labels=s.Labels, TaskTemplate=tt, Mode=s.Mode,
        UpdateConfig=s.UpdateConfig, RollbackConfig=s.RollbackConfig, EndpointSpec=s.EndpointSpec)


def service_from_core(s: core.Service) -> Service:
    """The service; its ``Endpoint.Spec`` is its spec's endpoint spec as dockerd shows it (empty when
    the spec has none); a job's has its ``JobStatus``."""
    spec = service_spec_from_core(s.Spec)
    previous = service_spec_from_core(s.PreviousSpec) if s.PreviousSpec is not None else None
    fields = {f: getattr(s, f) for f in _SERVICE_FIELDS}
    if s.Spec.EndpointSpec is None:
        ep = s.Endpoint
        fields["Endpoint"] = Endpoint(Spec=EndpointSpec(Mode=""), Ports=ep.Ports if ep else None,
                                      VirtualIPs=ep.VirtualIPs if ep else None)
    if s.JobStatus is not None:
        job = JobStatus(JobIteration=JobVersion(Index=s.JobStatus.JobIteration.Index),
                        LastExecution=s.JobStatus.LastExecution)
        return JobService(Spec=spec, PreviousSpec=previous, JobStatus=job, **fields)
    return Service(Spec=spec, PreviousSpec=previous, **fields)


def task_status_from_core(s: core.TaskStatus) -> TaskStatus:
    first = s.Containers[0] if s.Containers else None
    cs = ContainerStatus(ContainerID=first.ContainerID, PID=first.PID, ExitCode=first.ExitCode) if first else None
    return TaskStatus(Timestamp=s.Timestamp, State=s.State, Message=s.Message, Err=s.Err, ContainerStatus=cs,
                      PortStatus=s.PortStatus)


def task_from_core(t: core.Task, specs: dict[int, TaskSpec] | None = None) -> Task:
    """``specs``: the wire specs already made in one answer, by the core spec's identity (a service's
    tasks share one spec, so a list of them converts it once)."""
    spec = specs.get(id(t.Spec)) if specs is not None else None
    if spec is None:
        spec = task_spec_from_core(t.Spec)
        if specs is not None:
            specs[id(t.Spec)] = spec
    fields = {f: getattr(t, f) for f in _TASK_FIELDS}
    status, atts = task_status_from_core(t.Status), attachments_json(t.NetworksAttachments)
    if t.JobIteration is not None:
        return JobTask(Spec=spec, ServiceID=core.service_id_of(t), Status=status, NetworksAttachments=atts,
                       JobIteration=JobVersion(Index=t.JobIteration.Index), **fields)
    return Task(Spec=spec, ServiceID=core.service_id_of(t), Status=status, NetworksAttachments=atts, **fields)


def tasks_from_core(tasks: list[core.Task]) -> list[Task]:
    specs: dict[int, TaskSpec] = {}
    return [task_from_core(t, specs) for t in tasks]


def task_to_core(t: Task) -> core.Task:
    """A task in Docker's shape as the core's (a service's task: its owner is the service)."""
    status = t.Status
    cs = status.ContainerStatus
    return core.Task(
        Spec=task_spec_to_core(t.Spec),
        Owner=ObjectRef(Kind=SERVICE_KIND, ID=t.ServiceID, Name=str((t.ServiceAnnotations or {}).get("Name", "")))
        if t.ServiceID else ObjectRef(),
        Status=core.TaskStatus(
            Timestamp=status.Timestamp, State=status.State, Message=status.Message, Err=status.Err,
            PortStatus=status.PortStatus,
            Containers=[core.ContainerStatus(Name=MAIN_CONTAINER, ContainerID=cs.ContainerID, PID=cs.PID,
                                             ExitCode=cs.ExitCode)] if cs is not None else None),
        NetworksAttachments=msgspec.convert(t.NetworksAttachments, list[NetworkAttachment] | None),
        **{f: getattr(t, f) for f in _TASK_FIELDS})



# dockerd's fields without ``omitempty`` (``gojson``: the others are left out when empty)
gojson.keep(Placement, ())
gojson.keep(NodeSpec, ("Labels",))
gojson.keep(ContainerSpec, ())
gojson.keep(TaskSpec, ("ForceUpdate",))
gojson.keep(ServiceSpec, ("Labels", "TaskTemplate", "Mode"), objects=("Labels",))
gojson.keep(Service, ("ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Endpoint"))
gojson.keep(ContainerStatus, ())
gojson.keep(TaskStatus, ("Timestamp", "PortStatus"), objects=("PortStatus",))
gojson.keep(Task, ("ID", "Version", "CreatedAt", "UpdatedAt", "Labels", "Spec", "Status"), objects=("Labels",))
gojson.keep(JobService, ("ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Endpoint", "JobStatus"))
gojson.keep(JobTask, ("ID", "Version", "CreatedAt", "UpdatedAt", "Labels", "Spec", "Status", "JobIteration"),
            objects=("Labels",))


def tasks_json(tasks: list[core.Task]) -> list[dict[str, Any]]:
    """Tasks as dockerd writes them (``omitempty``): a spec the tasks share (a service's) is made and
    trimmed once for the whole answer."""
    specs: dict[int, dict[str, Any]] = {}
    wspecs: dict[int, TaskSpec] = {}
    out = []
    empty = TaskSpec()
    for t in tasks:
        w = task_from_core(t, wspecs)
        spec = specs.get(id(w.Spec))
        if spec is None:
            spec = specs[id(w.Spec)] = gojson.to_json(w.Spec)
        w.Spec = empty
        data: dict[str, Any] = gojson.to_json(w)
        data["Spec"] = spec
        out.append(data)
    return out
