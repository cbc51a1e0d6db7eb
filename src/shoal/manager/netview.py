"""The networks' view on the manager, kept up to date change by change (an endpoints controller).

``NetView`` follows the store's changes (the dispatcher hands it each one) and keeps, without ever
rescanning the store:

* for each network, which nodes have active tasks on it (``members``: the overlay's peers), and
* for each network, each service's endpoint on it (``network/endpoints.py``): name, mode, VIP,
  aliases, and its *running* tasks' addresses there.

A task counts on its node (a peer of the network) while it has a node and neither its state nor its
desired state has gone past ``running``; as a backend while it is ``running`` and its desired state
has not gone past ``running`` (a task being stopped is no backend any more; its node stays a peer
until it has stopped). ``endpoints`` rebuilds only the networks that something changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shoal.api.endpoints import Endpoint, NetworkEndpoints, View
from shoal.api.states import TaskState
from shoal.api.types import Network, Service, Task
from shoal.store.objects import Change, ObjectStore


@dataclass
class _ServiceInfo:
    name: str
    mode: str
    vips: dict[str, str]  # network → VIP
    aliases: dict[str, tuple[str, ...]]  # network → aliases (the service's networks)


@dataclass
class NetView:
    members: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # network → node → active tasks
    _backends: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (svc, net) → task → addr
    _services: dict[str, _ServiceInfo] = field(default_factory=dict)
    _net_names: dict[str, str] = field(default_factory=dict)
    _endpoints: View = field(default_factory=dict)
    _stale: set[str] = field(default_factory=set)  # networks whose endpoints must be rebuilt

    @classmethod
    def of(cls, store: ObjectStore) -> NetView:
        """The view of what the store holds now (once, when the dispatcher starts)."""
        v = cls()
        for n in store.list(Network):
            v._net_names[n.ID] = n.Spec.Name
        for s in store.list(Service):
            v._service(None, s)
        for t in store.list(Task):
            v._task(None, t)
        return v

    # ------------------------------------------------------------ changes

    def apply(self, ch: Change) -> None:
        if ch.kind == "tasks":
            self._task(ch.old, ch.new)
        elif ch.kind == "services":
            self._service(ch.old, ch.new)
        elif ch.kind == "networks":
            if ch.new is None:
                self._net_names.pop(ch.old.ID, None)
            else:
                self._net_names[ch.new.ID] = ch.new.Spec.Name
            self._stale.add((ch.new or ch.old).ID)

    def _task(self, old: Task | None, new: Task | None) -> None:
        if old is not None and new is not None and _counts(old) == _counts(new):
            return  # a status message, a timestamp: nothing of the view
        if old is not None:
            for net, _addr in _places(old):
                if _active(old):
                    nodes = self.members.get(net, {})
                    tasks = nodes.get(old.NodeID)
                    if tasks is not None:
                        tasks.discard(old.ID)
                        if not tasks:
                            del nodes[old.NodeID]
                        if not nodes:
                            self.members.pop(net, None)
                if _backend(old):
                    b = self._backends.get((old.Owner.ID, net))
                    if b is not None and b.pop(old.ID, None) is not None:
                        self._stale.add(net)
                        if not b:
                            del self._backends[(old.Owner.ID, net)]
        if new is not None:
            for net, addr in _places(new):
                if _active(new):
                    self.members.setdefault(net, {}).setdefault(new.NodeID, set()).add(new.ID)
                if _backend(new) and addr:
                    self._backends.setdefault((new.Owner.ID, net), {})[new.ID] = addr
                    self._stale.add(net)

    def _service(self, old: Service | None, new: Service | None) -> None:
        before = self._services.pop(old.ID, None) if old is not None else None
        if before is not None:
            self._stale.update(before.aliases)
        if new is None:
            return
        mode = (new.Spec.EndpointSpec.Mode if new.Spec.EndpointSpec else "") or "vip"
        vips = {str(v.get("NetworkID")): str(v.get("Addr", "")).split("/")[0]
                for v in (new.Endpoint.VirtualIPs if new.Endpoint else None) or []}
        aliases = {cfg.Target: tuple(cfg.Aliases or []) for cfg in new.Spec.TaskTemplate.Networks or []}
        info = _ServiceInfo(new.Spec.Name, mode, vips if mode == "vip" else {}, aliases)
        if aliases:
            self._services[new.ID] = info
            self._stale.update(aliases)

    # ------------------------------------------------------------ reading

    def endpoints(self) -> tuple[View, set[str]]:
        """Every network's endpoints (rebuilt only where something changed), and the networks whose
        endpoints changed since the last call."""
        changed = set()
        if self._stale:
            by_net: dict[str, dict[str, Endpoint]] = {net: {} for net in self._stale}
            for sid, info in self._services.items():
                for net, aliases in info.aliases.items():
                    if net in by_net:
                        backends = tuple(sorted(self._backends.get((sid, net), {}).values()))
                        by_net[net][sid] = Endpoint(Name=info.name, Mode=info.mode, VIP=info.vips.get(net, ""),
                                                    Backends=backends, Aliases=aliases)
            for net, services in by_net.items():
                now = NetworkEndpoints(Name=self._net_names.get(net, ""), Services=services) \
                    if services and net in self._net_names else None
                if now != self._endpoints.get(net):
                    changed.add(net)
                    if now is None:
                        self._endpoints.pop(net, None)
                    else:
                        self._endpoints[net] = now
            self._stale.clear()
        return self._endpoints, changed


def _places(t: Task) -> list[tuple[str, str]]:
    """(network, the task's address there without its prefix) for each of the task's networks."""
    if not t.NodeID:
        return []
    return [(a.Network.ID, a.Addresses[0].split("/")[0] if a.Addresses else "") for a in t.NetworksAttachments or []]


def _counts(t: Task) -> tuple[object, ...]:
    """What of a task the view depends on."""
    return t.NodeID, t.Owner.ID, _places(t), _active(t), _backend(t)


def _active(t: Task) -> bool:  # a job's task is wanted complete
    return t.DesiredState <= TaskState.COMPLETE and t.Status.State <= TaskState.RUNNING


def _backend(t: Task) -> bool:
    return t.Status.State == TaskState.RUNNING and t.DesiredState <= TaskState.COMPLETE
