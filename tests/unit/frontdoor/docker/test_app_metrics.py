"""The Docker door's request metrics: by route template (the version prefix left out), method and code."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from shoal import API_VERSION
from tests.unit.frontdoor.docker.test_app import build_app, new_daemon

NAME = "shoal_docker_api_requests_total"


def count(route: str, method: str, code: str) -> float:
    return REGISTRY.get_sample_value(NAME, {"route": route, "method": method, "code": code}) or 0.0


async def test_requests_are_counted_by_route_template(tmp_path: Path) -> None:
    d = new_daemon(tmp_path, "node-1")
    await d.start()
    try:
        async with TestClient(TestServer(build_app(d))) as client:
            await _requests(client)
    finally:
        await d.stop()


async def _requests(client: TestClient) -> None:
    checks = [("/_ping", "GET", "200"), ("/services/{id}", "GET", "503"), ("unmatched", "GET", "404")]
    before = {c: count(*c) for c in checks}
    assert (await client.get("/_ping")).status == 200
    assert (await client.get(f"/v{API_VERSION}/_ping")).status == 200
    assert (await client.get(f"/v{API_VERSION}/services/abc")).status == 503  # not in a swarm
    assert (await client.get("/no/such/route")).status == 404
    after = {c: count(*c) for c in checks}
    assert after[checks[0]] == before[checks[0]] + 2  # with and without the version: one route
    assert after[checks[1]] == before[checks[1]] + 1
    assert after[checks[2]] == before[checks[2]] + 1
    assert REGISTRY.get_sample_value(NAME, {"route": "/services/abc", "method": "GET", "code": "503"}) is None
