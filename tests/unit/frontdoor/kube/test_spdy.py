"""SPDY/3.1 framing and the server session: byte layouts from the spec, header compression with the
SPDY/3 dictionary, and the session's behaviour towards a spdystream peer (replies, FIN, RST, PING,
GOAWAY, no waiting for window)."""

from __future__ import annotations

import asyncio
import struct
import zlib

import pytest

from shoal.frontdoor.kube import spdy
from shoal.frontdoor.kube.spdy import (
    DataFrame,
    FrameDecoder,
    FrameEncoder,
    GoAway,
    HeadersFrame,
    Ping,
    RstStream,
    Settings,
    SpdyProtocolError,
    SpdySession,
    SynReply,
    SynStream,
    WindowUpdate,
)


def test_dictionary_is_spdy3s() -> None:
    d = spdy.HEADER_DICTIONARY
    assert len(d) == 1423
    assert d.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert d.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    assert zlib.adler32(d) == 0xE3C6A7C2  # the DICTID a SPDY/3 zlib stream names


def test_fixed_layouts() -> None:
    enc = FrameEncoder()
    assert enc.encode(Ping(1)) == bytes.fromhex("80030006 00000004 00000001")
    assert enc.encode(RstStream(3, spdy.CANCEL)) == bytes.fromhex("80030003 00000008 00000003 00000005")
    assert enc.encode(GoAway(5, 0)) == bytes.fromhex("80030007 00000008 00000005 00000000")
    assert enc.encode(WindowUpdate(1, 65536)) == bytes.fromhex("80030009 00000008 00000001 00010000")
    assert enc.encode(Settings(((0, 7, 1024),))) == bytes.fromhex("80030004 0000000c 00000001 00000007 00000400")
    assert enc.encode(DataFrame(3, b"hi", spdy.FLAG_FIN)) == bytes.fromhex("00000003 01000002") + b"hi"


def test_header_block_encoding() -> None:
    raw = spdy.encode_header_block({"StreamType": ["data"], "x": ["a", "b"]})
    assert raw == (struct.pack(">I", 2) + struct.pack(">I", 10) + b"streamtype" + struct.pack(">I", 4) + b"data"
                   + struct.pack(">I", 1) + b"x" + struct.pack(">I", 3) + b"a\x00b")
    assert spdy.decode_header_block(raw) == {"streamtype": ["data"], "x": ["a", "b"]}
    with pytest.raises(SpdyProtocolError):
        spdy.decode_header_block(raw[:-1])
    dup = struct.pack(">I", 2) + (struct.pack(">I", 1) + b"a" + struct.pack(">I", 0)) * 2
    with pytest.raises(SpdyProtocolError, match="duplicate"):
        spdy.decode_header_block(dup)


def test_header_blocks_share_one_zlib_stream_per_direction() -> None:
    enc, dec = FrameEncoder(), FrameDecoder()
    headers = {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}
    first = enc.encode(SynStream(1, headers))
    second = enc.encode(SynStream(3, headers))
    assert len(second) < len(first)  # the second block refers back to the first
    # A plain zlib stream with the dictionary reads the blocks (what Go's zlib.NewReaderDict does).
    z = zlib.decompressobj(zdict=spdy.HEADER_DICTIONARY)
    assert spdy.decode_header_block(z.decompress(first[18:])) == headers
    assert spdy.decode_header_block(z.decompress(second[18:])) == headers
    assert dec.feed(first + second) == [SynStream(1, headers), SynStream(3, headers)]
    with pytest.raises(SpdyProtocolError):  # the second block cannot be read without the first
        FrameDecoder().feed(second)


def test_every_frame_round_trips_fed_byte_by_byte() -> None:
    frames: list[spdy.Frame] = [
        SynStream(1, {"streamtype": ["stdin"]}, spdy.FLAG_FIN | spdy.FLAG_UNIDIRECTIONAL, 0, 7, 0),
        SynReply(1, {}), SynReply(1, {"a": ["b"]}, spdy.FLAG_FIN), DataFrame(1, b"x" * 70000),
        DataFrame(1, b"", spdy.FLAG_FIN), RstStream(1, spdy.PROTOCOL_ERROR), Settings(((1, 4, 100), (0, 7, 5))),
        Ping(2), GoAway(7, 2), HeadersFrame(1, {"k": ["v"]}), WindowUpdate(0, 12345)]
    enc, dec = FrameEncoder(), FrameDecoder()
    data = b"".join(enc.encode(f) for f in frames)
    got: list[spdy.Frame] = []
    for i in range(len(data)):
        got += dec.feed(data[i:i + 1])
    assert got == frames


def test_decoder_rejects_and_skips() -> None:
    with pytest.raises(SpdyProtocolError, match="version"):
        FrameDecoder().feed(bytes.fromhex("80020006 00000004 00000001"))
    unknown = bytes.fromhex("8003000a 00000002 abcd")  # an unknown control type is skipped
    assert FrameDecoder().feed(unknown + FrameEncoder().encode(Ping(3))) == [Ping(3)]
    with pytest.raises(SpdyProtocolError, match="too long"):
        FrameDecoder(max_frame_length=10).feed(bytes.fromhex("00000001 00000100"))


# ------------------------------------------------------------------------------------------- sessions


