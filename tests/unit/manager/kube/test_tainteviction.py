"""The taint eviction controller over ObjectStore(MemoryBackend), driven by hand with a FakeClock: a
``NoExecute`` taint a Pod does not tolerate deletes it at once, ``tolerationSeconds`` delays it, an
unbounded toleration keeps it, removing the taint cancels, a node that goes down evicts after the
default 300 s, and the event says ``TaintManagerEviction`` in Kubernetes' words."""

from __future__ import annotations

import msgspec

from shoal.api.ids import new_id
from shoal.api.kube import Namespace
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    ContainerSpec,
    Node,
    Placement,
    Taint,
    Task,
    TaskSpec,
    TaskStatus,
    Toleration,
    clone,
)
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.kube.tainteviction import (
    COMPONENT,
    REASON,
    TaintEvictionController,
    eviction_delay,
    no_execute_taints,
)
from shoal.store.changelog import ChangeLog
from shoal.store.objects import ObjectStore

from ...helpers import FakeClock, make_node, memory_store, paused

NOW = 1_760_000_000.0
DEFAULTS = [Toleration(Key="node.kubernetes.io/not-ready", Operator="Exists", Effect="NoExecute",
                       TolerationSeconds=300),
            Toleration(Key="node.kubernetes.io/unreachable", Operator="Exists", Effect="NoExecute",
                       TolerationSeconds=300)]


def pod(name: str, node: Node, tolerations: list[Toleration] | None = None) -> Task:
    return Task(ID=new_id(), Name=name, Namespace="default", NodeID=node.ID,
                Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="busybox")], Pod=PodSpecExtra(),
                              Placement=Placement(Tolerations=[*DEFAULTS, *(tolerations or [])])),
                Status=TaskStatus(State=TaskState.RUNNING))


class Harness:
    def __init__(self, store: ObjectStore, ctl: TaintEvictionController, clock: FakeClock, node: Node,
                 said: list[tuple[str, str, str, str]]) -> None:
        self.store, self.ctl, self.clock, self.node, self.said = store, ctl, clock, node, said

    async def taint(self, *taints: Taint) -> None:
        cur = self.store.get(Node, self.node.ID)
        assert cur is not None
        new = clone(cur)
        new.Spec.Taints = list(taints) or None
        await self.store.update(new)
        await self.ctl.tick()

    async def state(self, state: str) -> None:
        cur = self.store.get(Node, self.node.ID)
        assert cur is not None
        new = clone(cur)
        new.Status.State = state
        await self.store.update(new)
        await self.ctl.tick()

    async def at(self, seconds: float) -> None:
        self.clock.now = NOW + seconds
        await self.ctl.tick()

    def deleting(self, t: Task) -> bool:
        cur = self.store.get(Task, t.ID)
        return cur is None or bool(cur.DeletionTimestamp)


async def setup() -> Harness:
    store = await memory_store()
    await store.create(Namespace(ID=new_id(), Name="default"))
    node = await store.create(make_node("n1"))
    clock = FakeClock(NOW)
    said: list[tuple[str, str, str, str]] = []
    ctl = TaintEvictionController(store, KubeObjects(store, ChangeLog(store)), clock=clock,
                                  record=lambda t, r, m, c: said.append((t.Name, r, m, c)))
    await paused(ctl)
    return Harness(store, ctl, clock, node, said)


NO_EXEC = Taint(Key="maint", Value="now", Effect="NoExecute")


def test_tolerations_decide_the_delay() -> None:
    node = make_node("n1")
    assert no_execute_taints(node) == []
    t = pod("p", node)
    assert eviction_delay([], t) is None
    assert eviction_delay([NO_EXEC], t) == 0.0
    tol = Toleration(Key="maint", Operator="Exists", Effect="NoExecute", TolerationSeconds=60)
    assert eviction_delay([NO_EXEC], pod("p", node, [tol])) == 60.0
    forever = Toleration(Key="maint", Operator="Equal", Value="now")
    assert eviction_delay([NO_EXEC], pod("p", node, [forever])) is None
    down = msgspec.structs.replace(node, Status=msgspec.structs.replace(node.Status, State="down"))
    assert [x.Key for x in no_execute_taints(down)] == ["node.kubernetes.io/unreachable"]
    assert eviction_delay(no_execute_taints(down), t) == 300.0


