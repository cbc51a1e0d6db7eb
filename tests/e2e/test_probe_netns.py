"""A probe's connection dialled from inside a Pod's network namespace (``probes.NodeTarget``): a
server that listens only there is reached, and what the namespace does not serve is refused in Go's
words (root only: the test makes a namespace of its own)."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from shoal.agent.probes import FAILURE, SUCCESS, NodeTarget, Outcome, run_probe
from shoal.api.pod import Probe
from shoal.api.types import ContainerSpec
from shoal.network.netns import run_in_netns

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


class NoProber:
    async def probe(self, task_id: str, argv: list[str], timeout: float) -> tuple[int, str]:
        return -1, "no commands here"

    def image_healthcheck(self, task_id: str) -> dict[str, object] | None:
        return None


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"shprobe-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


async def test_a_tcp_probe_dials_from_inside_the_pods_namespace(netns: str) -> None:
    def listen() -> socket.socket:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        return s

    server = run_in_netns(netns, listen)
    try:
        port = server.getsockname()[1]
        target = NodeTarget(NoProber(), "t.web", lambda: "127.0.0.1", lambda: netns, lambda: True)
        spec = ContainerSpec(Name="web")
        assert await run_probe(Probe(TCPSocket=port), spec, target) == Outcome(SUCCESS)
        server.close()
        assert await run_probe(Probe(TCPSocket=port), spec, target) == Outcome(
            FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused")
    finally:
        server.close()
