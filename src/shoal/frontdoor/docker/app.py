"""The Docker Engine API front door (the swarm subset the docker CLI 28 uses), on aiohttp.

A thin translator over one node (``nodeapi.NodeAPI``: the daemon, or any object that implements it):
it parses query strings and bodies, calls the node's control API, stores and logs, and writes Docker's
JSON shapes, status codes and ``{"message": …}`` errors (the core's coded errors in dockerd's words,
``errors.py``). Every route is served with and without a ``/v1.NN`` prefix. Unknown routes answer
404 ``page not found``. Operations the Engine API does not have live under ``/shoal/``
(``POST /shoal/services/dry-run``: the placement a ``POST /services/create`` with the same body would
make, written nowhere; ``POST /shoal/kube/dry-run``: the same for the Pods of a Kubernetes manifest,
read by the Kubernetes door). A JSON route reads its body whole up to ``MAX_BODY`` and answers 413 beyond;
``docker load`` and ``docker import`` stream theirs to a file, without a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import msgspec
from aiohttp import web

from shoal import API_VERSION, ENGINE_VERSION, MIN_API_VERSION, __version__
from shoal.api.errors import InvalidArgument, ShoalError
from shoal.api.nodeinfo import ImageInfo, Membership, RegistryCredentials, VolumeInfo
from shoal.api.types import (
    ClusterSpec,
    ConfigSpec,
    SecretSpec,
    Service,
    Task,
    parse_ts,
)
from shoal.frontdoor.docker import containers, gojson, logstream, networks, query, wire
from shoal.frontdoor.docker import events as events_door
from shoal.frontdoor.docker.errors import status_of, words
from shoal.frontdoor.kube import dryrun as kube_dryrun
from shoal.frontdoor.kube.server import kubeconfig
from shoal.frontdoor.metrics import method_of, request_metrics
from shoal.metrics import DOCKER_REQUESTS
from shoal.nodeapi import Control, NodeAPI, Payloads

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NODE: web.AppKey[NodeAPI] = web.AppKey("node", NodeAPI)
AUTH_HEADER = "X-Registry-Auth"  # base64url JSON {username, password, serveraddress}
# The largest request body read whole (every JSON route); image load and import stream their bodies
# to a file and have no limit. dockerd has none either: 16 MiB is far above any spec the CLI sends.
MAX_BODY = 16 << 20


def jresp(obj: Any, status: int = 200) -> web.Response:
    body = obj if isinstance(obj, bytes) else msgspec.json.encode(obj)
    return web.Response(body=body + b"\n", status=status, content_type="application/json")


def err(status: int, message: str) -> web.Response:
    return jresp({"message": message}, status)


def error_response(e: ShoalError) -> web.Response:
    return err(status_of(e), words(e))


# Writes to the cluster state: refused at once, in Swarm's words, while the managers have no leader.
_CLUSTER_WRITE = re.compile(r"^(/v[0-9.]+)?/(services|nodes|tasks|secrets|configs|networks|swarm/update)")


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        check_api_version(request)
        if request.method in ("POST", "PUT", "DELETE") and _CLUSTER_WRITE.match(request.path):
            await node(request).check_writable()
        return await handler(request)
    except ShoalError as e:
        return error_response(e)
    except msgspec.ValidationError as e:
        return err(400, f"invalid JSON: json: {e}")  # dockerd's ReadJSON wraps every decoding error
    except msgspec.DecodeError as e:
        return err(400, f"invalid JSON: {e}")
    except web.HTTPNotFound:
        return err(404, "page not found")
    except web.HTTPMethodNotAllowed:
        return err(405, "method not allowed")
    except web.HTTPRequestEntityTooLarge:
        return err(413, f"request body too large: the limit is {MAX_BODY} bytes")
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # a bug, or a cluster store without a quorum: say so in Docker's shape
        failure = node(request).store_failure(e)
        if failure is not None:
            return error_response(failure)
        log.exception("internal error on %s %s", request.method, request.path)
        return err(500, f"internal error: {e}")


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def check_api_version(request: web.Request) -> None:
    """dockerd's version middleware: a ``/vX.Y`` prefix outside ``MIN_API_VERSION``..``API_VERSION`` is
    refused with a 400 in its words (no prefix: the newest)."""
    asked = request.match_info.get("_version", "").removeprefix("v")
    if not asked:
        return
    if _version_tuple(asked) < _version_tuple(MIN_API_VERSION):
        raise InvalidArgument(f"client version {asked} is too old. Minimum supported API version is "
                              f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    if _version_tuple(asked) > _version_tuple(API_VERSION):
        raise InvalidArgument(f"client version {asked} is too new. Maximum supported API version is {API_VERSION}")


def filters_of(request: web.Request) -> dict[str, list[str]]:
    """Docker's ``filters`` query (``query.filters``)."""
    return query.filters(request.query)


