"""The agent's side of the swarm port: joining a swarm, and a dispatcher session over mutual TLS.

``join`` fetches the root CA from a manager without trusting it, checks its digest against the join
token, and trades a certificate request and the token for a node ID and certificate.
``RemoteRegistrar.register`` opens the session (a WebSocket to ``/session`` with the node
certificate) and returns a ``RemoteSession`` that the worker uses exactly like an in-process one.
When the connection drops, the session reconnects (with backoff, to each known manager in turn) and
registers again; the manager then resends the full set of assignments. Only the leader holds
sessions: another manager's refusal names the leader, which is tried next. Heartbeat replies carry
the managers' addresses, so the agent follows managers that join and leave. The session's messages
are ``shoal/protocol.py``'s, each decoded once into its type; certificates and TLS are ``shoal/pki.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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


class RemoteSession:
    def __init__(self, registrar: RemoteRegistrar, description: NodeDescription, addr: str) -> None:
        self.registrar = registrar
        self.description = description
        self.addr = addr
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
        delay = 0.2
        i = 0
        hint = ""
        while not self._closed:
            addr = hint or self.registrar.managers[i % len(self.registrar.managers)]
            i += 0 if hint else 1
            hint = ""
            try:
                assert self._http is not None
                async with self._http.ws_connect(_url(addr, "/session"), ssl=self.registrar.ssl, heartbeat=30) as ws:
                    self.ws = ws
                    await ws.send_bytes(encode(Register(description=self.description, addr=self.addr)))
                    self.connected.set()
                    delay = 0.2
                    async for msg in ws:
                        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                            continue
                        self._received(MANAGER_MESSAGES.decode(msg.data))
            except aiohttp.WSServerHandshakeError as e:
                leader = e.headers.get(LEADER_HEADER, "") if e.headers else ""
                if e.status == 503 and leader and leader != addr:
                    hint = leader  # that manager is not the leader: go to the one it names, now
                    await asyncio.sleep(0.05)
                    continue
                log.warning("session with manager %s: %s", addr, e)
            except (aiohttp.ClientError, OSError, TimeoutError, msgspec.DecodeError) as e:
                log.warning("session with manager %s: %s", addr, e)
            finally:
                self.ws = None
                self.connected.clear()
            if not self._closed and i % len(self.registrar.managers) == 0:
                # Every manager was tried: back off before the next round (a leader is being elected,
                # or the managers are down); the rounds stay short so a new leader is found fast.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

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
        """The managers' addresses as the leader last gave them (kept for the next connection)."""
        if managers and sorted(managers) != sorted(self.managers):
            self.managers = list(managers)
            if self.on_managers is not None:
                self.on_managers(self.managers)

    async def register(self, node_id: str, description: NodeDescription, addr: str,
                       role: str = "worker") -> RemoteSession:
        self.session = RemoteSession(self, description, addr)
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
