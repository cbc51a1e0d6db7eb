"""The node's local networks: predefined ones, Docker's default local pools, names, filters, endpoints,
and what survives a restart (no netlink: the routes are given)."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import pytest

from shoal.api.control import IPAMRequest, IPAMRequestConfig, NetworkCreateRequest
from shoal.api.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from shoal.network.local import LocalNetworks, bridge_name_of, mac_of

Routes = list[ipaddress.IPv4Network]


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def store(root: Path, routes: Routes | None = None, bip: str = "172.17.0.1/16") -> LocalNetworks:
    s = LocalNetworks(root, choose=lambda _: bip, in_use=lambda: list(routes or []))
    s.load()
    return s


def create(s: LocalNetworks, name: str, subnet: str = "", **kw: object) -> str:
    ipam = IPAMRequest(Config=[IPAMRequestConfig(Subnet=subnet, **kw)]) if subnet or kw else None  # type: ignore[arg-type]
    return s.create(NetworkCreateRequest(Name=name, Driver="bridge", IPAM=ipam)).ID


def test_predefined_networks_as_docker_shows_them(tmp_path: Path) -> None:
    s = store(tmp_path)
    nets = {n.Name: n for n in s.networks()}
    assert [(n.Name, n.Driver) for n in s.networks()] == [("bridge", "bridge"), ("host", "host"), ("none", "null")]
    assert all(len(n.ID) == 64 and int(n.ID, 16) >= 0 for n in nets.values())
    br = nets["bridge"]
    assert (br.subnet, br.gateway) == ("172.17.0.0/16", "172.17.0.1")
    assert br.Options["com.docker.network.bridge.default_bridge"] == "true"
    assert br.Options["com.docker.network.bridge.name"] == "shb-default" == bridge_name_of(br)
    assert nets["host"].IPAM == [] and nets["none"].IPAM == []
    again = store(tmp_path)  # the IDs are kept
    assert {n.Name: n.ID for n in again.networks()} == {n: v.ID for n, v in nets.items()}
    assert oct(os.stat(tmp_path / "predefined.json").st_mode & 0o777) == "0o600"


def test_default_pools_skip_the_default_bridge_routes_and_other_networks(tmp_path: Path) -> None:
    routes = [ipaddress.IPv4Network("172.18.0.0/16"), ipaddress.IPv4Network("172.20.5.0/24")]
    s = store(tmp_path, routes)
    a, b, c = (s.network(create(s, n)) for n in ("a", "b", "c"))
    assert (a.subnet, a.gateway) == ("172.19.0.0/16", "172.19.0.1")
    assert b.subnet == "172.21.0.0/16"  # 172.20/16 overlaps a route
    assert c.subnet == "172.22.0.0/16"
    assert bridge_name_of(a) == "br-" + a.ID[:12]


def test_after_172_31_come_192_168_in_slash_20s(tmp_path: Path) -> None:
    s = store(tmp_path, [ipaddress.IPv4Network("172.16.0.0/12")], bip="10.213.0.1/24")
    assert s.network(create(s, "a")).subnet == "192.168.0.0/20"
    assert s.network(create(s, "b")).subnet == "192.168.16.0/20"


def test_given_subnet_gateway_and_range(tmp_path: Path) -> None:
    s = store(tmp_path)
    n = s.network(create(s, "front", "10.213.30.0/24", Gateway="10.213.30.254", IPRange="10.213.30.128/25"))
    assert (n.subnet, n.gateway, n.IPAM[0].IPRange) == ("10.213.30.0/24", "10.213.30.254", "10.213.30.128/25")
    _, ep = s.join("front", "c" * 64, "web")
    assert ep.IPv4Address == "10.213.30.129/24" and ep.MacAddress == mac_of("10.213.30.129/24") == "02:42:0a:d5:1e:81"
    with pytest.raises(Conflict, match=exactly("Pool overlaps with other one on this address space")):
        create(s, "other", "10.213.30.0/25")
    with pytest.raises(InvalidArgument, match=re.escape("no matching subnet for gateway 10.213.99.1")):
        create(s, "bad", "10.213.31.0/24", Gateway="10.213.99.1")


def test_names_are_unique_and_predefined_ones_refused(tmp_path: Path) -> None:
    s = store(tmp_path)
    create(s, "front")
    with pytest.raises(Conflict, match=exactly("network with name front already exists")):
        create(s, "front")
    with pytest.raises(Conflict, match=exactly("network with name web already exists")):
        s.create(NetworkCreateRequest(Name="web"), swarm_names={"web"})
    with pytest.raises(PermissionDenied, match=exactly("operation is not permitted on predefined bridge network ")):
        create(s, "bridge")
    with pytest.raises(PermissionDenied, match='only one instance of "host" network is allowed'):
        s.create(NetworkCreateRequest(Name="h2", Driver="host"))
    with pytest.raises(Conflict):
        s.check_name("front")  # a swarm network may not take it either


def test_remove_refused_for_predefined_and_while_connected(tmp_path: Path) -> None:
    s = store(tmp_path)
    nid = create(s, "front", "10.213.31.0/24")
    with pytest.raises(PermissionDenied, match=exactly("bridge is a pre-defined network and cannot be removed")):
        s.remove("bridge")
    s.join(nid, "a" * 64, "web")
    busy = f"error while removing network: network front id {nid} has active endpoints"
    with pytest.raises(PermissionDenied, match=exactly(busy)):
        s.remove("front")
    s.leave(nid, "a" * 64)
    s.remove(nid[:5])
    assert not (tmp_path / f"{nid}.json").exists()
    with pytest.raises(NotFound, match=exactly("network front not found")):
        s.network("front")


def test_networks_survive_a_restart(tmp_path: Path) -> None:
    s = store(tmp_path)
    nid = create(s, "front", "10.213.32.0/24")
    assert oct(os.stat(tmp_path / f"{nid}.json").st_mode & 0o777) == "0o600"
    again = store(tmp_path)
    assert again.network("front").ID == nid and again.network(nid).subnet == "10.213.32.0/24"


def test_filters(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.create(NetworkCreateRequest(Name="front", Labels={"tier": "web"}))
    back = create(s, "back")
    s.join(back, "b" * 64, "db")

    def names(**f: list[str]) -> list[str]:
        return [n.Name for n in s.networks(dict(f))]

    assert names(name=["fr"]) == ["front"]
    assert names(id=[back[:10]]) == ["back"]
    assert names(label=["tier"]) == ["front"] and names(label=["tier=db"]) == []
    assert names(driver=["null"]) == ["none"]
    assert names(scope=["swarm"]) == [] and len(names(scope=["local"])) == 5
    assert names(type=["builtin"]) == ["bridge", "host", "none"]
    assert names(type=["custom"]) == ["back", "front"]
    assert names(dangling=["true"]) == ["front"]
    assert names(dangling=["false"]) == ["back", "bridge", "host", "none"]
    with pytest.raises(InvalidArgument, match="invalid filter: 'type'='x'"):
        names(type=["x"])
    with pytest.raises(InvalidArgument, match="invalid value for filter 'dangling', must be"):
        names(dangling=["x"])
    assert [n.Name for n in s.prunable()] == ["front"]
    assert [n.Name for n in s.prunable({"label": ["tier=web"]})] == ["front"]
    assert s.prunable({"label!": ["tier"]}) == []


def test_endpoints_addresses_and_names(tmp_path: Path) -> None:
    s = store(tmp_path)
    nid = create(s, "front", "10.213.33.0/24")
    auto = create(s, "auto")
    a, b = "a" * 64, "b" * 64
    _, ea = s.join(nid, a, "web", ["www"])
    _, eb = s.join(nid, b, "db", ipv4="10.213.33.50")
    assert (ea.IPv4Address, eb.IPv4Address) == ("10.213.33.2/24", "10.213.33.50/24")
    with pytest.raises(Conflict, match=exactly("endpoint with name web already exists in network front")):
        s.join(nid, a, "web")
    with pytest.raises(Conflict, match="Address already in use"):
        s.join(nid, "c" * 64, "x", ipv4="10.213.33.50")
    with pytest.raises(InvalidArgument, match="user configured subnets"):
        s.join(auto, a, "web", ipv4="172.18.0.9")
    with pytest.raises(InvalidArgument, match="user defined networks only"):
        s.join("bridge", a, "web", ipv4="172.17.0.9")
    assert s.dns_names(nid) == {"web": ["10.213.33.2"], "www": ["10.213.33.2"], a[:12]: ["10.213.33.2"],
                                "db": ["10.213.33.50"], b[:12]: ["10.213.33.50"]}
    _, on_bridge = s.join("bridge", a, "web", address="172.17.0.2/16")
    assert on_bridge.IPv4Address == "172.17.0.2/16"
    assert s.dns_names(s.network("bridge").ID) == {}  # no names on the default bridge, as Docker
    assert set(s.network("front").Containers) == {a, b}
