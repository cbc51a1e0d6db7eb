"""An in-process cluster of hollow nodes for the Kubernetes integration tests: started with the
default namespace and the ``kubernetes`` Service made, and an async wait on its state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from tests.support import named

from shoal import sim
from shoal.api.kube import BUILTIN_NAMESPACES, ServiceAccount
from shoal.api.types import EndpointSlice
from shoal.manager.manager import Manager


async def wait_for(pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def manager(s: sim.Sim) -> Manager:
    assert s.daemon.manager is not None
    return s.daemon.manager


@contextlib.asynccontextmanager
async def kube_sim(root: Path, nodes: int, cpus: int, memory: int) -> AsyncIterator[sim.Sim]:
    """``nodes`` hollow nodes of ``cpus`` and ``memory`` bytes each, once the default namespace is there."""
    s = await sim.start(nodes, root=root, cpus=cpus, memory=memory)
    try:
        m = manager(s)
        await wait_for(lambda: named(m.kube, "namespaces", "default"), "the default namespace")
        # and what the controllers write at start after it (a test that counts the store's writes must not
        # count them): the ``kubernetes`` Service's objects, and the service accounts' tokens
        await wait_for(lambda: any(e.Name == "kubernetes" for e in m.store.list(EndpointSlice)),
                       "the kubernetes Service's EndpointSlice")
        await wait_for(lambda: len(m.store.list(ServiceAccount)) >= len(BUILTIN_NAMESPACES)
                       and all(sa.Secrets for sa in m.store.list(ServiceAccount)), "the service accounts' tokens")
        yield s
    finally:
        await s.stop()
