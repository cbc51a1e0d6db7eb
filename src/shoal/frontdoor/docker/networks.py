"""The Engine API's network routes: the node's local networks and, on a manager, the swarm's.

``GET /networks`` lists the local networks (``bridge``, ``host``, ``none`` and user-defined bridge
networks, ``Scope: local``) and, on a manager, the swarm's (``Scope: swarm``); a node in no swarm or
a worker lists its local ones, as dockerd does. A reference is looked up among the local networks,
then the swarm's (``?scope=local|swarm`` keeps to one; ``global`` finds none, as Docker has no
global-scope driver here). ``POST /networks/create`` makes a local network for the ``bridge`` driver
(the CLI's default) and hands ``overlay`` to the swarm's control API; names are unique across both.
``connect``/``disconnect`` put a container on a local network or take it off; ``prune`` removes the
local networks no container uses and, on a manager, the swarm's that no service uses. The rules are
the core's (``nodeapi.LocalNetworks``, ``nodeapi.Control``); this module words them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from shoal.api.control import NetworkCreateRequest
from shoal.api.errors import InvalidArgument, NotFound, ShoalError
from shoal.api.labels import labels_match
from shoal.api.localnet import LocalNetwork
from shoal.api.types import Network
from shoal.nodeapi import Control, NodeAPI

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SWARM_DRIVERS = ("overlay",)


# app.py lists these routes in its ROUTES: its helpers are imported when a request comes, not before.


def node(request: web.Request) -> NodeAPI:
    from shoal.frontdoor.docker.app import NODE

    return request.app[NODE]


def filters_of(request: web.Request) -> dict[str, list[str]]:
    from shoal.frontdoor.docker.app import filters_of as read

    return read(request)


async def body_as(request: web.Request, typ: type) -> Any:
    from shoal.frontdoor.docker.app import body_as as read

    return await read(request, typ)


def jresp(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj) + b"\n", status=status, content_type="application/json")


def network_json(n: Network) -> dict[str, Any]:
    """A swarm network in the Engine API's NetworkResource shape."""
    configs = []
    for c in n.IPAMOptions.Configs or []:
        conf = {"Subnet": c.Subnet, "Gateway": c.Gateway}
        if c.Range:
            conf["IPRange"] = c.Range
        configs.append(conf)
    return {
        "Name": n.Spec.Name, "Id": n.ID, "Created": n.CreatedAt, "Scope": "swarm",
        "Driver": n.DriverState.Name or "overlay", "EnableIPv4": True, "EnableIPv6": False,
        "IPAM": {"Driver": n.IPAMOptions.Driver.Name or "default", "Options": None, "Config": configs},
        "Internal": n.Spec.Internal, "Attachable": n.Spec.Attachable, "Ingress": n.Spec.Ingress,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
        "Options": n.DriverState.Options or {}, "Labels": n.Spec.Labels or {},
    }


def local_network_json(n: LocalNetwork, containers: bool = True) -> dict[str, Any]:
    """A local network as dockerd shows it (``containers``: its endpoints here, as inspect shows)."""
    configs = []
    for c in n.IPAM:
        conf = {"Subnet": c.Subnet, "Gateway": c.Gateway}
        if c.IPRange:
            conf["IPRange"] = c.IPRange
        configs.append(conf)
    eps = {cid: {"Name": ep.Name, "EndpointID": ep.EndpointID, "MacAddress": ep.MacAddress,
                 "IPv4Address": ep.IPv4Address, "IPv6Address": ""}
           for cid, ep in sorted(n.Containers.items())} if containers else {}
    return {
        "Name": n.Name, "Id": n.ID, "Created": n.Created, "Scope": "local", "Driver": n.Driver,
        "EnableIPv4": True, "EnableIPv6": n.EnableIPv6,
        "IPAM": {"Driver": n.IPAMDriver, "Options": None if n.Predefined else dict(n.IPAMOptions), "Config": configs},
        "Internal": n.Internal, "Attachable": n.Attachable, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": eps,
        "Options": dict(n.Options), "Labels": dict(n.Labels),
    }


def _swarm(n: NodeAPI) -> Control | None:
    """The control API on a manager; None elsewhere (a worker, a node in no swarm, a locked one)."""
    try:
        return n.control()
    except ShoalError:
        return None


async def networks_list(request: web.Request) -> web.StreamResponse:
    n = node(request)
    f = filters_of(request)
    out = [local_network_json(net, containers=False) for net in n.local_networks.networks(f)]
    c = _swarm(n)
    if c is not None and not ("type" in f and "custom" not in f["type"]) and \
            not ("scope" in f and "swarm" not in f["scope"]):
        swarm_filters = {k: v for k, v in f.items() if k not in ("dangling", "scope", "type")}
        out += [network_json(net) for net in c.networks.networks(swarm_filters)]
    return jresp(out)


