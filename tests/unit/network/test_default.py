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
    with pytest.raises(OSError, match="no available IPv4 addresses on this network's address pools: bridge"):
        b.attachment("t7")  # a /29 holds six hosts, one of them the gateway


def test_a_full_subnet_fails_in_libnetworks_words_and_frees_what_goes() -> None:
    """Docker's text names the network and its ID; a released address is the next one given (the
    lowest free), and a /20's 4,093 tasks take addresses without scanning the subnet each time."""
    b = DefaultBridge("10.213.240.1/20", network_id="b" * 64)
    given = [b.attachment(f"t{i}").Addresses[0] for i in range(4093)]
    assert given[0] == "10.213.240.2/20" and given[-1] == "10.213.255.254/20" and len(set(given)) == 4093
    with pytest.raises(default.PoolExhausted) as e:
        b.attachment("one-too-many")
    assert str(e.value) == f"no available IPv4 addresses on this network's address pools: bridge ({'b' * 64})"
    b.release("t7")
    b.release("t300")
    assert b.attachment("again").Addresses == ["10.213.240.9/20"]
    assert b.attachment("and-again").Addresses == ["10.213.241.46/20"]
    with pytest.raises(default.PoolExhausted):
        b.attachment("still-too-many")


def test_a_gateway_that_is_not_the_first_host_is_never_given() -> None:
    b = DefaultBridge("10.213.241.3/30")  # hosts .1 and .2; the gateway is the broadcast address
    assert [b.attachment(t).Addresses[0] for t in ("t1", "t2")] == ["10.213.241.1/30", "10.213.241.2/30"]
    b2 = DefaultBridge("10.213.241.2/30")
    assert b2.attachment("t1").Addresses == ["10.213.241.1/30"]
    with pytest.raises(default.PoolExhausted):
        b2.attachment("t2")


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
