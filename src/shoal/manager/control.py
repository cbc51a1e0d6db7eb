"""The control API: the manager's operations on services, tasks, nodes and the cluster (networks,
secrets and configs in their own modules).

Front doors call these (through ``nodeapi.Control``); they validate input and raise coded errors
with SwarmKit's descriptions (``api/errors.py``; each door words them, the Docker door as dockerd
passes them through: ``rpc error: code = InvalidArgument desc = …``). Objects are found by full ID,
then exact name, then unique ID prefix, as Docker does. The views for the doors: ``cluster_view``
(never the keys), ``members``, ``images_in_use``, and ``update_swarm`` with the autolock rule.
"""

from __future__ import annotations

import posixpath
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from shoal.api import health, template
from shoal.api.defaults import DEFAULT_ROLLBACK, DEFAULT_STOP_GRACE, DEFAULT_UPDATE
from shoal.api.errors import (
    Code,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ShoalError,
)
from shoal.api.ids import new_id
from shoal.api.labels import labels_match
from shoal.api.nodeinfo import Members, RemoteManager
from shoal.api.states import TaskState
from shoal.api.types import (
    SERVICE_KIND,
    Cluster,
    ClusterSpec,
    Endpoint,
    EndpointSpec,
    JobStatus,
    ManagerStatus,
    Mount,
    Node,
    NodeSpec,
    ObjectRef,
    Placement,
    PortConfig,
    PullOptions,
    ReplicatedService,
    ResourceRequirements,
    Service,
    ServiceSpec,
    ServiceStatus,
    Task,
    UpdateStatus,
    Version,
    clone,
    containers_of,
    now_ts,
)
from shoal.manager.ca import join_token
from shoal.manager.networks import CLAIM_ATTEMPTS, Claims, NetworkAPI
from shoal.manager.orchestrator.common import MAX_REPLICAS, is_global, is_job, replicas, restart_policy
from shoal.manager.rpc import RPCError, failed_precondition, find, invalid, unimplemented
from shoal.manager.scheduler import constraint
from shoal.manager.scheduler.dryrun import Plan, plan
from shoal.manager.secrets import CONFIGS, SECRETS, PayloadAPI
from shoal.store.objects import OUT_OF_SEQUENCE, ObjectStore, Taken

_DNS_LABEL = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")  # SwarmKit's isValidDNSName

_LEFT = ["admiring", "brave", "clever", "dreamy", "eager", "focused", "gallant", "happy", "jolly", "keen",
         "laughing", "modest", "nifty", "optimistic", "quirky", "relaxed", "serene", "trusting", "vibrant", "zen"]
_RIGHT = ["albattani", "bell", "curie", "darwin", "euclid", "fermi", "galileo", "hopper", "johnson", "kepler",
          "lovelace", "meitner", "newton", "pascal", "ritchie", "shannon", "tesla", "turing", "wozniak", "yalow"]


def service_exists(name: str) -> ShoalError:
    return RPCError(Code.ALREADY_EXISTS, f"name conflicts with an existing object: service {name} already exists")


_INT64_LIMIT = 1 << 63  # SwarmKit reads a replica count (a uint64) as an int64: from here on it is negative
_PORT_MAX = 65535
_PROTOCOLS = frozenset({"", "tcp", "udp", "sctp"})


def _validate_port(p: PortConfig) -> None:
    """A port outside 0..65535 would be stored and then fail every packet filter sync and every client
    that reads it as a uint16. dockerd 20.10 stores it (and never allocates the service); the docker CLI
    refuses it in go-connections' words (``invalid hostPort: 70000``, ``invalid containerPort: …``)."""
    if not 0 <= p.PublishedPort <= _PORT_MAX:
        raise InvalidArgument(f"invalid hostPort: {p.PublishedPort}")
    if not 0 <= p.TargetPort <= _PORT_MAX:
        raise InvalidArgument(f"invalid containerPort: {p.TargetPort}")
    # dockerd maps a protocol it does not know to tcp; the CLI refuses it in go-connections' words.
    if p.Protocol.lower() not in _PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {p.Protocol}")


def _validate_mounts(mounts: list[Mount]) -> None:
    """SwarmKit's duplicate mount check (controlapi ``validateMounts``), and a bind mount's source that
    must be absolute: dockerd checks it on the node when the task starts (the executor's mount
    validation) and rejects every task with these words; shoal refuses the spec at once."""
    targets: set[str] = set()
    for m in mounts:
        if m.Target in targets:
            raise invalid(f"ContainerSpec: duplicate mount point: {m.Target}")
        targets.add(m.Target)
        if m.Type == "bind" and not m.Source.startswith("/"):
            raise InvalidArgument(f"invalid bind mount source, must be an absolute path: {m.Source}")
        _validate_target(m)


