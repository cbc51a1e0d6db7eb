"""Object metadata: what every stored object has, whatever its kind (``ObjectMeta``), the references
between objects (``ObjectRef``), and the struct base every core type shares (``Base``).

Every kind in ``api/types.py`` (Node, Service, Task, Network, Secret, Config, Cluster) is an
``ObjectMeta``: its fields come first in the object, so ``obj.ID``, ``obj.Version`` read as before.

- ``ID``, ``Version`` (the store revision of the last write), ``CreatedAt``, ``UpdatedAt``: as the
  Docker API has them; the store sets the last three.
- ``Name`` and ``Labels``: the object's. A Swarm kind keeps its name and labels in its spec, where
  Docker (SwarmKit's ``Annotations``) has them, and the store copies them here on every write, so a
  reader of any kind finds them in one place; a task's are its own, as Docker has them.
- ``Namespace``, ``Annotations``, ``Finalizers``: Kubernetes'; empty for the Swarm kinds.
- ``Owner``: the object that made this one and keeps it (a Swarm task's service; a Kubernetes object's
  controller). ``OwnerReferences``: every owner of a Kubernetes object (Kubernetes'
  ``metadata.ownerReferences``), the controller among them; the garbage collector
  (``manager/kube/gc.py``) deletes an object once none of them exists. ``set_owner_references``
  writes both, so ``Owner`` is always the list's controller; ``owner_references`` reads the list, or
  the controller alone of an object written with ``Owner`` only.
- ``Generation``: the store bumps it when the spec changes (1 when created); a task's spec never
  changes (a new spec is a new task), so a task's stays 0. ``ObservedGeneration``: the generation a
  controller last acted on, written by that controller (the Kubernetes controllers; 0 for Swarm's).

The Docker front door shows only Docker's fields (``frontdoor/docker/wire.py``): ``META_ONLY`` lists
the others.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from msgspec import field


class Base(msgspec.Struct, kw_only=True, gc=False):
    """Common base: keyword-only construction; every field is written, as Go writes zero values (the
    task's own structs, which no client sees as they are, leave their zero values out: a stored task
    is half the bytes).

    Objects are trees (never a reference cycle), so the cyclic garbage collector need not track them
    (``gc=False``): with a million tasks in memory, its full passes over them took a third of the
    manager's time."""


class Version(Base):
    Index: int = 0


VersionRef = Version  # for fields declared after a field named ``Version`` (which shadows the type)


class ObjectRef(Base, omit_defaults=True):
    """A reference to another object: its kind (``SERVICE_KIND`` for a Swarm task's owner), ID and
    name (the name when the reference was made, for display; the ID is what identifies)."""

    Kind: str = ""
    ID: str = ""
    Name: str = ""


class OwnerReference(Base, omit_defaults=True):
    """One owner of a Kubernetes object (an entry of ``metadata.ownerReferences``): ``ID`` is its uid.
    ``Controller``: the owner is the object's controller (at most one is); ``BlockOwnerDeletion``: a
    foreground deletion of the owner waits for this object to be gone. Both are unset (None) unless
    written, as Kubernetes keeps them."""

    APIVersion: str = ""
    Kind: str = ""
    Name: str = ""
    ID: str = ""
    Controller: bool | None = None
    BlockOwnerDeletion: bool | None = None


class ObjectMeta(Base):
    ID: str = ""
    Version: Version = field(default_factory=Version)
    CreatedAt: str = ""
    UpdatedAt: str = ""
    Name: str = ""
    Labels: dict[str, str] | None = None
    Namespace: str = ""
    Annotations: dict[str, str] | None = None
    Owner: ObjectRef | None = None
    OwnerReferences: list[OwnerReference] | None = None
    Generation: int = 0
    ObservedGeneration: int = 0
    Finalizers: list[str] | None = None
    # Kubernetes': when a graceful deletion began and how long it allows (seconds); the name prefix a
    # name was generated from; who wrote which fields (server-side apply's ``managedFields``, as JSON).
    DeletionTimestamp: str = ""
    DeletionGracePeriodSeconds: int | None = None
    GenerateName: str = ""
    ManagedFields: list[dict[str, Any]] | None = None


# The metadata fields Docker's objects do not have (Name and Labels are a task's in Docker's shape).
META_ONLY = ("Namespace", "Annotations", "Owner", "OwnerReferences", "Generation", "ObservedGeneration", "Finalizers",
             "DeletionTimestamp", "DeletionGracePeriodSeconds", "GenerateName", "ManagedFields")


# Kubernetes' finalizers of the garbage collector: the owner waits for its dependents to be deleted
# (``propagationPolicy: Foreground``), or for them to be released (``Orphan``).
FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"


def owner_references(meta: ObjectMeta) -> list[OwnerReference]:
    """Every owner of an object: ``OwnerReferences``, or, for an object written with ``Owner`` alone
    (a controller that sets only that), its controller (blocking a foreground deletion, as the
    controllers write it)."""
    if meta.OwnerReferences is not None:
        return meta.OwnerReferences
    o = meta.Owner
    if o is None or not o.ID:
        return []
    return [OwnerReference(Kind=o.Kind, Name=o.Name, ID=o.ID, Controller=True, BlockOwnerDeletion=True)]


def set_owner_references(meta: ObjectMeta, refs: list[OwnerReference] | None) -> None:
    """Set an object's owners, and ``Owner`` to their controller (none: an empty ``ObjectRef`` where
    the kind always has one, a task's; None elsewhere)."""
    meta.OwnerReferences = list(refs) if refs else None
    ctl = next((r for r in refs or () if r.Controller), None)
    if ctl is not None:
        meta.Owner = ObjectRef(Kind=ctl.Kind, ID=ctl.ID, Name=ctl.Name)
    else:
        meta.Owner = ObjectRef() if _owner_required(type(meta)) else None


def normalize_owners(meta: ObjectMeta) -> None:
    """Make ``OwnerReferences`` and ``Owner`` agree before a write: the list is what counts; an object
    given only ``Owner`` gets the list of that one controller."""
    set_owner_references(meta, owner_references(meta))


@functools.cache
def _owner_required(typ: type) -> bool:
    """Whether the kind's ``Owner`` is never None (a task's: Swarm's tasks always have their service)."""
    for f in msgspec.structs.fields(typ):
        if f.name == "Owner":
            return f.default is not None
    return False
