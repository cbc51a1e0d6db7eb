"""A node's own containers on the node's local networks: what the containers engine (``containers.py``)
hands over for the networks of a container.

``ContainerNets`` reads a create request the way dockerd does: ``HostConfig.NetworkMode`` (``default``
is ``bridge``; a user network by name or ID; ``host``; ``none``) with its
``NetworkingConfig.EndpointsConfig`` entry (aliases, ``IPAMConfig.IPv4Address``), the other
endpoints after it, and ``HostConfig.PortBindings`` (``PublishAllPorts`` publishes every exposed
port on a free host port). The networks are kept by the local networks (``NodeLocalNetworks.configure``),
which also take ``connect``/``disconnect`` of a created container (compose disconnects and connects
every new container before starting it, to give it its short ID as an alias). When the container
first starts, its sandbox is made on those networks with its ports published (``NodeNetwork.
create_sandbox``); at its removal the networks forget it. ``settings`` is Docker's
``NetworkSettings.Networks`` and ``Ports`` of a container, as inspect and ps show them. It is also the
local networks' ``ContainerSandboxes``: which container a reference names, and whether it has a
sandbox. The attachments of a container live in memory: at the daemon's start they are made again
from the container's record (its create request's networks; later connects are not kept).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shoal.api.containers import Container, CreateRequest
from shoal.api.errors import InvalidArgument, NotFound
from shoal.api.localnet import LocalEndpoint, LocalNetwork
from shoal.api.types import Task
from shoal.network.localapi import ContainerRef, NodeLocalNetworks
from shoal.network.localwire import PortBinding
from shoal.network.node import LocalAttachment
from shoal.network.sandbox import Sandbox


class LocalSandboxes(Protocol):
    """What of the node's network (``network.node.NodeNetwork``) a container's networks use."""

    async def create_sandbox(self, task: Task, local: list[LocalAttachment] | None = None,
                             ports: list[PortBinding] | None = None) -> Sandbox: ...

    def local_endpoints(self, task_id: str) -> dict[str, LocalEndpoint]: ...

    def published(self, task_id: str) -> list[PortBinding]: ...


def network_mode(host_config: dict[str, Any]) -> str:
    mode = str(host_config.get("NetworkMode") or "default")
    return "bridge" if mode == "default" else mode


def plan(req: CreateRequest, cid: str, name: str) -> tuple[list[LocalAttachment], list[PortBinding]]:
    """The container's networks (the network mode's first) and its ports to publish."""
    mode = network_mode(req.host_config)
    if mode.startswith("container:"):
        raise InvalidArgument(f"network mode {mode!r} is not supported by shoal yet")
    endpoints: dict[str, Any] = dict(req.networking.get("EndpointsConfig") or {})
    short = name.lstrip("/")

    def attachment(net: str, ep: dict[str, Any] | None) -> LocalAttachment:
        ep = ep or {}
        ipam = ep.get("IPAMConfig") or {}
        return LocalAttachment(network=net, container_id=cid, name=short, aliases=list(ep.get("Aliases") or []),
                               ipv4=str(ipam.get("IPv4Address") or ""))

    first = endpoints.pop(mode, None)
    if first is None and mode == "bridge":
        first = endpoints.pop("default", None)
    out = [attachment(mode, first)] + [attachment(n, ep) for n, ep in endpoints.items()]
    return out, ports_of(req.config, req.host_config)


def ports_of(config: dict[str, Any], host_config: dict[str, Any]) -> list[PortBinding]:
    """``HostConfig.PortBindings`` (``{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}``),
    and with ``PublishAllPorts`` every ``ExposedPorts`` not bound, on a free host port."""
    out: list[PortBinding] = []
    bound = host_config.get("PortBindings") or {}
    for key, bindings in bound.items():
        port, _, proto = str(key).partition("/")
        for b in bindings or [{}]:
            b = b or {}
            host_port = str(b.get("HostPort") or "0").partition("-")[0]
            out.append(PortBinding(int(port), proto or "tcp", str(b.get("HostIp") or ""), int(host_port or 0)))
    if host_config.get("PublishAllPorts"):
        for key in config.get("ExposedPorts") or {}:
            if key not in bound:
                port, _, proto = str(key).partition("/")
                out.append(PortBinding(int(port), proto or "tcp"))
    return out


@dataclass
class ContainerNets:
    """The node's own containers on its local networks (see the module's docstring)."""

    local: NodeLocalNetworks
    network: LocalSandboxes
    find: Callable[[str], Container] | None = None  # the engine's look-up (NotFound in Docker's words)
    running: Callable[[str], bool] = lambda _: False  # does the container have its sandbox now
    ports: dict[str, list[PortBinding]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.local.containers = self

    def find_container(self, ref: str) -> ContainerRef:
        if self.find is None:
            raise NotFound(f"No such container: {ref}")
        c = self.find(ref)
        if c.Task:
            raise NotFound(f"No such container: {ref}")
        return ContainerRef(c.ID, c.Name.lstrip("/"), c.ID if self.running(c.ID) else "")

    def configure(self, req: CreateRequest, cid: str, name: str) -> str:
        """A new container's networks and ports, checked and kept; its network mode as Docker shows it."""
        attachments, ports = plan(req, cid, name)
        self.local.configure(cid, attachments)
        self.ports[cid] = ports
        return str(req.host_config.get("NetworkMode") or "default")

    def restore(self, rec: Container) -> None:
        """A container kept on disk, at the daemon's start: its networks as it was created."""
        req = CreateRequest(name=rec.Name, config=rec.Config, host_config=rec.HostConfig,
                            networking=rec.NetworkingConfig)
        with contextlib.suppress(NotFound, InvalidArgument):
            self.configure(req, rec.ID, rec.Name)

    async def sandbox(self, task: Task) -> Sandbox:
        return await self.network.create_sandbox(task, local=self.local.attachments(task.ID),
                                                 ports=self.ports.get(task.ID, []))

    def forget(self, cid: str) -> None:
        self.local.forget(cid)
        self.ports.pop(cid, None)

    def settings(self, rec: Container) -> tuple[dict[str, Any], dict[str, Any]]:
        """Docker's ``NetworkSettings.Networks`` (by network name) and ``NetworkSettings.Ports``."""
        eps = self.network.local_endpoints(rec.ID)
        networks: dict[str, Any] = {}
        for a in self.local.attachments(rec.ID):
            net = self.local.find(a.network)
            if net is None:
                continue
            networks[net.Name] = _endpoint_json(net, a, eps.get(net.ID))
        ports: dict[str, Any] = {}
        for key in rec.Config.get("ExposedPorts") or {}:
            ports[key] = None
        for b in self.network.published(rec.ID) if eps else []:
            ports.setdefault(f"{b.container_port}/{b.protocol}", None)
            ports[f"{b.container_port}/{b.protocol}"] = [
                *(ports[f"{b.container_port}/{b.protocol}"] or []),
                {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)}]
        return networks, ports


def _endpoint_json(net: LocalNetwork, a: LocalAttachment, ep: LocalEndpoint | None) -> dict[str, Any]:
    ip, _, prefix = (ep.IPv4Address if ep is not None else "").partition("/")
    aliases = list(ep.Aliases if ep is not None and ep.Aliases else a.aliases) if not net.Predefined else []
    return {"IPAMConfig": {"IPv4Address": a.ipv4} if a.ipv4 else None, "Links": None,
            "Aliases": aliases or None, "NetworkID": net.ID, "EndpointID": ep.EndpointID if ep is not None else "",
            "Gateway": net.gateway if ep is not None and ip else "", "IPAddress": ip,
            "IPPrefixLen": int(prefix or 0), "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": ep.MacAddress if ep is not None else "", "DriverOpts": None}
