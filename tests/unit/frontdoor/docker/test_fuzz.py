"""A fuzz test over every route of the Docker door (issue 18): wrong types, huge and negative numbers,
malformed and truncated JSON, unknown fields and odd query values, on an in-process manager with the
hollow runtime. No answer may be a 5xx that Docker would not give (a 500 ``internal error`` fails; 501
for what is not implemented and 503 for a node that cannot serve are Docker's), and the daemon keeps
answering ``_ping``.

The daemon runs on an event loop of its own in a thread (hypothesis drives a synchronous test). Routes
that reach outside the machine (pulls, registry logins, joining a swarm) or change the node's membership
are left out; streaming routes count once their headers come."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.daemon import Daemon, DaemonConfig
from shoal.frontdoor.docker.app import ROUTES, make_app
from tests.support import free_port

pytestmark = pytest.mark.slow

# Out of the fuzz: traffic to registries or other managers, or the node leaving its swarm.
SKIPPED = {("POST", "/images/create"), ("POST", "/auth"), ("GET", "/distribution/{name:.+}/json"),
           ("POST", "/swarm/init"), ("POST", "/swarm/join"), ("POST", "/swarm/leave"), ("POST", "/swarm/unlock")}
FUZZED = sorted((m, p) for m, p, _ in ROUTES if (m, p) not in SKIPPED)
HEADERS_WITHIN = 5.0  # seconds for a route to answer with its status (a stream keeps going after)
ALLOWED_5XX = {501, 503}

HUGE = st.sampled_from([-1, -(2**31), 2**31, 2**32, -(2**63), 2**63 - 1, 2**63, 2**64, 2**100, 1e308, -0.5, 0.5])
SCALAR = st.one_of(st.none(), st.booleans(), HUGE, st.integers(), st.text(max_size=12))
ODD = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                   max_leaves=6)

TEMPLATES: dict[str, Any] = {
    "service": {"Name": "fz", "Labels": {"a": "b"},
                "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "1"], "Env": ["A=1"],
                                                   "Mounts": [{"Type": "tmpfs", "Target": "/t"}],
                                                   "StopGracePeriod": 1000000000},
                                 "Resources": {"Limits": {"NanoCPUs": 1000, "MemoryBytes": 1 << 20}},
                                 "RestartPolicy": {"Condition": "any", "Delay": 1, "MaxAttempts": 1},
                                 "Placement": {"Constraints": ["node.role==manager"]}},
                "Mode": {"Replicated": {"Replicas": 1}},
                "UpdateConfig": {"Parallelism": 1, "Delay": 1, "FailureAction": "pause", "Order": "stop-first"},
                "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80,
                                                           "PublishedPort": 30080}]}},
    "payload": {"Name": "fz", "Data": "aGk=", "Labels": {"a": "b"}},
    "network": {"Name": "fz", "Driver": "overlay", "Attachable": True, "Labels": {"a": "b"},
                "IPAM": {"Config": [{"Subnet": "10.213.77.0/24"}]}},
    "container": {"Image": "busybox", "Cmd": ["true"], "Env": ["A=1"], "Labels": {"a": "b"},
                  "HostConfig": {"Memory": 1 << 20, "NanoCpus": 1000, "RestartPolicy": {"Name": "no"},
                                 "Mounts": [{"Type": "tmpfs", "Target": "/t"}]}},
    "volume": {"Name": "fz", "Driver": "local", "Labels": {"a": "b"}},
    "node": {"Role": "manager", "Availability": "active", "Labels": {"a": "b"}},
    "swarm": {"Name": "default", "Orchestration": {"TaskHistoryRetentionLimit": 5},
              "Dispatcher": {"HeartbeatPeriod": 5000000000}, "Raft": {"SnapshotInterval": 10000}},
    "exec": {"Cmd": ["true"], "AttachStdout": True, "Tty": False},
    "connect": {"Container": "x", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.213.77.9"}}},
}


def template_of(path: str) -> Any:
    for word, name in (("/services", "service"), ("/shoal/services", "service"), ("/secrets", "payload"),
                       ("/configs", "payload"), ("connect", "connect"), ("/networks", "network"),
                       ("/exec", "exec"), ("/containers", "container"), ("/volumes", "volume"),
                       ("/nodes", "node"), ("/swarm", "swarm")):
        if word in path:
            return TEMPLATES[name]
    return {}


def _leaves(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _leaves(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _leaves(v, (*prefix, i))
    return out


def _replace(obj: Any, where: tuple[Any, ...], value: Any) -> Any:
    if not where:
        return value
    copy = json.loads(json.dumps(obj))
    at = copy
    for k in where[:-1]:
        at = at[k]
    at[where[-1]] = value
    return copy


@st.composite
def bodies(draw: st.DrawFn, path: str) -> bytes | None:
    base = template_of(path)
    kind = draw(st.sampled_from(["none", "odd", "mutated", "unknown", "truncated", "bytes", "valid"]))
    if kind == "none":
        return None
    if kind == "odd":
        return json.dumps(draw(ODD)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    raw = json.dumps(base)
    if kind == "valid":
        return raw.encode()
    if kind == "truncated":
        return raw[:draw(st.integers(0, max(0, len(raw) - 1)))].encode()
    if kind == "unknown" and isinstance(base, dict):
        return json.dumps({**base, draw(st.text(min_size=1, max_size=8)): draw(ODD)}).encode()
    where = draw(st.sampled_from(_leaves(base)))
    return json.dumps(_replace(base, where, draw(ODD))).encode()


QUERY_NAMES = ["filters", "version", "force", "all", "limit", "since", "until", "tail", "follow", "name", "tag",
               "repo", "quiet", "signal", "t", "h", "w", "stream", "size", "v", "rotateWorkerToken",
               "registryAuthFrom", "rollback", "insertDefaults", "status", "path", "condition", "details",
               "timestamps", "stdout", "stderr", "ps_args", "noOverwriteDirNonDir", "link", "fromSrc"]
QUERY_VALUE = st.one_of(st.text(max_size=16), HUGE.map(str), ODD.map(json.dumps),
                        st.sampled_from(["", "true", "1", "0", "-1", "null", "{}", "[]", "7", '{"a":7}']))


class Door:
    """A manager daemon and its Docker door on a loop of their own, called from the test's thread."""

    def __init__(self, base: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.daemon = Daemon(DaemonConfig(data_root=base / "data", exec_root=base / "run", runtime="hollow",
                                          hostname="fuzz-1"))
        self.client: TestClient | None = None
        self.ids: list[str] = []
        self.run(self._start())

    def run(self, coro: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        await self.daemon.start()
        await self.daemon.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")
        self.client = TestClient(TestServer(make_app(self.daemon)))
        await self.client.start_server()
        for path, body in (("/services/create", TEMPLATES["service"]), ("/secrets/create", TEMPLATES["payload"]),
                           ("/configs/create", TEMPLATES["payload"]), ("/networks/create", TEMPLATES["network"]),
                           ("/volumes/create", TEMPLATES["volume"]), ("/containers/create", TEMPLATES["container"])):
            r = await self.client.post(path, json=body)
            got = await r.json()
            self.ids += [got[k] for k in ("ID", "Id", "Name") if k in got]
        self.ids.append(self.daemon.node_id)

    async def _call(self, method: str, path: str, params: dict[str, str], body: bytes | None,
                    content_type: str) -> int:
        assert self.client is not None
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            async with asyncio.timeout(HEADERS_WITHIN):
                r = await self.client.request(method, path, params=params, data=body, headers=headers)
        except TimeoutError:
            return -1
        try:
            if r.status >= 500 and r.status not in ALLOWED_5XX:
                return r.status * 1000 if "internal error" in await r.text() else r.status
            return r.status
        finally:
            r.close()

    def call(self, method: str, path: str, params: dict[str, str], body: bytes | None, content_type: str) -> int:
        return int(self.run(self._call(method, path, params, body, content_type)))

    def ping(self) -> int:
        return self.call("GET", "/_ping", {}, None, "")

    def close(self) -> None:
        async def stop() -> None:
            if self.client is not None:
                await self.client.close()
            await self.daemon.stop()
        try:
            self.run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    d = Door(tmp_path_factory.mktemp("fuzz"))
    try:
        yield d
    finally:
        d.close()


def fill(path: str, value: str) -> str:
    out, rest = "", path
    while "{" in rest:
        before, _, after = rest.partition("{")
        _, _, rest = after.partition("}")
        out += before + quote(value, safe="")
    return out + rest


@pytest.mark.parametrize(("method", "route"), FUZZED, ids=[f"{m} {p}" for m, p in FUZZED])
def test_no_route_answers_an_internal_error(door: Door, method: str, route: str) -> None:
    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        ref = data.draw(st.one_of(st.sampled_from(door.ids), st.text(min_size=1, max_size=12), HUGE.map(str)))
        path = fill(route, ref) if ref.strip(". ") else fill(route, "x")
        if data.draw(st.booleans()):
            path = data.draw(st.sampled_from(["/v1.24", "/v1.47", "/v1.99", "/v0.1"])) + path
        params = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), QUERY_VALUE, max_size=3))
        body = data.draw(bodies(route)) if method in ("POST", "PUT") else None
        ctype = data.draw(st.sampled_from(["application/json"] * 4 + ["text/plain", "application/x-tar"]))
        status = door.call(method, path, params, body, ctype)
        assert status == -1 or status < 500 or status in ALLOWED_5XX, (method, path, params, body, ctype, status)
        assert door.ping() == 200
    one()
