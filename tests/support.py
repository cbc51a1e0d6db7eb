"""Helpers shared by the integration and end-to-end tests: a free loopback port for a test's swarm
listener (never the real 2377), polling with a deadline, reading docker-style tables, a scratch
network namespace, and whether a Kubernetes object is there by name."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from shoal.api.errors import NotFound

if TYPE_CHECKING:
    from shoal.manager.kube.objects import KubeObjects


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(fn: Callable[[], Any], timeout: float = 30, interval: float = 0.2, what: str = "condition",
             explain: Callable[[], str] | None = None) -> Any:
    """Call ``fn`` until it returns something truthy (and return that), or fail after ``timeout`` s
    (with ``explain()``'s account of the state, when given)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    detail = f"\n{explain()}" if explain is not None else ""
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}{detail}")


def rows(text: str) -> list[list[str]]:
    """A docker table's data rows, cut at the header's column starts (empty cells kept as "")."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", lines[0])]
    bounds = [*starts[1:], None]
    return [[line[a:b].strip() for a, b in zip(starts, bounds, strict=True)] for line in lines[1:]]


@contextlib.contextmanager
def scratch_netns() -> Iterator[str]:
    """A network namespace of the test's own (``/run/netns/<name>``), deleted afterwards; skips the
    test when not root."""
    if os.geteuid() != 0:
        pytest.skip("needs root (a network namespace)")
    name = f"shoal-ut-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def named(kube: KubeObjects, kind: str, name: str, namespace: str = "") -> bool:
    """Whether ``kube`` has the object by name, as a create checks it: its name
    index hears of a commit after the commit's fsync, the store's cache before."""
    try:
        kube.get(kind, namespace, name)
    except NotFound:
        return False
    return True
