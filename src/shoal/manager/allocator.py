"""The allocator: the step between a task being made and being scheduled.

Tasks are made ``new``; the allocator gives them what they need from the cluster before they can be
placed and moves them to ``pending``: an address on each network of the service (the task's
``NetworksAttachments``, the lowest free address of the network's subnet; an address is free again
once its task has stopped), and first on the ``ingress`` network when the service publishes ports
through the routing mesh. Once some service publishes a port, each node gets its own address on the
ingress network (``Attachments``, from the top of the subnet): the source of the mesh's traffic to
tasks on other nodes. A task that needs nothing of it (no networks, no published ports) is made
``pending`` at once (``needs_allocation``): one write less per task, which counts at a million tasks.

The allocator runs on the leader only, but virtual IPs are chosen by whichever manager takes the
request, so the addresses it hands out are claimed with index keys in the same write (``store/index.py``);
an address another manager took first, which this cache has not seen yet, is set aside and the
allocation made again.
"""

from __future__ import annotations

import logging

import msgspec

from shoal.api.errors import Conflict
from shoal.api.states import STATE_MESSAGE, TaskState
from shoal.api.types import Network, NetworkAttachment, Node, Service, Task, clone, now_ts
from shoal.manager.loop import Loop
from shoal.network import ipam
from shoal.store.objects import MAX_TXN_OPS, Change, ObjectStore, Taken

log = logging.getLogger(__name__)


def _ingress_ports(t: Task) -> bool:
    """Whether the task publishes ports: through the mesh, or on its node (``mode=host``, which reaches
    the task through its address on the ingress network too)."""
    return any(p.PublishMode == "ingress" or p.PublishedPort for p in (t.Endpoint.Ports if t.Endpoint else None)
               or [])


def needs_allocation(t: Task) -> bool:
    return bool(t.Spec.Networks) or _ingress_ports(t)


def addresses_in_use(tasks: list[Task], services: list[Service], nodes: list[Node]) -> dict[str, set[str]]:
    """Per network ID, the addresses of tasks that have not stopped, the services' virtual IPs and
    the nodes' own (without the prefix length)."""
    used: dict[str, set[str]] = {}
    for n in nodes:
        for a in n.Attachments or []:
            used.setdefault(a.Network.ID, set()).update(addr.split("/")[0] for addr in a.Addresses)
    for t in tasks:
        if t.NetworksAttachments and t.Status.State <= TaskState.RUNNING:
            for a in t.NetworksAttachments:
                used.setdefault(a.Network.ID, set()).update(addr.split("/")[0] for addr in a.Addresses)
    for s in services:
        for v in (s.Endpoint.VirtualIPs if s.Endpoint else None) or []:
            used.setdefault(str(v.get("NetworkID")), set()).add(str(v.get("Addr", "")).split("/")[0])
    return used


