"""VIPs from the managers' names, and the nftables table that balances them."""

from __future__ import annotations

from shoal.network import vip


def test_vips_come_from_names_whose_service_and_tasks_differ() -> None:
    names = {"front": {"web": ["10.213.1.2"], "tasks.web": ["10.213.1.4", "10.213.1.3"],
                       "db": ["10.213.1.5"], "tasks.db": ["10.213.1.5"],  # dnsrr: no VIP
                       "alias": ["10.213.1.2"]},
             "back": {"api": ["10.213.2.2"], "tasks.api": []}}
    assert vip.vips_of(names, ["front"]) == {"10.213.1.2": ["10.213.1.3", "10.213.1.4"]}
    assert vip.vips_of(names, ["front", "back"])["10.213.2.2"] == []


def test_ruleset_balances_and_rejects_a_vip_without_tasks() -> None:
    rules = vip.ruleset({"10.213.1.2": ["10.213.1.3", "10.213.1.4"], "10.213.2.2": []})
    assert "table ip shoal_vip\ndelete table ip shoal_vip\n" in rules  # replaced whole, atomically
    assert "ip daddr 10.213.1.2 dnat to numgen random mod 2 map { 0 : 10.213.1.3, 1 : 10.213.1.4 }" in rules
    assert "ip daddr 10.213.2.2 reject" in rules
