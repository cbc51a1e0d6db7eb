"""A container's requests of Kubernetes extended resources (``example.com/gpu: 2``) as the core's
generic resources: one discrete ask per resource, its name the kind (``api/generic.py`` says which of
a node's kinds serves it: ``example.com/gpu`` itself, or ``gpu`` as Swarm's nodes advertise it). The
scheduler counts them against what the node has left, as a Swarm service's ``--generic-resource``;
a node shows its generic resources in ``status.capacity`` and ``allocatable``."""

from __future__ import annotations

import msgspec

from shoal.api.generic import discrete, is_extended, kind_of
from shoal.api.types import GenericResource, Resources

__all__ = ["capacity", "is_extended", "with_extended"]


def capacity(advertised: list[GenericResource] | None) -> dict[str, str]:
    """A node's generic resources as ``status.capacity`` entries: a count per kind (a named kind: how
    many names), the kinds sorted."""
    counts: dict[str, int] = {}
    for r in advertised or ():
        if r.DiscreteResourceSpec is not None:
            counts[kind_of(r)] = counts.get(kind_of(r), 0) + int(r.DiscreteResourceSpec.get("Value", 0))
        elif r.NamedResourceSpec is not None:
            counts[kind_of(r)] = counts.get(kind_of(r), 0) + 1
    return {k: str(counts[k]) for k in sorted(counts)}


def with_extended(requests: Resources | None, extended: dict[str, int]) -> Resources:
    """``requests`` with the extended resources asked for (the ones of zero left out)."""
    asks = [discrete(kind, n) for kind, n in sorted(extended.items()) if n > 0]
    base = requests if requests is not None else Resources()
    return msgspec.structs.replace(base, GenericResources=[*(base.GenericResources or []), *asks] or None)
