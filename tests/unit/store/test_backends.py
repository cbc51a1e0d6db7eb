"""The Backend contract, run against every backend (memory, SQLite, and etcd when the ``etcd`` binary is
installed): revisions, CAS transactions, watch, compaction and leases; and SQLite's durability across
close and reopen.

etcd shares one server per module and its revision counter never restarts, so every test wipes the
keyspace first and counts revisions from ``rv(0)``, the revision it starts at: 0 for the embedded
backends (so their assertions are exact), the head after the wipe for etcd."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.store.backend import KV, Compacted, Compare, CompareFailed, Delete, Event, Put, StoreError
from shoal.store.etcd import EtcdBackend
from shoal.store.etcd_server import EtcdServer, etcd_binary
from shoal.store.memory import MemoryBackend
from shoal.store.sqlite import SQLiteBackend

AnyBackend = MemoryBackend | SQLiteBackend | EtcdBackend
Rv = Callable[[int], int]
Factory = Callable[[Path], MemoryBackend | SQLiteBackend]
FACTORIES: dict[str, Factory] = {
    "memory": lambda _p: MemoryBackend(),
    "sqlite": lambda p: SQLiteBackend(p / "s.db"),
}
NO_ETCD = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed (apt-get install etcd-server)")
KINDS = [*sorted(FACTORIES), pytest.param("etcd", marks=NO_ETCD)]


@contextlib.contextmanager
def etcd_member() -> Iterator[EtcdServer]:
    """One etcd member on free loopback ports in a temp dir; stopped (by PID) and removed after.

    Fast raft timings keep startup short and make etcd's minimum lease TTL one second."""
    d = tempfile.mkdtemp(prefix="shoal-etcd-")
    try:
        server = EtcdServer(Path(d) / "data", heartbeat_ms=10, election_ms=100)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def etcd_server() -> Iterator[EtcdServer]:
    with etcd_member() as server:
        yield server


async def open_etcd(server: EtcdServer) -> EtcdBackend:
    """An EtcdBackend on an emptied keyspace (the server is shared by the module's tests)."""
    b = EtcdBackend(server.endpoint)
    await b.client.delete_range(b"\0", b"\0")
    return b


async def open_backend(kind: str, path: Path, request: pytest.FixtureRequest) -> AnyBackend:
    if kind == "etcd":
        return await open_etcd(request.getfixturevalue("etcd_server"))
    return FACTORIES[kind](path)


@pytest.fixture(params=KINDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AnyBackend]:
    b = await open_backend(request.param, tmp_path, request)
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
async def rv(backend: AnyBackend) -> Rv:
    """``rv(n)``: the n-th revision of this test, counting from the revision the backend started at."""
    _, base = await backend.get("/")
    if not isinstance(backend, EtcdBackend):
        assert base == 0
    return lambda n: base + n


async def create(b: AnyBackend, key: str, value: bytes = b"v", lease: int = 0) -> int:
    rev, _ = await b.txn([Compare(key, 0)], [Put(key, value, lease)])
    return rev


async def take(it: AsyncIterator[Event], n: int, timeout: float = 1.0) -> list[Event]:
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(anext(it), timeout))
    return out


async def nothing_more(it: AsyncIterator[Event]) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(anext(it), 0.05)


# ---------------------------------------------------------------- reads and revisions


async def test_empty_store_is_at_revision_zero(backend: AnyBackend, rv: Rv) -> None:
    assert await backend.get("/a") == (None, rv(0))
    assert await backend.range("/") == ([], rv(0))


async def test_get_and_range_return_the_current_revision(backend: AnyBackend, rv: Rv) -> None:
    r1 = await create(backend, "/a/1", b"one")
    r2 = await create(backend, "/a/2", b"two")
    r3 = await create(backend, "/b/1", b"other")
    assert (r1, r2, r3) == (rv(1), rv(2), rv(3))

    kv, rev = await backend.get("/a/1")
    assert rev == rv(3)  # the store's revision, not the key's
    assert kv == KV("/a/1", b"one", create_revision=rv(1), mod_revision=rv(1), lease=0)

    kvs, rev = await backend.range("/a/")
    assert rev == rv(3)
    assert [(k.key, k.value, k.mod_revision) for k in kvs] == [("/a/1", b"one", rv(1)), ("/a/2", b"two", rv(2))]

    missing, rev = await backend.get("/nope")
    assert missing is None and rev == rv(3)


