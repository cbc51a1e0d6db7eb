"""The manager's swarm port (2377): joining, and agent sessions over mutual TLS.

Served over TLS with the node certificate of this manager, signed by the cluster's root CA:

- ``GET /ca``: the root CA certificate. Anyone may fetch it; a joining node trusts it only once its
  digest matches the one in its join token.
- ``POST /join`` ``{"token", "csr", "hostname", "addr", "peer_port"}``: checks the token (worker or
  manager), gives the node an ID and a certificate (CN = node ID, OU = role), and answers
  ``{"node_id", "cert", "role"}``. A manager also gets what it needs to become a member of the
  managers' etcd cluster (``add_manager``: the data key, the initial cluster, the managers).
- ``POST /renew`` ``{"csr"}`` (client certificate required): a fresh certificate for the same node,
  with its current role.
- ``POST /promote`` ``{"csr", "addr", "peer_port"}`` (client certificate required): a worker whose
  node was promoted gets a manager certificate and what a joining manager gets.
- ``GET /session`` (WebSocket, client certificate required): the dispatcher session of the node
  named by the certificate. The agent sends ``register`` (its description and address), ``heartbeat``
  and ``status`` messages; the manager sends ``assignments`` (with the secrets and configs the
  node's tasks use, over this TLS session only) and ``heartbeat`` replies. Messages are
  JSON, tasks in the core object shapes; heartbeat replies carry the managers' addresses and the
  node's wanted role (a promotion or a demotion). The
  manager also asks for a task's logs (``logs``, ``logs_cancel``); the agent answers with ``log``
  lines and ``logs_end``. Only the leader holds sessions: another manager answers 503 with the
  leader's address in ``X-Shoal-Leader``. The messages are ``shoal/protocol.py``'s, each decoded
  once into its type.
- ``GET /logs/{task}`` (a manager's certificate required): the task's log lines, read by the leader
  through the session of the task's node, one JSON object a line (``service logs`` on a follower).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
from aiohttp import WSMsgType, web

from shoal import pki
from shoal.api.errors import Code, InvalidArgument, PermissionDenied, ShoalError, Unauthenticated, Unavailable
from shoal.api.ids import new_id
from shoal.api.types import Cluster, Node, Task
from shoal.manager import ca
from shoal.manager.dispatcher import Session
from shoal.protocol import (
    AGENT_MESSAGES,
    LEADER_HEADER,
    LOG_RECORDS,
    AgentMessage,
    Heartbeat,
    HeartbeatReply,
    JoinRequest,
    LogEntry,
    LogLine,
    LogRecord,
    LogsEnd,
    PromoteRequest,
    Register,
    RenewRequest,
    StatusReport,
    StreamData,
    StreamEnd,
    encode,
)

if TYPE_CHECKING:
    from shoal.manager.manager import Manager

log = logging.getLogger(__name__)

LISTENER: web.AppKey[SwarmListener] = web.AppKey("listener")

def _cluster(m: Manager) -> Cluster:
    return m.control.cluster()


def _manager(request: web.Request) -> Manager:
    m = request.app[LISTENER].manager
    if m is None:
        raise Unavailable("this manager is starting")
    return m


def host_of(addr: str) -> str:
    return addr.rsplit(":", 1)[0].strip("[]") if ":" in addr else addr


async def get_ca(request: web.Request) -> web.Response:
    return web.Response(text=_cluster(_manager(request)).TLSInfo.TrustRoot, content_type="application/x-pem-file")


async def join(request: web.Request) -> web.Response:
    listener = request.app[LISTENER]
    try:
        m = _manager(request)
        req = msgspec.json.decode(await request.read(), type=JoinRequest)
        c = _cluster(m)
        role = ca.role_for_token(req.token, c.JoinTokens.Worker, c.JoinTokens.Manager)
        node_id = new_id()
        ips = (host_of(req.addr),) if role == "manager" and req.addr else ()
        cert = ca.issue_node_cert(c.TLSInfo.TrustRoot, c.RootCAKey, req.csr, node_id, role, c.ID, ips=ips)
        body: dict[str, Any] = {"node_id": node_id, "cert": cert, "role": role}
        if role == "manager":
            if listener.add_manager is None:
                raise Unavailable("this manager cannot add managers")
            if not req.addr or not req.peer_port:
                raise InvalidArgument("a manager must give its advertised address and etcd peer port")
            body.update(await listener.add_manager(node_id, req))
    except msgspec.DecodeError as e:
        return web.json_response({"message": f"invalid join request: {e}"}, status=400)
    except ShoalError as e:
        return refusal(e)
    log.info("node %s (%s) joined as a %s", node_id, req.hostname, role)
    return web.json_response(body)


# This protocol's HTTP status of an error (the caller rebuilds the error from its code, see refusal).
_STATUS = {Code.INVALID_ARGUMENT: 400, Code.UNAUTHENTICATED: 401, Code.PERMISSION_DENIED: 403, Code.NOT_FOUND: 404,
           Code.ALREADY_EXISTS: 409, Code.ABORTED: 409, Code.FAILED_PRECONDITION: 503, Code.UNAVAILABLE: 503}


def refusal(e: ShoalError) -> web.Response:
    """An error as the node's side rebuilds it (``agent/remote.py:error_from``): code, words, origin."""
    return web.json_response({"message": e.message, "code": e.code.value, "control": e.control},
                             status=_STATUS.get(e.code, 500))


