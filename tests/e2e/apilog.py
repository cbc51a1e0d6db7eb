"""A logging proxy between a Docker API client and a daemon, on unix sockets: for finding out what a
client (docker-compose, the docker CLI) sends and what it gets back. A test helper, not a product
feature.

``ApiLog(listen, upstream)`` accepts connections on the unix socket ``listen`` and forwards every byte
both ways to the unix socket ``upstream`` as it arrives (so streams, hijacked exec and attach
connections and keep-alive all behave as if the client talked to the daemon itself). Beside the copy,
it parses HTTP/1.1 in each direction and records one ``Exchange`` per request: method, path, query,
the top-level keys of a JSON body (and the body itself), the status and the start of the answer's
body. A connection that is upgraded (101) or hijacked (``application/vnd.docker.raw-stream`` /
``multiplexed-stream``) is recorded up to the switch and then only copied.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BODY_KEEP = 4096  # how much of an answer's body is kept


@dataclass
class Exchange:
    conn: int
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None  # the JSON body when there is one, else the raw bytes (cut)
    status: int = 0
    answer_headers: dict[str, str] = field(default_factory=dict)
    answer: bytes = b""
    hijacked: bool = False

    @property
    def body_keys(self) -> list[str]:
        return sorted(self.body) if isinstance(self.body, dict) else []

    def line(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in self.query.items())
        keys = ",".join(self.body_keys)
        return (f"{self.method} {self.path}{'?' + q if q else ''}" + (f" {{{keys}}}" if keys else "")
                + f" -> {self.status}" + (" (hijacked)" if self.hijacked else ""))


class _Stream:
    """Reads from one socket, sends what it read on to the other at once, and lets a parser consume it."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        self.buf = b""
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.src.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.eof = True
            with contextlib.suppress(OSError):
                self.dst.shutdown(socket.SHUT_WR)
            return False
        with contextlib.suppress(OSError):
            self.dst.sendall(data)
        self.buf += data
        return True

    def readline(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            if not self._fill():
                return None
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self, keep: int) -> bytes:
        kept = self.buf
        self.buf = b""
        while self._fill():
            if len(kept) < keep:
                kept += self.buf
            self.buf = b""
        return kept[:keep]

    def pump(self) -> None:
        """Copy the rest without parsing it."""
        self.buf = b""
        while self._fill():
            self.buf = b""


def _headers(stream: _Stream) -> dict[str, str] | None:
    out: dict[str, str] = {}
    while True:
        line = stream.readline()
        if line is None:
            return None
        if not line:
            return out
        k, _, v = line.decode("latin-1").partition(":")
        out[k.strip().lower()] = v.strip()


def _body(stream: _Stream, headers: dict[str, str], keep: int, to_eof: bool) -> bytes | None:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        kept = b""
        while True:
            size_line = stream.readline()
            if size_line is None:
                return kept
            size = int(size_line.split(b";")[0] or b"0", 16)
            chunk = stream.read(size + 2)
            if chunk is None:
                return kept
            if size == 0:
                return kept
            if len(kept) < keep:
                kept += chunk[:-2]
    if "content-length" in headers:
        return stream.read(int(headers["content-length"]))
    if to_eof:
        return stream.read_to_eof(keep)
    return b""


class ApiLog:
    def __init__(self, listen: Path, upstream: Path) -> None:
        self.listen, self.upstream = listen, upstream
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._conns = 0
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []

    @property
    def host(self) -> str:
        return f"unix://{self.listen}"

    def start(self) -> ApiLog:
        with contextlib.suppress(FileNotFoundError):
            self.listen.unlink()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.listen))
        self._server.listen(64)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        for s in list(self._open):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        with contextlib.suppress(FileNotFoundError):
            self.listen.unlink()

    def __enter__(self) -> ApiLog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def take(self) -> list[Exchange]:
        """The exchanges recorded since the last call."""
        with self._lock:
            out, self.exchanges = self.exchanges, []
        return out

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(str(self.upstream))
            except OSError:
                client.close()
                continue
            self._open += [client, up]
            self._conns += 1
            pending: list[Exchange] = []
            ready = threading.Condition()
            threading.Thread(target=self._requests, args=(self._conns, _Stream(client, up), pending, ready),
                             daemon=True).start()
            threading.Thread(target=self._answers, args=(_Stream(up, client), pending, ready), daemon=True).start()

    def _requests(self, conn: int, s: _Stream, pending: list[Exchange], ready: threading.Condition) -> None:
        while True:
            line = s.readline()
            if not line:
                break
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers = _headers(s)
            if headers is None:
                break
            raw = _body(s, headers, 1 << 20, to_eof=False) or b""
            body: Any = raw[:BODY_KEEP]
            if raw and "json" in headers.get("content-type", ""):
                with contextlib.suppress(ValueError):
                    body = json.loads(raw)
            url = urlsplit(target)
            ex = Exchange(conn, method, url.path, dict(parse_qsl(url.query, keep_blank_values=True)), headers, body)
            with self._lock:
                self.exchanges.append(ex)
            with ready:
                pending.append(ex)
                ready.notify_all()
            if headers.get("upgrade") or (url.path.endswith(("/attach", "/start")) and "/exec/" in url.path):
                s.pump()  # what follows is the hijacked stream's input
                return
        s.pump()

    def _answers(self, s: _Stream, pending: list[Exchange], ready: threading.Condition) -> None:
        while True:
            line = s.readline()
            if not line:
                break
            with ready:
                ready.wait_for(lambda: bool(pending) or s.eof, timeout=30)
                if not pending:
                    break
                ex = pending.pop(0)
            parts = line.decode("latin-1").split(" ", 2)
            ex.status = int(parts[1])
            headers = _headers(s)
            if headers is None:
                break
            ex.answer_headers = headers
            ctype = headers.get("content-type", "")
            if ex.status == 101 or "raw-stream" in ctype or ("multiplexed-stream" in ctype and "/exec/" in ex.path):
                ex.hijacked = True
                ex.answer = s.read_to_eof(BODY_KEEP)
                return
            if ex.method == "HEAD" or ex.status in (204, 304):
                continue
            to_eof = headers.get("connection", "").lower() == "close"
            ex.answer = (_body(s, headers, BODY_KEEP, to_eof=to_eof) or b"")[:BODY_KEEP]
        s.pump()
