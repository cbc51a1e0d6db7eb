"""Egress: the subnets a task reaches outside from (not --internal networks) and the table that
masquerades them on every interface but shoal's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shoal.api.types import Network, NetworkAttachment, NetworkSpec
from shoal.network import egress, netns


def attachment(name: str, addr: str, internal: bool = False) -> NetworkAttachment:
    return NetworkAttachment(Network=Network(ID=name, Spec=NetworkSpec(Name=name, Internal=internal)),
                             Addresses=[addr])


def test_subnets_with_a_way_out_leave_internal_networks_out() -> None:
    out, every = egress.subnets([attachment("front", "10.213.60.3/24"), attachment("back", "10.213.61.7/24", True),
                                 attachment("ingress", "10.213.0.9/16")])
    assert out == {"10.213.60.0/24", "10.213.0.0/16"}
    assert every == {"10.213.60.0/24", "10.213.61.0/24", "10.213.0.0/16"}


def test_the_ruleset_masquerades_what_leaves_and_keeps_networks_apart() -> None:
    rules = egress.ruleset({"10.213.60.0/24"}, {"10.213.61.0/24", "10.213.60.0/24"})
    assert "set out { type ipv4_addr; flags interval; elements = { 10.213.60.0/24 } }" in rules
    assert "elements = { 10.213.60.0/24 . 10.213.60.0/24, 10.213.61.0/24 . 10.213.61.0/24 }" in rules
    assert 'ip saddr @out ip daddr != @local oifname != "sh*" masquerade' in rules
    assert "ct status dnat accept\n  ip saddr @local ip daddr @local ip saddr . ip daddr != @same drop" in rules
    internal_only = egress.ruleset(set(), {"10.213.61.0/24"})
    assert "masquerade" not in internal_only and "@same drop" in internal_only  # apart, and no way out
    for r in (rules, internal_only):
        check = subprocess.run(["nft", "-c", "-f", "-"], input=r.encode(), capture_output=True)
        assert check.returncode == 0, check.stderr  # nft checks it without applying it


def test_forwarding_is_on_while_someone_needs_it_then_as_it_was(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    sysctl = tmp_path / "ip_forward"
    sysctl.write_text("0\n")
    monkeypatch.setattr(netns, "_FORWARD", str(sysctl))
    netns.need_forwarding("egress", True)
    netns.need_forwarding("ingress", True)
    assert sysctl.read_text() == "1\n"
    netns.need_forwarding("egress", False)
    assert sysctl.read_text() == "1\n"  # the mesh still needs it
    netns.need_forwarding("egress", False)  # twice: no harm
    netns.need_forwarding("ingress", False)
    assert sysctl.read_text() == "0\n"
    sysctl.write_text("1\n")  # a host that forwards already is left forwarding
    netns.need_forwarding("egress", True)
    netns.need_forwarding("egress", False)
    assert sysctl.read_text() == "1\n"