def _caller(request: web.Request) -> tuple[str, str]:
    """The node ID and role from the caller's verified certificate (raises the refusal)."""
    ident = pki.peer_identity(request.transport.get_extra_info("ssl_object")) if request.transport else None
    if ident is None:
        raise Unauthenticated("a node certificate is required")
    node_id, role, cluster_id = ident
    if cluster_id != _cluster(_manager(request)).ID:
        raise PermissionDenied("certificate is for another cluster")
    return node_id, role


async def promote(request: web.Request) -> web.Response:
    """A worker whose node was promoted asks to become a manager: a manager certificate, and what it
    needs to join the managers' etcd cluster."""
    listener = request.app[LISTENER]
    m = _manager(request)
    node_id, _role = _caller(request)
    node = m.store.get(Node, node_id)
    try:
        req = msgspec.json.decode(await request.read(), type=PromoteRequest)
        if node is None or node.Spec.Role != "manager":
            raise InvalidArgument("this node has not been promoted")
        if listener.add_manager is None:
            raise Unavailable("this manager cannot add managers")
        c = _cluster(m)
        cert = ca.issue_node_cert(c.TLSInfo.TrustRoot, c.RootCAKey, req.csr, node_id, "manager", c.ID,
                                  ips=(host_of(req.addr),))
        body: dict[str, Any] = {"cert": cert}
        body.update(await listener.add_manager(
            node_id, JoinRequest(token="", csr=req.csr, hostname=node.Description.Hostname, addr=req.addr,
                                 peer_port=req.peer_port)))
    except msgspec.DecodeError as e:
        return web.json_response({"message": f"invalid promote request: {e}"}, status=400)
    except ShoalError as e:
        return refusal(e)
    log.info("node %s became a manager", node_id)
    return web.json_response(body)


async def renew(request: web.Request) -> web.Response:
    """A node trades a new certificate request for a new certificate, before its own expires."""
    m = _manager(request)
    node_id, role = _caller(request)
    c = _cluster(m)
    node = m.store.get(Node, node_id)
    ips: tuple[str, ...] = ()
    if node is not None:
        role = node.Spec.Role  # a promotion or demotion shows in the next certificate
        if node.ManagerStatus is not None and node.ManagerStatus.Addr:
            ips = (host_of(node.ManagerStatus.Addr),)
    try:
        req = msgspec.json.decode(await request.read(), type=RenewRequest)
        cert = ca.issue_node_cert(c.TLSInfo.TrustRoot, c.RootCAKey, req.csr, node_id, role, c.ID, ips=ips)
    except msgspec.DecodeError as e:
        return web.json_response({"message": f"invalid renew request: {e}"}, status=400)
    except ShoalError as e:
        return refusal(e)
    return web.json_response({"cert": cert})


async def task_logs(request: web.Request) -> web.StreamResponse:
    """Another manager reads a task's logs through this one, the leader, which holds the session of
    the task's node (``docker service logs`` on a follower). One JSON object per line."""
    listener = request.app[LISTENER]
    m = _manager(request)
    if _caller(request)[1] != "manager":
        return web.json_response({"message": "only managers read logs through the leader"}, status=403)
    if m.dispatcher is None:
        return web.json_response({"message": "this manager is not the leader"}, status=503,
                                 headers={LEADER_HEADER: listener.leader_addr()})
    q = request.query
    t = m.store.get(Task, request.match_info["id"])
    sess = m.dispatcher.sessions.get(t.NodeID) if t is not None else None
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    if t is not None and sess is not None:
        async for ll in sess.logs(t.ID, since=float(q.get("since", "0")), tail=int(q.get("tail", "-1")),
                                  follow=q.get("follow") == "1", stdout=q.get("stdout", "1") == "1",
                                  stderr=q.get("stderr", "1") == "1"):
            await resp.write(encode(LogRecord.of(ll)) + b"\n")
    await resp.write_eof()
    return resp


async def read_leader_logs(leader: str, ssl_ctx: ssl.SSLContext, task_id: str, *, since: float = 0.0,
                           tail: int = -1, follow: bool = False, stdout: bool = True,
                           stderr: bool = True) -> AsyncIterator[LogLine]:
    """A task's log lines, read through the leader at ``leader`` (``task_logs``) with this manager's
    certificate; nothing when the leader is unknown or does not answer."""
    if not leader:
        return
    params = {"since": str(since), "tail": str(tail), "follow": "1" if follow else "0",
              "stdout": "1" if stdout else "0", "stderr": "1" if stderr else "0"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=5)) as http:
            async with http.get(f"https://{leader}/logs/{task_id}", params=params, ssl=ssl_ctx) as r:
                if r.status != 200:
                    return
                async for raw in r.content:
                    if raw.strip():
                        yield LOG_RECORDS.decode(raw).line()
    except (aiohttp.ClientError, OSError, msgspec.DecodeError) as e:
        log.warning("logs of task %s through the leader %s: %s", task_id, leader, e)


