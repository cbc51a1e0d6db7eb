"""Swarm's default IPAM: subnets carved from the default pools, gateways, task addresses, VXLAN IDs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.network import ipam


def test_subnets_come_from_the_pool_in_order_skipping_used_ones() -> None:
    assert str(ipam.allocate_subnet(["10.0.0.0/8"], 24, [])) == "10.0.0.0/24"
    assert str(ipam.allocate_subnet(["10.0.0.0/8"], 24, ["10.0.0.0/24", "10.0.2.0/23"])) == "10.0.1.0/24"
    assert str(ipam.allocate_subnet(["10.0.0.0/8"], 24, ["10.0.0.0/22"])) == "10.0.4.0/24"
    assert str(ipam.allocate_subnet(["10.213.0.0/30", "10.214.0.0/16"], 26, [])) == "10.214.0.0/26"


def test_an_exhausted_pool_says_so() -> None:
    with pytest.raises(ipam.IPAMError, match="could not find an available"):
        ipam.allocate_subnet(["10.213.0.0/24"], 24, ["10.213.0.0/24"])


def test_gateway_is_the_first_host_or_must_be_in_the_subnet() -> None:
    net = ipam.parse_subnet("10.213.5.0/24")
    assert ipam.gateway_of(net) == "10.213.5.1"
    assert ipam.gateway_of(net, "10.213.5.254") == "10.213.5.254"
    with pytest.raises(ipam.IPAMError, match="no matching subnet for gateway"):
        ipam.gateway_of(net, "10.213.6.1")


def test_subnet_must_be_written_as_a_network() -> None:
    with pytest.raises(ipam.IPAMError, match=r"it should be 10\.213\.5\.0/24"):
        ipam.parse_subnet("10.213.5.7/24")


def test_addresses_skip_gateway_used_and_stay_in_range() -> None:
    assert ipam.allocate_address("10.213.5.0/24", "10.213.5.1", set()) == "10.213.5.2/24"
    assert ipam.allocate_address("10.213.5.0/24", "10.213.5.1", {"10.213.5.2", "10.213.5.3"}) == "10.213.5.4/24"
    assert ipam.allocate_address("10.213.5.0/24", "10.213.5.1", set(), "10.213.5.128/25") == "10.213.5.129/24"
    with pytest.raises(ipam.IPAMError):
        ipam.allocate_address("10.213.5.0/30", "10.213.5.1", {"10.213.5.2"})


@given(st.sets(st.integers(min_value=2, max_value=250)))
def test_address_is_never_reserved_or_taken(taken_hosts: set[int]) -> None:
    used = {f"10.213.7.{h}" for h in taken_hosts}
    addr = ipam.allocate_address("10.213.7.0/24", "10.213.7.1", used).split("/")[0]
    assert addr not in used and addr not in ("10.213.7.0", "10.213.7.1", "10.213.7.255")


def test_vxlan_ids_start_at_4097_and_fill_gaps() -> None:
    assert ipam.allocate_vni([]) == 4097
    assert ipam.allocate_vni([4097, 4099]) == 4098
