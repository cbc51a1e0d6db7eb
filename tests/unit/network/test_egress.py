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


def test_subnets_leave_internal_networks_out() -> None:
    got = egress.subnets([attachment("front", "10.213.60.3/24"), attachment("back", "10.213.61.7/24", True),
                          attachment("ingress", "10.213.0.9/16")])
    assert got == {"10.213.60.0/24", "10.213.0.0/16"}


def test_the_ruleset_masquerades_only_what_leaves_by_other_interfaces() -> None:
    rules = egress.ruleset({"10.213.61.0/24", "10.213.60.0/24"})
    assert "elements = { 10.213.60.0/24, 10.213.61.0/24 }" in rules
    assert 'ip saddr @subnets ip daddr != @subnets oifname != "sh*" masquerade' in rules
    assert "type nat hook postrouting" in rules
    r = subprocess.run(["nft", "-c", "-f", "-"], input=rules.encode(), capture_output=True)
    assert r.returncode == 0, r.stderr  # nft checks it without applying it


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