async def test_range_is_sorted_and_filters_by_prefix(backend: AnyBackend) -> None:
    for k in ["/x/c", "/x/a", "/xy/a", "/w/z", "/x/b"]:
        await create(backend, k)
    kvs, _ = await backend.range("/x/")
    assert [k.key for k in kvs] == ["/x/a", "/x/b", "/x/c"]
    kvs, _ = await backend.range("/x")
    assert [k.key for k in kvs] == ["/x/a", "/x/b", "/x/c", "/xy/a"]
    kvs, _ = await backend.range("")
    assert len(kvs) == 5


# ---------------------------------------------------------------- transactions


async def test_create_with_compare_zero_fails_when_the_key_exists(backend: AnyBackend, rv: Rv) -> None:
    assert await create(backend, "/k", b"first") == rv(1)
    with pytest.raises(CompareFailed):
        await create(backend, "/k", b"second")
    kv, rev = await backend.get("/k")
    assert rev == rv(1)
    assert kv is not None and kv.value == b"first"


async def test_cas_on_mod_revision(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/k", b"v1")
    await create(backend, "/other")
    rev, events = await backend.txn([Compare("/k", rv(1))], [Put("/k", b"v2")])
    assert rev == rv(3)
    assert events == [Event("put", KV("/k", b"v2", rv(1), rv(3)), rv(3))]
    kv, _ = await backend.get("/k")
    assert kv == KV("/k", b"v2", create_revision=rv(1), mod_revision=rv(3))

    # A writer that read the key at revision 1 lost: nothing changes.
    with pytest.raises(CompareFailed) as ei:
        await backend.txn([Compare("/other", rv(2)), Compare("/k", rv(1))], [Put("/k", b"stale")])
    assert str(ei.value) == "/k"  # the key whose compare failed
    kv, rev = await backend.get("/k")
    assert rev == rv(3) and kv is not None and kv.value == b"v2"

    # A compare on a key that does not exist holds only for 0.
    with pytest.raises(CompareFailed):
        await backend.txn([Compare("/missing", rv(3))], [Put("/missing", b"x")])
    assert (await backend.get("/missing"))[0] is None


async def test_one_revision_per_transaction(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/old")
    rev, events = await backend.txn(
        [Compare("/a", 0), Compare("/b", 0), Compare("/old", rv(1))],
        [Put("/a", b"a"), Put("/b", b"b"), Delete("/old")],
    )
    assert rev == rv(2)
    assert [(e.type, e.kv.key, e.revision) for e in events] == [
        ("put", "/a", rv(2)), ("put", "/b", rv(2)), ("delete", "/old", rv(2))
    ]
    kvs, rev = await backend.range("/")
    assert rev == rv(2)
    assert {k.key: k.mod_revision for k in kvs} == {"/a": rv(2), "/b": rv(2)}
    assert await create(backend, "/c") == rv(3)


async def test_a_failed_compare_writes_none_of_the_ops(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/taken")
    with pytest.raises(CompareFailed):
        await backend.txn([Compare("/new", 0), Compare("/taken", 0)], [Put("/new", b"n"), Put("/taken", b"t")])
    assert (await backend.get("/new")) == (None, rv(1))
    kv, _ = await backend.get("/taken")
    assert kv is not None and kv.value == b"v"


async def test_ops_on_one_key_in_one_transaction(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/k", b"v1")
    rev, events = await backend.txn([], [Put("/k", b"v2"), Put("/k", b"v3")])
    if isinstance(backend, EtcdBackend):
        # etcd refuses two ops on one key in a txn: they collapse to the last, the only event.
        assert rev == rv(2) and [e.kv.value for e in events] == [b"v3"]
    else:
        assert rev == rv(2) and [e.kv.value for e in events] == [b"v2", b"v3"]
    kv, _ = await backend.get("/k")
    assert kv == KV("/k", b"v3", create_revision=rv(1), mod_revision=rv(2))

    rev, events = await backend.txn([], [Put("/n", b"x"), Delete("/n")])
    if isinstance(backend, EtcdBackend):
        # ... so a put then delete of a missing key is a delete of a missing key: no revision.
        assert (rev, events) == (rv(2), [])
        assert (await backend.get("/n")) == (None, rv(2))
    else:
        assert rev == rv(3) and [e.type for e in events] == ["put", "delete"]
        assert (await backend.get("/n")) == (None, rv(3))


async def test_delete(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/k", b"v")
    await create(backend, "/j")
    rev, events = await backend.txn([Compare("/k", rv(1))], [Delete("/k")])
    assert rev == rv(3)
    assert events == [Event("delete", KV("/k", b"", create_revision=rv(1), mod_revision=rv(3)), rv(3))]
    assert (await backend.get("/k")) == (None, rv(3))
    assert [k.key for k in (await backend.range("/"))[0]] == ["/j"]
    # The key can be created again, from scratch.
    assert await create(backend, "/k", b"again") == rv(4)
    kv, _ = await backend.get("/k")
    assert kv == KV("/k", b"again", create_revision=rv(4), mod_revision=rv(4))


async def test_deleting_a_missing_key_is_not_a_new_revision(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/k")
    rev, events = await backend.txn([], [Delete("/nothing")])
    assert (rev, events) == (rv(1), [])
    assert await create(backend, "/j") == rv(2)


# ---------------------------------------------------------------- watch


async def test_watch_replays_history_then_goes_live(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/w/a")  # 1
    await create(backend, "/w/b")  # 2
    await create(backend, "/other/x")  # 3
    await backend.txn([], [Put("/w/a", b"a2")])  # 4
    w = backend.watch("/w/", rv(1))
    try:
        replay = await take(w, 2)
        assert [(e.type, e.kv.key, e.revision) for e in replay] == [("put", "/w/b", rv(2)), ("put", "/w/a", rv(4))]
        assert replay[1].kv.value == b"a2" and replay[1].kv.create_revision == rv(1)

        await backend.txn([], [Put("/other/y", b"")])  # 5: another prefix
        await backend.txn([Compare("/w/b", rv(2))], [Delete("/w/b")])  # 6
        await create(backend, "/w/c")  # 7
        live = await take(w, 2)
        assert [(e.type, e.kv.key, e.revision) for e in live] == [("delete", "/w/b", rv(6)), ("put", "/w/c", rv(7))]
        assert live[0].kv == KV("/w/b", b"", create_revision=rv(2), mod_revision=rv(6))
        await nothing_more(w)
    finally:
        await w.aclose()


async def test_watch_from_the_current_revision_sees_only_new_events(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/a")
    await create(backend, "/b")
    w = backend.watch("/", rv(2))
    try:
        nxt = asyncio.ensure_future(anext(w))
        await asyncio.sleep(0.01)
        assert not nxt.done()
        await create(backend, "/c")
        ev = await asyncio.wait_for(nxt, 1)
        assert (ev.kv.key, ev.revision) == ("/c", rv(3))
    finally:
        await w.aclose()


async def test_watch_has_no_duplicates_when_writes_race_the_replay(backend: AnyBackend, rv: Rv) -> None:
    for i in range(5):
        await create(backend, f"/r/{i}")
    w = backend.watch("/r/", rv(0))
    seen: list[int] = []
    try:
        # Write while the watcher is still replaying history: each write is seen exactly once.
        for i in range(5, 10):
            seen.append((await take(w, 1))[0].revision)
            await create(backend, f"/r/{i}")
        seen += [e.revision for e in await take(w, 5)]
        await nothing_more(w)
    finally:
        await w.aclose()
    assert seen == [rv(i) for i in range(1, 11)]


async def test_two_watchers_each_get_every_event(backend: AnyBackend, rv: Rv) -> None:
    w1 = backend.watch("/", rv(0))
    w2 = backend.watch("/", rv(0))
    try:
        await create(backend, "/a")
        t1 = asyncio.ensure_future(take(w1, 2))
        t2 = asyncio.ensure_future(take(w2, 2))
        await asyncio.sleep(0)
        await create(backend, "/b")
        for t in (t1, t2):
            assert [e.kv.key for e in await t] == ["/a", "/b"]
    finally:
        await w1.aclose()
        await w2.aclose()


async def test_closing_the_backend_ends_live_watches(backend: AnyBackend, rv: Rv) -> None:
    w = backend.watch("/", rv(0))
    nxt = asyncio.ensure_future(anext(w))
    await asyncio.sleep(0.01)
    await backend.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(nxt, 1)


# ---------------------------------------------------------------- compaction


async def test_watch_from_a_compacted_revision_raises(backend: AnyBackend, rv: Rv) -> None:
    for i in range(6):
        await create(backend, f"/c/{i}")
    await backend.compact(rv(4))
    for after in (0, 1, 2, 3):
        with pytest.raises(Compacted):
            await anext(backend.watch("/c/", rv(after)))
    w = backend.watch("/c/", rv(4))
    try:
        assert [e.revision for e in await take(w, 2)] == [rv(5), rv(6)]
    finally:
        await w.aclose()
    # Compaction keeps current values.
    kvs, rev = await backend.range("/c/")
    assert len(kvs) == 6 and rev == rv(6)


async def test_compact_is_clamped_and_never_goes_back(backend: AnyBackend, rv: Rv) -> None:
    await create(backend, "/a")
    await create(backend, "/b")
    await backend.compact(rv(100))  # beyond the head: compacts to the head
    with pytest.raises(Compacted):
        await anext(backend.watch("/", rv(1)))
    w = backend.watch("/", rv(2))
    await create(backend, "/c")
    try:
        assert [e.revision for e in await take(w, 1)] == [rv(3)]
    finally:
        await w.aclose()
    await backend.compact(rv(1))  # older than the last compaction: no-op
    with pytest.raises(Compacted):
        await anext(backend.watch("/", rv(1)))


# ---------------------------------------------------------------- leases


async def test_lease_expiry_deletes_keys_unless_kept_alive(backend: AnyBackend, rv: Rv) -> None:
    # etcd's TTLs are whole seconds (at least its minimum TTL, 1 s for the test member): 0.3 s is 1 s.
    ttl = 1.0 if isinstance(backend, EtcdBackend) else 0.3
    gone = await backend.lease_grant(0.3)
    kept = await backend.lease_grant(0.3)
    assert gone != kept
    await create(backend, "/l/gone", lease=gone)
    await create(backend, "/l/kept", lease=kept)
    await create(backend, "/l/plain")
    kv, _ = await backend.get("/l/gone")
    assert kv is not None and kv.lease == gone

    w = backend.watch("/l/", rv(3))
    start = time.monotonic()
    try:
        while (await backend.get("/l/gone"))[0] is not None:
            assert time.monotonic() - start < ttl + 1.7, "leased key never expired"
            await backend.lease_keepalive(kept)
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - start
        assert elapsed >= ttl - 0.05  # not before its TTL (minus the expiry loop's granularity)
        ev = (await take(w, 1))[0]
        assert (ev.type, ev.kv.key) == ("delete", "/l/gone")
        # Keep the other one alive past its TTL: it stays.
        while time.monotonic() - start < ttl + 0.5:
            await backend.lease_keepalive(kept)
            await asyncio.sleep(0.05)
        assert (await backend.get("/l/kept"))[0] is not None
        assert (await backend.get("/l/plain"))[0] is not None
    finally:
        await w.aclose()
    # Stop keeping it alive: it goes too.
    deadline = time.monotonic() + ttl + 1.7
    while (await backend.get("/l/kept"))[0] is not None:
        assert time.monotonic() < deadline, "timed out waiting for kept key to expire"
        await asyncio.sleep(0.01)
    with pytest.raises(StoreError):
        await backend.lease_keepalive(gone)


async def test_lease_revoke_deletes_its_keys_in_one_revision(backend: AnyBackend, rv: Rv) -> None:
    lease = await backend.lease_grant(60)
    other = await backend.lease_grant(60)
    await create(backend, "/a", lease=lease)
    await create(backend, "/b", lease=lease)
    await create(backend, "/c", lease=other)
    w = backend.watch("/", rv(3))
    try:
        await backend.lease_revoke(lease)
        events = await take(w, 2)
    finally:
        await w.aclose()
    assert sorted((e.type, e.kv.key, e.revision) for e in events) == [("delete", "/a", rv(4)), ("delete", "/b", rv(4))]
    kvs, rev = await backend.range("/")
    assert [k.key for k in kvs] == ["/c"] and rev == rv(4)
    with pytest.raises(StoreError):
        await backend.lease_keepalive(lease)
    await backend.lease_revoke(lease)  # revoking twice is harmless
    await backend.lease_revoke(other)


async def test_putting_without_the_lease_detaches_the_key(backend: AnyBackend) -> None:
    lease = await backend.lease_grant(60)
    await create(backend, "/a", lease=lease)
    await backend.txn([], [Put("/a", b"no lease")])
    await backend.lease_revoke(lease)
    kv, _ = await backend.get("/a")
    assert kv is not None and kv.value == b"no lease" and kv.lease == 0


# ---------------------------------------------------------------- SQLite durability


async def test_sqlite_data_and_revision_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    b = SQLiteBackend(path)
    await create(b, "/a", b"1")
    await create(b, "/b", b"2")
    await b.txn([Compare("/a", 1)], [Put("/a", b"1b")])
    await b.txn([], [Delete("/b")])
    await b.compact(2)
    await b.close()

    b = SQLiteBackend(path)
    try:
        assert await b.get("/a") == (KV("/a", b"1b", 1, 3), 4)
        assert await b.get("/b") == (None, 4)
        assert await create(b, "/c") == 5  # revisions continue
        with pytest.raises(Compacted):  # so does the compaction mark
            await anext(b.watch("/", 0))
        w = b.watch("/", 2)
        try:
            assert [(e.type, e.kv.key, e.revision) for e in await take(w, 3)] == [
                ("put", "/a", 3), ("delete", "/b", 4), ("put", "/c", 5)
            ]
        finally:
            await w.aclose()
    finally:
        await b.close()


async def test_sqlite_leased_keys_do_not_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    b = SQLiteBackend(path)
    lease = await b.lease_grant(60)
    await create(b, "/leased", lease=lease)
    await create(b, "/plain")
    await b.close()
    b = SQLiteBackend(path)
    try:
        kvs, rev = await b.range("/")
        assert [k.key for k in kvs] == ["/plain"]
        assert rev == 3  # the deletion is a revision of its own, visible to watchers
        w = b.watch("/", 2)
        try:
            ev = (await take(w, 1))[0]
            assert (ev.type, ev.kv.key) == ("delete", "/leased")
        finally:
            await w.aclose()
    finally:
        await b.close()


# ---------------------------------------------------------------- a model check


KEYS = ["/m/a", "/m/b", "/m/c", "/n/a"]
op_strategy = st.lists(
    st.tuples(st.sampled_from(["put", "delete", "create", "cas", "stale"]), st.sampled_from(KEYS),
              st.binary(max_size=3)),
    min_size=1,
    max_size=4,
)


async def _run_model(b: AnyBackend, txns: list[list[tuple[str, str, bytes]]]) -> None:
    model: dict[str, tuple[bytes, int, int]] = {}  # key -> (value, create, mod)
    _, base = await b.get("/")
    revision = base
    committed = 0  # events committed, so watched
    for txn in txns:
        compares, ops = [], []
        ok = True
        for kind, key, value in txn:
            cur = model.get(key)
            mod = cur[2] if cur else 0
            if kind == "create":
                compares.append(Compare(key, 0))
                ok &= cur is None
                ops.append(Put(key, value))
            elif kind == "cas":
                compares.append(Compare(key, mod))
                ops.append(Put(key, value))
            elif kind == "stale":
                compares.append(Compare(key, mod + 1))
                ok = False
                ops.append(Put(key, value))
            elif kind == "put":
                ops.append(Put(key, value))
            else:
                ops.append(Delete(key))
        if not ok:
            with pytest.raises(CompareFailed):
                await b.txn(compares, ops)
            continue
        rev, events = await b.txn(compares, ops)
        if isinstance(b, EtcdBackend):  # etcd: ops on a repeated key collapse to the last one
            last: dict[str, Put | Delete] = {}
            for op in ops:
                last.pop(op.key, None)
                last[op.key] = op
            ops = list(last.values())
        changed = False
        staged = dict(model)
        for op in ops:
            cur = staged.get(op.key)
            if isinstance(op, Put):
                staged[op.key] = (op.value, cur[1] if cur else revision + 1, revision + 1)
                changed = True
            elif cur is not None:
                del staged[op.key]
                changed = True
        if changed:
            revision += 1
        committed += len(events)
        model = staged
        assert rev == revision
        assert all(e.revision == revision for e in events)
        kvs, r = await b.range("/")
        assert r == revision
        assert {k.key: (k.value, k.create_revision, k.mod_revision) for k in kvs} == model
    # Replaying the whole history rebuilds the final state.
    rebuilt: dict[str, bytes] = {}
    w = b.watch("/", base)
    try:
        n = committed if isinstance(b, EtcdBackend) else len(b._history("/", 0))
        assert n == committed
        for ev in await take(w, n) if n else []:
            if ev.type == "put":
                rebuilt[ev.kv.key] = ev.kv.value
            else:
                rebuilt.pop(ev.kv.key, None)
    finally:
        await w.aclose()
    assert rebuilt == {k: v[0] for k, v in model.items()}


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(txns=st.lists(op_strategy, max_size=12))
def test_backend_matches_a_dict_model(
    kind: str, txns: list[list[tuple[str, str, bytes]]], request: pytest.FixtureRequest
) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as d:
            b = await open_backend(kind, Path(d), request)
            try:
                await _run_model(b, txns)
            finally:
                with contextlib.suppress(Exception):
                    await b.close()

    asyncio.run(scenario())
