"""Owners, finalizers and the garbage collector (``manager/kube/gc.py``) on an in-memory store: each
propagation policy, several owners, owners that do not exist, ``blockOwnerDeletion``, finalizers that
keep an object and their removal that lets it go. The collector's ticks are driven directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from shoal.api.errors import Invalid
from shoal.api.kube import Namespace
from shoal.api.meta import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, ObjectRef, OwnerReference
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import Config, ConfigSpec, ContainerSpec, Secret, SecretSpec, Task, TaskSpec, clone
from shoal.manager.kube.gc import GarbageCollector
from shoal.manager.kube.objects import KubeObjects
from shoal.manager.orchestrator.reaper import TaskReaper
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore


@dataclass
class World:
    store: ObjectStore
    kube: KubeObjects
    gc: GarbageCollector

    async def settle(self) -> None:
        await self.gc.settle()

    def secret(self, name: str, ns: str = "default") -> Any | None:
        return self._find("secrets", ns, name)

    def cm(self, name: str, ns: str = "default") -> Any | None:
        return self._find("configs", ns, name)

    def pod(self, name: str, ns: str = "default") -> Any | None:
        return self._find("tasks", ns, name)

    def _find(self, kind: str, ns: str, name: str) -> Any | None:
        return next((o for o in self.kube.list(kind, ns) if (o.Name or o.Spec.Name) == name), None)


@pytest.fixture
async def w() -> AsyncIterator[World]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=1000))
    await kube.create(Namespace(ID="", Name="default"))
    await kube.create(Namespace(ID="", Name="other"))
    gc = GarbageCollector(store, kube)
    gc.attach()
    yield World(store, kube, gc)
    await gc.stop()
    kube.close()


def ref(owner: Any, *, controller: bool | None = None, block: bool | None = None) -> OwnerReference:
    kind = "Secret" if isinstance(owner, Secret) else "ConfigMap" if isinstance(owner, Config) else "Pod"
    return OwnerReference(APIVersion="v1", Kind=kind, Name=owner.Name or owner.Spec.Name, ID=owner.ID,
                          Controller=controller, BlockOwnerDeletion=block)


async def secret(w: World, name: str, *owners: OwnerReference, finalizers: list[str] | None = None,
                 ns: str = "default") -> Secret:
    s = Secret(ID="", Namespace=ns, OwnerReferences=list(owners) or None, Finalizers=finalizers,
               Spec=SecretSpec(Name=name, Items={"k": b"v"}))
    made: Secret = await w.kube.create(s)
    return made


async def cm(w: World, name: str, *owners: OwnerReference, finalizers: list[str] | None = None,
             ns: str = "default") -> Config:
    c = Config(ID="", Namespace=ns, OwnerReferences=list(owners) or None, Finalizers=finalizers,
               Spec=ConfigSpec(Name=name, Items={"k": "v"}))
    made: Config = await w.kube.create(c)
    return made


async def pod(w: World, name: str, *owners: OwnerReference, running: bool = False,
              finalizers: list[str] | None = None, owner: ObjectRef | None = None) -> Task:
    t = Task(ID="", Name=name, Namespace="default", OwnerReferences=list(owners) or None, Finalizers=finalizers,
             Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image="busybox")], Pod=PodSpecExtra()))
    if owner is not None:
        t.Owner = owner
    made: Task = await w.kube.create(t)
    if running:
        made = clone(made)
        made.NodeID, made.Status.State = "n1", TaskState.RUNNING
        await w.store.update(made)
    return made


# ---------------------------------------------------------------- the three policies


async def test_background_deletes_the_owner_at_once_and_its_dependents_after(w: World) -> None:
    s = await secret(w, "s")
    await cm(w, "c1", ref(s, controller=True, block=True))
    await cm(w, "c2", ref(s))
    await cm(w, "free")
    p = await pod(w, "p", ref(s), running=True)
    await w.settle()
    assert w.cm("c1") is not None and w.gc.dependents[s.ID] == {("configs", w.cm("c1").ID),
                                                                ("configs", w.cm("c2").ID), ("tasks", p.ID)}
    assert await w.kube.delete("secrets", "default", "s", propagation="Background") is None
    assert w.secret("s") is None
    await w.settle()
    assert w.cm("c1") is None and w.cm("c2") is None and w.cm("free") is not None
    # a running Pod is deleted gracefully: marked, its node stops it
    left = w.pod("p")
    assert left is not None and left.DeletionTimestamp and left.DesiredState == TaskState.REMOVE
    assert s.ID not in w.gc.dependents or w.gc.dependents[s.ID] == {("tasks", p.ID)}
    assert not w.gc.to_check and not w.gc.to_finish


async def test_foreground_deletes_the_dependents_first_and_waits_for_the_blocking_ones(w: World) -> None:
    s = await secret(w, "s")
    await cm(w, "blocking", ref(s, controller=True, block=True), finalizers=["example.com/hold"])
    await cm(w, "loose", ref(s), finalizers=["example.com/hold"])
    left = await w.kube.delete("secrets", "default", "s", propagation="Foreground")
    assert left is not None and left.DeletionTimestamp and left.DeletionGracePeriodSeconds == 0
    assert left.Finalizers == [FOREGROUND_FINALIZER]
    await w.settle()
    blocking, loose = w.cm("blocking"), w.cm("loose")
    assert blocking is not None and blocking.DeletionTimestamp  # deleted, kept by its finalizer
    assert loose is not None and loose.DeletionTimestamp
    assert w.secret("s") is not None  # waits for the blocking one
    # the blocking dependent's finalizer removed: it goes, and then the owner
    done = clone(blocking)
    done.Finalizers = None
    await w.kube.update(done)
    assert w.cm("blocking") is None
    await w.settle()
    assert w.secret("s") is None
    assert w.cm("loose") is not None  # not blocking: the owner did not wait for it


async def test_foreground_goes_down_the_tree(w: World) -> None:
    """A dependent with dependents of its own is deleted in the foreground too: the Pod at the bottom
    stops first, then the ConfigMap goes, then the Secret."""
    reaper = TaskReaper(w.store)
    reaper.start()
    try:
        s = await secret(w, "s")
        c = await cm(w, "c", ref(s, controller=True, block=True))
        await pod(w, "p", ref(c, controller=True, block=True), running=True)
        await w.kube.delete("secrets", "default", "s", propagation="Foreground")
        await w.settle()
        mid = w.cm("c")
        assert mid is not None and mid.Finalizers == [FOREGROUND_FINALIZER]
        p = w.pod("p")
        assert p is not None and p.DesiredState == TaskState.REMOVE and w.secret("s") is not None
        p = clone(p)
        p.Status.State = TaskState.COMPLETE  # its node stopped it
        await w.store.update(p)
        await reaper.settle()
        assert w.pod("p") is None
        await w.settle()
        assert w.cm("c") is None and w.secret("s") is None
    finally:
        await reaper.stop()


async def test_orphan_releases_the_dependents_and_then_deletes_the_owner(w: World) -> None:
    s = await secret(w, "s")
    other = await secret(w, "other")
    c = await cm(w, "c", ref(s, controller=True, block=True), ref(other))
    p = await pod(w, "p", ref(s, controller=True, block=True), running=True)
    assert w.pod("p").Owner == ObjectRef(Kind="Secret", ID=s.ID, Name="s")  # type: ignore[union-attr]
    left = await w.kube.delete("secrets", "default", "s", propagation="Orphan")
    assert left is not None and left.Finalizers == [ORPHAN_FINALIZER] and left.DeletionTimestamp
    await w.settle()
    assert w.secret("s") is None
    kept = w.cm("c")
    assert kept is not None and kept.ID == c.ID and kept.OwnerReferences == [ref(other)] and kept.Owner is None
    pod_left = w.pod("p")
    assert pod_left is not None and pod_left.ID == p.ID and pod_left.DesiredState == TaskState.RUNNING
    assert pod_left.OwnerReferences is None and pod_left.Owner == ObjectRef()


async def test_finalizers_in_the_object_decide_when_no_policy_is_given(w: World) -> None:
    s = await secret(w, "s", finalizers=[ORPHAN_FINALIZER])
    await cm(w, "c", ref(s))
    left = await w.kube.delete("secrets", "default", "s")
    assert left is not None and left.Finalizers == [ORPHAN_FINALIZER]
    await w.settle()
    assert w.secret("s") is None and w.cm("c") is not None
    # an explicit policy replaces the collector's finalizer the object was given
    await secret(w, "s2", finalizers=["example.com/x", ORPHAN_FINALIZER])
    left = await w.kube.delete("secrets", "default", "s2", propagation="Foreground")
    assert left is not None and left.Finalizers == ["example.com/x", FOREGROUND_FINALIZER]


# ---------------------------------------------------------------- owners


async def test_an_object_with_several_owners_stays_while_one_remains(w: World) -> None:
    a, b = await secret(w, "a"), await secret(w, "b")
    c = await cm(w, "c", ref(a), ref(b, controller=True))
    await w.kube.delete("secrets", "default", "a")
    await w.settle()
    kept = w.cm("c")
    assert kept is not None and kept.ID == c.ID
    assert kept.OwnerReferences == [ref(b, controller=True)]  # the reference to the gone owner dropped
    assert kept.Owner == ObjectRef(Kind="Secret", ID=b.ID, Name="b")
    await w.kube.delete("secrets", "default", "b")
    await w.settle()
    assert w.cm("c") is None


async def test_owners_that_do_not_exist_make_the_dependent_collectable(w: World) -> None:
    await cm(w, "never", OwnerReference(APIVersion="apps/v1", Kind="ReplicaSet", Name="rs", ID="no-such-uid"))
    elsewhere = await secret(w, "s", ns="other")
    await cm(w, "wrong-namespace", ref(elsewhere))  # an owner is looked for in the dependent's namespace
    # written with its controller alone (``Owner``): the list is made from it
    t = await pod(w, "orphaned", owner=ObjectRef(Kind="ReplicaSet", ID="gone-rs", Name="rs"))
    assert t.OwnerReferences == [OwnerReference(Kind="ReplicaSet", Name="rs", ID="gone-rs", Controller=True,
                                                BlockOwnerDeletion=True)]
    await w.settle()
    assert w.cm("never") is None and w.cm("wrong-namespace") is None and w.pod("orphaned") is None
    assert w.secret("s", "other") is not None


async def test_the_collector_catches_up_with_what_happened_before_it_started(w: World) -> None:
    await w.gc.stop()
    s = await secret(w, "s")
    await cm(w, "c", ref(s))
    await w.kube.delete("secrets", "default", "s")
    gc = GarbageCollector(w.store, w.kube)
    gc.attach()
    try:
        await gc.settle()
        assert w.cm("c") is None
    finally:
        await gc.stop()


async def test_a_cycle_of_blocking_owners_is_broken(w: World) -> None:
    a = await secret(w, "a")
    b = await cm(w, "b", ref(a, block=True))
    a2 = clone(w.secret("a"))
    a2.OwnerReferences = [ref(b, block=True)]
    await w.kube.update(a2)
    await w.kube.delete("secrets", "default", "a", propagation="Foreground")
    for _ in range(5):
        await w.settle()
    assert w.secret("a") is None and w.cm("b") is None


# ---------------------------------------------------------------- finalizers


async def test_finalizers_keep_an_object_until_removed(w: World) -> None:
    await cm(w, "c", finalizers=["example.com/keep"])
    left = await w.kube.delete("configs", "default", "c")
    assert left is not None and left.DeletionTimestamp and left.DeletionGracePeriodSeconds == 0
    assert await w.kube.delete("configs", "default", "c") == left  # again: nothing changes
    marked = w.cm("c")
    assert marked is not None
    more = clone(marked)
    more.Finalizers = ["example.com/keep", "example.com/b", "example.com/a"]
    with pytest.raises(Invalid) as e:
        await w.kube.update(more)
    assert str(e.value) == ('ConfigMap "c" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
                            'added if the object is being deleted, found new finalizers []string{"example.com/a", '
                            '"example.com/b"}')
    relabel = clone(marked)
    relabel.Labels = {"a": "b"}
    relabel.DeletionTimestamp = ""  # not the client's to change
    kept = await w.kube.update(relabel)
    assert kept.DeletionTimestamp == marked.DeletionTimestamp and w.cm("c") is not None
    done = clone(w.cm("c"))
    done.Finalizers = []
    await w.kube.update(done)
    assert w.cm("c") is None


async def test_a_pod_with_finalizers_goes_once_stopped_and_released(w: World) -> None:
    reaper = TaskReaper(w.store)
    reaper.start()
    try:
        await pod(w, "pending", finalizers=["example.com/f"])
        left = await w.kube.delete("tasks", "default", "pending")
        assert left is not None and left.DeletionTimestamp and left.DeletionGracePeriodSeconds == 0
        await reaper.settle()
        assert w.pod("pending") is not None  # never ran, but its finalizer keeps it
        released = clone(w.pod("pending"))
        released.Finalizers = None
        await w.kube.update(released)
        assert w.pod("pending") is None

        await pod(w, "run", running=True, finalizers=["example.com/f"])
        left = await w.kube.delete("tasks", "default", "run")
        assert left is not None and left.DeletionGracePeriodSeconds == 30 and left.DesiredState == TaskState.REMOVE
        stopped = clone(w.pod("run"))
        stopped.Status.State = TaskState.SHUTDOWN
        await w.store.update(stopped)
        await reaper.settle()
        assert w.pod("run") is not None  # stopped, but not released
        released = clone(w.pod("run"))
        released.Finalizers = None
        await w.kube.update(released)  # stopped and released: it goes
        assert w.pod("run") is None

        await pod(w, "late", running=True, finalizers=["example.com/f"])
        await w.kube.delete("tasks", "default", "late")
        released = clone(w.pod("late"))
        released.Finalizers = None
        await w.kube.update(released)  # released while its containers still run: the reaper's, later
        assert w.pod("late") is not None
        stopped = clone(w.pod("late"))
        stopped.Status.State = TaskState.SHUTDOWN
        await w.store.update(stopped)
        await reaper.settle()
        assert w.pod("late") is None
    finally:
        await reaper.stop()


def test_owner_references_round_trip_the_store() -> None:
    from shoal.api.types import decode, encode

    s = Secret(ID="x", OwnerReferences=[OwnerReference(Kind="A", ID="1", Controller=True)])
    back = decode(Secret, encode(s))
    assert back.OwnerReferences == s.OwnerReferences
    assert msgspec.json.decode(encode(s.OwnerReferences[0])) == {"Kind": "A", "ID": "1",  # type: ignore[index]
                                                                 "Controller": True}
