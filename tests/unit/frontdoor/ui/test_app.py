"""The console door's routes over a fake node (``fakes.py``): JSON shapes, server-sent events' framing,
the login token and cookie rules, the refusal of cross-site posts, 503 while the node is no manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from shoal.api.kube import Event as KubeEvent
from shoal.api.kube import InvolvedObject
from shoal.frontdoor.ui.app import COOKIE, Settings, make_app, make_metrics_app
from tests.unit.frontdoor.ui.fakes import FakeKube, FakeNode, registry_with_counter, sample_cluster

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def node() -> FakeNode:
    return FakeNode(fake_console=sample_cluster())


async def client_of(node: FakeNode, secure: bool = False, keepalive: float = 15.0) -> TestClient:
    c = TestClient(TestServer(make_app(node, Settings(secure=secure, keepalive=keepalive))))
    await c.start_server()
    return c


@pytest.fixture
async def client(node: FakeNode) -> AsyncIterator[TestClient]:
    c = await client_of(node)
    yield c
    await c.close()


@pytest.fixture
async def secure_client(node: FakeNode) -> AsyncIterator[TestClient]:
    c = await client_of(node, secure=True)
    yield c
    await c.close()


async def message(r: Any, status: int) -> str:
    assert r.status == status, await r.text()
    body = await r.json()
    assert list(body) == ["message"]
    return str(body["message"])


# ---------------------------------------------------------------- reads


async def test_page_and_static_files_are_served(client: TestClient) -> None:
    r = await client.get("/")
    assert r.status == 200 and r.content_type == "text/html"
    assert "/static/app.js" in await r.text()
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    for name, ctype in (("app.js", "text/javascript"), ("app.css", "text/css")):
        r = await client.get(f"/static/{name}")
        assert r.status == 200 and r.content_type == ctype
    assert (await client.get("/static/nope.js")).status == 404


async def test_summary_nodes_tasks_as_the_core_gives_them(client: TestClient) -> None:
    s = await (await client.get("/api/summary")).json()
    assert s["Nodes"] == 3 and s["Tasks"] == 14 and s["Pending"] == 2 and s["TasksByState"]["running"] == 12
    page = await (await client.get("/api/nodes", params={"limit": "2", "offset": "1"})).json()
    assert page["Total"] == 3 and page["Offset"] == 1 and [n["Hostname"] for n in page["Items"]] == ["host-0001",
                                                                                                    "host-0002"]
    assert page["Items"][0]["Role"] == "worker" and page["Items"][0]["TasksByState"] == {"running": 4}
    tasks = await (await client.get("/api/tasks", params={"node": "-"})).json()
    assert tasks["Total"] == 2 and all(t["NodeID"] == "" for t in tasks["Items"])
    q = await (await client.get("/api/tasks", params={"q": "web.1", "limit": "100"})).json()
    assert {t["Name"] for t in q["Items"]} == {"web.1", "web.10", "web.11", "web.12"}


async def test_task_detail_and_not_found(client: TestClient) -> None:
    d = await (await client.get("/api/tasks/pend00000")).json()
    assert d["PendingReason"].startswith("no suitable node") and len(d["Rejections"]) == 3
    assert d["Rejections"][0]["Hostname"] == "host-0000"
    assert "not found" in await message(await client.get("/api/tasks/nope"), 404)


async def test_workloads_and_payloads_without_values(client: TestClient) -> None:
    w = await (await client.get("/api/workloads")).json()
    assert w["Total"] == 1 and w["Items"][0]["Step"] == "3/12 updated" and w["Items"][0]["Ports"] == ["8080:80/tcp"]
    p = await (await client.get("/api/payloads", params={"q": "db"})).json()
    assert [x["Name"] for x in p] == ["db-password"] and "Data" not in p[0]


async def test_bad_paging_is_400(client: TestClient) -> None:
    assert "offset" in await message(await client.get("/api/nodes", params={"offset": "x"}), 400)
    assert "negative" in await message(await client.get("/api/tasks", params={"limit": "-1"}), 400)


async def test_not_a_manager_is_503_with_the_reason() -> None:
    node = FakeNode(fake_console=None)
    c = await client_of(node)
    try:
        for path in ("/api/summary", "/api/nodes", "/api/tasks", "/api/tasks/x", "/api/workloads", "/api/payloads",
                     "/api/stream", "/api/events"):
            msg = await message(await c.get(path), 503)
            assert "managers only" in msg and "not a swarm manager" in msg
        assert (await c.get("/")).status == 200  # the page still loads, and says so
    finally:
        await c.close()


# ---------------------------------------------------------------- metrics


async def test_metrics_in_prometheus_text_format(node: FakeNode, client: TestClient) -> None:
    assert "not available" in await message(await client.get("/metrics"), 503)  # the registry is not there yet
    node.registry = registry_with_counter()
    r = await client.get("/metrics")
    assert r.status == 200 and r.headers["Content-Type"] == CONTENT_TYPE_LATEST
    families = {f.name: f for f in text_string_to_metric_families(await r.text())}
    assert families["shoal_test_things"].samples[0].value == 3.0


async def test_workers_listener_serves_only_metrics() -> None:
    node = FakeNode(fake_console=None, registry=registry_with_counter())
    async with TestClient(TestServer(make_metrics_app(node))) as c:
        assert (await c.get("/metrics")).status == 200
        assert "only /metrics" in await message(await c.get("/api/summary"), 404)


# ---------------------------------------------------------------- server-sent events


async def read_event(r: Any) -> tuple[str, str]:
    """The next event of a stream (comments skipped): (event, data)."""
    event, data = "", ""
    while True:
        line = (await r.content.readline()).decode()
        if line == "\n":
            if event or data:
                return event, data
            continue
        if line.startswith("event: "):
            event = line[7:].rstrip("\n")
        elif line.startswith("data: "):
            data = line[6:].rstrip("\n")


async def test_stream_sends_one_change_event_per_notice_and_keeps_alive(node: FakeNode) -> None:
    c = await client_of(node, keepalive=0.05)
    try:
        r = await c.get("/api/stream")
        assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
        assert await r.content.readline() == b"retry: 2000\n"
        assert await r.content.readline() == b": connected\n"
        assert await r.content.readline() == b"\n"
        assert await r.content.readline() == b": keep-alive\n"  # nothing happened for keepalive seconds
        assert node.fake_console is not None
        node.fake_console.notify(["tasks"], ["", "node0001"])
        event, data = await read_event(r)
        assert event == "change"
        assert data == '{"Revision":2,"Kinds":["tasks"],"Nodes":["","node0001"]}'
        r.close()
    finally:
        await c.close()


async def test_events_merge_docker_and_kubernetes_and_filter(node: FakeNode) -> None:
    kube = FakeKube(kept=[KubeEvent(ID="e1", Reason="FailedScheduling", Type="Warning",
                                    Message="0/3 nodes are available",
                                    InvolvedObject=InvolvedObject(Kind="Pod", Name="web-1", Namespace="default"),
                                    LastTimestamp="2026-12-05T00:00:01Z")])
    node.fake_kube = kube
    node.events.emit("service", "create", "svc1", {"name": "web"}, scope="swarm")
    c = await client_of(node)
    try:
        r = await c.get("/api/events")
        got = [await read_event(r) for _ in range(2)]
        assert {e for e, _ in got} == {"event"}
        assert any('"Source":"kubernetes"' in d and '"Action":"FailedScheduling"' in d for _, d in got)
        assert any('"Source":"docker"' in d and '"Name":"web"' in d for _, d in got)
        node.events.emit("container", "start", "c1", {"name": "x"})
        assert '"Action":"start"' in (await read_event(r))[1]
        kube.coming.put_nowait(KubeEvent(ID="e2", Reason="Scheduled", Message="assigned",
                                         InvolvedObject=InvolvedObject(Kind="Pod", Name="web-2")))
        assert '"Action":"Scheduled"' in (await read_event(r))[1]
        r.close()
        r = await c.get("/api/events", params={"type": "service"})  # only the service's, live too
        assert '"Type":"service"' in (await read_event(r))[1]
        node.events.emit("container", "die", "c1", {"name": "x"})
        node.events.emit("service", "update", "svc1", {"name": "web"}, scope="swarm")
        assert '"Action":"update"' in (await read_event(r))[1]
        r.close()
        r = await c.get("/api/events", params={"q": "0/3 NODES"})
        assert '"FailedScheduling"' in (await read_event(r))[1]
        r.close()
    finally:
        await c.close()


# ---------------------------------------------------------------- login and actions


async def test_loopback_reads_without_login_but_actions_need_it(node: FakeNode, client: TestClient) -> None:
    assert (await client.get("/api/summary")).status == 200
    s = await (await client.get("/api/session")).json()
    assert s == {"LoggedIn": False, "LoginRequired": False}
    body = {"replicas": 3}
    assert "login" in await message(await client.post("/api/workloads/service/svcweb/scale", json=body), 401)
    token = node.ui_token()
    r = await client.post("/api/workloads/service/svcweb/scale", json=body,
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200, await r.text()
    assert node.fake_console is not None and node.fake_console.actions == [("scale", "service", "svcweb", 3)]


async def test_login_sets_a_strict_httponly_cookie(node: FakeNode, client: TestClient) -> None:
    assert "invalid" in await message(await client.post("/api/login", json={"token": "shoalui-1.1.2.3"}), 401)
    r = await client.post("/api/login", json={"token": node.ui_token()})
    assert r.status == 200 and (await r.json())["LoggedIn"] is True
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback: a browser would drop a Secure cookie
    assert (await (await client.get("/api/session")).json())["LoggedIn"] is True
    for path, body in (("/api/workloads/deployment/svcweb/rollback", {}),
                       ("/api/nodes/node0000/availability", {"availability": "drain"})):
        r = await client.post(path, json=body)
        assert r.status == 200, await r.text()
    assert node.fake_console is not None
    assert node.fake_console.actions[-2:] == [("rollback", "deployment", "svcweb"),
                                              ("availability", "node0000", "drain")]
    assert "invalid availability" in await message(
        await client.post("/api/nodes/node0000/availability", json={"availability": "gone"}), 400)
    assert "kind must be" in await message(await client.post("/api/workloads/job/x/rollback", json={}), 400)
    assert "not found" in await message(await client.post("/api/workloads/service/nope/scale",
                                                          json={"replicas": 1}), 404)
    assert "invalid JSON" in await message(await client.post("/api/workloads/service/svcweb/scale",
                                                             json={"replicas": "x"}), 400)
    await client.post("/api/logout", json={})
    assert (await (await client.get("/api/session")).json())["LoggedIn"] is False


async def test_expired_token_is_refused(node: FakeNode, client: TestClient) -> None:
    token = node.ui_token(ttl=-1)
    r = await client.post("/api/nodes/node0000/availability", json={"availability": "drain"},
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401


async def test_cross_site_and_text_plain_posts_are_refused(node: FakeNode, client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {node.ui_token()}"}
    path, data = "/api/workloads/service/svcweb/scale", '{"replicas": 9}'
    # what a cross-site <form enctype="text/plain"> or a no-cors fetch can send: refused, even with a cookie
    for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}):
        assert "cross-site" in await message(await client.post(path, data=data, headers={**auth, **headers}), 403)
    other = {**auth, **JSON, "Origin": "http://evil.example"}
    assert "cross-site" in await message(await client.post(path, data=data, headers=other), 403)
    site = {**auth, **JSON, "Sec-Fetch-Site": "cross-site"}
    assert "cross-site" in await message(await client.post(path, data=data, headers=site), 403)
    own = {**auth, **JSON, "Origin": f"http://{client.host}:{client.port}", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post(path, data=data, headers=own)).status == 200
    assert node.fake_console is not None and node.fake_console.actions == [("scale", "service", "svcweb", 9)]


async def test_secure_address_needs_the_token_for_everything(node: FakeNode, secure_client: TestClient) -> None:
    c = secure_client
    for path in ("/api/summary", "/api/nodes", "/api/tasks", "/api/stream", "/api/events", "/metrics"):
        assert "login required" in await message(await c.get(path), 401)
    assert (await c.get("/")).status == 200 and (await c.get("/static/app.js")).status == 200
    assert (await (await c.get("/api/session")).json()) == {"LoggedIn": False, "LoginRequired": True}
    token = node.ui_token()
    assert (await c.get("/api/summary", headers={"Authorization": f"Bearer {token}"})).status == 200
    assert (await c.get("/api/summary", headers={"Authorization": "Bearer shoalui-1.9999999999.00.ff"})).status == 401
    r = await c.post("/api/login", json={"token": token})
    assert r.status == 200
    assert (await c.get("/api/summary")).status == 200  # the cookie


async def test_secure_cookie_over_https() -> None:
    """Behind TLS the cookie is Secure (``request.secure``)."""
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from shoal.frontdoor.ui import app as ui_app

    node = FakeNode(fake_console=sample_cluster())
    application = make_app(node, Settings(secure=True))
    body = msgspec.json.encode({"token": node.ui_token()})
    req = make_mocked_request("POST", "/api/login", headers=JSON, app=application)
    req = req.clone(scheme="https")

    async def read() -> bytes:
        return body
    req.read = read  # type: ignore[method-assign]
    req[ui_app.AUTHED] = False
    resp = await ui_app.login(req)
    assert isinstance(resp, web.Response)
    morsel = resp.cookies[COOKIE]
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Strict"


async def test_a_console_not_built_yet_is_503_not_a_crash() -> None:
    class Unbuilt(FakeNode):
        def console(self) -> Any:
            class Stub:
                def summary(self) -> None:
                    raise NotImplementedError
            return Stub()

    c = await client_of(Unbuilt())
    try:
        assert "not available" in await message(await c.get("/api/summary"), 503)
    finally:
        await c.close()
