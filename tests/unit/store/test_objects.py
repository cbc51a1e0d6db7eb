"""ObjectStore over MemoryBackend: typed CAS writes, versions, atomic batches, indexes, listeners,
loading from a backend and following another writer's changes; and two ObjectStores sharing one
etcd (when the ``etcd`` binary is installed), each following the other through its watch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from shoal.api.errors import Conflict
from shoal.api.states import TaskState
from shoal.api.types import Node, ObjectRef, Service, ServiceSpec, Task, clone, decode
from shoal.store.backend import Delete, Put
from shoal.store.etcd import EtcdBackend
from shoal.store.etcd_server import EtcdServer
from shoal.store.memory import MemoryBackend
from shoal.store.objects import Change, ObjectStore, key_of

from ..helpers import TracedBackend, make_node, make_task, until
from .test_backends import NO_ETCD, etcd_member, open_etcd


@pytest.fixture
async def store() -> ObjectStore:
    s = ObjectStore(MemoryBackend())
    await s.load()
    return s


def svc(name: str = "web", sid: str = "s1") -> Service:
    return Service(ID=sid, Spec=ServiceSpec(Name=name))


async def test_create_sets_version_to_the_commit_revision(store: ObjectStore) -> None:
    s = await store.create(svc())
    assert s.Version.Index == 1 == store.revision
    assert s.CreatedAt and s.UpdatedAt
    got = store.get(Service, "s1")
    assert got is s
    kv, rev = await store.backend.get(key_of("services", "s1"))
    assert kv is not None and rev == 1 and kv.mod_revision == 1
    assert decode(Service, kv.value).Spec.Name == "web"

    n = await store.create(make_node("n1", node_id="n1"))
    assert n.Version.Index == 2 == store.revision
    assert [x.ID for x in store.nodes()] == ["n1"]
    assert store.count(Node) == 1 and store.count(Service) == 1 and store.count(Task) == 0


async def test_update_bumps_version_and_keeps_created_at(store: ObjectStore) -> None:
    s = await store.create(svc())
    created = s.CreatedAt
    c = clone(s)
    c.Spec.Labels = {"a": "b"}
    await store.create(make_node(node_id="n1"))  # revision 2, so the update is 3
    rev = await store.commit(updates=[c])
    assert rev == 3 and c.Version.Index == 3
    cur = store.get(Service, "s1")
    assert cur is not None and cur.Spec.Labels == {"a": "b"} and cur.CreatedAt == created
    assert store.service_by_name("web") is cur and store.service_by_name("nope") is None


async def test_stale_update_is_out_of_sequence_and_writes_nothing(store: ObjectStore) -> None:
    s = await store.create(svc())
    a, b = clone(s), clone(s)
    a.Spec.Labels = {"by": "a"}
    b.Spec.Labels = {"by": "b"}
    await store.update(a)
    rev = store.revision
    with pytest.raises(Conflict) as ei:
        await store.update(b)
    assert ei.value.message == "update out of sequence"
    assert str(ei.value) == "update out of sequence"
    assert store.revision == rev
    assert store.get(Service, "s1").Spec.Labels == {"by": "a"}
    kv, brev = await store.backend.get(key_of("services", "s1"))
    assert brev == rev and decode(Service, kv.value).Spec.Labels == {"by": "a"}


async def test_a_batch_is_atomic(store: ObjectStore) -> None:
    s = await store.create(svc())
    stale = clone(s)
    fresh = clone(s)
    fresh.Spec.Labels = {"v": "2"}
    await store.update(fresh)
    seen: list[Change] = []
    store.subscribe(seen.append)
    t = make_task("s1")
    stale.Spec.Labels = {"v": "stale"}
    with pytest.raises(Conflict, match="update out of sequence"):
        await store.commit(creates=[t], updates=[stale])
    assert store.get(Task, t.ID) is None
    assert store.tasks_of_owner("s1") == []
    assert (await store.backend.get(key_of("tasks", t.ID)))[0] is None
    assert store.get(Service, "s1").Spec.Labels == {"v": "2"}
    assert seen == []
    # The same batch with a fresh read goes through, as one revision.
    ok = clone(store.get(Service, "s1"))
    ok.Spec.Labels = {"v": "3"}
    t2 = make_task("s1")
    rev = await store.commit(creates=[t2], updates=[ok])
    assert t2.Version.Index == ok.Version.Index == rev
    assert [c.kind for c in seen] == ["tasks", "services"]


async def test_create_of_an_existing_id_conflicts(store: ObjectStore) -> None:
    await store.create(svc())
    with pytest.raises(Conflict):
        await store.create(svc(name="other"))
    assert store.get(Service, "s1").Spec.Name == "web"


async def test_delete(store: ObjectStore) -> None:
    s = await store.create(svc())
    stale = clone(s)
    s2 = clone(s)
    await store.update(s2)
    with pytest.raises(Conflict):
        await store.delete(stale)  # a delete compares too
    assert store.get(Service, "s1") is not None
    await store.delete(store.get(Service, "s1"))
    assert store.get(Service, "s1") is None
    assert (await store.backend.get(key_of("services", "s1")))[0] is None


async def test_empty_commit_writes_nothing(store: ObjectStore) -> None:
    await store.create(svc())
    assert await store.commit() == 1
    assert store.revision == 1 and store.backend.revision == 1


async def test_task_indexes_follow_node_changes_and_deletes(store: ObjectStore) -> None:
    t1 = await store.create(make_task("s1", slot=1))
    t2 = await store.create(make_task("s1", slot=2, node_id="n1"))
    t3 = await store.create(make_task("s2", slot=1, node_id="n1"))

    def ids(tasks: list[Task]) -> set[str]:
        return {t.ID for t in tasks}

    assert ids(store.tasks_of_owner("s1")) == {t1.ID, t2.ID}
    assert ids(store.tasks_of_owner("s2")) == {t3.ID}
    assert ids(store.tasks_of_node("n1")) == {t2.ID, t3.ID}
    assert store.tasks_of_node("n2") == [] and store.tasks_of_owner("nope") == []

    # Assigned: t1 joins n2.
    c = clone(t1)
    c.NodeID = "n2"
    await store.update(c)
    assert ids(store.tasks_of_node("n2")) == {t1.ID}
    # Moved: t2 leaves n1 for n2.
    c = clone(store.get(Task, t2.ID))
    c.NodeID = "n2"
    await store.update(c)
    assert ids(store.tasks_of_node("n1")) == {t3.ID}
    assert ids(store.tasks_of_node("n2")) == {t1.ID, t2.ID}
    # Unassigned: t1 leaves n2.
    c = clone(store.get(Task, t1.ID))
    c.NodeID = ""
    await store.update(c)
    assert ids(store.tasks_of_node("n2")) == {t2.ID}
    # Indexes hold the current objects, not old copies.
    c = clone(store.get(Task, t2.ID))
    c.Status.State = TaskState.RUNNING
    await store.update(c)
    assert [t.Status.State for t in store.tasks_of_node("n2")] == [TaskState.RUNNING]
    # Deleted: gone from both indexes.
    await store.delete(store.get(Task, t2.ID))
    await store.delete(store.get(Task, t3.ID))
    assert store.tasks_of_node("n2") == [] and store.tasks_of_node("n1") == []
    assert ids(store.tasks_of_owner("s1")) == {t1.ID}
    assert store.tasks_of_owner("s2") == []


async def test_listeners_get_old_and_new(store: ObjectStore) -> None:
    seen: list[Change] = []
    unsubscribe = store.subscribe(seen.append)
    s = await store.create(svc())
    c = clone(s)
    c.Spec.Labels = {"x": "y"}
    await store.update(c)
    await store.delete(c)
    assert [(ch.kind, ch.old is None, ch.new is None) for ch in seen] == [
        ("services", True, False), ("services", False, False), ("services", False, True)
    ]
    assert seen[0].new is s
    assert seen[1].old is s and seen[1].new is c
    assert seen[2].old is c
    assert seen[1].old.Version.Index == 1 and seen[1].new.Version.Index == 2
    unsubscribe()
    await store.create(svc(name="db", sid="s2"))
    assert len(seen) == 3


async def test_a_failing_listener_does_not_break_commits(store: ObjectStore) -> None:
    seen: list[str] = []

    def bad(ch: Change) -> None:
        raise RuntimeError("boom")

    store.subscribe(bad)
    store.subscribe(lambda ch: seen.append(ch.new.ID))
    await store.create(svc())
    assert store.get(Service, "s1") is not None and seen == ["s1"]


async def test_update_with_retries_after_a_concurrent_write() -> None:
    backend = MemoryBackend()
    a = ObjectStore(backend)
    await a.load()
    b = ObjectStore(backend, watch_backend=True)
    await b.load()
    try:
        await b.create(svc())
        await a.load()
        calls = 0

        def add_label(x: Service) -> bool:
            nonlocal calls
            calls += 1
            if calls == 1:
                # Another manager writes between our read and our write: our first commit loses.
                other = clone(a.get(Service, "s1"))
                other.Spec.Labels = {"other": "1"}
                asyncio.get_running_loop().create_task(a.update(other))
            x.Spec.Labels = {**(x.Spec.Labels or {}), "mine": "1"}
            return True

        # Let a's write land before b commits.
        orig_commit = b.commit

        async def commit_after_others(**kw):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0)
            return await orig_commit(**kw)

        b.commit = commit_after_others  # type: ignore[method-assign]
        got = await b.update_with(Service, "s1", add_label)
        assert calls >= 2  # re-read after the conflict
        assert got is not None and got.Spec.Labels == {"other": "1", "mine": "1"}
        kv, _ = await backend.get(key_of("services", "s1"))
        assert decode(Service, kv.value).Spec.Labels == {"other": "1", "mine": "1"}

        rev = b.revision
        same = await b.update_with(Service, "s1", lambda x: False)
        assert same is b.get(Service, "s1") and b.revision == rev
        assert await b.update_with(Service, "missing", lambda x: True) is None
    finally:
        await b.close()


async def test_load_sees_everything(store: ObjectStore) -> None:
    await store.create(svc())
    t1 = await store.create(make_task("s1", node_id="n1"))
    t2 = await store.create(make_task("s1", slot=2))
    await store.create(make_node(node_id="n1"))
    c = clone(t2)
    c.NodeID = "n1"
    await store.update(c)
    await store.delete(store.get(Service, "s1"))
    await store.backend.txn([], [Put("/shoal/unknownkind/x", b"{}")])  # ignored, not fatal

    other = ObjectStore(store.backend)
    await other.load()
    assert other.revision == store.backend.revision
    assert other.get(Service, "s1") is None
    assert {t.ID for t in other.tasks_of_owner("s1")} == {t1.ID, t2.ID}
    assert {t.ID for t in other.tasks_of_node("n1")} == {t1.ID, t2.ID}
    for t in (t1.ID, t2.ID):
        assert other.get(Task, t) == store.get(Task, t)  # same content and Version.Index
    assert other.get(Task, t2.ID).Version.Index == c.Version.Index
    assert other.get(Node, "n1") == store.get(Node, "n1")


async def test_a_watching_store_folds_in_another_writers_changes() -> None:
    backend = TracedBackend()
    a = ObjectStore(backend)
    await a.load()
    b = ObjectStore(backend, watch_backend=True)
    await b.load()
    seen: list[Change] = []
    b.subscribe(seen.append)
    try:
        s = await a.create(svc())
        t = await a.create(make_task("s1", node_id="n1"))
        await until(lambda: b.get(Task, t.ID) is not None, what="b to see the task")
        assert b.get(Service, "s1") == s and b.revision == a.revision
        assert [x.ID for x in b.tasks_of_node("n1")] == [t.ID]

        # b's own write is not applied twice; a sees it only on reload.
        c = clone(b.get(Service, "s1"))
        c.Spec.Labels = {"from": "b"}
        await b.update(c)
        n_before = len(seen)
        await backend.caught_up(b.revision)  # b's watcher has been handed b's own write back
        assert len(seen) == n_before

        await a.delete(a.get(Task, t.ID))
        await until(lambda: b.get(Task, t.ID) is None, what="b to see the delete")
        assert b.tasks_of_node("n1") == []
        assert [(ch.kind, ch.old is None, ch.new is None) for ch in seen] == [
            ("services", True, False), ("tasks", True, False), ("services", False, False), ("tasks", False, True)
        ]
    finally:
        await b.close()


async def test_a_watching_store_never_resurrects_its_own_delete() -> None:
    backend = TracedBackend()
    b = ObjectStore(backend, watch_backend=True)
    await b.load()
    seen: list[Change] = []
    b.subscribe(seen.append)
    try:
        t = await b.create(make_task("s1"))
        await b.delete(t)  # before the watcher has caught up with the create
        await backend.txn([], [Put("/shoal/marker/x", b"")])
        await backend.caught_up(backend.revision)  # the create, the delete and the marker replayed
        assert b.get(Task, t.ID) is None
        # Listeners saw exactly: created, deleted.
        assert [(ch.old is None, ch.new is None) for ch in seen] == [(True, False), (False, True)]
    finally:
        await b.close()


async def test_deleted_by_another_writer_while_cached(store: ObjectStore) -> None:
    """The cache is only as fresh as its last write: a delete behind its back makes the next update
    of that object fail as out of sequence rather than silently recreating it."""
    t = await store.create(make_task("s1"))
    await store.backend.txn([], [Delete(key_of("tasks", t.ID))])
    c = clone(t)
    c.DesiredState = TaskState.SHUTDOWN
    with pytest.raises(Conflict):
        await store.update(c)
    assert (await store.backend.get(key_of("tasks", t.ID)))[0] is None


# ---------------------------------------------------------------- two managers on one etcd


@pytest.fixture(scope="module")
def etcd_server() -> Iterator[EtcdServer]:
    with etcd_member() as server:
        yield server


@pytest.fixture
async def etcd_pair(etcd_server: EtcdServer) -> AsyncIterator[tuple[ObjectStore, ObjectStore]]:
    """Two watching ObjectStores, each with its own etcd client, on one (emptied) etcd."""
    backends = [await open_etcd(etcd_server), EtcdBackend(etcd_server.endpoint)]
    stores = [ObjectStore(b, watch_backend=True) for b in backends]
    try:
        for st in stores:
            await st.load()
        yield stores[0], stores[1]
    finally:
        for st in stores:
            await st.close()
        for b in backends:
            await b.close()


@NO_ETCD
async def test_two_stores_on_etcd_see_each_others_writes(etcd_pair: tuple[ObjectStore, ObjectStore]) -> None:
    a, b = etcd_pair
    seen: list[Change] = []
    b.subscribe(seen.append)
    s = await a.create(svc())
    t = await a.create(make_task("s1", node_id="n1"))
    await until(lambda: b.get(Task, t.ID) is not None, what="b to see a's task")
    assert b.get(Service, "s1") == s and b.revision == a.revision == t.Version.Index
    assert [x.ID for x in b.tasks_of_node("n1")] == [t.ID]

    # And the other way round: a follows b's update, at the revision b committed it.
    c = clone(b.get(Service, "s1"))
    c.Spec.Labels = {"from": "b"}
    rev = (await b.update(c)).Version.Index
    await until(lambda: a.get(Service, "s1").Spec.Labels == {"from": "b"}, what="a to see b's update")
    assert a.get(Service, "s1").Version.Index == rev == c.Version.Index
    assert a.revision == b.revision == rev

    await a.delete(a.get(Task, t.ID))
    await until(lambda: b.get(Task, t.ID) is None, what="b to see a's delete")
    assert b.tasks_of_node("n1") == []
    # b's listeners saw each revision once, even when the watch event of b's own update arrived before
    # etcd's reply to the transaction.
    assert [(ch.kind, ch.old is None, ch.new is None) for ch in seen] == [
        ("services", True, False), ("tasks", True, False), ("services", False, False), ("tasks", False, True)
    ]


@NO_ETCD
async def test_a_stale_update_on_etcd_is_out_of_sequence(etcd_pair: tuple[ObjectStore, ObjectStore]) -> None:
    a, b = etcd_pair
    await a.create(svc())
    await until(lambda: b.get(Service, "s1") is not None, what="b to see the service")
    mine, theirs = clone(a.get(Service, "s1")), clone(b.get(Service, "s1"))
    mine.Spec.Labels = {"by": "a"}
    theirs.Spec.Labels = {"by": "b"}
    rev = (await a.update(mine)).Version.Index
    with pytest.raises(Conflict) as ei:
        await b.update(theirs)  # read at the old version: etcd's mod_revision compare fails
    assert str(ei.value) == "update out of sequence"
    kv, _ = await b.backend.get(key_of("services", "s1"))
    assert kv is not None and kv.mod_revision == rev and decode(Service, kv.value).Spec.Labels == {"by": "a"}
    # Once b's watch has caught up, its fresh copy goes through.
    await until(lambda: b.get(Service, "s1").Version.Index == rev, what="b to see a's update")
    fresh = clone(b.get(Service, "s1"))
    fresh.Spec.Labels = {"by": "b"}
    rev2 = (await b.update(fresh)).Version.Index
    await until(lambda: a.get(Service, "s1").Version.Index == rev2, what="a to see b's update")
    assert a.get(Service, "s1").Spec.Labels == {"by": "b"}


async def test_tasks_are_indexed_by_owner_and_follow_an_adoption(store: ObjectStore) -> None:
    t = await store.create(make_task("s1", slot=1))
    assert [x.ID for x in store.tasks_of_owner("s1")] == [t.ID]
    c = clone(t)
    c.Owner = ObjectRef(Kind="ReplicaSet", ID="rs1")
    await store.update(c)
    assert store.tasks_of_owner("s1") == [] and [x.ID for x in store.tasks_of_owner("rs1")] == [t.ID]


async def test_the_store_keeps_name_labels_and_generation(store: ObjectStore) -> None:
    s = Service(ID="s1", Spec=ServiceSpec(Name="web", Labels={"a": "b"}))
    await store.create(s)
    got = store.get(Service, "s1")
    assert got is not None and (got.Name, got.Labels, got.Generation) == ("web", {"a": "b"}, 1)
    c = clone(got)
    c.UpdateStatus = None  # not the spec: the generation stays
    await store.update(c)
    assert store.get(Service, "s1").Generation == 1  # type: ignore[union-attr]
    c = clone(store.get(Service, "s1"))
    c.Spec.Labels = {"a": "c"}
    await store.update(c)
    got = store.get(Service, "s1")
    assert got is not None and (got.Labels, got.Generation) == ({"a": "c"}, 2)
    t = await store.create(make_task("s1", slot=1))
    assert t.Generation == 0 and t.Name == ""  # a task's spec never changes; its name is its own
