"""``GET /events``, ``GET /system/df``, ``POST /images/prune`` and ``POST /build/prune`` in Docker's words.

``GET /events`` streams the node's event log (``nodeapi.NodeAPI.events``) as the Engine API's events
messages, one JSON object a line, each written as it comes: with ``since`` and/or ``until`` (Unix
seconds with an optional fraction, as the CLI sends them) the kept events in that window first; an
``until`` in the past ends the stream after them, one in the future at that time. ``filters`` match
as dockerd's ``daemon/events/filter.go``: ``type``, ``scope`` and ``event`` exactly; ``container``,
``network``, ``volume``, ``daemon``, ``plugin``, ``service``, ``node``, ``secret``, ``config`` by the
actor's ID or its ``name`` attribute, whole or as a prefix; ``image`` by ID or name, with or without
its tag; ``label`` as ``key`` or ``key=value`` against the attributes. Values of one key are OR-ed,
keys AND-ed.

``GET /system/df`` reports this node's images (with the containers using each and the bytes shared
with others), containers, volumes (with their size and users) and no build cache (null, as dockerd
20.10 answers without one);
``POST /images/prune`` removes unused images (the core's rule, ``Images.prune``) with dockerd's
filters (``dangling``, ``until``, ``label``, ``label!``); ``POST /build/prune`` has nothing to prune.

The rows are made by ``routes`` with the door's helpers, which app.py passes in.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from shoal.api.errors import InvalidArgument
from shoal.api.events import Event
from shoal.api.nodeinfo import ImageInfo
from shoal.nodeapi import Filters, NodeAPI

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
POLL = 1.0  # how often a quiet stream checks that its client is still there (seconds)


@dataclass(frozen=True)
class Door:
    """What these handlers need from the rest of the door (app.py)."""

    node: Callable[[web.Request], NodeAPI]
    filters: Callable[[web.Request], Filters]
    image_summary: Callable[[ImageInfo], dict[str, Any]]
    container_summaries: Callable[[NodeAPI], list[dict[str, Any]]]


def _json(obj: Any) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj) + b"\n", content_type="application/json")


# ---------------------------------------------------------------- the events message


def message(ev: Event) -> dict[str, Any]:
    """The Engine API's events message (with the old ``status``/``id``/``from`` of container and
    image events, as dockerd still fills them)."""
    out: dict[str, Any] = {}
    if ev.Type in ("container", "image"):  # omitted when empty (an image prune's actor has no ID)
        if ev.Action:
            out["status"] = ev.Action
        if ev.Actor:
            out["id"] = ev.Actor
        if ev.Type == "container" and ev.Attributes.get("image"):
            out["from"] = ev.Attributes["image"]
    out.update({"Type": ev.Type, "Action": ev.Action,
                "Actor": {"ID": ev.Actor, "Attributes": dict(sorted(ev.Attributes.items()))},
                "scope": ev.Scope, "time": ev.TimeNano // 1_000_000_000, "timeNano": ev.TimeNano})
    return out


# ---------------------------------------------------------------- dockerd's filters


def _exact(f: Filters, key: str, value: str) -> bool:
    return key not in f or value in f[key]


def _fuzzy(f: Filters, key: str, value: str) -> bool:
    return key not in f or any(value == v or value.startswith(v) for v in f[key])


def _kv(f: Filters, key: str, attrs: dict[str, str]) -> bool:
    """dockerd's ``MatchKVList``: every ``k`` or ``k=v`` of the key is in the attributes."""
    if key not in f:
        return True
    for want in f[key]:
        k, eq, v = want.partition("=")
        if k not in attrs or (eq and attrs[k] != v):
            return False
    return True


_DOMAINS = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/")


def strip_tag(image: str) -> str:
    """A reference's repository as Docker prints it (``busybox`` of ``docker.io/library/busybox:1``);
    an ID or anything that is not a reference is kept whole."""
    if not image or image.startswith("sha256:") or re.fullmatch(r"[0-9a-f]{64}", image):
        return image
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    for prefix in _DOMAINS:
        if name.startswith(prefix):
            rest = name[len(prefix):]
            return rest
    return name


def _by_name(f: Filters, key: str, ev: Event) -> bool:
    """dockerd's ``fuzzyMatchName``: the actor's ID or name starts with a value (whatever the event's
    type: ``service=web`` also lets through the events of a container named ``web.1.…``)."""
    if key not in f:
        return True
    return _fuzzy(f, key, ev.Actor) or _fuzzy(f, key, ev.Attributes.get("name", ""))