def qbool(request: web.Request, name: str) -> bool:
    return query.bool_value(request.query, name)


def qint(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "")
    try:
        return int(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid {name}: {raw!r}") from e


def check_for_json(request: web.Request) -> None:
    """dockerd's ``CheckForJSON``: a body must say it is ``application/json`` (parameters allowed).

    This is what keeps a browser's cross-origin ``POST`` (which may send ``text/plain`` without a
    preflight) from creating anything. dockerd lets only a request without Content-Type through
    without a body; an empty body passes here whatever it is labelled (aiohttp's and other clients
    label an empty POST ``application/octet-stream``), as an empty body carries nothing to act on."""
    ct = request.headers.get("Content-Type", "")
    if not request.body_exists or request.content_length == 0:
        return
    mimetype = ct.split(";", 1)[0].strip().lower()
    if not mimetype:
        raise InvalidArgument(f"malformed Content-Type header ({ct}): mime: no media type")
    kind, slash, sub = mimetype.partition("/")
    if not slash or not kind or not sub:
        raise InvalidArgument(f"malformed Content-Type header ({ct}): mime: expected slash after first token")
    if mimetype != "application/json":
        raise InvalidArgument(f"unsupported Content-Type header ({ct}): must be 'application/json'")


async def body_as(request: web.Request, typ: type) -> Any:
    check_for_json(request)
    raw = await request.read()
    if not raw.strip():
        return typ()
    return gojson.decode(raw, typ)


def node(request: web.Request) -> NodeAPI:
    return request.app[NODE]


def control(request: web.Request) -> Control:
    return request.app[NODE].control()


# Fields of the core's cluster object that the Engine API's Swarm shape does not have (the core's
# cluster view leaves them empty: they hold keys).
_NOT_IN_SWARM = ("RootCAKey", "UnlockKey", "NetworkBootstrapKeys", "EncryptionKeyLamportClock",
                 "ServiceClusterIPRange", "ServiceNodePortRange", "ClusterCIDR", "NodeCIDRMaskSize", "ClusterDomain",
                 "ClusterDNS", "ServiceLBPool")


def _cluster_dict(cluster: Any) -> dict[str, Any]:
    data: dict[str, Any] = wire.object_json(cluster)
    for k in _NOT_IN_SWARM:
        data.pop(k, None)
    return data


def cluster_json(c: Control) -> dict[str, Any]:
    return _cluster_dict(c.cluster_view())


# ---------------------------------------------------------------- system


async def ping(request: web.Request) -> web.StreamResponse:
    headers = {
        "API-Version": API_VERSION,
        "OSType": "linux",
        "Docker-Experimental": "false",
        "Swarm": _SWARM_HEADER[node(request).membership()],
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
    }
    if request.method == "HEAD":
        return web.Response(status=200, headers=headers, content_type="text/plain")
    return web.Response(text="OK", headers=headers, content_type="text/plain")


_SWARM_HEADER = {Membership.MANAGER: "active/manager", Membership.WORKER: "active/worker",
                 Membership.LOCKED: "locked", Membership.INACTIVE: "inactive"}


def _kernel() -> str:
    return platform.release()


async def version(request: web.Request) -> web.StreamResponse:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return jresp({
        "Platform": {"Name": f"shoal {__version__}"},
        "Components": [{"Name": "Engine", "Version": ENGINE_VERSION,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
                                    "Arch": arch, "KernelVersion": _kernel()}}],
        "Version": ENGINE_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "shoal", "GoVersion": "python" + platform.python_version(), "Os": "linux", "Arch": arch,
        "KernelVersion": _kernel(), "BuildTime": "",
    })


async def info(request: web.Request) -> web.StreamResponse:
    n = node(request).summary()
    sw = n.Swarm
    swarm: dict[str, Any] = {
        "NodeID": sw.NodeID, "NodeAddr": sw.NodeAddr, "LocalNodeState": sw.LocalNodeState,
        "ControlAvailable": sw.ControlAvailable, "Error": "",
        "RemoteManagers": msgspec.to_builtins(sw.RemoteManagers),
    }
    if sw.Cluster is not None:
        swarm.update({"Nodes": sw.Nodes, "Managers": sw.Managers, "Cluster": _cluster_dict(sw.Cluster)})
    counts = node(request).local_containers.counts()
    return jresp({
        "ID": n.ID or "shoal",
        "Containers": counts.Containers, "ContainersRunning": counts.ContainersRunning,
        "ContainersPaused": counts.ContainersPaused, "ContainersStopped": counts.ContainersStopped,
        "Images": n.Images,
        "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "overlay"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
        "Debug": False, "NFd": 0, "NGoroutines": 0, "SystemTime": "", "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs", "CgroupVersion": "1", "NEventsListener": node(request).events.listeners,
        "KernelVersion": _kernel(), "OperatingSystem": "shoal on " + platform.system(), "OSVersion": "",
        "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": None,
        "NCPU": n.NCPU, "MemTotal": n.MemTotal,
        "DockerRootDir": n.DataRoot, "Name": n.Hostname,
        "Labels": [f"{k}={v}" for k, v in sorted(n.Labels.items())],
        "ExperimentalBuild": False, "ServerVersion": ENGINE_VERSION,
        "Runtimes": {n.Runtime: {"path": n.Runtime}}, "DefaultRuntime": n.Runtime,
        "Swarm": swarm, "LiveRestoreEnabled": False, "Isolation": "", "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin"], "Warnings": None,
    })


