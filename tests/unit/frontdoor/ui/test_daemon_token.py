"""``shoal ui-token`` end to end in one process: the Docker door's ``/shoal/ui-token`` on a manager
gives a token the daemon's ``ui_authenticate`` accepts (and a node in no swarm gives none)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shoal.daemon import Daemon, DaemonConfig
from shoal.frontdoor.docker.app import make_app
from tests.support import free_port


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = Daemon(DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", runtime="hollow",
                            hostname="node-1"))
    await d.start()
    yield d
    await d.stop()


async def test_token_from_the_docker_door_is_accepted_by_the_cluster(daemon: Daemon) -> None:
    async with TestClient(TestServer(make_app(daemon))) as c:
        r = await c.get("/shoal/ui-token")
        assert r.status == 503 and "not a swarm manager" in (await r.json())["message"]
        assert not daemon.ui_authenticate("shoalui-1.9999999999.00.ff")
        await daemon.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
        r = await c.get("/shoal/ui-token", params={"ttl": "600"})
        assert r.status == 200 and r.content_type == "text/plain"
        token = (await r.text()).strip()
        assert daemon.ui_authenticate(token)
        assert not daemon.ui_authenticate(token[:-1] + ("0" if token[-1] != "0" else "1"))
        assert not daemon.ui_authenticate(daemon.ui_token(ttl=-1))
        r = await c.get("/shoal/ui-token", params={"ttl": "nope"})
        assert r.status == 400
