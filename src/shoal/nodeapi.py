"""The node as a front door sees it: the small interface every door is written against.

A front door (Docker's today, Kubernetes' next) translates its wire format to these calls and their
results and errors back to its words; it imports ``shoal.api`` and this module, never the process
wiring (``daemon.py``), the manager, the agent or a runtime. ``Daemon`` implements ``NodeAPI``
structurally; a test can hand a door any object that does.

    NodeAPI                       one node (what ``shoal daemon`` runs)
    ├── control() -> Control      the swarm's control API (a manager only; else the error to show)
    │   ├── networks -> Networks
    │   └── secrets, configs -> Payloads
    ├── local_images -> Images    this node's image store, its registries
    ├── local_volumes -> Volumes  this node's named volumes
    ├── local_containers -> Containers  this node's containers (its own, and the swarm's tasks here)
    ├── local_networks -> LocalNetworks  this node's bridge, host, none and user-defined bridge networks
    ├── logs() -> Logs            task logs, wherever the tasks run
    ├── events -> EventLog        what `docker events` streams
    ├── kube() -> Kube            the Kubernetes kinds (Pods are tasks), exec and port-forward into Pods
    ├── console() -> Console      what the web console shows (both worlds, counted, paged), its actions
    ├── metrics_registry()        the Prometheus metrics this node exposes (every node; a manager's add the cluster's)
    └── the swarm's lifecycle (init, join, leave, unlock, update), ``summary`` and ``membership``

The rules stay behind the interface: which node reads a task's log, which images are in use, which
cluster fields are secret, when an unlock key may rotate. Errors are ``api.errors`` with their code.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import IO, Any, Protocol

from prometheus_client import CollectorRegistry

from shoal.api.console import ConsoleChange, ConsoleSummary, NodePage, PayloadRow, TaskDetail, TaskPage, WorkloadPage
from shoal.api.containers import Container, Counts, CreateRequest, ExecInfo, Stats
from shoal.api.control import NetworkCreateRequest, Plan, PodPlan
from shoal.api.errors import ShoalError
from shoal.api.events import EventLog
from shoal.api.kube import ExecSession, WatchEvent
from shoal.api.localnet import LocalNetwork
from shoal.api.nodeinfo import (
    ImageInfo,
    ImageRemoval,
    LocalTask,
    LogEntry,
    LogOptions,
    LogSelector,
    Members,
    Membership,
    NodeSummary,
    RegistryCredentials,
    VolumeInfo,
)
from shoal.api.types import (
    Cluster,
    ClusterSpec,
    Config,
    ConfigSpec,
    Network,
    Node,
    NodeSpec,
    Secret,
    SecretSpec,
    Service,
    ServiceSpec,
    ServiceStatus,
    Task,
)

Filters = dict[str, list[str]]  # Docker's ``filters``: key -> accepted values
Progress = Callable[[dict[str, Any]], Awaitable[None]]  # a pull's progress messages


class Networks(Protocol):
    def networks(self, filters: Filters | None = None) -> list[Network]: ...

    def network(self, ref: str) -> Network: ...

    async def create(self, req: NetworkCreateRequest) -> Network: ...

    async def remove(self, ref: str) -> None: ...


class Payloads(Protocol):
    """Secrets or configs (the same operations; their data is never returned)."""

    def objects(self, filters: Filters | None = None) -> list[Secret | Config]: ...

    def inspect(self, ref: str) -> Secret | Config: ...

    async def create(self, spec: SecretSpec | ConfigSpec) -> Secret | Config: ...

    async def update(self, ref: str, version: int, spec: SecretSpec | ConfigSpec) -> None: ...

    async def remove(self, ref: str) -> None: ...


class Control(Protocol):
    """The swarm's control API. Objects are found by full ID, then name, then unique ID prefix."""

    @property
    def networks(self) -> Networks: ...

    @property
    def secrets(self) -> Payloads: ...

    @property
    def configs(self) -> Payloads: ...

    def cluster_view(self) -> Cluster:
        """The cluster object without its keys (root CA key, unlock key, network keys)."""
        ...

    def unlock_key(self) -> str: ...

    def members(self) -> Members: ...

    def images_in_use(self) -> set[str]:
        """The image references that the swarm's services run."""
        ...

    def nodes(self, filters: Filters | None = None) -> list[Node]: ...

    def node(self, ref: str) -> Node: ...

    async def update_node(self, ref: str, version: int, spec: NodeSpec) -> None: ...

    async def remove_node(self, ref: str, force: bool = False) -> None: ...

    def services(self, filters: Filters | None = None) -> list[Service]: ...

    def service(self, ref: str) -> Service: ...

    def service_status(self, s: Service, nodes: dict[str, Node] | None = None) -> ServiceStatus: ...

    def with_defaults(self, s: Service) -> Service:
        """The service with Swarm's defaults written into its spec."""
        ...

    async def create_service(self, spec: ServiceSpec, registry_auth: str = "") -> Service: ...

    def dry_run(self, spec: ServiceSpec) -> Plan: ...

    async def update_service(self, ref: str, version: int, spec: ServiceSpec, rollback: bool = False,
                             registry_auth: str = "", auth_from: str = "") -> Service: ...

    async def remove_service(self, ref: str) -> None: ...

    def tasks(self, filters: Filters | None = None) -> list[Task]: ...

    def task(self, ref: str) -> Task: ...