def _image(f: Filters, ev: Event) -> bool:
    if "image" not in f:
        return True
    name = ev.Attributes.get("name" if ev.Type == "image" else "image", "")
    return any(v in f["image"] for v in (ev.Actor, name, strip_tag(ev.Actor), strip_tag(name)))


def _event(f: Filters, ev: Event) -> bool:
    # dockerd matches health_status, exec_create and exec_start as prefixes (their actions carry a suffix).
    if "event" in f and any(v in ("health_status", "exec_create", "exec_start") for v in f["event"]):
        return _fuzzy(f, "event", ev.Action)
    return _exact(f, "event", ev.Action)


NAMED_KINDS = ("daemon", "container", "plugin", "volume", "network", "node", "service", "secret", "config")


def include(f: Filters, ev: Event) -> bool:
    """Whether the event passes dockerd's events filters."""
    return (_event(f, ev) and _exact(f, "type", ev.Type) and _exact(f, "scope", ev.Scope)
            and all(_by_name(f, k, ev) for k in NAMED_KINDS) and _image(f, ev)
            and _kv(f, "label", ev.Attributes))


def event_time(raw: str) -> int | None:
    """dockerd's ``since``/``until``: ``seconds[.fraction]`` as nanoseconds (None when not given)."""
    if not raw:
        return None
    sec, dot, frac = raw.partition(".")
    for part in (sec, frac) if dot else (sec,):
        if not re.fullmatch(r"[+-]?[0-9]+", part):
            raise InvalidArgument(f'strconv.ParseInt: parsing "{part}": invalid syntax')
    ns = int(sec) * 1_000_000_000
    if dot:
        ns += int(frac[:9].ljust(9, "0"))
    return ns


async def events_get(door: Door, request: web.Request) -> web.StreamResponse:
    n = door.node(request)
    f = door.filters(request)
    q = request.query
    since, until = event_time(q.get("since", "")), event_time(q.get("until", ""))
    if until is not None and since is not None and until < since:
        raise InvalidArgument(f"`since` time ({q.get('since', '')}) cannot be after "
                              f"`until` time ({q.get('until', '')})")
    log = n.events
    with log.subscribe() as sub:
        past = log.history(since or 0, until or 0) if since is not None or until is not None else []
        replayed = {id(e) for e in past}  # one emitted from a thread as we subscribed may be queued too
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            for ev in past:
                if include(f, ev):
                    await resp.write(msgspec.json.encode(message(ev)) + b"\n")
            if until is not None and until < time.time_ns():
                await resp.write_eof()
                return resp
            while True:
                timeout = POLL
                if until is not None:
                    left = (until - time.time_ns()) / 1e9
                    if left <= 0:
                        break
                    timeout = min(timeout, left)
                transport = request.transport
                if transport is None or transport.is_closing():
                    return resp  # the client went away
                try:
                    ev = await asyncio.wait_for(sub.queue.get(), timeout)
                except TimeoutError:
                    continue
                if id(ev) not in replayed and include(f, ev):
                    await resp.write(msgspec.json.encode(message(ev)) + b"\n")
            await resp.write_eof()
        except ConnectionResetError:
            pass
    return resp


# ---------------------------------------------------------------- system df


