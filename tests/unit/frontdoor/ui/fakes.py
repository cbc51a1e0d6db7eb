"""A node for the console door's tests: a ``Console`` over lists (filters and pages as the protocol
says, simply), notices pushed by the test, actions recorded; the real token functions (``pki``)
under a fixed secret; a Docker event log and, when asked, a tiny Kubernetes events source.

Also used by the browser tests until (and where) a real cluster is not needed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from shoal import pki
from shoal.api.console import (
    ConsoleChange,
    ConsoleSummary,
    NodeCard,
    NodePage,
    NodeRejection,
    PayloadRow,
    TaskCard,
    TaskDetail,
    TaskPage,
    WorkloadPage,
    WorkloadRow,
)
from shoal.api.errors import FailedPrecondition, InvalidArgument, NotFound
from shoal.api.events import EventLog
from shoal.api.kube import Event as KubeEvent
from shoal.api.kube import WatchEvent
from shoal.api.nodeinfo import Membership

SECRET = b"k" * 32
NOT_A_MANAGER = "This node is not a swarm manager."


def _match(q: str, *fields: str) -> bool:
    return not q or any(q.lower() in f.lower() for f in fields)


@dataclass
class FakeConsole:
    node_cards: list[NodeCard] = field(default_factory=list)
    task_cards: list[TaskCard] = field(default_factory=list)
    rows: list[WorkloadRow] = field(default_factory=list)
    payload_rows: list[PayloadRow] = field(default_factory=list)
    notices: asyncio.Queue[ConsoleChange] = field(default_factory=asyncio.Queue)
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    revision: int = 1

    def summary(self) -> ConsoleSummary:
        by_state: dict[str, int] = {}
        for t in self.task_cards:
            by_state[t.State] = by_state.get(t.State, 0) + 1
        return ConsoleSummary(Revision=self.revision, Nodes=len(self.node_cards), Tasks=len(self.task_cards),
                              TasksByState=by_state, Pending=sum(1 for t in self.task_cards if not t.NodeID),
                              Managers=sum(1 for n in self.node_cards if n.Role == "manager"),
                              Services=sum(1 for w in self.rows if w.Kind == "service"),
                              Deployments=sum(1 for w in self.rows if w.Kind == "deployment"))

    def nodes(self, query: str = "", offset: int = 0, limit: int = 100) -> NodePage:
        found = [n for n in sorted(self.node_cards, key=lambda n: n.Hostname) if _match(query, n.Hostname, n.ID)]
        return NodePage(Total=len(found), Offset=offset, Items=found[offset:offset + limit])

    def tasks(self, node: str = "", owner: str = "", state: str = "", query: str = "", offset: int = 0,
              limit: int = 100) -> TaskPage:
        def keep(t: TaskCard) -> bool:
            if (node == "-" and t.NodeID) or (node and node != "-" and t.NodeID != node):
                return False
            if (owner and owner not in (t.Owner, t.OwnerID)) or (state and t.State != state):
                return False
            return _match(query, t.Name, t.ID, t.Image, t.Owner)
        found = sorted((t for t in self.task_cards if keep(t)), key=lambda t: (t.Owner, t.Slot, t.Name))
        return TaskPage(Total=len(found), Offset=offset, Items=found[offset:offset + limit])

    def task(self, task_id: str) -> TaskDetail:
        for t in self.task_cards:
            if t.ID == task_id:
                if t.NodeID:
                    return TaskDetail(Task=t)
                rej = [NodeRejection(NodeID=n.ID, Hostname=n.Hostname, Reason=t.Err or "no reason")
                       for n in self.node_cards]
                return TaskDetail(Task=t, PendingReason=t.Err, Rejections=rej)
        raise NotFound(f"task {task_id} not found")

    def workloads(self, query: str = "", offset: int = 0, limit: int = 100) -> WorkloadPage:
        found = [w for w in self.rows if _match(query, w.Name, w.ID, w.Image)]
        return WorkloadPage(Total=len(found), Offset=offset, Items=found[offset:offset + limit])

    def payloads(self, query: str = "") -> list[PayloadRow]:
        return [p for p in self.payload_rows if _match(query, p.Name, p.ID)]

    async def changes(self) -> AsyncIterator[ConsoleChange]:
        while True:
            yield await self.notices.get()

    def notify(self, kinds: list[str], nodes: list[str] | None = None) -> None:
        self.revision += 1
        self.notices.put_nowait(ConsoleChange(Revision=self.revision, Kinds=kinds, Nodes=nodes or []))

    async def scale(self, kind: str, workload_id: str, replicas: int) -> None:
        if not any(w.ID == workload_id for w in self.rows):
            raise NotFound(f"service {workload_id} not found")
        self.actions.append(("scale", kind, workload_id, replicas))

    async def rollback(self, kind: str, workload_id: str) -> None:
        self.actions.append(("rollback", kind, workload_id))

    async def set_availability(self, node_id: str, availability: str) -> None:
        if availability not in ("active", "pause", "drain"):
            raise InvalidArgument(f"invalid availability {availability!r}")
        self.actions.append(("availability", node_id, availability))


@dataclass
class FakeKube:
    """Kubernetes' events only: a list, and a queue the watch follows."""

    kept: list[KubeEvent] = field(default_factory=list)
    coming: asyncio.Queue[KubeEvent] = field(default_factory=asyncio.Queue)
    revision: int = 1

    def list(self, kind: str, namespace: str = "") -> list[Any]:
        assert kind == "events"
        return list(self.kept)

    async def watch(self, kind: str, namespace: str = "", since: int = 0) -> AsyncIterator[WatchEvent]:
        while True:
            ev = await self.coming.get()
            yield WatchEvent("ADDED", ev, self.revision)


