"""SPDY/3.1 as kubectl speaks it: the frames, the zlib-compressed header blocks, and a server session
that multiplexes streams over one byte connection (an upgraded HTTP connection, or WebSocket binary
messages for ``SPDY/3.1+portforward.k8s.io``).

The peer is Go's ``moby/spdystream`` (inside client-go), so the session behaves as it expects:

- every stream the client opens with SYN_STREAM is answered at once with an empty SYN_REPLY (the
  client waits for it before it writes);
- a stream is half-closed with an empty DATA frame carrying FLAG_FIN, and torn down with RST_STREAM;
- PINGs with the peer's parity are echoed, GOAWAY stops new streams;
- flow control: spdystream neither sends WINDOW_UPDATE nor honours it (it drops the frame), so this
  session never waits for send window (a peer that never grants more would stall every transfer after
  64 KiB) and by default sends no WINDOW_UPDATE either; ``send_window_updates=True`` grants the peer
  window as data is consumed, for peers that do count. Received SETTINGS and WINDOW_UPDATE frames are
  parsed and recorded only.

Header blocks are compressed with one zlib stream per direction per connection, primed with the
SPDY/3 dictionary (spec section 2.6.10.1) and flushed with Z_SYNC_FLUSH after each block.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

VERSION = 3

# Control frame types (SPDY/3 section 2.6).
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

# Flags.
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02  # SYN_STREAM only
FLAG_SETTINGS_CLEAR_SETTINGS = 0x01  # SETTINGS only

# RST_STREAM status codes (section 2.6.3).
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
UNSUPPORTED_VERSION = 4
CANCEL = 5
INTERNAL_ERROR = 6
FLOW_CONTROL_ERROR = 7
STREAM_IN_USE = 8
STREAM_ALREADY_CLOSED = 9

# GOAWAY status codes (section 2.6.6).
GOAWAY_OK = 0
GOAWAY_PROTOCOL_ERROR = 1
GOAWAY_INTERNAL_ERROR = 2

# SETTINGS ids (section 2.6.4).
SETTINGS_INITIAL_WINDOW_SIZE = 7

DEFAULT_WINDOW = 64 * 1024  # the initial stream (and SPDY/3.1 session) window
MAX_FRAME_LENGTH = 0xFFFFFF  # 24-bit length field
MAX_DATA_CHUNK = 32 * 1024  # how much one DATA frame this session sends carries at most

# The SPDY/3 header compression dictionary (section 2.6.10.1): 65 words, each with a 4-byte big-endian
# length, then a run of status codes, reason phrases, dates and common values.
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location",
    "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
    "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
    "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
HEADER_DICTIONARY = (
    b"".join(struct.pack(">I", len(w)) + w.encode("ascii") for w in _DICTIONARY_WORDS)
    + _DICTIONARY_TAIL.encode("ascii")
)

Headers = dict[str, list[str]]
"""A header block: lower-case names to their values (SPDY joins several values with NUL)."""


class SpdyProtocolError(Exception):
    """The peer sent something SPDY/3.1 does not allow; the connection cannot go on."""


# ---------------------------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0
    associated_to: int = 0
    priority: int = 0
    slot: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)

    @property
    def unidirectional(self) -> bool:
        return bool(self.flags & FLAG_UNIDIRECTIONAL)


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...] = ()
    """(flags, id, value) triples."""
    flags: int = 0


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass(frozen=True)
class HeadersFrame:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


Frame = DataFrame | SynStream | SynReply | RstStream | Settings | Ping | GoAway | HeadersFrame | WindowUpdate


# --------------------------------------------------------------------------------------- header blocks


def encode_header_block(headers: Mapping[str, Sequence[str]]) -> bytes:
    """The uncompressed name/value block: a 32-bit count, then each lower-cased name and its values
    joined by NUL, each with a 32-bit length."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n = name.lower().encode("utf-8")
        v = "\x00".join(values).encode("utf-8")
        out.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def decode_header_block(raw: bytes) -> Headers:
    """Parse an uncompressed name/value block (names are lower-cased, as spdystream reads them)."""
    try:
        (count,) = struct.unpack_from(">I", raw, 0)
        pos = 4
        headers: Headers = {}
        for _ in range(count):
            (nlen,) = struct.unpack_from(">I", raw, pos)
            pos += 4
            name = raw[pos:pos + nlen]
            if len(name) != nlen or not nlen:
                raise SpdyProtocolError("header name truncated or empty")
            pos += nlen
            (vlen,) = struct.unpack_from(">I", raw, pos)
            pos += 4
            value = raw[pos:pos + vlen]
            if len(value) != vlen:
                raise SpdyProtocolError("header value truncated")
            pos += vlen
            key = name.decode("utf-8", "replace").lower()
            if key in headers:
                raise SpdyProtocolError(f"duplicate header {key!r}")
            headers[key] = value.decode("utf-8", "replace").split("\x00")
    except struct.error as e:
        raise SpdyProtocolError(f"header block truncated: {e}") from None
    if pos != len(raw):
        raise SpdyProtocolError("trailing bytes after the header block")
    return headers