# ---------------------------------------------------------------- swarm


class InitRequest(msgspec.Struct, kw_only=True):
    ListenAddr: str = ""
    AdvertiseAddr: str = ""
    DataPathAddr: str = ""
    DataPathPort: int = 0
    DefaultAddrPool: list[str] | None = None
    ForceNewCluster: bool = False
    SubnetSize: int = 0
    AutoLockManagers: bool = False
    Availability: str = ""
    Spec: ClusterSpec = msgspec.field(default_factory=ClusterSpec)


async def swarm_init(request: web.Request) -> web.StreamResponse:
    req: InitRequest = await body_as(request, InitRequest)
    # Autolock is asked for either way, as dockerd takes it: the request's flag (the docker CLI's) or
    # the spec's encryption config (the Docker SDK's).
    autolock = req.AutoLockManagers or req.Spec.EncryptionConfig.AutoLockManagers
    node_id = await node(request).swarm_init(
        req.AdvertiseAddr, req.ListenAddr, req.Spec, req.DefaultAddrPool, req.SubnetSize, req.DataPathPort,
        req.ForceNewCluster, autolock, data_path_addr=req.DataPathAddr,
    )
    return jresp(node_id)


class JoinRequest(msgspec.Struct, kw_only=True):
    ListenAddr: str = ""
    AdvertiseAddr: str = ""
    DataPathAddr: str = ""
    RemoteAddrs: list[str] | None = None
    JoinToken: str = ""
    Availability: str = ""


async def swarm_join(request: web.Request) -> web.StreamResponse:
    req: JoinRequest = await body_as(request, JoinRequest)
    await node(request).swarm_join(req.RemoteAddrs or [], req.JoinToken, req.ListenAddr, req.AdvertiseAddr,
                                   data_path_addr=req.DataPathAddr)
    return web.Response(status=200)


async def swarm_leave(request: web.Request) -> web.StreamResponse:
    await node(request).swarm_leave(qbool(request, "force"))
    return web.Response(status=200)


async def swarm_inspect(request: web.Request) -> web.StreamResponse:
    return jresp(cluster_json(control(request)))


async def swarm_update(request: web.Request) -> web.StreamResponse:
    n = node(request)
    n.control()  # not a manager: say so before reading the body
    spec: ClusterSpec = await body_as(request, ClusterSpec)
    await n.update_swarm(qint(request, "version"), spec, qbool(request, "rotateWorkerToken"),
                         qbool(request, "rotateManagerToken"), qbool(request, "rotateManagerUnlockKey"))
    return web.Response(status=200)


async def swarm_unlockkey(request: web.Request) -> web.StreamResponse:
    return jresp({"UnlockKey": control(request).unlock_key()})


class UnlockRequest(msgspec.Struct):
    UnlockKey: str = ""


async def swarm_unlock(request: web.Request) -> web.StreamResponse:
    req: UnlockRequest = await body_as(request, UnlockRequest)
    await node(request).unlock(req.UnlockKey)
    return web.Response(status=200)


# ---------------------------------------------------------------- nodes


def node_json(c: Control, n: Any) -> dict[str, Any]:
    """A node as dockerd shows it: its TLS info is its certificate's issuer, the swarm's root CA."""
    data = wire.object_json(n)
    desc = data.get("Description")
    if isinstance(desc, dict) and not desc.get("TLSInfo"):
        desc["TLSInfo"] = gojson.to_json(c.cluster_view().TLSInfo)
    return data


async def nodes_list(request: web.Request) -> web.StreamResponse:
    c = control(request)
    return jresp([node_json(c, n) for n in c.nodes(filters_of(request))])


async def node_inspect(request: web.Request) -> web.StreamResponse:
    c = control(request)
    return jresp(node_json(c, c.node(request.match_info["id"])))


async def node_update(request: web.Request) -> web.StreamResponse:
    c = control(request)
    spec: wire.NodeSpec = await body_as(request, wire.NodeSpec)
    ref = request.match_info["id"]
    # Docker has no taints: the node keeps its own (a write since the client's read fails on the version).
    taints = c.node(ref).Spec.Taints
    await c.update_node(ref, qint(request, "version"), wire.node_spec_to_core(spec, taints))
    return web.Response(status=200)


