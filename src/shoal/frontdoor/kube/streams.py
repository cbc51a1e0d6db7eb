"""The streaming subresources of pods, as kubectl and the client libraries speak them: ``exec`` and
``attach`` (WebSocket channels ``v5.channel.k8s.io``/``v4.channel.k8s.io``/``channel.k8s.io``/
``base64.channel.k8s.io``, or the SPDY/3.1 fallback with ``X-Stream-Protocol-Version`` negotiation) and
``portforward`` (SPDY/3.1 tunnelled in WebSocket binary messages as ``SPDY/3.1+portforward.k8s.io``, the
SPDY/3.1 upgrade ``portforward.k8s.io``, or the plain WebSocket channels of the Python client).

The door's handler parses the query (``parse_exec_query``), makes an ``ExecSession`` (a process already
running in the container) or a ``Dial`` (a TCP connection to one of the pod's ports), and hands over the
request: ``serve_exec`` and ``serve_portforward`` upgrade the connection and pump bytes until the
process exits or the client hangs up. The behaviour copies the kubelet's streaming server: the same
stream types, the same status objects on the error channel, the same error texts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import WSMsgType, web

from shoal.api.kube import ExecSession
from shoal.frontdoor.kube import spdy

# Stream and channel names (k8s.io/api/core/v1 and apimachinery's remotecommand constants).
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V3 = "v3.channel.k8s.io"
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
PORTFORWARD = "portforward.k8s.io"
SPDY_TUNNEL_PORTFORWARD = "SPDY/3.1+" + PORTFORWARD

EXEC_WEBSOCKET_PROTOCOLS = (V5, V4, V4_BASE64, V1, V1_BASE64)
EXEC_SPDY_PROTOCOLS = (V4, V3, V2, V1)  # v5 adds nothing over SPDY (its CLOSE signal is a WebSocket thing)
PORTFORWARD_WEBSOCKET_PROTOCOLS = (V4, V4_BASE64, V1, V1_BASE64)
PORTFORWARD_SPDY_PROTOCOLS = (PORTFORWARD,)

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE_SIGNAL = 255  # v5: b"\xff<channel>" closes a channel

STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's default for the client to open every stream it asked for
CLOSE_LINGER = 5.0  # how long a finished SPDY connection waits for the client to hang up first
READ_CHUNK = 32 * 1024


# What an exec or attach runs: ``shoal.api.kube.ExecSession`` (the core hands one out, the door speaks for it).


Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
"""Opens a TCP connection to the pod's port; raises OSError (its text is shown to the user) when it
cannot."""


class ExecQueryError(ValueError):
    """The exec/attach query cannot be served (the apiserver answers 400 BadRequest with this text)."""


@dataclass(frozen=True)
class ExecOptions:
    command: list[str]
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _flag(value: str | None) -> bool:
    """A boolean query parameter, as Go's strconv.ParseBool reads it (anything else is false)."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


def parse_exec_query(request: web.Request) -> ExecOptions:
    """The exec/attach parameters: ``command`` (repeated), ``container``, ``stdin``, ``stdout``,
    ``stderr``, ``tty``. With a TTY there is no separate stderr (the kubelet drops it)."""
    q = request.query
    tty = _flag(q.get("tty"))
    opts = ExecOptions(command=list(q.getall("command", [])), container=q.get("container", ""),
                       stdin=_flag(q.get("stdin")), stdout=_flag(q.get("stdout")),
                       stderr=_flag(q.get("stderr")) and not tty, tty=tty)
    if not (opts.stdin or opts.stdout or opts.stderr):
        raise ExecQueryError("you must specify at least 1 of stdin, stdout, stderr")
    return opts


