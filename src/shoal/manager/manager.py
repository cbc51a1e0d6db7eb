"""The manager: the store, the control API and the reconcile loops of one manager node.

``Manager.init`` creates the cluster (root CA, join tokens, the cluster object, this node as the
leader); ``start`` runs the allocator, orchestrator, scheduler, reaper, the encrypted overlays' key manager,
the Kubernetes controllers (namespaces, the events of Pods, ReplicaSets, Deployments, taint eviction,
Endpoints, EndpointSlices) and the dispatcher over the store;
``stop`` stops them in reverse order. Only the leader runs the loops; with one manager that is this
one.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import msgspec

from shoal.api import timings
from shoal.api.events import EventLog
from shoal.api.ids import new_id
from shoal.api.kubenet import KubeNetSettings
from shoal.api.types import (
    DEFAULT_NODE_PORT_RANGE,
    Cluster,
    ClusterSpec,
    JoinTokens,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    TLSInfo,
)
from shoal.manager.allocator import Allocator
from shoal.manager.ca import issuer_info, join_token, new_root_ca
from shoal.manager.console import ConsoleView
from shoal.manager.control import ControlAPI, with_cluster_defaults
from shoal.manager.dispatcher import DEFAULT_HEARTBEAT, Dispatcher
from shoal.manager.kube.cronjobs import CronJobController
from shoal.manager.kube.daemonsets import DaemonSetController
from shoal.manager.kube.deployments import DeploymentController
from shoal.manager.kube.endpoints import EndpointsController
from shoal.manager.kube.endpointslices import EndpointSliceController
from shoal.manager.kube.events import EventController
from shoal.manager.kube.gc import GarbageCollector
from shoal.manager.kube.ingresses import IngressController
from shoal.manager.kube.jobs import JobController
from shoal.manager.kube.loadbalancers import LoadBalancerController
from shoal.manager.kube.namespaces import NamespaceController
from shoal.manager.kube.netsettings import cluster_settings
from shoal.manager.kube.nodeipam import NodeIPAM
from shoal.manager.kube.objects import KubeObjects, PodAccess
from shoal.manager.kube.podstreams import RemotePods
from shoal.manager.kube.replicasets import ReplicaSetController
from shoal.manager.kube.services import check_ranges, default_service_range
from shoal.manager.kube.tainteviction import TaintEvictionController
from shoal.manager.loop import Loop
from shoal.manager.netkeys import NetworkKeyManager
from shoal.manager.orchestrator.orchestrator import Orchestrator
from shoal.manager.orchestrator.reaper import TaskReaper
from shoal.manager.scheduler.scheduler import Scheduler
from shoal.manager.swarmevents import SwarmEvents
from shoal.manager.workqueue import Controller
from shoal.store.backend import Backend
from shoal.store.changelog import ChangeLog
from shoal.store.encryption import EncryptedBackend
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore
from shoal.store.sqlite import SQLiteBackend


def open_backend(path: Path | None, dek: bytes | None = None) -> Backend:
    """SQLite at ``path`` (memory when None), its values encrypted with ``dek`` when one is given."""
    backend: Backend
    if path is None:
        backend = MemoryBackend()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = SQLiteBackend(path)
    return EncryptedBackend(backend, dek) if dek is not None else backend


class Manager:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        if timings.ENABLED:  # $SHOAL_TIMINGS: each task's states as committed, for the bench
            store.subscribe(timings.watch_tasks)
        self.control = ControlAPI(store)
        self.allocator = Allocator(store)
        self.orchestrator = Orchestrator(store)
        self.scheduler = Scheduler(store)
        self.reaper = TaskReaper(store)
        self.netkeys = NetworkKeyManager(store)
        # The Kubernetes kinds: every manager serves them (reads from its cache, watches from its
        # change log); the leader runs their controllers with the other loops.
        self.changes = ChangeLog(store)
        self.kube = KubeObjects(store, self.changes)
        self.kube.remote = self._remote_pods  # exec and dial into the Pods of other nodes
        self.namespaces = NamespaceController(store, self.kube)
        self.events = EventController(store, self.kube)
        self.gc = GarbageCollector(store, self.kube)
        self.replicasets = ReplicaSetController(store, self.kube)
        self.deployments = DeploymentController(store, self.kube)
        self.daemonsets = DaemonSetController(store, self.kube)
        self.endpoints = EndpointsController(store, self.kube)
        self.endpointslices = EndpointSliceController(store, self.kube)
        self.scheduler.on_unschedulable = self.events.failed_scheduling
        self.tainteviction = TaintEvictionController(store, self.kube, record=self.events.record)
        self.dispatcher: Dispatcher | None = None
        self.swarm_events: SwarmEvents | None = None  # while publishing to a node's event log
        self.lease_gone: Callable[[str], bool] | None = None  # a manager's etcd lease is gone (a quorum's)
        self.loops: list[Loop | Controller] = [
            self.allocator, self.orchestrator, self.scheduler, self.reaper, self.netkeys, self.namespaces,
            self.events, self.gc, self.replicasets, self.deployments, self.daemonsets, self.tainteviction]
        # batch/v1: Jobs (with the TTL-after-finished rule) and CronJobs.
        self.jobs = JobController(store, self.kube)
        self.cronjobs = CronJobController(store, self.kube)
        self.loops += [self.jobs, self.cronjobs]
        self.loops += [self.endpoints, self.endpointslices]  # Services' Endpoints and EndpointSlices
        self.ingresses = IngressController(store, self.kube)  # the default IngressClass, Ingresses' status
        self.loops += [self.ingresses]
        # LoadBalancer Services' addresses (status.loadBalancer.ingress): from the pool or the nodes'.
        self.loadbalancers = LoadBalancerController(store, self.kube)
        self.loops += [self.loadbalancers]
        # Each node's block of the pod range (spec.podCIDRs), as kube-controller-manager's node IPAM.
        self.nodeipam = NodeIPAM(store, record=self.events.record_node)
        self.loops.append(self.nodeipam)
        # What the web console shows (every manager serves it, from its cache).
        self.console = ConsoleView(store, self.control, self.kube)

    def _remote_pods(self, node_id: str) -> PodAccess | None:
        """Into the Pods of another node, through its agent's session with this (leading) manager."""
        sess = self.dispatcher.sessions.get(node_id) if self.dispatcher is not None else None
        return RemotePods(sess) if sess is not None and sess.remote else None

    @classmethod
    async def open(cls, state_path: Path | None, dek: bytes | None = None) -> Manager:
        store = ObjectStore(open_backend(state_path, dek))
        await store.load()
        return cls(store)

    def initialized(self) -> bool:
        return bool(self.store.list(Cluster))

    async def init(self, node_id: str, addr: str, spec: ClusterSpec | None = None,
                   default_addr_pool: list[str] | None = None, subnet_size: int = 0,
                   data_path_port: int = 0, description: NodeDescription | None = None,
                   unlock_key: str = "", service_cidr: str = "", node_port_range: str = "",
                   kube_net: KubeNetSettings | None = None) -> Cluster:
        pools = default_addr_pool or ["10.0.0.0/8"]
        # The Kubernetes Services' ranges (manager/kube/services.py): one asked for must be apart from the
        # address pools; the default moves aside when the pools cover it.
        if service_cidr or node_port_range:
            service_cidr = service_cidr or default_service_range(pools)
            node_port_range = node_port_range or DEFAULT_NODE_PORT_RANGE
            check_ranges(service_cidr, node_port_range, pools)
        service_cidr = service_cidr or default_service_range(pools)
        node_port_range = node_port_range or DEFAULT_NODE_PORT_RANGE
        # The pod range, the cluster domain and DNS address, the LoadBalancer pool (manager/kube/netsettings.py).
        net = cluster_settings(msgspec.structs.replace(kube_net or KubeNetSettings(ClusterCIDR=""),
                                                       ServiceCIDR=service_cidr), pools)
        cert, key = new_root_ca()
        subject, public_key = issuer_info(cert)
        cluster = Cluster(
            ID=new_id(),
            Spec=with_cluster_defaults(spec or ClusterSpec()),
            TLSInfo=TLSInfo(TrustRoot=cert, CertIssuerSubject=subject, CertIssuerPublicKey=public_key),
            JoinTokens=JoinTokens(Worker=join_token(cert), Manager=join_token(cert)),
            DefaultAddrPool=pools,
            SubnetSize=subnet_size or 24,
            DataPathPort=data_path_port or 4789,
            RootCAKey=key,
            UnlockKey=unlock_key,
            ServiceClusterIPRange=service_cidr,
            ServiceNodePortRange=node_port_range,
            ClusterCIDR=net.ClusterCIDR,
            NodeCIDRMaskSize=net.NodeCIDRMaskSize,
            ClusterDomain=net.ClusterDomain,
            ClusterDNS=net.ClusterDNS,
            ServiceLBPool=net.ServiceLBPool,
        )
        cluster.Spec.EncryptionConfig.AutoLockManagers = bool(unlock_key)
        node = Node(
            ID=node_id,
            Spec=NodeSpec(Role="manager", Availability="active"),
            Description=description or NodeDescription(Hostname=socket.gethostname()),
            Status=NodeStatus(State="ready", Addr=addr.rsplit(":", 1)[0]),
            ManagerStatus=ManagerStatus(Leader=True, Reachability="reachable", Addr=addr),
        )
        await self.store.commit(creates=[cluster, node])
        await self.control.networks.ensure_ingress()  # the routing mesh's network, as Swarm makes it
        return cluster

    def publish_events(self, log: EventLog) -> None:
        """Emit the swarm's events (``docker events``) into ``log`` until closed."""
        if self.swarm_events is None:
            self.swarm_events = SwarmEvents(self.store, log)
            self.swarm_events.start()

    def heartbeat_period(self) -> float:
        for c in self.store.list(Cluster):
            hp = c.Spec.Dispatcher.HeartbeatPeriod
            if hp:
                return hp / 1e9
        return DEFAULT_HEARTBEAT

    async def start(self) -> None:
        self.dispatcher = Dispatcher(self.store, self.heartbeat_period(), lease_gone=self.lease_gone)
        self.dispatcher.start()
        for loop in self.loops:
            loop.start()

    async def stop_loops(self) -> None:
        """Stop writing desired state (first, so stopping the agent's tasks causes no restarts)."""
        for loop in reversed(self.loops):
            await loop.stop()

    async def stop_dispatcher(self) -> None:
        """Stop the dispatcher last: it writes the final status reports of the agents."""
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            self.dispatcher = None

    async def stop(self) -> None:
        await self.stop_loops()
        await self.stop_dispatcher()

    async def close(self) -> None:
        if self.swarm_events is not None:
            self.swarm_events.stop()
            self.swarm_events = None
        self.kube.close()
        self.console.close()
        self.changes.close()
        await self.store.close()
        await self.store.backend.close()