async def session(request: web.Request) -> web.StreamResponse:
    listener = request.app[LISTENER]
    m = _manager(request)
    node_id, role = _caller(request)
    if m.dispatcher is None:  # not the leader (or between terms): send the agent to the leader
        return web.json_response({"message": "this manager is not the leader"}, status=503,
                                 headers={LEADER_HEADER: listener.leader_addr()})
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    sess: Session | None = None
    pump: asyncio.Task[None] | None = None
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            data: AgentMessage = AGENT_MESSAGES.decode(msg.data)
            if isinstance(data, Register):
                if m.dispatcher is None:
                    break
                sess = await m.dispatcher.register(node_id, data.description, data.addr, role,
                                                   kube_network=data.kube_network)
                sess.remote = True
                pump = asyncio.ensure_future(_pump(sess, ws))
                continue
            if sess is None:
                raise InvalidArgument("register first")
            match data:
                case Heartbeat():
                    period = await sess.heartbeat()
                    node = m.store.get(Node, node_id)
                    await ws.send_str(encode(HeartbeatReply(
                        period=period, managers=listener.manager_addrs(),
                        role=node.Spec.Role if node is not None else role)).decode())
                case StatusReport():
                    await sess.update_task_status(data.updates)
                case LogEntry():
                    q = sess.log_streams.get(data.id)
                    if q is not None:
                        q.put_nowait(data.line())
                case LogsEnd():
                    q = sess.log_streams.get(data.id)
                    if q is not None:
                        q.put_nowait(None)
                case StreamData() | StreamEnd():
                    sess.stream_message(data)
    except (ShoalError, msgspec.DecodeError) as e:
        log.warning("session of node %s: %s", node_id, e)
    finally:
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        if sess is not None and m.dispatcher is not None and m.dispatcher.sessions.get(node_id) is sess:
            # The node stays "ready" until it misses its heartbeats, as in Swarm.
            sess.close()
        await ws.close()
    return ws


async def _pump(sess: Session, ws: web.WebSocketResponse) -> None:
    """Send the session's assignments and its other requests (log reads) to the agent."""
    outbox = asyncio.ensure_future(_pump_outbox(sess, ws))
    try:
        while True:
            batch = await sess.assignments()
            if batch is None:
                await ws.close()
                return
            await ws.send_bytes(encode(batch))
    finally:
        outbox.cancel()


async def _pump_outbox(sess: Session, ws: web.WebSocketResponse) -> None:
    while True:
        msg = await sess.outbox.get()
        await ws.send_bytes(encode(msg))


@web.middleware
async def _errors(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except ShoalError as e:
        return refusal(e)


AddManager = Callable[[str, JoinRequest], Awaitable[dict[str, Any]]]


class SwarmListener:
    """Runs the swarm port of a manager. ``manager`` may be swapped (or None while it starts);
    ``add_manager`` makes a joining manager a member of the quorum (None: managers cannot join)."""

    def __init__(self, manager: Manager, cert_pem: str, key_pem: str, add_manager: AddManager | None = None,
                 leader_addr: Callable[[], str] | None = None) -> None:
        self.manager: Manager | None = manager
        self.cert_pem, self.key_pem = cert_pem, key_pem
        self.add_manager = add_manager
        self._leader_addr = leader_addr
        self.runner: web.AppRunner | None = None
        self.port = 0

    def leader_addr(self) -> str:
        return self._leader_addr() if self._leader_addr is not None else ""

    def manager_addrs(self) -> list[str]:
        if self.manager is None:
            return []
        return sorted(n.ManagerStatus.Addr for n in self.manager.store.list(Node)
                      if n.Spec.Role == "manager" and n.ManagerStatus is not None and n.ManagerStatus.Addr)

    async def start(self, listen_addr: str) -> None:
        app = web.Application(middlewares=[_errors])
        app[LISTENER] = self
        app.router.add_get("/ca", get_ca)
        app.router.add_post("/join", join)
        app.router.add_post("/renew", renew)
        app.router.add_post("/promote", promote)
        app.router.add_get("/session", session)
        app.router.add_get("/logs/{id}", task_logs)
        # Agents' sessions are long-lived WebSockets: do not wait a minute for them when stopping.
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self.runner.setup()
        host, _, port = listen_addr.rpartition(":")
        assert self.manager is not None
        ctx: ssl.SSLContext = pki.server_ssl_context(
            _cluster(self.manager).TLSInfo.TrustRoot, self.cert_pem, self.key_pem, require_client_cert=False
        )
        site = web.TCPSite(self.runner, host or "0.0.0.0", int(port), ssl_context=ctx)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else int(port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
