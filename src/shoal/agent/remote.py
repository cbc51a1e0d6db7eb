"""The agent's side of the swarm port: joining a swarm, and a dispatcher session over mutual TLS.

``join`` fetches the root CA from a manager without trusting it, checks its digest against the join
token, and trades a certificate request and the token for a node ID and certificate.
``RemoteRegistrar.register`` opens the session (a WebSocket to ``/session`` with the node
certificate) and returns a ``RemoteSession`` that the worker uses exactly like an in-process one.
When the connection drops, the session reconnects and registers again (``ManagerDialer``: the
managers in turn, each failing one with its own capped exponential backoff and logged once until it
is reached again); the manager then resends the full set of assignments. Only the leader holds
sessions: another manager's refusal names the leader, which is tried next. Heartbeat replies carry
the managers' addresses, so the agent follows managers that join and leave. The session's messages
are ``shoal/protocol.py``'s, each decoded once into its type; certificates and TLS are ``shoal/pki.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from shoal import pki
from shoal.agent import logs
from shoal.agent.podstreams import Streams
from shoal.api.errors import Code, InvalidArgument, ShoalError, Unavailable, error_of
from shoal.api.types import NodeDescription, TaskStatus
from shoal.protocol import (
    LEADER_HEADER,
    MANAGER_MESSAGES,
    AgentMessage,
    Assignments,
    Heartbeat,
    HeartbeatReply,
    JoinRequest,
    LogEntry,
    LogsCancel,
    LogsEnd,
    LogsRequest,
    ManagerMessage,
    PromoteRequest,
    Register,
    RenewRequest,
    StatusReport,
    StreamControl,
    StreamData,
    StreamOpen,
    encode,
)
from shoal.runtime.podaccess import LocalPods

log = logging.getLogger(__name__)

_JSON = {"Content-Type": "application/json"}


@dataclass
class Identity:
    node_id: str
    role: str
    ca_pem: str
    cert_pem: str
    key_pem: str
    extra: dict[str, Any] = field(default_factory=dict)  # a manager's: data key, etcd initial cluster


def _url(addr: str, path: str) -> str:
    return f"https://{addr}{path}"


def error_from(body: dict[str, Any], fallback: str) -> ShoalError:
    """A manager's refusal (``manager/remote.py:refusal``) as the error it was there."""
    try:
        code = Code(body.get("code", Code.UNKNOWN.value))
    except ValueError:
        code = Code.UNKNOWN
    return error_of(code, str(body.get("message", fallback)), control=bool(body.get("control", False)))


async def join(remote_addrs: list[str], token: str, hostname: str, addr: str = "",
               peer_port: int = 0) -> Identity:
    """Join through the first manager that answers; raises with the manager's words otherwise.
    ``addr`` and ``peer_port`` are a joining manager's advertised address and etcd peer port."""
    pki.parse_join_token(token)
    last: Exception | None = None
    for manager in remote_addrs:
        try:
            insecure = pki.client_ssl_context(None)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                async with http.get(_url(manager, "/ca"), ssl=insecure) as r:
                    ca_pem = await r.text()
                pki.check_ca_digest(token, ca_pem)
                key_pem, csr_pem = pki.new_node_key()
                trusted = pki.client_ssl_context(ca_pem)
                req = JoinRequest(token=token, csr=csr_pem, hostname=hostname, addr=addr, peer_port=peer_port)
                async with http.post(_url(manager, "/join"), ssl=trusted, data=encode(req), headers=_JSON) as r:
                    body: dict[str, Any] = await r.json(content_type=None)
                    if r.status != 200:
                        raise error_from(body, f"join failed ({r.status})")
            extra = {k: v for k, v in body.items() if k not in ("node_id", "role", "cert")}
            return Identity(body["node_id"], body["role"], ca_pem, body["cert"], key_pem, extra)
        except ShoalError:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            last = e
    raise Unavailable(f"could not reach any manager at {', '.join(remote_addrs)}: {last}")


