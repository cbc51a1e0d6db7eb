"""The parts of a task that only a Kubernetes Pod has: volumes, volume mounts, environment from other
objects, ports, probes, and the Pod-wide settings (service account, pull secrets, node selector, DNS
policy). They are core types, in core words (PascalCase, durations in seconds where Kubernetes has
seconds); the Kubernetes front door translates a Pod's JSON to and from them (``frontdoor/kube``), and
the agent acts on them. A Swarm task leaves them all empty.

``Volume`` is one of: ``EmptyDir`` (a directory of the Pod's, on disk or ``Memory``: a tmpfs), ``HostPath``
(a path of the node), ``Secret`` / ``ConfigMap`` (the keys of a Secret or ConfigMap of the Pod's
namespace as files), ``Projected`` (several of those, and the downward API, in one directory), and
``DownwardAPI`` (the Pod's own fields as files). A container mounts a volume by name
(``VolumeMount``).
"""

from __future__ import annotations

from shoal.api.affinity import Affinity, TopologySpreadConstraint
from shoal.api.meta import Base


class KeyToPath(Base, omit_defaults=True):
    """One key of a Secret or ConfigMap as a file: its path under the mount, its mode (None: the
    volume's default)."""

    Key: str = ""
    Path: str = ""
    Mode: int | None = None


class ObjectFieldRef(Base, omit_defaults=True):
    """A field of the Pod (``metadata.name``, ``metadata.namespace``, ``metadata.uid``,
    ``metadata.labels['k']``, ``spec.nodeName``, ``spec.serviceAccountName``, ``status.podIP``,
    ``status.hostIP``)."""

    FieldPath: str = ""
    APIVersion: str = ""


class ResourceFieldRef(Base, omit_defaults=True):
    """A container's request or limit (``limits.memory``, ``requests.cpu``), in units of ``Divisor``."""

    Container: str = ""
    Resource: str = ""
    Divisor: str = ""


class KeyRef(Base, omit_defaults=True):
    """One key of a Secret or ConfigMap (of the Pod's namespace)."""

    Name: str = ""
    Key: str = ""
    Optional: bool | None = None


class EnvVarRef(Base, omit_defaults=True):
    """An environment variable whose value comes from elsewhere (Kubernetes' ``valueFrom``)."""

    Name: str = ""
    FieldRef: ObjectFieldRef | None = None
    ResourceFieldRef: ResourceFieldRef | None = None
    SecretKeyRef: KeyRef | None = None
    ConfigMapKeyRef: KeyRef | None = None


class EnvFromSource(Base, omit_defaults=True):
    """Every key of a Secret or ConfigMap as a variable (Kubernetes' ``envFrom``), each name prefixed."""

    Prefix: str = ""
    SecretName: str = ""
    ConfigMapName: str = ""
    Optional: bool | None = None


class VolumeMount(Base, omit_defaults=True):
    Name: str = ""
    MountPath: str = ""
    ReadOnly: bool = False
    SubPath: str = ""


class ContainerPort(Base, omit_defaults=True):
    Name: str = ""
    ContainerPort: int = 0
    Protocol: str = "TCP"
    HostPort: int = 0
    HostIP: str = ""


class HTTPHeader(Base):
    Name: str = ""
    Value: str = ""


class HTTPGetAction(Base, omit_defaults=True):
    Path: str = ""
    Port: int | str = 0
    Host: str = ""
    Scheme: str = "HTTP"
    HTTPHeaders: list[HTTPHeader] | None = None


class Probe(Base, omit_defaults=True):
    """A Kubernetes probe: one handler (a command, an HTTP GET, a TCP connect, a gRPC health check) and
    its timing, with Kubernetes' defaults (seconds)."""

    Exec: list[str] | None = None
    HTTPGet: HTTPGetAction | None = None
    TCPSocket: int | str | None = None  # the port
    GRPC: int | None = None  # the port
    GRPCService: str = ""
    InitialDelaySeconds: int = 0
    TimeoutSeconds: int = 1
    PeriodSeconds: int = 10
    SuccessThreshold: int = 1
    FailureThreshold: int = 3
    TerminationGracePeriodSeconds: int | None = None


class Probes(Base, omit_defaults=True):
    Liveness: Probe | None = None
    Readiness: Probe | None = None
    Startup: Probe | None = None