def _validate_target(m: Mount) -> None:
    """dockerd's mount check on the node (volume/mounts ``validateMountConfig``): a target must be an
    absolute path and not the container's root (a tmpfs over ``/`` hides the image: the task would fail
    to start, be retried, and fail again for ever)."""
    if not m.Target:
        return
    if posixpath.normpath(m.Target.replace("\\", "/")) in ("/", "//"):
        raise InvalidArgument(f'invalid mount config for type "{m.Type}": invalid specification: '
                              "destination can't be '/'")
    if not m.Target.startswith("/"):
        raise InvalidArgument(f'invalid mount config for type "{m.Type}": invalid mount path: '
                              f"'{m.Target}' mount path must be absolute")


def random_name() -> str:
    return f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"


class ControlAPI:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        # A manager's status as the managers' quorum sees it now (None: as stored, one manager).
        self.live_manager_status: Callable[[Node], ManagerStatus | None] | None = None
        # Called after a manager's node was demoted (the managers' quorum lets its member go).
        self.on_demote: Callable[[Node], Awaitable[None]] | None = None
        self.networks = NetworkAPI(store)
        self.secrets = PayloadAPI(store, SECRETS)
        self.configs = PayloadAPI(store, CONFIGS)

    def _live(self, n: Node) -> Node:
        if self.live_manager_status is None or n.Spec.Role != "manager":
            return n
        return msgspec.structs.replace(n, ManagerStatus=self.live_manager_status(n))

    # ------------------------------------------------------------ cluster

    def cluster(self) -> Cluster:
        clusters = self.store.list(Cluster)
        if not clusters:
            raise FailedPrecondition("swarm is not initialized")
        return clusters[0]

    async def update_cluster(self, version: int, spec: ClusterSpec, rotate_worker: bool = False,
                             rotate_manager: bool = False, tokens: Callable[[str], str] | None = None) -> None:
        cur = self.cluster()
        if version != cur.Version.Index:
            raise RPCError(Code.UNKNOWN, OUT_OF_SEQUENCE)
        c = clone(cur)
        c.Spec = updated_cluster_spec(spec)
        if tokens is not None:
            if rotate_worker:
                c.JoinTokens.Worker = tokens("worker")
            if rotate_manager:
                c.JoinTokens.Manager = tokens("manager")
        await self.store.update(c)

    def cluster_view(self) -> Cluster:
        """The cluster as every client may see it: never its keys (the root CA's key, the unlock key,
        the encrypted overlays' keys and their clock)."""
        c = self.cluster()
        return msgspec.structs.replace(c, RootCAKey="", UnlockKey="", NetworkBootstrapKeys=None,
                                       EncryptionKeyLamportClock=0)

    def unlock_key(self) -> str:
        """The key that unlocks a restarted manager under autolock ("" when autolock is off)."""
        return self.cluster().UnlockKey

    async def update_swarm(self, version: int, spec: ClusterSpec, rotate_worker_token: bool = False,
                           rotate_manager_token: bool = False, rotate_unlock_key: bool = False) -> bool:
        """``swarm update``: the spec and join tokens; then the autolock rule (an unlock key rotates
        only with autolock on). Returns whether autolock is on; sealing the data key is the node's."""
        trust = self.cluster().TLSInfo.TrustRoot
        await self.update_cluster(version, spec, rotate_worker_token, rotate_manager_token,
                                  lambda _role: join_token(trust))
        autolock = spec.EncryptionConfig.AutoLockManagers
        if rotate_unlock_key and not autolock:
            raise failed_precondition("cannot rotate because autolock is not turned on")
        return autolock

    def members(self) -> Members:
        """How many nodes the swarm has, and its managers with their addresses (as stored)."""
        nodes = self.store.list(Node)
        return Members(Nodes=len(nodes), Managers=[
            RemoteManager(NodeID=n.ID, Addr=n.ManagerStatus.Addr if n.ManagerStatus else "")
            for n in nodes if n.Spec.Role == "manager"])

    def images_in_use(self) -> set[str]:
        """The image references the services run (an image store refuses to remove those images)."""
        out: set[str] = set()
        for s in self.store.list(Service):
            out.update(cs.Image for cs in containers_of(s.Spec.TaskTemplate) if cs.Image)
        return out

    def with_defaults(self, s: Service) -> Service:
        return service_with_defaults(s)

    # ------------------------------------------------------------ nodes

    def node(self, ref: str) -> Node:
        return self._live(find(self.store.list(Node), ref, lambda n: n.ID, lambda n: n.Description.Hostname,
                                "node"))

    def nodes(self, filters: dict[str, list[str]] | None = None) -> list[Node]:
        out = []
        f = filters or {}
        for n in self.store.list(Node):
            if "id" in f and not any(n.ID.startswith(v) for v in f["id"]):
                continue
            if "name" in f and not any(v in (n.Description.Hostname, n.Spec.Name) for v in f["name"]):
                continue
            if "role" in f and n.Spec.Role not in f["role"]:
                continue
            if "membership" in f and "accepted" not in f["membership"]:
                continue
            if "label" in f and not labels_match(n.Description.Engine.Labels or {}, f["label"]):
                continue
            if "node.label" in f and not labels_match(n.Spec.Labels or {}, f["node.label"]):
                continue
            out.append(self._live(n))
        return sorted(out, key=lambda n: n.Description.Hostname)

    async def update_node(self, ref: str, version: int, spec: NodeSpec) -> None:
        node = self.node(ref)
        node = self.store.get(Node, node.ID) or node  # as stored (node() shows the live manager status)
        if version != node.Version.Index:
            raise RPCError(Code.UNKNOWN, OUT_OF_SEQUENCE)
        if spec.Availability not in ("active", "pause", "drain"):
            raise invalid(f"invalid availability: {spec.Availability}")
        if spec.Role not in ("worker", "manager"):
            raise invalid(f"invalid role: {spec.Role}")
        if spec.Role != node.Spec.Role:
            managers = [n for n in self.store.list(Node) if n.Spec.Role == "manager"]
            if spec.Role == "worker" and len(managers) <= 1:
                raise failed_precondition("attempting to demote the last manager of the swarm")
        n = clone(node)
        n.Spec = spec
        await self.store.update(n)
        if node.Spec.Role == "manager" and spec.Role == "worker" and self.on_demote is not None:
            await self.on_demote(n)

    async def remove_node(self, ref: str, force: bool = False) -> None:
        node = self.node(ref)
        if node.Spec.Role == "manager":
            raise failed_precondition(f"node {node.ID} is a cluster manager and is a member of the raft cluster. "
                                      "It must be demoted to worker before removal")
        if node.Status.State != "down" and not force:
            raise failed_precondition(f"node {node.ID} is not down and can't be removed")
        await self.store.delete(node)

    # ------------------------------------------------------------ services

    def service(self, ref: str) -> Service:
        return find(self.store.list(Service), ref, lambda s: s.ID, lambda s: s.Spec.Name, "service")

    def services(self, filters: dict[str, list[str]] | None = None) -> list[Service]:
        f = filters or {}
        out = []
        for s in self.store.list(Service):
            if "id" in f and not any(s.ID.startswith(v) for v in f["id"]):
                continue
            if "name" in f and not any(s.Spec.Name.startswith(v) for v in f["name"]):
                continue
            if "label" in f and not labels_match(s.Spec.Labels or {}, f["label"]):
                continue
            if "mode" in f and mode_name(s) not in f["mode"]:
                continue
            out.append(s)
        return sorted(out, key=lambda s: s.Spec.Name)

    def service_status(self, s: Service, nodes: dict[str, Node] | None = None) -> ServiceStatus:
        """As SwarmKit's ``ListServiceStatuses``: a job counts only the tasks of its current run; a
        replicated job desires ``MaxConcurrent`` tasks, a global job those of its run not complete yet.
        ``nodes``: every node by ID, when the caller asks for many services (read from the store else)."""
        if nodes is None:
            nodes = {n.ID: n for n in self.store.list(Node)}
        if s.JobStatus is not None:
            return self._job_status(s, nodes)
        running = desired = completed = 0
        for t in self.store.tasks_of_owner(s.ID):
            node = nodes.get(t.NodeID)
            up = node is not None and node.Status.State != "down"
            if t.Status.State == TaskState.RUNNING and up:
                running += 1
            if t.Status.State == TaskState.COMPLETE:
                completed += 1
            if is_global(s) and t.DesiredState in (TaskState.READY, TaskState.RUNNING) and up:
                desired += 1
        if not is_global(s):
            desired = replicas(s)
        return ServiceStatus(RunningTasks=running, DesiredTasks=desired, CompletedTasks=completed)

    def _job_status(self, s: Service, nodes: dict[str, Node]) -> ServiceStatus:
        assert s.JobStatus is not None
        run = s.JobStatus.JobIteration.Index
        rj = s.Spec.Mode.ReplicatedJob
        running = completed = 0
        desired = (rj.MaxConcurrent or 0) if rj is not None else 0
        for t in self.store.tasks_of_owner(s.ID):
            if t.JobIteration is None or t.JobIteration.Index != run:
                continue
            node = nodes.get(t.NodeID)
            if t.Status.State == TaskState.RUNNING and node is not None and node.Status.State != "down":
                running += 1
            if t.Status.State == TaskState.COMPLETE:
                completed += 1
            elif rj is None and t.DesiredState == TaskState.COMPLETE:
                desired += 1
        return ServiceStatus(RunningTasks=running, DesiredTasks=desired, CompletedTasks=completed)

    def validate_service(self, spec: ServiceSpec) -> None:
        if not spec.Name:
            raise invalid("meta: name must be provided")
        if not _DNS_LABEL.match(spec.Name):
            raise invalid("name must be valid as a DNS name component")
        if len(spec.Name) > 63:
            raise invalid("name must be 63 characters or fewer")
        tt = spec.TaskTemplate
        if not tt.Containers:
            raise invalid("TaskSpec: missing runtime")
        if not all(cs.Image for cs in containers_of(tt)):
            raise invalid("ContainerSpec: image reference must be provided")
        mode = spec.Mode
        modes = [m for m in (mode.Replicated, mode.Global, mode.ReplicatedJob, mode.GlobalJob) if m is not None]
        if len(modes) > 1:
            raise invalid("service mode can only be one of replicated, global, replicated-job or global-job")
        rj = mode.ReplicatedJob
        if rj is not None:  # SwarmKit's validateMode (int64 of a uint64)
            if rj.MaxConcurrent is not None and not 0 <= rj.MaxConcurrent < _INT64_LIMIT:
                raise invalid("Maximum concurrent jobs must not be negative")
            if rj.TotalCompletions is not None and not 0 <= rj.TotalCompletions < _INT64_LIMIT:
                raise invalid("Total completed jobs must not be negative")
        if (rj is not None or mode.GlobalJob is not None) and spec.UpdateConfig is not None:
            raise invalid("Jobs may not have an update config")  # SwarmKit's validateJob
        if mode.Replicated is not None and mode.Replicated.Replicas is not None \
                and not 0 <= mode.Replicated.Replicas < _INT64_LIMIT:
            raise invalid("Number of replicas must be non-negative")  # SwarmKit's validateMode (int64 of a uint64)
        if tt.Placement is not None:
            try:
                constraint.parse(tt.Placement.Constraints)
            except constraint.ConstraintError as e:
                raise invalid(str(e)) from e
        rp = tt.RestartPolicy
        if rp is not None:
            if rp.Condition not in (None, "", "none", "on-failure", "any"):
                raise invalid(f"invalid RestartCondition: {rp.Condition}")
            if rp.Delay is not None and rp.Delay < 0:
                raise invalid("TaskSpec: restart-delay cannot be negative")
            if rp.Window is not None and rp.Window < 0:
                raise invalid("TaskSpec: restart-window cannot be negative")
        res = tt.Resources
        for r in (res.Limits, res.Reservations) if res is not None else ():
            if r is not None and (r.NanoCPUs < 0 or r.MemoryBytes < 0):
                raise invalid("TaskSpec: resources cannot be negative")
        for cs in containers_of(tt):
            if cs.StopGracePeriod is not None and cs.StopGracePeriod < 0:
                raise invalid("ContainerSpec: stop grace period cannot be negative")
            problem = health.validate(cs.Healthcheck) or template.validate(cs, spec.Name)
            if problem:
                raise invalid(problem)
            _validate_mounts(cs.Mounts or [])
        for cfg in (spec.UpdateConfig, spec.RollbackConfig):
            if cfg is None:
                continue
            if cfg.FailureAction not in ("", "pause", "continue", "rollback"):
                raise invalid(f"invalid FailureAction: {cfg.FailureAction}")
            if cfg.Order not in ("", "stop-first", "start-first"):
                raise invalid(f"invalid Order: {cfg.Order}")
            if cfg.Delay < 0 or cfg.Monitor < 0:
                raise invalid("UpdateConfig: delay and monitor cannot be negative")
        ep = spec.EndpointSpec
        if ep is not None:
            if ep.Mode not in ("", "vip", "dnsrr"):
                raise invalid(f"invalid endpoint mode: {ep.Mode}")
            seen: set[tuple[str, int]] = set()
            for p in ep.Ports or []:
                _validate_port(p)
                if p.PublishedPort and (p.Protocol, p.PublishedPort) in seen:
                    raise invalid("EndpointSpec: duplicate published ports provided")
                seen.add((p.Protocol, p.PublishedPort))
        _check_bounded(spec)

    async def create_service(self, spec: ServiceSpec, registry_auth: str = "") -> Service:
        """``registry_auth``: the ``X-Registry-Auth`` of ``--with-registry-auth``, kept with the task
        template (``ContainerSpec.PullOptions``) for the agents' pulls, as dockerd does."""
        if not spec.Name:
            spec.Name = random_name()
        self.validate_service(spec)
        _set_pull_auth(spec, registry_auth)
        self.networks.resolve(spec)
        self.secrets.resolve(spec)
        self.configs.resolve(spec)
        _fill_mode(spec)
        if self.store.service_by_name(spec.Name) is not None:
            raise service_exists(spec.Name)  # the cache's answer; the name's index key is the store's
        claims = Claims()
        for _ in range(CLAIM_ATTEMPTS):
            svc = Service(ID=new_id(), Spec=spec, SpecVersion=Version(Index=1))
            if is_job(svc):  # as SwarmKit: a job's first run starts with the service
                svc.JobStatus = JobStatus(LastExecution=now_ts())
            svc.Endpoint = _endpoint(spec)
            self.networks.allocate_vips(svc, claims=claims)
            await self.networks.allocate_ports(svc, claims)
            try:
                await self.store.create(svc)
                return svc
            except Taken as e:  # another manager wrote first what our cache has not seen yet
                if e.what[0] == "name":
                    raise service_exists(spec.Name) from e
                await self.networks.lost_claim(e, spec, claims)
        raise Conflict(OUT_OF_SEQUENCE)

    def dry_run(self, spec: ServiceSpec) -> Plan:
        """Where the scheduler would place the tasks of this new service, and why other nodes would get
        none; validated as ``create_service`` validates, and nothing is written."""
        spec = clone(spec)
        spec.Name = spec.Name or "dry-run"
        self.validate_service(spec)
        _fill_mode(spec)
        global_mode = spec.Mode.Global is not None or spec.Mode.GlobalJob is not None
        rj = spec.Mode.ReplicatedJob
        if rj is not None:  # a job's first tasks: as many as may run at once
            count = min(rj.MaxConcurrent or 0, rj.TotalCompletions or 0)
        else:
            count = 1 if global_mode else (spec.Mode.Replicated.Replicas if spec.Mode.Replicated is not None
                                           and spec.Mode.Replicated.Replicas is not None else 1)
        endpoint = _endpoint(spec)
        service_id = new_id()
        owner = ObjectRef(Kind=SERVICE_KIND, ID=service_id, Name=spec.Name)
        new = [Task(ID=new_id(), Owner=owner, Slot=i + 1, Spec=clone(spec.TaskTemplate),
                    SpecVersion=Version(Index=1), Endpoint=endpoint) for i in range(count)]
        return plan(self.store.list(Node), self.store.list(Task), new, global_mode=global_mode)

    async def update_service(self, ref: str, version: int, spec: ServiceSpec, rollback: bool = False,
                             registry_auth: str = "", auth_from: str = "") -> Service:
        """Without new credentials (``registry_auth``) the service keeps those of its current spec, or
        of its previous one (``auth_from="previous-spec"``; a rollback restores the previous spec's)."""
        cur = self.service(ref)
        if version != cur.Version.Index:
            raise RPCError(Code.UNKNOWN, OUT_OF_SEQUENCE)
        s = clone(cur)
        if rollback:
            if cur.PreviousSpec is None:
                raise RPCError("FailedPrecondition", f"service {cur.ID} does not have a previous spec")
            spec = clone(cur.PreviousSpec)
        if not registry_auth:
            if auth_from not in ("", "spec", "previous-spec"):
                raise InvalidArgument("unsupported registryAuthFrom value")
            source = spec if rollback else cur.Spec if auth_from != "previous-spec" else cur.PreviousSpec
            if source is None:
                raise InvalidArgument("service does not have a previous spec")
            containers = source.TaskTemplate.Containers
            kept = containers[0].PullOptions if containers else None
            registry_auth = kept.RegistryAuth if kept else ""
        _set_pull_auth(spec, registry_auth)
        if spec.Name != cur.Spec.Name:
            raise unimplemented("renaming services is not supported")
        self.validate_service(spec)
        self.networks.resolve(spec)
        self.secrets.resolve(spec)
        self.configs.resolve(spec)
        _fill_mode(spec)
        if mode_name(cur) != _spec_mode(spec):
            raise unimplemented("service mode change is not allowed")
        s.PreviousSpec = clone(cur.Spec)
        s.Spec = spec
        s.SpecVersion = Version(Index=(cur.SpecVersion.Index if cur.SpecVersion else 0) + 1)
        # As SwarmKit: every update clears the previous update's status; the updater sets a new one.
        s.UpdateStatus = None
        if s.JobStatus is not None:  # as SwarmKit: every update of a job runs it again
            s.JobStatus = JobStatus(JobIteration=Version(Index=s.JobStatus.JobIteration.Index + 1),
                                    LastExecution=now_ts())
        if rollback:
            s.UpdateStatus = UpdateStatus(State="rollback_started", StartedAt=now_ts(),
                                          Message="manually requested rollback")
        elif spec.TaskTemplate != cur.Spec.TaskTemplate and s.JobStatus is None:
            s.UpdateStatus = UpdateStatus(State="updating", StartedAt=now_ts(), Message="update in progress")
        claims = Claims()
        for _ in range(CLAIM_ATTEMPTS):
            s.Endpoint = _endpoint(spec)
            self.networks.allocate_vips(s, cur, claims)
            _keep_published(s, cur)
            await self.networks.allocate_ports(s, claims)
            try:
                await self.store.update(s)
                return s
            except Taken as e:  # a port or an address another manager took since our cache saw
                await self.networks.lost_claim(e, spec, claims)
        raise Conflict(OUT_OF_SEQUENCE)

    async def remove_service(self, ref: str) -> None:
        s = self.service(ref)
        await self.store.delete(s)

    # ------------------------------------------------------------ tasks

    def _swarm_tasks(self) -> list[Task]:
        """Swarm's tasks: a Kubernetes Pod's task (it has a namespace) is not one of them."""
        return [t for t in self.store.list(Task) if not t.Namespace]

    def task(self, ref: str) -> Task:
        return find(self._swarm_tasks(), ref, lambda t: t.ID, lambda t: "", "task")

    def tasks(self, filters: dict[str, list[str]] | None = None) -> list[Task]:
        f = filters or {}
        tasks: list[Task]
        services = self.store.list(Service)
        by_id = {s.ID: s for s in services}
        if "service" in f:
            ids: set[str] = set()
            for ref in f["service"]:
                try:
                    ids.add(self.service(ref).ID)
                except NotFound:
                    continue
            tasks = [t for sid in ids for t in self.store.tasks_of_owner(sid)]
        else:
            tasks = self._swarm_tasks()
        if "node" in f:
            node_ids = set()
            for ref in f["node"]:
                try:
                    node_ids.add(self.node(ref).ID)
                except NotFound:
                    continue
            tasks = [t for t in tasks if t.NodeID in node_ids]
        if "id" in f:
            tasks = [t for t in tasks if any(t.ID.startswith(v) for v in f["id"])]
        if "desired-state" in f:
            want = set()
            for v in f["desired-state"]:
                if v not in ("running", "shutdown", "accepted"):
                    raise InvalidArgument(
                        f"Invalid desired-state filter value: {v}: use one of running, shutdown or accepted"
                    )
                want.add(v)

            def desired_ok(t: Task) -> bool:
                d = t.DesiredState
                return (("running" in want and d == TaskState.RUNNING)
                        or ("shutdown" in want and d in (TaskState.SHUTDOWN, TaskState.REMOVE))
                        or ("accepted" in want and d == TaskState.ACCEPTED)
                        or ("running" in want and d == TaskState.READY))

            tasks = [t for t in tasks if desired_ok(t)]
        if "name" in f:
            def name_of(t: Task) -> str:
                svc = by_id.get(t.Owner.ID)
                sname = svc.Spec.Name if svc else (t.ServiceAnnotations or {}).get("Name", "")
                return f"{sname}.{t.Slot or t.NodeID}"

            tasks = [t for t in tasks if any(name_of(t).startswith(v) for v in f["name"])]
        if "label" in f:
            # As SwarmKit: the labels of the task's service (its annotations when the task was made),
            # not the task's own (``docker stack ps`` filters on com.docker.stack.namespace).
            def service_labels(t: Task) -> dict[str, str]:
                ann = (t.ServiceAnnotations or {}).get("Labels")
                if ann is not None:
                    return dict(ann)
                svc = by_id.get(t.Owner.ID)
                return dict(svc.Spec.Labels or {}) if svc is not None else {}

            tasks = [t for t in tasks if labels_match(service_labels(t), f["label"])]
        if "_up-to-date" in f:
            def up_to_date(t: Task) -> bool:
                svc = by_id.get(t.Owner.ID)
                if svc is None or svc.SpecVersion is None:
                    return True
                return t.SpecVersion is not None and t.SpecVersion.Index == svc.SpecVersion.Index

            tasks = [t for t in tasks if up_to_date(t)]
        return tasks