def _find(n: NodeAPI, ref: str, scope: str = "") -> LocalNetwork | Network:
    if scope:  # as Docker 20.10: the scope filters names; an ID (or its prefix) finds it whatever the scope
        with contextlib.suppress(NotFound):
            net = _find(n, ref)
            if net.ID.startswith(ref):
                return net
    # any other scope finds no name (Docker 20.10 answers "not found", not a bad parameter)
    if scope in ("", "local"):
        local = n.local_networks.find(ref)
        if local is not None:
            return local
    if scope in ("", "swarm"):
        c = _swarm(n)
        if c is not None:
            return c.networks.network(ref)
    raise NotFound(f"network {ref} not found")


async def network_inspect(request: web.Request) -> web.StreamResponse:
    net = _find(node(request), request.match_info["id"], request.query.get("scope", ""))
    if isinstance(net, LocalNetwork):
        return jresp(local_network_json(net))
    return jresp(network_json(net))


async def network_create(request: web.Request) -> web.StreamResponse:
    n = node(request)
    req: NetworkCreateRequest = await body_as(request, NetworkCreateRequest)
    if (req.Driver or "bridge") in SWARM_DRIVERS or req.Scope == "swarm":
        n.local_networks.check_name(req.Name)
        net_id = (await n.control().networks.create(req)).ID
    else:
        net_id = (await n.local_networks.create(req)).ID
    return jresp({"Id": net_id, "Warning": ""}, 201)


async def network_delete(request: web.Request) -> web.StreamResponse:
    n = node(request)
    ref = request.match_info["id"]
    if n.local_networks.find(ref) is not None:
        await n.local_networks.remove(ref)
    else:
        await n.control().networks.remove(ref)
    return web.Response(status=204)


async def networks_prune(request: web.Request) -> web.StreamResponse:
    n = node(request)
    f = filters_of(request)
    deleted = await n.local_networks.prune(f)
    c = _swarm(n)
    if c is not None and "until" not in f:
        for net in c.networks.networks():
            if net.Spec.Ingress or ("label" in f and not labels_match(net.Spec.Labels, f["label"])):
                continue
            try:
                await c.networks.remove(net.ID)
            except ShoalError:
                continue  # a service uses it
            deleted.append(net.Spec.Name)
    return jresp({"NetworksDeleted": deleted or None})


class _IPAMConfig(msgspec.Struct):
    IPv4Address: str = ""
    IPv6Address: str = ""


class _EndpointConfig(msgspec.Struct):
    IPAMConfig: _IPAMConfig | None = None
    Aliases: list[str] | None = None


class ConnectRequest(msgspec.Struct):
    Container: str = ""
    EndpointConfig: _EndpointConfig | None = None


class DisconnectRequest(msgspec.Struct):
    Container: str = ""
    Force: bool = False


def _local(n: NodeAPI, ref: str) -> LocalNetwork:
    """The local network a connect or disconnect names (a swarm network is refused)."""
    net = _find(n, ref)
    if not isinstance(net, LocalNetwork):
        raise InvalidArgument(f"shoal connects containers to local networks only; {ref} is a swarm network")
    return net


async def network_connect(request: web.Request) -> web.StreamResponse:
    n = node(request)
    req: ConnectRequest = await body_as(request, ConnectRequest)
    net = _local(n, request.match_info["id"])
    ep = req.EndpointConfig or _EndpointConfig()
    ipv4 = ep.IPAMConfig.IPv4Address if ep.IPAMConfig else ""
    await n.local_networks.connect(net.ID, req.Container, list(ep.Aliases or []), ipv4)
    return web.Response(status=200)


async def network_disconnect(request: web.Request) -> web.StreamResponse:
    n = node(request)
    req: DisconnectRequest = await body_as(request, DisconnectRequest)
    net = _local(n, request.match_info["id"])
    await n.local_networks.disconnect(net.ID, req.Container, req.Force)
    return web.Response(status=200)


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/networks", networks_list), ("POST", "/networks/create", network_create),
    ("POST", "/networks/prune", networks_prune),
    ("GET", "/networks/{id}", network_inspect), ("DELETE", "/networks/{id}", network_delete),
    ("POST", "/networks/{id}/connect", network_connect), ("POST", "/networks/{id}/disconnect", network_disconnect),
]
