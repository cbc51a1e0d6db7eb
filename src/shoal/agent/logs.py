"""Task logs: each task's stdout and stderr, one file per task, one line per line written.

``LogWriter`` (fed from a pipe by ``pump``, or by a runtime's stream) appends
``<RFC 3339 nano timestamp> <stdout|stderr> <line>`` to the task's log file, so logs survive the
container and a restart of the task, and can be read back with ``since``, ``tail`` and ``follow``
by ``service logs`` and ``logs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from shoal.api.types import now_ts, parse_ts


@dataclass(frozen=True, slots=True)
class LogLine:
    timestamp: str
    stream: str  # stdout | stderr
    message: bytes  # without the newline


MAX_LINE = 1 << 20  # a longer "line" is cut into pieces of this size


class LogWriter:
    """Appends one stream's bytes to a task's log file, one entry per line (a partial last line is
    written at ``close``). Fed from a pipe by ``pump``, or chunk by chunk (docker's attach stream)."""

    def __init__(self, path: Path, stream: str) -> None:
        self.stream = stream
        self._out = open(path, "ab", buffering=0)  # closed by close()
        self._buf = b""

    def _line(self, line: bytes) -> None:
        self._out.write(f"{now_ts()} {self.stream} ".encode() + line + b"\n")

    def feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            line, nl, rest = self._buf.partition(b"\n")
            if not nl:
                break
            self._line(line)
            self._buf = rest
        while len(self._buf) >= MAX_LINE:
            self._line(self._buf[:MAX_LINE])
            self._buf = self._buf[MAX_LINE:]

    def close(self) -> None:
        if self._buf:
            self._line(self._buf)
            self._buf = b""
        self._out.close()


async def pump(fd: int, stream: str, path: Path) -> None:
    """Copy lines from a pipe's read end to the log file until the writer closes it."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    proto = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_read_pipe(lambda: proto, os.fdopen(fd, "rb", buffering=0))
    writer = LogWriter(path, stream)
    try:
        while chunk := await reader.read(1 << 16):
            writer.feed(chunk)
    finally:
        writer.close()
        transport.close()


def parse(raw: bytes) -> LogLine | None:
    try:
        ts, stream, msg = raw.rstrip(b"\n").split(b" ", 2)
    except ValueError:
        parts = raw.rstrip(b"\n").split(b" ", 2)
        if len(parts) == 2:
            return LogLine(parts[0].decode(), parts[1].decode(), b"")
        return None
    return LogLine(ts.decode(), stream.decode(), msg)


def read(path: Path, *, since: float = 0.0, until: float = 0.0, tail: int = -1,
         stdout: bool = True, stderr: bool = True) -> tuple[list[LogLine], int]:
    """The lines of a log file that pass the filters, and the offset where it ended."""
    lines: deque[LogLine] | list[LogLine] = deque(maxlen=tail) if tail >= 0 else []
    try:
        with open(path, "rb") as f:
            for raw in f:
                ll = parse(raw)
                if ll is None or not _wanted(ll, since, until, stdout, stderr):
                    continue
                lines.append(ll)
            end = f.tell()
    except FileNotFoundError:
        return [], 0
    return list(lines), end


def _wanted(ll: LogLine, since: float, until: float, stdout: bool, stderr: bool) -> bool:
    if (ll.stream == "stdout" and not stdout) or (ll.stream == "stderr" and not stderr):
        return False
    if since or until:
        ts = parse_ts(ll.timestamp)
        if (since and ts < since) or (until and ts > until):
            return False
    return True


async def follow(path: Path, offset: int, *, stdout: bool = True, stderr: bool = True,
                 interval: float = 0.1) -> AsyncIterator[LogLine]:
    """Lines appended to the file after ``offset``, as they come; ends when the file is removed."""
    pos = offset
    buf = b""
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except FileNotFoundError:
            return
        if chunk:
            pos += len(chunk)
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                ll = parse(raw)
                if ll is not None and _wanted(ll, 0, 0, stdout, stderr):
                    yield ll
        else:
            await asyncio.sleep(interval)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
