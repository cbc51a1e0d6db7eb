"""``GET /events`` (message shape, replay within since/until, the stream's end, dockerd's filters),
``GET /system/df``, ``POST /images/prune`` and ``POST /build/prune``, through aiohttp's test client
against an in-process daemon (hollow runtime)."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shoal import API_VERSION
from shoal.api.events import Event
from shoal.daemon import Daemon, DaemonConfig
from shoal.frontdoor.docker.app import make_app
from shoal.frontdoor.docker.events import event_time, include, message, strip_tag, timestamp
from tests.support import free_port

V = f"/v{API_VERSION}"


def ev(type_: str, action: str, actor: str, scope: str = "local", t: int = 1_700_000_000_123456789,
       **attrs: str) -> Event:
    return Event(Type=type_, Action=action, Actor=actor, Attributes=attrs, Scope=scope, TimeNano=t)


# ---------------------------------------------------------------- message and filters


def test_message_shapes() -> None:
    c = ev("container", "start", "abc", image="busybox", name="web")
    assert message(c) == {"status": "start", "id": "abc", "from": "busybox", "Type": "container", "Action": "start",
                          "Actor": {"ID": "abc", "Attributes": {"image": "busybox", "name": "web"}},
                          "scope": "local", "time": 1_700_000_000, "timeNano": 1_700_000_000_123456789}
    assert list(message(c)) == ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert list(message(ev("image", "prune", "", reclaimed="0"))) == [
        "status", "Type", "Action", "Actor", "scope", "time", "timeNano"]  # no ID: none said
    s = message(ev("service", "create", "svc", "swarm", name="web"))
    assert "status" not in s and s["scope"] == "swarm" and s["Actor"] == {"ID": "svc", "Attributes": {"name": "web"}}


def test_filters_as_dockerd_matches() -> None:
    c = ev("container", "start", "abc123", image="busybox:latest", name="web.1.xyz", team="blue")
    i = ev("image", "tag", "sha256:feed", name="registry.local:5000/app:2")
    s = ev("service", "update", "svc9", "swarm", name="web")
    assert include({}, c) and include({}, s)
    assert include({"type": ["container", "image"]}, c) and not include({"type": ["image"]}, c)
    assert include({"event": ["start"]}, c) and not include({"event": ["stop"]}, c)
    assert include({"scope": ["swarm"]}, s) and not include({"scope": ["swarm"]}, c)
    # by ID or name, whole or as a prefix
    assert include({"container": ["abc"]}, c) and include({"container": ["web.1.xyz"]}, c)
    assert not include({"container": ["db"]}, c)
    assert include({"service": ["web"]}, s) and include({"service": ["svc"]}, s)
    assert include({"service": ["web"]}, c)  # dockerd does not check the type: web.1.xyz starts with web
    assert not include({"service": ["web"]}, i)
    # image: ID, name, with or without the tag; a container's image attribute
    assert include({"image": ["registry.local:5000/app"]}, i) and include({"image": ["registry.local:5000/app:2"]}, i)
    assert include({"image": ["sha256:feed"]}, i) and not include({"image": ["app"]}, i)
    assert include({"image": ["busybox"]}, c) and include({"image": ["busybox:latest"]}, c)
    # labels: key, key=value, all of them
    assert include({"label": ["team"]}, c) and include({"label": ["team=blue"]}, c)
    assert not include({"label": ["team=red"]}, c) and not include({"label": ["team", "env"]}, c)
    # keys AND-ed, values OR-ed
    assert include({"type": ["container"], "event": ["stop", "start"]}, c)
    assert not include({"type": ["container"], "event": ["stop"]}, c)
    assert include({"event": ["exec_start"]}, ev("container", "exec_start: sh -c true", "abc"))


def test_times_and_references() -> None:
    assert event_time("") is None
    assert event_time("1700000000") == 1_700_000_000_000000000
    assert event_time("1700000000.5") == 1_700_000_000_500000000
    assert event_time("1700000000.000000001") == 1_700_000_000_000000001
    assert strip_tag("docker.io/library/busybox:1") == "busybox"
    assert strip_tag("host:5000/a/b@sha256:00") == "host:5000/a/b"
    assert strip_tag("sha256:abc") == "sha256:abc"
    assert timestamp("24h", now=100_000.0) == 100_000.0 - 86_400 and timestamp("1h30m", now=10_000.0) == 4_600.0
    assert timestamp("1700000000.5") == 1_700_000_000.5
    assert timestamp("2024-01-02T03:04:05Z") == 1704164645.0


# ---------------------------------------------------------------- the routes


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = Daemon(DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", runtime="hollow",
                            hostname="node-1"))
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def client(node: Daemon) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(make_app(node))) as c:
        yield c


async def lines(r: Any) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (await r.text()).splitlines()]


def rootfs(content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("f")
        ti.size = len(content)
        tf.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


async def test_replay_within_since_and_until(node: Daemon, client: TestClient) -> None:  # type: ignore[type-arg]
    log = node.events
    a = log.emit("volume", "create", "a", {"driver": "local"})
    b = log.emit("volume", "create", "b", {"driver": "local"})
    c = log.emit("container", "start", "c", {"name": "web"})
    r = await client.get(f"{V}/events", params={"since": f"{b.TimeNano // 10**9}.{b.TimeNano % 10**9:09d}",
                                                 "until": f"{time.time():.9f}"})
    assert r.status == 200 and r.content_type == "application/json"
    assert [m["Actor"]["ID"] for m in await lines(r)] == ["b", "c"]
    before_c = c.TimeNano - 1
    r = await client.get(f"{V}/events", params={"until": f"{before_c // 10**9}.{before_c % 10**9:09d}"})
    assert [m["Actor"]["ID"] for m in await lines(r)] == ["a", "b"]  # an until alone: the kept ones up to it
    r = await client.get(f"{V}/events", params={"since": "0", "until": f"{time.time():.9f}",
                                                 "filters": json.dumps({"type": {"container": True}})})
    assert [m["Actor"]["ID"] for m in await lines(r)] == ["c"]
    assert a.TimeNano <= b.TimeNano <= c.TimeNano


async def test_a_future_until_ends_the_stream_then_and_new_events_come_at_once(
        node: Daemon, client: TestClient) -> None:  # type: ignore[type-arg]
    node.events.emit("volume", "create", "old", {"driver": "local"})
    r = await client.get(f"{V}/events", params={"until": f"{time.time() + 2:.9f}"})
    assert r.status == 200
    first = json.loads(await asyncio.wait_for(r.content.readline(), 5))
    assert first["Actor"]["ID"] == "old"  # with an until: the kept events first
    node.events.emit("volume", "create", "new", {"driver": "local"})
    second = json.loads(await asyncio.wait_for(r.content.readline(), 5))
    assert second["Actor"]["ID"] == "new"
    assert await asyncio.wait_for(r.content.read(), 10) == b""  # ended at until


async def test_without_since_only_new_events(node: Daemon, client: TestClient) -> None:  # type: ignore[type-arg]
    node.events.emit("volume", "create", "old", {"driver": "local"})
    r = await client.get(f"{V}/events", params={"filters": json.dumps({"type": {"volume": True}})})
    assert r.status == 200  # the headers come once the handler has subscribed
    node.events.emit("container", "start", "skipped")
    node.events.emit("volume", "destroy", "new", {"driver": "local"})
    got = json.loads(await asyncio.wait_for(r.content.readline(), 5))
    assert (got["Action"], got["Actor"]["ID"]) == ("destroy", "new")
    r.close()
    await asyncio.wait_for(_no_listeners(node), 5)


async def _no_listeners(node: Daemon) -> None:
    while node.events.listeners:
        await asyncio.sleep(0.05)


async def test_since_after_until_and_bad_times(client: TestClient) -> None:  # type: ignore[type-arg]
    r = await client.get(f"{V}/events", params={"since": "10", "until": "5"})
    assert r.status == 400
    assert (await r.json())["message"] == "`since` time (10) cannot be after `until` time (5)"
    r = await client.get(f"{V}/events", params={"since": "abc"})
    assert (await r.json())["message"] == 'strconv.ParseInt: parsing "abc": invalid syntax'


async def test_the_swarms_events_on_a_manager(node: Daemon, client: TestClient) -> None:  # type: ignore[type-arg]
    since = f"{time.time():.9f}"
    await node.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
    body = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
            "Mode": {"Replicated": {"Replicas": 1}}}
    r = await client.post(f"{V}/services/create", json=body)
    assert r.status == 201, await r.text()
    sid = (await r.json())["ID"]
    spec = (await (await client.get(f"{V}/services/{sid}")).json())
    body["Mode"] = {"Replicated": {"Replicas": 3}}
    r = await client.post(f"{V}/services/{sid}/update", params={"version": spec["Version"]["Index"]}, json=body)
    assert r.status == 200, await r.text()
    assert (await client.delete(f"{V}/services/{sid}")).status == 200
    r = await client.get(f"{V}/events", params={"since": since, "until": f"{time.time():.9f}",
                                                 "filters": json.dumps({"type": {"service": True}})})
    got = [(m["Action"], m["Actor"]["ID"], m["Actor"]["Attributes"], m["scope"]) for m in await lines(r)]
    assert got[0] == ("create", sid, {"name": "web"}, "swarm")
    assert ("update", sid, {"name": "web", "replicas.old": "1", "replicas.new": "3"}, "swarm") in got
    assert got[-1] == ("remove", sid, {"name": "web"}, "swarm")
    await node.swarm_leave(force=True)
    n = len(node.events.history())
    node.events.emit("volume", "create", "x")
    assert len(node.events.history()) == n + 1  # the translator stopped with the manager: no error, no more


async def test_system_df_and_image_prune(node: Daemon, client: TestClient) -> None:  # type: ignore[type-arg]
    for repo, content in (("web", b"a"), ("", b"b")):
        r = await client.post(f"{V}/images/create", params={"fromSrc": "-", "repo": repo} if repo else {"fromSrc": "-"},
                              data=rootfs(content))
        assert r.status == 200, await r.text()
    df = await (await client.get(f"{V}/system/df")).json()
    assert list(df) == ["LayersSize", "Images", "Containers", "Volumes", "BuildCache", "BuilderSize"]
    assert df["BuildCache"] is None and df["Containers"] == [] and df["Volumes"] == []
    assert df["LayersSize"] == sum(i["Size"] for i in df["Images"]) > 0
    tags = sorted(tuple(i["RepoTags"]) for i in df["Images"])
    assert tags == [("<none>:<none>",), ("web:latest",)]
    assert all(i["SharedSize"] == 0 and i["Containers"] == 0 for i in df["Images"])
    only = await (await client.get(f"{V}/system/df", params={"type": "volume"})).json()
    assert list(only) == ["Volumes"]

    r = await client.post(f"{V}/images/prune", params={"filters": json.dumps({"foo": {"x": True}})})
    assert r.status == 400 and (await r.json())["message"] == "Invalid filter 'foo'"
    r = await client.post(f"{V}/images/prune", params={"filters": json.dumps({"dangling": {"true": True}})})
    out = await r.json()
    assert [list(x) for x in out["ImagesDeleted"]] == [["Deleted"], ["Deleted"]] and out["SpaceReclaimed"] > 0
    r = await client.post(f"{V}/images/prune", params={"filters": json.dumps({"dangling": {"false": True},
                                                                              "label": {"keep": True}})})
    assert await r.json() == {"ImagesDeleted": None, "SpaceReclaimed": 0}  # web has no label keep
    r = await client.post(f"{V}/images/prune", params={"filters": json.dumps({"dangling": {"false": True},
                                                                              "until": {"1h": True}})})
    assert (await r.json())["ImagesDeleted"] is None  # made just now: newer than an hour ago
    r = await client.post(f"{V}/images/prune", params={"filters": json.dumps({"dangling": {"false": True}})})
    assert (await r.json())["ImagesDeleted"][0] == {"Untagged": "web:latest"}
    r = await client.post(f"{V}/build/prune")
    assert await r.json() == {"CachesDeleted": None, "SpaceReclaimed": 0}
    actions = [(e.Type, e.Action) for e in node.events.history()]
    assert ("image", "prune") in actions and ("builder", "prune") in actions