# Redialling a manager that failed: the first retry after BACKOFF_BASE, doubling up to a cap. A manager
# that answered (it is up, but not the leader and knows of none: an election) is retried within
# ANSWERED_CAP, so that the new leader is found soon after it is elected; one that could not be
# reached (down, restarting, removed) within UNREACHABLE_CAP, well within the time a new leader gives
# agents to find it before it marks their nodes down (manager/dispatcher.py: NEW_LEADER_MIN_GRACE).
BACKOFF_BASE = 0.2
ANSWERED_CAP = 1.0
UNREACHABLE_CAP = 2.0
SHORT_SESSION = 1.0  # s: a session closed sooner counts as a failure (no reconnection at once)


class ManagerDialer:
    """Which manager an agent dials next, and when: the managers the cluster lists now (a removed one
    is forgotten), each with its own capped exponential backoff, the one that may be dialled the
    soonest first (in turn among equals). ``failed`` says whether a failure starts a streak (to be
    logged once), ``succeeded`` whether it ends one."""

    def __init__(self, managers: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.managers: list[str] = []
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._turn = 0
        self.set_managers(managers)

    def set_managers(self, managers: list[str]) -> None:
        self.managers = list(dict.fromkeys(managers))
        for addr in list(self._failures):
            if addr not in self.managers:
                del self._failures[addr]
                self._not_before.pop(addr, None)

    def next(self) -> tuple[str, float]:
        """The manager to dial next, and how long to wait first (0: now)."""
        if not self.managers:
            raise Unavailable("no manager to connect to")
        now = self.clock()
        n = len(self.managers)
        order = [self.managers[(self._turn + k) % n] for k in range(n)]
        addr = min(order, key=lambda a: self._not_before.get(a, 0.0))  # the first of equals wins
        self._turn = (self.managers.index(addr) + 1) % n
        return addr, max(0.0, self._not_before.get(addr, 0.0) - now)

    def failed(self, addr: str, answered: bool = False) -> bool:
        """Dialling ``addr`` failed: back off; True when it had not failed since it was last reached."""
        n = self._failures.get(addr, 0) + 1
        self._failures[addr] = n
        cap = ANSWERED_CAP if answered else UNREACHABLE_CAP
        self._not_before[addr] = self.clock() + min(BACKOFF_BASE * 2 ** (n - 1), cap)
        return n == 1

    def due(self, addr: str) -> bool:
        """Whether ``addr`` may be dialled now (it is not backing off)."""
        return self._not_before.get(addr, 0.0) <= self.clock()

    def failing(self, addr: str) -> bool:
        return addr in self._failures

    def succeeded(self, addr: str) -> bool:
        """``addr`` was reached; True when it had failed before."""
        self._not_before.pop(addr, None)
        return self._failures.pop(addr, 0) > 0

    def dropped(self, addr: str) -> None:
        """A session with ``addr`` ended: dial it again first (the others keep their backoff)."""
        self._not_before.pop(addr, None)
        self._failures.pop(addr, None)
        if addr in self.managers:
            self._turn = self.managers.index(addr)


class RemoteSession:
    def __init__(self, registrar: RemoteRegistrar, description: NodeDescription, addr: str,
                 kube_network: bool = False) -> None:
        self.registrar = registrar
        self.description = description
        self.addr = addr
        self.kube_network = kube_network
        self.queue: asyncio.Queue[Assignments | None] = asyncio.Queue()
        self.periods: asyncio.Queue[float] = asyncio.Queue()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = asyncio.Event()
        self._closed = False
        self._http: aiohttp.ClientSession | None = None
        self._runner: asyncio.Task[None] | None = None
        self._log_readers: dict[str, asyncio.Task[None]] = {}
        self._streams = Streams(lambda: registrar.pods, self._send)  # execs and dials into this node's Pods

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=5))
        self._runner = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        dialer = self.registrar.dialer
        hint = ""
        while not self._closed:
            if hint:
                addr, hint = hint, ""
            else:
                addr, wait = dialer.next()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # the list may have changed meanwhile
            answered = False
            error: BaseException | None = None
            try:
                assert self._http is not None
                async with self._http.ws_connect(_url(addr, "/session"), ssl=self.registrar.ssl, heartbeat=30) as ws:
                    self.ws = ws
                    await ws.send_bytes(encode(Register(description=self.description, addr=self.addr,
                                                             kube_network=self.kube_network)))
                    self.connected.set()
                    opened = time.monotonic()
                    if dialer.failing(addr):
                        log.info("session with manager %s established", addr)
                    async for msg in ws:
                        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                            continue
                        self._received(MANAGER_MESSAGES.decode(msg.data))
                if time.monotonic() - opened >= SHORT_SESSION:
                    dialer.dropped(addr)  # it ended: try that manager again at once, the others after
                    continue
                answered, error = True, ConnectionError("the session was closed as soon as it opened")
            except aiohttp.WSServerHandshakeError as e:
                leader = e.headers.get(LEADER_HEADER, "") if e.headers else ""
                answered = True
                if e.status == 503 and leader and leader != addr and dialer.due(leader):
                    dialer.succeeded(addr)
                    hint = leader  # that manager is not the leader: go to the one it names, now
                    await asyncio.sleep(0.05)
                    continue
                # (A leader it names that just failed is a stale name: back off from both.)
                error = e
            except (aiohttp.ClientError, OSError, TimeoutError, msgspec.DecodeError) as e:
                error = e
            finally:
                self.ws = None
                self.connected.clear()
            if dialer.failed(addr, answered=answered):
                # Once per manager until it is reached again; it is retried with backoff meanwhile.
                log.warning("session with manager %s: %s (retrying with backoff)", addr, error)

    def _received(self, msg: ManagerMessage) -> None:
        match msg:
            case Assignments():
                self.queue.put_nowait(msg)
            case HeartbeatReply():
                self.periods.put_nowait(msg.period)
                if msg.managers:
                    self.registrar.set_managers(msg.managers)
                if msg.role and self.registrar.on_role is not None:
                    self.registrar.on_role(msg.role)
            case LogsRequest():
                self._log_readers[msg.id] = asyncio.ensure_future(self._serve_logs(msg))
            case LogsCancel():
                reader = self._log_readers.pop(msg.id, None)
                if reader is not None:
                    reader.cancel()
            case StreamOpen():
                self._streams.start(msg)
            case StreamData() | StreamControl():
                self._streams.input(msg)

    async def _serve_logs(self, req: LogsRequest) -> None:
        """Answer the manager's request for a task's logs from this node's log file."""
        log_path = self.registrar.log_path
        try:
            if log_path is None:
                return
            path = log_path(req.task_id)
            lines, end = logs.read(path, since=req.since, tail=req.tail, stdout=req.stdout, stderr=req.stderr)
            for ll in lines:
                await self._send(LogEntry.of(req.id, ll))
            if req.follow:
                async for ll in logs.follow(path, end, stdout=req.stdout, stderr=req.stderr):
                    await self._send(LogEntry.of(req.id, ll))
        finally:
            self._log_readers.pop(req.id, None)
            await self._send(LogsEnd(id=req.id))

    async def _send(self, msg: AgentMessage) -> bool:
        ws = self.ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_bytes(encode(msg))
            return True
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            return False

    async def assignments(self) -> Assignments | None:
        return await self.queue.get()

    async def heartbeat(self) -> float:
        if not await self._send(Heartbeat()):
            await asyncio.wait_for(self.connected.wait(), timeout=None)
            return 0.5
        try:
            return await asyncio.wait_for(self.periods.get(), timeout=10)
        except TimeoutError:
            return 1.0

    async def update_task_status(self, updates: list[tuple[str, TaskStatus]]) -> None:
        while not await self._send(StatusReport(updates=updates)):
            if self._closed:
                return
            await self.connected.wait()

    async def close(self) -> None:
        self._closed = True
        self.queue.put_nowait(None)
        for reader in list(self._log_readers.values()):
            reader.cancel()
        self._streams.close()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._http is not None:
            await self._http.close()


