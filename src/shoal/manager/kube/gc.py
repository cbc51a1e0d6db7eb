"""The garbage collector (the leader's): Kubernetes' ``ownerReferences`` carried out.

An object of the Kubernetes kinds (``DEPENDENT_KINDS``) names its owners by uid in
``OwnerReferences`` (``api.meta.owner_references``). The collector keeps an index owner uid →
dependents, maintained from the store's changes, and works only on what a change made dirty: the
dependents to check, and the owners being deleted with one of its finalizers. What it does, as
Kubernetes' garbage collector does:

* a dependent none of whose owners exists any more (gone, never there, or in another namespace: an
  owner is found by uid, in the dependent's namespace or cluster-wide) is deleted, with the
  propagation its own finalizers ask for (Background unless ``orphan`` or ``foregroundDeletion``). A
  dependent with an owner still there stays, and loses its references to the owners that are gone
  or are deleting their dependents;
* ``Background`` deletion of an owner: the owner went at once; its dependents then have no owner;
* ``Foreground``: the owner carries the ``foregroundDeletion`` finalizer and a ``DeletionTimestamp``;
  its dependents are deleted (in the foreground too, when they have dependents of their own), and
  once none that ``BlockOwnerDeletion`` is left, the finalizer is removed and the owner goes
  (``KubeObjects.update`` deletes an object whose last finalizer is removed);
* ``Orphan``: the owner carries the ``orphan`` finalizer; the collector removes the owner's
  references from its dependents, then the finalizer, and the owner goes.

The deletions go through ``KubeObjects.delete`` (a Pod is deleted gracefully), with the dependent's
uid as precondition; a write that meets a newer version is tried again with what is there now.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import msgspec

from shoal.api.errors import Conflict, NotFound
from shoal.api.meta import (
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    OwnerReference,
    owner_references,
    set_owner_references,
)
from shoal.api.types import TYPE_OF, clone
from shoal.manager.kube.objects import KUBE_KINDS, NAMESPACED, KubeObjects, is_kube, object_name
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

# The kinds whose objects can have owners and be collected: every Kubernetes kind the core holds but
# Nodes (which leave with the swarm). A kind added to ``objects.KUBE_KINDS`` (ReplicaSets, ...) is
# collected with no change here.
DEPENDENT_KINDS = frozenset(KUBE_KINDS - {"nodes"})

Key = tuple[str, str]  # (kind, ID) of a dependent
T = TypeVar("T")


def deleting_dependents(obj: Any) -> bool:
    """Whether an object is being deleted in the foreground (it waits for its dependents)."""
    return bool(obj.DeletionTimestamp) and FOREGROUND_FINALIZER in (obj.Finalizers or ())


class GarbageCollector(Loop):
    """Deletes the dependents of deleted owners and carries out the ``foregroundDeletion`` and
    ``orphan`` finalizers (see the module's docstring)."""

    name = "gc"
    debounce = 0.05

    def __init__(self, store: ObjectStore, kube: KubeObjects) -> None:
        super().__init__()
        self.store = store
        self.kube = kube
        self.dependents: dict[str, set[Key]] = {}  # owner uid -> its dependents
        self.to_check: set[Key] = set()  # dependents whose owners are to be checked
        self.to_finish: set[str] = set()  # uids of owners whose GC finalizer is to be looked at

    # ------------------------------------------------------------ the index, from the store's changes

    def start(self) -> None:
        self.attach()
        super().start()

    def attach(self) -> None:
        """Follow the store's changes and index what it holds now (every dependent is checked once:
        owners may have gone while no leader collected). ``start`` does it; tests then ``settle``."""
        self._unsubscribe = self.store.subscribe(self.on_change)
        for kind in DEPENDENT_KINDS:
            found: Any
            for found in self.store.list(TYPE_OF[kind]):
                self._note(kind, None, found)
        self.kick()

    def on_change(self, ch: Change) -> None:
        if self._note(ch.kind, ch.old, ch.new):
            self.kick()

    @staticmethod
    def _refs(kind: str, obj: Any) -> list[OwnerReference]:
        if obj is None or kind not in DEPENDENT_KINDS or not is_kube(kind, obj):
            return []
        return owner_references(obj)

    def _note(self, kind: str, old: Any, new: Any) -> bool:
        """Index a change and mark what it makes dirty; whether anything was."""
        old_refs, new_refs = self._refs(kind, old), self._refs(kind, new)
        obj = new if new is not None else old
        dirty = False
        if old_refs or new_refs:
            key = (kind, obj.ID)
            now = {r.ID: r for r in new_refs}
            for r in old_refs:
                if now.get(r.ID) != r:  # removed or changed: the owner may wait no longer
                    self.to_finish.add(r.ID)
                    dirty = True
                    if r.ID not in now:
                        deps = self.dependents.get(r.ID)
                        if deps is not None:
                            deps.discard(key)
                            if not deps:
                                del self.dependents[r.ID]
            for uid in now:
                self.dependents.setdefault(uid, set()).add(key)
            if new is not None and new_refs and new_refs != old_refs:
                self.to_check.add(key)
                dirty = True
        if new is None:
            deps = self.dependents.get(old.ID)
            if deps:  # an owner gone: its dependents may have none left
                self.to_check.update(deps)
                dirty = True
        elif new.DeletionTimestamp and new.Finalizers and kind in DEPENDENT_KINDS:
            fins = new.Finalizers
            if ORPHAN_FINALIZER in fins or FOREGROUND_FINALIZER in fins:
                self.to_finish.add(new.ID)
                dirty = True
                if FOREGROUND_FINALIZER in fins and not (old is not None and deleting_dependents(old)):
                    self.to_check.update(self.dependents.get(new.ID, ()))  # they go first
        return dirty

    # ------------------------------------------------------------ the work

    async def tick(self) -> None:
        finish, self.to_finish = self.to_finish, set()
        await self._each(finish, self.to_finish, self._finish)
        check, self.to_check = self.to_check, set()
        await self._each(check, self.to_check, self._check)

    async def _each(self, pending: set[T], back: set[T], fn: Callable[[T], Awaitable[None]]) -> None:
        """``fn`` of every item; one that meets a newer version goes back for the next tick; on any
        other failure, it and the items not done yet go back, and the tick fails (retried later)."""
        while pending:
            item = pending.pop()
            try:
                await fn(item)
            except Conflict:
                back.add(item)
                self.kick()
            except BaseException:
                back.add(item)
                back.update(pending)
                raise

    def _find(self, uid: str) -> tuple[str, Any] | None:
        """The Kubernetes object of that uid (of a kind that can be deleted through the object API)."""
        for kind in DEPENDENT_KINDS:
            obj = self.store.get(TYPE_OF[kind], uid)
            if obj is not None and is_kube(kind, obj):
                return kind, obj
        return None

    def _owner(self, uid: str, namespace: str) -> Any | None:
        """The owner of that uid as a dependent of ``namespace`` sees it: any object of the store with
        that ID, cluster-scoped or in that namespace."""
        for typ in TYPE_OF.values():
            obj = self.store.get(typ, uid)
            if obj is not None:
                return None if obj.Namespace and obj.Namespace != namespace else obj
        return None

    def _live_dependents(self, uid: str) -> Iterable[tuple[str, Any]]:
        for kind, oid in list(self.dependents.get(uid, ())):
            dep = self.store.get(TYPE_OF[kind], oid)
            if dep is not None:
                yield kind, dep

    async def _finish(self, uid: str) -> None:
        """An owner being deleted with the ``orphan`` or ``foregroundDeletion`` finalizer: release its
        dependents, or wait for the blocking ones to be gone; then remove the finalizer."""
        found = self._find(uid)
        if found is None or not found[1].DeletionTimestamp:
            return
        kind, owner = found
        fins = owner.Finalizers or []
        if ORPHAN_FINALIZER in fins:
            for dkind, dep in self._live_dependents(uid):
                refs = owner_references(dep)
                keep = [r for r in refs if r.ID != uid]
                if len(keep) != len(refs):
                    await self._set_refs(dkind, dep, keep)
            await self._remove_finalizer(kind, owner, ORPHAN_FINALIZER)
        elif FOREGROUND_FINALIZER in fins:
            blocking = [(dkind, dep) for dkind, dep in self._live_dependents(uid)
                        if any(r.ID == uid and r.BlockOwnerDeletion for r in owner_references(dep))]
            if not blocking:
                await self._remove_finalizer(kind, owner, FOREGROUND_FINALIZER)
                return
            for dkind, dep in blocking:  # (checked in this tick, after the owners)
                if not deleting_dependents(dep):
                    self.to_check.add((dkind, dep.ID))

    async def _check(self, key: Key) -> None:
        """A dependent: deleted if none of its owners is left (or if those left wait for their
        dependents to go); its references to owners gone dropped if another owner stays."""
        kind, oid = key
        obj = self.store.get(TYPE_OF[kind], oid)
        if obj is None or not is_kube(kind, obj):
            return
        refs = owner_references(obj)
        if not refs:
            return
        if deleting_dependents(obj):
            self.to_finish.add(obj.ID)
            self.kick()
            return
        if obj.DeletionTimestamp:
            return  # on its way out already
        solid: list[OwnerReference] = []
        gone: list[OwnerReference] = []
        waiting: list[OwnerReference] = []
        for r in refs:
            owner = self._owner(r.ID, obj.Namespace)
            if owner is None:
                gone.append(r)
            elif deleting_dependents(owner):
                waiting.append(r)
            else:
                solid.append(r)
        if solid:
            if gone or waiting:
                await self._set_refs(kind, obj, solid)
            return
        fins = obj.Finalizers or []
        if waiting and self.dependents.get(obj.ID):
            policy = "Foreground"  # its owner waits for it, and it for its own dependents
            if any(deleting_dependents(dep) for _, dep in self._live_dependents(obj.ID)) and \
                    any(r.BlockOwnerDeletion for r in refs):
                # A dependent of its own waits for its dependents too: perhaps a cycle of owners.
                # Its owners stop waiting for it, as Kubernetes' collector breaks such cycles.
                await self._set_refs(kind, obj, [msgspec.structs.replace(r, BlockOwnerDeletion=False)
                                                  if r.BlockOwnerDeletion else r for r in refs])
                return  # checked again, as changed
        elif ORPHAN_FINALIZER in fins:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in fins:
            policy = "Foreground"
        else:
            policy = "Background"
        log.debug("gc: deleting %s %s/%s (%s)", kind, obj.Namespace, object_name(kind, obj), policy)
        try:
            await self.kube.delete(kind, obj.Namespace if kind in NAMESPACED else "", object_name(kind, obj),
                                   propagation=policy, uid=obj.ID)
        except NotFound:
            pass

    async def _set_refs(self, kind: str, obj: Any, refs: list[OwnerReference]) -> None:
        obj = clone(obj)
        set_owner_references(obj, refs)
        try:
            await self.kube.update(obj)
        except NotFound:
            pass

    async def _remove_finalizer(self, kind: str, obj: Any, finalizer: str) -> None:
        obj = clone(obj)
        obj.Finalizers = [f for f in obj.Finalizers or () if f != finalizer] or None
        try:
            await self.kube.update(obj)
        except NotFound:
            pass
