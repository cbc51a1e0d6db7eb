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


async def test_metrics_and_the_console_of_a_real_manager(daemon: Daemon) -> None:
    """The console's door over the daemon itself: /metrics in Prometheus' text format (the process's
    metrics and, once a manager, the cluster's), the console 503 before the swarm and answering after."""
    from prometheus_client import CONTENT_TYPE_LATEST
    from prometheus_client.parser import text_string_to_metric_families

    from shoal.frontdoor.ui.app import make_app as ui_app

    async with TestClient(TestServer(ui_app(daemon))) as c:
        r = await c.get("/api/summary")
        assert r.status == 503 and "not a swarm manager" in (await r.json())["message"]
        await daemon.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
        r = await c.get("/metrics")
        assert r.status == 200 and r.headers["Content-Type"] == CONTENT_TYPE_LATEST
        names = {f.name for f in text_string_to_metric_families(await r.text())}
        assert any(n.startswith("shoal_") for n in names), names
        s = await (await c.get("/api/summary")).json()
        assert s["Nodes"] == 1 and s["Managers"] == 1
        page = await (await c.get("/api/nodes")).json()
        assert page["Items"][0]["Hostname"] == "node-1" and page["Items"][0]["Leader"] is True
