"""A task's extra ``/etc/hosts`` entries (``--host``), read once for the sandbox and the runtimes."""

from __future__ import annotations

from shoal.api.types import ContainerSpec


def extra_hosts(spec: ContainerSpec) -> list[tuple[str, list[str]]]:
    """The task's ``--host``s as (address, names): Swarm's form is "IP host [aliases...]"; Docker's
    "host:IP" is taken too."""
    out: list[tuple[str, list[str]]] = []
    for h in spec.Hosts or []:
        fields = h.split()
        if len(fields) == 1 and ":" in h:
            name, _, ip = h.partition(":")
            out.append((ip, [name]))
        elif fields:
            out.append((fields[0], fields[1:]))
    return out
