"""``bench/kubenet.py``'s measuring client, without a cluster: connections one at a time against a
loopback HTTP server (who answered, rate, percentiles), a closed port given up after five failures, and
the prober's first and last answers of one backend."""

from __future__ import annotations

import http.server
import importlib.util
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("kubenet", BENCH / "kubenet.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["kubenet"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


class Who(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    name = "srv"

    def do_GET(self) -> None:
        body = f"{self.name}\n".encode() if self.path == "/who" else b""
        self.send_response(200 if self.path == "/who" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[int]:
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Who)
    t = threading.Thread(target=s.serve_forever, daemon=True)
    t.start()
    yield int(s.server_address[1])
    s.shutdown()
    s.server_close()


def test_connections_one_at_a_time(server: int) -> None:
    kn = load()
    assert kn.fetch("127.0.0.1", server, 1.0) == "srv"
    r = kn.measure("127.0.0.1", server, 50, warmup=2)
    assert len(r.ok) == 50 and r.errors == 0 and r.per_second > 0
    assert "conn/s" in kn.rate_text("loopback", r)
    with pytest.raises(OSError, match="unexpected answer"):
        kn.fetch("127.0.0.1", server, 1.0, path="/nope")
    assert kn.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and kn.percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0


def test_a_path_that_refuses_is_given_up_early() -> None:
    kn = load()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    r = kn.measure("127.0.0.1", closed, 1000)
    assert not r.ok and r.errors == 5 and "ConnectionRefused" in r.first_error
    assert "unreachable" in kn.rate_text("closed", r)


def test_the_prober_notes_who_answered(server: int) -> None:
    kn = load()
    p = kn.Prober("127.0.0.1", server)
    t = threading.Thread(target=p.run)
    t.start()
    try:
        while len(p.seen) < 5:
            threading.Event().wait(0.01)
    finally:
        p.stop.set()
        t.join()
    first, last = p.first("srv", 0), p.last("srv")
    assert first is not None and last is not None and first <= last
    assert p.first("other", 0) is None and p.last("other") is None