# ------------------------------------------------------------------------------------- status objects


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_code_status(command: list[str], code: int) -> dict[str, Any]:
    """What the kubelet reports for a command that exited non-zero (the inner text is the container
    runtime's, e.g. containerd's ``error executing command %v, exit code %d``)."""
    inner = f"error executing command [{' '.join(command)}], exit code {code}"
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: {inner}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def internal_error_status(text: str) -> dict[str, Any]:
    """apierrors.NewInternalError."""
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {text}",
            "reason": "InternalError", "details": {"causes": [{"message": text}]}, "code": 500}


def _status_bytes(status: dict[str, Any], protocol: str) -> bytes:
    """v4 and v5 carry the Status as JSON; older protocols only the message, and nothing on success."""
    if protocol in (V5, V4, V4_BASE64):
        return _json(status)
    return b"" if status["status"] == "Success" else str(status["message"]).encode()


def _status_response(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return web.json_response(body, status=code)


# ---------------------------------------------------------------------------------- upgrade plumbing


def _header_tokens(request: web.Request, name: str) -> list[str]:
    return [t.strip() for v in request.headers.getall(name, []) for t in v.split(",") if t.strip()]


def is_websocket(request: web.Request) -> bool:
    return any(t.lower() == "websocket" for t in _header_tokens(request, "Upgrade"))


def is_spdy(request: web.Request) -> bool:
    return any(t.lower().startswith("spdy/3.1") for t in _header_tokens(request, "Upgrade"))


class _RawReader:
    """Plugged into aiohttp's connection in place of a WebSocket reader once an HTTP request is upgraded
    to SPDY: the bytes after the request arrive here (aiohttp calls ``feed_data``/``feed_eof``)."""

    HIGH_WATER = 1024 * 1024

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self._transport = transport
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._event = asyncio.Event()
        self._paused = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self._chunks.append(bytes(data))
            self._size += len(data)
            self._event.set()
            if self._size > self.HIGH_WATER and isinstance(self._transport, asyncio.ReadTransport):
                self._transport.pause_reading()
                self._paused = True
        return False, b""

    def feed_eof(self) -> None:
        self._eof = True
        self._event.set()

    async def read(self) -> bytes:
        while not self._chunks:
            if self._eof:
                return b""
            self._event.clear()
            await self._event.wait()
        data = self._chunks.popleft()
        self._size -= len(data)
        if self._paused and self._size < self.HIGH_WATER // 2 and isinstance(self._transport, asyncio.ReadTransport):
            self._paused = False
            with contextlib.suppress(RuntimeError):
                self._transport.resume_reading()
        return data


class _UpgradedChannel:
    """An HTTP connection answered with 101 Switching Protocols and handed over to SPDY."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self._response = response
        self._reader = _RawReader(request.transport)
        # aiohttp only switches protocols by itself for websocket/tcp upgrades; take the connection's
        # bytes before the 101 goes out (the client sends nothing until it has read it).
        request.protocol.set_parser(cast(Any, self._reader))

    async def read(self) -> bytes:
        return await self._reader.read()

    async def write(self, data: bytes) -> None:
        await self._response.write(data)

    async def close(self) -> None:
        self._response.force_close()
        transport = self._request.transport
        if transport is not None:
            transport.close()


class _WebSocketChannel:
    """SPDY carried in WebSocket binary messages (``SPDY/3.1+portforward.k8s.io``): the messages are a
    byte stream, their boundaries mean nothing."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._lock = asyncio.Lock()

    async def read(self) -> bytes:
        while True:
            msg = await self._ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return bytes(msg.data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return b""

    async def write(self, data: bytes) -> None:
        async with self._lock:
            await self._ws.send_bytes(data)

    async def close(self) -> None:
        await self._ws.close()


async def _spdy_upgrade(request: web.Request, server_protocols: Iterable[str]
                        ) -> tuple[web.StreamResponse, _UpgradedChannel | None, str]:
    """The SPDY handshake (apimachinery's httpstream.Handshake plus the SPDY response upgrader): the
    first of the client's ``X-Stream-Protocol-Version`` values the server knows, or an error reply."""
    offered = _header_tokens(request, "X-Stream-Protocol-Version")
    server = list(server_protocols)
    if not offered:
        return web.Response(status=400, text="unable to upgrade: X-Stream-Protocol-Version is required\n"), None, ""
    chosen = next((p for p in offered if p in server), "")
    if not chosen:
        text = (f"unable to upgrade: unable to negotiate protocol: client supports [{' '.join(offered)}], "
                f"server accepts [{' '.join(server)}]")
        refused = web.Response(status=403, text=text + "\n")
        for p in server:
            refused.headers.add("X-Accepted-Stream-Protocol-Versions", p)
        return refused, None, ""
    resp = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                                   "X-Stream-Protocol-Version": chosen})
    channel = _UpgradedChannel(request, resp)
    await resp.prepare(request)
    return resp, channel, chosen


