"""The Engine API's progress streams as dockerd writes them: ``POST /images/create`` (a pull from a
fake registry on loopback) and ``POST /images/load`` (``Loading layer`` per layer unless ``quiet``,
then the ``Loaded image`` lines), one JSON message per ``\\r\\n``-ended line."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shoal import API_VERSION
from shoal.daemon import Daemon, DaemonConfig
from shoal.frontdoor.docker.app import make_app
from tests.unit.runtime.fakeregistry import FakeRegistry, layer, sha

V = f"/v{API_VERSION}"


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = Daemon(DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", runtime="hollow",
                            hostname="node-1"))
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def client(node: Daemon) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app(node))) as c:
        yield c


def messages(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\r\n")
    return [json.loads(line) for line in body.split(b"\r\n") if line]


def rootfs(size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("data")
        info.size = size
        tf.addfile(info, io.BytesIO(bytes(size)))
    return buf.getvalue()


async def test_load_streams_loading_layer_then_loaded_image(client: TestClient[Any, Any]) -> None:
    r = await client.post(f"{V}/images/create?fromSrc=-&repo=app&tag=1", data=rootfs(1 << 20))
    assert r.status == 200, await r.text()
    iid = (await r.json())["status"]
    inspect = await (await client.get(f"{V}/images/app:1/json")).json()
    short = inspect["RootFS"]["Layers"][0][7:19]
    archive = await (await client.get(f"{V}/images/get?names=app:1")).read()
    assert (await client.delete(f"{V}/images/app:1")).status == 200

    r = await client.post(f"{V}/images/load?quiet=0", data=archive, headers={"Content-Type": "application/x-tar"})
    assert r.status == 200 and r.content_type == "application/json"
    got = messages(await r.read())
    progress, rest = got[:-1], got[-1]
    assert progress and {(m["status"], m["id"]) for m in progress} == {("Loading layer", short)}
    last = progress[-1]["progressDetail"]
    assert last["current"] == last["total"] > 1 << 20
    assert progress[-1]["progress"].startswith("[" + "=" * 50 + ">]")
    assert rest == {"stream": "Loaded image: app:1\n"}

    assert (await client.delete(f"{V}/images/{iid}")).status == 200
    r = await client.post(f"{V}/images/load?quiet=1", data=archive, headers={"Content-Type": "application/x-tar"})
    assert messages(await r.read()) == [{"stream": "Loaded image: app:1\n"}]


async def test_pull_streams_dockerds_messages(client: TestClient[Any, Any]) -> None:
    reg = await FakeRegistry().start()
    try:
        hello = layer({"hello": b"hi\n"})
        reg.add_image("app", "1", [hello])
        r = await client.post(f"{V}/images/create?fromImage={reg.host}/app&tag=1")
        assert r.status == 200
        got = messages(await r.read())
    finally:
        await reg.stop()
    short = sha(hello[0])[7:19]
    steps = [(m.get("id", ""), m["status"]) for m in got]
    assert steps[0] == ("1", "Pulling from app")
    mine = [st for i, st in steps if i == short]
    assert mine[0] == "Pulling fs layer" and mine[-1] == "Pull complete"
    assert {"Downloading", "Verifying Checksum", "Download complete", "Extracting"} <= set(mine)
    assert steps[-1] == ("", f"Status: Downloaded newer image for {reg.host}/app:1")
