"""SQLite keeps a bounded history: big transactions do not let the log grow without end (a million
tasks once left 7 GB of it), and a watcher from before the kept history is told to resync."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.store import sqlite
from shoal.store.backend import Compacted, Event, Put


async def test_history_is_capped_by_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "HISTORY_ROWS", 50)
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        for i in range(20):  # 20 revisions of 30 rows each
            await b.txn([], [Put(f"/k/{i}/{j}", b"v") for j in range(30)])
        rows = b.db.execute("SELECT COUNT(*) FROM log").fetchone()[0]
        assert rows <= 2 * 50 + 30
        assert b.compact_revision > 1
        with pytest.raises(Compacted):
            async for _ in b.watch("/k/", 1):
                break
        kvs, _ = await b.range("/k/")
        assert len(kvs) == 600  # the current state is all there
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
