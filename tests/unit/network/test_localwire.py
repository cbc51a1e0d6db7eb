"""The local networks' nftables table as text (and, where nft can check it, as nft parses it)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from shoal.network.localwire import PortBinding, Published, owner_of, ruleset, table_name, veth_name


def test_names() -> None:
    owner = owner_of("/run/shoal")
    assert len(owner) == 8 and table_name(owner) == f"shoal_local_{owner}"
    v = veth_name("task1", "net1")
    assert v.startswith("vl") and len(v) == 14 and v != veth_name("task1", "net2")


def test_ports_isolation_and_way_out() -> None:
    rules = ruleset("abcd1234", [Published(PortBinding(80, "tcp", "", 8080), "10.213.1.2"),
                                 Published(PortBinding(53, "udp", "127.0.0.1", 5353), "10.213.1.3")],
                    {"10.213.1.0/24", "10.213.2.0/24"}, {"10.213.1.0/24"})
    assert "  fib daddr type local tcp dport 8080 dnat ip to 10.213.1.2:80" in rules
    assert "  ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.213.1.3:53" in rules
    assert "  ct status dnat ip saddr 127.0.0.0/8 masquerade" in rules
    assert "  ip saddr @subnets ip daddr @subnets ip saddr . ip daddr != @same drop" in rules
    assert " set out { type ipv4_addr; flags interval; elements = { 10.213.1.0/24 } }" in rules
    assert '  ip saddr @out ip daddr != @subnets oifname != "sh*" masquerade' in rules
    assert rules.count("dport 8080") == 2  # prerouting and output


def test_ports_only_has_no_sets() -> None:
    rules = ruleset("abcd1234", [Published(PortBinding(80), "10.213.1.2")])
    assert "set " not in rules and "@subnets" not in rules


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="nft --check needs root")
def test_nft_accepts_it() -> None:
    rules = ruleset("abcd1234", [Published(PortBinding(80, "tcp", "", 8080), "10.213.1.2")],
                    {"10.213.1.0/24", "10.213.2.0/24"}, {"10.213.1.0/24"})
    # "delete table" of a table that is not there fails a check: check the table's body alone.
    body = "\n".join(line for line in rules.splitlines() if not line.startswith(("delete table", "table ip shoal")) or
                     line.endswith("{"))
    r = subprocess.run(["nft", "--check", "-f", "-"], input=body.encode(), capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
