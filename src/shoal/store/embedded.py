"""What the embedded backends (memory, SQLite) share: transactions, revisions, watch and leases.

A backend keeps one revision counter; a transaction checks its compares against committed state,
builds the events of its operations at ``revision + 1``, hands them to ``_persist`` (which must
write them atomically) and only then publishes them to watchers. A backend that makes its writes
durable later than it makes them (SQLite's group commit) overrides ``_committed`` (publish once
durable) and ``_durable`` (wait until a revision is): every answer (a transaction's, a failed
compare's, a read's) waits until the revision it reflects is durable, so nobody is ever told of a
write that a power cut could still take back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence

from shoal.store.backend import (
    KV,
    Compacted,
    Compare,
    CompareFailed,
    Delete,
    Event,
    Leases,
    Op,
    Put,
    WatchHub,
    Written,
)


class EmbeddedBackend:
    def __init__(self) -> None:
        self.revision = 0
        self.compact_revision = 0
        self.hub = WatchHub()
        self.leases = Leases()
        self._expiry: asyncio.Task[None] | None = None
        self._closed = False

    # -- storage hooks
    def _get(self, key: str) -> KV | None:
        raise NotImplementedError

    def _meta(self, key: str) -> KV | None:
        """A key's revisions and lease; its value may be left out (compares and puts need no more)."""
        return self._get(key)

    def _range(self, prefix: str) -> list[KV]:
        raise NotImplementedError

    def _persist(self, revision: int, events: list[Event]) -> None:
        raise NotImplementedError

    def _history(self, prefix: str, after_revision: int) -> list[Event]:
        raise NotImplementedError

    def _compact(self, revision: int) -> None:
        raise NotImplementedError

    def _keys_with_lease(self, lease: int) -> list[str]:
        raise NotImplementedError

    def _committed(self, revision: int, events: list[Event]) -> None:
        """A revision was written: tell the watchers (a backend whose writes become durable later
        publishes them then)."""
        self.hub.publish(events)

    async def _durable(self, revision: int) -> None:
        """Return once ``revision`` and every one before it are durable (here: at once)."""

    # -- Backend
    async def get(self, key: str) -> tuple[KV | None, int]:
        kv, rev = self._get(key), self.revision
        await self._durable(rev)
        return kv, rev

    async def range(self, prefix: str) -> tuple[list[KV], int]:
        kvs, rev = self._range(prefix), self.revision
        await self._durable(rev)
        return kvs, rev

    async def txn(self, compares: Sequence[Compare], ops: Sequence[Op],
                  on_written: Written | None = None) -> tuple[int, list[Event]]:
        try:
            rev, events = self.txn_now(compares, ops)
        except CompareFailed:
            await self._durable(self.revision)  # what the compare saw is durable before anyone hears of it
            raise
        if on_written is not None:
            on_written(rev)
        await self._durable(rev)
        return rev, events

    def txn_now(self, compares: Sequence[Compare], ops: Sequence[Op]) -> tuple[int, list[Event]]:
        """The transaction itself; synchronous, so no other coroutine can run between check and write."""
        current: dict[str, KV | None] = {}  # each key read once: compares and ops are mostly on the same keys
        for c in compares:
            kv = current[c.key] = self._meta(c.key)
            if (kv.mod_revision if kv else 0) != c.mod_revision:
                raise CompareFailed(c.key)
        rev = self.revision + 1
        events: list[Event] = []
        touched: dict[str, KV | None] = {}
        for op in ops:
            if op.key in touched:
                prev = touched[op.key]
            else:
                prev = current[op.key] if op.key in current else self._meta(op.key)
            if isinstance(op, Put):
                kv = KV(op.key, op.value, prev.create_revision if prev else rev, rev, op.lease)
                touched[op.key] = kv
                events.append(Event("put", kv, rev))
            elif isinstance(op, Delete):
                if prev is None:
                    continue
                touched[op.key] = None
                events.append(Event("delete", KV(op.key, b"", prev.create_revision, rev), rev))
        if not events:
            return self.revision, []
        self._persist(rev, events)
        self.revision = rev
        self._committed(rev, events)
        return rev, events

    async def watch(self, prefix: str, after_revision: int) -> AsyncIterator[Event]:
        if after_revision < self.compact_revision:
            raise Compacted(f"required revision {after_revision} has been compacted")
        async for ev in self.hub.stream(prefix, after_revision, self._history):
            yield ev

    async def lease_grant(self, ttl: float) -> int:
        lid = self.leases.grant(ttl, time.monotonic())
        if self._expiry is None:
            self._expiry = asyncio.get_running_loop().create_task(self._expire_loop())
        return lid

    async def lease_keepalive(self, lease: int) -> None:
        self.leases.keepalive(lease, time.monotonic())

    async def lease_revoke(self, lease: int) -> None:
        self.leases.drop(lease)
        keys = self._keys_with_lease(lease)
        if keys:
            rev, _ = self.txn_now([], [Delete(k) for k in keys])
            await self._durable(rev)

    async def _expire_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(0.25)
            for lid in self.leases.expired(time.monotonic()):
                await self.lease_revoke(lid)

    async def compact(self, revision: int) -> None:
        revision = min(revision, self.revision)
        if revision > self.compact_revision:
            self._compact(revision)
            self.compact_revision = revision

    async def close(self) -> None:
        self._closed = True
        self.hub.close()
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