class PodContainer(Base, omit_defaults=True):
    """What a Pod's container has beyond a Swarm task's (``ContainerSpec.Pod``)."""

    EnvRefs: list[EnvVarRef] | None = None  # after ``ContainerSpec.Env``, in order
    EnvFrom: list[EnvFromSource] | None = None  # before ``ContainerSpec.Env``
    VolumeMounts: list[VolumeMount] | None = None
    Ports: list[ContainerPort] | None = None
    ImagePullPolicy: str = ""  # Always | IfNotPresent | Never
    Probes: Probes | None = None
    Privileged: bool = False
    TerminationMessagePath: str = ""
    StdinOnce: bool = False


class EmptyDirVolume(Base, omit_defaults=True):
    Medium: str = ""  # "" (the node's disk) | Memory (a tmpfs)
    SizeLimit: int = 0  # bytes; 0: none


class HostPathVolume(Base, omit_defaults=True):
    Path: str = ""
    Type: str = ""  # "" | DirectoryOrCreate | Directory | FileOrCreate | File | Socket | CharDevice | BlockDevice


class SecretVolume(Base, omit_defaults=True):
    SecretName: str = ""
    Items: list[KeyToPath] | None = None
    DefaultMode: int = 0o644
    Optional: bool | None = None


class ConfigMapVolume(Base, omit_defaults=True):
    Name: str = ""
    Items: list[KeyToPath] | None = None
    DefaultMode: int = 0o644
    Optional: bool | None = None


class DownwardAPIFile(Base, omit_defaults=True):
    Path: str = ""
    FieldRef: ObjectFieldRef | None = None
    ResourceFieldRef: ResourceFieldRef | None = None
    Mode: int | None = None


class DownwardAPIVolume(Base, omit_defaults=True):
    Items: list[DownwardAPIFile] | None = None
    DefaultMode: int = 0o644


class ServiceAccountTokenProjection(Base, omit_defaults=True):
    Path: str = "token"
    Audience: str = ""
    ExpirationSeconds: int = 3607


class ProjectedSource(Base, omit_defaults=True):
    Secret: SecretVolume | None = None
    ConfigMap: ConfigMapVolume | None = None
    DownwardAPI: DownwardAPIVolume | None = None
    ServiceAccountToken: ServiceAccountTokenProjection | None = None


class ProjectedVolume(Base, omit_defaults=True):
    Sources: list[ProjectedSource] | None = None
    DefaultMode: int = 0o644


class Volume(Base, omit_defaults=True):
    Name: str = ""
    EmptyDir: EmptyDirVolume | None = None
    HostPath: HostPathVolume | None = None
    Secret: SecretVolume | None = None
    ConfigMap: ConfigMapVolume | None = None
    Projected: ProjectedVolume | None = None
    DownwardAPI: DownwardAPIVolume | None = None


class PodSpecExtra(Base, omit_defaults=True):
    """What a Pod's task has beyond a Swarm task's (``TaskSpec.Pod``)."""

    Volumes: list[Volume] | None = None
    ServiceAccountName: str = ""
    AutomountServiceAccountToken: bool | None = None
    ImagePullSecrets: list[str] | None = None  # names of Secrets of the Pod's namespace
    NodeSelector: dict[str, str] | None = None
    Affinity: Affinity | None = None  # node affinity, pod affinity and anti-affinity (``api/affinity.py``)
    TopologySpreadConstraints: list[TopologySpreadConstraint] | None = None
    NodeName: str = ""  # asked for by the user (the scheduler is bypassed); the node's name
    DNSPolicy: str = ""  # ClusterFirst | Default | None | ClusterFirstWithHostNet
    HostNetwork: bool = False
    Subdomain: str = ""
    TerminationGracePeriodSeconds: int = 30
    ActiveDeadlineSeconds: int | None = None
    SchedulerName: str = ""
    Priority: int = 0
    RestartPolicy: str = "Always"  # Always | OnFailure | Never (also in TaskSpec.RestartPolicy, in Swarm's words)
    # The Pod-level security context: run the containers as this user and group unless they say otherwise.
    RunAsUser: int | None = None
    RunAsGroup: int | None = None
    FSGroup: int | None = None
    # What the front door does not act on but keeps so the user reads back what they wrote (affinity,
    # tolerations' extras, readiness gates, dnsConfig ...): the Kubernetes JSON of those fields.
    Kept: dict[str, object] | None = None
    # ``spec.hostname`` as the Pod gave it ("" when it gave none: ``TaskSpec.Hostname`` is then its name):
    # a Pod with one and a ``subdomain`` naming a Service of its namespace is that Service's endpoint
    # by this name (``<hostname>.<subdomain>.<ns>.svc.<domain>`` in cluster DNS).
    Hostname: str = ""
