"""SQLite backend (stdlib sqlite3, WAL): the embedded default for a single manager.

Two tables: ``kv`` holds the current value of every key with its create and mod revisions, and
``log`` holds one row per change, keyed by revision, which watch replays and compaction trims. One
transaction of the store is one SQLite transaction, so a crash never leaves half a write. Leases
live in memory: after a restart, keys whose lease is gone are deleted (their owner has to re-attach).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shoal.store.backend import KV, Delete, Event
from shoal.store.embedded import EmbeddedBackend

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, create_rev INTEGER NOT NULL,
    mod_rev INTEGER NOT NULL, lease INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER NOT NULL, key TEXT NOT NULL, deleted INTEGER NOT NULL, value BLOB NOT NULL,
    create_rev INTEGER NOT NULL, lease INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS log_rev ON log(rev);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Keep this many revisions of history for watchers that fall behind, and at most about this many
# rows (one transaction can write thousands: without the cap, a million tasks left 7 GB of history);
# older rows are compacted, and a watcher further behind resyncs.
HISTORY_REVISIONS = 50_000
HISTORY_ROWS = 100_000


class SQLiteBackend(EmbeddedBackend):
    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back to 64 MB after checkpoints
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE name='revision'").fetchone()
        self.revision = row[0] if row else 0
        row = self.db.execute("SELECT value FROM meta WHERE name='compact'").fetchone()
        self.compact_revision = row[0] if row else 0
        self._log_rows = self.db.execute("SELECT COUNT(*) FROM log").fetchone()[0]
        leased = [r[0] for r in self.db.execute("SELECT key FROM kv WHERE lease != 0")]
        if leased:
            self.txn_now([], [Delete(k) for k in leased])

    def _get(self, key: str) -> KV | None:
        row = self.db.execute(
            "SELECT key, value, create_rev, mod_rev, lease FROM kv WHERE key = ?", (key,)
        ).fetchone()
        return KV(*row) if row else None

    def _range(self, prefix: str) -> list[KV]:
        rows = self.db.execute(
            "SELECT key, value, create_rev, mod_rev, lease FROM kv WHERE key >= ? AND key < ? ORDER BY key",
            (prefix, prefix + "\U0010ffff"),
        )
        return [KV(*r) for r in rows]

    def _persist(self, revision: int, events: list[Event]) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            final = {e.kv.key: e for e in events}  # a key written twice in one transaction: its last state
            puts = [(e.kv.key, e.kv.value, e.kv.create_revision, revision, e.kv.lease) for e in final.values()
                    if e.type == "put"]
            if puts:
                db.executemany("INSERT OR REPLACE INTO kv (key, value, create_rev, mod_rev, lease) VALUES (?,?,?,?,?)",
                               puts)
            deletes = [(e.kv.key,) for e in final.values() if e.type != "put"]
            if deletes:
                db.executemany("DELETE FROM kv WHERE key = ?", deletes)
            db.executemany(
                "INSERT INTO log (rev, key, deleted, value, create_rev, lease) VALUES (?,?,?,?,?,?)",
                [(revision, e.kv.key, int(e.type == "delete"), e.kv.value, e.kv.create_revision, e.kv.lease)
                 for e in events])
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('revision', ?)", (revision,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._log_rows += len(events)
        if revision % 5000 == 0 and revision > HISTORY_REVISIONS:
            self._compact(revision - HISTORY_REVISIONS)
            self.compact_revision = revision - HISTORY_REVISIONS
        if self._log_rows > 2 * HISTORY_ROWS:  # keep the newest HISTORY_ROWS rows (whole revisions)
            row = self.db.execute("SELECT rev FROM log ORDER BY rev DESC LIMIT 1 OFFSET ?", (HISTORY_ROWS,)).fetchone()
            if row is not None and row[0] > self.compact_revision:
                self._compact(row[0] + 1)
                self.compact_revision = row[0] + 1
            self._log_rows = self.db.execute("SELECT COUNT(*) FROM log").fetchone()[0]

    def _history(self, prefix: str, after_revision: int) -> list[Event]:
        rows = self.db.execute(
            "SELECT rev, key, deleted, value, create_rev, lease FROM log WHERE rev > ? AND key >= ? AND key < ?"
            " ORDER BY rev, rowid",
            (after_revision, prefix, prefix + "\U0010ffff"),
        )
        return [
            Event("delete" if d else "put", KV(k, v, c, rev, lease), rev) for rev, k, d, v, c, lease in rows
        ]

    def _compact(self, revision: int) -> None:
        self.db.execute("DELETE FROM log WHERE rev < ?", (revision,))
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compact', ?)", (revision,))

    def _keys_with_lease(self, lease: int) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT key FROM kv WHERE lease = ?", (lease,))]

    async def close(self) -> None:
        await super().close()
        self.db.close()
