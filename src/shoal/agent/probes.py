"""A Pod's container probes as the kubelet runs them: liveness, readiness and startup, each an
``exec`` in the container, an HTTP GET, a TCP connect or a gRPC health check, with their timing and
thresholds, and the events the kubelet writes of them.

``run_probe`` runs one probe once against a ``Target`` (what the node offers: a command in the
container, a connection to the Pod's address) and gives an ``Outcome`` in the kubelet's words:

* ``exec``: exit 0 is success, another exit a failure whose output is the command's; past
  ``timeoutSeconds`` it is killed and fails (``command timed out``); one that could not run errors.
* ``httpGet``: ``<scheme>://<host or the Pod's IP>:<port><path>`` with the probe's headers (HTTPS is
  not verified); 200 to 399 is success, a redirect on the same host is followed (at most 10), one to
  another host is a success with a warning (``Probe terminated redirects, Response body: …``);
  another status fails (``HTTP probe failed with statuscode: 500``); a connection that fails or does
  not answer in time fails with Go's words (``Get "http://…": dial tcp …: connect: connection refused``).
* ``tcpSocket``: a connection opened in time is success (``dial tcp 10.0.0.5:80: connect: connection
  refused``, ``… i/o timeout``).
* ``grpc``: ``grpc.health.v1.Health/Check`` in plaintext; ``SERVING`` is success.

A port is a number or the name of one of the container's ports; a name it does not have errors
(``strconv.Atoi: parsing "http": invalid syntax``).

``Worker`` is one probe of one container, as the kubelet's worker: ``once`` runs it when it is due
(not before ``initialDelaySeconds`` after the container started; liveness and readiness not before
the startup probe succeeded, the startup probe no more once it did), counts equal results in a row and
changes the probe's verdict only after ``successThreshold`` successes or ``failureThreshold``
failures. A failed liveness or startup verdict asks for the container to be killed
(``on_verdict``), and the worker holds until the container runs again. Each failure is an
``Unhealthy`` Warning event (``Liveness probe failed: …``, ``… probe errored and resulted in unknown
state: …``), a redirect warning a ``ProbeWarning`` one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit

from shoal import metrics
from shoal.api.pod import Probe
from shoal.api.types import ContainerSpec
from shoal.network.netns import run_in_netns
from shoal.runtime.base import Prober

LIVENESS, READINESS, STARTUP = "Liveness", "Readiness", "Startup"
SUCCESS, FAILURE, UNKNOWN, WARNING = "success", "failure", "unknown", "warning"
USER_AGENT = "kube-probe/1.33"
MAX_BODY = 10 * 1024  # what of a response body the kubelet keeps
MAX_REDIRECTS = 10


@dataclass
class Outcome:
    result: str  # SUCCESS, FAILURE, UNKNOWN (the probe could not run: errored) or WARNING (a success)
    output: str = ""


class Target(Protocol):
    """What a probe reaches on the node: the Pod's address, its container, a connection."""

    @property
    def pod_ip(self) -> str: ...

    async def exec(self, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run ``argv`` in the container: its exit code and output; -1 and why when it could not run,
        or ``timed_out`` in the output's place after ``timeout``."""
        ...

    async def connect(self, host: str, port: int, timeout: float,
                      tls: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``host:port`` from the node (raises ``OSError`` or ``TimeoutError``)."""
        ...


TIMED_OUT = "\x00timed out"  # what ``Target.exec`` answers for a command killed at its timeout


class PortError(Exception):
    pass


def resolve_port(port: int | str | None, spec: ContainerSpec) -> int:
    """A probe's port: a number, or the name of one of the container's ports (raises ``PortError``)."""
    if isinstance(port, str) and not port.isdigit():
        for p in (spec.Pod.Ports if spec.Pod is not None else None) or []:
            if p.Name == port:
                return p.ContainerPort
        raise PortError(f'strconv.Atoi: parsing "{port}": invalid syntax')
    n = int(port or 0)
    if not 0 < n < 65536:
        raise PortError(f"invalid port number: {n}")
    return n


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dial_error(host: str, port: int, e: BaseException) -> str:
    """Go's words for a failed dial."""
    if isinstance(e, TimeoutError):
        return f"dial tcp {_join(host, port)}: i/o timeout"
    if isinstance(e, OSError) and e.errno is not None:
        words = {errno.ECONNREFUSED: "connect: connection refused",
                 errno.ENETUNREACH: "connect: network is unreachable", errno.EHOSTUNREACH: "connect: no route to host",
                 errno.ECONNRESET: "read: connection reset by peer"}
        return f"dial tcp {_join(host, port)}: {words.get(e.errno, e.strerror or str(e))}"
    return f"dial tcp {_join(host, port)}: {e}"


async def tcp_probe(target: Target, host: str, port: int, timeout: float) -> Outcome:
    try:
        _, writer = await asyncio.wait_for(target.connect(host, port, timeout), timeout)
    except (OSError, TimeoutError) as e:
        return Outcome(FAILURE, _dial_error(host, port, e))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Outcome(SUCCESS)


async def _http_once(target: Target, url: str, headers: list[tuple[str, str]], timeout: float
                     ) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    reader, writer = await target.connect(host, port, timeout, tls)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        names = {k.lower() for k, _ in headers}
        lines = [f"GET {path} HTTP/1.1"]
        if "host" not in names:
            lines.append(f"Host: {parts.netloc}")
        if "user-agent" not in names:
            lines.append(f"User-Agent: {USER_AGENT}")
        if "accept" not in names:
            lines.append("Accept: */*")
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[1].isdigit():
            raise ValueError(f"malformed HTTP response {status_line[:64]!r}")
        code = int(fields[1])
        hdrs: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        body = b""
        if "content-length" in hdrs and hdrs["content-length"].isdigit():
            n = min(int(hdrs["content-length"]), MAX_BODY)
            with contextlib.suppress(asyncio.IncompleteReadError):
                body = await reader.readexactly(n)
        elif hdrs.get("transfer-encoding", "").lower() != "chunked":
            body = await reader.read(MAX_BODY)
        return code, hdrs, body
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def http_probe(target: Target, url: str, headers: list[tuple[str, str]], timeout: float) -> Outcome:
    first = urlsplit(url).hostname
    try:
        async with asyncio.timeout(timeout):
            for _ in range(MAX_REDIRECTS + 1):
                code, hdrs, body = await _http_once(target, url, headers, timeout)
                location = hdrs.get("location", "")
                if 300 <= code < 400 and location:
                    nxt = urljoin(url, location)
                    if urlsplit(nxt).hostname == first:
                        url = nxt
                        continue
                break
    except TimeoutError:
        return Outcome(FAILURE, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while '
                                "awaiting headers)")
    except OSError as e:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        dial = _dial_error(parts.hostname or "", parts.port or (443 if tls else 80), e)
        return Outcome(FAILURE, f'Get "{url}": {dial}')
    except ValueError as e:
        return Outcome(FAILURE, f'Get "{url}": {e}')
    if 200 <= code < 300:
        return Outcome(SUCCESS)
    if 300 <= code < 400:
        return Outcome(WARNING, f"Probe terminated redirects, Response body: {body.decode(errors='replace')}")
    return Outcome(FAILURE, f"HTTP probe failed with statuscode: {code}")


async def exec_probe(target: Target, argv: list[str], timeout: float) -> Outcome:
    code, output = await target.exec(argv, timeout)
    if output == TIMED_OUT:
        return Outcome(FAILURE, f"command timed out: \"{' '.join(argv)}\" timed out after {timeout:g}s")
    if code < 0:
        return Outcome(UNKNOWN, output)
    return Outcome(SUCCESS if code == 0 else FAILURE, output)


def _health_request(service: str) -> bytes:
    """grpc.health.v1.HealthCheckRequest{service} in protobuf."""
    raw = service.encode()
    return (b"\x0a" + _varint(len(raw)) + raw) if raw else b""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _health_status(data: bytes) -> int:
    """HealthCheckResponse.status (field 1, an enum) from its protobuf bytes (0 when absent)."""
    if len(data) >= 2 and data[0] == 0x08:
        return data[1] & 0x7F
    return 0


GRPC_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


async def grpc_probe(host: str, port: int, service: str, timeout: float) -> Outcome:
    """The standard health check over plaintext HTTP/2 (``grpcio``'s asyncio channel)."""
    import grpc  # grpcio (the etcd client's), loaded only when a Pod asks for a gRPC probe

    addr = _join(host, port)
    async with grpc.aio.insecure_channel(addr) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            return Outcome(FAILURE, f'timeout: failed to connect service "{addr}" within {timeout:g}s')
        check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        try:
            reply = await check(_health_request(service), timeout=timeout,
                                metadata=(("user-agent", USER_AGENT),))
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                return Outcome(FAILURE, "this server does not implement the grpc health protocol "
                                        f"(grpc.health.v1.Health): {e.details()}")
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return Outcome(FAILURE, f"timeout: health rpc did not complete within {timeout:g}s")
            return Outcome(FAILURE, f"error: health rpc probe failed: rpc error: code = {_go_code(e.code())} "
                                    f"desc = {e.details()}")
    status = _health_status(bytes(reply))
    if status == 1:
        return Outcome(SUCCESS)
    return Outcome(FAILURE, f'service unhealthy (responded with "{GRPC_STATUS.get(status, str(status))}")')


def _go_code(code: object) -> str:
    name = str(getattr(code, "name", code))
    return "".join(p.capitalize() for p in name.split("_")).replace("Deadlineexceeded", "DeadlineExceeded")


async def run_probe(probe: Probe, spec: ContainerSpec, target: Target) -> Outcome:
    """One run of a probe against the container (see the module's docstring)."""
    timeout = float(max(probe.TimeoutSeconds, 1))
    try:
        if probe.Exec is not None:
            return await exec_probe(target, probe.Exec, timeout)
        if probe.HTTPGet is not None:
            h = probe.HTTPGet
            port = resolve_port(h.Port, spec)
            scheme = (h.Scheme or "HTTP").lower()
            path = h.Path or "/"
            if not path.startswith("/"):
                path = "/" + path
            url = f"{scheme}://{_join(h.Host or target.pod_ip, port)}{path}"
            return await http_probe(target, url, [(x.Name, x.Value) for x in h.HTTPHeaders or []], timeout)
        if probe.TCPSocket is not None:
            return await tcp_probe(target, target.pod_ip, resolve_port(probe.TCPSocket, spec), timeout)
        if probe.GRPC is not None:
            return await grpc_probe(target.pod_ip, resolve_port(probe.GRPC, spec), probe.GRPCService, timeout)
    except PortError as e:
        return Outcome(UNKNOWN, str(e))
    return Outcome(UNKNOWN, "missing probe handler")


@dataclass(slots=True)
class ProbeEvent:
    """An event of a probe for the kubelet's record (type, reason, message)."""

    type: str
    reason: str
    message: str


def event_of(kind: str, outcome: Outcome) -> ProbeEvent | None:
    """The event the kubelet writes of one run (none for a success)."""
    if outcome.result == FAILURE:
        return ProbeEvent("Warning", "Unhealthy", f"{kind} probe failed: {outcome.output}")
    if outcome.result == UNKNOWN:
        return ProbeEvent("Warning", "Unhealthy", f"{kind} probe errored and resulted in unknown state: "
                                                  f"{outcome.output}")
    if outcome.result == WARNING:
        return ProbeEvent("Warning", "ProbeWarning", f"{kind} probe warning: {outcome.output}")
    return None


class Subject(Protocol):
    """The container a worker probes, as the Pod keeps it."""

    @property
    def running(self) -> bool: ...

    @property
    def run_started(self) -> float:
        """When (the clock's time) its current run started."""
        ...

    @property
    def startup_done(self) -> bool:
        """Whether its startup probe succeeded (or it has none)."""
        ...


@dataclass(eq=False)
class Worker:
    """One probe of one container (see the module's docstring). ``verdict`` is the probe's result as the
    kubelet keeps it: None before any (a readiness probe's counts as a failure), True, False."""

    kind: str
    probe: Probe
    spec: ContainerSpec
    subject: Subject
    target: Target
    on_event: Callable[[ProbeEvent], None]
    on_verdict: Callable[[Worker], None]
    clock: Callable[[], float] = time.monotonic
    runner: Callable[[Probe, ContainerSpec, Target], Awaitable[Outcome]] = run_probe
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    verdict: bool | None = None
    last: bool | None = None  # the last run's result
    run: int = 0  # equal results in a row
    on_hold: bool = False  # a liveness/startup failure: nothing until the container runs again
    runs: int = field(default=0)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """The container runs again (a restart in place): start over (a liveness probe's verdict is a
        success until it fails, as the kubelet's initial value)."""
        self.verdict = True if self.kind == LIVENESS else None
        self.last, self.run, self.on_hold = None, 0, False

    def due(self) -> bool:
        s = self.subject
        if self.on_hold or not s.running:
            return False
        if self.clock() - s.run_started < self.probe.InitialDelaySeconds:
            return False
        if self.kind == STARTUP:
            return not s.startup_done
        return s.startup_done

    async def once(self) -> None:
        """Run the probe if it is due, and weigh its result."""
        if not self.due():
            return
        self.runs += 1
        outcome = await self.runner(self.probe, self.spec, self.target)
        if not self.subject.running or self.on_hold:
            return  # the container went meanwhile: what it answered no longer counts
        metrics.probed(self.kind, outcome.result)
        ev = event_of(self.kind, outcome)
        if ev is not None:
            self.on_event(ev)
        ok = outcome.result in (SUCCESS, WARNING)
        if ok == self.last:
            self.run += 1
        else:
            self.last, self.run = ok, 1
        threshold = max(self.probe.SuccessThreshold, 1) if ok else max(self.probe.FailureThreshold, 1)
        if self.run < threshold:
            return
        changed = self.verdict != ok
        self.verdict = ok
        if not ok and self.kind in (LIVENESS, STARTUP):
            self.on_hold, self.run = True, 0
            changed = True
        if changed:
            self.on_verdict(self)

    async def loop(self) -> None:
        """Probe every ``periodSeconds`` while the container runs (the caller cancels it)."""
        period = float(max(self.probe.PeriodSeconds, 1))
        while True:
            await self.once()
            await self.sleep(period)


class NodeTarget:
    """A probe's ``Target`` on a node: commands through the runtime's ``Prober`` (``runc exec`` of the
    Pod's container), connections from the node's own namespace to the Pod's address (a Pod on the
    node's default bridge), or from inside the Pod's network namespace (``netns``: a Pod on networks
    whose addresses the node may not route, or when the node has no route to it)."""

    def __init__(self, prober: Prober, key: str, pod_ip: Callable[[], str],
                 netns: Callable[[], str | None], inside: Callable[[], bool] = lambda: False) -> None:
        self.prober = prober
        self.key = key  # the runtime's name of the container
        self._pod_ip = pod_ip
        self.netns = netns
        self.inside = inside  # dial from inside the Pod's namespace at once

    @property
    def pod_ip(self) -> str:
        return self._pod_ip()

    async def exec(self, argv: list[str], timeout: float) -> tuple[int, str]:
        code, output = await self.prober.probe(self.key, argv, timeout)
        if code < 0 and output.startswith("Health check exceeded timeout"):
            return code, TIMED_OUT
        return code, output

    async def connect(self, host: str, port: int, timeout: float,
                      tls: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        ctx: ssl.SSLContext | None = None
        if tls:  # the kubelet does not verify a probe's certificate
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        path = self.netns()
        if path is None or not self.inside():
            try:
                return await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), timeout)
            except OSError as e:
                if e.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH) or path is None:
                    raise

        def dial() -> socket.socket:
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.settimeout(timeout)
                s.connect((host, port))
                s.setblocking(False)
            except BaseException:
                s.close()
                raise
            return s

        sock = await asyncio.to_thread(run_in_netns, path, dial)
        try:
            return await asyncio.wait_for(asyncio.open_connection(sock=sock, ssl=ctx,
                                                                  server_hostname=host if ctx else None), timeout)
        except BaseException:
            sock.close()
            raise