class HeaderCompressor:
    """One direction's zlib stream: every block is flushed with Z_SYNC_FLUSH so the peer can decode it
    at once, and the dictionary stays primed for the whole connection."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                   zdict=HEADER_DICTIONARY)

    def compress(self, headers: Mapping[str, Sequence[str]]) -> bytes:
        return self._z.compress(encode_header_block(headers)) + self._z.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    """The other direction's zlib stream (the peer's compressor, one per connection)."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(15, zdict=HEADER_DICTIONARY)

    def decompress(self, block: bytes) -> Headers:
        try:
            raw = self._z.decompress(block)
        except zlib.error as e:
            raise SpdyProtocolError(f"header block does not decompress: {e}") from None
        return decode_header_block(raw)


# ------------------------------------------------------------------------------------ encode / decode


def _control(frame_type: int, flags: int, body: bytes) -> bytes:
    if len(body) > MAX_FRAME_LENGTH:
        raise ValueError("control frame too long")
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(body)) + body


class FrameEncoder:
    """Serializes frames; owns this side's header compressor, so frames must be written in the order
    they are encoded."""

    def __init__(self) -> None:
        self._headers = HeaderCompressor()

    def encode(self, frame: Frame) -> bytes:
        match frame:
            case DataFrame(stream_id=sid, data=data, flags=flags):
                if len(data) > MAX_FRAME_LENGTH:
                    raise ValueError("data frame too long")
                return struct.pack(">II", sid & 0x7FFFFFFF, (flags << 24) | len(data)) + data
            case SynStream():
                body = struct.pack(">IIBB", frame.stream_id & 0x7FFFFFFF, frame.associated_to & 0x7FFFFFFF,
                                   (frame.priority & 7) << 5, frame.slot & 0xFF)
                return _control(SYN_STREAM, frame.flags, body + self._headers.compress(frame.headers))
            case SynReply(stream_id=sid, headers=headers, flags=flags):
                body = struct.pack(">I", sid & 0x7FFFFFFF) + self._headers.compress(headers)
                return _control(SYN_REPLY, flags, body)
            case RstStream(stream_id=sid, status=status):
                return _control(RST_STREAM, 0, struct.pack(">II", sid & 0x7FFFFFFF, status))
            case Settings(entries=entries, flags=flags):
                body = struct.pack(">I", len(entries)) + b"".join(
                    struct.pack(">II", ((f & 0xFF) << 24) | (i & 0xFFFFFF), v) for f, i, v in entries)
                return _control(SETTINGS, flags, body)
            case Ping(ping_id=pid):
                return _control(PING, 0, struct.pack(">I", pid))
            case GoAway(last_good_stream_id=last, status=status):
                return _control(GOAWAY, 0, struct.pack(">II", last & 0x7FFFFFFF, status))
            case HeadersFrame(stream_id=sid, headers=headers, flags=flags):
                body = struct.pack(">I", sid & 0x7FFFFFFF) + self._headers.compress(headers)
                return _control(HEADERS, flags, body)
            case WindowUpdate(stream_id=sid, delta=delta):
                return _control(WINDOW_UPDATE, 0, struct.pack(">II", sid & 0x7FFFFFFF, delta & 0x7FFFFFFF))
        raise TypeError(f"not a SPDY frame: {frame!r}")