@dataclass
class FakeNode:
    """The part of ``NodeAPI`` the console's door uses."""

    fake_console: FakeConsole | None = field(default_factory=FakeConsole)
    events: EventLog = field(default_factory=EventLog)
    fake_kube: FakeKube | None = None
    registry: CollectorRegistry | None = None  # None: metrics not implemented yet
    role: Membership = Membership.MANAGER

    def console(self) -> FakeConsole:
        if self.fake_console is None:
            raise FailedPrecondition(NOT_A_MANAGER)
        return self.fake_console

    def kube(self) -> FakeKube:
        if self.fake_kube is None:
            raise FailedPrecondition(NOT_A_MANAGER)
        return self.fake_kube

    def metrics_registry(self) -> CollectorRegistry:
        if self.registry is None:
            raise NotImplementedError
        return self.registry

    def ui_token(self, ttl: float = 86400.0) -> str:
        return pki.make_ui_token(SECRET, ttl, time.time())

    def ui_authenticate(self, token: str) -> bool:
        if self.fake_console is None:
            return False
        return pki.check_ui_token(SECRET, token, time.time())

    def membership(self) -> Membership:
        return self.role

    def kube_serving(self) -> tuple[str, str, str]:
        raise FailedPrecondition(NOT_A_MANAGER)


def registry_with_counter() -> CollectorRegistry:
    reg = CollectorRegistry()
    c = Counter("shoal_test_things", "Things counted by the test", registry=reg)
    c.inc(3)
    return reg


def sample_cluster(nodes: int = 3, tasks_per_node: int = 4, pending: int = 2) -> FakeConsole:
    """A small cluster: nodes with running tasks of one service, and pending tasks with a reason."""
    c = FakeConsole()
    for i in range(nodes):
        nid = f"node{i:04d}" + "x" * 17
        c.node_cards.append(NodeCard(ID=nid, Hostname=f"host-{i:04d}", Role="manager" if i == 0 else "worker",
                                     State="ready", Availability="active", Leader=i == 0, Addr=f"127.0.0.{i + 1}",
                                     NanoCPUs=4_000_000_000, MemoryBytes=8 << 30, ReservedNanoCPUs=1_000_000_000,
                                     ReservedMemoryBytes=1 << 30, Tasks=tasks_per_node,
                                     TasksByState={"running": tasks_per_node}, Labels={"zone": "a"}))
        for j in range(tasks_per_node):
            slot = i * tasks_per_node + j + 1
            c.task_cards.append(TaskCard(ID=f"task{slot:05d}", Kind="task", Name=f"web.{slot}", Owner="web",
                                         OwnerID="svcweb", OwnerKind="service", NodeID=nid, Slot=slot,
                                         Image="busybox", State="running", DesiredState="running"))
    for k in range(pending):
        c.task_cards.append(TaskCard(ID=f"pend{k:05d}", Kind="task", Name=f"big.{k + 1}", Owner="big", Slot=k + 1,
                                     OwnerKind="service", Image="busybox", State="pending", DesiredState="running",
                                     Err="no suitable node (insufficient resources on 3 nodes)"))
    c.rows.append(WorkloadRow(ID="svcweb", Kind="service", Name="web", Mode="replicated", Image="busybox",
                              Replicas=nodes * tasks_per_node, Running=nodes * tasks_per_node, Rollout="updating",
                              Step="3/12 updated", Ports=["8080:80/tcp"], Addresses=["10.0.0.2"]))
    c.payload_rows.append(PayloadRow(ID="sec1", Kind="secret", Name="db-password", CreatedAt="2026-12-05T00:00:00Z"))
    return c
