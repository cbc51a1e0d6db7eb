"""This manager's etcd member: starting it, adding and removing the other managers' members, and
moving a single manager's SQLite state into etcd.

Each manager runs one member of the managers' etcd cluster (``<swarm>/etcd``): clients on loopback
only (the manager's own store client), peers on the manager's advertised host over mutual TLS with
the node certificate signed by the cluster's root CA (which names that host). A joining manager is
added as a *learner* — it does not count toward the quorum while it catches up, so adding it never
stops the cluster — and promoted to a voting member as soon as etcd accepts (it refuses while the
learner lags). ``force_new_cluster`` restarts the member with etcd's own ``--force-new-cluster``:
the survivor of a lost quorum becomes a one-member cluster with all of its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from shoal.store.backend import Backend, Put, StoreError
from shoal.store.encryption import EncryptedBackend
from shoal.store.etcd import EtcdBackend
from shoal.store.etcd_server import EtcdServer, free_port

log = logging.getLogger(__name__)

ETCD_PEER_PORT = 2380
COPY_BATCH = 1000  # keys per etcd transaction when moving a store into etcd
STORE_TIMEOUT = 5.0  # seconds before an etcd request without a quorum fails
PROMOTE_WITHIN = 120.0
RECONFIG_WITHIN = 30.0
STOP_WITHIN = 3.0  # seconds etcd gets to stop on SIGTERM (it waits for lost peers) before SIGKILL
T = TypeVar("T")


class EtcdMember:
    def __init__(self, swarm_dir: Path, node_id: str, peer_host: str, peer_port: int,
                 key_file: Path | None = None) -> None:
        self.swarm_dir = swarm_dir
        self.key_file = key_file or swarm_dir / "node.key"  # the node's TLS key, in the clear
        self.node_id = node_id
        self.peer_host, self.peer_port = peer_host, peer_port
        self.server: EtcdServer | None = None
        self.client: EtcdBackend | None = None
        self._promotions: set[asyncio.Task[None]] = set()

    @property
    def data_dir(self) -> Path:
        return self.swarm_dir / "etcd"

    @property
    def peer_url(self) -> str:
        return peer_url(self.peer_host, self.peer_port)

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return self.server.endpoint

    async def start(self, initial_cluster: str = "", state: str = "new", force_new_cluster: bool = False) -> None:
        d = self.swarm_dir
        self.server = EtcdServer(
            self.data_dir, name=self.node_id, host="127.0.0.1", peer_host=self.peer_host, peer_port=self.peer_port,
            initial_cluster=initial_cluster, initial_cluster_state=state, force_new_cluster=force_new_cluster,
            peer_cert_file=str(d / "node.crt"), peer_key_file=str(self.key_file),
            peer_trusted_ca_file=str(d / "ca.pem"), log_file=d / "etcd.log",
        )
        # etcd opens its client port once the member has published itself to the cluster, which
        # takes a quorum: wait for as long as it takes (peers restarting), cancellably.
        await self.server.astart(None, need_quorum=False)
        self.client = EtcdBackend(self.server.endpoint, timeout=STORE_TIMEOUT)

    def store_backend(self, dek: bytes) -> Backend:
        """A backend for the cluster state over this member, values sealed with the data key."""
        return EncryptedBackend(EtcdBackend(self.endpoint, timeout=STORE_TIMEOUT), dek)

    async def copy_from(self, raw: Backend, prefix: str = "/shoal/") -> int:
        """Copy every key under ``prefix`` of another backend (values as they are, still sealed)."""
        assert self.client is not None
        kvs, _ = await raw.range(prefix)
        for i in range(0, len(kvs), COPY_BATCH):
            await self.client.txn([], [Put(kv.key, kv.value) for kv in kvs[i:i + COPY_BATCH]])
        return len(kvs)

    async def add(self, node_id: str, url: str) -> str:
        """Add a manager's member as a learner; returns the ``--initial-cluster`` it must start with."""
        client = self.client
        assert client is not None
        mid = await _when_healthy(lambda: client.member_add(url, learner=True))
        parts = []
        for member_id, name, urls, _learner in await client.members():
            if member_id == mid:
                parts.append(f"{node_id}={url}")
            elif name and urls:
                parts.append(f"{name}={urls[0]}")
        task = asyncio.get_running_loop().create_task(self._promote(mid))
        self._promotions.add(task)
        task.add_done_callback(self._promotions.discard)
        return ",".join(parts)

    async def _promote(self, member_id: int) -> None:
        assert self.client is not None
        deadline = time.monotonic() + PROMOTE_WITHIN
        while time.monotonic() < deadline:
            try:
                await self.client.member_promote(member_id)
                log.info("etcd member %x is now a voting member", member_id)
                return
            except StoreError:
                await asyncio.sleep(0.5)  # not caught up (or not started) yet
        log.warning("etcd member %x did not catch up within %.0f s; it stays a learner", member_id, PROMOTE_WITHIN)

    async def remove(self, node_id: str, url: str = "") -> bool:
        """Remove a manager's member (found by name, or by peer URL before it first started)."""
        assert self.client is not None
        client = self.client
        found = [mid for mid, name, urls, _learner in await client.members() if name == node_id or url in urls]
        if not found:
            return False
        await _when_healthy(lambda: client.member_remove(found[0]))
        return True

    async def stop(self) -> None:
        for t in list(self._promotions):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.server is not None:
            await self.server.astop(STOP_WITHIN)
            self.server = None


async def _when_healthy(change: Callable[[], Awaitable[T]]) -> T:
    """A membership change, retried while etcd refuses it as unsafe: it wants every member that a
    change would count on to have been seen active for a few seconds (a member just added or
    promoted has not)."""
    deadline = time.monotonic() + RECONFIG_WITHIN
    while True:
        try:
            return await change()
        except StoreError as e:
            if "unhealthy cluster" not in str(e) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def choose_peer_port(host: str) -> int:
    """etcd's own peer port (2380) when it is free on ``host``, else any free one."""
    with contextlib.suppress(OSError), socket.socket() as s:
        s.bind((host, ETCD_PEER_PORT))
        return ETCD_PEER_PORT
    return free_port(host)


def peer_url(host: str, port: int) -> str:
    return f"https://{host}:{port}"
