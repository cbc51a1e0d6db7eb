"""A manager's etcd member with the cluster CA's certificates: a second member joins as a learner,
is promoted once it has caught up, sees the state copied in from another backend, and is removed."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from shoal import pki
from shoal.manager import ca
from shoal.manager.membership import EtcdMember, peer_url
from shoal.store.backend import Put
from shoal.store.etcd_server import free_port
from shoal.store.memory import MemoryBackend
from tests.unit.store.test_backends import NO_ETCD

pytestmark = NO_ETCD


def identity(d: Path, root: tuple[str, str], node_id: str) -> None:
    d.mkdir(parents=True)
    key_pem, csr_pem = pki.new_node_key()
    (d / "ca.pem").write_text(root[0])
    (d / "node.crt").write_text(ca.issue_node_cert(root[0], root[1], csr_pem, node_id, "manager", "c1",
                                                   ips=("127.0.0.1",)))
    (d / "node.key").write_text(key_pem)


async def test_learner_joins_is_promoted_reads_copied_state_and_is_removed(tmp_path: Path) -> None:
    root = ca.new_root_ca()
    identity(tmp_path / "a", root, "node-a")
    identity(tmp_path / "b", root, "node-b")
    a = EtcdMember(tmp_path / "a", "node-a", "127.0.0.1", free_port())
    b = EtcdMember(tmp_path / "b", "node-b", "127.0.0.1", free_port())
    try:
        await a.start()
        src = MemoryBackend()
        await src.txn([], [Put("/shoal/services/s1", b"sealed-1"), Put("/shoal/nodes/n1", b"sealed-2"),
                           Put("/elsewhere", b"x")])
        assert await a.copy_from(src) == 2
        initial = await a.add("node-b", b.peer_url)
        assert set(initial.split(",")) == {f"node-a={a.peer_url}", f"node-b={b.peer_url}"}
        await b.start(initial, "existing")
        assert b.client is not None and a.client is not None

        async def voting() -> None:
            while True:
                members = await a.client.members()  # type: ignore[union-attr]
                if len(members) == 2 and not any(learner for *_, learner in members):
                    return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(voting(), 60)
        kvs, _ = await b.client.range("/shoal/")
        assert {kv.key: kv.value for kv in kvs} == {"/shoal/services/s1": b"sealed-1", "/shoal/nodes/n1": b"sealed-2"}
        assert await b.client.leader_id() != 0
        assert await a.remove("node-b")
        assert [name for _, name, _, _ in await a.client.members()] == ["node-a"]
    finally:
        await b.stop()
        await a.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_peer_url() -> None:
    assert peer_url("10.213.0.5", 2380) == "https://10.213.0.5:2380"
