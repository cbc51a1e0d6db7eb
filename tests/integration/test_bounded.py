"""Bounded work and size (issue 18, build 4), on an in-process daemon (``hollow`` runtime) behind the
Docker front door: a huge replica count is refused in Docker's shape and the API keeps answering; one
already stored (by an older shoal) is worked through in bounded passes while ``_ping`` and ``GET
/services`` answer, and a daemon restarted on that data answers too; a 50 MB body is refused with a
413 and nothing is stored, a spec over gRPC's 4 MiB a 400; a secret over SwarmKit's 500 KiB is
refused in SwarmKit's words.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.support import free_port
from tests.unit.frontdoor.docker.test_app import V, error, new_daemon, service_body
from tests.unit.helpers import until

from shoal.api.types import Node, Service, Task, clone
from shoal.daemon import Daemon
from shoal.frontdoor.docker.app import MAX_BODY, make_app
from shoal.manager.control import MAX_SPEC_BYTES
from shoal.manager.orchestrator import jobs, replicated
from shoal.manager.orchestrator.common import MAX_REPLICAS

# How long the API may take to answer while the orchestrator works ("within a second or so"; a
# loaded 2-core test machine gets some slack).
ANSWER_WITHIN = 2.0
RESTART_WITHIN = 60.0


async def swarm_manager(d: Daemon) -> Daemon:
    await d.start()
    await d.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")

    def settled() -> bool:
        m = d.manager
        return m is not None and bool(m.store.get(Node, d.node_id).PodCIDRs)
    await until(settled, timeout=10)
    return d


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = await swarm_manager(new_daemon(tmp_path, "node-1"))
    yield d
    await d.stop()


async def answers(client: TestClient[Any, Any]) -> float:
    """``_ping`` and ``GET /services`` both answer; the slower one's time in seconds."""
    worst = 0.0
    for path in ("/_ping", f"{V}/services"):
        t0 = time.monotonic()
        r = await client.get(path)
        assert r.status == 200, await r.text()
        await r.read()
        worst = max(worst, time.monotonic() - t0)
    return worst


def task_count(d: Daemon, service_id: str) -> int:
    assert d.manager is not None
    return len(d.manager.store.tasks_of_owner(service_id))


async def test_a_billion_replicas_or_two_to_the_64_is_refused_and_the_daemon_answers(manager: Daemon) -> None:
    async with TestClient(TestServer(make_app(manager))) as client:
        r = await client.post(f"{V}/services/create", json=service_body("huge", replicas=1_000_000_000))
        assert await error(r, 400) == ("rpc error: code = InvalidArgument desc = Number of replicas must be at most "
                                       f"{MAX_REPLICAS}, got 1000000000")
        # 2^64-1 is a negative int64 to SwarmKit, and refused in its words
        r = await client.post(f"{V}/services/create", json=service_body("huge", replicas=(1 << 64) - 1))
        assert await error(r, 400) == "rpc error: code = InvalidArgument desc = Number of replicas must be non-negative"
        # scaling an existing service (docker service scale) to a billion is refused the same way
        sid = (await (await client.post(f"{V}/services/create", json=service_body("small"))).json())["ID"]
        version = (await (await client.get(f"{V}/services/{sid}")).json())["Version"]["Index"]
        r = await client.post(f"{V}/services/{sid}/update?version={version}",
                              json=service_body("small", replicas=1_000_000_000))
        assert (await error(r, 400)).endswith(f"Number of replicas must be at most {MAX_REPLICAS}, got 1000000000")
        assert await answers(client) < ANSWER_WITHIN
        services = await (await client.get(f"{V}/services")).json()
        assert [s["Spec"]["Name"] for s in services] == ["small"]
        assert services[0]["Spec"]["Mode"]["Replicated"]["Replicas"] == 1


BATCH = 5_000