class FrameDecoder:
    """Parses a byte stream into frames: ``feed`` the bytes as they come, get the complete frames back.
    Control frames of unknown types are skipped, as the spec asks."""

    def __init__(self, max_frame_length: int = MAX_FRAME_LENGTH) -> None:
        self._buf = bytearray()
        self._headers = HeaderDecompressor()
        self._max = max_frame_length

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, second = struct.unpack_from(">II", self._buf, 0)
            length = second & 0xFFFFFF
            if length > self._max:
                raise SpdyProtocolError(f"frame of {length} bytes is too long")
            if len(self._buf) < 8 + length:
                break
            flags = second >> 24
            body = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            if first & 0x80000000:
                version = (first >> 16) & 0x7FFF
                if version != VERSION:
                    raise SpdyProtocolError(f"unsupported SPDY version {version}")
                frame = self._control(first & 0xFFFF, flags, body)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(DataFrame(first & 0x7FFFFFFF, body, flags))
        return frames

    def _control(self, frame_type: int, flags: int, body: bytes) -> Frame | None:
        try:
            match frame_type:
                case 1:  # SYN_STREAM
                    sid, assoc, prio, slot = struct.unpack_from(">IIBB", body, 0)
                    return SynStream(sid & 0x7FFFFFFF, self._headers.decompress(body[10:]), flags,
                                     assoc & 0x7FFFFFFF, prio >> 5, slot)
                case 2:  # SYN_REPLY
                    (sid,) = struct.unpack_from(">I", body, 0)
                    return SynReply(sid & 0x7FFFFFFF, self._headers.decompress(body[4:]), flags)
                case 3:  # RST_STREAM
                    sid, status = struct.unpack_from(">II", body, 0)
                    return RstStream(sid & 0x7FFFFFFF, status)
                case 4:  # SETTINGS
                    (n,) = struct.unpack_from(">I", body, 0)
                    if len(body) != 4 + 8 * n:
                        raise SpdyProtocolError("SETTINGS length does not match its entries")
                    entries = []
                    for k in range(n):
                        fid, value = struct.unpack_from(">II", body, 4 + 8 * k)
                        entries.append((fid >> 24, fid & 0xFFFFFF, value))
                    return Settings(tuple(entries), flags)
                case 6:  # PING
                    (pid,) = struct.unpack_from(">I", body, 0)
                    return Ping(pid)
                case 7:  # GOAWAY
                    last, status = struct.unpack_from(">II", body, 0)
                    return GoAway(last & 0x7FFFFFFF, status)
                case 8:  # HEADERS
                    (sid,) = struct.unpack_from(">I", body, 0)
                    return HeadersFrame(sid & 0x7FFFFFFF, self._headers.decompress(body[4:]), flags)
                case 9:  # WINDOW_UPDATE
                    sid, delta = struct.unpack_from(">II", body, 0)
                    return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error:
            raise SpdyProtocolError(f"control frame {frame_type} too short") from None
        return None


# ------------------------------------------------------------------------------------------ sessions


