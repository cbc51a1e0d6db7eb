"""The Docker Engine API front door (the swarm subset the docker CLI 28 uses), on aiohttp.

A thin translator: it parses query strings and bodies, calls the daemon's control API and image
store, and writes Docker's JSON shapes, status codes and ``{"message": …}`` errors. Every route is
served with and without a ``/v1.NN`` prefix. Unknown routes answer 404 ``page not found``. Operations
the Engine API does not have live under ``/shoal/`` (``POST /shoal/services/dry-run``: the placement a
``POST /services/create`` with the same body would make, written nowhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import os
import platform
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import msgspec
from aiohttp import web

from shoal import API_VERSION, ENGINE_VERSION, MIN_API_VERSION, __version__
from shoal.api.errors import InvalidArgument, ShoalError
from shoal.api.humanize import human_duration
from shoal.api.states import TaskState
from shoal.api.types import (
    ClusterSpec,
    ConfigSpec,
    Network,
    Node,
    NodeSpec,
    SecretSpec,
    Service,
    ServiceSpec,
    Task,
    parse_ts,
)
from shoal.daemon import Daemon
from shoal.frontdoor.docker import logstream
from shoal.manager.ca import join_token
from shoal.manager.control import service_with_defaults
from shoal.manager.networks import NetworkCreateRequest
from shoal.manager.quorum import NO_LEADER
from shoal.manager.secrets import PayloadAPI
from shoal.runtime import reference
from shoal.runtime.base import container_name
from shoal.runtime.images import Image, normalize, split_ref
from shoal.runtime.registry import AuthConfig, parse_pull_ref
from shoal.store.backend import StoreError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DAEMON: web.AppKey[Daemon] = web.AppKey("daemon", Daemon)
AUTH_HEADER = "X-Registry-Auth"  # base64url JSON {username, password, serveraddress}


def jresp(obj: Any, status: int = 200) -> web.Response:
    body = obj if isinstance(obj, bytes) else msgspec.json.encode(obj)
    return web.Response(body=body + b"\n", status=status, content_type="application/json")


def err(status: int, message: str) -> web.Response:
    return jresp({"message": message}, status)


# Writes to the cluster state: refused at once, in Swarm's words, while the managers have no leader.
_CLUSTER_WRITE = re.compile(r"^(/v[0-9.]+)?/(services|nodes|tasks|secrets|configs|networks|swarm/update)")


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.method in ("POST", "PUT", "DELETE") and _CLUSTER_WRITE.match(request.path):
            elector = daemon(request).elector
            if elector is not None and not await elector.writable():
                return err(503, NO_LEADER)
        return await handler(request)
    except ShoalError as e:
        return err(e.status, e.message)
    except StoreError as e:
        if daemon(request).in_quorum:  # an etcd request that timed out without a quorum
            log.warning("%s %s: %s", request.method, request.path, e)
            return err(503, NO_LEADER)
        log.exception("store error on %s %s", request.method, request.path)
        return err(500, f"internal error: {e}")
    except msgspec.ValidationError as e:
        return err(400, f"invalid JSON: json: {e}")  # dockerd's ReadJSON wraps every decoding error
    except msgspec.DecodeError as e:
        return err(400, f"invalid JSON: {e}")
    except web.HTTPNotFound:
        return err(404, "page not found")
    except web.HTTPMethodNotAllowed:
        return err(405, "method not allowed")
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # a bug: say so in Docker's shape rather than drop the connection
        log.exception("internal error on %s %s", request.method, request.path)
        return err(500, f"internal error: {e}")


def filters_of(request: web.Request) -> dict[str, list[str]]:
    """Docker's ``filters`` query: ``{"key": {"value": true}}`` (or the old ``{"key": ["value"]}``)."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid filter '{raw}'") from e
    out: dict[str, list[str]] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out[k] = [x for x, on in v.items() if on]
        elif isinstance(v, list):
            out[k] = [str(x) for x in v]
    return out