class Allocator(Loop):
    name = "allocator"

    def __init__(self, store: ObjectStore) -> None:
        super().__init__()
        self.store = store
        self.new: set[str] = set()
        # Addresses whose index key another manager holds that this cache has not seen yet, per network.
        self.taken_elsewhere: dict[str, set[str]] = {}

    def _in_use(self) -> dict[str, set[str]]:
        used = addresses_in_use(self.store.list(Task), self.store.list(Service), self.store.list(Node))
        for net, addrs in self.taken_elsewhere.items():
            used.setdefault(net, set()).update(addrs)
        return used

    def _lost(self, e: Taken) -> None:
        if e.what[0] == "ip":
            self.taken_elsewhere.setdefault(e.what[1], set()).add(e.what[2])

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        self.new.update(t.ID for t in self.store.list(Task) if t.Status.State == TaskState.NEW)
        super().start()
        self.kick()

    def on_change(self, ch: Change) -> None:
        if ch.kind == "tasks" and ch.new is not None and ch.new.Status.State == TaskState.NEW:
            self.new.add(ch.new.ID)
            self.kick()
        elif (ch.kind == "nodes" and ch.new is not None and not ch.new.Attachments) or \
                (ch.kind == "networks" and ch.new is not None and ch.new.Spec.Ingress) or \
                (ch.kind == "services" and ch.new is not None and bool(ch.new.Endpoint and ch.new.Endpoint.Ports)):
            self.kick()  # a node without its ingress address, a new ingress network, published ports

    async def tick(self) -> None:
        await self._attach_nodes()
        todo, self.new = self.new, set()
        updates = []
        used: dict[str, set[str]] | None = None
        for tid in todo:
            t = self.store.get(Task, tid)
            if t is None or t.Status.State != TaskState.NEW or t.DesiredState > TaskState.COMPLETE:  # job: complete
                continue
            # A shallow copy (stored objects are never changed in place); a deep one to attach networks.
            status = msgspec.structs.replace(t.Status, State=TaskState.PENDING,
                                             Message=STATE_MESSAGE[TaskState.PENDING], Timestamp=now_ts())
            nt = msgspec.structs.replace(t, Status=status)
            if needs_allocation(nt) and not nt.NetworksAttachments:
                nt = clone(nt)
                if used is None:
                    used = self._in_use()
                err = self._attach(nt, used)
                if err:
                    log.warning("task %s: %s", nt.ID, err)
                    continue
            updates.append(nt)
        if not updates:
            return
        # In transactions of at most MAX_TXN_OPS compares: a task's own and one per address it claims.
        batches: list[list[Task]] = [[]]
        size = 0
        for nt in updates:
            n = 1 + sum(len(a.Addresses) for a in nt.NetworksAttachments or [])
            if batches[-1] and size + n > MAX_TXN_OPS:
                batches.append([])
                size = 0
            batches[-1].append(nt)
            size += n
        for i, batch in enumerate(batches):
            try:
                await self.store.commit(updates=batch)
            except Conflict as e:
                if isinstance(e, Taken):
                    self._lost(e)
                self.new |= {t.ID for b in batches[i:] for t in b}
                self.kick()
                return
        self.taken_elsewhere.clear()  # known to the cache by now, or free again

    async def _attach_nodes(self) -> None:
        """Give every node that lacks one an address on the ingress network."""
        ingress = next((n for n in self.store.list(Network) if n.Spec.Ingress), None)
        if ingress is None or not ingress.IPAMOptions.Configs or not any(
                p.PublishMode == "ingress" or p.PublishedPort for svc in self.store.list(Service)
                for p in (svc.Endpoint.Ports if svc.Endpoint else None) or []):
            return  # nodes join the routing mesh only once some service publishes a port
        bare = [n for n in self.store.list(Node) if not n.Attachments]
        if not bare:
            return
        conf = ingress.IPAMOptions.Configs[0]
        used = self._in_use().get(ingress.ID, set())
        updates: list[Node] = []
        for n in bare:
            try:
                addr = ipam.allocate_address_from_top(conf.Subnet, conf.Gateway, used)
            except ipam.IPAMError as e:
                log.warning("%d nodes without an ingress address: %s", len(bare) - len(updates), e)
                break
            used.add(addr.split("/")[0])
            nn = clone(n)
            nn.Attachments = [NetworkAttachment(Network=ingress, Addresses=[addr])]
            updates.append(nn)
        step = MAX_TXN_OPS // 2  # a node's compare and its address's
        for i in range(0, len(updates), step):
            try:
                await self.store.commit(updates=updates[i:i + step])
            except Conflict as e:
                if isinstance(e, Taken):
                    self._lost(e)
                self.kick()
                return

    def _attach(self, t: Task, used: dict[str, set[str]]) -> str:
        """Give ``t`` an address on each of its networks; the reason it cannot, or ""."""
        attachments = []
        targets = [cfg.Target for cfg in t.Spec.Networks or []]
        if _ingress_ports(t):
            ingress = next((n for n in self.store.list(Network) if n.Spec.Ingress), None)
            if ingress is None:
                return "the ingress network is missing"
            targets.insert(0, ingress.ID)
        for target in targets:
            net = self.store.get(Network, target)
            if net is None:
                return f"network {target} not found"
            if not net.IPAMOptions.Configs:
                return f"network {net.Spec.Name} has no subnet"
            conf = net.IPAMOptions.Configs[0]
            taken = used.setdefault(net.ID, set())
            try:
                addr = ipam.allocate_address(conf.Subnet, conf.Gateway, taken, conf.Range)
            except ipam.IPAMError as e:
                return str(e)
            taken.add(addr.split("/")[0])
            attachments.append(NetworkAttachment(Network=net, Addresses=[addr]))
        t.NetworksAttachments = attachments
        return ""
