"""The dispatcher: the manager's side of the manager ↔ agent protocol.

An agent opens a session (its node registers: description, address, state ``ready``), then
- receives its assignments: first every task assigned to its node, then each change (a task
  assigned, its desired state changed, a task removed);
- sends heartbeats (every ``HeartbeatPeriod``, 5 s by default); a node that misses three is marked
  ``down`` and the orchestrators move its tasks. A node that has no session with a new leader is
  marked down one heartbeat period after that leader started (an agent that is alive has found it
  by then), a manager's node whose etcd lease is gone as well after a second;
- reports task status; reports are collapsed per task and committed in batches, and a report that
  would move a task's state backwards, or concerns a task of another node, is dropped;
- receives, with its assignments, the secrets and configs its tasks use (and only those: each is
  sent once per session, and its removal when no task of the node needs it any more);
- receives, with its assignments, a view of its networks: for each network its tasks are on, the
  addresses of the other nodes with tasks on it (overlay peers) and its services' endpoints (name,
  VIP, running tasks' addresses: service discovery), both kept change by change by ``NetView``
  (``netview.py``) and sent where they changed; and, when some of those
  networks are encrypted, the encrypted overlays' keys (only then: a node without such tasks never
  holds them);
- receives, when its agent wires Pods (``kube_network``), the pod network: its block of the pod range
  and every other node's address and block (``push_podnet``, from the same debounced loop).
- receives, when its node wires Pods' networks, the Kubernetes network view (``Assignments.kube``: the
  Services and their endpoints, the LoadBalancer addresses it announces; ``kube/netview.py``), whole,
  when it changed (never a hollow node).

Sessions are in-process objects today; the mutual-TLS transport between machines wraps the same
calls. What crosses to the agent (``Assignments``, log reads) is defined in ``shoal/protocol.py``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from shoal import metrics
from shoal.api.errors import Conflict
from shoal.api.ids import new_id
from shoal.api.kubenet import KubeNetView, PodNetPeer, PodNetwork, settings_of
from shoal.api.states import TaskState
from shoal.api.types import (
    Cluster,
    Config,
    Network,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    Secret,
    Service,
    Task,
    TaskStatus,
    containers_of,
)
from shoal.manager.kube.netview import KubeViews
from shoal.manager.loop import Clock
from shoal.manager.netkeys import node_keys
from shoal.manager.netview import NetView
from shoal.network import seal
from shoal.protocol import (
    Assignments,
    LogLine,
    LogsCancel,
    LogsRequest,
    StreamControl,
    StreamData,
    StreamEnd,
    StreamOpen,
)
from shoal.store.backend import StoreError
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"

DEFAULT_HEARTBEAT = 5.0
MISSED_HEARTBEATS = 3
# A new leader's dispatcher gives an agent without a session with it this long from its own start to
# find it (an agent redials a manager that is up within a second, see agent/remote.py) before it
# marks the node down: one heartbeat period, and no less than this (a short test period).
NEW_LEADER_MIN_GRACE = 5.0
# A manager's node whose etcd lease is gone too (its daemon or its member died) gets only this long.
LEASE_GONE_GRACE = 1.0
# Task status reports are written in transactions of at most this many tasks.
FLUSH_BATCH = 5000
# A heartbeat check this much later than planned means the manager itself stalled (see check_heartbeats).
STALL_GRACE = 1.0


def dependency_ids(t: Task) -> set[str]:
    """The IDs of the secrets and configs a task's containers refer to."""
    out: set[str] = set()
    for cs in containers_of(t.Spec):
        out.update(r.SecretID for r in cs.Secrets or [])
        out.update(r.ConfigID for r in cs.Configs or [])
    return out