def _spec_mode(spec: ServiceSpec) -> str:
    m = spec.Mode
    if m.Global is not None:
        return "global"
    if m.ReplicatedJob is not None:
        return "replicated-job"
    if m.GlobalJob is not None:
        return "global-job"
    return "replicated"


def mode_name(s: Service) -> str:
    """The service's mode as the ``mode`` filter names it: replicated, global, replicated-job, global-job."""
    return _spec_mode(s.Spec)


def _fill_mode(spec: ServiceSpec) -> None:
    """dockerd's defaults (``convert.ServiceSpecToGRPC``): no mode is one replica; a replicated job
    without ``MaxConcurrent`` runs 1 at a time, and without ``TotalCompletions`` needs
    ``MaxConcurrent`` completions."""
    m = spec.Mode
    if m.Replicated is None and m.Global is None and m.ReplicatedJob is None and m.GlobalJob is None:
        m.Replicated = ReplicatedService(Replicas=1)
    if m.Replicated is not None and m.Replicated.Replicas is None:
        m.Replicated.Replicas = 1
    if m.ReplicatedJob is not None:
        if m.ReplicatedJob.MaxConcurrent is None:
            m.ReplicatedJob.MaxConcurrent = 1
        if m.ReplicatedJob.TotalCompletions is None:
            m.ReplicatedJob.TotalCompletions = m.ReplicatedJob.MaxConcurrent


