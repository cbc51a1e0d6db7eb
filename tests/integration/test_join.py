"""Joining over the swarm port, in process: token checks, the node's session, certificate renewal."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support import free_port

from shoal import pki
from shoal.agent import remote
from shoal.agent.worker import describe_node
from shoal.api.errors import ShoalError
from shoal.api.types import Node
from shoal.daemon import Daemon, DaemonConfig
from shoal.manager import ca


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[tuple[Daemon, str]]:
    d = Daemon(DaemonConfig(data_root=tmp_path / "m", exec_root=tmp_path / "mrun", runtime="process",
                            hostname="mgr"))
    await d.start()
    addr = f"127.0.0.1:{free_port()}"
    await d.swarm_init("127.0.0.1", addr)
    yield d, addr
    await d.stop()


async def test_join_checks_the_token_and_the_ca(manager: tuple[Daemon, str]) -> None:
    d, addr = manager
    assert d.manager is not None
    cluster = d.manager.control.cluster()
    with pytest.raises(ShoalError, match=r"^invalid join token$"):
        await remote.join([addr], "SWMTKN-1-nope", "x")
    wrong_secret = cluster.JoinTokens.Worker[:-25] + "0" * 25
    with pytest.raises(ShoalError, match=r"^A valid join token is necessary to join this cluster$"):
        await remote.join([addr], wrong_secret, "x")
    other_ca, _ = ca.new_root_ca()
    forged = ca.join_token(other_ca)  # a token for another cluster's CA: the manager's CA does not match it
    with pytest.raises(ShoalError, match=r"^remote CA does not match fingerprint"):
        await remote.join([addr], forged, "x")
    ident = await remote.join([addr], cluster.JoinTokens.Worker, "x")
    assert ident.role == "worker" and pki.node_identity(ident.cert_pem) == (ident.node_id, "worker", cluster.ID)


async def test_session_registers_the_node_and_renews_its_certificate(manager: tuple[Daemon, str]) -> None:
    d, addr = manager
    assert d.manager is not None
    cluster = d.manager.control.cluster()
    ident = await remote.join([addr], cluster.JoinTokens.Worker, "node-x")
    # A certificate past half of its life but still valid (5 minutes back-dated, about 3 minutes ahead):
    # the agent must renew it.
    key, csr = pki.new_node_key()
    old = ca.issue_node_cert(cluster.TLSInfo.TrustRoot, cluster.RootCAKey, csr, ident.node_id, "worker", cluster.ID,
                             days=0.002)
    assert pki.needs_renewal(old) and pki.cert_expires_in(old) > 60
    renewed: list[remote.Identity] = []
    reg = remote.RemoteRegistrar(remote.Identity(ident.node_id, "worker", ident.ca_pem, old, key), [addr],
                                 on_renew=renewed.append, check_period=0.1)
    session = await reg.register(ident.node_id, describe_node("node-x"), "127.0.0.1")
    try:
        first = await asyncio.wait_for(session.assignments(), 10)
        assert first is not None and first.full and first.tasks == []
        node = d.manager.store.get(Node, ident.node_id)
        assert node is not None and node.Description.Hostname == "node-x" and node.Status.State == "ready"
        assert node.Spec.Role == "worker"
        for _ in range(100):
            if renewed:
                break
            await asyncio.sleep(0.05)
        assert renewed and renewed[0].cert_pem != old
        assert not pki.needs_renewal(renewed[0].cert_pem)
        assert pki.cert_expires_in(renewed[0].cert_pem) > 80 * 86400
        assert pki.node_identity(renewed[0].cert_pem) == (ident.node_id, "worker", cluster.ID)
        assert await session.heartbeat() == 5.0
    finally:
        await reg.close()


async def test_the_session_brings_the_secrets_of_the_nodes_tasks(manager: tuple[Daemon, str]) -> None:
    """Over the mutual-TLS session, with the assignments: the secret's bytes, only once a task of the
    node uses it, and its removal once none does."""
    from shoal.api.states import TaskState
    from shoal.api.types import ContainerSpec, SecretReference, SecretSpec, Task, TaskSpec, TaskStatus

    d, addr = manager
    assert d.manager is not None
    ident = await remote.join([addr], d.manager.control.cluster().JoinTokens.Worker, "node-s")
    reg = remote.RemoteRegistrar(ident, [addr])
    session = await reg.register(ident.node_id, describe_node("node-s"), "127.0.0.1")
    try:
        first = await asyncio.wait_for(session.assignments(), 10)
        assert first is not None and first.secrets == []
        secret = await d.manager.control.secrets.create(SecretSpec(Name="db", Data=b"s3cret"))
        t = Task(ID="remotetask000000000000000", NodeID=ident.node_id, Status=TaskStatus(State=TaskState.ASSIGNED),
                 Spec=TaskSpec(Containers=[ContainerSpec(Image="busybox", Secrets=[
                     SecretReference(SecretID=secret.ID, SecretName="db")])]))
        await d.manager.store.create(t)
        msg = await asyncio.wait_for(session.assignments(), 10)
        while msg is not None and not msg.tasks:  # (the networks' view may come first)
            msg = await asyncio.wait_for(session.assignments(), 10)
        assert msg is not None and [x.ID for x in msg.tasks] == [t.ID]
        assert [(x.ID, x.Spec.Data) for x in msg.secrets] == [(secret.ID, b"s3cret")]
        stored = d.manager.store.get(Task, t.ID)
        assert stored is not None
        await d.manager.store.delete(stored)
        removed: list[str] = []
        deps_removed: list[str] = []
        while not (removed and deps_removed):  # one message, or two when the session sends them apart
            msg = await asyncio.wait_for(session.assignments(), 10)
            assert msg is not None
            removed += msg.removed
            deps_removed += msg.deps_removed
        assert removed == [t.ID] and deps_removed == [secret.ID]
    finally:
        await reg.close()


async def test_the_nodes_keep_their_keys_closed(manager: tuple[Daemon, str], tmp_path: Path) -> None:
    """The data root 0710 (as dockerd's), the swarm directory 0700, every key 0600: a manager's sealed
    key and its clear copy under the exec root, a worker's key, keys.json."""
    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    d, addr = manager
    assert d.manager is not None
    assert mode(tmp_path / "m") == 0o710
    assert mode(tmp_path / "m" / "swarm") == 0o700
    for p in (tmp_path / "m" / "swarm" / "node.key.enc", tmp_path / "m" / "swarm" / "keys.json",
              tmp_path / "mrun" / "swarm" / "node.key"):
        assert mode(p) == 0o600, p
    assert mode(tmp_path / "mrun" / "swarm") == 0o700
    (tmp_path / "w").mkdir(mode=0o755)  # an older daemon's data root, made wider: narrowed on start
    w = Daemon(DaemonConfig(data_root=tmp_path / "w", exec_root=tmp_path / "wrun", runtime="process",
                            hostname="wkr"))
    await w.start()
    try:
        assert mode(tmp_path / "w") == 0o710
        await w.swarm_join([addr], d.manager.control.cluster().JoinTokens.Worker,
                           f"127.0.0.1:{free_port()}", "127.0.0.1")
        assert mode(tmp_path / "w" / "swarm") == 0o700
        assert mode(tmp_path / "w" / "swarm" / "node.key") == 0o600
        assert mode(tmp_path / "w" / "logs") == 0o700
    finally:
        await w.stop()
