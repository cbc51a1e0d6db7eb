"""Probes as the kubelet runs them (agent/probes.py) and what a Pod makes of them (agent/pod.py)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.agent.flag import Flag
from shoal.agent.pod import Pod
from shoal.agent.probes import (
    FAILURE,
    LIVENESS,
    READINESS,
    STARTUP,
    SUCCESS,
    TIMED_OUT,
    UNKNOWN,
    NodeTarget,
    Outcome,
    ProbeEvent,
    Worker,
    event_of,
    grpc_probe,
    run_probe,
)
from shoal.api.ids import new_id
from shoal.api.pod import ContainerPort, HTTPGetAction, HTTPHeader, PodContainer, PodSpecExtra, Probe, Probes
from shoal.api.states import TaskState
from shoal.api.types import ContainerSpec, Task, TaskSpec, TaskStatus
from shoal.manager.ca import new_root_ca
from shoal.runtime.fake import FakeRuntime

from ..helpers import FakeClock


class Box:
    """A container as a worker sees it."""

    def __init__(self, clock: FakeClock) -> None:
        self.running = True
        self.run_started = clock()
        self.startup_done = True


class LocalTarget:
    """Connections on loopback; commands answered from a list."""

    def __init__(self, codes: list[tuple[int, str]] | None = None) -> None:
        self.codes = codes or [(0, "")]
        self.argv: list[list[str]] = []

    @property
    def pod_ip(self) -> str:
        return "127.0.0.1"

    async def exec(self, argv: list[str], timeout: float) -> tuple[int, str]:
        self.argv.append(argv)
        return self.codes.pop(0) if len(self.codes) > 1 else self.codes[0]

    async def connect(self, host: str, port: int, timeout: float,
                      tls: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)


class Scripted:
    """A probe whose results the test decides."""

    def __init__(self, *results: Outcome) -> None:
        self.results = list(results)

    async def __call__(self, probe: Probe, spec: ContainerSpec, target: object) -> Outcome:
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]


def worker(kind: str, probe: Probe, runner: Scripted, clock: FakeClock, box: Box | None = None
           ) -> tuple[Worker, list[ProbeEvent], list[bool | None]]:
    events: list[ProbeEvent] = []
    verdicts: list[bool | None] = []
    w = Worker(kind, probe, ContainerSpec(Name="web"), box or Box(clock), LocalTarget(), events.append,
               lambda w: verdicts.append(w.verdict), clock=clock, runner=runner)
    return w, events, verdicts


FAIL = Outcome(FAILURE, "HTTP probe failed with statuscode: 500")
OK = Outcome(SUCCESS)


# ---------------------------------------------------------------- the worker: timing and thresholds


async def test_a_liveness_verdict_fails_after_failure_threshold_failures_in_a_row_then_holds() -> None:
    clock = FakeClock(100.0)
    w, events, verdicts = worker(LIVENESS, Probe(Exec=["true"]), Scripted(FAIL, FAIL, OK, FAIL, FAIL, FAIL), clock)
    for _ in range(5):
        await w.once()
    assert verdicts == []  # two failures, a success, two failures: never three in a row
    await w.once()
    assert verdicts == [False] and w.on_hold
    assert [e.message for e in events] == ["Liveness probe failed: HTTP probe failed with statuscode: 500"] * 5
    assert {(e.type, e.reason) for e in events} == {("Warning", "Unhealthy")}
    await w.once()  # held until the container runs again
    assert w.runs == 6
    w.reset()
    assert w.due()


async def test_nothing_runs_before_the_initial_delay() -> None:
    clock = FakeClock(100.0)
    w, _, verdicts = worker(READINESS, Probe(Exec=["true"], InitialDelaySeconds=5), Scripted(OK), clock)
    await w.once()
    assert w.runs == 0
    clock.advance(4.9)
    await w.once()
    assert w.runs == 0
    clock.advance(0.1)
    await w.once()
    assert w.runs == 1 and verdicts == [True]


async def test_the_startup_probe_gates_liveness_and_readiness_and_stops_once_it_passed() -> None:
    clock = FakeClock(100.0)
    box = Box(clock)
    box.startup_done = False
    live, _, _ = worker(LIVENESS, Probe(Exec=["true"]), Scripted(FAIL), clock, box)
    ready, _, _ = worker(READINESS, Probe(Exec=["true"]), Scripted(OK), clock, box)
    start, _, verdicts = worker(STARTUP, Probe(Exec=["true"]), Scripted(OK), clock, box)
    await live.once()
    await ready.once()
    assert (live.runs, ready.runs) == (0, 0)
    await start.once()
    assert verdicts == [True]
    box.startup_done = True
    await start.once()
    assert start.runs == 1  # it never runs again
    await live.once()
    await ready.once()
    assert (live.runs, ready.runs) == (1, 1)


async def test_readiness_flaps_with_its_thresholds_and_never_holds() -> None:
    clock = FakeClock(100.0)
    probe = Probe(Exec=["true"], SuccessThreshold=2, FailureThreshold=2)
    w, _, verdicts = worker(READINESS, probe, Scripted(OK, OK, FAIL, FAIL, OK, FAIL, OK, OK), clock)
    for _ in range(8):
        await w.once()
    assert verdicts == [True, False, True]
    assert not w.on_hold


def test_the_events_in_the_kubelets_words() -> None:
    refused = Outcome(FAILURE, "dial tcp 10.0.0.5:8080: connect: connection refused")
    assert event_of(READINESS, refused) == ProbeEvent(
        "Warning", "Unhealthy", "Readiness probe failed: dial tcp 10.0.0.5:8080: connect: connection refused")
    assert event_of(STARTUP, Outcome(UNKNOWN, 'strconv.Atoi: parsing "http": invalid syntax')) == ProbeEvent(
        "Warning", "Unhealthy", 'Startup probe errored and resulted in unknown state: strconv.Atoi: parsing "http": '
                                "invalid syntax")
    assert event_of(LIVENESS, OK) is None


# ---------------------------------------------------------------- the handlers


@contextlib.asynccontextmanager
async def http_server(answers: dict[str, bytes]) -> AsyncIterator[tuple[int, list[bytes]]]:
    """An HTTP server on loopback: each path's raw answer; the requests it got."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        path = head.split(b" ")[1].decode()
        writer.write(answers.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, seen
    finally:
        server.close()
        await server.wait_closed()


def http(port: int | str, path: str = "/healthz", **kw: object) -> Probe:
    return Probe(HTTPGet=HTTPGetAction(Path=path, Port=port, **kw))  # type: ignore[arg-type]


async def test_http_probes_answer_in_the_kubelets_words() -> None:
    answers = {"/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
               "/bad": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
               "/away": b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere.invalid/x\r\nContent-Length: 4\r\n\r\nmove",
               "/here": b"HTTP/1.1 301 Moved\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n"}
    target = LocalTarget()
    async with http_server(answers) as (port, seen):
        spec = ContainerSpec(Name="web", Pod=PodContainer(Ports=[ContainerPort(Name="http", ContainerPort=port)]))
        headers = [HTTPHeader(Name="X-Probe", Value="yes")]
        assert await run_probe(http("http", "/ok", HTTPHeaders=headers), spec, target) == OK
        assert b"X-Probe: yes" in seen[0] and b"User-Agent: kube-probe/" in seen[0]
        assert seen[0].startswith(b"GET /ok HTTP/1.1\r\n")
        assert await run_probe(http(port, "/bad"), spec, target) == FAIL
        assert await run_probe(http(port, "/here"), spec, target) == OK  # same host: followed
        got = await run_probe(http(port, "/away"), spec, target)
        assert got == Outcome("warning", "Probe terminated redirects, Response body: move")
        assert event_of(LIVENESS, got) == ProbeEvent(
            "Warning", "ProbeWarning", "Liveness probe warning: Probe terminated redirects, Response body: move")
    refused = await run_probe(http(port, "/ok"), spec, target)
    assert refused == Outcome(FAILURE, f'Get "http://127.0.0.1:{port}/ok": dial tcp 127.0.0.1:{port}: '
                                       "connect: connection refused")
    assert await run_probe(http("metrics", "/ok"), spec, target) == Outcome(
        UNKNOWN, 'strconv.Atoi: parsing "metrics": invalid syntax')


async def test_tcp_probes_connect_and_close() -> None:
    target = LocalTarget()
    spec = ContainerSpec(Name="web")
    async with http_server({}) as (port, _):
        assert await run_probe(Probe(TCPSocket=port), spec, target) == OK
    assert await run_probe(Probe(TCPSocket=port), spec, target) == Outcome(
        FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


async def test_exec_probes_pass_on_zero_and_fail_with_their_output_or_timeout() -> None:
    target = LocalTarget([(0, ""), (1, "cat: can't open '/tmp/healthy': No such file or directory\n"),
                          (-1, TIMED_OUT), (-1, "container is not running")])
    spec = ContainerSpec(Name="web")
    probe = Probe(Exec=["cat", "/tmp/healthy"])
    assert await run_probe(probe, spec, target) == OK
    assert await run_probe(probe, spec, target) == Outcome(
        FAILURE, "cat: can't open '/tmp/healthy': No such file or directory\n")
    assert await run_probe(probe, spec, target) == Outcome(
        FAILURE, 'command timed out: "cat /tmp/healthy" timed out after 1s')
    assert await run_probe(probe, spec, target) == Outcome(UNKNOWN, "container is not running")
    assert target.argv[0] == ["cat", "/tmp/healthy"]


async def test_grpc_probes_call_the_standard_health_check() -> None:
    grpc = pytest.importorskip("grpc")
    status = {"": 1, "db": 2}

    async def check(request: bytes, context: object) -> bytes:
        service = request[2:].decode() if request else ""
        return b"\x08" + bytes([status.get(service, 3)])

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(check, request_deserializer=None, response_serializer=None)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert await grpc_probe("127.0.0.1", port, "", 2.0) == OK
        assert await grpc_probe("127.0.0.1", port, "db", 2.0) == Outcome(
            FAILURE, 'service unhealthy (responded with "NOT_SERVING")')
    finally:
        await server.stop(None)


# ---------------------------------------------------------------- what a Pod makes of them


def probed_pod(probes: Probes, policy: str = "Always") -> Task:
    spec = ContainerSpec(Name="web", Image="busybox", Pod=PodContainer(Probes=probes))
    return Task(ID=new_id(), Name="p", Namespace="default", NodeID="node1",
                Spec=TaskSpec(Containers=[spec], Pod=PodSpecExtra(RestartPolicy=policy)),
                Status=TaskStatus(State=TaskState.RUNNING), DesiredState=TaskState.RUNNING)


async def fast(_: float) -> None:
    await asyncio.sleep(0.001)


async def test_a_failed_liveness_probe_kills_the_container_and_it_runs_again_in_place() -> None:
    rt = FakeRuntime(images={"busybox:latest"}, multi_container=True)
    task = probed_pod(Probes(Liveness=Probe(Exec=["cat", "/tmp/healthy"])))
    rt.prepared.add(task.ID)
    target = LocalTarget([(0, ""), (1, "gone")])
    p = Pod(task, rt, backoff=0.01, probe_target=lambda name: target, probe_sleep=fast)
    changed = Flag()
    await p.start_apps()
    try:
        while p.statuses()[0].RestartCount == 0:
            assert await p.watch(changed) is None
        st = p.statuses()[0]
        assert [(e.Reason, e.Message) for e in st.Events or []][:4] == [
            *[("Unhealthy", "Liveness probe failed: gone")] * 3,
            ("Killing", "Container web failed liveness probe, will be restarted")]
        assert [e.Seq for e in st.Events or []][:4] == [1, 2, 3, 4]
        assert ("stop", f"{task.ID}.web", "", 30.0) in rt.calls  # the Pod's grace period
    finally:
        await p.stop()
    assert all(t.done() for c in p.apps for t in c.probing)


async def test_a_container_is_ready_only_once_its_readiness_probe_passes() -> None:
    rt = FakeRuntime(images={"busybox:latest"}, multi_container=True)
    task = probed_pod(Probes(Readiness=Probe(Exec=["ready"]), Startup=Probe(Exec=["started"])))
    rt.prepared.add(task.ID)
    target = LocalTarget([(1, "not yet"), (1, "not yet"), (0, "")])
    p = Pod(task, rt, backoff=0.01, probe_target=lambda name: target, probe_sleep=fast)
    changed = Flag()
    await p.start_apps()
    try:
        first = p.statuses()[0]
        assert (first.State, first.Ready, first.Started) == ("running", False, False)
        while not p.statuses()[0].Ready:
            assert await p.watch(changed) is None
        assert p.statuses()[0].Started is True
        assert ["started"] in target.argv and target.argv[-1] == ["ready"]
    finally:
        await p.stop()


class NoProber:
    """A runtime prober whose commands run past their timeout."""

    async def probe(self, task_id: str, argv: list[str], timeout: float) -> tuple[int, str]:
        return -1, f"Health check exceeded timeout ({timeout:g}s)"

    def image_healthcheck(self, task_id: str) -> dict[str, object] | None:
        return None


async def test_the_nodes_target_speaks_https_without_verifying_and_maps_exec_timeouts(tmp_path: Path) -> None:
    cert, key = new_root_ca()  # self-signed: the kubelet does not verify a probe's certificate
    (tmp_path / "c.pem").write_text(cert)
    (tmp_path / "k.pem").write_text(key)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    target = NodeTarget(NoProber(), "task.web", lambda: "127.0.0.1", lambda: None)
    spec = ContainerSpec(Name="web")
    try:
        assert await run_probe(http(port, "/", Scheme="HTTPS"), spec, target) == OK
    finally:
        server.close()
        await server.wait_closed()
    assert await run_probe(Probe(Exec=["sleep", "9"], TimeoutSeconds=2), spec, target) == Outcome(
        FAILURE, 'command timed out: "sleep 9" timed out after 2s')