async def system_df(door: Door, request: web.Request) -> web.StreamResponse:
    """``docker system df``: dockerd's DiskUsage from this node's stores (``type``, API 1.42: only
    the kinds asked for)."""
    n = door.node(request)
    kinds = set(request.query.getall("type", [])) or {"image", "container", "volume", "build-cache"}
    out: dict[str, Any] = {}
    containers = door.container_summaries(n)
    if "image" in kinds:
        sizes = n.local_images.layer_sizes()
        images = n.local_images.ls()
        refs: dict[str, int] = {}
        for img in images:
            for d in set(img.Config.get("rootfs", {}).get("diff_ids", [])):
                refs[d] = refs.get(d, 0) + 1
        summaries = []
        for img in images:
            s = door.image_summary(img)
            s["RepoTags"] = s.get("RepoTags") or ["<none>:<none>"]
            s["RepoDigests"] = s.get("RepoDigests") or (None if img.Tags else ["<none>@<none>"])
            diff_ids = set(img.Config.get("rootfs", {}).get("diff_ids", []))
            s["SharedSize"] = sum(sizes.get(d, 0) for d in diff_ids if refs.get(d, 0) > 1)
            s["Containers"] = sum(1 for c in containers if c.get("ImageID") == img.ID)
            summaries.append(s)
        summaries.sort(key=lambda s: -int(s.get("Created") or 0))
        out["LayersSize"] = sum(sizes.values())
        out["Images"] = summaries
    if "container" in kinds:
        out["Containers"] = [{k: v for k, v in c.items() if k != "SizeRw" or v} for c in containers]
    if "volume" in kinds:
        vols = n.local_volumes
        usage = vols.usage()
        out["Volumes"] = [{
            "CreatedAt": v.CreatedAt, "Driver": v.Driver, "Labels": v.Labels, "Mountpoint": v.Mountpoint,
            "Name": v.Name, "Options": v.Options, "Scope": "local",
            "UsageData": {"Size": usage.get(v.Name, (0, 0))[0], "RefCount": usage.get(v.Name, (0, 0))[1]},
        } for v in vols.ls()]
    if "build-cache" in kinds:
        out["BuildCache"] = None  # no builder here: dockerd 20.10 says null, and 0 bytes
        out["BuilderSize"] = 0
    return _json(out)


# ---------------------------------------------------------------- prune


_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def timestamp(value: str, now: float | None = None) -> float:
    """Docker's ``GetTimestamp``: a Go duration before now (``24h``, ``1h30m``), an RFC 3339 date or
    time (local when it has no zone), or Unix seconds; as Unix seconds."""
    now = time.time() if now is None else now
    v = value.strip()
    body = v.lstrip("+-")
    if v != "0" and body and re.fullmatch(f"(?:{_DURATION.pattern})+", body):
        secs = sum(float(num) * _UNIT[unit] for num, unit in _DURATION.findall(body))
        return now - (-secs if v.startswith("-") else secs)
    try:
        if "-" in v:
            t = _dt.datetime.fromisoformat(v.replace("z", "Z"))
            return t.timestamp()  # a naive time is local, as Docker reads it
        return float(v)
    except ValueError as e:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"') from e


PRUNE_FILTERS = ("dangling", "label", "label!", "until")


def _labels_match(f: Filters, labels: dict[str, str]) -> bool:
    """dockerd's prune label filters: every ``label`` matches, and no ``label!`` does."""
    if not _kv(f, "label", labels):
        return False
    return not ("label!" in f and _kv(f, "label!", labels))


async def images_prune(door: Door, request: web.Request) -> web.StreamResponse:
    n = door.node(request)
    f = door.filters(request)
    for key in f:
        if key not in PRUNE_FILTERS:
            raise InvalidArgument(f"Invalid filter '{key}'")
    dangling_only = True
    if "dangling" in f:
        values = f["dangling"]
        if "false" in values or "0" in values:
            dangling_only = False
        # any other value: dangling ones only, as dockerd 20.10 takes it
    until: float | None = None
    if "until" in f:
        if len(f["until"]) > 1:
            raise InvalidArgument("more than one until filter specified")
        until = timestamp(f["until"][0])

    def keep(img: ImageInfo) -> bool:
        created = door.image_summary(img).get("Created") or 0
        if until is not None and created > until:
            return True
        return not _labels_match(f, dict(img.container_config.get("Labels") or {}))

    in_use = {c["ImageID"] for c in door.container_summaries(n) if c.get("ImageID")}
    report, freed = await asyncio.to_thread(n.local_images.prune, dangling_only, keep, in_use)
    return _json({"ImagesDeleted": [msgspec.to_builtins(r) for r in report] or None, "SpaceReclaimed": freed})


async def build_prune(door: Door, request: web.Request) -> web.StreamResponse:
    """There is no builder here, so no build cache: nothing to prune (dockerd's event all the same)."""
    door.node(request).events.emit("builder", "prune", "", {"reclaimed": "0"})
    return _json({"CachesDeleted": None, "SpaceReclaimed": 0})


def routes(door: Door) -> list[tuple[str, str, Handler]]:
    def bind(fn: Callable[[Door, web.Request], Awaitable[web.StreamResponse]]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await fn(door, request)
        handler.__name__ = fn.__name__
        return handler

    return [
        ("GET", "/events", bind(events_get)),
        ("GET", "/system/df", bind(system_df)),
        ("POST", "/images/prune", bind(images_prune)),
        ("POST", "/build/prune", bind(build_prune)),
    ]
