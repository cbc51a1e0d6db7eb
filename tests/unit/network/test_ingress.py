"""The routing mesh's nftables tables: DNAT of published ports to tasks anywhere, SNAT only towards
other nodes, host-mode ports to the local task, ARP for the gateway kept off the VXLAN; checked by
nft itself (``nft -c``, in a throw-away network namespace) where it can run."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from shoal.network import ingress, vip

VIEW = {
    "network": {"id": "abcdefghijklmnop", "subnet": "10.213.0.0/24", "gateway": "10.213.0.1", "vni": 4096},
    "addr": "10.213.0.254/24",
    "ports": [{"protocol": "tcp", "published": 8080, "target": 80, "backends": ["10.213.0.3", "10.213.0.4"],
               "local": ["10.213.0.3"]},
              {"protocol": "udp", "published": 5353, "target": 53, "backends": [], "local": []}],
    "host": [{"protocol": "tcp", "published": 9090, "target": 90, "ip": "10.213.0.3"}],
}


def test_rules() -> None:
    rules = ingress.ruleset(VIEW)
    mesh = "fib daddr type local tcp dport 8080 dnat ip to numgen random mod 2 map { 0 : 10.213.0.3 . 80, " \
           "1 : 10.213.0.4 . 80 }"
    assert rules.count(mesh) == 2  # prerouting and output
    assert "dport 5353" not in rules  # no task: no rule (the port is closed)
    assert 'ct status dnat oifname "shi-abcdefghijk" ip daddr { 10.213.0.4 } snat ip to 10.213.0.254' in rules
    assert rules.count("fib daddr type local tcp dport 9090 dnat ip to 10.213.0.3:90") == 2
    assert 'oifname "shx-*" arp daddr ip 10.213.0.1 drop' in rules


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="needs root and nft")
@pytest.mark.parametrize("rules", [ingress.ruleset(VIEW),
                                   vip.ruleset({"10.213.0.2": ["10.213.0.3"], "10.213.0.9": []})])
def test_nft_accepts_the_rules(rules: str) -> None:
    r = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=rules, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