def qbool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def qint(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "")
    try:
        return int(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid {name}: {raw!r}") from e


async def body_as(request: web.Request, typ: type) -> Any:
    raw = await request.read()
    if not raw.strip():
        return typ()
    return msgspec.json.decode(raw, type=typ)


def daemon(request: web.Request) -> Daemon:
    return request.app[DAEMON]


def cluster_json(d: Daemon) -> dict[str, Any]:
    c = d.require_manager().control.cluster()
    data: dict[str, Any] = msgspec.to_builtins(c)
    data.pop("RootCAKey", None)
    data.pop("UnlockKey", None)
    data.pop("NetworkBootstrapKeys", None)
    data.pop("EncryptionKeyLamportClock", None)
    return data


# ---------------------------------------------------------------- system


async def ping(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    headers = {
        "API-Version": API_VERSION,
        "OSType": "linux",
        "Docker-Experimental": "false",
        "Swarm": "active/manager" if d.manager is not None else "active/worker" if d.worker is not None
        else "locked" if d.locked else "inactive",
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
    }
    if request.method == "HEAD":
        return web.Response(status=200, headers=headers, content_type="text/plain")
    return web.Response(text="OK", headers=headers, content_type="text/plain")


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
    d = daemon(request)
    desc = d.describe()
    swarm: dict[str, Any] = {
        "NodeID": "", "NodeAddr": "", "LocalNodeState": d.local_node_state(), "ControlAvailable": False,
        "Error": "", "RemoteManagers": None,
    }
    running = 0
    if d.manager is not None:
        nodes = d.manager.store.list(Node)
        managers = [n for n in nodes if n.Spec.Role == "manager"]
        swarm.update({
            "NodeID": d.node_id,
            "NodeAddr": d.addr.rsplit(":", 1)[0],
            "ControlAvailable": True,
            "RemoteManagers": [{"NodeID": n.ID, "Addr": n.ManagerStatus.Addr if n.ManagerStatus else ""}
                               for n in managers],
            "Nodes": len(nodes),
            "Managers": len(managers),
            "Cluster": cluster_json(d),
        })
    elif d.worker is not None:
        swarm.update({
            "NodeID": d.node_id,
            "NodeAddr": d.addr.rsplit(":", 1)[0],
            "RemoteManagers": [{"NodeID": "", "Addr": a} for a in d.managers],
        })
    if d.worker is not None:
        running = len(d.worker.runners)
    return jresp({
        "ID": d.node_id or "shoal",
        "Containers": running, "ContainersRunning": running, "ContainersPaused": 0, "ContainersStopped": 0,
        "Images": len(d.images.ids()),
        "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "overlay"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
        "Debug": False, "NFd": 0, "NGoroutines": 0, "SystemTime": "", "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs", "CgroupVersion": "1", "NEventsListener": 0,
        "KernelVersion": _kernel(), "OperatingSystem": "shoal on " + platform.system(), "OSVersion": "",
        "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": None,
        "NCPU": desc.Resources.NanoCPUs // 1_000_000_000, "MemTotal": desc.Resources.MemoryBytes,
        "DockerRootDir": str(d.data_root), "Name": d.hostname,
        "Labels": [f"{k}={v}" for k, v in sorted(d.config.labels.items())],
        "ExperimentalBuild": False, "ServerVersion": ENGINE_VERSION,
        "Runtimes": {d.runtime_name: {"path": d.runtime_name}}, "DefaultRuntime": d.runtime_name,
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
    node_id = await daemon(request).swarm_init(
        req.AdvertiseAddr, req.ListenAddr, req.Spec, req.DefaultAddrPool, req.SubnetSize, req.DataPathPort,
        req.ForceNewCluster, req.AutoLockManagers,
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
    await daemon(request).swarm_join(req.RemoteAddrs or [], req.JoinToken, req.ListenAddr, req.AdvertiseAddr)
    return web.Response(status=200)


async def swarm_leave(request: web.Request) -> web.StreamResponse:
    await daemon(request).swarm_leave(qbool(request, "force"))
    return web.Response(status=200)


async def swarm_inspect(request: web.Request) -> web.StreamResponse:
    return jresp(cluster_json(daemon(request)))


async def swarm_update(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    m = d.require_manager()
    spec: ClusterSpec = await body_as(request, ClusterSpec)
    trust = m.control.cluster().TLSInfo.TrustRoot
    await m.control.update_cluster(
        qint(request, "version"), spec, qbool(request, "rotateWorkerToken"), qbool(request, "rotateManagerToken"),
        lambda _role: join_token(trust),
    )
    autolock = spec.EncryptionConfig.AutoLockManagers
    rotate = qbool(request, "rotateManagerUnlockKey")
    if rotate and not autolock:
        return err(400, "rpc error: code = FailedPrecondition desc = cannot rotate because autolock is not turned on")
    await d.set_autolock(autolock, rotate)
    return web.Response(status=200)


async def swarm_unlockkey(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    return jresp({"UnlockKey": m.control.cluster().UnlockKey})


class UnlockRequest(msgspec.Struct):
    UnlockKey: str = ""


async def swarm_unlock(request: web.Request) -> web.StreamResponse:
    req: UnlockRequest = await body_as(request, UnlockRequest)
    await daemon(request).unlock(req.UnlockKey)
    return web.Response(status=200)


# ---------------------------------------------------------------- nodes


async def nodes_list(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    return jresp(m.control.nodes(filters_of(request)))


async def node_inspect(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    return jresp(m.control.node(request.match_info["id"]))


async def node_update(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    spec: NodeSpec = await body_as(request, NodeSpec)
    await m.control.update_node(request.match_info["id"], qint(request, "version"), spec)
    return web.Response(status=200)


async def node_delete(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    await m.control.remove_node(request.match_info["id"], qbool(request, "force"))
    return web.Response(status=200)


# ---------------------------------------------------------------- services


def _hide_auth(spec: Any) -> Any:
    """A ServiceSpec or TaskSpec without the registry credentials it carries (never shown, as Swarm)."""
    tt = spec.TaskTemplate if isinstance(spec, ServiceSpec) else spec
    cs = tt.ContainerSpec
    if cs is None or cs.PullOptions is None:
        return spec
    tt = msgspec.structs.replace(tt, ContainerSpec=msgspec.structs.replace(cs, PullOptions=None))
    return msgspec.structs.replace(spec, TaskTemplate=tt) if isinstance(spec, ServiceSpec) else tt


def task_json(t: Task) -> Task:
    spec = _hide_auth(t.Spec)
    return t if spec is t.Spec else msgspec.structs.replace(t, Spec=spec)


def service_json(m: Any, s: Service, status: bool = False, defaults: bool = False) -> Service:
    out = service_with_defaults(s) if defaults else s
    spec, prev = _hide_auth(out.Spec), _hide_auth(out.PreviousSpec) if out.PreviousSpec is not None else None
    if status or spec is not out.Spec or prev is not out.PreviousSpec:
        out = msgspec.structs.replace(out, Spec=spec, PreviousSpec=prev)
    if status:
        out.ServiceStatus = m.control.service_status(s)
    return out


async def services_list(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    status = qbool(request, "status")
    return jresp([service_json(m, s, status) for s in m.control.services(filters_of(request))])


async def service_create(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    spec: ServiceSpec = await body_as(request, ServiceSpec)
    svc = await m.control.create_service(spec, request.headers.get(AUTH_HEADER, ""))
    # API 1.30 and later: the client pins the image's digest itself (GET /distribution) and warns.
    return jresp({"ID": svc.ID, "Warnings": None}, 201)


async def service_dry_run(request: web.Request) -> web.StreamResponse:
    """shoal's own: where ``POST /services/create`` with this body would place the tasks (no write)."""
    m = daemon(request).require_manager()
    spec: ServiceSpec = await body_as(request, ServiceSpec)
    return jresp(m.control.dry_run(spec))


async def service_inspect(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    s = m.control.service(request.match_info["id"])
    return jresp(service_json(m, s, defaults=qbool(request, "insertDefaults")))


async def service_update(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    spec: ServiceSpec = await body_as(request, ServiceSpec)
    rollback = request.query.get("rollback", "") == "previous"
    await m.control.update_service(request.match_info["id"], qint(request, "version"), spec, rollback,
                                   request.headers.get(AUTH_HEADER, ""), request.query.get("registryAuthFrom", ""))
    return jresp({"Warnings": None})


async def service_delete(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    await m.control.remove_service(request.match_info["id"])
    return web.Response(status=200)


async def service_logs(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    m = d.require_manager()
    s = m.control.service(request.match_info["id"])
    return await logstream.serve(request, d, m, service=s)


# ---------------------------------------------------------------- tasks


async def tasks_list(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    return jresp([task_json(t) for t in m.control.tasks(filters_of(request))])


async def task_inspect(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    return jresp(task_json(m.control.task(request.match_info["id"])))


async def task_logs(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    m = d.require_manager()
    t: Task = m.control.task(request.match_info["id"])
    return await logstream.serve(request, d, m, task=t)


# ---------------------------------------------------------------- images


def image_summary(d: Daemon, img: Image) -> dict[str, Any]:
    size = d.images.size(img)
    return {
        "Id": img.id, "ParentId": "", "RepoTags": img.tags or None, "RepoDigests": d.images.repo_digests(img.id),
        "Created": int(parse_ts(img.config.get("created", ""))), "Size": size, "SharedSize": -1,
        "VirtualSize": size, "Labels": img.container_config.get("Labels"), "Containers": -1,
    }


def image_inspect_json(d: Daemon, img: Image) -> dict[str, Any]:
    size = d.images.size(img)
    cfg = img.config
    return {
        "Id": img.id, "RepoTags": img.tags, "RepoDigests": d.images.repo_digests(img.id), "Parent": "",
        "Comment": "",
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
    d = daemon(request)
    q = request.query
    if q.get("fromSrc") is None:
        return await _pull(request, d)
    if q.get("fromSrc") != "-":
        return err(400, "importing from a URL is not supported; pipe the tarball with fromSrc=-")
    body = await _spool(request)
    repo, tag = q.get("repo", ""), q.get("tag", "")
    if repo and ":" in repo.rsplit("/", 1)[-1] and not tag:
        repo, tag = split_ref(repo)
    changes = q.getall("changes", [])
    try:
        iid = await asyncio.to_thread(d.images.import_tar, body, repo, tag, changes, q.get("message", ""))
    finally:
        body.close()
    return await _stream_messages(request, [{"status": iid}])


async def _pull(request: web.Request, d: Daemon) -> web.StreamResponse:
    """``docker pull``: Docker's JSON progress, streamed. An error before the first message is an HTTP
    error (the CLI prints ``Error response from daemon: …``); after it, an ``errorDetail`` message."""
    ref = parse_pull_ref(request.query.get("fromImage", ""), request.query.get("tag", ""))
    auth = AuthConfig.decode(request.headers.get(AUTH_HEADER, ""))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})

    async def emit(msg: dict[str, Any]) -> None:
        if not resp.prepared:
            await resp.prepare(request)
        await resp.write(json.dumps(msg).encode() + b"\r\n")

    try:
        await d.registry.pull(ref, auth, d.images, emit)
    except ShoalError as e:
        if not resp.prepared:
            raise
        await emit({"errorDetail": {"message": e.message}, "error": e.message})
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
    d = daemon(request)
    body = await _spool(request)
    try:
        loaded = await asyncio.to_thread(d.images.load, body)
    finally:
        body.close()
    return await _stream_messages(request, [{"stream": line + "\n"} for line in loaded])


async def images_get(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    names = request.query.getall("names", []) or [unquote(request.match_info.get("name", ""))]
    for n in names:
        d.images.must(n)
    fd, path = tempfile.mkstemp(prefix="shoal-save-", suffix=".tar")
    try:
        with os.fdopen(fd, "wb") as out:
            await asyncio.to_thread(d.images.save, names, out)
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
    d = daemon(request)
    f = filters_of(request)
    out = []
    for iid in d.images.ids():
        img = d.images.get_by_id(iid)
        if img is None:
            continue
        summary = image_summary(d, img)
        if "reference" in f:
            tags = [t for t in img.tags if any(_ref_matches(r, t) for r in f["reference"])]
            if not tags:
                continue
            summary["RepoTags"] = tags
        if "dangling" in f and ("true" in f["dangling"]) != (not img.tags):
            continue
        out.append(summary)
    out.sort(key=lambda x: -x["Created"])
    return jresp(out)


def _ref_matches(pattern: str, tag: str) -> bool:
    """Docker's ``reference`` filter: ``name`` matches every tag of that repository, ``name:tag``
    exactly one; shell-style wildcards allowed."""
    repo, _, _tag = normalize(tag).rpartition(":")
    if ":" in pattern.rsplit("/", 1)[-1]:
        return fnmatch.fnmatchcase(normalize(tag), normalize(pattern))
    return fnmatch.fnmatchcase(repo, pattern.removeprefix("docker.io/library/"))


async def image_inspect(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    name = request.match_info["name"]
    img = d.images.resolve(name)
    if img is None:
        return err(404, f"No such image: {name}")
    return jresp(image_inspect_json(d, img))


async def image_history(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    img = d.images.must(request.match_info["name"])
    hist = img.config.get("history") or []
    out = [{"Id": img.id if i == len(hist) - 1 else "<missing>", "Created": int(parse_ts(h.get("created", ""))),
            "CreatedBy": h.get("created_by", ""), "Tags": img.tags if i == len(hist) - 1 else None,
            "Size": 0, "Comment": h.get("comment", "")} for i, h in enumerate(hist)]
    return jresp(list(reversed(out)))


async def image_tag(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    if not repo:
        return err(400, "repository name must have at least one component")
    d.images.tag(request.match_info["name"], f"{repo}:{tag or 'latest'}")
    return web.Response(status=201)


async def image_delete(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    in_use: set[str] = set()
    if d.manager is not None:
        for s in d.manager.store.list(Service):
            cs = s.Spec.TaskTemplate.ContainerSpec
            img = d.images.resolve(cs.Image) if cs else None
            if img is not None:
                in_use.add(img.id)
    return jresp(d.images.remove(request.match_info["name"], qbool(request, "force"), in_use))


async def distribution(request: web.Request) -> web.StreamResponse:
    """``GET /distribution/{name}/json``: what the registry holds for the reference (the docker CLI pins
    the service's image to ``Descriptor.digest`` and its placement to ``Platforms``)."""
    name = request.match_info["name"]
    if name.startswith("sha256:"):
        return err(500, "no manifest found for full image ID")
    ref = reference.parse(name)
    auth = AuthConfig.decode(request.headers.get(AUTH_HEADER, ""))
    return jresp(await daemon(request).registry.inspect(ref, auth))


class AuthRequest(msgspec.Struct, kw_only=True):
    username: str = ""
    password: str = ""
    serveraddress: str = ""
    identitytoken: str = ""
    registrytoken: str = ""


async def auth(request: web.Request) -> web.StreamResponse:
    """``docker login``: check the credentials against the registry (the CLI stores them)."""
    req: AuthRequest = await body_as(request, AuthRequest)
    await daemon(request).registry.login(AuthConfig.from_json(msgspec.to_builtins(req)))
    return jresp({"Status": "Login Succeeded", "IdentityToken": ""})


# ---------------------------------------------------------------- containers (the tasks on this node)


def _container_summary(d: Daemon, runner: Any) -> dict[str, Any]:
    t = runner.task
    spec = t.Spec.ContainerSpec
    image = spec.Image if spec else ""
    img = d.images.resolve(image) if image else None
    state = runner.state
    since = parse_ts(runner.status.Timestamp) if runner.status.Timestamp else 0.0
    ago = human_duration(max(time.time() - since, 0))
    if state == TaskState.RUNNING:
        cstate, status = "running", f"Up {ago}"
    elif state.terminal:
        code = runner.status.ContainerStatus.ExitCode if runner.status.ContainerStatus else 0
        cstate, status = "exited", f"Exited ({code}) {ago} ago"
    else:
        cstate, status = "created", "Created"
    cfg = img.container_config if img else {}
    argv = list((spec.Command if spec and spec.Command else cfg.get("Entrypoint")) or []) + list(
        (spec.Args if spec and spec.Args else cfg.get("Cmd")) or [])
    labels = {
        "com.docker.swarm.node.id": t.NodeID,
        "com.docker.swarm.service.id": t.ServiceID,
        "com.docker.swarm.service.name": (t.ServiceAnnotations or {}).get("Name", ""),
        "com.docker.swarm.task": "",
        "com.docker.swarm.task.id": t.ID,
        "com.docker.swarm.task.name": container_name(t),
        **((spec.Labels or {}) if spec else {}),
    }
    return {
        "Id": t.ID, "Names": ["/" + container_name(t)], "Image": image, "ImageID": img.id if img else "",
        "Command": " ".join(argv), "Created": int(parse_ts(t.CreatedAt)), "Ports": [], "Labels": labels,
        "State": cstate, "Status": status, "HostConfig": {"NetworkMode": "none"},
        "NetworkSettings": {"Networks": {}}, "Mounts": [],
    }


async def containers_list(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    show_all = qbool(request, "all")
    out = []
    runners = list(d.worker.runners.values()) if d.worker is not None else []
    for r in runners:
        summary = _container_summary(d, r)
        if show_all or summary["State"] == "running":
            out.append(summary)
    out.sort(key=lambda c: -c["Created"])
    return jresp(out)


# ---------------------------------------------------------------- networks


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


async def networks_list(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    return jresp([network_json(n) for n in m.control.networks.networks(filters_of(request))])


async def network_inspect(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    return jresp(network_json(m.control.networks.network(request.match_info["id"])))


async def network_create(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    req: NetworkCreateRequest = await body_as(request, NetworkCreateRequest)
    net = await m.control.networks.create(req)
    return jresp({"Id": net.ID, "Warning": ""}, 201)


async def network_delete(request: web.Request) -> web.StreamResponse:
    m = daemon(request).require_manager()
    await m.control.networks.remove(request.match_info["id"])
    return web.Response(status=204)


# ---------------------------------------------------------------- secrets and configs


def _payloads(request: web.Request) -> tuple[PayloadAPI, type]:
    """The control API of the route's kind (``/secrets…`` or ``/configs…``) and its spec type."""
    control = daemon(request).require_manager().control
    resource = request.match_info.route.resource
    if resource is not None and "/secrets" in resource.canonical:  # the route's pattern, not a name in the path
        return control.secrets, SecretSpec
    return control.configs, ConfigSpec


async def payloads_list(request: web.Request) -> web.StreamResponse:
    api, _ = _payloads(request)
    return jresp(api.objects(filters_of(request)))


async def payload_create(request: web.Request) -> web.StreamResponse:
    api, spec_type = _payloads(request)
    obj = await api.create(await body_as(request, spec_type))
    return jresp({"ID": obj.ID}, 201)


async def payload_inspect(request: web.Request) -> web.StreamResponse:
    api, _ = _payloads(request)
    return jresp(api.inspect(request.match_info["id"]))


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


def _volume_users(d: Daemon) -> dict[str, list[str]]:
    in_use = getattr(d.runtime, "volumes_in_use", None)
    return in_use() if in_use is not None else {}


async def volumes_list(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    vols = d.volumes.ls(filters_of(request), set(_volume_users(d)))
    return jresp({"Volumes": vols, "Warnings": None})


class VolumeCreateRequest(msgspec.Struct):
    Name: str = ""
    Driver: str = ""
    DriverOpts: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


async def volume_create(request: web.Request) -> web.StreamResponse:
    req = msgspec.json.decode(await request.read() or b"{}", type=VolumeCreateRequest)
    name = req.Name or os.urandom(32).hex()  # Docker names an unnamed volume with 64 hex digits
    return jresp(daemon(request).volumes.create(name, req.Driver, req.Labels, req.DriverOpts), 201)


async def volume_inspect(request: web.Request) -> web.StreamResponse:
    return jresp(daemon(request).volumes.inspect(request.match_info["name"]))


async def volume_delete(request: web.Request) -> web.StreamResponse:
    d, name = daemon(request), request.match_info["name"]
    d.volumes.remove(name, _volume_users(d).get(name, []), qbool(request, "force"))
    return web.Response(status=204)


async def volumes_prune(request: web.Request) -> web.StreamResponse:
    d = daemon(request)
    everything = any(v.lower() in ("true", "1") for v in filters_of(request).get("all", []))
    deleted, freed = d.volumes.prune(set(_volume_users(d)), everything)
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
    ("GET", "/containers/json", containers_list),
    ("GET", "/networks", networks_list), ("POST", "/networks/create", network_create),
    ("GET", "/networks/{id}", network_inspect), ("DELETE", "/networks/{id}", network_delete),
    *((method, f"/{kind}{path}", handler) for kind in ("secrets", "configs") for method, path, handler in (
        ("GET", "", payloads_list), ("POST", "/create", payload_create), ("GET", "/{id}", payload_inspect),
        ("POST", "/{id}/update", payload_update), ("DELETE", "/{id}", payload_delete))),
    ("GET", "/volumes", volumes_list), ("POST", "/volumes/create", volume_create),
    ("POST", "/volumes/prune", volumes_prune), ("GET", "/volumes/{name}", volume_inspect),
    ("DELETE", "/volumes/{name}", volume_delete),
    # shoal's own operations, which the Engine API does not have, all under /shoal/
    ("POST", "/shoal/services/dry-run", service_dry_run),
]


def make_app(d: Daemon) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=1 << 40)
    app[DAEMON] = d
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/{_version:v[0-9]+\\.[0-9]+}" + path, handler)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


async def serve(d: Daemon, hosts: list[str]) -> web.AppRunner:
    """Start listening on every ``unix://path`` and ``tcp://host:port`` in ``hosts``."""
    runner = web.AppRunner(make_app(d), access_log=None, handle_signals=False)
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
            site = web.TCPSite(runner, host or "127.0.0.1", int(port or 2375))
            await site.start()
        else:
            raise InvalidArgument(f"invalid host: {h} (want unix://PATH or tcp://HOST:PORT)")
    return runner
