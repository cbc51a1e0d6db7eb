"""A daemon's own --bip and --dns, end to end: a task without networks gets its address on the
default bridge that --bip names, and its names that are not the swarm's go to the --dns server (a
small one on loopback here, which the daemon reaches from its own namespace)."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from tests.e2e.conftest import ShoalDaemon, web_swarm
from tests.support import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A DNS server on loopback that knows one name."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = s.recvfrom(512)
            except OSError:
                continue
            q = DNSRecord.parse(data)
            r = q.reply()
            if str(q.q.qname).rstrip(".") != "outside.test":
                r.header.rcode = RCODE.NXDOMAIN
            elif q.q.qtype == QTYPE.A:
                r.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("10.213.99.9"), ttl=5))
            s.sendto(r.pack(), addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"127.0.0.1:{s.getsockname()[1]}"
    stop.set()
    t.join()
    s.close()


@pytest.fixture(scope="module")
def shoal(e2e_base: Path, upstream: str) -> Iterator[ShoalDaemon]:
    if not shutil.which("runc"):
        pytest.skip("the default bridge is the runc runtime's")
    with web_swarm(e2e_base / "bip", extra=["--bip", "10.213.245.1/24", "--dns", upstream]) as d:
        yield d


def test_the_daemons_bip_and_dns(shoal: ShoalDaemon) -> None:
    d = shoal
    d.docker("service", "create", "-d", "--name", "plain", "--stop-grace-period", "1s", "web", "sh", "-c",
             "ip -o -4 addr show eth0; nslookup outside.test; sleep 300")
    logs = wait_for(lambda: (o := d.docker("service", "logs", "--raw", "plain").stdout) and "10.213.99.9" in o and o,
                    timeout=30, what="the task's address and the --dns server's answer")
    assert "inet 10.213.245.2/24" in logs  # --bip (over the suite's $SHOAL_BIP)
    d.docker("service", "rm", "plain")
