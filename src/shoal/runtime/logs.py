"""Writing a task's log file: each task's stdout and stderr, one file per task, one line per line.

``LogWriter`` (fed from a pipe by ``pump``, or by a runtime's stream) appends
``<RFC 3339 nano timestamp> <stdout|stderr> <line>`` to the task's log file, so logs survive the
container and a restart of the task. The runtimes write it (they own the container's pipes and the
file's place, ``Runtime.log_path``) and ``remove`` it with the container; the agent reads it back
(``agent/logs.py``: ``since``, ``tail`` and ``follow`` for ``service logs`` and ``logs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from shoal.api.types import now_ts
from shoal.runtime import private

MAX_LINE = 1 << 20  # a longer "line" is cut into pieces of this size


class LogWriter:
    """Appends one stream's bytes to a task's log file, one entry per line (a partial last line is
    written at ``close``). Fed from a pipe by ``pump``, or chunk by chunk (docker's attach stream)."""

    def __init__(self, path: Path, stream: str) -> None:
        self.stream = stream
        self._out = open(private.open_append(path), "ab", buffering=0)  # 0600; closed by close()
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


async def open_writers(path: Path, streams: Sequence[str]) -> list[LogWriter]:
    """Writers of these streams into the log file at ``path``, opened in a thread: with a thousand
    tasks starting and old logs being removed from the same directory, an open waits for the
    directory's lock, which held the event loop for seconds. (Cancelled meanwhile: they are closed.)"""
    opened = asyncio.get_running_loop().run_in_executor(None, lambda: [LogWriter(path, s) for s in streams])
    try:
        return await asyncio.shield(opened)
    except asyncio.CancelledError:
        opened.add_done_callback(_close_opened)
        raise


def _close_opened(f: asyncio.Future[list[LogWriter]]) -> None:
    if not f.cancelled() and f.exception() is None:
        for w in f.result():
            w.close()


async def pump(fd: int, writer: LogWriter) -> None:
    """Copy lines from a pipe's read end to a log writer until the pipe's writer closes it; the log
    writer is closed after. (Opened by the caller before the process starts, so no output of an
    exited process can reach the log of the one after it.)"""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    proto = asyncio.StreamReaderProtocol(reader)
    try:
        transport, _ = await loop.connect_read_pipe(lambda: proto, os.fdopen(fd, "rb", buffering=0))
    except BaseException:
        writer.close()
        raise
    try:
        while chunk := await reader.read(1 << 16):
            writer.feed(chunk)
    finally:
        writer.close()
        transport.close()


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
