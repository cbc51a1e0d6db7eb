"""Core object types: Node, Service, Task, Cluster, Network, Secret, Config, with spec (desired) and
status (observed).

The shapes follow SwarmKit's object model, and the field names are the Docker Engine API's (PascalCase,
``ID``, ``NanoCPUs``), so the Docker front door encodes and decodes them without a second model. Every
stored object carries ``ID``, ``Version`` (the store revision of its last write), ``CreatedAt`` and
``UpdatedAt``. Durations are nanoseconds, as on the wire. Fields the API does not know are shoal's
own bookkeeping and are documented where they are declared.

Kubernetes kinds will translate to and from these (a Pod is a Task with several containers).
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

import msgspec
from msgspec import field

from shoal.api.states import TaskState


class Base(msgspec.Struct, kw_only=True, gc=False):
    """Common base: keyword-only construction; every field is written, as Go writes zero values.

    Objects are trees (never a reference cycle), so the cyclic garbage collector need not track them
    (``gc=False``): with a million tasks in memory, its full passes over them took a third of the
    manager's time."""


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
    base = _dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.UTC).timestamp()
    return base + (float("0." + frac) if frac else 0.0)


class Version(Base):
    Index: int = 0


VersionRef = Version  # for fields declared after a field named ``Version`` (which shadows the type)


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


class Placement(Base):
    Constraints: list[str] | None = None
    Preferences: list[dict[str, Any]] | None = None
    MaxReplicas: int = 0
    Platforms: list[Platform] | None = None


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
    PullOptions: PullOptions | None = None  # shoal's bookkeeping as SwarmKit's; the front door hides it


class NetworkAttachmentConfig(Base):
    Target: str = ""
    Aliases: list[str] | None = None
    DriverOpts: dict[str, str] | None = None


class TaskSpec(Base):
    ContainerSpec: ContainerSpec | None = None
    Resources: ResourceRequirements | None = None
    RestartPolicy: RestartPolicy | None = None
    Placement: Placement | None = None
    Networks: list[NetworkAttachmentConfig] | None = None
    LogDriver: dict[str, Any] | None = None
    ForceUpdate: int = 0
    Runtime: str = ""


class ReplicatedService(Base):
    Replicas: int | None = None


class ServiceMode(Base):
    Replicated: ReplicatedService | None = None
    Global: dict[str, Any] | None = None
    ReplicatedJob: dict[str, Any] | None = None
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


class Service(Base):
    ID: str
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
    Spec: ServiceSpec = field(default_factory=ServiceSpec)
    PreviousSpec: ServiceSpec | None = None
    Endpoint: Endpoint | None = None
    UpdateStatus: UpdateStatus | None = None
    # Computed by the front door for `GET /services?status=true`; never stored.
    ServiceStatus: ServiceStatus | None = None
    # shoal: bumped on every spec change; tasks made from this spec carry it (the `_up-to-date` filter).
    SpecVersion: VersionRef | None = None


# ---------------------------------------------------------------- tasks


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
    NetworksAttachments: list[NetworkAttachment] | None = None
    GenericResources: list[GenericResource] | None = None
    Endpoint: Endpoint | None = None
    # shoal: the service's name and labels when the task was made, for logs and templates.
    ServiceAnnotations: dict[str, Any] | None = None


# ---------------------------------------------------------------- nodes


class NodeSpec(Base):
    Name: str = ""
    Labels: dict[str, str] | None = None
    Role: str = "worker"  # worker | manager
    Availability: str = "active"  # active | pause | drain


class EngineDescription(Base):
    EngineVersion: str = ""
    Labels: dict[str, str] | None = None
    Plugins: list[dict[str, str]] | None = None


class TLSInfo(Base):
    TrustRoot: str = ""
    CertIssuerSubject: str = ""
    CertIssuerPublicKey: str = ""


class NodeDescription(Base):
    Hostname: str = ""
    Platform: Platform = field(default_factory=Platform)
    Resources: Resources = field(default_factory=Resources)
    Engine: EngineDescription = field(default_factory=EngineDescription)
    TLSInfo: TLSInfo | None = None


class NodeStatus(Base):
    State: str = "unknown"  # unknown | down | ready | disconnected
    Message: str = ""
    Addr: str = ""


class ManagerStatus(Base):
    Leader: bool = False
    Reachability: str = "unknown"  # unknown | unreachable | reachable
    Addr: str = ""


class Node(Base):
    ID: str
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
    Spec: NodeSpec = field(default_factory=NodeSpec)
    Description: NodeDescription = field(default_factory=NodeDescription)
    Status: NodeStatus = field(default_factory=NodeStatus)
    ManagerStatus: ManagerStatus | None = None
    # SwarmKit's: the node's own address on the ingress network (the routing mesh's source address).
    Attachments: list[NetworkAttachment] | None = None


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


class Network(Base):
    ID: str
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
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


class Cluster(Base):
    ID: str
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
    Spec: ClusterSpec = field(default_factory=ClusterSpec)
    TLSInfo: TLSInfo = field(default_factory=TLSInfo)
    RootRotationInProgress: bool = False
    DefaultAddrPool: list[str] = field(default_factory=lambda: ["10.0.0.0/8"])
    SubnetSize: int = 24
    DataPathPort: int = 4789
    JoinTokens: JoinTokens = field(default_factory=JoinTokens)
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

    def __repr__(self) -> str:  # a log line or a traceback never shows the secret's bytes
        data = None if self.Data is None else f"<{len(self.Data)} bytes>"
        return f"SecretSpec(Name={self.Name!r}, Labels={self.Labels!r}, Data={data})"


class Secret(Base):
    ID: str
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
    Spec: SecretSpec = field(default_factory=SecretSpec)


class ConfigSpec(Base, omit_defaults=True):
    Name: str = ""
    Labels: dict[str, str] | None = None
    Data: bytes | None = None  # shown by the API, unlike a secret's
    Templating: DriverRef | None = None


class Config(Base):
    ID: str
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
    Spec: ConfigSpec = field(default_factory=ConfigSpec)


StoredObject = Node | Service | Task | Cluster | Network | Secret | Config

KIND_OF: dict[type, str] = {Node: "nodes", Service: "services", Task: "tasks", Cluster: "clusters",
                            Network: "networks", Secret: "secrets", Config: "configs"}
TYPE_OF: dict[str, type] = {v: k for k, v in KIND_OF.items()}

_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {t: msgspec.json.Decoder(t) for t in KIND_OF}


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def decode(typ: type, data: bytes) -> Any:
    dec = _decoders.get(typ)
    if dec is None:
        return msgspec.json.decode(data, type=typ)
    return dec.decode(data)


def clone(obj: Any) -> Any:
    """A deep copy through the codec (cheap with msgspec, and never shares nested lists)."""
    return decode(type(obj), encode(obj))