def _upgrade_required() -> web.Response:
    return _status_response(400, "BadRequest", "Upgrade request required")


class _ResizeDecoder:
    """The resize stream: a sequence of JSON TerminalSize objects ``{"Width":..,"Height":..}``."""

    def __init__(self) -> None:
        self._buf = ""
        self._decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        self._buf += data.decode("utf-8", "replace")
        sizes = []
        while True:
            self._buf = self._buf.lstrip()
            if not self._buf:
                break
            try:
                obj, end = self._decoder.raw_decode(self._buf)
            except json.JSONDecodeError:
                break  # incomplete: wait for more
            self._buf = self._buf[end:]
            if isinstance(obj, dict):
                sizes.append((int(obj.get("Width", 0) or 0), int(obj.get("Height", 0) or 0)))
        return sizes


# ------------------------------------------------------------------------------------------------ exec


async def serve_exec(request: web.Request, session: ExecSession, *, options: ExecOptions | None = None,
                     attach: bool | None = None) -> web.StreamResponse:
    """Serve ``exec`` or ``attach`` (told apart by the path, or ``attach``) for a running ``session``:
    WebSocket channels when the client asks for a WebSocket, else the SPDY/3.1 upgrade. A request that
    cannot be served (a bad query, no upgrade, no protocol in common, a failed handshake) gets its error
    reply, and an exec session is killed (``wants_upgrade`` lets a handler check before it starts one)."""
    is_attach = request.path.rstrip("/").endswith("/attach") if attach is None else attach
    try:
        opts = options or parse_exec_query(request)
    except ExecQueryError as e:
        await _give_up(session, is_attach)
        return _status_response(400, "BadRequest", str(e))
    if is_websocket(request):
        return await _exec_websocket(request, session, opts, is_attach)
    if is_spdy(request):
        return await _exec_spdy(request, session, opts, is_attach)
    await _give_up(session, is_attach)
    return _upgrade_required()


def wants_upgrade(request: web.Request) -> bool:
    """The request asks for one of the streaming upgrades (WebSocket or SPDY/3.1)."""
    return is_websocket(request) or is_spdy(request)


async def _give_up(session: ExecSession, attach: bool) -> None:
    """The client is not (or no longer) there: an exec'd process has no one to talk to; an attached
    container runs on."""
    if not attach:
        with contextlib.suppress(Exception):
            await session.kill()


