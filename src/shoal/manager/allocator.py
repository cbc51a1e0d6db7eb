"""The allocator: the step between a task being made and being scheduled.

Tasks are made ``new``; the allocator gives them what they need from the cluster before they can be
placed and moves them to ``pending``: an address on each network of the service (the task's
``NetworksAttachments``, the lowest free address of the network's subnet; an address is free again
once its task has stopped). VIPs and published ports will be allocated here too.
"""

from __future__ import annotations

import logging

from shoal.api.errors import Conflict
from shoal.api.states import STATE_MESSAGE, TaskState
from shoal.api.types import Network, NetworkAttachment, Service, Task, clone, now_ts
from shoal.manager.loop import Loop
from shoal.network import ipam
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)


def addresses_in_use(tasks: list[Task], services: list[Service]) -> dict[str, set[str]]:
    """Per network ID, the addresses of tasks that have not stopped and the services' virtual IPs
    (without the prefix length)."""
    used: dict[str, set[str]] = {}
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

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        self.new.update(t.ID for t in self.store.list(Task) if t.Status.State == TaskState.NEW)
        super().start()
        self.kick()

    def on_change(self, ch: Change) -> None:
        if ch.kind == "tasks" and ch.new is not None and ch.new.Status.State == TaskState.NEW:
            self.new.add(ch.new.ID)
            self.kick()

    async def tick(self) -> None:
        todo, self.new = self.new, set()
        updates = []
        used: dict[str, set[str]] | None = None
        for tid in todo:
            t = self.store.get(Task, tid)
            if t is None or t.Status.State != TaskState.NEW or t.DesiredState > TaskState.RUNNING:
                continue
            nt = clone(t)
            if nt.Spec.Networks and not nt.NetworksAttachments:
                if used is None:
                    used = addresses_in_use(self.store.list(Task), self.store.list(Service))
                err = self._attach(nt, used)
                if err:
                    log.warning("task %s: %s", nt.ID, err)
                    continue
            nt.Status.State = TaskState.PENDING
            nt.Status.Message = STATE_MESSAGE[TaskState.PENDING]
            nt.Status.Timestamp = now_ts()
            updates.append(nt)
        if not updates:
            return
        try:
            await self.store.commit(updates=updates)
        except Conflict:
            self.new |= {t.ID for t in updates}
            self.kick()

    def _attach(self, t: Task, used: dict[str, set[str]]) -> str:
        """Give ``t`` an address on each of its networks; the reason it cannot, or ""."""
        attachments = []
        for cfg in t.Spec.Networks or []:
            net = self.store.get(Network, cfg.Target)
            if net is None:
                return f"network {cfg.Target} not found"
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
