"""A Backend wrapper that encrypts every value at rest (AES-256-GCM with the data key).

Keys stay readable (they are IDs); each value is stored as ``nonce (12 bytes) || ciphertext``, with
the key as associated data, so a value cannot be moved to another key unnoticed. Reads, ranges,
transaction results and watch events are decrypted on the way out. Nonces are built as NIST SP
800-38D §8.2.1 describes: a random 8-byte field drawn per process (and again every 2^32 values), then
a 4-byte counter, so no system call is made per value and no nonce repeats.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shoal.store.backend import KV, Backend, Compare, Event, Op, Put, Written


class EncryptedBackend:
    def __init__(self, inner: Backend, dek: bytes) -> None:
        self.inner = inner
        self._aead = AESGCM(dek)
        self._fixed = os.urandom(8)
        self._counter = 0

    def _nonce(self) -> bytes:
        if self._counter == 1 << 32:
            self._fixed, self._counter = os.urandom(8), 0
        n = self._counter
        self._counter = n + 1
        return self._fixed + n.to_bytes(4, "big")

    def _seal(self, key: str, value: bytes) -> bytes:
        nonce = self._nonce()
        return nonce + self._aead.encrypt(nonce, value, key.encode())

    def _open(self, kv: KV) -> KV:
        if not kv.value:
            return kv
        plain = self._aead.decrypt(kv.value[:12], kv.value[12:], kv.key.encode())
        return KV(kv.key, plain, kv.create_revision, kv.mod_revision, kv.lease)

    async def get(self, key: str) -> tuple[KV | None, int]:
        kv, rev = await self.inner.get(key)
        return (self._open(kv) if kv is not None else None), rev

    async def range(self, prefix: str) -> tuple[list[KV], int]:
        kvs, rev = await self.inner.range(prefix)
        return [self._open(kv) for kv in kvs], rev

    async def txn(self, compares: Sequence[Compare], ops: Sequence[Op],
                  on_written: Written | None = None) -> tuple[int, list[Event]]:
        sealed: list[Op] = [Put(op.key, self._seal(op.key, op.value), op.lease) if isinstance(op, Put) else op
                            for op in ops]
        rev, events = await self.inner.txn(compares, sealed, on_written)
        plain = {op.key: op.value for op in ops if isinstance(op, Put)}  # what was written: no decrypting it back
        return rev, [Event(e.type, KV(e.kv.key, plain[e.kv.key], e.kv.create_revision, e.kv.mod_revision,
                                      e.kv.lease) if e.type == "put" else e.kv, e.revision) for e in events]

    async def watch(self, prefix: str, after_revision: int) -> AsyncIterator[Event]:
        async for e in self.inner.watch(prefix, after_revision):
            yield Event(e.type, self._open(e.kv) if e.type == "put" else e.kv, e.revision)

    async def lease_grant(self, ttl: float) -> int:
        return await self.inner.lease_grant(ttl)

    async def lease_keepalive(self, lease: int) -> None:
        await self.inner.lease_keepalive(lease)

    async def lease_revoke(self, lease: int) -> None:
        await self.inner.lease_revoke(lease)

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)

    async def close(self) -> None:
        await self.inner.close()