class Pipe:
    """Both ends of an in-memory connection: the session's channel, and a peer that writes frames."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[bytes] = asyncio.Queue()
        self.outbound = bytearray()
        self.wrote = asyncio.Event()
        self.closed = False
        self.enc, self.dec = FrameEncoder(), FrameDecoder()
        self.got: list[spdy.Frame] = []

    async def read(self) -> bytes:
        return await self.inbound.get()

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("closed")
        self.outbound += data
        self.wrote.set()

    async def close(self) -> None:
        self.closed = True

    def send(self, *frames: spdy.Frame) -> None:
        self.inbound.put_nowait(b"".join(self.enc.encode(f) for f in frames))

    def hang_up(self) -> None:
        self.inbound.put_nowait(b"")

    async def frame(self) -> spdy.Frame:
        while not self.got:
            if self.outbound:
                self.got += self.dec.feed(bytes(self.outbound))
                self.outbound.clear()
                continue
            self.wrote.clear()
            await asyncio.wait_for(self.wrote.wait(), 10)
        return self.got.pop(0)


@pytest.fixture
async def pipe() -> Pipe:
    return Pipe()


async def test_streams_are_replied_read_written_and_closed(pipe: Pipe) -> None:
    session = SpdySession(pipe)
    runner = asyncio.create_task(session.run())
    pipe.send(SynStream(1, {"streamtype": ["data"], "port": ["80"]}), DataFrame(1, b"abc"),
              DataFrame(1, b"def", spdy.FLAG_FIN))
    stream = await session.accept()
    assert stream is not None and stream.header("streamType") == "data" and stream.header("nope") == ""
    assert await pipe.frame() == SynReply(1, {})
    assert (await stream.read(), await stream.read(), await stream.read()) == (b"abc", b"def", b"")
    await stream.write(b"z" * 100_000)  # more than the 64 KiB window: spdystream never grants more
    got = b""
    while len(got) < 100_000:
        f = await pipe.frame()
        assert isinstance(f, DataFrame)
        got += f.data
    await stream.close()
    assert await pipe.frame() == DataFrame(1, b"", spdy.FLAG_FIN)
    assert list(session.open_streams) == []
    pipe.send(Ping(5), Ping(6))  # the peer's (odd) ping is echoed, an even one answers ours
    assert await pipe.frame() == Ping(5)
    pipe.hang_up()
    await runner
    assert await session.accept() is None


async def test_bad_stream_ids_reset_and_goaway_ends_accepting(pipe: Pipe) -> None:
    session = SpdySession(pipe)
    runner = asyncio.create_task(session.run())
    pipe.send(SynStream(2, {}))
    assert await pipe.frame() == RstStream(2, spdy.PROTOCOL_ERROR)
    pipe.send(SynStream(3, {}), SynStream(3, {}))
    assert await pipe.frame() == SynReply(3, {})
    assert await pipe.frame() == RstStream(3, spdy.STREAM_IN_USE)
    stream = await session.accept()
    assert stream is not None
    pipe.send(RstStream(3, spdy.CANCEL))
    assert await stream.read() == b""
    assert stream.was_reset
    with pytest.raises(ConnectionResetError):
        await stream.write(b"x")
    pipe.send(GoAway(3), SynStream(5, {}))
    assert await session.accept() is None
    assert await pipe.frame() == RstStream(5, spdy.REFUSED_STREAM)
    pipe.hang_up()
    await runner


async def test_protocol_error_says_goaway(pipe: Pipe) -> None:
    session = SpdySession(pipe)
    pipe.inbound.put_nowait(bytes.fromhex("80020006 00000004 00000001"))
    await session.run()
    assert await pipe.frame() == GoAway(0, spdy.GOAWAY_PROTOCOL_ERROR)


async def test_close_says_goaway_and_waits_for_the_peer(pipe: Pipe) -> None:
    session = SpdySession(pipe)
    runner = asyncio.create_task(session.run())
    pipe.send(SynStream(1, {}))
    assert await session.accept() is not None
    closing = asyncio.create_task(session.close(linger=10))
    assert await pipe.frame() == SynReply(1, {})
    assert await pipe.frame() == GoAway(1, spdy.GOAWAY_OK)
    assert not pipe.closed
    pipe.hang_up()
    await closing
    await runner
    assert pipe.closed


async def test_reading_pauses_at_the_buffer_limit_and_window_updates_when_asked(pipe: Pipe) -> None:
    session = SpdySession(pipe, buffer_limit=100, send_window_updates=True)
    runner = asyncio.create_task(session.run())
    pipe.send(SynStream(1, {}), DataFrame(1, b"a" * 150))
    pipe.send(DataFrame(1, b"b" * 40_000))
    stream = await session.accept()
    assert stream is not None
    assert await pipe.frame() == SynReply(1, {})
    async with asyncio.timeout(10):
        while not session.paused:
            await asyncio.sleep(0.01)
    assert pipe.inbound.qsize() == 1  # the paused session reads no further
    assert await stream.read() == b"a" * 150
    assert await stream.read() == b"b" * 40_000
    assert await pipe.frame() == WindowUpdate(1, 40_150)
    assert await pipe.frame() == WindowUpdate(0, 40_150)
    pipe.hang_up()
    await runner