async def node_delete(request: web.Request) -> web.StreamResponse:
    await control(request).remove_node(request.match_info["id"], qbool(request, "force"))
    return web.Response(status=200)


# ---------------------------------------------------------------- services


def task_json(t: Task) -> dict[str, Any]:
    """The task in Docker's shape (without the registry credentials it carries, as Swarm)."""
    return wire.tasks_json([t])[0]


def service_json(c: Control | None, s: Service, status: bool = False, defaults: bool = False) -> dict[str, Any]:
    """The service as dockerd writes it (``omitempty``); ``c``: the control API (needed for ``status``
    and ``defaults`` only)."""
    out = wire.service_from_core(c.with_defaults(s) if defaults and c is not None else s)
    if status and c is not None:
        out.ServiceStatus = c.service_status(s)
    data: dict[str, Any] = gojson.to_json(out)
    return data


def _go_uint(value: int | None, field: str, bits: int) -> None:
    """dockerd decodes these numbers into Go's unsigned integers: a negative or too large one is its
    JSON decoder's error (400), before SwarmKit sees the spec."""
    if value is not None and not 0 <= value < 1 << bits:
        raise InvalidArgument(
            f"invalid JSON: json: cannot unmarshal number {value} into Go struct field {field} of type uint{bits}")


async def service_spec(request: web.Request) -> Any:
    """The request's ServiceSpec (Docker's shape) as the core's."""
    spec: wire.ServiceSpec = await body_as(request, wire.ServiceSpec)
    if spec.Mode.Replicated is not None:
        _go_uint(spec.Mode.Replicated.Replicas, "ReplicatedService.Mode.Replicated.Replicas", 64)
    if spec.Mode.ReplicatedJob is not None:
        _go_uint(spec.Mode.ReplicatedJob.MaxConcurrent, "ReplicatedJob.Mode.ReplicatedJob.MaxConcurrent", 64)
        _go_uint(spec.Mode.ReplicatedJob.TotalCompletions, "ReplicatedJob.Mode.ReplicatedJob.TotalCompletions", 64)
    for p in spec.EndpointSpec.Ports or [] if spec.EndpointSpec is not None else []:
        _go_uint(p.TargetPort, "PortConfig.EndpointSpec.Ports.TargetPort", 32)
        _go_uint(p.PublishedPort, "PortConfig.EndpointSpec.Ports.PublishedPort", 32)
    return wire.service_spec_to_core(spec)


# A service's JSON without its status, kept while its version stands: ``docker service ls`` (``GET
# /services?status=true``) of a thousand services encoded every spec again each time, a quarter of a
# second of the event loop a call. Keyed by service ID: (version index, JSON).
SERVICE_JSON: web.AppKey[dict[str, tuple[int, dict[str, Any]]]] = web.AppKey("service_json", dict)
_AFTER_STATUS = ("SpecVersion", "JobStatus")  # the fields the wire's Service has after ServiceStatus