def pod_dependency_names(t: Task) -> tuple[set[str], set[str]]:
    """The names of the Secrets and of the ConfigMaps (of the task's namespace) a Pod's task uses: in
    its volumes (``secret``, ``configMap``, ``projected``), its containers' environment (``valueFrom``,
    ``envFrom``) and its image pull secrets. Empty for a Swarm task."""
    secrets: set[str] = set()
    configs: set[str] = set()
    pod = t.Spec.Pod
    if pod is None:
        return secrets, configs
    secrets.update(pod.ImagePullSecrets or [])
    for v in pod.Volumes or []:
        if v.Secret is not None:
            secrets.add(v.Secret.SecretName)
        if v.ConfigMap is not None:
            configs.add(v.ConfigMap.Name)
        for src in (v.Projected.Sources if v.Projected is not None else None) or []:
            if src.Secret is not None:
                secrets.add(src.Secret.SecretName)
            if src.ConfigMap is not None:
                configs.add(src.ConfigMap.Name)
    for cs in containers_of(t.Spec):
        extra = cs.Pod
        if extra is None:
            continue
        for ref in extra.EnvRefs or []:
            if ref.SecretKeyRef is not None:
                secrets.add(ref.SecretKeyRef.Name)
            if ref.ConfigMapKeyRef is not None:
                configs.add(ref.ConfigMapKeyRef.Name)
        for env_from in extra.EnvFrom or []:
            if env_from.SecretName:
                secrets.add(env_from.SecretName)
            if env_from.ConfigMapName:
                configs.add(env_from.ConfigMapName)
    secrets.discard("")
    configs.discard("")
    return secrets, configs


def has_dependencies(t: Task) -> bool:
    if t.Spec.Pod is not None and any(pod_dependency_names(t)):
        return True
    return any(cs.Secrets or cs.Configs for cs in containers_of(t.Spec))


class Session:
    def __init__(self, dispatcher: Dispatcher, node_id: str) -> None:
        self.dispatcher = dispatcher
        self.node_id = node_id
        self.queue: asyncio.Queue[Assignments | None] = asyncio.Queue()
        self.last_heartbeat = dispatcher.clock()
        self.lag_mark = dispatcher.lag  # the manager's loop lag so far, at the last heartbeat
        # Requests to the agent other than assignments (log reads), and where their answers go.
        self.outbox: asyncio.Queue[LogsRequest | LogsCancel | StreamOpen | StreamData | StreamControl] = \
            asyncio.Queue()
        self.log_streams: dict[str, asyncio.Queue[LogLine | None]] = {}
        self.remote = False  # True when the agent is on another machine (the outbox is served)
        self.kube_network = False  # the node wires Pods' networks: it is sent ``Assignments.kube``
        self.deps_sent: set[str] = set()  # the secrets and configs this session holds
        # The open exec and dial streams into the node's Pods (``kube/podstreams.py``): where each
        # one's messages from the node go (None: the session closed).
        self.streams: dict[str, Callable[[StreamData | StreamEnd | None], None]] = {}

    async def logs(self, task_id: str, *, since: float = 0.0, tail: int = -1, follow: bool = False,
                   stdout: bool = True, stderr: bool = True) -> AsyncIterator[LogLine]:
        """A task's log lines, read by the agent on its node (``tail`` and ``since`` applied there)."""
        req = new_id()
        q: asyncio.Queue[LogLine | None] = asyncio.Queue()
        self.log_streams[req] = q
        self.outbox.put_nowait(LogsRequest(id=req, task_id=task_id, since=since, tail=tail, follow=follow,
                                           stdout=stdout, stderr=stderr))
        try:
            while True:
                line = await q.get()
                if line is None:
                    return
                yield line
        finally:
            self.log_streams.pop(req, None)
            self.outbox.put_nowait(LogsCancel(id=req))

    def push(self, msg: Assignments) -> None:
        self.queue.put_nowait(msg)

    async def assignments(self) -> Assignments | None:
        """The next batch (everything queued so far, merged); None when the session is closed."""
        msg = await self.queue.get()
        if msg is None:
            return None
        while not self.queue.empty():
            more = self.queue.get_nowait()
            if more is None:
                self.queue.put_nowait(None)
                break
            msg.tasks.extend(more.tasks)
            msg.removed.extend(more.removed)
            msg.full = msg.full or more.full
            if more.peers is not None:
                msg.peers = more.peers
            if more.endpoints is not None:
                msg.endpoints = more.endpoints
            if more.ingress is not None:
                msg.ingress = more.ingress
            if more.encryption is not None:
                msg.encryption = more.encryption
            if more.kube is not None:
                msg.kube = more.kube
            if more.podnet is not None:
                msg.podnet = more.podnet
            msg.merge_dependencies(more)
        return msg

    async def heartbeat(self) -> float:
        now = self.dispatcher.clock()
        metrics.heartbeat(self.last_heartbeat, now, self.dispatcher.heartbeat_period)
        self.last_heartbeat = now
        self.lag_mark = self.dispatcher.lag
        node = self.dispatcher.store.get(Node, self.node_id)
        if node is not None and node.Status.State == "down" and self.dispatcher.sessions.get(self.node_id) is self:
            # Marked down while its heartbeats were late (a stalled manager, a slow network): it is back.
            await self.dispatcher.mark_ready(self.node_id)
        return self.dispatcher.heartbeat_period

    async def update_task_status(self, updates: list[tuple[str, TaskStatus]]) -> None:
        await self.dispatcher.update_task_status(self.node_id, updates)

    def close(self) -> None:
        self.queue.put_nowait(None)
        for q in self.log_streams.values():
            q.put_nowait(None)
        for feed in list(self.streams.values()):
            feed(None)

    def stream_message(self, msg: StreamData | StreamEnd) -> None:
        """A message of one of the node's streams into its Pods."""
        feed = self.streams.get(msg.id)
        if feed is not None:
            feed(msg)