def _keep_published(new: Service, old: Service) -> None:
    """Ports published on an automatically chosen port keep it across updates."""
    before = {(p.Protocol, p.TargetPort): p.PublishedPort for p in (old.Endpoint.Ports if old.Endpoint else None)
              or []}
    for p in (new.Endpoint.Ports if new.Endpoint else None) or []:
        if not p.PublishedPort and before.get((p.Protocol, p.TargetPort)):
            p.PublishedPort = before[(p.Protocol, p.TargetPort)]


def _endpoint(spec: ServiceSpec) -> Endpoint | None:
    ep = spec.EndpointSpec
    if ep is None:
        return Endpoint(Spec=EndpointSpec())
    return Endpoint(Spec=clone(ep), Ports=[clone(p) for p in ep.Ports or []] or None)


def updated_cluster_spec(spec: ClusterSpec) -> ClusterSpec:
    """The spec a ``swarm update`` stores: as sent, as SwarmKit stores it (a zero Raft setting, heartbeat
    period or certificate expiry stays zero, which means Swarm's default where it is read), but for
    the name ("default" when none is sent) and the task history limit (none sent is the default, 5:
    SwarmKit would take it as 0 and keep no history)."""
    s = clone(spec)
    s.Name = s.Name or "default"
    if s.Orchestration.TaskHistoryRetentionLimit is None:
        s.Orchestration.TaskHistoryRetentionLimit = 5
    if s.Raft.KeepOldSnapshots is None:
        s.Raft.KeepOldSnapshots = 0
    return s