def _with_status(cached: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """``cached`` with ``ServiceStatus`` in its place among the fields (as the wire's Service orders them)."""
    out: dict[str, Any] = {}
    for k, v in cached.items():
        if k in _AFTER_STATUS and "ServiceStatus" not in out:
            out["ServiceStatus"] = status
        out[k] = v
    out.setdefault("ServiceStatus", status)
    return out


async def services_list(request: web.Request) -> web.StreamResponse:
    c = control(request)
    status = qbool(request, "status")
    cache = request.app[SERVICE_JSON]
    services = c.services(filters_of(request))
    nodes = {n.ID: n for n in c.nodes()} if status else None
    out = []
    for s in services:
        hit = cache.get(s.ID)
        if hit is None or hit[0] != s.Version.Index:
            hit = cache[s.ID] = (s.Version.Index, service_json(c, s))
        data = hit[1]
        if status:
            data = _with_status(data, gojson.to_json(c.service_status(s, nodes)))
        out.append(data)
    if len(cache) > 2 * len(services) + 1000:  # services gone (or filtered out): forget the oldest
        for sid in list(cache)[:len(cache) - len(services) - 1000]:
            del cache[sid]
    return jresp(out)


async def service_create(request: web.Request) -> web.StreamResponse:
    c = control(request)
    spec = await service_spec(request)
    svc = await c.create_service(spec, request.headers.get(AUTH_HEADER, ""))
    # API 1.30 and later: the client pins the image's digest itself (GET /distribution) and warns.
    return jresp({"ID": svc.ID, "Warnings": None}, 201)


async def service_dry_run(request: web.Request) -> web.StreamResponse:
    """shoal's own: where ``POST /services/create`` with this body would place the tasks (no write)."""
    c = control(request)
    spec = await service_spec(request)
    return jresp(c.dry_run(spec))


async def kube_dry_run(request: web.Request) -> web.StreamResponse:
    """shoal's own: where the Pods of a manifest (its documents as a JSON list) would be placed, and
    why other nodes refuse them (the Kubernetes door reads the objects; nothing is written)."""
    check_for_json(request)
    raw = await request.read()
    code, body = kube_dryrun.answer(node(request), msgspec.json.decode(raw) if raw.strip() else [],
                                    request.query.get("namespace", ""))
    return jresp(body, code)


async def kubeconfig_get(request: web.Request) -> web.StreamResponse:
    """shoal's own: an admin kubeconfig for this cluster's Kubernetes API (a manager's; ``shoal kubeconfig``)."""
    text = kubeconfig(request.app[NODE])
    return web.Response(text=text, content_type="application/yaml")


async def ui_token_get(request: web.Request) -> web.StreamResponse:
    """shoal's own: a login token for the web console (a manager's; ``shoal ui-token``). Whoever
    reaches this API (root, through the socket) may have one."""
    try:
        ttl = float(request.query.get("ttl", "") or 86400.0)
    except ValueError:
        ttl = -1.0
    if not 0 < ttl <= 366 * 86400:
        return err(400, "ttl must be between 0 and 366 days (in seconds)")
    return web.Response(text=request.app[NODE].ui_token(ttl) + "\n", content_type="text/plain")


async def service_inspect(request: web.Request) -> web.StreamResponse:
    c = control(request)
    s = c.service(request.match_info["id"])
    return jresp(service_json(c, s, defaults=qbool(request, "insertDefaults")))


async def service_update(request: web.Request) -> web.StreamResponse:
    c = control(request)
    spec = await service_spec(request)
    rollback = request.query.get("rollback", "") == "previous"
    await c.update_service(request.match_info["id"], qint(request, "version"), spec, rollback,
                                   request.headers.get(AUTH_HEADER, ""), request.query.get("registryAuthFrom", ""))
    return jresp({"Warnings": None})


async def service_delete(request: web.Request) -> web.StreamResponse:
    await control(request).remove_service(request.match_info["id"])
    return web.Response(status=200)


async def service_logs(request: web.Request) -> web.StreamResponse:
    n = node(request)
    s = n.control().service(request.match_info["id"])
    return await logstream.serve(request, n.logs(), service=s)


# ---------------------------------------------------------------- tasks


async def tasks_list(request: web.Request) -> web.StreamResponse:
    return jresp(wire.tasks_json(control(request).tasks(filters_of(request))))


async def task_inspect(request: web.Request) -> web.StreamResponse:
    return jresp(task_json(control(request).task(request.match_info["id"])))


async def task_logs(request: web.Request) -> web.StreamResponse:
    n = node(request)
    t: Task = n.control().task(request.match_info["id"])
    return await logstream.serve(request, n.logs(), task=t)


# ---------------------------------------------------------------- images


def image_summary(img: ImageInfo) -> dict[str, Any]:
    size = img.Size
    return {
        "Id": img.ID, "ParentId": "", "RepoTags": img.Tags or None, "RepoDigests": img.RepoDigests,
        "Created": int(parse_ts(img.Config.get("created", ""))), "Size": size, "SharedSize": -1,
        "VirtualSize": size, "Labels": img.container_config.get("Labels"), "Containers": -1,
    }


# An image's ContainerConfig when it has none (an imported one), as Docker 20.10 shows it.
EMPTY_CONTAINER_CONFIG: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None}


def image_inspect_json(img: ImageInfo) -> dict[str, Any]:
    size = img.Size
    cfg = img.Config
    return {
        "Id": img.ID, "RepoTags": img.Tags, "RepoDigests": img.RepoDigests, "Parent": "",
        "Comment": "",
        # docker-compose 1.29 reads ContainerConfig when it recreates a container (its volumes)
        "Container": cfg.get("container", ""),
        "ContainerConfig": {**EMPTY_CONTAINER_CONFIG, **(cfg.get("container_config") or {})},
        "Created": cfg.get("created", ""), "DockerVersion": "", "Author": cfg.get("author", ""),
        "Config": img.container_config, "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""), "Size": size, "VirtualSize": size,
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers", "Layers": img.diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


async def _spool(request: web.Request) -> tempfile.SpooledTemporaryFile[bytes]:
    """Read a (possibly large) request body to a temporary file, off the event loop's memory."""
    f: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=8 << 20)
    async for chunk in request.content.iter_chunked(1 << 20):
        f.write(chunk)
    f.seek(0)
    return f


async def images_create(request: web.Request) -> web.StreamResponse:
    images = node(request).local_images
    q = request.query
    if q.get("fromSrc") is None:
        return await _pull(request)
    if q.get("fromSrc") != "-":
        return err(400, "importing from a URL is not supported; pipe the tarball with fromSrc=-")
    body = await _spool(request)
    repo, tag = q.get("repo", ""), q.get("tag", "")
    changes = q.getall("changes", [])
    try:
        iid = await asyncio.to_thread(images.import_tar, body, repo, tag, changes, q.get("message", ""))
    finally:
        body.close()
    return await _stream_messages(request, [{"status": iid}])


