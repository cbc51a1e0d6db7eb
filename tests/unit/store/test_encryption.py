"""Values are encrypted at rest: the SQLite file never holds them in the clear, reads give them back."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from shoal.manager import keys
from shoal.store.backend import Compare, Delete, Put
from shoal.store.encryption import EncryptedBackend
from shoal.store.sqlite import SQLiteBackend


async def test_values_are_encrypted_on_disk_and_readable_through_the_wrapper(tmp_path: Path) -> None:
    dek = keys.new_dek()
    db = tmp_path / "s.db"
    b = EncryptedBackend(SQLiteBackend(db), dek)
    rev, events = await b.txn([Compare("/k", 0)], [Put("/k", b"top-secret-value"), Put("/j", b"other")])
    assert [e.kv.value for e in events] == [b"top-secret-value", b"other"]
    kv, _ = await b.get("/k")
    assert kv is not None and kv.value == b"top-secret-value" and kv.mod_revision == rev
    assert [kv.value for kv in (await b.range("/"))[0]] == [b"other", b"top-secret-value"]
    watched = []
    async for e in b.watch("/", 0):
        watched.append(e.kv.value)
        if len(watched) == 2:
            break
    assert sorted(watched) == [b"other", b"top-secret-value"]
    await b.txn([], [Delete("/j")])
    await b.close()
    assert b"top-secret-value" not in db.read_bytes()

    raw = SQLiteBackend(db)
    kv, _ = await raw.get("/k")
    assert kv is not None and kv.value != b"top-secret-value"
    await raw.close()
    wrong = EncryptedBackend(SQLiteBackend(db), keys.new_dek())
    with pytest.raises(InvalidTag):
        await wrong.get("/k")
    await wrong.close()


async def test_a_secret_object_is_stored_encrypted(tmp_path: Path) -> None:
    """Secrets and configs are stored like every object: through the wrapper, sealed with the data key."""
    import base64

    from shoal.api.types import Secret, SecretSpec
    from shoal.store.objects import ObjectStore

    db = tmp_path / "s.db"
    store = ObjectStore(EncryptedBackend(SQLiteBackend(db), keys.new_dek()))
    await store.load()
    await store.create(Secret(ID="s1", Spec=SecretSpec(Name="db", Data=b"plain-s3cret-bytes")))
    got = store.get(Secret, "s1")
    assert got is not None and got.Spec.Data == b"plain-s3cret-bytes"
    await store.backend.close()
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("s.db-*"))
    assert b"plain-s3cret-bytes" not in raw and base64.b64encode(b"plain-s3cret-bytes") not in raw


def test_nonces_never_repeat_and_take_a_new_random_field_when_the_counter_runs_out(tmp_path: Path) -> None:
    b = EncryptedBackend(SQLiteBackend(tmp_path / "s.db"), keys.new_dek())
    sealed = [b._seal("/k", b"same") for _ in range(1000)]
    assert len({s[:12] for s in sealed}) == 1000
    assert len({s[:8] for s in sealed}) == 1  # one random field, a counter after it
    b._counter = 1 << 32
    after = b._seal("/k", b"same")
    assert after[:8] != sealed[0][:8] and after[8:12] == bytes(4)
    b.inner.db.close()  # type: ignore[attr-defined]