def with_cluster_defaults(spec: ClusterSpec) -> ClusterSpec:
    """Fill what ``swarm init`` leaves zero with Swarm's defaults."""
    s = clone(spec)
    s.Name = s.Name or "default"
    if s.Orchestration.TaskHistoryRetentionLimit is None:
        s.Orchestration.TaskHistoryRetentionLimit = 5
    r = s.Raft
    r.SnapshotInterval = r.SnapshotInterval or 10000
    r.LogEntriesForSlowFollowers = r.LogEntriesForSlowFollowers or 500
    r.ElectionTick = r.ElectionTick or 10
    r.HeartbeatTick = r.HeartbeatTick or 1
    if r.KeepOldSnapshots is None:
        r.KeepOldSnapshots = 0
    if not s.Dispatcher.HeartbeatPeriod:
        s.Dispatcher.HeartbeatPeriod = 5_000_000_000
    if not s.CAConfig.NodeCertExpiry:
        s.CAConfig.NodeCertExpiry = 7_776_000_000_000_000  # 90 days
    return s


def _set_pull_auth(spec: ServiceSpec, registry_auth: str) -> None:
    auth = PullOptions(RegistryAuth=registry_auth) if registry_auth else None
    for cs in containers_of(spec.TaskTemplate):
        cs.PullOptions = auth


