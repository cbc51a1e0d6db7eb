"""The store's one small interface, shaped like etcd and kine.

Every read returns the store revision it saw; every write is a transaction of compare-and-swap
conditions (a key's mod revision, 0 for "must not exist") and operations (put, delete), committed
as one new revision or not at all; ``watch(prefix, after_revision)`` streams every change after a
revision; leases expire keys that are not kept alive. Backends: ``memory`` (tests), ``sqlite`` (the
embedded default), and etcd later, without callers changing. The records are frozen msgspec structs:
a transaction of a thousand tasks makes thousands of them, and a frozen dataclass is 15 times slower
to make.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Literal, Protocol

import msgspec


class StoreError(Exception):
    pass


class CompareFailed(StoreError):
    """A compare-and-swap condition did not hold: someone else wrote first. Re-read and retry."""


class Compacted(StoreError):
    """The asked revision is older than the oldest kept history."""


class KV(msgspec.Struct, frozen=True, gc=False):
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int = 0


class Event(msgspec.Struct, frozen=True, gc=False):
    type: Literal["put", "delete"]
    kv: KV  # for a delete: the key, an empty value, and mod_revision = the delete's revision
    revision: int


class Put(msgspec.Struct, frozen=True, gc=False):
    key: str
    value: bytes
    lease: int = 0


class Delete(msgspec.Struct, frozen=True, gc=False):
    key: str


Op = Put | Delete

# Told a transaction's revision as soon as it is written and ordered (before it is durable, with a
# backend that makes it durable later): what the caller applies then, no later write can precede.
Written = Callable[[int], None]


class Compare(msgspec.Struct, frozen=True, gc=False):
    """Holds when ``key``'s mod revision equals ``mod_revision`` (0: the key does not exist)."""

    key: str
    mod_revision: int


class Backend(Protocol):
    async def get(self, key: str) -> tuple[KV | None, int]: ...

    async def range(self, prefix: str) -> tuple[list[KV], int]: ...

    async def txn(self, compares: Sequence[Compare], ops: Sequence[Op],
                  on_written: Written | None = None) -> tuple[int, list[Event]]:
        """Commit ``ops`` as one revision if every compare holds, else raise CompareFailed. Returns once
        the revision is durable; ``on_written`` is called with it once it is written, which may be
        earlier (SQLite's group commit), never later."""
        ...

    def watch(self, prefix: str, after_revision: int) -> AsyncIterator[Event]: ...

    async def lease_grant(self, ttl: float) -> int: ...

    async def lease_keepalive(self, lease: int) -> None: ...

    async def lease_revoke(self, lease: int) -> None: ...

    async def compact(self, revision: int) -> None: ...

    async def close(self) -> None: ...


class WatchHub:
    """Fans committed events out to watchers; a watcher replays history first, then goes live."""

    def __init__(self) -> None:
        self._subs: list[tuple[str, asyncio.Queue[Event | None]]] = []

    def publish(self, events: Sequence[Event]) -> None:
        for prefix, q in self._subs:
            for ev in events:
                if ev.kv.key.startswith(prefix):
                    q.put_nowait(ev)

    def close(self) -> None:
        for _, q in self._subs:
            q.put_nowait(None)

    async def stream(self, prefix: str, after_revision: int, history: HistoryFn) -> AsyncIterator[Event]:
        q: asyncio.Queue[Event | None] = asyncio.Queue()
        sub = (prefix, q)
        self._subs.append(sub)  # subscribe first, then replay: nothing falls between the two
        try:
            replayed = after_revision
            for ev in history(prefix, after_revision):
                replayed = ev.revision
                yield ev
            while True:
                item = await q.get()
                if item is None:
                    return
                if item.revision <= replayed:
                    continue  # already sent from history
                yield item
        finally:
            self._subs.remove(sub)


class HistoryFn(Protocol):
    def __call__(self, prefix: str, after_revision: int) -> list[Event]: ...


class Leases:
    """Lease bookkeeping shared by the embedded backends; expiry deletes the attached keys."""

    def __init__(self) -> None:
        self.deadline: dict[int, float] = {}
        self.ttl: dict[int, float] = {}
        self.next_id = 1

    def grant(self, ttl: float, now: float) -> int:
        lid = self.next_id
        self.next_id += 1
        self.ttl[lid] = ttl
        self.deadline[lid] = now + ttl
        return lid

    def keepalive(self, lid: int, now: float) -> None:
        if lid not in self.ttl:
            raise StoreError(f"lease {lid} not found")
        self.deadline[lid] = now + self.ttl[lid]

    def expired(self, now: float) -> list[int]:
        return [lid for lid, d in self.deadline.items() if d <= now]

    def drop(self, lid: int) -> None:
        self.deadline.pop(lid, None)
        self.ttl.pop(lid, None)