@pytest.mark.slow
async def test_a_stored_billion_is_worked_through_in_passes_and_a_restart_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Passes of 5,000 here (50,000 in use): the same behaviour with a tenth of the tasks to make.
    for module in (replicated, jobs):
        monkeypatch.setattr(module, "SLOT_BATCH", BATCH)
    d = await swarm_manager(new_daemon(tmp_path, "node-1"))
    try:
        async with TestClient(TestServer(make_app(d))) as client:
            r = await client.post(f"{V}/services/create", json=service_body("huge"))
            sid = (await r.json())["ID"]
            await until(lambda: task_count(d, sid) == 1, timeout=10)
            # What an older shoal (or SwarmKit) would have stored: a billion replicas.
            assert d.manager is not None
            svc = d.manager.store.get(Service, sid)
            assert svc is not None and svc.Spec.Mode.Replicated is not None
            svc = clone(svc)
            assert svc.Spec.Mode.Replicated is not None
            svc.Spec.Mode.Replicated.Replicas = 1_000_000_000
            await d.manager.store.commit(updates=[svc])
            # The orchestrator works pass by pass; the API answers all along.
            worst = 0.0
            while task_count(d, sid) <= 2 * BATCH:
                worst = max(worst, await answers(client))
            print(f"while the orchestrator works, slowest answer: {worst:.2f} s")
            assert worst < ANSWER_WITHIN, worst
    finally:
        await d.stop()

    # A restart on that data: the API answers at once, and the work goes on in passes behind it.
    d = new_daemon(tmp_path, "node-1")
    t0 = time.monotonic()
    await d.start()
    try:
        async with TestClient(TestServer(make_app(d))) as client:
            worst = await answers(client)
            print(f"restart to answers: {time.monotonic() - t0:.1f} s")
            # Restart time grows with the tasks stored (issue 18, build 2); here: it comes up at all.
            assert time.monotonic() - t0 < RESTART_WITHIN
            await until(lambda: d.manager is not None and d.manager.store.get(Service, sid) is not None, timeout=30)
            before = task_count(d, sid)
            while task_count(d, sid) <= before + BATCH:
                worst = max(worst, await answers(client))
            # Not ANSWER_WITHIN: re-reading and re-reporting every stored task after a restart stalls
            # the loop for a time that grows with them (issue 18, build 2, not this test's subject).
            print(f"after the restart, slowest answer: {worst:.1f} s")
            assert worst < RESTART_WITHIN, worst
            stored = d.manager.store.list(Task) if d.manager is not None else []
            assert max(t.Slot for t in stored) <= MAX_REPLICAS
    finally:
        await d.stop()


async def test_a_50_mb_body_is_413_and_nothing_is_stored(manager: Daemon) -> None:
    async with TestClient(TestServer(make_app(manager))) as client:
        body = service_body("big")
        body["Labels"] = {"pad": "x" * (50 << 20)}
        r = await client.post(f"{V}/services/create", json=body)
        assert await error(r, 413) == f"request body too large: the limit is {MAX_BODY} bytes"
        assert await (await client.get(f"{V}/services")).json() == []
        assert await answers(client) < ANSWER_WITHIN


async def test_a_service_spec_over_4_mib_is_refused_before_the_store(manager: Daemon) -> None:
    async with TestClient(TestServer(make_app(manager))) as client:
        body = service_body("big")
        body["Labels"] = {"pad": "x" * (5 << 20)}  # under the body limit, over gRPC's message limit
        r = await client.post(f"{V}/services/create", json=body)
        message = await error(r, 400)
        assert message.startswith("rpc error: code = InvalidArgument desc = grpc: received message larger than max (")
        assert message.endswith(f" vs. {MAX_SPEC_BYTES})")
        assert await (await client.get(f"{V}/services")).json() == []
        r = await client.post(f"{V}/services/create", json=service_body("small"))
        assert r.status == 201, await r.text()


async def test_a_600_kib_secret_is_refused_in_swarmkits_words(manager: Daemon) -> None:

    async with TestClient(TestServer(make_app(manager))) as client:
        data = base64.b64encode(b"x" * (600 << 10)).decode()
        r = await client.post(f"{V}/secrets/create", json={"Name": "big", "Data": data})
        assert await error(r, 400) == ("rpc error: code = InvalidArgument desc = secret data must be larger than 0 "
                                       "and less than 512000 bytes")
        assert await (await client.get(f"{V}/secrets")).json() == []
