"""Cordon is Swarm's pause: ``KubeObjects.set_unschedulable`` writes the availability the Swarm side
reads, a drained node stays drained, the scheduler keeps new Pods and tasks off and places them
again on uncordon."""

from __future__ import annotations

import pytest

from shoal.api import nodelabels
from shoal.api.errors import Conflict, NotFound
from shoal.api.states import TaskState
from shoal.api.types import Node, Task
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.scheduler.scheduler import Scheduler
from shoal.store.changelog import ChangeLog
from shoal.store.objects import ObjectStore

from ...helpers import make_node, make_task, memory_store, paused
from ..scheduler.test_pods import pod


async def setup(*nodes: Node) -> tuple[ObjectStore, KubeObjects]:
    store = await memory_store()
    for n in nodes:
        await store.create(n)
    return store, KubeObjects(store, ChangeLog(store))


def availability(store: ObjectStore, n: Node) -> str:
    got = store.get(Node, n.ID)
    assert got is not None
    return got.Spec.Availability


async def test_cordon_pauses_and_uncordon_activates() -> None:
    a, d = make_node("Alpha"), make_node("drained", availability="drain")
    store, kube = await setup(a, d)
    got = await kube.set_unschedulable("alpha", True)
    assert got.Spec.Availability == "pause" == availability(store, a) and nodelabels.unschedulable(got)
    v = got.Version.Index
    assert (await kube.set_unschedulable("alpha", True)).Version.Index == v  # nothing to write
    await kube.set_unschedulable("drained", True)
    assert availability(store, d) == "drain"  # Swarm's drain is already unschedulable
    await kube.set_unschedulable("alpha", False)
    await kube.set_unschedulable("drained", False)
    assert (availability(store, a), availability(store, d)) == ("active", "active")


async def test_a_stale_version_is_a_conflict_and_an_unknown_node_not_found() -> None:
    a = make_node("a")
    _, kube = await setup(a)
    v = kube.get("nodes", "", "a").Version.Index
    await kube.set_unschedulable("a", True, version=v)
    with pytest.raises(Conflict, match=r'^Operation cannot be fulfilled on nodes "a": the object has been modified'):
        await kube.set_unschedulable("a", False, version=v)
    with pytest.raises(NotFound, match=r'^nodes "b" not found$'):
        await kube.set_unschedulable("b", True)


async def test_the_scheduler_keeps_off_a_cordoned_node_and_comes_back_on_uncordon() -> None:
    a = make_node("a")
    store, kube = await setup(a)
    sched = Scheduler(store)
    await paused(sched)
    running = await store.create(make_task("svc", node_id=a.ID, state=TaskState.RUNNING))
    await kube.set_unschedulable("a", True)
    p = await store.create(pod())
    t = await store.create(make_task("other"))
    await sched.settle()
    got_p, got_t = store.get(Task, p.ID), store.get(Task, t.ID)
    assert got_p is not None and got_t is not None
    assert got_p.Status.Err.startswith("0/1 nodes are available: 1 node(s) were unschedulable.")
    assert got_t.Status.Err == "no suitable node (1 node not available for new tasks)"
    assert store.get(Task, running.ID).Status.State == TaskState.RUNNING  # type: ignore[union-attr]
    await kube.set_unschedulable("a", False)
    await sched.settle()  # the node's change kicked it
    assert store.get(Task, p.ID).NodeID == a.ID  # type: ignore[union-attr]
    assert store.get(Task, t.ID).NodeID == a.ID  # type: ignore[union-attr]
