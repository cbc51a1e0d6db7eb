"""SQLite acknowledges a write only once its WAL is fsynced (group commit): the sync runs off the event
loop, one sync covers the transactions written before it, and nothing (answer, failed compare, read,
watch event) is told of a revision before it is durable. Observed through the seam ``os.fdatasync``."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from shoal.api.types import Service, ServiceSpec
from shoal.store import sqlite
from shoal.store.backend import Compare, CompareFailed, Put
from shoal.store.objects import Change, ObjectStore


class GatedSync:
    """Stands in for ``os.fdatasync``: records the thread and descriptor, and blocks until opened."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []  # (thread id, fd)
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.real = os.fdatasync

    def __call__(self, fd: int) -> None:
        self.calls.append((threading.get_ident(), fd))
        self.entered.set()
        self.gate.wait(30)
        self.real(fd)


async def test_commit_waits_for_the_wal_fsync_off_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sync = GatedSync()
    monkeypatch.setattr(sqlite.os, "fdatasync", sync)
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    assert b.durable
    loop = asyncio.get_running_loop()
    watched: list[int] = []

    async def watch() -> None:
        async for ev in b.watch("/k/", 0):
            watched.append(ev.revision)

    watcher = loop.create_task(watch())
    try:
        first = loop.create_task(b.txn([], [Put("/k/a", b"1")]))
        await loop.run_in_executor(None, sync.entered.wait, 30)  # the flusher is inside its fsync
        # Written to the WAL, not yet durable: neither acknowledged nor told to anyone.
        assert b.revision == 1 and b.synced_revision == 0
        second = loop.create_task(b.txn([], [Put("/k/b", b"2")]))
        failed = loop.create_task(b.txn([Compare("/k/a", 0)], [Put("/k/a", b"x")]))
        read = loop.create_task(b.get("/k/a"))
        for _ in range(5):
            await asyncio.sleep(0)  # let them all run up to their wait
        assert b.revision == 2
        assert not first.done() and not second.done() and not failed.done() and not read.done()
        assert watched == []
        sync.gate.set()
        assert await first == (1, first.result()[1])
        assert (await second)[0] == 2
        with pytest.raises(CompareFailed):
            await failed
        kv, rev = await read
        assert kv is not None and kv.value == b"1" and rev == 2
        assert b.synced_revision == 2
        # Off the loop, on SQLite's own WAL file; two syncs at most for the three writes.
        assert {tid for tid, _ in sync.calls} and threading.get_ident() not in {tid for tid, _ in sync.calls}
        fd = sync.calls[0][1]
        assert os.fstat(fd).st_ino == os.stat(str(tmp_path / "s.db") + "-wal").st_ino
        assert 1 <= len(sync.calls) <= 2
        while len(watched) < 2:
            await asyncio.sleep(0)
        assert watched == [1, 2]
    finally:
        sync.gate.set()
        watcher.cancel()
        await b.close()


async def test_many_concurrent_commits_share_fsyncs(tmp_path: Path) -> None:
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        revs = await asyncio.gather(*(b.txn([], [Put(f"/k/{i}", b"v")]) for i in range(200)))
        assert sorted(r for r, _ in revs) == list(range(1, 201))
        assert b.synced_revision == 200
        assert 1 <= b.syncs < 200  # grouped: one fsync covered many commits
    finally:
        await b.close()
    reopened = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        kvs, rev = await reopened.range("/k/")
        assert len(kvs) == 200 and rev == 200
    finally:
        await reopened.close()


async def test_not_durable_mode_is_the_earlier_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(sqlite.os, "fdatasync", calls.append)
    b = sqlite.SQLiteBackend(tmp_path / "s.db", durable=False)
    try:
        assert (await b.txn([], [Put("/k/a", b"1")]))[0] == 1
        assert calls == [] and b.syncs == 0
        assert b.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert b.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == sqlite.CHECKPOINT_BYTES // 4096
    finally:
        await b.close()


async def test_checkpoints_run_in_the_flusher_not_on_the_loop(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "CHECKPOINT_BYTES", 64 << 10)
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    try:
        assert b.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # none on the loop
        for i in range(50):
            await b.txn([], [Put(f"/k/{i}", b"x" * 4096)])
        assert b._checkpointer is not None
        kvs, _ = await b.range("/k/")
        assert len(kvs) == 50
    finally:
        await b.close()


async def test_object_store_caches_at_once_and_acknowledges_once_durable(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sync = GatedSync()
    monkeypatch.setattr(sqlite.os, "fdatasync", sync)
    b = sqlite.SQLiteBackend(tmp_path / "s.db")
    store = ObjectStore(b)
    await store.load()
    told: list[Change] = []
    store.subscribe(told.append)
    loop = asyncio.get_running_loop()
    try:
        commit = loop.create_task(store.commit(creates=[Service(ID="s1", Spec=ServiceSpec(Name="web"))]))
        await loop.run_in_executor(None, sync.entered.wait, 30)
        # Written: in the cache (the next commit compares against it), not yet acknowledged nor announced.
        cached = store.get(Service, "s1")
        assert cached is not None and cached.Version.Index == 1
        assert not commit.done() and told == []
        sync.gate.set()
        assert await commit == 1
        assert [(c.kind, c.new.ID) for c in told] == [("services", "s1")]
    finally:
        sync.gate.set()
        await store.close()
        await b.close()
