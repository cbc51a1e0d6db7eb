"""Core object types: Node, Service, Task, Cluster, Network, Secret, Config, with spec (desired) and
status (observed). These are what the store holds and every component reads; no front door's wire
format is among them.

The shapes follow SwarmKit's object model and most field names are the Docker Engine API's (PascalCase,
``ID``, ``NanoCPUs``), but a Task is not Docker's: its spec holds a list of containers
(``TaskSpec.Containers``, plus ``InitContainers``), its status one status per container, and it names
its owner (``Task.Owner``, an ``ObjectRef``) instead of a ``ServiceID``. A Swarm task has exactly one
container, named ``MAIN_CONTAINER``, and its owner is its service; a Kubernetes Pod will be a Task with
several. The Docker front door translates (``frontdoor/docker/wire.py``): Docker's ``TaskTemplate``
with its singular ``ContainerSpec`` is the core TaskSpec with one container. See
docs/design/task-model.md.

Every stored object is an ``ObjectMeta`` (``api/meta.py``: ``ID``, ``Version`` — the store revision of
its last write —, ``CreatedAt``, ``UpdatedAt``, name, labels, owner, generation, ...). Durations are
nanoseconds, as on the wire. Fields the API does not know are shoal's own bookkeeping and are
documented where they are declared. A store written before tasks had several containers
(``ContainerSpec``/``ServiceID``) still loads: ``decode`` reads the old shape.
"""

from __future__ import annotations

import datetime as _dt
import functools
import time
from typing import Any

import msgspec
from msgspec import field

from shoal.api.kube import Event, Namespace, ServiceAccount
from shoal.api.meta import Base, ObjectMeta, ObjectRef, Version, VersionRef
from shoal.api.pod import PodContainer, PodSpecExtra
from shoal.api.states import TaskState

_second: tuple[int, str] = (-1, "")  # the last second formatted, and its text


def now_ts() -> str:
    """The current time in RFC 3339 with nanosecond digits, as Go's time.Time marshals it."""
    global _second
    sec, ns = divmod(time.time_ns(), 1_000_000_000)
    last = _second
    if last[0] != sec:  # the date and time are formatted once a second, not once a call
        last = _second = (sec, _dt.datetime.fromtimestamp(sec, _dt.UTC).isoformat()[:19])
    return f"{last[1]}.{ns:09d}Z"


