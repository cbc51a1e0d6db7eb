"""Typed object layer over a Backend: a local cache of every object, indexes, and batched CAS writes.

Reads come from the cache (no I/O, safe to call from any reconciler); writes go to the backend as one
transaction whose compares are the versions the caller read, then update the cache at once, so a
reconciler never sees its own write missing (the lag that Kubernetes needs "expectations" for).
Listeners get a ``Change`` after every committed write and must only mark work dirty.

Objects handed out by the cache are shared: never mutate one; ``clone`` it, change the copy, commit.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from shoal.api.errors import Conflict
from shoal.api.types import KIND_OF, TYPE_OF, Node, Service, Task, Version, clone, decode, encode, now_ts
from shoal.store.backend import Backend, Compacted, Compare, CompareFailed, Delete, Event, Op, Put, StoreError

log = logging.getLogger(__name__)

PREFIX = "/shoal/"
T = TypeVar("T")


def key_of(kind: str, oid: str) -> str:
    return f"{PREFIX}{kind}/{oid}"


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    old: Any  # None: created
    new: Any  # None: deleted


OUT_OF_SEQUENCE = "update out of sequence"


def _stamp(kind: str, obj: Any, old: Any) -> None:
    """The metadata the store keeps (``api/meta.py``): a Swarm kind's name and labels copied from its
    spec, and the generation, 1 when created and bumped when the spec changes. A task has neither."""
    if kind == "tasks":
        return
    obj.Name, obj.Labels = obj.Spec.Name, obj.Spec.Labels
    if old is None:
        obj.Generation = obj.Generation or 1
    elif obj.Spec is not old.Spec and obj.Spec != old.Spec:
        obj.Generation = max(obj.Generation, old.Generation) + 1


class ObjectStore:
    def __init__(self, backend: Backend, *, watch_backend: bool = False) -> None:
        self.backend = backend
        self.revision = 0
        self._objs: dict[str, dict[str, Any]] = {k: {} for k in TYPE_OF}
        self._tasks_by_owner: dict[str, set[str]] = defaultdict(set)  # by the owner's ID
        self._tasks_by_node: dict[str, set[str]] = defaultdict(set)
        self._listeners: list[Callable[[Change], None]] = []
        self._watch_backend = watch_backend
        self._watcher: asyncio.Task[None] | None = None
        # Keys this store deleted, with the revision, until the watcher has passed it (so replayed
        # older events cannot bring the object back).
        self._deleted_at: dict[str, int] = {}

    # ------------------------------------------------------------ lifecycle

    async def load(self) -> None:
        kvs, rev = await self.backend.range(PREFIX)
        for kv in kvs:
            kind, _, _oid = kv.key[len(PREFIX):].partition("/")
            typ = TYPE_OF.get(kind)
            if typ is None:
                continue
            obj = decode(typ, kv.value)
            obj.Version = Version(Index=kv.mod_revision)
            self._put_cache(kind, obj)
        self.revision = rev
        if self._watch_backend:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(rev))

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    def subscribe(self, fn: Callable[[Change], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    # ------------------------------------------------------------ reads (cache)

    def get(self, typ: type[T], oid: str) -> T | None:
        return self._objs[KIND_OF[typ]].get(oid)

    def list(self, typ: type[T]) -> builtins.list[T]:
        return list(self._objs[KIND_OF[typ]].values())

    def count(self, typ: type) -> int:
        return len(self._objs[KIND_OF[typ]])

    def tasks_of_owner(self, owner_id: str) -> builtins.list[Task]:
        """The tasks whose ``Owner`` has this ID (a service's tasks)."""
        tasks = self._objs["tasks"]
        return [tasks[t] for t in self._tasks_by_owner.get(owner_id, ())]

    tasks_of_service = tasks_of_owner  # a Swarm task's owner is its service

    def tasks_of_node(self, node_id: str) -> builtins.list[Task]:
        tasks = self._objs["tasks"]
        return [tasks[t] for t in self._tasks_by_node.get(node_id, ())]

    def service_by_name(self, name: str) -> Service | None:
        for s in self._objs["services"].values():
            if s.Spec.Name == name:
                return s
        return None

    def nodes(self) -> builtins.list[Node]:
        return self.list(Node)

    # ------------------------------------------------------------ writes

    async def commit(
        self,
        creates: Iterable[Any] = (),
        updates: Iterable[Any] = (),
        deletes: Iterable[Any] = (),
    ) -> int:
        """Write every object in one transaction, each compared against the version it was read at.

        Raises Conflict("update out of sequence") when any of them changed since; nothing is written.
        """
        ts = now_ts()
        compares: builtins.list[Compare] = []
        ops: builtins.list[Op] = []
        written: builtins.list[tuple[str, Any]] = []
        for obj in creates:
            kind = KIND_OF[type(obj)]
            obj.CreatedAt = obj.CreatedAt or ts
            obj.UpdatedAt = ts
            obj.Version = Version(Index=0)
            _stamp(kind, obj, None)
            key = key_of(kind, obj.ID)
            compares.append(Compare(key, 0))
            ops.append(Put(key, encode(obj)))
            written.append((kind, obj))
        for obj in updates:
            kind = KIND_OF[type(obj)]
            obj.UpdatedAt = ts
            if kind != "tasks":
                _stamp(kind, obj, self._objs[kind].get(obj.ID))
            key = key_of(kind, obj.ID)
            compares.append(Compare(key, obj.Version.Index))
            ops.append(Put(key, encode(obj)))
            written.append((kind, obj))
        deleted: builtins.list[tuple[str, Any]] = []
        for obj in deletes:
            kind = KIND_OF[type(obj)]
            key = key_of(kind, obj.ID)
            compares.append(Compare(key, obj.Version.Index))
            ops.append(Delete(key))
            deleted.append((kind, obj))
        if not ops:
            return self.revision
        try:
            rev, _ = await self.backend.txn(compares, ops)
        except CompareFailed as e:
            raise Conflict(OUT_OF_SEQUENCE) from e
        self.revision = max(self.revision, rev)
        changes: builtins.list[Change] = []
        for kind, obj in written:
            obj.Version = Version(Index=rev)
            cached = self._objs[kind].get(obj.ID)
            if cached is not None and cached.Version.Index >= rev:
                continue  # our watch delivered this very write (or a newer one) first: already announced
            old = self._put_cache(kind, obj)
            changes.append(Change(kind, old, obj))
        for kind, obj in deleted:
            if self._watch_backend:
                self._deleted_at[key_of(kind, obj.ID)] = rev
            old = self._drop_cache(kind, obj.ID)
            if old is not None:
                changes.append(Change(kind, old, None))
        self._notify(changes)
        return rev

    async def create(self, obj: T) -> T:
        await self.commit(creates=[obj])
        return obj

    async def update(self, obj: T) -> T:
        await self.commit(updates=[obj])
        return obj

    async def delete(self, obj: Any) -> None:
        await self.commit(deletes=[obj])

    async def update_with(self, typ: type[T], oid: str, fn: Callable[[T], bool], retries: int = 10) -> T | None:
        """Read-modify-write with retry: ``fn`` changes a copy and returns whether it changed anything."""
        for _ in range(retries):
            cur = self.get(typ, oid)
            if cur is None:
                return None
            obj = clone(cur)
            if not fn(obj):
                return cur
            try:
                await self.commit(updates=[obj])
                return obj
            except Conflict:
                await asyncio.sleep(0)
        raise Conflict(OUT_OF_SEQUENCE)

    # ------------------------------------------------------------ cache internals

    def _put_cache(self, kind: str, obj: Any) -> Any:
        old = self._objs[kind].get(obj.ID)
        self._objs[kind][obj.ID] = obj
        if kind == "tasks":
            if old is not None:
                if old.NodeID != obj.NodeID and old.NodeID:
                    self._tasks_by_node[old.NodeID].discard(obj.ID)
                if old.Owner.ID != obj.Owner.ID:  # adopted by another owner
                    self._tasks_by_owner[old.Owner.ID].discard(obj.ID)
            self._tasks_by_owner[obj.Owner.ID].add(obj.ID)
            if obj.NodeID:
                self._tasks_by_node[obj.NodeID].add(obj.ID)
        return old

    def _drop_cache(self, kind: str, oid: str) -> Any:
        old = self._objs[kind].pop(oid, None)
        if old is not None and kind == "tasks":
            s = self._tasks_by_owner.get(old.Owner.ID)
            if s is not None:
                s.discard(oid)
                if not s:
                    del self._tasks_by_owner[old.Owner.ID]
            if old.NodeID:
                n = self._tasks_by_node.get(old.NodeID)
                if n is not None:
                    n.discard(oid)
        return old

    def _notify(self, changes: builtins.list[Change]) -> None:
        for fn in list(self._listeners):
            for ch in changes:
                try:
                    fn(ch)
                except Exception:  # a listener must never break a commit
                    log.exception("store listener failed")

    async def _watch(self, after: int) -> None:
        """Fold in writes made by other managers (a shared backend such as etcd). A broken watch is
        resumed where it stopped; one that fell behind the compaction reloads everything."""
        while True:
            try:
                async for ev in self.backend.watch(PREFIX, after):
                    self._apply_event(ev)
                    after = max(after, ev.revision)
                return  # the backend was closed
            except Compacted:
                after = await self._resync()
            except StoreError as e:
                log.warning("store watch: %s; resuming", e)
                await asyncio.sleep(1.0)

    async def _resync(self) -> int:
        """Replace the cache with the backend's contents, announcing every difference."""
        kvs, rev = await self.backend.range(PREFIX)
        seen: set[tuple[str, str]] = set()
        for kv in kvs:
            kind, _, oid = kv.key[len(PREFIX):].partition("/")
            typ = TYPE_OF.get(kind)
            if typ is None:
                continue
            seen.add((kind, oid))
            cur = self._objs[kind].get(oid)
            if cur is not None and cur.Version.Index == kv.mod_revision:
                continue
            obj = decode(typ, kv.value)
            obj.Version = Version(Index=kv.mod_revision)
            self._notify([Change(kind, self._put_cache(kind, obj), obj)])
        for kind, objs in self._objs.items():
            for oid in [o for o in objs if (kind, o) not in seen]:
                self._notify([Change(kind, self._drop_cache(kind, oid), None)])
        self.revision = max(self.revision, rev)
        return rev

    def _apply_event(self, ev: Event) -> None:
        kind, _, oid = ev.kv.key[len(PREFIX):].partition("/")
        typ = TYPE_OF.get(kind)
        if typ is None:
            return
        gone = self._deleted_at.get(ev.kv.key)
        if gone is not None:
            if ev.revision >= gone:
                del self._deleted_at[ev.kv.key]
            if ev.revision <= gone:
                return
        cur = self._objs[kind].get(oid)
        if cur is not None and cur.Version.Index >= ev.revision:
            return
        self.revision = max(self.revision, ev.revision)
        if ev.type == "delete":
            old = self._drop_cache(kind, oid)
            if old is not None:
                self._notify([Change(kind, old, None)])
            return
        obj = decode(typ, ev.kv.value)
        obj.Version = Version(Index=ev.revision)
        old = self._put_cache(kind, obj)
        self._notify([Change(kind, old, obj)])
