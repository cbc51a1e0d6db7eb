"""The node's local networks behind the front doors' interface (``nodeapi.LocalNetworks``).

``NodeLocalNetworks`` joins the store (``local.py``), the node's network (``node.NodeNetwork``, which
wires running containers; None on a runtime without sandboxes), the node's event log, the swarm's
network names (unique across both, as Docker's) and the containers engine, reached through the small
``ContainerSandboxes`` Protocol: which container a reference names and the task whose sandbox runs
it. The container's networks are kept here: ``configure`` at its creation (``--network``),
``connect``/``disconnect`` later (which, while it runs, change its sandbox at once), ``attachments``
when it starts (what the engine passes to ``NodeNetwork.create_sandbox``), ``forget`` at its removal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from shoal.api.control import NetworkCreateRequest
from shoal.api.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from shoal.api.events import EventLog
from shoal.api.localnet import LocalEndpoint, LocalNetwork
from shoal.network.local import LocalNetworks
from shoal.network.node import HOST_CONFLICT, NONE_CONFLICT, LocalAttachment

Filters = dict[str, list[str]]


@dataclass(frozen=True)
class ContainerRef:
    """A container as the engine knows it: its full ID, name (without '/'), and the task whose
    sandbox runs it ("" while it does not run)."""

    id: str
    name: str
    task_id: str = ""


class ContainerSandboxes(Protocol):
    """What the containers engine tells the local networks (the engine implements it)."""

    def find_container(self, ref: str) -> ContainerRef:
        """The container ``ref`` names (full ID, name, unique ID prefix); raises ``api.errors.NotFound``
        with Docker's ``No such container: <ref>``."""
        ...


class LocalWiring(Protocol):
    """What of the node's network (``node.NodeNetwork``) the local networks use: a running container's
    sandbox connected and disconnected, a removed network's bridge."""

    async def connect(self, task_id: str, attachment: LocalAttachment) -> LocalEndpoint: ...

    async def disconnect(self, task_id: str, network_id: str) -> LocalEndpoint | None: ...

    async def remove_local_network(self, net: LocalNetwork) -> None: ...


class NodeLocalNetworks:
    def __init__(self, store: LocalNetworks, network: LocalWiring | None = None, events: EventLog | None = None,
                 swarm_names: Callable[[], set[str]] = set) -> None:
        self.store = store
        self.node_network = network
        self.events = events
        self.swarm_names = swarm_names
        self.containers: ContainerSandboxes | None = None  # the engine, once there is one
        self._attached: dict[str, dict[str, LocalAttachment]] = {}  # container → network ID → attachment

    def _emit(self, action: str, net: LocalNetwork, extra: dict[str, str] | None = None) -> None:
        if self.events is not None:
            self.events.emit("network", action, net.ID, {"name": net.Name, "type": net.Driver, **(extra or {})})

    async def prepare(self) -> None:
        """Choose the default bridge's subnet now, off the loop (it reads the node's routes)."""
        await asyncio.to_thread(self.store.bip)

    def networks(self, filters: Filters | None = None) -> list[LocalNetwork]:
        return self.store.networks(filters)

    def network(self, ref: str) -> LocalNetwork:
        return self.store.network(ref)

    def find(self, ref: str) -> LocalNetwork | None:
        return self.store.find(ref)

    def check_name(self, name: str) -> None:
        self.store.check_name(name)

    async def create(self, req: NetworkCreateRequest) -> LocalNetwork:
        names = self.swarm_names()
        net = await asyncio.to_thread(self.store.create, req, names)  # it reads the node's routes (netlink)
        self._emit("create", net)
        return net

    async def remove(self, ref: str) -> None:
        net = self.store.remove(ref)
        if self.node_network is not None:
            await self.node_network.remove_local_network(net)
        for mine in self._attached.values():
            mine.pop(net.ID, None)
        self._emit("destroy", net)

    async def prune(self, filters: Filters | None = None) -> list[str]:
        gone = []
        for net in self.store.prunable(filters):
            try:
                await self.remove(net.ID)
            except (Conflict, PermissionDenied):
                continue  # a container joined it meanwhile
            gone.append(net.Name)
        return gone

    # ------------------------------------------------------------ containers

    def configure(self, container_id: str, attachments: list[LocalAttachment]) -> None:
        """A new container's networks (``docker create --network``, ``bridge`` by default): checked
        (NotFound, host or none with others) and kept, by network ID, for its starts."""
        nets = [self.store.network(a.network) for a in attachments]
        drivers = {n.Driver for n in nets}
        if len(nets) > 1 and "host" in drivers:
            raise InvalidArgument(HOST_CONFLICT)
        if len(nets) > 1 and "null" in drivers:
            raise InvalidArgument(NONE_CONFLICT)
        self._attached[container_id] = {n.ID: replace(a, network=n.ID) for a, n in zip(attachments, nets, strict=True)}

    def attachments(self, container_id: str) -> list[LocalAttachment]:
        """The container's networks, as configured and then connected or disconnected: what to pass to
        ``NodeNetwork.create_sandbox`` each time it starts."""
        return list(self._attached.get(container_id, {}).values())

    def forget(self, container_id: str) -> None:
        """The container was removed."""
        self._attached.pop(container_id, None)

    def _container(self, ref: str) -> ContainerRef:
        if self.containers is None:
            raise NotFound(f"No such container: {ref}")
        return self.containers.find_container(ref)

    async def connect(self, ref: str, container: str, aliases: list[str] | None = None, ipv4: str = "") -> None:
        net = self.store.network(ref)
        c = self._container(container)
        if net.Driver == "host":
            raise PermissionDenied(HOST_CONFLICT)
        att = LocalAttachment(network=net.ID, container_id=c.id, name=c.name, aliases=list(aliases or []), ipv4=ipv4)
        if net.ID in self._attached.get(c.id, {}) or self.store.endpoint(net.ID, c.id) is not None:
            raise Conflict(f"endpoint with name {c.name} already exists in network {net.Name}")
        if c.task_id and self.node_network is not None:
            await self.node_network.connect(c.task_id, att)
        self._attached.setdefault(c.id, {})[net.ID] = att
        self._emit("connect", net, {"container": c.id})

    async def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        net = self.store.network(ref)
        try:
            c = self._container(container)
        except NotFound:
            if not force:
                raise
            # --force for a container that is gone: drop its endpoint by ID
            for ep in list(net.Containers.values()):
                if ep.ContainerID.startswith(container) or ep.Name == container:
                    self.store.leave(net.ID, ep.ContainerID)
            return
        connected = self.store.endpoint(net.ID, c.id) is not None or net.ID in self._attached.get(c.id, {})
        if not connected:
            raise Conflict(f"container {c.id} is not connected to network {net.Name}")
        if c.task_id and self.node_network is not None:
            await self.node_network.disconnect(c.task_id, net.ID)
        else:
            self.store.leave(net.ID, c.id)
        self._attached.get(c.id, {}).pop(net.ID, None)
        self._emit("disconnect", net, {"container": c.id})
