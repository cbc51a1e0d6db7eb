"""The Docker door's containers routes (``frontdoor/docker/containers.py``) over the engine with the fake
runtime and network: status codes, Docker's JSON shapes and words, the ``ps`` filters, wait and logs
streams."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shoal import API_VERSION
from shoal.api.errors import ShoalError
from shoal.frontdoor.docker.app import make_app
from shoal.localstores import NodeImages
from shoal.nodeapi import NodeAPI
from shoal.runtime.registry import RegistryClient
from tests.unit.agent.test_containers import Env
from tests.unit.helpers import until

V = f"/v{API_VERSION}"
JSON = {"Content-Type": "application/json"}


class Node:
    """The part of a node the containers routes use."""

    def __init__(self, env: Env) -> None:
        self.local_containers = env.engine
        self.local_images = NodeImages(env.images, RegistryClient(), lambda: None)

    def store_failure(self, e: Exception) -> ShoalError | None:
        return None


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path)
    yield e
    await e.engine.close()


@pytest.fixture
async def client(env: Env) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(cast(NodeAPI, Node(env))))) as c:
        yield c


async def create(client: TestClient, name: str = "", **body: Any) -> str:
    r = await client.post(f"{V}/containers/create" + (f"?name={name}" if name else ""), headers=JSON,
                          data=json.dumps({"Image": "busybox", **body}))
    assert r.status == 201, await r.text()
    out = await r.json()
    assert out["Warnings"] == []
    return str(out["Id"])


async def message(r: Any, status: int) -> str:
    assert r.status == status, await r.text()
    return str((await r.json())["message"])


async def test_create_errors(client: TestClient) -> None:
    r = await client.post(f"{V}/containers/create", headers=JSON, data=json.dumps({"Image": "nothere"}))
    assert await message(r, 404) == "No such image: nothere:latest"  # the CLI pulls, then creates again
    cid = await create(client, "web", Cmd=["sleep", "9"], Unknown={"ignored": True})
    r = await client.post(f"{V}/containers/create?name=web", headers=JSON, data=json.dumps({"Image": "busybox"}))
    assert (await message(r, 409)).startswith(f'Conflict. The container name "/web" is already in use by container '
                                              f'"{cid}"')
    r = await client.post(f"{V}/containers/create", headers=JSON,
                          data=json.dumps({"Image": "busybox", "HostConfig": {"NetworkMode": "mynet"}}))
    assert "not supported by shoal yet" in await message(r, 400)


async def test_lifecycle_status_codes_and_inspect(client: TestClient, env: Env) -> None:
    cid = await create(client, "web", Cmd=["sleep", "9"], Labels={"a": "b"})
    assert (await client.post(f"{V}/containers/web/start")).status == 204
    assert (await client.post(f"{V}/containers/web/start")).status == 304
    info = await (await client.get(f"{V}/containers/web/json")).json()
    assert info["Id"] == cid and info["Name"] == "/web" and info["State"]["Status"] == "running"
    assert info["Config"]["Labels"] == {"a": "b"} and info["Path"] == "sleep" and info["Args"] == ["9"]
    assert info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == info["NetworkSettings"]["IPAddress"]
    assert info["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    r = await client.delete(f"{V}/containers/web")
    assert await message(r, 409) == (f"You cannot remove a running container {cid}. Stop the container before "
                                     "attempting removal or force remove")
    assert (await client.post(f"{V}/containers/web/stop?t=1")).status == 204
    assert (await client.post(f"{V}/containers/web/stop")).status == 304
    r = await client.post(f"{V}/containers/web/wait")
    assert await r.json() == {"Error": None, "StatusCode": 143}
    assert (await client.delete(f"{V}/containers/web")).status == 204
    assert await message(await client.get(f"{V}/containers/web/json"), 404) == "No such container: web"


async def test_wait_next_exit_answers_headers_first(client: TestClient, env: Env) -> None:
    cid = await create(client, Cmd=["true"])
    r = await client.post(f"{V}/containers/{cid}/wait?condition=next-exit")
    assert r.status == 200  # the headers came before the container even started
    await client.post(f"{V}/containers/{cid}/start")
    env.runtime.finish(env.key(cid), 7)
    assert await r.json() == {"Error": None, "StatusCode": 7}


async def test_ps_filters(client: TestClient, env: Env) -> None:
    web = await create(client, "web", Cmd=["sleep"], Labels={"tier": "front"})
    db = await create(client, "db", Cmd=["sleep"], Labels={"tier": "back"})
    await create(client, "new", Cmd=["true"])
    for c in (web, db):
        await client.post(f"{V}/containers/{c}/start")

    async def names(query: str = "", **filters: list[str]) -> list[str]:
        q = f"?{query}" if query else "?"
        if filters:
            q += "&filters=" + json.dumps({k.replace("_", "-"): {v: True for v in vs} for k, vs in filters.items()})
        r = await client.get(f"{V}/containers/json{q}")
        assert r.status == 200, await r.text()
        return sorted(n for c in await r.json() for n in c["Names"])

    assert await names() == ["/db", "/web"]
    assert await names("all=1") == ["/db", "/new", "/web"]
    assert await names(name=["we"]) == ["/web"]
    assert await names(name=["^/d"]) == ["/db"]
    assert await names(label=["tier=back"]) == ["/db"]
    assert await names(label=["tier"]) == ["/db", "/web"]
    assert await names(status=["created"]) == ["/new"]
    assert await names(id=[web[:6]]) == ["/web"]
    assert await names(ancestor=["busybox"]) == ["/db", "/web"]
    assert await names(since=["web"], status=["running", "created"]) == ["/db", "/new"]
    assert await names(before=["db"], status=["running"]) == ["/web"]
    assert await names(is_task=["true"]) == []
    assert await names(publish=["80"]) == []
    assert await names("limit=1") == ["/new"]
    env.runtime.finish(env.key(db), 2)
    await until(lambda: not env.engine.inspect(db).State.Running)
    assert await names(exited=["2"]) == ["/db"]
    row = (await (await client.get(f"{V}/containers/json?filters=" + json.dumps({"name": {"db": True}}) + "&all=1"))
           .json())[0]
    assert row["State"] == "exited" and row["Status"].startswith("Exited (2) ") and row["Command"] == "sleep"
    r = await client.get(f"{V}/containers/json?filters=" + json.dumps({"colour": {"red": True}}))
    assert await message(r, 400) == "invalid filter 'colour'"


async def test_logs_are_docker_frames(client: TestClient, env: Env) -> None:
    cid = await create(client, Cmd=["true"])
    await client.post(f"{V}/containers/{cid}/start")
    log = env.runtime.log_path(env.key(cid))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"2026-01-01T00:00:00.000000000Z stdout one\n2026-01-01T00:00:01.000000000Z stderr two\n")
    env.runtime.finish(env.key(cid), 0)
    await until(lambda: not env.engine.inspect(cid).State.Running)
    body = await (await client.get(f"{V}/containers/{cid}/logs?stdout=1&stderr=1")).read()
    assert body == struct.pack(">BxxxL", 1, 4) + b"one\n" + struct.pack(">BxxxL", 2, 4) + b"two\n"
    body = await (await client.get(f"{V}/containers/{cid}/logs?stdout=1&timestamps=1&tail=1")).read()
    assert body[8:] == b"2026-01-01T00:00:00.000000000Z one\n"
    r = await client.get(f"{V}/containers/{cid}/logs")
    assert await message(r, 400) == "Bad parameters: you must choose at least one stream"


async def test_exec_and_prune_words(client: TestClient, env: Env) -> None:
    cid = await create(client, Cmd=["true"])
    r = await client.post(f"{V}/containers/{cid}/exec", headers=JSON, data=json.dumps({"Cmd": ["ls"]}))
    assert await message(r, 409) == f"Container {cid} is not running"
    assert await message(await client.get(f"{V}/exec/abc/json"), 404) == "No such exec instance: abc"
    out = await (await client.post(f"{V}/containers/prune")).json()
    assert out == {"ContainersDeleted": [cid], "SpaceReclaimed": 0}
