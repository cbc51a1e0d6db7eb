"""Cordon and drain are one thing on both sides: Kubernetes' ``spec.unschedulable`` is Swarm's node
availability (``api/nodelabels.py`` has the mapping, which the door's Node converter shares).

``kubectl cordon`` (``spec.unschedulable: true``) pauses an active node: new tasks and Pods keep
off it, those running stay, as a cordon. ``kubectl uncordon`` makes it active again. A node drained
in Swarm (``docker node update --availability drain``) reads as unschedulable and stays drained
through a cordon; its Swarm tasks move as Swarm's drain moves them. The scheduler refuses paused and
drained nodes alike, for Swarm tasks and Pods (``node(s) were unschedulable``), and retries pending
ones when a node becomes active again.
"""

from __future__ import annotations

from shoal.api import nodelabels
from shoal.api.errors import Conflict, NotFound
from shoal.api.types import Node
from shoal.store.objects import ObjectStore


async def set_unschedulable(store: ObjectStore, node_id: str, unschedulable: bool, version: int = 0) -> Node:
    """Write ``spec.unschedulable`` as the node's availability; returns the node as stored. ``version``
    (non-zero): the node's version the caller read (Conflict when it is stale). Nothing is written
    when the availability already says so."""
    cur = store.get(Node, node_id)
    if cur is None:
        raise NotFound(f'nodes "{node_id}" not found')
    if version and cur.Version.Index != version:
        raise Conflict(f'Operation cannot be fulfilled on nodes "{nodelabels.node_name(cur)}": the object has been '
                       "modified; please apply your changes to the latest version and try again")

    def change(n: Node) -> bool:
        want = nodelabels.availability(n, unschedulable)
        if n.Spec.Availability == want:
            return False
        n.Spec.Availability = want
        return True

    got = await store.update_with(Node, node_id, change, retries=1 if version else 10)
    if got is None:
        raise NotFound(f'nodes "{nodelabels.node_name(cur)}" not found')
    return got
