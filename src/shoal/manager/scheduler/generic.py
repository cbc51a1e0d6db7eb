"""Generic resources (GPUs, FPGAs, …) as SwarmKit keeps them: what a node advertises, what a task asks
for, and what the scheduler hands out.

A node advertises each kind either as a count (*discrete*, ``gpu=4``) or as a set of names (*named*,
``gpu=GPU-1a2b`` given several times); dockerd's ``--node-generic-resource`` and ``shoal daemon
--node-generic-resource`` take those terms. A service can only ask for counts (``--generic-resource
gpu=2``). On a node with named resources the task is given that many names; on a node with a count
the count is taken. What a task was given is written in its ``GenericResources`` (the Engine API's
``AssignedGenericResources``) and given back when the task stops. A kind whose count or set runs out
leaves the node's pool, as in SwarmKit, so even ``gpu=0`` then fails there.

Parsing and formatting the terms (SwarmKit's ``genericresource.Parse``) is a core rule the command
line uses too: ``api/generic.py``. This module is the scheduler's accounting (``Pool``).
"""

from __future__ import annotations

from collections.abc import Iterable

from shoal.api.generic import discrete, kind_of, named, node_kind
from shoal.api.types import GenericResource


class Pool:
    """What is left of a node's generic resources: a count per discrete kind, names per named kind."""

    __slots__ = ("counts", "names")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.names: dict[str, list[str]] = {}

    @classmethod
    def of(cls, advertised: Iterable[GenericResource] | None) -> Pool:
        p = cls()
        for r in advertised or ():
            if r.DiscreteResourceSpec is not None:
                p.counts[kind_of(r)] = p.counts.get(kind_of(r), 0) + int(r.DiscreteResourceSpec.get("Value", 0))
            elif r.NamedResourceSpec is not None:
                p.names.setdefault(kind_of(r), []).append(str(r.NamedResourceSpec.get("Value", "")))
        return p

    def __bool__(self) -> bool:
        return bool(self.counts or self.names)

    def _kind(self, kind: str) -> str:
        """The node's kind that serves an ask of ``kind`` (a Pod's ``example.com/gpu`` may be served by
        ``gpu``: ``api/generic.node_kind``)."""
        if kind in self.counts or kind in self.names or "/" not in kind:
            return kind
        return node_kind(kind, (*self.counts, *self.names))

    def has_enough(self, ask: GenericResource) -> bool:
        """SwarmKit's ``HasEnough``: a task may only ask for counts; the kind must be left on the node."""
        if ask.DiscreteResourceSpec is None:
            return False
        kind, want = self._kind(kind_of(ask)), int(ask.DiscreteResourceSpec.get("Value", 0))
        if kind in self.counts:
            return want <= self.counts[kind]
        if kind in self.names:
            return want <= len(self.names[kind])
        return False

    def claim(self, asks: Iterable[GenericResource]) -> list[GenericResource]:
        """Take what a task asks for (checked with ``has_enough`` first); returns what it was given."""
        given: list[GenericResource] = []
        for ask in asks:
            if ask.DiscreteResourceSpec is None:
                continue
            kind, want = self._kind(kind_of(ask)), int(ask.DiscreteResourceSpec.get("Value", 0))
            if kind in self.counts:
                if want and self.counts[kind] >= want:
                    given.append(discrete(kind, want))
            elif kind in self.names:
                given.extend(named(kind, v) for v in self.names[kind][:want])
        self.take(given)
        return given

    def take(self, given: Iterable[GenericResource]) -> None:
        for r in given:
            kind = kind_of(r)
            if r.DiscreteResourceSpec is not None and kind in self.counts:
                left = self.counts[kind] - int(r.DiscreteResourceSpec.get("Value", 0))
                if left > 0:
                    self.counts[kind] = left
                else:
                    del self.counts[kind]
            elif r.NamedResourceSpec is not None and kind in self.names:
                names = self.names[kind]
                value = str(r.NamedResourceSpec.get("Value", ""))
                if value in names:
                    names.remove(value)
                if not names:
                    del self.names[kind]

    def give_back(self, given: Iterable[GenericResource]) -> None:
        for r in given:
            kind = kind_of(r)
            if r.DiscreteResourceSpec is not None:
                self.counts[kind] = self.counts.get(kind, 0) + int(r.DiscreteResourceSpec.get("Value", 0))
            elif r.NamedResourceSpec is not None:
                self.names.setdefault(kind, []).append(str(r.NamedResourceSpec.get("Value", "")))