def service_with_defaults(s: Service) -> Service:
    """``GET /services/{id}?insertDefaults=true``: Swarm's defaults written into the spec."""
    out = clone(s)
    spec = out.Spec
    tt = spec.TaskTemplate
    tt.RestartPolicy = restart_policy(tt.RestartPolicy)
    if not tt.RestartPolicy.Window:
        tt.RestartPolicy.Window = None  # Swarm's default window is none (dockerd shows no Window)
    tt.Resources = tt.Resources or ResourceRequirements()
    tt.Placement = tt.Placement or Placement()
    for cs in tt.Containers:
        if cs.StopGracePeriod is None:
            cs.StopGracePeriod = DEFAULT_STOP_GRACE
        if cs.DNSConfig is None:
            cs.DNSConfig = {}
    spec.UpdateConfig = _merge_update(spec.UpdateConfig, DEFAULT_UPDATE)
    spec.RollbackConfig = _merge_update(spec.RollbackConfig, DEFAULT_ROLLBACK)
    return out


def _merge_update(cfg: Any, default: Any) -> Any:
    if cfg is None:
        return clone(default)
    c = clone(cfg)
    c.Parallelism = c.Parallelism  # 0 means "all at once" and is kept
    c.FailureAction = c.FailureAction or default.FailureAction
    c.Monitor = c.Monitor or default.Monitor
    c.Order = c.Order or default.Order
    return c