RENEW_CHECK_PERIOD = 60.0


class RemoteRegistrar:
    """Opens the session of a node that joined, with its certificate, to its managers, and renews the
    certificate once half of its validity has passed (``on_renew`` keeps the new one)."""

    def __init__(self, identity: Identity, managers: list[str],
                 on_renew: Callable[[Identity], None] | None = None,
                 check_period: float = RENEW_CHECK_PERIOD,
                 on_managers: Callable[[list[str]], None] | None = None) -> None:
        if not managers:
            raise InvalidArgument("no manager to connect to")
        self.identity = identity
        self.managers = list(managers)
        self.dialer = ManagerDialer(self.managers)
        self.on_managers = on_managers
        self.on_role: Callable[[str], None] | None = None  # the role the managers want this node in
        self.ssl = pki.client_ssl_context(identity.ca_pem, identity.cert_pem, identity.key_pem)
        self.session: RemoteSession | None = None
        self.on_renew = on_renew
        self.check_period = check_period
        self.log_path: Callable[[str], Path] | None = None  # where this node keeps a task's log
        self.pods: LocalPods | None = None  # into this node's Pods (exec, dial), for the leader
        self._renewer: asyncio.Task[None] | None = None

    def set_managers(self, managers: list[str]) -> None:
        """The managers' addresses as the leader last gave them (kept for the next connection): a
        manager removed from the cluster is no longer dialled."""
        if managers and sorted(managers) != sorted(self.managers):
            self.managers = list(managers)
            self.dialer.set_managers(self.managers)
            if self.on_managers is not None:
                self.on_managers(self.managers)

    async def register(self, node_id: str, description: NodeDescription, addr: str,
                       role: str = "worker", kube_network: bool = False) -> RemoteSession:
        self.session = RemoteSession(self, description, addr, kube_network)
        await self.session.start()
        self._renewer = asyncio.ensure_future(self._renew_loop())
        return self.session

    async def _post(self, path: str, body: RenewRequest | PromoteRequest, what: str,
                    timeout: float) -> dict[str, Any]:
        """POST to each manager in turn with this node's certificate; the first answer wins."""
        last: Exception | None = None
        for manager in self.managers:
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
                    async with http.post(_url(manager, path), ssl=self.ssl, data=encode(body), headers=_JSON) as r:
                        answer: dict[str, Any] = await r.json(content_type=None)
                        if r.status != 200:
                            raise error_from(answer, f"{what} failed ({r.status})")
                        return answer
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                last = e
        raise Unavailable(f"could not reach any manager for the {what}: {last}")

    async def renew(self) -> Identity:
        """Ask a manager for a new certificate (a new key too); later connections use it."""
        key_pem, csr_pem = pki.new_node_key()
        body = await self._post("/renew", RenewRequest(csr=csr_pem), "certificate renewal", 20)
        node_id, role, _cluster = pki.node_identity(body["cert"])
        self.identity = Identity(node_id, role, self.identity.ca_pem, body["cert"], key_pem)
        self.ssl = pki.client_ssl_context(self.identity.ca_pem, self.identity.cert_pem, key_pem)
        if self.on_renew is not None:
            self.on_renew(self.identity)
        return self.identity

    async def promote(self, addr: str, peer_port: int) -> Identity:
        """This node was promoted: trade a new key for a manager certificate and the quorum's details."""
        key_pem, csr_pem = pki.new_node_key()
        body = await self._post("/promote", PromoteRequest(csr=csr_pem, addr=addr, peer_port=peer_port),
                                "promotion", 60)
        extra = {k: v for k, v in body.items() if k != "cert"}
        return Identity(self.identity.node_id, "manager", self.identity.ca_pem, body["cert"], key_pem, extra)

    async def _renew_loop(self) -> None:
        while True:
            if pki.needs_renewal(self.identity.cert_pem):
                try:
                    await self.renew()
                    log.info("node certificate renewed; valid for %.0f s", pki.cert_expires_in(self.identity.cert_pem))
                except ShoalError as e:
                    log.warning("certificate renewal: %s", e)
            await asyncio.sleep(self.check_period)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self.session is not None:
            await self.session.close()