class _ChannelSocket:
    """A WebSocket speaking the channel protocols: binary messages prefixed by the channel byte, or (the
    base64 variants) text messages prefixed by the channel as an ASCII digit with base64 data."""

    def __init__(self, ws: web.WebSocketResponse, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.base64 = "base64" in protocol
        self._lock = asyncio.Lock()

    async def send(self, channel: int, data: bytes) -> None:
        async with self._lock:
            if self.base64:
                await self.ws.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
            else:
                await self.ws.send_bytes(bytes((channel,)) + data)

    def parse(self, data: bytes | str) -> tuple[int, bytes] | None:
        """A client message as (channel, data). The kubelet reads every message as bytes, so binary
        protocols accept text messages too (the Python client sends str stdin that way)."""
        if isinstance(data, str):
            if self.base64:
                if not data:
                    return None
                try:
                    return ord(data[0]) - ord("0"), base64.b64decode(data[1:])
                except ValueError:
                    return None
            data = data.encode("utf-8")
        if not data:
            return None
        return data[0], bytes(data[1:])


class _Input:
    """What the client sends into a session: stdin and terminal sizes. A failure there (the process has
    gone) ends stdin, never the connection: the exit status must still reach the client."""

    def __init__(self, session: ExecSession) -> None:
        self._session = session
        self.closed = False

    async def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        try:
            await self._session.write_stdin(data)
        except Exception:
            await self.close()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await self._session.close_stdin()

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(Exception):
            await self._session.resize(width, height)


async def _pump_out(it: AsyncIterator[bytes], send: Callable[[bytes], Awaitable[None]] | None) -> None:
    """Copy a session's output to the client; keep draining (so the process never blocks on a full pipe)
    when the client did not ask for it or has gone."""
    async for chunk in it:
        if send is None or not chunk:
            continue
        try:
            await send(chunk)
        except (ConnectionError, RuntimeError, OSError):
            send = None


def _final_status(command: list[str], attach: bool, code: int | BaseException) -> dict[str, Any]:
    if isinstance(code, BaseException):
        verb = "attaching to container" if attach else "executing command in container"
        return internal_error_status(f"error {verb}: {code}")
    if code == 0 or attach:
        return success_status()
    return exit_code_status(command, code)


async def _run_exec(session: ExecSession, opts: ExecOptions, attach: bool,
                    send_stdout: Callable[[bytes], Awaitable[None]] | None,
                    send_stderr: Callable[[bytes], Awaitable[None]] | None,
                    client_gone: asyncio.Event) -> dict[str, Any] | None:
    """Pump the outputs until EOF and wait for the exit; None when the client left first."""
    outputs: asyncio.Future[Any] = asyncio.gather(
        _pump_out(session.stdout(), send_stdout if opts.stdout else None),
        _pump_out(session.stderr(), send_stderr if opts.stderr else None))
    gone: asyncio.Future[Any] = asyncio.create_task(client_gone.wait())


    async def abandon() -> None:
        await _give_up(session, attach)
        outputs.cancel()
        with contextlib.suppress(BaseException):
            await outputs

    try:
        try:
            await asyncio.wait([outputs, gone], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # aiohttp cancels the handler when the client disconnects
            await abandon()
            raise
        if not outputs.done():
            await abandon()
            return None
        result: int | BaseException
        try:
            outputs.result()
            result = await session.wait()
        except Exception as e:
            result = e
        return _final_status(opts.command, attach, result)
    finally:
        gone.cancel()


async def _exec_websocket(request: web.Request, session: ExecSession, opts: ExecOptions,
                          attach: bool) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=EXEC_WEBSOCKET_PROTOCOLS, max_msg_size=16 * 1024 * 1024)
    try:
        await ws.prepare(request)
    except BaseException:
        await _give_up(session, attach)
        raise
    protocol = ws.ws_protocol or V1
    sock = _ChannelSocket(ws, protocol)
    stdin = _Input(session)
    if not opts.stdin:
        await stdin.close()
    # The kubelet's hello: an empty message on the lowest channel it writes.
    with contextlib.suppress(ConnectionError, RuntimeError):
        await sock.send(STDOUT if opts.stdout else STDERR if opts.stderr else ERROR, b"")

    client_gone = asyncio.Event()

    async def read_client() -> None:
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    continue
                parsed = sock.parse(msg.data)
                if parsed is None:
                    continue
                channel, data = parsed
                if channel == CLOSE_SIGNAL and protocol == V5:
                    if data[:1] == bytes((STDIN,)):
                        await stdin.close()
                elif channel == STDIN:
                    await stdin.write(data)
                elif channel == RESIZE:
                    for width, height in _ResizeDecoder().feed(data):
                        await stdin.resize(width, height)
        except (ConnectionError, RuntimeError, OSError):
            pass
        finally:
            client_gone.set()

    reader = asyncio.create_task(read_client())
    try:
        status = await _run_exec(session, opts, attach,
                                 lambda b: sock.send(STDOUT, b), lambda b: sock.send(STDERR, b), client_gone)
        if status is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                payload = _status_bytes(status, protocol)
                if payload:
                    await sock.send(ERROR, payload)
            await ws.close()
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        await stdin.close()
        if not ws.closed:
            await ws.close()
    return ws


async def _collect_streams(conn: spdy.SpdySession, wanted: set[str], timeout: float
                           ) -> dict[str, spdy.SpdyStream] | None:
    """Wait until the client has opened one stream of each wanted type (others are ignored)."""
    got: dict[str, spdy.SpdyStream] = {}
    try:
        async with asyncio.timeout(timeout):
            while not wanted <= got.keys():
                stream = await conn.accept()
                if stream is None:
                    return None
                kind = stream.header("streamtype")
                if kind in wanted and kind not in got:
                    got[kind] = stream
    except TimeoutError:
        return None
    return got


async def _exec_spdy(request: web.Request, session: ExecSession, opts: ExecOptions,
                     attach: bool) -> web.StreamResponse:
    resp, channel, protocol = await _spdy_upgrade(request, EXEC_SPDY_PROTOCOLS)
    if channel is None:
        await _give_up(session, attach)
        return resp
    conn = spdy.SpdySession(channel)
    runner = asyncio.create_task(conn.run())
    wanted = {"error"}
    for name, on in (("stdin", opts.stdin), ("stdout", opts.stdout), ("stderr", opts.stderr),
                     ("resize", opts.tty and protocol != V2 and protocol != V1)):
        if on:
            wanted.add(name)
    stdin = _Input(session)
    tasks: list[asyncio.Task[None]] = []
    try:
        streams = await _collect_streams(conn, wanted, STREAM_CREATION_TIMEOUT)
        if streams is None:
            await _give_up(session, attach)
            return resp
        if not opts.stdin:
            await stdin.close()

        async def copy_stdin(stream: spdy.SpdyStream) -> None:
            while data := await stream.read():
                await stdin.write(data)
            await stdin.close()

        async def read_resizes(stream: spdy.SpdyStream) -> None:
            decoder = _ResizeDecoder()
            while data := await stream.read():
                for width, height in decoder.feed(data):
                    await stdin.resize(width, height)

        if "stdin" in streams:
            tasks.append(asyncio.create_task(copy_stdin(streams["stdin"])))
        if "resize" in streams:
            tasks.append(asyncio.create_task(read_resizes(streams["resize"])))

        client_gone = asyncio.Event()
        runner.add_done_callback(lambda _: client_gone.set())
        stdout, stderr = streams.get("stdout"), streams.get("stderr")
        status = await _run_exec(session, opts, attach, stdout.write if stdout else None,
                                 stderr.write if stderr else None, client_gone)
        if status is not None:
            for name in ("stdout", "stderr"):
                if name in streams:
                    await streams[name].close()
            payload = _status_bytes(status, protocol)
            with contextlib.suppress(ConnectionError):
                if payload:
                    await streams["error"].write(payload)
            for stream in streams.values():  # the error stream last, then the ones only the client wrote
                await stream.close()
        return resp
    finally:
        for t in tasks:
            t.cancel()
        await stdin.close()
        await conn.close(CLOSE_LINGER)
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner
        resp.force_close()


# ----------------------------------------------------------------------------------------- portforward


async def serve_portforward(request: web.Request, dial: Dial, *, pod_uid: str = "") -> web.StreamResponse:
    """Serve ``portforward``: SPDY in WebSocket (kubectl ≥1.31), the SPDY upgrade (older kubectl and the
    fallback), or the WebSocket channels with ``?ports=`` (the Python client)."""
    pod = _pod_full_name(request)
    if is_websocket(request):
        if SPDY_TUNNEL_PORTFORWARD in _header_tokens(request, "Sec-WebSocket-Protocol"):
            ws = web.WebSocketResponse(protocols=(SPDY_TUNNEL_PORTFORWARD,), max_msg_size=16 * 1024 * 1024)
            await ws.prepare(request)
            conn = spdy.SpdySession(_WebSocketChannel(ws))
            try:
                await _portforward_spdy(conn, dial, pod, pod_uid)
            finally:
                if not ws.closed:
                    await ws.close()
            return ws
        return await _portforward_websocket(request, dial, pod, pod_uid)
    if is_spdy(request):
        resp, channel, _ = await _spdy_upgrade(request, PORTFORWARD_SPDY_PROTOCOLS)
        if channel is None:
            return resp
        try:
            await _portforward_spdy(spdy.SpdySession(channel), dial, pod, pod_uid)
        finally:
            resp.force_close()
        return resp
    return _upgrade_required()


def _pod_full_name(request: web.Request) -> str:
    """The kubelet names a pod ``<name>_<namespace>`` in its messages."""
    name = request.match_info.get("name", "")
    ns = request.match_info.get("ns") or request.match_info.get("namespace") or ""
    return f"{name}_{ns}" if ns else name


def _forward_error(port: int, pod: str, uid: str, err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return f"error forwarding port {port} to pod {pod}, uid {uid}: {text}"


async def _portforward_spdy(conn: spdy.SpdySession, dial: Dial, pod: str, uid: str) -> None:
    """Each forwarded connection is a pair of streams (``streamType`` error and data) with the same
    ``requestID`` and ``port``; the data stream is joined to ``dial(port)``."""
    runner = asyncio.create_task(conn.run())
    pairs: dict[str, dict[str, spdy.SpdyStream]] = {}
    timers: dict[str, asyncio.Task[None]] = {}
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    async def expire(request_id: str) -> None:
        await asyncio.sleep(STREAM_CREATION_TIMEOUT)
        timers.pop(request_id, None)
        pair = pairs.pop(request_id, None)
        if pair is not None:
            if "error" in pair:
                with contextlib.suppress(ConnectionError):
                    await pair["error"].write(f"(request={request_id}) timed out waiting for streams".encode())
            for s in pair.values():
                await s.close()

    try:
        while (stream := await conn.accept()) is not None:
            port_text, kind = stream.header("port"), stream.header("streamtype")
            if not port_text.isdigit() or not 0 < int(port_text) < 65536 or kind not in ("error", "data"):
                await stream.reset(spdy.REFUSED_STREAM)
                continue
            request_id = stream.header("requestid")
            if not request_id:  # very old clients: pair consecutive stream ids
                request_id = str(stream.id if kind == "error" else stream.id - 2)
            pair = pairs.get(request_id)
            if pair is None:
                pair = pairs[request_id] = {}
                timers[request_id] = spawn(expire(request_id))
            if kind in pair:
                other = pair.get("error")
                if other is not None:
                    with contextlib.suppress(ConnectionError):
                        msg = f"error processing stream for request {request_id}: {kind} stream already assigned"
                        await other.write(msg.encode())
                await stream.reset(spdy.PROTOCOL_ERROR)
                continue
            pair[kind] = stream
            if len(pair) == 2:
                del pairs[request_id]
                timers.pop(request_id).cancel()
                spawn(_forward(pair["data"], pair["error"], int(port_text), dial, pod, uid))
    finally:
        for task in list(tasks):
            task.cancel()
        for task in list(tasks):
            with contextlib.suppress(BaseException):
                await task
        await conn.close(0 if conn.ended.is_set() else CLOSE_LINGER)
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner


async def _forward(data: spdy.SpdyStream, error: spdy.SpdyStream, port: int, dial: Dial, pod: str,
                   uid: str) -> None:
    writer: asyncio.StreamWriter | None = None
    try:
        try:
            reader, writer = await dial(port)
        except Exception as e:
            with contextlib.suppress(ConnectionError):
                await error.write(_forward_error(port, pod, uid, e).encode())
            return

        async def upstream() -> None:  # client -> pod; a FIN half-closes the pod connection
            assert writer is not None
            try:
                while chunk := await data.read():
                    writer.write(chunk)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError):
                pass

        async def downstream() -> None:  # pod -> client; the pod's EOF is the data stream's FIN
            try:
                while chunk := await reader.read(READ_CHUNK):
                    await data.write(chunk)
            except (ConnectionError, OSError):
                pass
            await data.close()

        up = asyncio.create_task(upstream())
        down = asyncio.create_task(downstream())
        try:
            await up
            if data.was_reset:
                down.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await down
        finally:
            up.cancel()
            down.cancel()
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        await data.close()
        await error.close()


def _parse_ports(request: web.Request) -> list[int]:
    ports = []
    for value in request.query.getall("ports", []) + request.query.getall("port", []):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or not 0 < int(part) < 65536:
                raise ValueError(f"unable to parse {part!r} as a port")
            ports.append(int(part))
    if not ports:
        raise ValueError('query parameter "port" is required')
    return ports


async def _portforward_websocket(request: web.Request, dial: Dial, pod: str, uid: str) -> web.StreamResponse:
    """The channel protocol: for the i-th port, channel 2i carries data and 2i+1 errors; the server opens
    each channel with the port number, two bytes little-endian."""
    try:
        ports = _parse_ports(request)
    except ValueError as e:
        return _status_response(400, "BadRequest", str(e))
    ws = web.WebSocketResponse(protocols=PORTFORWARD_WEBSOCKET_PROTOCOLS, max_msg_size=16 * 1024 * 1024)
    await ws.prepare(request)
    sock = _ChannelSocket(ws, ws.ws_protocol or V1)
    loop = asyncio.get_running_loop()
    writers: list[asyncio.Future[asyncio.StreamWriter | None]] = [loop.create_future() for _ in ports]

    async def forward(i: int, port: int) -> None:
        try:
            reader, writer = await dial(port)
        except Exception as e:
            writers[i].set_result(None)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await sock.send(2 * i + 1, _forward_error(port, pod, uid, e).encode())
            return
        writers[i].set_result(writer)
        try:
            while chunk := await reader.read(READ_CHUNK):
                await sock.send(2 * i, chunk)
        except (ConnectionError, RuntimeError, OSError):
            pass

    async def read_client() -> None:
        async for msg in ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            parsed = sock.parse(msg.data)
            if parsed is None:
                continue
            channel, payload = parsed
            if channel % 2 or channel // 2 >= len(ports) or not payload:
                continue
            writer = await writers[channel // 2]
            if writer is not None and not writer.is_closing():
                try:
                    writer.write(payload)
                    await writer.drain()
                except (ConnectionError, OSError):
                    pass

    try:
        for i, port in enumerate(ports):
            prefix = port.to_bytes(2, "little")
            await sock.send(2 * i, prefix)
            await sock.send(2 * i + 1, prefix)
    except (ConnectionError, RuntimeError):
        return ws
    forwards: asyncio.Future[Any] = asyncio.gather(*(forward(i, p) for i, p in enumerate(ports)))
    reader: asyncio.Future[Any] = asyncio.create_task(read_client())
    try:
        await asyncio.wait([forwards, reader], return_when=asyncio.FIRST_COMPLETED)
    finally:
        reader.cancel()
        forwards.cancel()
        for f in (reader, forwards):
            with contextlib.suppress(BaseException):
                await f
        for fut in writers:
            w = fut.result() if fut.done() and not fut.cancelled() else None
            if w is not None:
                w.close()
        if not ws.closed:
            await ws.close()
    return ws
