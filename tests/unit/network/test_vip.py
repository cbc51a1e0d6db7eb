"""VIPs from the managers' endpoints, and the nftables table that balances them."""

from __future__ import annotations

from shoal.network import endpoints, vip
from shoal.network.endpoints import Endpoint, NetworkEndpoints


def test_vips_come_from_the_services_endpoints() -> None:
    view = {"front": NetworkEndpoints(Name="front", Services={
                "s1": Endpoint(Name="web", VIP="10.213.1.2", Backends=("10.213.1.4", "10.213.1.3"), Aliases=("alias",)),
                "s2": Endpoint(Name="db", Mode="dnsrr", Backends=("10.213.1.5",))}),  # dnsrr: no VIP
            "back": NetworkEndpoints(Name="back", Services={"s3": Endpoint(Name="api", VIP="10.213.2.2")})}
    assert endpoints.vips(view, ["front"]) == {"10.213.1.2": ["10.213.1.3", "10.213.1.4"]}
    assert endpoints.vips(view, ["front", "back"])["10.213.2.2"] == []


def test_ruleset_balances_and_rejects_a_vip_without_tasks() -> None:
    rules = vip.ruleset({"10.213.1.2": ["10.213.1.3", "10.213.1.4"], "10.213.2.2": []})
    assert "table ip shoal_vip\ndelete table ip shoal_vip\n" in rules  # replaced whole, atomically
    assert "ip daddr 10.213.1.2 dnat to numgen random mod 2 map { 0 : 10.213.1.3, 1 : 10.213.1.4 }" in rules
    assert "ip daddr 10.213.2.2 reject" in rules