def _networked(s: Service | None) -> bool:
    return s is not None and bool(s.Spec.TaskTemplate.Networks or (s.Endpoint and s.Endpoint.Ports)
                                  or (s.Spec.EndpointSpec and s.Spec.EndpointSpec.Ports))


def _view_changed(old: Service | None, new: Service | None) -> bool:
    """Whether a service change can change the networks' view (not, say, its update status; never a
    service without networks or ports, so a thousand of those do not make a thousand recomputations)."""
    if not _networked(old) and not _networked(new):
        return False
    if old is None or new is None:
        return True
    return (old.Spec.Name, old.Spec.TaskTemplate.Networks, old.Spec.EndpointSpec, old.Endpoint) != \
        (new.Spec.Name, new.Spec.TaskTemplate.Networks, new.Spec.EndpointSpec, new.Endpoint)


def assigned_to_agent(t: Task) -> bool:
    return t.Status.State >= TaskState.ASSIGNED


class Dispatcher:
    def __init__(self, store: ObjectStore, heartbeat_period: float = DEFAULT_HEARTBEAT,
                 clock: Clock = time.monotonic, lease_gone: Callable[[str], bool] | None = None) -> None:
        self.store = store
        self.heartbeat_period = heartbeat_period
        self.clock = clock
        # Seconds this manager's event loop ran late since the dispatcher started (measured by
        # ``_lag_meter``): time in which no heartbeat could be taken is never held against a node.
        self.lag = 0.0
        # Whether a manager's etcd lease is gone (managers in a quorum; None: no such knowledge).
        self.lease_gone = lease_gone
        self.sessions: dict[str, Session] = {}
        self._pending: dict[str, tuple[str, TaskStatus]] = {}
        self._flush_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.netview = NetView.of(store)  # the networks' peers and endpoints, change by change
        self._unsubscribe: Callable[[], None] | None = store.subscribe(self.on_change)
        self._started = clock()
        self._peers_sent: dict[str, tuple[Any, ...]] = {}
        self._podnet_sent: dict[str, PodNetwork] = {}  # the pod network as each session was last sent it
        self._peers_dirty = asyncio.Event()
        # The Kubernetes network view (``kube/netview.py``) and what each session was last sent of it.
        self.kubeviews = KubeViews(store)
        self._kube_sent: dict[str, tuple[KubeNetView, tuple[str, ...]]] = {}
        self._kube_dirty = asyncio.Event()
        # The Secrets and ConfigMaps of the Kubernetes namespaces by name: ("secrets" | "configs",
        # namespace, name) → ID, so a Pod's task, which names them, gets them on its node.
        self._named: dict[tuple[str, str, str], str] = {}
        for sec in store.list(Secret):
            if sec.Namespace:
                self._named[("secrets", sec.Namespace, sec.Spec.Name)] = sec.ID
        for cfg in store.list(Config):
            if cfg.Namespace:
                self._named[("configs", cfg.Namespace, cfg.Spec.Name)] = cfg.ID

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._flusher(), name="dispatcher-flusher"),
                       loop.create_task(self._heartbeat_checker(), name="dispatcher-heartbeats"),
                       loop.create_task(self._lag_meter(), name="dispatcher-lag"),
                       loop.create_task(self._peers_loop(), name="dispatcher-peers"),
                       loop.create_task(self._kube_loop(), name="dispatcher-kube")]

    async def stop(self) -> None:
        """Close the sessions and write the last reports. Safe to call again after a stop that was
        cancelled half-way (a deposed leader's stop, interrupted by ``swarm init --force-new-cluster``)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for s in list(self.sessions.values()):
            s.close()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        # A task that ended with an error (a write without a quorum) does not stop the stop, nor
        # every later one (awaiting it again would raise the same error again).
        for t, ended in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
            if isinstance(ended, Exception):
                log.warning("dispatcher: %s had ended: %s", t.get_name(), ended)
        await self._flush()

    # ------------------------------------------------------------ sessions

    async def register(self, node_id: str, description: NodeDescription, addr: str,
                       role: str = "worker", kube_network: bool = False) -> Session:
        def ready(n: Node) -> bool:
            n.Description = description
            n.Status = NodeStatus(State="ready", Addr=addr)
            return True

        if self.store.get(Node, node_id) is None:
            await self.store.create(
                Node(ID=node_id, Spec=NodeSpec(Role=role, Availability="active"),
                     Description=description, Status=NodeStatus(State="ready", Addr=addr))
            )
        else:
            await self.store.update_with(Node, node_id, ready)
        old = self.sessions.pop(node_id, None)
        if old is not None:
            old.close()
        session = Session(self, node_id)
        session.kube_network = kube_network
        self.sessions[node_id] = session
        session.push(self._with_dependencies(session, Assignments(
            tasks=[t for t in self.store.tasks_of_node(node_id) if assigned_to_agent(t)], full=True
        )))
        self._peers_sent.pop(node_id, None)  # a new session learns its peers afresh
        self._podnet_sent.pop(node_id, None)
        self._peers_dirty.set()
        self._kube_sent.pop(node_id, None)
        if kube_network:
            self.push_kube()  # at once: its Services' rules do not wait for the next change
        return session

    def on_change(self, ch: Change) -> None:
        if self.kubeviews.apply(ch):
            self._kube_dirty.set()
        if ch.kind in ("tasks", "services", "networks"):
            self.netview.apply(ch)
        if ch.kind == "clusters" and (ch.old is None or ch.new is None
                                      or ch.old.NetworkBootstrapKeys != ch.new.NetworkBootstrapKeys):
            self._peers_dirty.set()
        if ch.kind == "nodes" and ch.old is not None and ch.new is not None \
                and ch.old.Status.Addr != ch.new.Status.Addr:
            self._peers_dirty.set()
        if ch.kind == "networks" or (ch.kind == "services" and _view_changed(ch.old, ch.new)) or (
                ch.kind == "nodes" and ch.new is not None and (
                    ch.old is None or ch.old.Attachments != ch.new.Attachments
                    or ch.old.Status.State != ch.new.Status.State)):
            self._peers_dirty.set()
        if ch.kind == "nodes" and (ch.old is None or ch.new is None or ch.old.PodCIDRs != ch.new.PodCIDRs):
            self._peers_dirty.set()  # the pod network: a block given or freed
        if ch.kind in ("secrets", "configs"):
            self._named_changed(ch)
            return
        if ch.kind != "tasks":
            return
        old, new = ch.old, ch.new
        if (old is not None and old.NetworksAttachments) or (new is not None and new.NetworksAttachments):
            self._peers_dirty.set()
        if new is not None and new.NodeID and assigned_to_agent(new):
            s = self.sessions.get(new.NodeID)
            if s is not None and (
                old is None or old.DesiredState != new.DesiredState or not assigned_to_agent(old)
                or (old.Spec is not new.Spec and old.Spec != new.Spec)  # tasks share their service's spec
            ):
                msg = Assignments(tasks=[new])
                s.push(self._with_dependencies(s, msg) if s.deps_sent or has_dependencies(new) else msg)
        elif new is None and old is not None and old.NodeID:
            s = self.sessions.get(old.NodeID)
            if s is not None:
                msg = Assignments(removed=[old.ID])
                s.push(self._with_dependencies(s, msg) if s.deps_sent else msg)

    def _named_changed(self, ch: Change) -> None:
        """A Secret or ConfigMap of a namespace was created, changed or deleted: keep the name index,
        and send it (again) to the nodes whose Pods use it (a Pod may have waited for it)."""
        obj = ch.new if ch.new is not None else ch.old
        if obj is None or not obj.Namespace:
            return
        key = (ch.kind, obj.Namespace, obj.Spec.Name)
        if ch.old is not None and ch.old.Namespace and self._named.get(
                (ch.kind, ch.old.Namespace, ch.old.Spec.Name)) == ch.old.ID:
            del self._named[(ch.kind, ch.old.Namespace, ch.old.Spec.Name)]
        if ch.new is not None:
            self._named[key] = ch.new.ID
        for s in list(self.sessions.values()):
            users = False
            for t in self.store.tasks_of_node(s.node_id):
                if t.Namespace != obj.Namespace or t.Spec.Pod is None or not assigned_to_agent(t):
                    continue
                secrets, configs = pod_dependency_names(t)
                if obj.Spec.Name in (secrets if ch.kind == "secrets" else configs):
                    users = True
                    break
            if users:
                s.deps_sent.discard(obj.ID)  # a changed one goes again
                s.push(self._with_dependencies(s, Assignments()))

    def _task_dependencies(self, t: Task) -> set[str]:
        """The IDs of what a task uses: its containers' secret and config references, and for a Pod's
        task the Secrets and ConfigMaps of its namespace it names (those that exist)."""
        ids = dependency_ids(t)
        if t.Spec.Pod is not None and t.Namespace:
            secrets, configs = pod_dependency_names(t)
            for kind, names in (("secrets", secrets), ("configs", configs)):
                for name in names:
                    oid = self._named.get((kind, t.Namespace, name))
                    if oid is not None:
                        ids.add(oid)
        return ids

    def _with_dependencies(self, s: Session, msg: Assignments) -> Assignments:
        """Add the secrets and configs the node's live tasks need that the session was not sent yet,
        and the removal of those it holds that none of them needs any more (as SwarmKit's
        dispatcher: a node only ever holds what its tasks use)."""
        needed: set[str] = set()
        for t in self.store.tasks_of_node(s.node_id):
            if assigned_to_agent(t) and t.DesiredState <= TaskState.COMPLETE:  # a job's task: complete
                needed |= self._task_dependencies(t)
        for oid in sorted(needed - s.deps_sent):
            secret = self.store.get(Secret, oid)
            if secret is not None:
                msg.secrets.append(secret)
                continue
            config = self.store.get(Config, oid)
            if config is not None:
                msg.configs.append(config)
            else:
                needed.discard(oid)  # removed meanwhile: the agent fails the task, saying which
        msg.deps_removed.extend(sorted(s.deps_sent - needed))
        s.deps_sent = needed
        return msg

    # ------------------------------------------------------------ overlay peers

    async def _peers_loop(self) -> None:
        while True:
            await self._peers_dirty.wait()
            await asyncio.sleep(0.05)  # one computation for a burst of changes
            self._peers_dirty.clear()
            self.push_peers()
            self.push_podnet()

    def push_peers(self) -> None:
        """Send each session the view of its networks (peers and endpoints), where it changed."""
        endpoints, _ = self.netview.endpoints()
        members = self.netview.members
        addrs: dict[str, str] = {}  # node → its address
        for nodes in members.values():
            for nid in nodes:
                if nid not in addrs:
                    node = self.store.get(Node, nid)
                    addrs[nid] = node.Status.Addr if node is not None else ""
        networks = {n.ID: n for n in self.store.list(Network)}
        mesh = self._mesh()
        encrypted = {i for i, n in networks.items() if seal.encrypted(n)}
        keys = node_keys(next(iter(self.store.list(Cluster)), None))
        for node_id, sess in list(self.sessions.items()):
            nets = [net for net, m in members.items() if node_id in m and addrs.get(node_id)]
            sealed = sorted(net for net in nets if net in encrypted)
            encryption = {"addr": addrs[node_id], "networks": sealed, "keys": keys} if sealed else {}
            view = {net: sorted({addrs[nid] for nid in members[net] if nid != node_id and addrs.get(nid)})
                    for net in nets}
            seen = {net: endpoints[net] for net in nets if net in endpoints}
            ingress: dict[str, Any] = {}
            if mesh is not None:
                net, node_addrs, ports, all_host = mesh
                if node_id in node_addrs:
                    # Every node plays the mesh: its VXLAN reaches every other node.
                    view[net["id"]] = sorted({a for nid, (a, _) in node_addrs.items() if nid != node_id})
                    ingress = {"network": net, "addr": node_addrs[node_id][1], "ports": [
                        {**p, "backends": sorted(ip for ip, _ in p["backends"]),
                         "local": sorted(ip for ip, nid in p["backends"] if nid == node_id)} for p in ports],
                        "host": sorted(({k: v for k, v in h.items() if k != "node"} for h in all_host
                                        if h["node"] == node_id), key=lambda h: (h["protocol"], h["published"]))}
            if (view, seen, ingress, encryption) != self._peers_sent.get(node_id):
                self._peers_sent[node_id] = (view, seen, ingress, encryption)
                sess.push(Assignments(peers=view, endpoints=seen, ingress=ingress, encryption=encryption))

    def push_podnet(self) -> None:
        """Send each session of a node that wires Pods (``kube_network``; never a hollow node) the pod
        network: the cluster's pod range, its own block, and every other node's address and block;
        only where it changed."""
        sessions = [(nid, s) for nid, s in self.sessions.items() if s.kube_network]
        if not sessions:
            return
        cluster_cidr = settings_of(next(iter(self.store.list(Cluster)), None)).ClusterCIDR
        placed = sorted(((n.PodCIDRs[0], n.ID, n.Status.Addr) for n in self.store.list(Node) if n.PodCIDRs),
                        key=lambda p: ipaddress.IPv4Network(p[0]))
        for node_id, sess in sessions:
            own = next((block for block, nid, _ in placed if nid == node_id), "")
            peers = tuple(PodNetPeer(Addr=addr, Block=block) for block, nid, addr in placed
                          if nid != node_id and addr)
            podnet = PodNetwork(ClusterCIDR=cluster_cidr, Block=own, Peers=peers)
            if podnet != self._podnet_sent.get(node_id):
                self._podnet_sent[node_id] = podnet
                sess.push(Assignments(podnet=podnet))

    def _mesh(self) -> tuple[dict[str, Any], dict[str, tuple[str, str]], list[dict[str, Any]],
                             list[dict[str, Any]]] | None:
        """The ingress network, each node's (address, ingress address), the ports published through
        the mesh with their running tasks' (ingress address, node), and the ports published on the
        node of a task (``mode=host``) with that task's address."""
        net = next((n for n in self.store.list(Network) if n.Spec.Ingress), None)
        if net is None or not net.IPAMOptions.Configs:
            return None
        conf = net.IPAMOptions.Configs[0]
        info = {"id": net.ID, "subnet": conf.Subnet, "gateway": conf.Gateway,
                "vni": int((net.DriverState.Options or {}).get(VNI_OPTION, 0))}
        node_addrs = {n.ID: (n.Status.Addr, a.Addresses[0]) for n in self.store.list(Node)
                      for a in n.Attachments or [] if a.Network.ID == net.ID and a.Addresses and n.Status.Addr
                      and n.Status.State != "down"}
        ports: list[dict[str, Any]] = []
        host: list[dict[str, Any]] = []
        for svc in self.store.list(Service):
            all_ports = (svc.Endpoint.Ports if svc.Endpoint else None) or []
            published = [p for p in all_ports if p.PublishMode == "ingress"]
            on_node = [p for p in all_ports if p.PublishMode == "host" and p.PublishedPort]
            if not published and not on_node:
                continue
            backends = [(a.Addresses[0].split("/")[0], t.NodeID) for t in self.store.tasks_of_owner(svc.ID)
                        if t.Status.State == TaskState.RUNNING
                        and t.DesiredState in (TaskState.RUNNING, TaskState.COMPLETE)  # a job's: complete
                        for a in t.NetworksAttachments or [] if a.Network.ID == net.ID and a.Addresses]
            ports += [{"protocol": p.Protocol or "tcp", "published": p.PublishedPort, "target": p.TargetPort,
                       "backends": backends} for p in published]
            host += [{"protocol": p.Protocol or "tcp", "published": p.PublishedPort, "target": p.TargetPort,
                      "ip": ip, "node": nid} for p in on_node for ip, nid in backends]
        if not ports and not host:
            return None  # no published port: no routing mesh to play (nor N x N peers to send)
        return info, node_addrs, sorted(ports, key=lambda p: (p["protocol"], p["published"])), host

    # ------------------------------------------------------------ the Kubernetes network view

    async def _kube_loop(self) -> None:
        while True:
            await self._kube_dirty.wait()
            await asyncio.sleep(0.03)  # one view for a burst of changes
            self._kube_dirty.clear()
            self.push_kube()

    def push_kube(self) -> None:
        """Send the Kubernetes network view to each session of a node that wires Pods' networks (never a
        hollow node), where it changed: the Services and their endpoints, or the addresses it announces."""
        wired = [nid for nid, s in self.sessions.items() if s.kube_network]
        if not wired:
            return
        base = self.kubeviews.base()
        announce = self.kubeviews.announced(base, wired)
        for nid in wired:
            sent = (base, announce.get(nid, ()))
            last = self._kube_sent.get(nid)
            if last == sent:  # (the same base object when nothing changed: no deep comparison)
                continue
            self._kube_sent[nid] = sent
            self.sessions[nid].push(Assignments(kube=KubeViews.for_node(base, nid, sent[1])))

    # ------------------------------------------------------------ status reports

    async def update_task_status(self, node_id: str, updates: list[tuple[str, TaskStatus]]) -> None:
        for tid, status in updates:
            self._pending[tid] = (node_id, status)
        self._flush_event.set()

    async def _flusher(self) -> None:
        while True:
            await self._flush_event.wait()
            await asyncio.sleep(0.005)  # gather the reports of one burst into one transaction
            self._flush_event.clear()
            try:
                await self._flush()
            except Exception:
                log.exception("dispatcher: writing task status failed")

    async def _flush(self) -> None:
        """Write the reports gathered so far, in transactions of at most FLUSH_BATCH tasks."""
        while self._pending:
            if len(self._pending) <= FLUSH_BATCH:
                pending, self._pending = self._pending, {}
            else:
                pending = dict(itertools.islice(self._pending.items(), FLUSH_BATCH))
                for tid in pending:
                    del self._pending[tid]
            await self._write_statuses(pending)
            if self._pending:
                await asyncio.sleep(0)

    async def _write_statuses(self, pending: dict[str, tuple[str, TaskStatus]]) -> None:
        changed: list[Task] = []
        for tid, (node_id, status) in pending.items():
            t = self.store.get(Task, tid)
            if t is None or t.NodeID != node_id or status.State < t.Status.State:
                continue
            if t.Status == status:
                continue
            changed.append(msgspec.structs.replace(t, Status=status))  # shallow: the rest is shared
        if not changed:
            return
        try:
            await self.store.commit(updates=changed)
        except Conflict:
            for nt in changed:
                status = nt.Status

                def apply(t: Task, status: TaskStatus = status) -> bool:
                    if status.State < t.Status.State or t.Status == status:
                        return False
                    t.Status = status
                    return True

                await self.store.update_with(Task, nt.ID, apply)

    # ------------------------------------------------------------ heartbeats

    async def _heartbeat_checker(self) -> None:
        interval = min(0.25, self.heartbeat_period / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check_heartbeats()
            except StoreError as e:  # a leader that lost its quorum: the next round tries again
                log.warning("dispatcher: checking heartbeats: %s", e)

    async def _lag_meter(self) -> None:
        """Measure how late the event loop runs (apart from the checker, whose own awaits, store
        writes, must not hide a stall that happens meanwhile)."""
        interval = min(0.1, self.heartbeat_period / 10)
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(interval)
            self.count_stall(loop.time() - start - interval)

    def count_stall(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if seconds > STALL_GRACE:
            log.warning("dispatcher: no heartbeat could be taken for %.1f s; giving the nodes that time", seconds)
        self.lag += seconds

    async def check_heartbeats(self, stalled: float = 0.0) -> None:
        """Mark down the ready nodes whose last heartbeat is more than three periods old.

        The time the manager's loop ran late since a node's last heartbeat (one long transaction, a
        paused process, a loaded machine: ``stalled`` more now) is not counted: every node gets that
        time back, and only heartbeats missed while it listened count. So the manager's own node,
        whose agent shares its loop, is never marked down by the manager's stall.

        A node with no session with this leader is down one heartbeat period (at least
        ``NEW_LEADER_MIN_GRACE``) after the leader started, or ``LEASE_GONE_GRACE`` after when it is a
        manager whose etcd lease is gone too (it died with its session)."""
        self.count_stall(stalled)
        now = self.clock()
        limit = self.heartbeat_period * MISSED_HEARTBEATS
        waited = now - self._started - self.lag  # since this dispatcher (this leader) started, heard
        grace = max(self.heartbeat_period, NEW_LEADER_MIN_GRACE)
        for n in self.store.list(Node):
            if n.Status.State != "ready":
                continue
            s = self.sessions.get(n.ID)
            if s is not None:
                silent = now - s.last_heartbeat - (self.lag - s.lag_mark)
                if silent > limit:
                    log.info("node %s (%s) is down: no heartbeat for %.1f s (%.1f s of it heard)", n.ID,
                             n.Description.Hostname, now - s.last_heartbeat, silent)
                    await self.mark_down(n.ID, "heartbeat failure")
                continue
            # No session with this leader: the agent is looking for it, or the node is gone.
            lease_gone = n.Spec.Role == "manager" and self.lease_gone is not None and self.lease_gone(n.ID)
            if waited >= grace or (lease_gone and waited >= LEASE_GONE_GRACE):
                log.info("node %s (%s) is down: no session with this leader %.1f s after it started%s", n.ID,
                         n.Description.Hostname, waited, " and its manager's lease is gone" if lease_gone else "")
                await self.mark_down(n.ID, "heartbeat failure")

    async def mark_ready(self, node_id: str) -> None:
        def ready(n: Node) -> bool:
            if n.Status.State == "ready":
                return False
            n.Status = NodeStatus(State="ready", Addr=n.Status.Addr)
            return True

        await self.store.update_with(Node, node_id, ready)

    async def mark_down(self, node_id: str, message: str) -> None:
        def down(n: Node) -> bool:
            if n.Status.State == "down":
                return False
            n.Status = NodeStatus(State="down", Message=message, Addr=n.Status.Addr)
            return True

        await self.store.update_with(Node, node_id, down)