__all__ = ["Conflict", "ControlAPI", "RPCError", "service_with_defaults", "with_cluster_defaults"]


# ------------------------------------------------------------ bounded work (issue 18)

# The largest service spec stored. dockerd reaches SwarmKit's control API over gRPC, whose servers
# take messages of at most 4 MiB (grpc-go's default): a larger spec fails there, before the store
# (with code ResourceExhausted; here InvalidArgument, a 400). Every task of the service carries the
# spec, and the service keeps it twice (Spec, PreviousSpec): this bound keeps both far under the
# store's request limit (etcd's --max-request-bytes, 32 MiB in ``store/etcd_server.py``).
MAX_SPEC_BYTES = 4 << 20

def _check_bounded(spec: ServiceSpec) -> None:
    """Refuse a spec over ``MAX_SPEC_BYTES``, and a task count no manager could hold
    (``orchestrator/common.MAX_REPLICAS``).

    SwarmKit has no such limit (a replica count is a uint64 it reads as an int64): it plans every
    task of a service at once, and a count of a billion takes the manager down, again on every
    restart. shoal makes a service's tasks in bounded passes and refuses, in SwarmKit's words for a
    replica count, any count above what it holds in memory: scaling to sensible numbers is unchanged.
    Checked after the other checks, so a count that SwarmKit calls negative keeps its words."""
    size = len(msgspec.json.encode(spec))
    if size > MAX_SPEC_BYTES:
        raise invalid(f"grpc: received message larger than max ({size} vs. {MAX_SPEC_BYTES})")
    mode = spec.Mode
    r = mode.Replicated
    if r is not None and r.Replicas is not None and r.Replicas > MAX_REPLICAS:
        raise invalid(f"Number of replicas must be at most {MAX_REPLICAS}, got {r.Replicas}")
    rj = mode.ReplicatedJob
    if rj is not None and rj.MaxConcurrent is not None and rj.MaxConcurrent > MAX_REPLICAS:
        raise invalid(f"Maximum concurrent jobs must be at most {MAX_REPLICAS}, got {rj.MaxConcurrent}")