async def _pull(request: web.Request) -> web.StreamResponse:
    """``docker pull``: Docker's JSON progress, streamed. An error before the first message is an HTTP
    error (the CLI prints ``Error response from daemon: …``); after it, an ``errorDetail`` message."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})

    async def emit(msg: dict[str, Any]) -> None:
        if not resp.prepared:
            await resp.prepare(request)
        await resp.write(json.dumps(msg).encode() + b"\r\n")

    try:
        await node(request).local_images.pull(request.query.get("fromImage", ""), request.query.get("tag", ""),
                                              request.headers.get(AUTH_HEADER, ""), emit)
    except ShoalError as e:
        if not resp.prepared:
            raise
        await emit({"errorDetail": {"message": words(e)}, "error": words(e)})
    await resp.write_eof()
    return resp


async def _stream_messages(request: web.Request, msgs: list[dict[str, Any]]) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for m in msgs:
        await resp.write(json.dumps(m).encode() + b"\r\n")
    await resp.write_eof()
    return resp


async def images_load(request: web.Request) -> web.StreamResponse:
    """``docker load``: each layer's ``Loading layer`` progress (unless ``quiet``), then the ``Loaded
    image: …`` lines. As for a pull, an error before the first message is an HTTP error."""
    images = node(request).local_images
    body = await _spool(request)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    loop = asyncio.get_running_loop()

    async def emit(msg: dict[str, Any]) -> None:
        if not resp.prepared:
            await resp.prepare(request)
        await resp.write(json.dumps(msg).encode() + b"\r\n")

    def progress(msg: dict[str, Any]) -> None:  # from the loading thread: wait for the write
        asyncio.run_coroutine_threadsafe(emit(msg), loop).result()

    quiet = request.query.get("quiet", "") in ("1", "true", "True")
    try:
        loaded = await asyncio.to_thread(images.load, body, None if quiet else progress)
    except Exception as e:
        if not resp.prepared:
            raise
        said = words(e) if isinstance(e, ShoalError) else str(e)
        await emit({"errorDetail": {"message": said}, "error": said})
        loaded = []
    finally:
        body.close()
    for line in loaded:
        await emit({"stream": line + "\n"})
    if not resp.prepared:
        await resp.prepare(request)
    await resp.write_eof()
    return resp


async def images_get(request: web.Request) -> web.StreamResponse:
    images = node(request).local_images
    names = request.query.getall("names", []) or [unquote(request.match_info.get("name", ""))]
    for n in names:
        images.must(n)
    fd, path = tempfile.mkstemp(prefix="shoal-save-", suffix=".tar")
    try:
        with os.fdopen(fd, "wb") as out:
            await asyncio.to_thread(images.save, names, out)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar"})
        await resp.prepare(request)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        os.unlink(path)


async def images_list(request: web.Request) -> web.StreamResponse:
    images = node(request).local_images
    f = filters_of(request)
    out = []
    for img in images.ls():
        summary = image_summary(img)
        if "reference" in f:
            tags = [t for t in img.Tags if any(images.matches(r, t) for r in f["reference"])]
            if not tags:
                continue
            summary["RepoTags"] = tags
        if "dangling" in f and ("true" in f["dangling"]) != (not img.Tags):
            continue
        out.append(summary)
    out.sort(key=lambda x: -x["Created"])
    return jresp(out)


async def image_inspect(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    img = node(request).local_images.resolve(name)
    if img is None:
        return err(404, f"No such image: {name}")
    return jresp(image_inspect_json(img))


async def image_history(request: web.Request) -> web.StreamResponse:
    img = node(request).local_images.must(request.match_info["name"])
    hist = img.Config.get("history") or []
    out = [{"Id": img.ID if i == len(hist) - 1 else "<missing>", "Created": int(parse_ts(h.get("created", ""))),
            "CreatedBy": h.get("created_by", ""), "Tags": img.Tags if i == len(hist) - 1 else None,
            "Size": 0, "Comment": h.get("comment", "")} for i, h in enumerate(hist)]
    return jresp(list(reversed(out)))


async def image_tag(request: web.Request) -> web.StreamResponse:
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    if not repo:
        return err(400, "repository name must have at least one component")
    node(request).local_images.tag(request.match_info["name"], f"{repo}:{tag or 'latest'}")
    return web.Response(status=201)


async def image_delete(request: web.Request) -> web.StreamResponse:
    return jresp(node(request).local_images.remove(request.match_info["name"], qbool(request, "force")))


async def distribution(request: web.Request) -> web.StreamResponse:
    """``GET /distribution/{name}/json``: what the registry holds for the reference (the docker CLI pins
    the service's image to ``Descriptor.digest`` and its placement to ``Platforms``)."""
    images = node(request).local_images
    return jresp(await images.distribution(request.match_info["name"], request.headers.get(AUTH_HEADER, "")))


async def auth(request: web.Request) -> web.StreamResponse:
    """``docker login``: check the credentials against the registry (the CLI stores them)."""
    req: RegistryCredentials = await body_as(request, RegistryCredentials)
    await node(request).local_images.login(req)
    return jresp({"Status": "Login Succeeded", "IdentityToken": ""})


# ---------------------------------------------------------------- containers (the node's own and the swarm's)


def container_summaries(n: NodeAPI) -> list[dict[str, Any]]:
    """Every container of this node in ``GET /containers/json?all=1``'s shape."""
    return [containers.summary(c) for c in n.local_containers.list(all_=True)]




# ---------------------------------------------------------------- secrets and configs


def _payloads(request: web.Request) -> tuple[Payloads, type]:
    """The control API of the route's kind (``/secrets…`` or ``/configs…``) and its spec type."""
    c = control(request)
    resource = request.match_info.route.resource
    if resource is not None and "/secrets" in resource.canonical:  # the route's pattern, not a name in the path
        return c.secrets, SecretSpec
    return c.configs, ConfigSpec


async def payloads_list(request: web.Request) -> web.StreamResponse:
    api, _ = _payloads(request)
    return jresp([wire.object_json(o) for o in api.objects(filters_of(request))])


async def payload_create(request: web.Request) -> web.StreamResponse:
    api, spec_type = _payloads(request)
    obj = await api.create(await body_as(request, spec_type))
    return jresp({"ID": obj.ID}, 201)


async def payload_inspect(request: web.Request) -> web.StreamResponse:
    api, _ = _payloads(request)
    return jresp(wire.object_json(api.inspect(request.match_info["id"])))


async def payload_update(request: web.Request) -> web.StreamResponse:
    api, spec_type = _payloads(request)
    await api.update(request.match_info["id"], qint(request, "version"), await body_as(request, spec_type))
    return web.Response(status=200)


async def payload_delete(request: web.Request) -> web.StreamResponse:
    api, _ = _payloads(request)
    await api.remove(request.match_info["id"])
    return web.Response(status=204)


async def not_found(request: web.Request) -> web.StreamResponse:
    return err(404, "page not found")


# ---------------------------------------------------------------- app


# ---------------------------------------------------------------- volumes (this node's)


def volume_json(v: VolumeInfo) -> dict[str, Any]:
    return {"CreatedAt": v.CreatedAt, "Driver": v.Driver, "Labels": v.Labels, "Mountpoint": v.Mountpoint,
            "Name": v.Name, "Options": v.Options, "Scope": "local"}


async def volumes_list(request: web.Request) -> web.StreamResponse:
    vols = node(request).local_volumes.ls(filters_of(request))
    return jresp({"Volumes": [volume_json(v) for v in vols], "Warnings": None})


class VolumeCreateRequest(msgspec.Struct):
    Name: str = ""
    Driver: str = ""
    DriverOpts: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


async def volume_create(request: web.Request) -> web.StreamResponse:
    req: VolumeCreateRequest = await body_as(request, VolumeCreateRequest)
    name = req.Name or os.urandom(32).hex()  # Docker names an unnamed volume with 64 hex digits
    return jresp(volume_json(node(request).local_volumes.create(name, req.Driver, req.Labels, req.DriverOpts)), 201)


async def volume_inspect(request: web.Request) -> web.StreamResponse:
    return jresp(volume_json(node(request).local_volumes.inspect(request.match_info["name"])))


async def volume_delete(request: web.Request) -> web.StreamResponse:
    node(request).local_volumes.remove(request.match_info["name"], qbool(request, "force"))
    return web.Response(status=204)


async def volumes_prune(request: web.Request) -> web.StreamResponse:
    everything = any(v.lower() in ("true", "1") for v in filters_of(request).get("all", []))
    deleted, freed = node(request).local_volumes.prune(everything)
    return jresp({"VolumesDeleted": deleted or None, "SpaceReclaimed": freed})


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/_ping", ping), ("HEAD", "/_ping", ping),
    ("GET", "/version", version), ("GET", "/info", info),
    ("POST", "/swarm/init", swarm_init), ("POST", "/swarm/join", swarm_join),
    ("POST", "/swarm/leave", swarm_leave), ("GET", "/swarm", swarm_inspect),
    ("POST", "/swarm/update", swarm_update), ("GET", "/swarm/unlockkey", swarm_unlockkey),
    ("POST", "/swarm/unlock", swarm_unlock),
    ("GET", "/nodes", nodes_list), ("GET", "/nodes/{id}", node_inspect),
    ("POST", "/nodes/{id}/update", node_update), ("DELETE", "/nodes/{id}", node_delete),
    ("GET", "/services", services_list), ("POST", "/services/create", service_create),
    ("GET", "/services/{id}", service_inspect), ("POST", "/services/{id}/update", service_update),
    ("DELETE", "/services/{id}", service_delete), ("GET", "/services/{id}/logs", service_logs),
    ("GET", "/tasks", tasks_list), ("GET", "/tasks/{id}", task_inspect), ("GET", "/tasks/{id}/logs", task_logs),
    ("POST", "/images/create", images_create), ("POST", "/images/load", images_load),
    ("GET", "/images/get", images_get), ("GET", "/images/json", images_list),
    ("GET", "/images/{name:.+}/json", image_inspect), ("GET", "/images/{name:.+}/history", image_history),
    ("GET", "/images/{name:.+}/get", images_get), ("POST", "/images/{name:.+}/tag", image_tag),
    ("DELETE", "/images/{name:.+}", image_delete),
    ("GET", "/distribution/{name:.+}/json", distribution), ("POST", "/auth", auth),
    *containers.ROUTES,
    *networks.ROUTES,
    *((method, f"/{kind}{path}", handler) for kind in ("secrets", "configs") for method, path, handler in (
        ("GET", "", payloads_list), ("POST", "/create", payload_create), ("GET", "/{id}", payload_inspect),
        ("POST", "/{id}/update", payload_update), ("DELETE", "/{id}", payload_delete))),
    ("GET", "/volumes", volumes_list), ("POST", "/volumes/create", volume_create),
    ("POST", "/volumes/prune", volumes_prune), ("GET", "/volumes/{name}", volume_inspect),
    ("DELETE", "/volumes/{name}", volume_delete),
    *events_door.routes(events_door.Door(node, filters_of, image_summary, container_summaries)),
    # shoal's own operations, which the Engine API does not have, all under /shoal/
    ("POST", "/shoal/services/dry-run", service_dry_run),
    ("GET", "/shoal/kubeconfig", kubeconfig_get),
    ("GET", "/shoal/ui-token", ui_token_get),
    ("POST", "/shoal/kube/dry-run", kube_dry_run),
]


