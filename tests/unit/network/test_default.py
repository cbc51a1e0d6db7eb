"""The default bridge of tasks without networks: its address (configured, or the first free of
Docker's candidates), and the lowest free address for each task, given back when it goes."""

from __future__ import annotations

import ipaddress

import pytest

from shoal.network import default
from shoal.network.default import DefaultBridge, choose_bip


def test_each_task_gets_the_lowest_free_address_and_keeps_it() -> None:
    b = DefaultBridge("10.213.241.1/29")
    first = b.attachment("t1")
    assert first.Addresses == ["10.213.241.2/29"]
    assert first.Network.ID == "default" and first.Network.Spec.Name == "bridge"
    assert first.Network.IPAMOptions.Configs is not None
    assert (first.Network.IPAMOptions.Configs[0].Subnet, first.Network.IPAMOptions.Configs[0].Gateway) == (
        "10.213.241.0/29", "10.213.241.1")
    assert b.attachment("t1").Addresses == ["10.213.241.2/29"]  # asked again: the same
    assert [b.attachment(t).Addresses[0] for t in ("t2", "t3")] == ["10.213.241.3/29", "10.213.241.4/29"]
    b.release("t2")
    assert not b.has("t2") and b.attachment("t4").Addresses == ["10.213.241.3/29"]
    for t in ("t5", "t6"):
        b.attachment(t)
    with pytest.raises(OSError, match="no address left on the default bridge"):
        b.attachment("t7")  # a /29 holds six hosts, one of them the gateway


def test_a_gateway_inside_the_range_is_never_given_and_a_big_pool_stays_cheap() -> None:
    b = DefaultBridge("10.213.241.3/29")
    assert [b.attachment(t).Addresses[0] for t in ("a", "b", "c")] == [
        "10.213.241.1/29", "10.213.241.2/29", "10.213.241.4/29"]
    big = DefaultBridge("10.213.0.1/16")  # Docker's docker0 size: 65,533 tasks, each in O(log n)
    for i in range(5000):
        big.attachment(f"t{i}")
    for i in range(0, 5000, 2):
        big.release(f"t{i}")
    assert big.attachment("again").Addresses == ["10.213.0.2/16"]  # the lowest given back first


def test_the_bridge_address_configured_or_the_first_free_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_BIP", "10.213.242.1/24")
    assert choose_bip() == "10.213.242.1/24"  # the suite's default
    assert choose_bip("172.20.0.1/16") == "172.20.0.1/16"  # --bip given wins over it
    monkeypatch.delenv("SHOAL_BIP")
    with pytest.raises(ValueError):
        choose_bip("not-an-address")
    used = [ipaddress.IPv4Network("172.17.0.0/16"), ipaddress.IPv4Network("172.18.5.0/24")]
    monkeypatch.setattr(default, "_in_use", lambda: used)
    monkeypatch.setattr(default, "_bridge_subnet", lambda: None)
    assert choose_bip() == "172.19.0.1/16"  # 172.17 has a route, 172.18 overlaps one
    monkeypatch.setattr(default, "_bridge_subnet", lambda: ipaddress.IPv4Network("172.17.0.0/16"))
    assert choose_bip() == "172.17.0.1/16"  # a restarted daemon keeps its own bridge's
