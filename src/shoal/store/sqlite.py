"""SQLite backend (stdlib sqlite3, WAL): the embedded default for a single manager.

Laid out as etcd's MVCC store is: one table, ``mvcc``, holds one row per change (a put with its
value, or a delete's tombstone), keyed by its revision and its place in the transaction, so a write
only ever appends. An index in memory maps every live key to its newest row, which is all a compare
or a put needs to read; values are read from SQLite only for ``get``, ``range`` and watch replay.
One transaction of the store is one SQLite transaction, so a crash never leaves half a write.
Compaction deletes the rows that a newer row replaced (or a delete ended) before the compacted
revision; the newest row of every live key stays whatever its age. Leases live in memory: after a
restart, keys whose lease is gone are deleted (their owner has to re-attach).

Durable acknowledgement (the default, ``durable=True``) is group commit: a transaction is written to
the WAL on the event loop as before (``synchronous=NORMAL``: no fsync there), then waits for a flusher
that ``fdatasync``s the WAL in a thread of its own; one fsync covers every transaction written before it
started, and the transactions written meanwhile wait for the next one. That is ``synchronous=FULL``
(NORMAL plus a sync of the WAL after each commit), shared and off the loop. Nothing is told before its
revision is durable: the answer to a transaction or a failed compare, a read, a watch event (history
replays only durable revisions). Checkpoints run in that thread too, on a connection of their own,
when the WAL passes 32 MB (SQLite's automatic checkpoint, with its fsyncs, would run on the loop).
``durable=False`` is the earlier behaviour (safe against a crash of the process, not of the machine),
kept for the benchmark that measures the difference (``bench/store_commit.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from bisect import bisect_left
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shoal import metrics
from shoal.store.backend import KV, Delete, Event, StoreError
from shoal.store.embedded import EmbeddedBackend

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mvcc (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL, value BLOB NOT NULL,
    create_rev INTEGER NOT NULL, lease INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# A row's id is its revision shifted left by SUB_BITS, plus its place in the transaction.
SUB_BITS = 24
MAX_OPS = 1 << SUB_BITS
_ROW = (1 << 64) - 1

# Keep this many revisions of history for watchers that fall behind, and at most about this many
# replaced rows (one transaction can write thousands: without the cap, a million tasks left 7 GB of
# history); older rows are compacted, and a watcher further behind resyncs.
HISTORY_REVISIONS = 50_000
HISTORY_ROWS = 100_000

# Checkpoint (copy the WAL into the database, with its fsyncs) once the WAL is this large.
CHECKPOINT_BYTES = 32 << 20


def _rev(row_id: int) -> int:
    return row_id >> SUB_BITS


class SQLiteBackend(EmbeddedBackend):
    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        super().__init__()
        self.path = str(path)
        self.durable = durable
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # durable: + a sync of the WAL per group (_flush)
        self.db.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back to 64 MB after checkpoints
        # Checkpoint (and fsync) every 32 MB, not every 4; when durable, in the flusher's thread instead.
        self.db.execute(f"PRAGMA wal_autocheckpoint={0 if durable else CHECKPOINT_BYTES // 4096}")
        self.db.executescript(_SCHEMA)
        # The group commit: the WAL (the same file SQLite writes: fdatasync flushes the file, whichever
        # descriptor wrote it), the thread that syncs it, revisions written but not yet durable.
        self._wal_fd = os.open(self.path + "-wal", os.O_RDWR | os.O_CLOEXEC) if durable else -1
        self._io: ThreadPoolExecutor | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._unpublished: deque[tuple[int, list[Event]]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self.synced_revision = 0
        self.syncs = 0  # fsyncs of the WAL done (the benchmark divides commits by it)
        self._migrate()
        # key -> its newest row: (create revision << 64) | row id, one int (a million keys are 100 MB less
        # than with tuples); lease -> its keys
        self._index: dict[str, int] = {}
        self._leased: dict[int, set[str]] = {}
        self._lease_of: dict[str, int] = {}
        self._garbage: list[int] = []  # ids of rows a newer row replaced, and of tombstones
        self._garbage_limit = 2 * HISTORY_ROWS
        row = self.db.execute("SELECT value FROM meta WHERE name='compact'").fetchone()
        self.compact_revision = row[0] if row else 0
        last = 0
        for row_id, key, deleted, create_rev, lease in self.db.execute(
                "SELECT id, key, deleted, create_rev, lease FROM mvcc ORDER BY id"):
            self._index_row(row_id, key, bool(deleted), create_rev, lease)
            last = row_id
        self.revision = _rev(last)
        self.synced_revision = self.revision
        if self._lease_of:
            self.txn_now([], [Delete(k) for k in list(self._lease_of)])
            if durable:  # once, when opened (no watcher yet, nothing else running)
                self._sync()
                self.synced_revision = self.revision
                self._unpublished.clear()

    def _migrate(self) -> None:
        """Move a store written by the earlier layout (a ``kv`` table and a ``log``) into ``mvcc``."""
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE name='kv'").fetchone() is None:
            return
        self.db.execute("BEGIN IMMEDIATE")
        rows = self.db.execute("SELECT key, value, create_rev, mod_rev, lease FROM kv ORDER BY mod_rev, key")
        subs: dict[int, int] = {}
        out = []
        for key, value, create_rev, mod_rev, lease in rows:
            sub = subs[mod_rev] = subs.get(mod_rev, -1) + 1
            out.append(((mod_rev << SUB_BITS) | sub, key, value, create_rev, lease))
        self.db.executemany("INSERT INTO mvcc (id, key, deleted, value, create_rev, lease) VALUES (?,?,0,?,?,?)", out)
        row = self.db.execute("SELECT value FROM meta WHERE name='revision'").fetchone()
        if row is not None and row[0] > max(subs, default=0):  # the newest revision was a delete: keep its number
            self.db.execute("INSERT INTO mvcc (id, key, deleted, value, create_rev) VALUES (?, '', 1, x'', 0)",
                            (row[0] << SUB_BITS,))
        if row is not None:
            self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compact', ?)", (row[0],))
        self.db.execute("DROP TABLE kv")
        self.db.execute("DROP TABLE IF EXISTS log")
        self.db.execute("COMMIT")

    def _index_row(self, row_id: int, key: str, deleted: bool, create_rev: int, lease: int) -> None:
        prev = self._index.get(key)
        if prev is not None:
            self._garbage.append(prev & _ROW)
        old_lease = self._lease_of.pop(key, 0)
        if old_lease:
            keys = self._leased[old_lease]
            keys.discard(key)
            if not keys:
                del self._leased[old_lease]
        if deleted:
            self._index.pop(key, None)
            self._garbage.append(row_id)
            return
        self._index[key] = (create_rev << 64) | row_id
        if lease:
            self._lease_of[key] = lease
            self._leased.setdefault(lease, set()).add(key)

    def _kv(self, key: str, cur: int, value: bytes) -> KV:
        return KV(key, value, cur >> 64, _rev(cur & _ROW), self._lease_of.get(key, 0))

    def _get(self, key: str) -> KV | None:
        cur = self._index.get(key)
        if cur is None:
            return None
        row = self.db.execute("SELECT value FROM mvcc WHERE id = ?", (cur & _ROW,)).fetchone()
        return self._kv(key, cur, row[0])

    def _meta(self, key: str) -> KV | None:
        cur = self._index.get(key)
        return None if cur is None else self._kv(key, cur, b"")

    def _range(self, prefix: str) -> list[KV]:
        out = []
        for row_id, key, value in self.db.execute(
                "SELECT id, key, value FROM mvcc WHERE key >= ? AND key < ? AND deleted = 0 ORDER BY key",
                (prefix, prefix + "\U0010ffff")):
            cur = self._index.get(key)
            if cur is not None and cur & _ROW == row_id:
                out.append(self._kv(key, cur, value))
        return out

    def _persist(self, revision: int, events: list[Event]) -> None:
        if len(events) >= MAX_OPS:
            raise ValueError(f"a transaction holds at most {MAX_OPS - 1} operations")
        base = revision << SUB_BITS
        rows = [(base | i, e.kv.key, int(e.type == "delete"), e.kv.value, e.kv.create_revision, e.kv.lease)
                for i, e in enumerate(events)]
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO mvcc (id, key, deleted, value, create_rev, lease) VALUES (?,?,?,?,?,?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for row_id, key, deleted, _, create_rev, lease in rows:
            self._index_row(row_id, key, bool(deleted), create_rev, lease)
        if revision % 5000 == 0 and revision > HISTORY_REVISIONS:
            self._compact(revision - HISTORY_REVISIONS)
        if len(self._garbage) > self._garbage_limit:  # keep about the newest HISTORY_ROWS replaced rows
            self._garbage.sort()
            # Whole revisions go, up to the one the newest HISTORY_ROWS start in (one transaction can
            # hold more than that), never the one being written.
            self._compact(min(_rev(self._garbage[-HISTORY_ROWS]) + 1, revision))
            # What could not go (rows of this very revision) does not make every next commit try again.
            self._garbage_limit = max(2 * HISTORY_ROWS, 2 * len(self._garbage))

    def _history(self, prefix: str, after_revision: int) -> list[Event]:
        # Durable revisions only: the newer ones are published live once their fsync is done.
        rows = self.db.execute(
            "SELECT id, key, deleted, value, create_rev, lease FROM mvcc WHERE id >= ? AND id < ? AND key >= ?"
            " AND key < ? ORDER BY id",
            ((after_revision + 1) << SUB_BITS, (self.synced_revision + 1) << SUB_BITS, prefix,
             prefix + "\U0010ffff"),
        )
        return [Event("delete" if d else "put", KV(k, v, c, _rev(i), lease), _rev(i))
                for i, k, d, v, c, lease in rows]

    def _compact(self, revision: int) -> None:
        """Forget the history before ``revision``: delete the replaced rows and tombstones older than it.

        Rows older than an earlier compaction that were replaced since go too (a task written once at
        its creation and again long after): nobody can ask for them."""
        revision = max(revision, self.compact_revision)
        self._garbage.sort()
        cut = bisect_left(self._garbage, revision << SUB_BITS)
        doomed, self._garbage = self._garbage[:cut], self._garbage[cut:]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("DELETE FROM mvcc WHERE id = ?", ((i,) for i in doomed))
            if revision > self.compact_revision:
                self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compact', ?)", (revision,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.compact_revision = revision
        metrics.compacted("sqlite")

    def _keys_with_lease(self, lease: int) -> list[str]:
        return sorted(self._leased.get(lease, ()))

    # -- group commit

    def _committed(self, revision: int, events: list[Event]) -> None:
        if not self.durable:  # acknowledged once written, as before
            self.synced_revision = revision
            self.hub.publish(events)
            return
        self._unpublished.append((revision, events))

    async def _durable(self, revision: int) -> None:
        if self._failed is not None:
            raise StoreError(f"the store could not sync its log: {self._failed}")
        if revision <= self.synced_revision:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append((revision, fut))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        await fut

    async def _flush(self) -> None:
        """Sync the WAL until every written revision is durable; each sync covers all the
        revisions written before it started, and releases their waiters and events in order."""
        loop = asyncio.get_running_loop()
        if self._io is None:
            self._io = ThreadPoolExecutor(1, thread_name_prefix="sqlite-sync")
        try:
            while self.synced_revision < self.revision:
                target = self.revision
                await loop.run_in_executor(self._io, self._sync)
                self.synced_revision = target
                while self._unpublished and self._unpublished[0][0] <= target:
                    self.hub.publish(self._unpublished.popleft()[1])
                while self._waiters and self._waiters[0][0] <= target:
                    fut = self._waiters.popleft()[1]
                    if not fut.done():
                        fut.set_result(None)
        except Exception as e:  # an fsync that failed: what it covered may be lost, and so may anything later
            self._failed = e
            while self._waiters:
                fut = self._waiters.popleft()[1]
                if not fut.done():
                    fut.set_exception(StoreError(f"the store could not sync its log: {e}"))
        finally:
            self._flusher = None

    def _sync(self) -> None:
        """In the flusher's thread: make the WAL durable, and checkpoint it when it has grown."""
        os.fdatasync(self._wal_fd)
        self.syncs += 1
        if os.fstat(self._wal_fd).st_size >= CHECKPOINT_BYTES:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._checkpointer.execute("PRAGMA synchronous=NORMAL")
            # PASSIVE: copies what no reader still needs, never waits for the writer (the loop).
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)
        await super().close()
        if self._io is not None:
            self._io.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._wal_fd >= 0:
            os.close(self._wal_fd)
            self._wal_fd = -1
        self.db.close()
