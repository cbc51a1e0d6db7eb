"""Typed object layer over a Backend: a local cache of every object, indexes, and batched CAS writes.

Reads come from the cache (no I/O, safe to call from any reconciler); writes go to the backend as one
transaction whose compares are the versions the caller read, and update the cache as soon as the
backend has written them (``on_written``), so a reconciler never sees its own write missing (the lag
that Kubernetes needs "expectations" for). ``commit`` returns, and listeners get a ``Change``, once the
backend has made the write durable (SQLite: its WAL fsynced); listeners must only mark work dirty.

Objects handed out by the cache are shared: never mutate one; ``clone`` it, change the copy, commit.

What must be unique (names, published ports, addresses) is claimed with index keys (``store/index.py``)
in the same transaction as the object, each compared absent; a claim that loses raises ``Taken``
naming the key and its owner. ``load`` builds the keys a store written before them lacks.
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

from shoal import metrics
from shoal.api.errors import Conflict
from shoal.api.types import (
    KIND_OF,
    META_NAMED,
    META_NAMED_WITH_SPEC,
    TYPE_OF,
    Node,
    Service,
    Task,
    Version,
    clone,
    decode,
    encode,
    now_ts,
)
from shoal.store.backend import KV, Backend, Compacted, Compare, CompareFailed, Delete, Event, Op, Put, StoreError
from shoal.store.index import INDEX_PREFIX, keys_of, owner_of, parse

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
    revision: int = 0  # the store revision that made it (0: not known, a reload's)


OUT_OF_SEQUENCE = "update out of sequence"
# The most compares (and so puts) one transaction may hold: etcd's --max-txn-ops as EtcdServer sets
# it. Callers that write many objects with index keys split their writes to stay under it.
MAX_TXN_OPS = 10_000


class Taken(Conflict):
    """An index key (a name, a published port, an address) is held by another object: ``key`` is the
    index key, ``what`` its parsed parts (``store.index.parse``), ``owner`` ``<kind>/<ID>`` of the
    holder ("" when it let go before we could ask). The control API words it as Docker does."""

    def __init__(self, key: str, owner: str) -> None:
        super().__init__(f"{key} is taken by {owner or 'another object'}")
        self.key = key
        self.what = parse(key)
        self.owner = owner

    @property
    def owner_id(self) -> str:
        return self.owner.partition("/")[2]


def _stamp(kind: str, obj: Any, old: Any) -> None:
    """The metadata the store keeps (``api/meta.py``): a Swarm kind's name and labels copied from its
    spec, and the generation, 1 when created and bumped when the spec changes. A task has neither."""
    if kind == "tasks":
        return
    if kind not in META_NAMED:
        obj.Name, obj.Labels = obj.Spec.Name, obj.Spec.Labels
    if old is None:
        obj.Generation = obj.Generation or 1
    elif (kind not in META_NAMED or kind in META_NAMED_WITH_SPEC) and obj.Spec is not old.Spec \
            and obj.Spec != old.Spec:
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
        index: dict[str, KV] = {}
        for kv in kvs:
            if kv.key.startswith(INDEX_PREFIX):
                index[kv.key] = kv
                continue
            kind, _, _oid = kv.key[len(PREFIX):].partition("/")
            typ = TYPE_OF.get(kind)
            if typ is None:
                continue
            obj = decode(typ, kv.value)
            obj.Version = Version(Index=kv.mod_revision)
            self._put_cache(kind, obj)
        self.revision = rev
        await self._backfill(index)
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
        # Index keys: claimed ones are compared absent after every object's own compare, so a stale
        # object reports "out of sequence" before a taken name does.
        claims: dict[str, str] = {}  # index key -> owner
        index_ops: builtins.list[Op] = []
        written: builtins.list[tuple[str, Any]] = []
        cache = self._objs
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
            if kind == "tasks" and not obj.NetworksAttachments and not obj.Namespace:
                continue
            for ik in keys_of(kind, obj):
                self._claim(claims, index_ops, ik, owner_of(kind, obj.ID))
        for obj in updates:
            kind = KIND_OF[type(obj)]
            obj.UpdatedAt = ts
            if kind != "tasks":
                _stamp(kind, obj, self._objs[kind].get(obj.ID))
            key = key_of(kind, obj.ID)
            compares.append(Compare(key, obj.Version.Index))
            ops.append(Put(key, encode(obj)))
            written.append((kind, obj))
            if kind == "tasks" and not obj.NetworksAttachments and not obj.Namespace:
                # The bulk of the writes: a task without networks holds no key. (A task's attachments
                # are given once, by the allocator, and never taken away, so it held none before.)
                continue
            old = cache[kind].get(obj.ID)
            new_keys = keys_of(kind, obj)
            old_keys = keys_of(kind, old) if old is not None else []
            if new_keys or old_keys:  # the keys the object holds move with it
                for ik in old_keys:
                    if ik not in new_keys:
                        index_ops.append(Delete(ik))
                for ik in new_keys:
                    if ik not in old_keys:
                        self._claim(claims, index_ops, ik, owner_of(kind, obj.ID))
        deleted: builtins.list[tuple[str, Any]] = []
        for obj in deletes:
            kind = KIND_OF[type(obj)]
            key = key_of(kind, obj.ID)
            compares.append(Compare(key, obj.Version.Index))
            ops.append(Delete(key))
            deleted.append((kind, obj))
            if kind == "tasks" and not obj.NetworksAttachments and not obj.Namespace:
                continue  # (read at the version compared: had it attachments since, the compare fails)
            held = cache[kind].get(obj.ID)
            index_ops.extend(Delete(ik) for ik in keys_of(kind, held if held is not None else obj))
        if not ops:
            return self.revision
        if claims:
            compares.extend(Compare(ik, 0) for ik in claims)
        if index_ops:
            ops.extend(index_ops)
        changes: builtins.list[Change] = []

        def apply(rev: int) -> None:
            """Into the cache as soon as the backend has written it (before its fsync: a commit of
            another coroutine meanwhile compares against it, not a stale version); announced below,
            once acknowledged."""
            self.revision = max(self.revision, rev)
            for kind, obj in written:
                obj.Version = Version(Index=rev)
                cached = self._objs[kind].get(obj.ID)
                if cached is not None and cached.Version.Index >= rev:
                    continue  # our watch delivered this very write (or a newer one) first: already announced
                old = self._put_cache(kind, obj)
                changes.append(Change(kind, old, obj, rev))
            for kind, obj in deleted:
                if self._watch_backend:
                    self._deleted_at[key_of(kind, obj.ID)] = rev
                old = self._drop_cache(kind, obj.ID)
                if old is not None:
                    changes.append(Change(kind, old, None, rev))

        try:
            with metrics.commit_timer(CompareFailed):
                rev, _ = await self.backend.txn(compares, ops, apply)
        except CompareFailed as e:
            failed = str(e.args[0]) if e.args else ""
            if failed.startswith(INDEX_PREFIX):
                raise Taken(failed, await self._owner(failed)) from e
            raise Conflict(OUT_OF_SEQUENCE) from e
        self._notify(changes)
        return rev

    @staticmethod
    def _claim(claims: dict[str, str], ops: builtins.list[Op], key: str, owner: str) -> None:
        other = claims.get(key)
        if other is not None and other != owner:
            raise Taken(key, other)  # two objects of one commit claim the same thing
        if other is None:
            claims[key] = owner
            ops.append(Put(key, owner.encode()))

    async def _owner(self, index_key: str) -> str:
        kv, _ = await self.backend.get(index_key)
        return kv.value.decode() if kv is not None else ""

    async def fetch(self, typ: type[T], oid: str) -> T | None:
        """An object as the backend has it now, past the cache (which may lag another manager's write)."""
        kv, _ = await self.backend.get(key_of(KIND_OF[typ], oid))
        if kv is None:
            return None
        obj = decode(typ, kv.value)
        obj.Version = Version(Index=kv.mod_revision)
        return obj

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

    async def _backfill(self, index: dict[str, KV]) -> None:
        """Make the index keys agree with the objects just loaded (one ``range``, so one revision):
        claim the keys an object holds but a store written before index keys lacks, and drop keys
        nobody holds. Each write compares the object's revision and the key's, so it is idempotent
        and safe while other managers write (or backfill) too; a key another object claimed first is
        left to it, with a warning (a duplicate the old request path let through)."""
        missing: builtins.list[tuple[str, Any, builtins.list[str]]] = []
        held: dict[str, str] = {}  # index key -> the first object that holds it
        for kind, objs in self._objs.items():
            for obj in objs.values():
                keys = keys_of(kind, obj)
                if not keys:
                    continue
                owner = owner_of(kind, obj.ID)
                lacking = []
                for k in dict.fromkeys(keys):
                    first = held.setdefault(k, owner)
                    if first != owner:
                        log.warning("store: %s %s keeps no index key %s (held by %s)", kind, obj.ID, k, first)
                    elif k not in index:
                        lacking.append(k)
                if lacking:
                    missing.append((kind, obj, lacking))
        stale = [kv for k, kv in index.items() if k not in held]
        if not missing and not stale:
            return
        log.info("store: building %d objects' index keys, dropping %d stale ones",
                 len(missing), len(stale))
        for kv in stale:
            with contextlib.suppress(CompareFailed):
                await self.backend.txn([Compare(kv.key, kv.mod_revision)], [Delete(kv.key)])
        batch: builtins.list[tuple[str, Any, builtins.list[str]]] = []
        size = 0
        for item in missing:
            if batch and size + 1 + len(item[2]) > MAX_TXN_OPS:
                await self._backfill_batch(batch)
                batch, size = [], 0
            batch.append(item)
            size += 1 + len(item[2])
        if batch:
            await self._backfill_batch(batch)

    async def _backfill_batch(self, batch: builtins.list[tuple[str, Any, builtins.list[str]]]) -> None:
        try:
            await self.backend.txn(*self._backfill_ops(batch))
        except CompareFailed:
            for one in batch:  # someone wrote meanwhile: one object at a time, skipping what lost
                try:
                    await self.backend.txn(*self._backfill_ops([one]))
                except CompareFailed as e:
                    key = str(e.args[0]) if e.args else "?"
                    log.warning("store: %s %s keeps no index key %s (held by %s)", one[0], one[1].ID, key,
                                await self._owner(key) if key.startswith(INDEX_PREFIX) else "a newer write")

    @staticmethod
    def _backfill_ops(batch: builtins.list[tuple[str, Any, builtins.list[str]]]) \
            -> tuple[builtins.list[Compare], builtins.list[Op]]:
        compares: builtins.list[Compare] = []
        ops: builtins.list[Op] = []
        for kind, obj, keys in batch:
            compares.append(Compare(key_of(kind, obj.ID), obj.Version.Index))
            for k in keys:
                compares.append(Compare(k, 0))
                ops.append(Put(k, owner_of(kind, obj.ID).encode()))
        return compares, ops

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
            self._notify([Change(kind, self._put_cache(kind, obj), obj, kv.mod_revision)])
        for kind, objs in self._objs.items():
            for oid in [o for o in objs if (kind, o) not in seen]:
                self._notify([Change(kind, self._drop_cache(kind, oid), None, rev)])
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
                self._notify([Change(kind, old, None, ev.revision)])
            return
        obj = decode(typ, ev.kv.value)
        obj.Version = Version(Index=ev.revision)
        old = self._put_cache(kind, obj)
        self._notify([Change(kind, old, obj, ev.revision)])