_ROUTE_LABELS: dict[str, str] = {}  # a route's canonical path -> its label (the version prefix left out)
_VERSIONED = "/{_version}"


def route_label(request: web.Request) -> tuple[tuple[str, ...], bool]:
    """A request's metric labels: its route's template without the version prefix (``/services/{id}``;
    ``unmatched`` for no route of the API), and its method."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    label = _ROUTE_LABELS.get(canonical)
    if label is None:
        label = canonical.removeprefix(_VERSIONED) if canonical not in ("", "/{tail}") else "unmatched"
        _ROUTE_LABELS[canonical] = label
    return (label, method_of(request)), True


def make_app(n: NodeAPI) -> web.Application:
    """The Engine API over ``n`` (a ``Daemon``, or any object that implements ``NodeAPI``)."""
    app = web.Application(middlewares=[request_metrics(DOCKER_REQUESTS, route_label), errors_middleware],
                          client_max_size=MAX_BODY)
    app[NODE] = n
    app[SERVICE_JSON] = {}
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/{_version:v[0-9]+\\.[0-9]+}" + path, handler)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def warn_if_open(host: str, tls: ssl.SSLContext | None) -> None:
    """dockerd's warnings for a TCP listener that does not require client certificates."""
    if tls is None or tls.verify_mode != ssl.CERT_REQUIRED:
        log.warning("Binding to IP address without --tlsverify is insecure and gives root access on this machine "
                    "to everyone who has access to your network. host=%s", host)
        log.warning("Binding to an IP address, even on localhost, can also give access to scripts run in a "
                    "browser. Be safe out there! host=%s", host)


async def serve(n: NodeAPI, hosts: list[str], tls: ssl.SSLContext | None = None) -> web.AppRunner:
    """Start listening on every ``unix://path`` and ``tcp://host:port`` in ``hosts``.

    ``tls`` (the daemon's ``--tls``/``--tlsverify``): TCP listeners serve HTTPS with it, as dockerd's
    do (default port 2376 then, else 2375); unix sockets stay plain."""
    runner = web.AppRunner(make_app(n), access_log=None, handle_signals=False)
    await runner.setup()
    for h in hosts:
        if h.startswith("unix://"):
            path = h[len("unix://"):]
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            site: web.BaseSite = web.UnixSite(runner, path)
            await site.start()
            os.chmod(path, 0o660)
        elif h.startswith("tcp://"):
            hostport = h[len("tcp://"):]
            host, _, port = hostport.rpartition(":")
            warn_if_open(h, tls)
            site = web.TCPSite(runner, host or "127.0.0.1", int(port or (2376 if tls else 2375)), ssl_context=tls)
            await site.start()
        else:
            raise InvalidArgument(f"invalid host: {h} (want unix://PATH or tcp://HOST:PORT)")
    return runner
