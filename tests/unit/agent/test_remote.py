"""The agent's side of the swarm port: which manager it dials, and how it backs off from those that
fail (``ManagerDialer``), and that its session forgets the managers the cluster no longer lists."""

from __future__ import annotations

import logging

import pytest

from shoal import pki
from shoal.agent import remote
from shoal.agent.remote import ANSWERED_CAP, BACKOFF_BASE, UNREACHABLE_CAP, ManagerDialer
from shoal.api.errors import ShoalError
from shoal.api.types import NodeDescription
from shoal.manager import ca
from shoal.protocol import HeartbeatReply
from tests.support import free_port
from tests.unit.helpers import FakeClock, until

A, B, C = "10.213.0.1:2377", "10.213.0.2:2377", "10.213.0.3:2377"


def test_fresh_managers_are_dialled_in_turn() -> None:
    d = ManagerDialer([A, B, C], clock=FakeClock(0.0))
    assert [d.next() for _ in range(4)] == [(A, 0.0), (B, 0.0), (C, 0.0), (A, 0.0)]


def test_a_failing_manager_backs_off_exponentially_up_to_a_cap() -> None:
    clock = FakeClock(0.0)
    d = ManagerDialer([A], clock=clock)
    waits = []
    for _ in range(8):
        d.failed(A)
        waits.append(d.next()[1])
    assert waits == [min(BACKOFF_BASE * 2 ** k, UNREACHABLE_CAP) for k in range(8)]
    assert waits[-1] == UNREACHABLE_CAP
    d.failed(A, answered=True)  # up but not the leader (an election): retried sooner
    assert d.next() == (A, ANSWERED_CAP)
    clock.advance(ANSWERED_CAP)
    assert d.next() == (A, 0.0)


def test_the_others_are_dialled_while_one_backs_off() -> None:
    clock = FakeClock(0.0)
    d = ManagerDialer([A, B], clock=clock)
    assert d.next() == (A, 0.0)
    d.failed(A)
    assert d.next() == (B, 0.0)
    d.failed(B)
    d.failed(B)  # B has failed twice: A is due first
    assert d.next() == (A, BACKOFF_BASE)


def test_a_failure_streak_is_reported_once() -> None:
    d = ManagerDialer([A, B], clock=FakeClock(0.0))
    assert [d.failed(A) for _ in range(5)] == [True, False, False, False, False]
    assert d.failing(A) and not d.failing(B)
    assert d.succeeded(A) is True  # reached again: the next failure is news
    assert d.next() == (A, 0.0)
    assert d.failed(A) is True
    assert d.succeeded(B) is False


def test_removed_managers_are_forgotten() -> None:
    clock = FakeClock(0.0)
    d = ManagerDialer([A, B, C], clock=clock)
    for _ in range(3):
        d.failed(B)
    d.set_managers([A, C])
    assert {d.next()[0] for _ in range(6)} == {A, C}
    assert not d.failing(B)
    d.set_managers([A, B, C])  # back in the cluster (promoted again): a fresh start
    assert d.failed(B) is True


def test_a_leader_named_while_it_backs_off_is_not_dialled_at_once() -> None:
    clock = FakeClock(0.0)
    d = ManagerDialer([A, B], clock=clock)
    assert d.due(B)
    d.failed(B)  # a follower still names B as the leader, but B could not be reached just now
    assert not d.due(B)
    clock.advance(BACKOFF_BASE)
    assert d.due(B)


def test_a_session_that_ran_redials_its_manager_first() -> None:
    d = ManagerDialer([A, B, C], clock=FakeClock(0.0))
    assert d.next() == (A, 0.0)
    assert d.next() == (B, 0.0)
    d.dropped(B)
    assert d.next() == (B, 0.0)


def test_no_manager_at_all() -> None:
    with pytest.raises(ShoalError):
        ManagerDialer([]).next()


def _identity() -> remote.Identity:
    ca_pem, ca_key = ca.new_root_ca()
    key_pem, csr_pem = pki.new_node_key()
    cert = ca.issue_node_cert(ca_pem, ca_key, csr_pem, "node1", "worker", "cluster1")
    return remote.Identity("node1", "worker", ca_pem, cert, key_pem)


async def test_an_unreachable_manager_is_logged_once_and_dropped_when_the_cluster_forgets_it(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "BACKOFF_BASE", 0.001)
    monkeypatch.setattr(remote, "UNREACHABLE_CAP", 0.005)
    gone, also_gone = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"  # nothing listens there
    kept: list[list[str]] = []
    registrar = remote.RemoteRegistrar(_identity(), [gone, also_gone], on_managers=kept.append)
    dialer = registrar.dialer
    tries: dict[str, int] = {}
    failed = dialer.failed

    def counting(addr: str, answered: bool = False) -> bool:
        tries[addr] = tries.get(addr, 0) + 1
        return failed(addr, answered)

    monkeypatch.setattr(dialer, "failed", counting)
    caplog.set_level(logging.WARNING, logger="shoal.agent.remote")
    session = await registrar.register("node1", NodeDescription(Hostname="n"), "127.0.0.1")
    try:
        await until(lambda: tries.get(gone, 0) >= 5 and tries.get(also_gone, 0) >= 5, timeout=10,
                    what="five dials of each manager")
        warned = [r.getMessage() for r in caplog.records if "session with manager" in r.getMessage()]
        assert len([w for w in warned if gone in w]) == 1
        assert len([w for w in warned if also_gone in w]) == 1
        # The leader's heartbeat reply lists the managers now: the first one was removed.
        session._received(HeartbeatReply(period=5.0, managers=[also_gone]))
        assert registrar.managers == [also_gone] and kept == [[also_gone]]
        before = tries[also_gone]
        await until(lambda: tries[also_gone] >= before + 3, timeout=10, what="more dials")
        dials_of_gone = tries[gone]
        await until(lambda: tries[also_gone] >= before + 6, timeout=10, what="still more dials")
        assert tries[gone] <= dials_of_gone + 1  # at most the dial under way when the list changed
    finally:
        await registrar.close()