def parse_ts(ts: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp (any number of fraction digits)."""
    if not ts:
        return 0.0
    main, _, frac = ts.rstrip("Z").partition(".")
    return _whole_seconds(main) + (float("0." + frac) if frac else 0.0)


@functools.lru_cache(maxsize=4096)
def _whole_seconds(main: str) -> float:
    """``parse_ts`` of the part before the fraction (remembered: most timestamps read share a second)."""
    return _dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.UTC).timestamp()



# ---------------------------------------------------------------- shared pieces


class Platform(Base):
    Architecture: str = ""
    OS: str = ""


class GenericResource(Base):
    NamedResourceSpec: dict[str, Any] | None = None
    DiscreteResourceSpec: dict[str, Any] | None = None


class Resources(Base):
    NanoCPUs: int = 0
    MemoryBytes: int = 0
    Pids: int = 0
    GenericResources: list[GenericResource] | None = None


class ResourceRequirements(Base):
    Limits: Resources | None = None
    Reservations: Resources | None = None
    SwapBytes: int | None = None
    MemorySwappiness: int | None = None


class RestartPolicy(Base):
    Condition: str | None = None  # "none" | "on-failure" | "any"
    Delay: int | None = None  # ns
    MaxAttempts: int | None = None
    Window: int | None = None  # ns


class Toleration(Base, omit_defaults=True):
    """Kubernetes': the task may run on a node with a matching taint (``api/taints.py`` matches them).
    ``Operator`` is ``Equal`` (also when empty) or ``Exists``; an empty ``Key`` with ``Exists`` matches
    every taint, an empty ``Effect`` every effect. ``TolerationSeconds`` (a ``NoExecute`` toleration's
    only): how long the task may stay once the taint appears; None is for ever."""

    Key: str = ""
    Operator: str = ""  # "" (Equal) | Equal | Exists
    Value: str = ""
    Effect: str = ""  # "" (all) | NoSchedule | PreferNoSchedule | NoExecute
    TolerationSeconds: int | None = None  # seconds, as Kubernetes has it


class Placement(Base):
    Constraints: list[str] | None = None
    Preferences: list[dict[str, Any]] | None = None
    MaxReplicas: int = 0
    Platforms: list[Platform] | None = None
    # Kubernetes': the node taints this task tolerates. Swarm has none (the Docker door never shows
    # or sets them: ``frontdoor/docker/wire.py`` has Docker's own Placement).
    Tolerations: list[Toleration] | None = None


class Mount(Base):
    Type: str = "volume"
    Source: str = ""
    Target: str = ""
    ReadOnly: bool = False
    Consistency: str = ""
    BindOptions: dict[str, Any] | None = None
    VolumeOptions: dict[str, Any] | None = None
    TmpfsOptions: dict[str, Any] | None = None


class FileTarget(Base):
    """Where a secret or config appears in a task's container: a file name (relative: under
    ``/run/secrets`` for a secret, ``/`` for a config), its owner (numeric strings, as the API has
    them) and its permission bits."""

    Name: str = ""
    UID: str = ""
    GID: str = ""
    Mode: int = 0


class SecretReference(Base):
    File: FileTarget | None = None
    SecretID: str = ""
    SecretName: str = ""


class ConfigReference(Base):
    File: FileTarget | None = None
    Runtime: dict[str, Any] | None = None  # a credential spec's config: not mounted as a file
    ConfigID: str = ""
    ConfigName: str = ""


class PullOptions(Base):
    """SwarmKit's ``ContainerSpec.PullOptions``: the ``X-Registry-Auth`` that came with the service
    (``--with-registry-auth``), handed to the agents with each task. Never shown by the API."""

    RegistryAuth: str = ""


SERVICE_KIND = "Service"
MAIN_CONTAINER = "main"  # the name of a Swarm task's one container


class ContainerSpec(Base, omit_defaults=True):
    """One container of a task. ``Name`` is unique within the task (``MAIN_CONTAINER`` for a Swarm
    task's); the other fields are Docker's ``ContainerSpec``. ``Hostname`` and ``DNSConfig`` here are a
    Swarm task's (Docker has them per container); a Pod's are the task's (``TaskSpec.Hostname``)."""

    Name: str = ""
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
    PullOptions: PullOptions | None = None  # shoal's bookkeeping as SwarmKit's; the front door hides it
    # This container's own limits and reservations (a Pod's containers have them); None for a Swarm
    # task's, whose are the task's. ``TaskSpec.Resources`` is what the scheduler reads: the sum.
    Resources: ResourceRequirements | None = None
    # A Pod's container's own settings (volume mounts, environment from other objects, probes, ...;
    # ``api/pod.py``); None for a Swarm task's.
    Pod: PodContainer | None = None


class NetworkAttachmentConfig(Base):
    Target: str = ""
    Aliases: list[str] | None = None
    DriverOpts: dict[str, str] | None = None


class TaskSpec(Base, omit_defaults=True):
    """What a task runs: its containers (non-empty for a task that can run; a Swarm task has one), the
    init containers run to completion first, in order (a Pod's; None for a Swarm task), and what
    belongs to the task as a whole."""

    Containers: list[ContainerSpec] = field(default_factory=list)
    InitContainers: list[ContainerSpec] | None = None
    # The task's requirements, which the scheduler reads: the sum of its containers' (``summed``);
    # with one container, its own.
    Resources: ResourceRequirements | None = None
    RestartPolicy: RestartPolicy | None = None
    Placement: Placement | None = None
    Networks: list[NetworkAttachmentConfig] | None = None
    LogDriver: dict[str, Any] | None = None
    ForceUpdate: int = 0
    Runtime: str = ""
    # A Pod's hostname and DNS, shared by its containers; empty for a Swarm task, whose are in its
    # container's spec (``ContainerSpec.Hostname``, ``ContainerSpec.DNSConfig``), as Docker has them.
    Hostname: str = ""
    DNSConfig: dict[str, Any] | None = None
    # A Pod's own settings (volumes, service account, node selector, ...; ``api/pod.py``); None for a
    # Swarm task. A task with one is a Pod's, whoever owns it.
    Pod: PodSpecExtra | None = None


def first_container(spec: TaskSpec) -> ContainerSpec | None:
    """A Swarm task's one container (the first of a task's), or None when it has none."""
    return spec.Containers[0] if spec.Containers else None


def containers_of(spec: TaskSpec) -> list[ContainerSpec]:
    """Every container of a task, its init containers first (a Swarm task's: its one container)."""
    return spec.Containers if not spec.InitContainers else [*spec.InitContainers, *spec.Containers]


def _add_generic(a: list[GenericResource] | None, b: list[GenericResource] | None) -> list[GenericResource] | None:
    """Two containers' generic resources as one ask: the counts of one kind added up."""
    out: list[GenericResource] = []
    for r in [*(a or []), *(b or [])]:
        spec = r.DiscreteResourceSpec
        same = next((i for i, o in enumerate(out) if spec is not None and o.DiscreteResourceSpec is not None
                     and o.DiscreteResourceSpec.get("Kind") == spec.get("Kind")), None)
        if same is None or spec is None:
            out.append(r)
            continue
        prev = out[same].DiscreteResourceSpec or {}
        out[same] = GenericResource(DiscreteResourceSpec={
            "Kind": spec.get("Kind"), "Value": int(prev.get("Value", 0)) + int(spec.get("Value", 0))})
    return out or None


def _add(a: Resources | None, b: Resources | None) -> Resources | None:
    if a is None or b is None:
        return a if b is None else b
    gen = _add_generic(a.GenericResources, b.GenericResources)
    return Resources(NanoCPUs=a.NanoCPUs + b.NanoCPUs, MemoryBytes=a.MemoryBytes + b.MemoryBytes,
                     Pids=a.Pids + b.Pids, GenericResources=gen)


def summed(containers: list[ContainerSpec]) -> ResourceRequirements | None:
    """The task's requirements from its containers' (a Pod's ``TaskSpec.Resources``): limits and
    reservations added up; None when no container has any."""
    out: ResourceRequirements | None = None
    for c in containers:
        r = c.Resources
        if r is None:
            continue
        if out is None:
            out = ResourceRequirements(Limits=r.Limits, Reservations=r.Reservations)
        else:
            out = ResourceRequirements(Limits=_add(out.Limits, r.Limits),
                                       Reservations=_add(out.Reservations, r.Reservations))
    return out


class ReplicatedService(Base):
    Replicas: int | None = None


class ReplicatedJob(Base):
    """A job of ``TotalCompletions`` tasks that must exit 0, at most ``MaxConcurrent`` at a time.
    Left out, they are dockerd's defaults: ``MaxConcurrent`` 1, ``TotalCompletions`` equal to
    ``MaxConcurrent`` (``control.create_service`` fills them in)."""

    MaxConcurrent: int | None = None
    TotalCompletions: int | None = None


class ServiceMode(Base):
    Replicated: ReplicatedService | None = None
    Global: dict[str, Any] | None = None
    ReplicatedJob: ReplicatedJob | None = None
    GlobalJob: dict[str, Any] | None = None


class UpdateConfig(Base):
    Parallelism: int = 0
    Delay: int = 0
    FailureAction: str = ""
    Monitor: int = 0
    MaxFailureRatio: float = 0.0
    Order: str = ""


UpdateConfigRef = UpdateConfig


class PortConfig(Base):
    Name: str = ""
    Protocol: str = "tcp"
    TargetPort: int = 0
    PublishedPort: int = 0
    PublishMode: str = "ingress"


class EndpointSpec(Base):
    Mode: str = "vip"
    Ports: list[PortConfig] | None = None


class ServiceSpec(Base):
    Name: str = ""
    Labels: dict[str, str] | None = None
    TaskTemplate: TaskSpec = field(default_factory=TaskSpec)
    Mode: ServiceMode = field(default_factory=ServiceMode)
    UpdateConfig: UpdateConfig | None = None
    RollbackConfig: UpdateConfigRef | None = None
    EndpointSpec: EndpointSpec | None = None


class Endpoint(Base):
    Spec: EndpointSpec = field(default_factory=EndpointSpec)
    Ports: list[PortConfig] | None = None
    VirtualIPs: list[dict[str, Any]] | None = None


class UpdateStatus(Base):
    State: str = ""  # updating | paused | completed | rollback_started | rollback_paused | rollback_completed
    StartedAt: str | None = None
    CompletedAt: str | None = None
    Message: str = ""


class ServiceStatus(Base):
    RunningTasks: int = 0
    DesiredTasks: int = 0
    CompletedTasks: int = 0


class JobStatus(Base):
    """A job's run (SwarmKit's): ``JobIteration.Index`` counts the runs, 0 for the first, one more on
    every update of the service (a new spec, or ``--force``), which runs the job again;
    ``LastExecution`` is when the current run began (RFC 3339). Only a job has one."""

    JobIteration: VersionRef = field(default_factory=Version)
    LastExecution: str = ""


class Service(ObjectMeta):
    ID: str
    Spec: ServiceSpec = field(default_factory=ServiceSpec)
    PreviousSpec: ServiceSpec | None = None
    Endpoint: Endpoint | None = None
    UpdateStatus: UpdateStatus | None = None
    # Computed by the front door for `GET /services?status=true`; never stored.
    ServiceStatus: ServiceStatus | None = None
    JobStatus: JobStatus | None = None  # a job's (replicated-job or global-job); None for a service
    # shoal: bumped on every spec change; tasks made from this spec carry it (the `_up-to-date` filter).
    SpecVersion: VersionRef | None = None


# ---------------------------------------------------------------- tasks


class ContainerStatus(Base, omit_defaults=True):
    """One container of a task as its node last saw it. ``State`` is ``waiting`` (not started yet),
    ``running`` or ``terminated``; ``Ready`` is true while it runs and passes its health check (or has
    none); ``RestartCount`` counts restarts in place (a Pod's; a Swarm task is replaced instead)."""

    Name: str = ""
    ContainerID: str = ""
    PID: int = 0
    ExitCode: int = 0
    State: str = ""
    RestartCount: int = 0
    Ready: bool = False
    # Kubernetes' words for the state (``ContainerCreating``, ``ErrImagePull``, ``CrashLoopBackOff``,
    # ``Completed``, ``Error``, ``OOMKilled``) and its detail, when the agent knows them.
    Reason: str = ""
    Message: str = ""
    StartedAt: str = ""
    FinishedAt: str = ""
    Image: str = ""
    ImageID: str = ""
    # How it ended the last time it ran (a container restarted in place), Kubernetes' ``lastState``.
    LastState: LastTermination | None = None
    # A Pod's container: whether its startup probe has passed (Kubernetes' ``started``; None: it has
    # none, so it has once it runs), and the last of its node's events about it (its probes' failures,
    # the kill they caused), numbered so the manager writes each once.
    Started: bool | None = None
    Events: list[ContainerEvent] | None = None


class ContainerEvent(Base, omit_defaults=True):
    """Something the node saw happen to a Pod's container, in the kubelet's words (``Unhealthy``,
    ``ProbeWarning``, ``Killing``); ``Seq`` grows by one with each event of the container."""

    Seq: int = 0
    Type: str = "Normal"
    Reason: str = ""
    Message: str = ""


class LastTermination(Base, omit_defaults=True):
    ExitCode: int = 0
    Reason: str = ""
    StartedAt: str = ""
    FinishedAt: str = ""
    ContainerID: str = ""


class TaskStatus(Base, omit_defaults=True):
    Timestamp: str = ""
    State: TaskState = TaskState.NEW
    Message: str = ""
    Err: str = ""
    # One entry per container that has been made (None before the runtime made any).
    Containers: list[ContainerStatus] | None = None
    InitContainers: list[ContainerStatus] | None = None  # a Pod's init containers', in order
    PortStatus: dict[str, Any] | None = None
    # The task's addresses as its node gave them (a Pod's IP: the first), without prefix length.
    Addresses: list[str] | None = None
    StartedAt: str = ""  # when the node began to run the task (a Pod's ``startTime``)


class Task(ObjectMeta, omit_defaults=True):
    ID: str
    Spec: TaskSpec = field(default_factory=TaskSpec)
    SpecVersion: VersionRef | None = None
    # Who made the task and keeps it (a Swarm task: its service); tasks of one owner share the object.
    Owner: ObjectRef = field(default_factory=ObjectRef)
    Slot: int = 0
    NodeID: str = ""
    Status: TaskStatus = field(default_factory=TaskStatus)
    DesiredState: TaskState = TaskState.RUNNING
    NetworksAttachments: list[NetworkAttachment] | None = None
    GenericResources: list[GenericResource] | None = None
    Endpoint: Endpoint | None = None
    # shoal: the service's name and labels when the task was made, for logs and templates.
    ServiceAnnotations: dict[str, Any] | None = None
    # A job's task: the run of the job it belongs to (``JobStatus.JobIteration`` when it was made);
    # None for any other task. A job's task is wanted ``complete``: it runs until it exits.
    JobIteration: VersionRef | None = None


def owner_of(service: Service) -> ObjectRef:
    """A reference to a service, as its tasks' owner."""
    return ObjectRef(Kind=SERVICE_KIND, ID=service.ID, Name=service.Spec.Name)


def service_id_of(t: Task) -> str:
    """The ID of the service a task belongs to ("" when its owner is not a service)."""
    return t.Owner.ID if t.Owner.Kind == SERVICE_KIND else ""


def pod_phase(t: Task) -> str:
    """A Pod's phase from its task's state: Pending until its containers run, Running, then Succeeded
    (complete) or Failed (failed, rejected); a task stopped otherwise by how its containers ended."""
    s = t.Status.State
    if s == TaskState.RUNNING:
        return "Running"
    if s == TaskState.COMPLETE:
        return "Succeeded"
    if s in (TaskState.FAILED, TaskState.REJECTED):
        return "Failed"
    if s.terminal:
        apps = {c.Name for c in t.Spec.Containers}
        cs = [c for c in t.Status.Containers or [] if c.Name in apps]
        if not cs:
            return "Pending"
        if any(c.State == "running" for c in cs):
            return "Running"
        return "Succeeded" if all(c.State == "terminated" and c.ExitCode == 0 for c in cs) else "Failed"
    return "Pending"


# ---------------------------------------------------------------- nodes


class Taint(Base, omit_defaults=True):
    """Kubernetes': keeps tasks that do not tolerate it off the node (``NoSchedule``), prefers other
    nodes (``PreferNoSchedule``), or also evicts those running there (``NoExecute``). ``TimeAdded``
    (RFC 3339) is set for a ``NoExecute`` taint, when it was added."""

    Key: str = ""
    Value: str = ""
    Effect: str = ""  # NoSchedule | PreferNoSchedule | NoExecute
    TimeAdded: str | None = None


class NodeSpec(Base):
    Name: str = ""
    Labels: dict[str, str] | None = None
    Role: str = "worker"  # worker | manager
    Availability: str = "active"  # active | pause | drain
    # Kubernetes': none on a Swarm node (the Docker door neither shows nor changes them).
    Taints: list[Taint] | None = None


class EngineDescription(Base):
    EngineVersion: str = ""
    Labels: dict[str, str] | None = None
    Plugins: list[dict[str, str]] | None = None


class TLSInfo(Base):
    TrustRoot: str = ""
    CertIssuerSubject: str = ""
    CertIssuerPublicKey: str = ""


class NodeSystem(Base, omit_defaults=True):
    """What the node runs on, as Kubernetes' ``nodeInfo`` shows it (the Docker door leaves it out):
    the kernel's release, the operating system's name, the runtime that runs its containers."""

    KernelVersion: str = ""
    OSImage: str = ""
    Runtime: str = ""  # runc | docker | process | hollow
    RuntimeVersion: str = ""


class NodeDescription(Base):
    Hostname: str = ""
    Platform: Platform = field(default_factory=Platform)
    Resources: Resources = field(default_factory=Resources)
    Engine: EngineDescription = field(default_factory=EngineDescription)
    TLSInfo: TLSInfo | None = None
    System: NodeSystem | None = None


class NodeStatus(Base):
    State: str = "unknown"  # unknown | down | ready | disconnected
    Message: str = ""
    Addr: str = ""


class ManagerStatus(Base):
    Leader: bool = False
    Reachability: str = "unknown"  # unknown | unreachable | reachable
    Addr: str = ""


class Node(ObjectMeta):
    ID: str
    Spec: NodeSpec = field(default_factory=NodeSpec)
    Description: NodeDescription = field(default_factory=NodeDescription)
    Status: NodeStatus = field(default_factory=NodeStatus)
    ManagerStatus: ManagerStatus | None = None
    # SwarmKit's: the node's own address on the ingress network (the routing mesh's source address).
    Attachments: list[NetworkAttachment] | None = None
    # Kubernetes' ``spec.podCIDRs``: the node's block of the cluster's pod range, given by the leader's
    # node IPAM (``manager/kube/nodeipam.py``) for the node's life; the Docker door does not show it.
    PodCIDRs: list[str] | None = None


# ---------------------------------------------------------------- cluster


class OrchestrationConfig(Base):
    TaskHistoryRetentionLimit: int | None = None


class RaftConfig(Base):
    SnapshotInterval: int = 0
    KeepOldSnapshots: int | None = None
    LogEntriesForSlowFollowers: int = 0
    ElectionTick: int = 0
    HeartbeatTick: int = 0


class DispatcherConfig(Base):
    HeartbeatPeriod: int | None = None


class CAConfig(Base):
    NodeCertExpiry: int | None = None
    ExternalCAs: list[dict[str, Any]] | None = None
    SigningCACert: str = ""
    SigningCAKey: str = ""
    ForceRotate: int = 0


class EncryptionConfig(Base):
    AutoLockManagers: bool = False


class ClusterSpec(Base):
    Name: str = "default"
    Labels: dict[str, str] | None = None
    Orchestration: OrchestrationConfig = field(default_factory=OrchestrationConfig)
    Raft: RaftConfig = field(default_factory=RaftConfig)
    Dispatcher: DispatcherConfig = field(default_factory=DispatcherConfig)
    CAConfig: CAConfig = field(default_factory=CAConfig)
    TaskDefaults: dict[str, Any] = field(default_factory=dict)
    EncryptionConfig: EncryptionConfig = field(default_factory=EncryptionConfig)


class JoinTokens(Base):
    Worker: str = ""
    Manager: str = ""


# ---------------------------------------------------------------- networks


class Driver(Base):
    Name: str = ""
    Options: dict[str, str] | None = None


class IPAMConfig(Base):
    Subnet: str = ""
    Range: str = ""
    Gateway: str = ""


class IPAMOptions(Base):
    Driver: Driver = field(default_factory=Driver)
    Configs: list[IPAMConfig] | None = None


IPAMOptionsRef = IPAMOptions  # for the field of Network named like the type


class NetworkSpec(Base):
    Name: str = ""
    Labels: dict[str, str] | None = None
    DriverConfiguration: Driver | None = None
    IPv6Enabled: bool = False
    Internal: bool = False
    Attachable: bool = False
    Ingress: bool = False
    IPAMOptions: IPAMOptionsRef | None = None
    Scope: str = "swarm"


class Network(ObjectMeta):
    ID: str
    Spec: NetworkSpec = field(default_factory=NetworkSpec)
    # What the manager allocated: the driver's state (the overlay's VXLAN ID) and the subnets.
    DriverState: Driver = field(default_factory=Driver)
    IPAMOptions: IPAMOptionsRef = field(default_factory=IPAMOptions)


class NetworkAttachment(Base):
    """A task's place on a network: the network as it was at allocation, and the task's addresses."""

    Network: NetworkRef
    Addresses: list[str] = field(default_factory=list)


NetworkRef = Network


class EncryptionKey(Base):
    """A key the managers hand to the nodes (SwarmKit's ``EncryptionKey``); the encrypted overlays'
    are subsystem ``networking:overlay``, algorithm ``aes-gcm``, 16 bytes."""

    Subsystem: str = ""
    Algorithm: str = ""
    Key: str = ""  # base64
    LamportTime: int = 0
    CreatedAt: float = 0.0  # shoal: wall-clock seconds, so a rotation is due 12 hours after, across restarts


# Kubernetes Services' ranges: Kubernetes' 10.96.0.0/12 lies inside Swarm's default address pool
# (10.0.0.0/8), so shoal's default service range is 172.16.0.0/16 (see docs/design/services.md).
DEFAULT_SERVICE_CIDR = "172.16.0.0/16"
DEFAULT_NODE_PORT_RANGE = "30000-32767"
# The Kubernetes pod network's range (kube-controller-manager's --cluster-cidr), carved into a block of
# --node-cidr-mask-size bits per node; Kubernetes' usual 10.244.0.0/16 lies inside Swarm's default pool too
# (docs/design/kube-network.md). The cluster domain and the DNS address are the kubelet's defaults
# (--cluster-domain, --cluster-dns: "" is the service range's tenth address, as kubeadm picks 10.96.0.10).
DEFAULT_CLUSTER_CIDR = "100.64.0.0/16"
DEFAULT_NODE_CIDR_MASK_SIZE = 24
DEFAULT_CLUSTER_DOMAIN = "cluster.local"


class Cluster(ObjectMeta):
    ID: str
    Spec: ClusterSpec = field(default_factory=ClusterSpec)
    TLSInfo: TLSInfo = field(default_factory=TLSInfo)
    RootRotationInProgress: bool = False
    DefaultAddrPool: list[str] = field(default_factory=lambda: ["10.0.0.0/8"])
    SubnetSize: int = 24
    DataPathPort: int = 4789
    JoinTokens: JoinTokens = field(default_factory=JoinTokens)
    # The Kubernetes Services' address range and NodePort range (kube-apiserver's
    # --service-cluster-ip-range and --service-node-port-range); not shown by the Engine API.
    ServiceClusterIPRange: str = DEFAULT_SERVICE_CIDR
    ServiceNodePortRange: str = DEFAULT_NODE_PORT_RANGE
    # The Kubernetes network's other settings (``api/kubenet.py`` reads them with their defaults): the pod
    # range and each node's block size, the cluster domain, the cluster DNS address ("": the service
    # range's tenth), and the LoadBalancer Services' external addresses ("": the nodes' own addresses;
    # else a CIDR or a range ``A-B``). Not shown by the Engine API either.
    ClusterCIDR: str = DEFAULT_CLUSTER_CIDR
    NodeCIDRMaskSize: int = DEFAULT_NODE_CIDR_MASK_SIZE
    ClusterDomain: str = DEFAULT_CLUSTER_DOMAIN
    ClusterDNS: str = ""
    ServiceLBPool: str = ""
    # shoal: the root CA's private key (PEM) and the unlock key (autolock), never shown by the API; the
    # store encrypts them at rest with the data key, which the unlock key seals under autolock.
    RootCAKey: str = ""
    UnlockKey: str = ""
    # The encrypted overlays' keys (never shown by the API either) and their Lamport clock.
    NetworkBootstrapKeys: list[EncryptionKey] | None = None
    EncryptionKeyLamportClock: int = 0


# ---------------------------------------------------------------- secrets and configs

DriverRef = Driver  # for the fields named like the type


class SecretSpec(Base, omit_defaults=True):  # as Go's `json:",omitempty"`
    Name: str = ""
    Labels: dict[str, str] | None = None
    # The secret's bytes (base64 on the wire, as Go's []byte). Stored (encrypted at rest, as every
    # value), sent only to the nodes whose tasks use it, never returned by the API.
    Data: bytes | None = None
    Driver: DriverRef | None = None
    Templating: DriverRef | None = None
    # A Kubernetes Secret's: its type (``Opaque``, ``kubernetes.io/tls`` ...) and its keys' bytes
    # (kept, sent and never shown as ``Data`` is); ``Data`` stays None for it.
    Type: str = ""
    Items: dict[str, bytes] | None = None
    Immutable: bool = False

    def __repr__(self) -> str:  # a log line or a traceback never shows the secret's bytes
        data = None if self.Data is None else f"<{len(self.Data)} bytes>"
        items = None if self.Items is None else sorted(self.Items)
        return f"SecretSpec(Name={self.Name!r}, Labels={self.Labels!r}, Data={data}, Items={items})"


class Secret(ObjectMeta):
    ID: str
    Spec: SecretSpec = field(default_factory=SecretSpec)


class ConfigSpec(Base, omit_defaults=True):
    Name: str = ""
    Labels: dict[str, str] | None = None
    Data: bytes | None = None  # shown by the API, unlike a secret's
    Templating: DriverRef | None = None
    # A Kubernetes ConfigMap's keys (text, and binary), with ``Data`` None.
    Items: dict[str, str] | None = None
    BinaryItems: dict[str, bytes] | None = None
    Immutable: bool = False


class Config(ObjectMeta):
    ID: str
    Spec: ConfigSpec = field(default_factory=ConfigSpec)


# ---------------------------------------------------------------- Kubernetes workloads (apps/v1)
# A ReplicaSet and a Deployment are plain objects of their own kinds (``replicasets``,
# ``deployments``), named in their metadata as Namespace and Event are; their Pod template's spec is a
# ``TaskSpec`` (what a Pod made from it runs), so the controllers copy it into the Pods' tasks as is.


class SelectorRequirement(Base, omit_defaults=True):
    """One ``matchExpressions`` entry: ``Operator`` In, NotIn, Exists or DoesNotExist."""

    Key: str = ""
    Operator: str = ""
    Values: list[str] | None = None


class LabelSelectorSpec(Base, omit_defaults=True):
    """Kubernetes' ``metav1.LabelSelector`` (``matchLabels`` and ``matchExpressions``)."""

    MatchLabels: dict[str, str] | None = None
    MatchExpressions: list[SelectorRequirement] | None = None


class PodTemplate(Base, omit_defaults=True):
    """A Pod template: the labels and annotations of the Pods made from it, and their spec."""

    Labels: dict[str, str] | None = None
    Annotations: dict[str, str] | None = None
    Spec: TaskSpec = field(default_factory=TaskSpec)


class WorkloadCondition(Base, omit_defaults=True):
    """A condition of a Deployment or a ReplicaSet (``Progressing``, ``Available``, ``ReplicaFailure``)."""

    Type: str = ""
    Status: str = ""  # True | False | Unknown
    LastUpdateTime: str = ""
    LastTransitionTime: str = ""
    Reason: str = ""
    Message: str = ""


class ReplicaSetSpec(Base):
    Replicas: int = 1
    MinReadySeconds: int = 0
    Selector: LabelSelectorSpec = field(default_factory=LabelSelectorSpec)
    Template: PodTemplate = field(default_factory=PodTemplate)


class ReplicaSetStatus(Base):
    Replicas: int = 0
    FullyLabeledReplicas: int = 0
    ReadyReplicas: int = 0
    AvailableReplicas: int = 0
    ObservedGeneration: int = 0
    Conditions: list[WorkloadCondition] | None = None


class ReplicaSet(ObjectMeta):
    """``apps/v1`` ReplicaSet: keeps ``Spec.Replicas`` Pods of its template (``manager/kube/replicasets.py``)."""

    ID: str
    Spec: ReplicaSetSpec = field(default_factory=ReplicaSetSpec)
    Status: ReplicaSetStatus = field(default_factory=ReplicaSetStatus)


class DeploymentStrategy(Base):
    """``Type`` RollingUpdate (with ``MaxSurge``/``MaxUnavailable``: a count or a percentage) or Recreate."""

    Type: str = "RollingUpdate"
    MaxSurge: int | str | None = "25%"
    MaxUnavailable: int | str | None = "25%"


class DeploymentSpec(Base):
    Replicas: int = 1
    Selector: LabelSelectorSpec = field(default_factory=LabelSelectorSpec)
    Template: PodTemplate = field(default_factory=PodTemplate)
    Strategy: DeploymentStrategy = field(default_factory=DeploymentStrategy)
    MinReadySeconds: int = 0
    RevisionHistoryLimit: int | None = 10
    Paused: bool = False
    ProgressDeadlineSeconds: int | None = 600


class DeploymentStatus(Base):
    ObservedGeneration: int = 0
    Replicas: int = 0
    UpdatedReplicas: int = 0
    ReadyReplicas: int = 0
    AvailableReplicas: int = 0
    UnavailableReplicas: int = 0
    Conditions: list[WorkloadCondition] | None = None
    CollisionCount: int | None = None


class Deployment(ObjectMeta):
    """``apps/v1`` Deployment: rolls its template out through ReplicaSets (``manager/kube/deployments.py``)."""

    ID: str
    Spec: DeploymentSpec = field(default_factory=DeploymentSpec)
    Status: DeploymentStatus = field(default_factory=DeploymentStatus)


# ---------------------------------------------------------------- DaemonSets (apps/v1)
# A DaemonSet is a plain object of its own kind (``daemonsets``), named in its metadata as a
# Deployment is; the controller (``manager/kube/daemonsets.py``) keeps one Pod of its template on each
# node that should run one.

DAEMONSET_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"  # the API server's annotation


class DaemonSetUpdateStrategy(Base):
    """``Type`` RollingUpdate (with ``MaxUnavailable``/``MaxSurge``: a count or a percentage of the
    nodes that should run a Pod) or OnDelete."""

    Type: str = "RollingUpdate"
    MaxUnavailable: int | str | None = 1
    MaxSurge: int | str | None = 0


class DaemonSetSpec(Base):
    Selector: LabelSelectorSpec = field(default_factory=LabelSelectorSpec)
    Template: PodTemplate = field(default_factory=PodTemplate)
    UpdateStrategy: DaemonSetUpdateStrategy = field(default_factory=DaemonSetUpdateStrategy)
    MinReadySeconds: int = 0
    RevisionHistoryLimit: int | None = 10


class DaemonSetStatus(Base):
    CurrentNumberScheduled: int = 0
    NumberMisscheduled: int = 0
    DesiredNumberScheduled: int = 0
    NumberReady: int = 0
    ObservedGeneration: int = 0
    UpdatedNumberScheduled: int = 0
    NumberAvailable: int = 0
    NumberUnavailable: int = 0
    CollisionCount: int | None = None
    Conditions: list[WorkloadCondition] | None = None


class DaemonSet(ObjectMeta):
    """``apps/v1`` DaemonSet: one Pod of its template on every eligible node (``manager/kube/daemonsets.py``).
    Its template generation (bumped by every change of the template) is the annotation
    ``deprecated.daemonset.template.generation``, as the API server keeps it (``KubeObjects``)."""

    ID: str
    Spec: DaemonSetSpec = field(default_factory=DaemonSetSpec)
    Status: DaemonSetStatus = field(default_factory=DaemonSetStatus)



class ControllerRevision(ObjectMeta):
    """``apps/v1`` ControllerRevision: one revision of a DaemonSet's Pod template, numbered
    (``Revision``), kept by the DaemonSet controller for ``kubectl rollout history`` and ``undo``. The door
    shows ``Template`` as Kubernetes' ``data``: a patch that replaces the DaemonSet's ``spec.template``."""

    ID: str
    Revision: int = 0
    Template: PodTemplate = field(default_factory=PodTemplate)


# ---------------------------------------------------------------- Kubernetes batch (batch/v1)
# A Job and a CronJob are plain objects of their own kinds (``jobs``, ``cronjobs``), named in their
# metadata as ReplicaSets are; a Job's Pod template is a ``PodTemplate``, a CronJob's Job template a
# ``JobTemplate`` (``manager/kube/jobs.py``, ``cronjobs.py``).


class JobCondition(Base, omit_defaults=True):
    """A condition of a Job: ``Complete``, ``Failed``, ``Suspended`` (Status True, False or Unknown)."""

    Type: str = ""
    Status: str = ""
    LastProbeTime: str = ""
    LastTransitionTime: str = ""
    Reason: str = ""
    Message: str = ""


class JobSpec(Base):
    """What a Job runs: ``Completions`` successful Pods (None: a work queue, done once one succeeded and
    none runs), at most ``Parallelism`` at a time, ``CompletionMode`` NonIndexed or Indexed."""

    Parallelism: int = 1
    Completions: int | None = 1
    ActiveDeadlineSeconds: int | None = None
    BackoffLimit: int = 6
    Selector: LabelSelectorSpec = field(default_factory=LabelSelectorSpec)
    ManualSelector: bool | None = None
    Template: PodTemplate = field(default_factory=PodTemplate)
    TTLSecondsAfterFinished: int | None = None
    CompletionMode: str = "NonIndexed"
    Suspend: bool = False
    PodReplacementPolicy: str = "TerminatingOrFailed"


class BatchJobStatus(Base):
    """A Job's status (``JobStatus`` is Swarm's job run)."""

    Conditions: list[JobCondition] | None = None
    StartTime: str = ""
    CompletionTime: str = ""
    Active: int = 0
    Succeeded: int = 0
    Failed: int = 0
    Ready: int = 0
    Terminating: int = 0
    CompletedIndexes: str = ""
    # The ended Pods (IDs) already counted in Succeeded/Failed (the controller's bookkeeping, never shown:
    # Kubernetes keeps it with a finalizer on each Pod). Only Pods that still exist are listed.
    Counted: list[str] | None = None


class Job(ObjectMeta):
    """``batch/v1`` Job: runs its template's Pods to completion (``manager/kube/jobs.py``)."""

    ID: str
    Spec: JobSpec = field(default_factory=JobSpec)
    Status: BatchJobStatus = field(default_factory=BatchJobStatus)


class JobTemplate(Base, omit_defaults=True):
    """A CronJob's Job template: the labels and annotations of the Jobs made from it, and their spec."""

    Labels: dict[str, str] | None = None
    Annotations: dict[str, str] | None = None
    Spec: JobSpec = field(default_factory=JobSpec)


class JobReference(Base, omit_defaults=True):
    """A CronJob's running Job (an entry of ``status.active``)."""

    Name: str = ""
    Namespace: str = ""
    ID: str = ""
    Version: int = 0


class CronJobSpec(Base):
    """``Schedule`` in cron syntax (``api/cron.py``), read in ``TimeZone`` (None: the controller's, UTC)."""

    Schedule: str = ""
    TimeZone: str | None = None
    StartingDeadlineSeconds: int | None = None
    ConcurrencyPolicy: str = "Allow"  # Allow | Forbid | Replace
    Suspend: bool = False
    JobTemplate: JobTemplate = field(default_factory=JobTemplate)
    SuccessfulJobsHistoryLimit: int = 3
    FailedJobsHistoryLimit: int = 1


class CronJobStatus(Base):
    Active: list[JobReference] | None = None
    LastScheduleTime: str = ""
    LastSuccessfulTime: str = ""


class CronJob(ObjectMeta):
    """``batch/v1`` CronJob: makes a Job of its template at each scheduled time (``manager/kube/cronjobs.py``)."""

    ID: str
    Spec: CronJobSpec = field(default_factory=CronJobSpec)
    Status: CronJobStatus = field(default_factory=CronJobStatus)


# ---------------------------------------------------------------- Kubernetes Services and endpoints
# A Kubernetes Service (``KubeService``, kind ``kubeservices``: Swarm's ``Service`` is ``services``),
# its ``Endpoints`` and its ``EndpointSlice``s are objects named in their metadata, as Namespace and
# Event are. The manager allocates a Service's ClusterIP and NodePorts on its create and update
# (``manager/kube/services.py``) and claims them with index keys (``store/index.py``), so they are
# free again when the Service goes; the endpoints controllers keep the other two
# (``manager/kube/endpoints.py``, ``endpointslices.py``). No traffic flows through them yet.

CLUSTER_IP_NONE = "None"  # a headless Service's ClusterIP


class KubeServicePort(Base, omit_defaults=True):
    Name: str = ""
    Protocol: str = "TCP"
    AppProtocol: str = ""
    Port: int = 0
    TargetPort: int | str = 0  # a number, or the name of a container port
    NodePort: int = 0


class KubeServiceSpec(Base, omit_defaults=True):
    """A Service's spec, defaulted by the door as the API server defaults it."""

    Type: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer | ExternalName
    Ports: list[KubeServicePort] | None = None
    Selector: dict[str, str] | None = None
    ClusterIP: str = ""  # "" until allocated; CLUSTER_IP_NONE for a headless Service
    ClusterIPs: list[str] | None = None
    ExternalIPs: list[str] | None = None
    ExternalName: str = ""
    SessionAffinity: str = "None"
    SessionAffinityTimeout: int | None = None  # ClientIP's timeoutSeconds
    LoadBalancerIP: str = ""
    LoadBalancerSourceRanges: list[str] | None = None
    LoadBalancerClass: str = ""
    AllocateLoadBalancerNodePorts: bool | None = None
    ExternalTrafficPolicy: str = ""
    InternalTrafficPolicy: str = ""
    HealthCheckNodePort: int = 0
    PublishNotReadyAddresses: bool = False
    IPFamilies: list[str] | None = None
    IPFamilyPolicy: str = ""
    TrafficDistribution: str = ""


class LoadBalancerIngress(Base, omit_defaults=True):
    IP: str = ""
    Hostname: str = ""


class KubeServiceStatus(Base, omit_defaults=True):
    LoadBalancer: list[LoadBalancerIngress] | None = None
    # The LoadBalancer pool's address this Service holds (core only, claimed by an index key; the door
    # shows it as ``LoadBalancer``'s ingress): ``manager/kube/loadbalancers.py``.
    PoolAddress: str = ""


class KubeService(ObjectMeta):
    """``v1`` Service: a stable address (ClusterIP, NodePorts) for the Pods its selector picks."""

    ID: str
    Spec: KubeServiceSpec = field(default_factory=KubeServiceSpec)
    Status: KubeServiceStatus = field(default_factory=KubeServiceStatus)


class EndpointTarget(Base, omit_defaults=True):
    """An endpoint's ``targetRef``: the Pod behind it."""

    Kind: str = "Pod"
    Namespace: str = ""
    Name: str = ""
    UID: str = ""


class EndpointAddress(Base, omit_defaults=True):
    IP: str = ""
    Hostname: str = ""
    NodeName: str = ""
    TargetRef: EndpointTarget | None = None


class EndpointPort(Base, omit_defaults=True):
    Name: str = ""
    Port: int = 0
    Protocol: str = "TCP"
    AppProtocol: str = ""


class EndpointSubset(Base, omit_defaults=True):
    Addresses: list[EndpointAddress] | None = None
    NotReadyAddresses: list[EndpointAddress] | None = None
    Ports: list[EndpointPort] | None = None


class Endpoints(ObjectMeta):
    """``v1`` Endpoints: the addresses behind a Service of the same name."""

    ID: str
    Subsets: list[EndpointSubset] | None = None


class EndpointConditions(Base, omit_defaults=True):
    Ready: bool | None = None
    Serving: bool | None = None
    Terminating: bool | None = None


class SliceEndpoint(Base, omit_defaults=True):
    Addresses: list[str] = field(default_factory=list)
    Conditions: EndpointConditions = field(default_factory=EndpointConditions)
    Hostname: str = ""
    NodeName: str = ""
    Zone: str = ""
    TargetRef: EndpointTarget | None = None


class EndpointSlice(ObjectMeta):
    """``discovery.k8s.io/v1`` EndpointSlice: up to 100 endpoints of a Service sharing one set of ports."""

    ID: str
    AddressType: str = "IPv4"
    Endpoints: list[SliceEndpoint] | None = None
    Ports: list[EndpointPort] | None = None


# ---------------------------------------------------------------- Kubernetes Ingress (networking.k8s.io/v1)
# An Ingress (``ingresses``) routes HTTP(S) by host and path to Services of its namespace; an
# IngressClass (``ingressclasses``, cluster-scoped) names the controller that serves it. Both are named
# in their metadata. The leader makes the default class ``shoal`` at start and fills an Ingress's
# ``status.loadBalancer`` (``manager/kube/ingresses.py``); an Ingress made without a class gets the
# default class's name (the DefaultIngressClass admission, ``KubeObjects._prepare``); every node serves
# the Ingresses of class ``shoal`` with nginx (``network/kubeingress.py``, docs/design/kube-network.md).

DEFAULT_INGRESS_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


class IngressResourceRef(Base, omit_defaults=True):
    """A backend that is not a Service (``backend.resource``: a TypedLocalObjectReference); kept, not served."""

    APIGroup: str | None = None
    Kind: str = ""
    Name: str = ""


class IngressBackend(Base, omit_defaults=True):
    """Where matching requests go: a Service of the Ingress's namespace and its port, by number or by name."""

    Service: str = ""  # the Service's name ("" with a resource backend)
    Port: int = 0
    PortName: str = ""
    Resource: IngressResourceRef | None = None


class IngressPath(Base, omit_defaults=True):
    Path: str = ""
    PathType: str = ""  # Exact | Prefix | ImplementationSpecific
    Backend: IngressBackend = field(default_factory=IngressBackend)


class IngressRule(Base, omit_defaults=True):
    Host: str = ""  # "" any host; may start with ``*.``
    Paths: list[IngressPath] | None = None  # ``http.paths``; None: the rule has no ``http``


class IngressTLS(Base, omit_defaults=True):
    Hosts: list[str] | None = None
    SecretName: str = ""


class IngressSpec(Base, omit_defaults=True):
    IngressClassName: str | None = None  # None: unset (the default class's name is filled at create)
    DefaultBackend: IngressBackend | None = None
    TLS: list[IngressTLS] | None = None
    Rules: list[IngressRule] | None = None


class IngressStatus(Base, omit_defaults=True):
    LoadBalancer: list[LoadBalancerIngress] | None = None


class Ingress(ObjectMeta):
    """``networking.k8s.io/v1`` Ingress: host and path rules to Services, and TLS from Secrets."""

    ID: str
    Spec: IngressSpec = field(default_factory=IngressSpec)
    Status: IngressStatus = field(default_factory=IngressStatus)


class IngressClassParameters(Base, omit_defaults=True):
    APIGroup: str | None = None
    Kind: str = ""
    Name: str = ""
    Scope: str | None = None  # Cluster | Namespace
    Namespace: str | None = None


class IngressClassSpec(Base, omit_defaults=True):
    Controller: str = ""
    Parameters: IngressClassParameters | None = None


class IngressClass(ObjectMeta):
    """``networking.k8s.io/v1`` IngressClass (cluster-scoped): the controller that serves its Ingresses."""

    ID: str
    Spec: IngressClassSpec = field(default_factory=IngressClassSpec)


StoredObject = Node | Service | Task | Cluster | Network | Secret | Config | Namespace | Event | ServiceAccount \
    | ReplicaSet | Deployment | DaemonSet | ControllerRevision | Job | CronJob | KubeService | Endpoints \
    | EndpointSlice \
    | Ingress | IngressClass  # networking.k8s.io/v1

KIND_OF: dict[type, str] = {Node: "nodes", Service: "services", Task: "tasks", Cluster: "clusters",
                            Network: "networks", Secret: "secrets", Config: "configs",
                            Namespace: "namespaces", Event: "events", ServiceAccount: "serviceaccounts",
                            ReplicaSet: "replicasets", Deployment: "deployments",
                            DaemonSet: "daemonsets", ControllerRevision: "controllerrevisions",
                            Job: "jobs", CronJob: "cronjobs",
                            KubeService: "kubeservices", Endpoints: "endpoints", EndpointSlice: "endpointslices"}
KIND_OF.update({Ingress: "ingresses", IngressClass: "ingressclasses"})  # networking.k8s.io/v1
# The kinds that carry their name in their metadata (no spec to copy it from).
META_NAMED = frozenset({"namespaces", "events", "serviceaccounts", "replicasets", "deployments", "daemonsets",
                        "controllerrevisions", "jobs", "cronjobs", "kubeservices", "endpoints", "endpointslices"})
# Of those, the ones with a spec whose changes bump ``Generation`` (Kubernetes' workloads).
META_NAMED_WITH_SPEC = frozenset({"replicasets", "deployments", "daemonsets", "jobs", "cronjobs"})
META_NAMED |= {"ingresses", "ingressclasses"}  # networking.k8s.io/v1
META_NAMED_WITH_SPEC |= {"ingresses", "ingressclasses"}
TYPE_OF: dict[str, type] = {v: k for k, v in KIND_OF.items()}

_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {t: msgspec.json.Decoder(t) for t in KIND_OF}


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def decode(typ: type, data: bytes) -> Any:
    dec = _decoders.get(typ)
    if dec is None:
        return msgspec.json.decode(data, type=typ)
    obj = dec.decode(data)
    if typ is Task:
        if not obj.Owner.ID and not obj.Spec.Containers:
            _upgrade_task(obj, data)
        obj.Owner = _shared(obj.Owner)
    elif typ is Service and not obj.Spec.TaskTemplate.Containers:
        _upgrade_service(obj, data)
    return obj


_owners: dict[str, ObjectRef] = {}  # owner ID -> one reference the decoded tasks of that owner share


def _shared(ref: ObjectRef) -> ObjectRef:
    """One ObjectRef per owner for every task decoded (a million tasks read from the store or a watch
    would otherwise hold a million copies: 150 bytes each more than the ``ServiceID`` string was)."""
    have = _owners.get(ref.ID)
    if have is not None and have == ref:
        return have
    if len(_owners) >= 65536:
        _owners.clear()
    _owners[ref.ID] = ref
    return ref


# ---------------------------------------------------------------- the shape stored before (one container)


class _OldTaskSpec(Base):
    ContainerSpec: ContainerSpec | None = None


class _OldServiceSpec(Base):
    TaskTemplate: _OldTaskSpec = field(default_factory=_OldTaskSpec)


class _OldService(Base):
    Spec: _OldServiceSpec = field(default_factory=_OldServiceSpec)
    PreviousSpec: _OldServiceSpec | None = None


class _OldContainerStatus(Base):
    ContainerID: str = ""
    PID: int = 0
    ExitCode: int = 0


class _OldTaskStatus(Base):
    ContainerStatus: _OldContainerStatus | None = None


class _OldTask(Base):
    ServiceID: str = ""
    Spec: _OldTaskSpec = field(default_factory=_OldTaskSpec)
    Status: _OldTaskStatus = field(default_factory=_OldTaskStatus)


_old_task = msgspec.json.Decoder(_OldTask)
_old_service = msgspec.json.Decoder(_OldService)


def _containers(old: _OldTaskSpec) -> list[ContainerSpec]:
    if old.ContainerSpec is None:
        return []
    old.ContainerSpec.Name = MAIN_CONTAINER
    return [old.ContainerSpec]


def _upgrade_task(t: Task, data: bytes) -> None:
    """A Task stored with Docker's shape (``ServiceID``, ``Spec.ContainerSpec``,
    ``Status.ContainerStatus``), read into the core's."""
    if b'"ServiceID"' not in data and b'"ContainerSpec"' not in data:
        return
    old = _old_task.decode(data)
    if old.ServiceID:
        name = (t.ServiceAnnotations or {}).get("Name", "")
        t.Owner = ObjectRef(Kind=SERVICE_KIND, ID=old.ServiceID, Name=name if isinstance(name, str) else "")
    t.Spec.Containers = _containers(old.Spec)
    cs = old.Status.ContainerStatus
    if cs is not None:
        t.Status.Containers = [ContainerStatus(Name=MAIN_CONTAINER, ContainerID=cs.ContainerID, PID=cs.PID,
                                               ExitCode=cs.ExitCode)]


def _upgrade_service(s: Service, data: bytes) -> None:
    """A Service whose templates were stored with Docker's singular ``ContainerSpec``."""
    if b'"ContainerSpec"' not in data:
        return
    old = _old_service.decode(data)
    s.Spec.TaskTemplate.Containers = _containers(old.Spec.TaskTemplate)
    if s.PreviousSpec is not None and old.PreviousSpec is not None:
        s.PreviousSpec.TaskTemplate.Containers = _containers(old.PreviousSpec.TaskTemplate)


def clone(obj: Any) -> Any:
    """A deep copy through the codec (cheap with msgspec, and never shares nested lists)."""
    return decode(type(obj), encode(obj))
