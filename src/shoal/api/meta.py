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
- ``Owner``: the object that made this one and keeps it (a Swarm task's service).
- ``Generation``: the store bumps it when the spec changes (1 when created); a task's spec never
  changes (a new spec is a new task), so a task's stays 0. ``ObservedGeneration``: the generation a
  controller last acted on, written by that controller (the Kubernetes controllers; 0 for Swarm's).

The Docker front door shows only Docker's fields (``frontdoor/docker/wire.py``): ``META_ONLY`` lists
the others.
"""

from __future__ import annotations

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
META_ONLY = ("Namespace", "Annotations", "Owner", "Generation", "ObservedGeneration", "Finalizers",
             "DeletionTimestamp", "DeletionGracePeriodSeconds", "GenerateName", "ManagedFields")