async def test_an_untolerated_no_execute_taint_evicts_at_once() -> None:
    h = await setup()
    stays = await h.store.create(pod("stays", h.node, [Toleration(Operator="Exists")]))
    goes = await h.store.create(pod("goes", h.node))
    await h.ctl.tick()
    await h.taint(Taint(Key="dedicated", Value="db", Effect="NoSchedule"))
    assert not h.deleting(goes)  # NoSchedule evicts nothing
    await h.taint(NO_EXEC)
    assert h.deleting(goes) and not h.deleting(stays)
    cur = h.store.get(Task, goes.ID)
    assert cur is not None and cur.DesiredState == TaskState.REMOVE  # gracefully: its node stops it
    assert h.said == [("goes", REASON, "Marking for deletion Pod default/goes", COMPONENT)]


async def test_toleration_seconds_are_honoured_and_a_removed_taint_cancels() -> None:
    h = await setup()
    tol = Toleration(Key="maint", Operator="Exists", Effect="NoExecute", TolerationSeconds=60)
    p = await h.store.create(pod("p", h.node, [tol]))
    q = await h.store.create(pod("q", h.node, [tol]))
    await h.taint(NO_EXEC)
    assert h.ctl.due == {p.ID: NOW + 60, q.ID: NOW + 60}
    await h.at(59)
    assert not h.deleting(p)
    await h.at(60)
    assert h.deleting(p) and h.deleting(q)

    h2 = await setup()
    p2 = await h2.store.create(pod("p", h2.node, [tol]))
    await h2.taint(NO_EXEC)
    await h2.at(30)
    await h2.taint()  # untainted before the deadline
    await h2.at(120)
    assert not h2.deleting(p2)
    assert h2.said == [("p", REASON, "Cancelling deletion of Pod default/p", COMPONENT)]


async def test_a_later_look_keeps_the_first_start() -> None:
    h = await setup()
    tol = Toleration(Key="maint", Operator="Exists", Effect="NoExecute", TolerationSeconds=60)
    p = await h.store.create(pod("p", h.node, [tol]))
    await h.taint(NO_EXEC)
    await h.at(40)
    await h.taint(NO_EXEC, Taint(Key="other", Effect="NoExecute"))  # untolerated: now
    assert h.deleting(p)


async def test_a_node_that_goes_down_evicts_after_300_seconds() -> None:
    h = await setup()
    p = await h.store.create(pod("p", h.node))
    await h.ctl.tick()
    await h.state("down")
    await h.at(299)
    assert not h.deleting(p)
    await h.at(300)
    assert h.deleting(p)


async def test_swarm_tasks_are_never_evicted() -> None:
    h = await setup()
    swarm = Task(ID=new_id(), NodeID=h.node.ID, Spec=TaskSpec(Containers=[ContainerSpec(Image="x")]),
                 Status=TaskStatus(State=TaskState.RUNNING))
    await h.store.create(swarm)
    await h.taint(NO_EXEC)
    cur = h.store.get(Task, swarm.ID)
    assert cur is not None and cur.DesiredState == TaskState.RUNNING
    assert h.ctl.pods == {}


async def test_a_pod_without_the_default_tolerations_is_read_as_having_them() -> None:
    h = await setup()
    bare = pod("bare", h.node)
    bare.Spec.Placement = None  # made from a template, say, without the API server's defaults
    p = await h.store.create(bare)
    await h.ctl.tick()
    await h.state("down")
    assert h.ctl.due == {p.ID: NOW + 300}