class ByteChannel(Protocol):
    """The connection a session runs over."""

    async def read(self) -> bytes:
        """The next bytes; ``b""`` at end of stream."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class SpdyStream:
    """One stream the peer opened: read what it sends until its FIN, write back, half-close with
    ``close`` (FLAG_FIN) or abort with ``reset`` (RST_STREAM)."""

    def __init__(self, session: SpdySession, stream_id: int, headers: Headers, *, remote_closed: bool,
                 local_closed: bool) -> None:
        self.id = stream_id
        self.headers = headers
        self._session = session
        self._chunks: deque[bytes] = deque()
        self._event = asyncio.Event()
        self.remote_closed = remote_closed
        self.local_closed = local_closed
        self.was_reset = False
        self._unacked = 0
        if remote_closed:
            self._event.set()

    def header(self, name: str) -> str:
        """The first value of a header, ``""`` when absent."""
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    async def read(self) -> bytes:
        """The next data the peer sent; ``b""`` once it has half-closed (or reset) the stream."""
        while not self._chunks:
            if self.remote_closed:
                return b""
            self._event.clear()
            await self._event.wait()
        data = self._chunks.popleft()
        await self._session._consumed(self, len(data))
        return data

    async def write(self, data: bytes) -> None:
        if self.was_reset or self.local_closed:
            raise ConnectionResetError(f"stream {self.id} is closed for writing")
        view = memoryview(data)
        for start in range(0, len(view), MAX_DATA_CHUNK):
            await self._session.send(DataFrame(self.id, bytes(view[start:start + MAX_DATA_CHUNK])))

    async def close(self) -> None:
        """Half-close: tell the peer this side sends nothing more."""
        if self.local_closed or self.was_reset:
            return
        self.local_closed = True
        with contextlib.suppress(ConnectionError):
            await self._session.send(DataFrame(self.id, b"", FLAG_FIN))
        self._session._maybe_forget(self)

    async def reset(self, status: int = CANCEL) -> None:
        """Abort both directions."""
        if self.was_reset:
            return
        self._mark_reset()
        with contextlib.suppress(ConnectionError):
            await self._session.send(RstStream(self.id, status))

    # Called by the session.
    def _deliver(self, data: bytes) -> None:
        if data and not self.remote_closed:
            self._chunks.append(data)
            self._event.set()

    def _finish_remote(self) -> None:
        self.remote_closed = True
        self._event.set()

    def _mark_reset(self) -> None:
        self.was_reset = True
        self.local_closed = True
        dropped = sum(len(c) for c in self._chunks)
        self._chunks.clear()
        self._finish_remote()
        self._session._forget(self, dropped)


class SpdySession:
    """The server end of a SPDY/3.1 connection: ``run`` reads frames until the connection ends,
    ``accept`` hands out the streams the peer opens, ``close`` says GOAWAY and hangs up."""

    def __init__(self, channel: ByteChannel, *, buffer_limit: int = 4 * 1024 * 1024,
                 send_window_updates: bool = False) -> None:
        self._channel = channel
        self._encoder = FrameEncoder()
        self._decoder = FrameDecoder()
        self._write_lock = asyncio.Lock()
        self._streams: dict[int, SpdyStream] = {}
        self._accepted: asyncio.Queue[SpdyStream | None] = asyncio.Queue()
        self._last_peer_stream = 0
        self._buffered = 0
        self._buffer_limit = buffer_limit
        self._room = asyncio.Event()
        self._room.set()
        self._send_window_updates = send_window_updates
        self._session_unacked = 0
        self.peer_settings: dict[int, int] = {}
        self.peer_send_window = DEFAULT_WINDOW  # what the peer granted; recorded, never waited on
        self.went_away = False  # the peer sent GOAWAY
        self._closing = False
        self.ended = asyncio.Event()  # the connection's read side is over

    # -- writing

    async def send(self, frame: Frame) -> None:
        async with self._write_lock:
            if self.ended.is_set() and self._closing:
                raise ConnectionResetError("SPDY connection closed")
            data = self._encoder.encode(frame)
            try:
                await self._channel.write(data)
            except (ConnectionError, RuntimeError, OSError) as e:
                raise ConnectionResetError(f"SPDY connection lost: {e}") from e

    # -- reading

    async def accept(self) -> SpdyStream | None:
        """The next stream the peer opened, or None once the connection is over (or the peer went away)."""
        stream = await self._accepted.get()
        if stream is None:
            self._accepted.put_nowait(None)  # every later caller sees the end too
        return stream

    async def run(self) -> None:
        """Read and dispatch frames until the connection ends; then every stream reads EOF."""
        try:
            while True:
                await self._room.wait()
                data = await self._channel.read()
                if not data:
                    break
                for frame in self._decoder.feed(data):
                    await self._dispatch(frame)
        except SpdyProtocolError:
            with contextlib.suppress(ConnectionError):
                await self.send(GoAway(self._last_peer_stream, GOAWAY_PROTOCOL_ERROR))
        except (ConnectionError, OSError):
            pass
        finally:
            self.ended.set()
            for stream in list(self._streams.values()):
                stream._finish_remote()
            self._accepted.put_nowait(None)

    async def close(self, linger: float = 5.0) -> None:
        """GOAWAY, then wait (at most ``linger`` seconds) for the peer to hang up, as spdystream waits
        for its streams to finish, so what was written last is read before the connection drops."""
        if not self._closing:
            self._closing = True
            with contextlib.suppress(ConnectionError):
                await self.send(GoAway(self._last_peer_stream, GOAWAY_OK))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ended.wait(), linger)
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            await self._channel.close()

    async def _dispatch(self, frame: Frame) -> None:
        match frame:
            case DataFrame():
                stream = self._streams.get(frame.stream_id)
                if stream is None:
                    return  # gone already (reset, or never ours): spdystream drops these too
                if frame.data:
                    self._buffered += len(frame.data)
                    if self._buffered >= self._buffer_limit:
                        self._room.clear()
                    stream._deliver(frame.data)
                if frame.fin:
                    stream._finish_remote()
                    self._maybe_forget(stream)
            case SynStream():
                await self._open(frame)
            case RstStream():
                stream = self._streams.get(frame.stream_id)
                if stream is not None:
                    stream._mark_reset()
            case Ping():
                if frame.ping_id % 2 == 1:  # the client's (odd) ids: echo; even ones answer ours
                    await self.send(frame)
            case GoAway():
                self.went_away = True
                self._accepted.put_nowait(None)
            case Settings():
                for _, sid, value in frame.entries:
                    self.peer_settings[sid] = value
            case WindowUpdate():
                if frame.stream_id == 0:
                    self.peer_send_window += frame.delta
            case SynReply() | HeadersFrame():
                pass  # this session opens no streams of its own; extra headers carry nothing for us

    async def _open(self, frame: SynStream) -> None:
        sid = frame.stream_id
        if sid in self._streams:
            await self.send(RstStream(sid, STREAM_IN_USE))
            return
        if sid % 2 == 0 or sid <= self._last_peer_stream:
            await self.send(RstStream(sid, PROTOCOL_ERROR))
            return
        self._last_peer_stream = sid
        if self.went_away or self._closing:
            await self.send(RstStream(sid, REFUSED_STREAM))
            return
        stream = SpdyStream(self, sid, frame.headers, remote_closed=frame.fin, local_closed=frame.unidirectional)
        self._streams[sid] = stream
        await self.send(SynReply(sid, {}))
        self._accepted.put_nowait(stream)

    async def _consumed(self, stream: SpdyStream, n: int) -> None:
        self._buffered -= n
        if self._buffered < self._buffer_limit:
            self._room.set()
        if not self._send_window_updates:
            return
        stream._unacked += n
        self._session_unacked += n
        with contextlib.suppress(ConnectionError):
            if stream._unacked >= DEFAULT_WINDOW // 2 and not stream.remote_closed:
                await self.send(WindowUpdate(stream.id, stream._unacked))
                stream._unacked = 0
            if self._session_unacked >= DEFAULT_WINDOW // 2:
                await self.send(WindowUpdate(0, self._session_unacked))
                self._session_unacked = 0

    def _maybe_forget(self, stream: SpdyStream) -> None:
        if stream.local_closed and stream.remote_closed:
            self._forget(stream)

    def _forget(self, stream: SpdyStream, dropped: int = 0) -> None:
        """The stream is over both ways; ``dropped`` buffered bytes were discarded with it (a reset)."""
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]
        self._buffered -= dropped
        if self._buffered < self._buffer_limit:
            self._room.set()

    @property
    def paused(self) -> bool:
        """Reading is paused: more than ``buffer_limit`` bytes wait for their streams' readers."""
        return not self._room.is_set()

    @property
    def open_streams(self) -> Iterable[SpdyStream]:
        return tuple(self._streams.values())
