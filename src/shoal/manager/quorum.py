"""The managers' quorum: who leads, who is reachable, and whether the cluster can take writes.

Managers in a quorum share one etcd cluster (each supervises its own member). Every manager holds an
etcd lease that it keeps alive, and a presence key under that lease (``/shoal-meta/managers/<id>``):
a manager whose key is gone is *unreachable*. The leader is the manager whose ID is the value of
``/shoal-meta/leader``, written under its lease only when the key is absent, so at most one manager
leads and the key disappears with its lease when the leader dies (after ``LEASE_TTL``). A manager
that can no longer keep its lease alive (its member lost the quorum, or etcd refused the lease)
steps down at once. Besides its tick, every manager watches those keys, so that a manager that has
just joined (its presence key written) is reachable for all of them at once, not a tick later. Only
the leader runs the orchestrators, the scheduler and the dispatcher; that is the
``on_elected``/``on_deposed`` callbacks' business, not this module's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from shoal import metrics
from shoal.store.backend import Compare, Delete, Put, StoreError
from shoal.store.etcd import EtcdBackend

log = logging.getLogger(__name__)

META = "/shoal-meta/"
LEADER_KEY = META + "leader"
MANAGERS = META + "managers/"
LEASE_TTL = 3.0  # seconds without keep-alive before a dead manager loses its lease (and leadership)
TICK = 1.0

NO_LEADER = ("The swarm does not have a leader. It's possible that too few managers are online. "
             "Make sure more than half of the managers are online.")


class Elector:
    """Campaigns for leadership and watches the other managers, one tick a second."""

    def __init__(self, client: EtcdBackend, node_id: str, *, on_elected: Callable[[], Awaitable[None]],
                 on_deposed: Callable[[], Awaitable[None]], ttl: float = LEASE_TTL, tick: float = TICK) -> None:
        self.client = client
        self.node_id = node_id
        self.on_elected, self.on_deposed = on_elected, on_deposed
        self.ttl, self.tick = ttl, tick
        self.leader = ""  # the current leader's node ID ("" unknown or none)
        self.present: set[str] = set()  # managers whose lease is alive
        self.is_leader = False
        self.last_ok = 0.0  # monotonic time of the last tick that reached a quorum
        self._lease = 0
        self._task: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()  # a tick reached the quorum and knows the leader

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="elector")
        self._watcher = loop.create_task(self._watch(), name="elector-watch")

    async def settled(self, timeout: float) -> bool:
        """Wait until this manager's presence is written and a leader is known (at most ``timeout`` s)."""
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, resign: bool = True) -> None:
        """Stop campaigning; ``resign`` revokes the lease so another manager takes over at once."""
        for t in (self._watcher, self._task):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        self._task = self._watcher = None
        with contextlib.suppress(KeyError):
            metrics.ETCD_MEMBER_HEALTHY.remove(self.node_id)
        if self.is_leader:
            await self._step_down()
        if resign and self._lease:
            with contextlib.suppress(StoreError, asyncio.TimeoutError):
                await asyncio.wait_for(self.client.lease_revoke(self._lease), 2)
        self._lease = 0

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except (TimeoutError, StoreError) as e:
                log.warning("managers' quorum: %s", e)
                metrics.ETCD_MEMBER_HEALTHY.labels(self.node_id).set(0)
                self._saw_leader("")
                if self.is_leader:
                    await self._step_down()
                if "lease" in str(e) and "not found" in str(e):
                    self._lease = 0  # expired while we could not reach the quorum: take a new one
            await asyncio.sleep(self.tick)

    async def _tick(self) -> None:
        if not self._lease:
            self._lease = await self.client.lease_grant(self.ttl)
            await self.client.txn([], [Put(MANAGERS + self.node_id, b"", self._lease)])
        else:
            await asyncio.wait_for(self.client.lease_keepalive(self._lease), self.ttl / 2)
        if not self.is_leader:
            with contextlib.suppress(StoreError):  # CompareFailed: someone else leads
                await self.client.txn([Compare(LEADER_KEY, 0)], [Put(LEADER_KEY, self.node_id.encode(), self._lease)])
        kvs, _ = await self.client.range(META)
        leader = ""
        present: set[str] = set()
        for kv in kvs:
            if kv.key == LEADER_KEY:
                leader = kv.value.decode()
                if leader == self.node_id and kv.lease != self._lease:
                    await self._take_over(kv.mod_revision)
            elif kv.key.startswith(MANAGERS):
                present.add(kv.key[len(MANAGERS):])
        self._saw_leader(leader)
        self.present = present
        self.last_ok = time.monotonic()
        metrics.ETCD_MEMBER_HEALTHY.labels(self.node_id).set(1)
        if leader:
            self._settled.set()
        if leader == self.node_id and not self.is_leader:
            self.is_leader = True
            log.info("this manager is now the leader")
            await self.on_elected()
        elif leader != self.node_id and self.is_leader:
            await self._step_down()

    async def _take_over(self, mod_revision: int) -> None:
        """The leader key names this manager under the lease of its previous run (a restart within the
        lease's TTL: etcd keeps the lease): hold it under this run's lease, rather than lose it when
        the old lease runs out and be deposed and elected again."""
        with contextlib.suppress(StoreError):  # CompareFailed: it changed meanwhile; the next tick sees
            await self.client.txn([Compare(LEADER_KEY, mod_revision)],
                                  [Put(LEADER_KEY, self.node_id.encode(), self._lease)])

    async def _watch(self) -> None:
        """Follow the presence and leader keys between ticks (what a tick reads stays the truth)."""
        while True:
            try:
                _, rev = await self.client.range(META)
                async for ev in self.client.watch(META, rev):
                    key = ev.kv.key
                    if key == LEADER_KEY:
                        self._saw_leader(ev.kv.value.decode() if ev.type == "put" else "")
                    elif key.startswith(MANAGERS):
                        node_id = key[len(MANAGERS):]
                        if ev.type == "put":
                            self.present = self.present | {node_id}
                        else:
                            self.present = self.present - {node_id}
            except (TimeoutError, StoreError) as e:
                log.debug("watching the managers' keys: %s", e)
            await asyncio.sleep(self.tick)

    def _saw_leader(self, leader: str) -> None:
        if leader != self.leader:
            metrics.ETCD_LEADER_CHANGES.inc()
        self.leader = leader

    async def _step_down(self) -> None:
        self.is_leader = False
        log.info("this manager is no longer the leader")
        try:
            await self.on_deposed()
        except Exception:  # e.g. the dispatcher's last status write, without a quorum: stopped anyway
            log.exception("stepping down")

    async def writable(self) -> bool:
        """Whether the cluster has a leader now (the etcd member sees a raft leader and so do we)."""
        if not self.leader or time.monotonic() - self.last_ok > self.ttl:
            return False
        try:
            return await self.client.leader_id() != 0
        except StoreError:
            return False

async def forget_managers(client: EtcdBackend) -> None:
    """Drop the leader key and every manager's presence (a forced new cluster: the others are gone,
    and waiting for their leases to run out would only delay the survivor's election)."""
    kvs, _ = await client.range(META)
    if kvs:
        await client.txn([], [Delete(kv.key) for kv in kvs])
