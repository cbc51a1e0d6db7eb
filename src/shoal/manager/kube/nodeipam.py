"""Node IPAM (the leader's): each node's block of the cluster's pod range, as kube-controller-manager's
node IPAM controller (range allocator) gives it.

The pod range (``ClusterCIDR``, 100.64.0.0/16 by default) is cut into blocks of ``NodeCIDRMaskSize``
(/24): a node gets the lowest free one when it joins (and, at a leader's start, every node that has
none yet), keeps it for its life (``Node.PodCIDRs``: Kubernetes' ``spec.podCIDR``/``spec.podCIDRs``),
and gives it back when it is removed. A block is claimed with an index key in the node's own write
(``store/index.py``: ``ip/kube-pod-range/<first address>``), so two managers can never give one block
twice; a block whose key another write holds, which this cache has not seen yet, is set aside and
the allocation made again. When the range has no block left the node gets none, and the event
``CIDRNotAvailable`` (``Node <name> status is now: CIDRNotAvailable``, from ``cidrAllocator``) says so
once a node and leader; it gets one when a block is freed. A cluster of thousands of hollow nodes
exhausts a /16 of /24s: that is expected, and those nodes wire no Pods anyway.

What a block means on a node (the pod bridge, the VXLAN routes to the others' blocks) is the
dispatcher's push (``Assignments.podnet``) and ``network/podnet.py``'s.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterator

import msgspec

from shoal.api import nodelabels
from shoal.api.errors import Conflict
from shoal.api.kubenet import settings_of
from shoal.api.types import Cluster, Node
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore, Taken

log = logging.getLogger(__name__)

COMPONENT = "cidrAllocator"
CIDR_NOT_AVAILABLE = "CIDRNotAvailable"
BATCH = 1000  # nodes written in one transaction (each claims one key: well under etcd's limit)

# (node name, reason, message, component): the events controller's ``record_node``.
Recorder = Callable[[str, str, str, str], None]


def blocks(cluster_cidr: str, mask: int) -> Iterator[str]:
    """The pod range's blocks of size ``mask``, lowest first (none when the mask is shorter than the range's)."""
    net = ipaddress.IPv4Network(cluster_cidr, strict=False)
    if mask < net.prefixlen or mask > 32:
        return iter(())
    return (str(b) for b in net.subnets(new_prefix=mask))


class NodeIPAM(Loop):
    name = "nodeipam"
    debounce = 0.02  # one pass for a burst of joins

    def __init__(self, store: ObjectStore, record: Recorder | None = None) -> None:
        super().__init__()
        self.store = store
        self.record = record
        self.taken_elsewhere: set[str] = set()  # blocks whose key another write holds (not yet in this cache)
        self.reported: set[str] = set()  # nodes told CIDRNotAvailable by this leader

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        super().start()
        self.kick()  # the nodes that joined under an earlier leader, or before the pod network

    def on_change(self, ch: Change) -> None:
        if ch.kind == "nodes":
            if ch.new is None:
                self.reported.discard(ch.old.ID)
                if ch.old.PodCIDRs and self.reported:
                    self.kick()  # a block freed: a node without one may have it
            elif not ch.new.PodCIDRs:
                self.kick()
        elif ch.kind == "clusters":
            self.kick()

    async def tick(self) -> None:
        cluster = next(iter(self.store.list(Cluster)), None)
        if cluster is None:
            return
        settings = settings_of(cluster)
        nodes = self.store.list(Node)
        waiting = sorted((n for n in nodes if not n.PodCIDRs), key=lambda n: (n.CreatedAt, n.ID))
        if not waiting:
            return
        used = {b for n in nodes for b in n.PodCIDRs or []} | self.taken_elsewhere
        free = (b for b in blocks(settings.ClusterCIDR, settings.NodeCIDRMaskSize) if b not in used)
        updates: list[Node] = []
        for n in waiting:
            block = next(free, None)
            if block is None:
                self._exhausted(n)
                continue
            updates.append(msgspec.structs.replace(n, PodCIDRs=[block]))
        for i in range(0, len(updates), BATCH):
            batch = updates[i:i + BATCH]
            try:
                await self.store.commit(updates=batch)
            except Taken as e:
                if e.what[0] == "ip":
                    self.taken_elsewhere.add(self._block_of(e.what[2], batch))
                self.kick()
                return
            except Conflict:  # a node changed (or went) meanwhile: look again
                self.kick()
                return
        self.taken_elsewhere.clear()  # known to the cache by now, or free again

    @staticmethod
    def _block_of(addr: str, batch: list[Node]) -> str:
        for n in batch:
            for b in n.PodCIDRs or []:
                if b.split("/")[0] == addr:
                    return b
        return addr

    def _exhausted(self, n: Node) -> None:
        if n.ID in self.reported:
            return
        self.reported.add(n.ID)
        name = nodelabels.node_name(n)
        log.info("node %s: no block of the pod range is left", name)
        if self.record is not None:
            self.record(name, CIDR_NOT_AVAILABLE, f"Node {name} status is now: {CIDR_NOT_AVAILABLE}", COMPONENT)
