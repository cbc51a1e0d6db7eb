"""Reading task logs: the lines of a task's log file, with ``since``, ``tail`` and ``follow``.

The runtimes write the file (``runtime/logs.py``: ``<RFC 3339 nano timestamp> <stdout|stderr>
<line>``, one entry per line); this reads it back as ``LogLine``s (``protocol.py``: the agent sends
them to the manager for ``service logs``, the node's own ``logs`` reads them here).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

from shoal.api.types import parse_ts
from shoal.protocol import LogLine


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
