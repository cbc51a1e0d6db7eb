"""SQLite keeps a bounded history: big transactions do not let the log grow without end (a million
tasks once left 7 GB of it), and a watcher from before the kept history is told to resync."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.store import sqlite
from shoal.store.backend import KV, Compacted, Event, Put


async def test_history_is_capped_by_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "HISTORY_ROWS", 50)
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        for i in range(20):  # 20 revisions, each writing the same 30 keys again
            await b.txn([], [Put(f"/k/{j}", b"v%d" % i) for j in range(30)])
        rows = b.db.execute("SELECT COUNT(*) FROM mvcc").fetchone()[0]
        assert rows <= 2 * 50 + 30 + 30  # the replaced rows kept, at most one transaction over, and the live ones
        assert b.compact_revision > 1
        with pytest.raises(Compacted):
            async for _ in b.watch("/k/", 1):
                break
        kvs, _ = await b.range("/k/")
        assert [kv.value for kv in kvs] == [b"v19"] * 30  # the current state is all there
        assert {kv.create_revision for kv in kvs} == {1}
        events = [ev async for ev in _take(b.watch("/k/", b.revision - 1), 30)]
        assert len(events) == 30  # the newest revision is still in the history
    finally:
        await b.close()


async def _take(it: AsyncIterator[Event], n: int) -> AsyncIterator[Event]:
    async for ev in it:
        yield ev
        n -= 1
        if n == 0:
            return


async def test_a_live_key_outlives_any_compaction(tmp_path: Path) -> None:
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        await b.txn([], [Put("/old", b"kept")])
        for i in range(10):
            await b.txn([], [Put("/busy", b"%d" % i)])
        await b.compact(b.revision)
        assert [(kv.key, kv.value, kv.mod_revision) for kv in (await b.range("/"))[0]] == [
            ("/busy", b"9", 11), ("/old", b"kept", 1)]
        assert b.db.execute("SELECT COUNT(*) FROM mvcc").fetchone()[0] == 2
    finally:
        await b.close()
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        assert (await b.get("/old"))[0] == KV("/old", b"kept", 1, 1)
        assert b.revision == 11
    finally:
        await b.close()


def test_a_store_in_the_earlier_layout_is_moved_over(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "s.db")
    db.executescript("""
        CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, create_rev INTEGER NOT NULL,
                         mod_rev INTEGER NOT NULL, lease INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE log (rev INTEGER NOT NULL, key TEXT NOT NULL, deleted INTEGER NOT NULL, value BLOB NOT NULL,
                          create_rev INTEGER NOT NULL, lease INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO kv VALUES ('/a', x'31', 1, 3, 0), ('/b', x'32', 2, 3, 0), ('/c', x'33', 4, 4, 0);
        INSERT INTO meta VALUES ('revision', 5);
    """)
    db.commit()
    db.close()
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        assert b.revision == 5  # the last revision (a delete) keeps its number
        assert b.compact_revision == 5
        assert b._range("/") == [KV("/a", b"1", 1, 3), KV("/b", b"2", 2, 3), KV("/c", b"3", 4, 4)]
        assert b.db.execute("SELECT name FROM sqlite_master WHERE name IN ('kv', 'log')").fetchall() == []
    finally:
        b.db.close()


async def test_rows_replaced_after_a_compaction_are_trimmed_too(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A key written before a compaction and again after it leaves a row no watcher can ask for: the
    replaced-row count must come back down, not stay over the cap (it once made every commit sort it)."""
    monkeypatch.setattr(sqlite, "HISTORY_ROWS", 20)
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        await b.txn([], [Put(f"/old/{j}", b"v0") for j in range(100)])
        await b.txn([], [Put("/other", b"x")])
        await b.compact(b.revision)
        for j in range(100):  # each replaces a row from before the compaction
            await b.txn([], [Put(f"/old/{j}", b"v1")])
            assert len(b._garbage) <= 2 * 20 + 1
        assert b.db.execute("SELECT COUNT(*) FROM mvcc").fetchone()[0] <= 101 + 2 * 20 + 1
        assert [kv.value for kv in (await b.range("/old/"))[0]] == [b"v1"] * 100
    finally:
        await b.close()


async def test_one_huge_transaction_does_not_make_every_commit_compact(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "HISTORY_ROWS", 10)
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        await b.txn([], [Put(f"/big/{j}", b"v0") for j in range(100)])  # one revision of 100 rows...
        await b.txn([], [Put(f"/big/{j}", b"v1") for j in range(100)])  # ...all replaced at once
        assert len(b._garbage) <= 2 * 10 + 100
        compactions = []
        monkeypatch.setattr(b, "_compact", lambda rev: compactions.append(rev))
        for i in range(5):
            await b.txn([], [Put("/small", b"%d" % i)])
        assert len(compactions) <= 1
    finally:
        await b.close()