class Images(Protocol):
    """This node's images, and the registries it pulls from."""

    def ls(self) -> list[ImageInfo]: ...

    def resolve(self, ref: str) -> ImageInfo | None:
        """By name[:tag], digest, full ID or unambiguous ID prefix."""
        ...

    def must(self, ref: str) -> ImageInfo:
        """As ``resolve``; raises NotFound."""
        ...

    def matches(self, pattern: str, tag: str) -> bool:
        """Whether ``tag`` matches a reference filter (``name`` matches each of its tags, ``name:tag``
        one; shell-style wildcards)."""
        ...

    def tag(self, ref: str, target: str) -> None: ...

    def import_tar(self, src: IO[bytes], repo: str = "", tag: str = "", changes: list[str] | None = None,
                   message: str = "") -> str:
        """A root filesystem tarball as a new image (``repo`` may carry the tag); returns its ID."""
        ...

    def load(self, src: IO[bytes], progress: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
        """Images from a ``save`` archive; returns ``Loaded image: …`` lines. ``progress`` (called from
        the thread that loads) is told each layer's ``Loading layer`` messages."""
        ...

    def save(self, refs: list[str], out: IO[bytes]) -> None: ...

    def remove(self, ref: str, force: bool = False) -> list[ImageRemoval]:
        """Untag, or delete when no tag is left; refused for an image the swarm's services use
        (unless forced). Returns the ``Untagged``/``Deleted`` report."""
        ...

    async def pull(self, from_image: str, tag: str, registry_auth: str, progress: Progress) -> None:
        """``registry_auth``: the client's encoded credentials (may be empty)."""
        ...

    def layer_sizes(self) -> dict[str, int]:
        """Every stored layer (diff ID) with its size in bytes."""
        ...

    def prune(self, dangling_only: bool = True, keep: Callable[[ImageInfo], bool] | None = None,
              in_use: set[str] | None = None) -> tuple[list[ImageRemoval], int]:
        """Remove the images without a tag (every image unless ``dangling_only``) but those ``keep``
        keeps and those in use (``in_use``: image IDs that containers here run; the swarm's services'
        images too). Returns the removal report and the bytes freed."""
        ...

    async def distribution(self, name: str, registry_auth: str) -> dict[str, Any]:
        """What the registry holds for a reference: its descriptor and platforms."""
        ...

    async def login(self, credentials: RegistryCredentials) -> None: ...


class Volumes(Protocol):
    """This node's named volumes."""

    def ls(self, filters: Filters | None = None) -> list[VolumeInfo]:
        """Filters: ``name`` (substring), ``driver``, ``label``, ``dangling`` (mounted by no container)."""
        ...

    def create(self, name: str, driver: str = "", labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None) -> VolumeInfo: ...

    def inspect(self, name: str) -> VolumeInfo: ...

    def remove(self, name: str, force: bool = False) -> None:
        """Refused (Conflict) while a container here mounts it, unless forced."""
        ...

    def prune(self, all_named: bool) -> tuple[list[str], int]:
        """Remove the unused volumes (anonymous ones only unless ``all_named``): names, bytes freed."""
        ...

    def usage(self) -> dict[str, tuple[int, int]]:
        """Each volume's size in bytes and how many containers here mount it."""
        ...


class LocalNetworks(Protocol):
    """This node's local networks: ``bridge``, ``host``, ``none`` and user-defined bridge networks.
    Found by full ID, then name, then unique ID prefix. Names are unique across them and the swarm's."""

    def networks(self, filters: Filters | None = None) -> list[LocalNetwork]:
        """Filters: name, id, label, driver, scope, type (custom|builtin), dangling."""
        ...

    def network(self, ref: str) -> LocalNetwork:
        """Raises NotFound (``network <ref> not found``)."""
        ...

    def find(self, ref: str) -> LocalNetwork | None: ...

    def check_name(self, name: str) -> None:
        """Raises Conflict when a swarm network about to be made would take a local one's name."""
        ...

    async def create(self, req: NetworkCreateRequest) -> LocalNetwork:
        """A network of the bridge driver (host and null have their one predefined network)."""
        ...

    async def remove(self, ref: str) -> None:
        """Refused for the predefined ones and while containers are connected."""
        ...

    async def prune(self, filters: Filters | None = None) -> list[str]:
        """Remove the user-defined networks no container uses (filters: until, label, label!): their names."""
        ...

    async def connect(self, ref: str, container: str, aliases: list[str] | None = None, ipv4: str = "") -> None: ...

    async def disconnect(self, ref: str, container: str, force: bool = False) -> None: ...


class Containers(Protocol):
    """This node's containers: its own (``docker run``), and the swarm's task containers here, which
    are listed, inspected, exec'd into and read as Docker shows them. Found by full ID, name, or
    unique ID prefix (NotFound: ``No such container: <ref>``)."""

    def list(self, all_: bool = False) -> builtins.list[Container]:
        """Newest first; only the running ones unless ``all_``."""
        ...

    def inspect(self, ref: str) -> Container: ...

    def counts(self) -> Counts: ...

    def volumes_in_use(self) -> dict[str, builtins.list[str]]: ...

    async def create(self, req: CreateRequest) -> tuple[str, builtins.list[str]]:
        """The new container's ID and warnings; NotFound ``No such image: …`` when the image is not here."""
        ...

    async def start(self, ref: str) -> bool:
        """False when it already runs."""
        ...

    async def stop(self, ref: str, timeout: int | None = None, signal: str = "") -> bool:
        """False when it was not running."""
        ...

    async def kill(self, ref: str, signal: str = "KILL") -> None: ...

    async def restart(self, ref: str, timeout: int | None = None) -> None: ...

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        """A swarm task's container: its task fails (its service replaces it)."""
        ...

    def waiter(self, ref: str, condition: str = "not-running") -> asyncio.Future[int]:
        """The exit code, at ``next-exit``, ``not-running`` or ``removed``."""
        ...

    def log_stream(self, ref: str, *, since: float = 0.0, until: float = 0.0, tail: int = -1, follow: bool = False,
                   stdout: bool = True, stderr: bool = True) -> AsyncIterator[tuple[str, str, bytes]]:
        """(timestamp, stream, line) entries."""
        ...

    def attach_output(self, ref: str) -> AsyncIterator[tuple[str, bytes]]:
        """(stream, line) written from now until the container stops."""
        ...

    async def attach_input(self, ref: str, data: bytes) -> None:
        """Bytes for the container's terminal (dropped when it has none)."""
        ...

    async def attach_close_input(self, ref: str) -> None:
        """The attached client's input ended (closes the container's stdin with ``StdinOnce``)."""
        ...

    def resize(self, ref: str, width: int, height: int) -> None: ...

    def exec_create(self, ref: str, config: dict[str, Any]) -> str: ...

    def exec_inspect(self, eid: str) -> ExecInfo: ...

    async def exec_start(self, eid: str, tty: bool | None = None) -> ExecSession: ...

    def exec_done(self, eid: str, code: int) -> None: ...

    async def exec_resize(self, eid: str, width: int, height: int) -> None: ...

    def is_running(self, ref: str) -> bool: ...

    def pids(self, ref: str) -> builtins.list[int]:
        """The processes of a running container."""
        ...

    def stats(self, ref: str) -> tuple[Container, Stats]: ...

    async def pause(self, ref: str) -> None: ...

    async def unpause(self, ref: str) -> None: ...

    def rename(self, ref: str, new: str) -> None: ...

    async def prune(self, keep: Callable[[Container], bool] | None = None) -> builtins.list[str]:
        """Remove the stopped containers (not those ``keep`` keeps); their IDs."""
        ...

    def path_stat(self, ref: str, path: str) -> dict[str, Any]: ...

    def get_archive(self, ref: str, path: str) -> bytes: ...

    def put_archive(self, ref: str, path: str, data: bytes) -> None: ...


class Logs(Protocol):
    def stream(self, selector: LogSelector, options: LogOptions) -> AsyncGenerator[LogEntry, None]:
        """The selected tasks' lines (those there, sorted by time; then, with ``follow``, those that
        come, of tasks started later too), read wherever the tasks run."""
        ...


class Console(Protocol):
    """What the web console shows (``api/console.py``), kept by the manager from the store's changes,
    and the few actions it offers (the same rules and errors as the APIs: NotFound, Conflict on a stale
    ``version``, InvalidArgument). Filters: ``query`` matches names, IDs, images and labels (a
    substring, case-insensitive); ``state`` a task state; ``node`` a node ID ("-": the pending)."""

    def summary(self) -> ConsoleSummary: ...

    def nodes(self, query: str = "", offset: int = 0, limit: int = 100) -> NodePage:
        """Nodes sorted by hostname."""
        ...

    def tasks(self, node: str = "", owner: str = "", state: str = "", query: str = "", offset: int = 0,
              limit: int = 100) -> TaskPage:
        """Current tasks and Pods (not the kept history), sorted by owner name, then slot or name."""
        ...

    def task(self, task_id: str) -> TaskDetail:
        """Raises NotFound."""
        ...

    def workloads(self, query: str = "", offset: int = 0, limit: int = 100) -> WorkloadPage:
        """Services and Deployments sorted by namespace ("" first) and name."""
        ...

    def payloads(self, query: str = "") -> list[PayloadRow]: ...

    def changes(self) -> AsyncIterator[ConsoleChange]:
        """Notices of what changed, coalesced (a few per second at most), until the caller stops."""
        ...

    async def scale(self, kind: str, workload_id: str, replicas: int) -> None:
        """Set a replicated service's or a Deployment's replicas (``kind``: service | deployment)."""
        ...

    async def rollback(self, kind: str, workload_id: str) -> None:
        """Roll a service back to its previous spec, or a Deployment to its previous revision."""
        ...

    async def set_availability(self, node_id: str, availability: str) -> None:
        """A node's availability: active, pause (cordon) or drain."""
        ...


class NodeAPI(Protocol):
    """One node: its control API (on a manager), stores, logs and place in the swarm."""

    @property
    def local_images(self) -> Images: ...

    @property
    def local_volumes(self) -> Volumes: ...

    @property
    def local_containers(self) -> Containers: ...

    @property
    def local_networks(self) -> LocalNetworks: ...

    def control(self) -> Control:
        """The control API; raises the reason there is none here (not a manager, locked, no leader)."""
        ...

    def logs(self) -> Logs:
        """Task logs (a manager only, as ``control``)."""
        ...

    def kube(self) -> Kube:
        """The Kubernetes kinds (a manager only, as ``control``)."""
        ...

    def kube_serving(self) -> tuple[str, str, str]:
        """The Kubernetes API server's TLS material (a manager only): the cluster's root CA, and a
        certificate and key for this manager's addresses, made now (PEM)."""
        ...

    def kube_client_cert(self, user: str, groups: list[str]) -> tuple[str, str, str]:
        """A client certificate of the Kubernetes API for ``user`` in ``groups`` (a manager only):
        the root CA, the certificate, its key (PEM)."""
        ...

    def kube_server_url(self) -> str:
        """Where clients reach this manager's Kubernetes API (``https://<address>:<port>``)."""
        ...

    @property
    def events(self) -> EventLog:
        """The node's events (its containers, images, networks, volumes; the swarm's on a manager)."""
        ...

    def console(self) -> Console:
        """The web console's view (a manager only, as ``control``)."""
        ...

    def metrics_registry(self) -> CollectorRegistry:
        """The metrics ``/metrics`` exposes: the process's, and on a manager the cluster's."""
        ...

    def ui_token(self, ttl: float = 86400.0) -> str:
        """A login token for the web console served on a non-loopback address (a manager only):
        valid on every manager of the cluster for ``ttl`` seconds."""
        ...

    def ui_authenticate(self, token: str) -> bool:
        """Whether ``token`` is a valid, unexpired console token of this cluster."""
        ...

    def membership(self) -> Membership: ...

    def summary(self) -> NodeSummary: ...

    def containers(self) -> list[LocalTask]:
        """The tasks this node's agent runs."""
        ...

    async def check_writable(self) -> None:
        """Raises Unavailable when the managers have no leader (cluster writes would hang)."""
        ...

    def store_failure(self, e: Exception) -> ShoalError | None:
        """What a failure of the cluster store means to a client (no leader), or None: a bug."""
        ...

    async def swarm_init(self, advertise_addr: str = "", listen_addr: str = "", spec: ClusterSpec | None = None,
                         default_addr_pool: list[str] | None = None, subnet_size: int = 0,
                         data_path_port: int = 0, force_new_cluster: bool = False, autolock: bool = False,
                         data_path_addr: str = "") -> str:
        """Returns this node's ID."""
        ...

    async def swarm_join(self, remote_addrs: list[str], token: str, listen_addr: str = "",
                         advertise_addr: str = "", data_path_addr: str = "") -> None: ...

    async def swarm_leave(self, force: bool) -> None: ...

    async def unlock(self, key: str) -> None: ...

    async def update_swarm(self, version: int, spec: ClusterSpec, rotate_worker_token: bool = False,
                           rotate_manager_token: bool = False, rotate_unlock_key: bool = False) -> None:
        """The cluster's spec, join tokens and autolock (and its unlock key)."""
        ...


# ---------------------------------------------------------------- the Kubernetes kinds


class Kube(Protocol):
    """The Kubernetes kinds as the core holds them (a manager's), for the Kubernetes door.

    ``kind`` is the store's: ``tasks`` (Pods: the tasks with a namespace), ``nodes``, ``secrets`` and
    ``configs`` (Kubernetes Secrets and ConfigMaps: those with a namespace), ``namespaces``,
    ``events``, ``serviceaccounts``. Objects are core objects (``api.types``, ``api.kube``); reads
    come from the manager's cache. The rules are the core's: names unique in a namespace, a
    namespace must exist and be active to create in it, graceful deletion of Pods, the ``default``
    ServiceAccount of each namespace, a deleted namespace takes what it holds with it. Errors are
    ``api.errors``: NotFound, AlreadyExists, Conflict (the version compared is stale), Invalid, Gone.
    """

    @property
    def revision(self) -> int:
        """The store's revision now (a list's ``resourceVersion``)."""
        ...

    def get(self, kind: str, namespace: str, name: str) -> Any:
        """Raises NotFound."""
        ...

    def list(self, kind: str, namespace: str = "") -> builtins.list[Any]:
        """Every object of the kind in ``namespace`` ("" for every namespace, and for nodes and namespaces)."""
        ...

    async def create(self, obj: Any, dry_run: bool = False) -> Any:
        """Store a new object (its ``GenerateName`` gives a name when it has none); returns it as
        stored (ID, times, revision set). A Pod is a ``Task`` with a namespace and a name."""
        ...

    async def update(self, obj: Any, dry_run: bool = False) -> Any:
        """Replace an object, compared against ``obj.Version.Index`` (0: whatever is stored). Of an
        object being deleted: no finalizer may be added (Invalid), and emptying them deletes it."""
        ...

    async def delete(self, kind: str, namespace: str, name: str, *, grace_seconds: int | None = None,
                     propagation: str = "", uid: str = "", version: int = 0,
                     dry_run: bool = False) -> Any | None:
        """Delete (a Pod: gracefully, its containers stopped within ``grace_seconds`` (None: its
        own), the object kept with ``DeletionTimestamp`` set until they have; any object: kept, marked,
        while it has finalizers); returns the object as it now is, or None once gone. ``propagation``:
        what becomes of its dependents, ``Background`` (collected after it), ``Foreground`` (deleted
        before it) or ``Orphan`` (released); "" keeps what its finalizers say (else Background).
        ``uid``/``version``: preconditions (Conflict when unmet)."""
        ...

    async def set_unschedulable(self, name: str, unschedulable: bool, version: int = 0) -> Node:
        """A node's ``spec.unschedulable`` (``kubectl cordon``/``uncordon``), which is Swarm's
        availability: true pauses an active node (a drained one stays drained), false makes it
        active. ``version`` (non-zero): a precondition (Conflict when stale). Returns the node."""
        ...

    def watch(self, kind: str, namespace: str = "", since: int = 0) -> AsyncIterator[WatchEvent]:
        """The changes after revision ``since`` (0: every object now, as ADDED, then the changes);
        raises Gone when ``since`` is older than the history kept."""
        ...

    def authenticate(self, token: str) -> tuple[str, builtins.list[str]] | None:
        """The service account a bearer token is of: its user name and groups (None: not a token of
        an account that exists)."""
        ...

    async def exec(self, pod: Task, container: str, command: builtins.list[str], *, tty: bool = False,
                   stdin: bool = False) -> ExecSession:
        """Start a process in a running container of a Pod (wherever it runs)."""
        ...

    async def dial(self, pod: Task, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to a port of a Pod, inside its network namespace."""
        ...

    def plan_pods(self, objs: builtins.list[Any], new_namespaces: builtins.list[str] | None = None) -> PodPlan:
        """Where the Pods of a manifest's objects (Pods, ReplicaSets, Deployments as core objects, in
        the manifest's order; other kinds are left out) would be placed, one after another, and the
        rule that turns down each other node, in kube-scheduler's words; nothing is written.
        ``new_namespaces``: namespaces the manifest makes itself (any other must exist: NotFound)."""
        ...
