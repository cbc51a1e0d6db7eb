"""The Services' nftables table (kube-proxy's nftables shape) rendered from representative views,
each checked by ``nft -c`` in a throw-away network namespace; and the node's consumer loading it and
announcing LoadBalancer pool addresses in one."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from shoal.api.kubenet import KubeEndpoint, KubeNetSettings, KubeNetView, KubeServiceInfo, KubeServicePort
from shoal.network.kubeproxy import render, usable

E = KubeEndpoint
SETTINGS = KubeNetSettings(ClusterDNS="172.16.0.10")


def check(rules: str) -> None:
    """``nft -c``: the kernel checks the transaction without applying it, in a namespace of its own."""
    r = subprocess.run(["unshare", "-n", "nft", "-c", "-f", "-"], input=rules.encode(), capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


def chain(rules: str, prefix: str) -> str:
    """The body of the one chain of a Service port whose name starts with ``prefix`` (``service-``,
    ``local-``, ``external-``, ``endpoint-``, then the hash; or a whole name)."""
    found = [part for part in rules.split(" chain ")[1:]
             if re.match(re.escape(prefix) + ("[A-Z2-7]{8}-" if prefix.endswith("-") else " "), part)]
    assert len(found) == 1, (prefix, [f.split(" ")[0] for f in found])
    return found[0].split(" }\n")[0]


def view(*services: KubeServiceInfo, node: str = "n1") -> KubeNetView:
    return KubeNetView(Settings=SETTINGS, Services=services, NodeID=node,
                       NodeAddrs={"n1": "10.213.9.1", "n2": "10.213.9.2"})


WEB = KubeServiceInfo(
    Namespace="default", Name="web", ClusterIP="172.16.5.5",
    Ports=(KubeServicePort(Name="http", Port=80), KubeServicePort(Name="dns", Protocol="UDP", Port=53),
           KubeServicePort(Name="assoc", Protocol="SCTP", Port=9)),
    Endpoints=(E(IP="172.17.0.2", NodeID="n1", Ports={"http": 8080, "dns": 5353, "assoc": 9}),
               E(IP="172.17.0.3", NodeID="n2", Ports={"http": 8081}),  # its named port resolves elsewhere
               E(IP="172.17.0.4", Ready=False, Serving=False, NodeID="n1", Ports={"http": 8080})))  # not ready


def test_a_cluster_ip_balances_every_port_and_protocol_over_its_ready_endpoints() -> None:
    rules = render(view(WEB))
    check(rules)
    assert "172.16.5.5 . tcp . 80 : goto service-" in rules and "172.16.5.5 . udp . 53 : goto service-" in rules
    assert "172.16.5.5 . sctp . 9 : goto service-" in rules
    name = re.search(r"172\.16\.5\.5 \. tcp \. 80 : goto (\S+?),", rules)
    assert name is not None
    http = chain(rules, name[1])
    assert "ip saddr != 100.64.0.0/16 jump mark-for-masquerade" in http  # from outside the pod range
    assert "numgen random mod 2 vmap" in http
    assert "dnat to 172.17.0.2:8080" in rules and "dnat to 172.17.0.3:8081" in rules  # named ports, per endpoint
    assert "172.17.0.4" not in rules  # not ready: no new connections
    assert "meta l4proto udp dnat to 172.17.0.2:5353" in rules and "meta l4proto sctp dnat to 172.17.0.2:9" in rules
    assert "ip saddr 172.17.0.2 jump mark-for-masquerade" in rules  # hairpin
    for hook in ("hook prerouting", "hook output", "hook postrouting", "masquerade fully-random"):
        assert hook in rules
    assert rules.startswith("table ip shoal_kube\ndelete table ip shoal_kube\n")  # one transaction


def test_serving_terminating_endpoints_are_used_only_when_none_is_ready() -> None:
    eps = [(E(IP="a", Ready=False, Serving=True, Terminating=True), 80), (E(IP="b", Ready=False, Serving=False), 80)]
    assert [e.IP for e, _ in usable(eps)] == ["a"]
    assert [e.IP for e, _ in usable([*eps, (E(IP="c"), 80)])] == ["c"]


def test_headless_external_name_and_the_cluster_dns_address_get_no_rules() -> None:
    headless = KubeServiceInfo(Namespace="default", Name="hl", ClusterIP="None",
                               Ports=(KubeServicePort(Port=80),), Endpoints=(E(IP="172.17.0.2", Ports={"": 80}),))
    ext = KubeServiceInfo(Namespace="default", Name="ext", Type="ExternalName", ExternalName="web.example")
    dns = KubeServiceInfo(Namespace="kube-system", Name="kube-dns", ClusterIP="172.16.0.10",
                          Ports=(KubeServicePort(Name="dns", Protocol="UDP", Port=53),),
                          Endpoints=(E(IP="172.17.0.9", Ports={"dns": 53}),))
    rules = render(view(headless, ext, dns))
    check(rules)
    assert "172.17.0.2" not in rules and "172.16.0.10" not in rules and "172.17.0.9" not in rules
    assert not re.search("chain service-[A-Z2-7]{8}-", rules)


def test_a_service_without_endpoints_is_refused() -> None:
    empty = KubeServiceInfo(Namespace="default", Name="none", Type="NodePort", ClusterIP="172.16.5.8",
                            Ports=(KubeServicePort(Port=80, NodePort=30081),))
    rules = render(view(empty))
    check(rules)
    assert "172.16.5.8 . tcp . 80 : goto reject-chain" in rules and "tcp . 30081 : goto reject-chain" in rules
    assert "chain reject-chain {\n  reject" in rules
    assert not re.search("chain service-[A-Z2-7]{8}-", rules)


def test_session_affinity_remembers_each_clients_endpoint_with_a_timeout() -> None:
    aff = KubeServiceInfo(Namespace="default", Name="aff", ClusterIP="172.16.5.6", SessionAffinity=True,
                          AffinityTimeout=60, Ports=(KubeServicePort(Port=80),),
                          Endpoints=(E(IP="172.17.0.2", Ports={"": 80}), E(IP="172.17.0.3", Ports={"": 80})))
    rules = render(view(aff))
    check(rules)
    assert rules.count("flags dynamic,timeout; timeout 60s;") == 2
    svc = chain(rules, "service-")
    assert svc.count("ip saddr @affinity-") == 2 and svc.index("@affinity-") < svc.index("numgen")
    assert rules.count("update @affinity-") == 2 and "{ ip saddr }" in rules


LB = KubeServiceInfo(
    Namespace="default", Name="lb", Type="LoadBalancer", ClusterIP="172.16.5.7", LoadBalancerIPs=("10.213.9.200",),
    ExternalIPs=("10.213.9.201",), Ports=(KubeServicePort(Port=80, NodePort=30080),),
    Endpoints=(E(IP="172.17.0.2", NodeID="n1", Ports={"": 8080}), E(IP="172.17.0.3", NodeID="n2", Ports={"": 8080})))


def test_node_ports_and_load_balancer_addresses_masquerade_with_the_cluster_policy() -> None:
    rules = render(view(LB))
    check(rules)
    ext = chain(rules, "external-")
    assert "jump mark-for-masquerade" in ext and "goto service-" in ext
    assert "tcp . 30080 : goto external-" in rules
    assert "10.213.9.200 . tcp . 80 : goto external-" in rules and "10.213.9.201 . tcp . 80 : goto external-" in rules
    assert "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports" in rules


def test_the_local_policy_keeps_the_clients_address_and_only_local_endpoints() -> None:
    local = KubeServiceInfo(**{**{f: getattr(LB, f) for f in LB.__struct_fields__}, "ExternalTrafficPolicy": "Local"})
    on_n1 = render(view(local, node="n1"))
    check(on_n1)
    ext = chain(on_n1, "external-")
    assert ext.splitlines()[1].strip().startswith("ip saddr 100.64.0.0/16 goto service-")  # Pods: every endpoint
    assert "fib saddr type local goto service-" in ext and "goto local-" in ext
    loc = chain(on_n1, "local-")
    assert "numgen random mod 1" in loc and "172.17.0.2" in loc and "172.17.0.3" not in loc
    assert "jump mark-for-masquerade" not in ext.split("fib saddr type local goto")[1]  # the outside: kept
    elsewhere = render(view(msgspec_replace(local, Endpoints=local.Endpoints[1:]), node="n1"))
    check(elsewhere)
    assert chain(elsewhere, "external-").rstrip().endswith("drop")  # no ready Pod here: dropped
    assert "chain local-" not in elsewhere


def test_the_internal_local_policy_uses_this_nodes_endpoints_or_drops() -> None:
    itp = KubeServiceInfo(Namespace="default", Name="itp", ClusterIP="172.16.5.9", InternalTrafficPolicy="Local",
                          Ports=(KubeServicePort(Port=80),),
                          Endpoints=(E(IP="172.17.0.3", NodeID="n2", Ports={"": 80}),))
    on_n2 = render(view(itp, node="n2"))
    on_n1 = render(view(itp, node="n1"))
    check(on_n2)
    check(on_n1)
    assert "172.16.5.9 . tcp . 80 : goto local-" in on_n2
    assert "172.16.5.9 . tcp . 80 : drop" in on_n1


def msgspec_replace(s: KubeServiceInfo, **changes: object) -> KubeServiceInfo:
    import msgspec
    return msgspec.structs.replace(s, **changes)


def test_the_consumer_loads_the_table_and_announces_pool_addresses_in_a_namespace() -> None:
    """Run in a throw-away namespace (``unshare -n``): a dummy link holds the node's address."""
    script = textwrap.dedent("""
        import asyncio, subprocess
        from shoal.api.kubenet import *
        from shoal.network.kubeproxy import KubeProxy
        subprocess.run(["ip", "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p"], check=True)
        subprocess.run(["ip", "addr", "add", "10.213.9.1/24", "dev", "eth9"], check=True)
        subprocess.run(["ip", "link", "set", "eth9", "up"], check=True)
        svc = KubeServiceInfo(Namespace="default", Name="lb", Type="LoadBalancer", ClusterIP="172.16.5.7",
                              LoadBalancerIPs=("10.213.9.200",), Ports=(KubeServicePort(Port=80, NodePort=30080),),
                              Endpoints=(KubeEndpoint(IP="10.213.9.50", Ports={"": 80}),))
        def addrs():
            show = ["ip", "-4", "-o", "addr", "show", "dev", "eth9"]
            return subprocess.run(show, capture_output=True, text=True).stdout
        async def main():
            kp = KubeProxy()
            v = KubeNetView(Services=(svc,), NodeID="n1", NodeAddrs={"n1": "10.213.9.1"}, Announce=("10.213.9.200",))
            await kp.consume(v); await kp.wait()
            table = subprocess.run(["nft", "list", "table", "ip", "shoal_kube"], capture_output=True, text=True).stdout
            assert "10.213.9.200 . tcp . 80" in table and "dnat to 10.213.9.50:80" in table, table
            assert "10.213.9.200/32" in addrs() and "eth9:shk" in addrs(), addrs()
            loads = kp.loads
            await kp.consume(v); await kp.wait()
            assert kp.loads == loads  # the same text: not loaded again
            await kp.consume(KubeNetView(Services=(svc,), NodeID="n1", NodeAddrs={"n1": "10.213.9.1"}))
            await kp.wait()
            assert "10.213.9.200" not in addrs()  # announced elsewhere now
            await kp.consume(v); await kp.wait()
            await kp.close()
            assert "10.213.9.200" not in addrs()
            r = subprocess.run(["nft", "list", "table", "ip", "shoal_kube"], capture_output=True)
            assert r.returncode != 0  # the table is gone
            print("ok")
        asyncio.run(main())
    """)
    r = subprocess.run(["unshare", "-n", sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_a_change_is_loaded_as_the_difference_and_gives_the_table_a_whole_load_gives() -> None:
    """In a throw-away namespace: the table loaded whole for one view then changed by ``delta`` to the
    next equals the next loaded whole (chains, sets and elements), for endpoints added, removed, made
    not ready, a Service gone and one added."""
    script = textwrap.dedent("""
        import json, subprocess, msgspec
        from shoal.api.kubenet import *
        from shoal.network.kubeproxy import build, delta, render
        E = KubeEndpoint
        def svc(name, ip, eps, **kw):
            return KubeServiceInfo(Namespace="default", Name=name, ClusterIP=ip,
                                   Ports=(KubeServicePort(Name="http", Port=80, NodePort=kw.pop("np", 0)),),
                                   Endpoints=tuple(E(IP=e, NodeID="n1", Ports={"http": 8080}) for e in eps), **kw)
        v1 = KubeNetView(NodeID="n1", Services=(
            svc("a", "172.16.1.1", ["10.1.0.1", "10.1.0.2"], SessionAffinity=True),
            svc("b", "172.16.1.2", ["10.1.0.3"], Type="NodePort", np=30001, ExternalTrafficPolicy="Local"),
            svc("c", "172.16.1.3", ["10.1.0.4"])))
        v2 = KubeNetView(NodeID="n1", Services=(
            svc("a", "172.16.1.1", ["10.1.0.2", "10.1.0.5"], SessionAffinity=True),
            svc("b", "172.16.1.2", [], Type="NodePort", np=30001, ExternalTrafficPolicy="Local"),
            svc("d", "172.16.1.4", ["10.1.0.6"])))
        def nft(text):
            r = subprocess.run(["nft", "-f", "-"], input=text.encode(), capture_output=True)
            assert r.returncode == 0, (r.stderr.decode(), text)
        def dump():
            out = json.loads(subprocess.run(["nft", "-j", "list", "table", "ip", "shoal_kube"],
                                            capture_output=True, check=True).stdout)["nftables"]
            norm = set()
            for item in out:
                for kind, body in item.items():
                    if kind in ("chain", "set", "map"):
                        norm.add((kind, body["name"], json.dumps(body.get("elem"), sort_keys=True)))
                    elif kind == "rule":
                        norm.add((kind, body["chain"], json.dumps(body["expr"], sort_keys=True)))
            return norm
        nft(render(v1))
        d = delta(build(v1), build(v2))
        assert d and "delete table" not in d
        nft(d)
        after = dump()
        nft(render(v2))
        assert after == dump(), sorted(after ^ dump())
        assert delta(build(v2), build(v2)) == ""
        print("ok")
    """)
    r = subprocess.run(["unshare", "-n", sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_the_builder_makes_again_only_the_services_that_changed() -> None:
    from shoal.network.kubeproxy import Builder, build
    b = Builder()
    v1 = view(WEB, LB)
    first = b.build(v1)
    changed = msgspec_replace(LB, Endpoints=LB.Endpoints[:1])
    second = b.build(view(WEB, changed))
    assert second == build(view(WEB, changed))  # what a fresh build makes
    web_chain = next(n for n in first.chains if "/web/tcp/http" in n and n.startswith("service-"))
    assert second.chains[web_chain] is first.chains[web_chain]  # WEB's part kept, not made again
    assert b.build(view(WEB, changed, node="n2")) == build(view(WEB, changed, node="n2"))  # another node: all again


def test_two_services_claiming_one_address_and_port_do_not_break_the_table() -> None:
    """External IPs are the users' to write: the first Service in the view's order keeps the address."""
    other = msgspec_replace(LB, Name="lb2", ClusterIP="172.16.5.17")
    rules = render(view(LB, other))
    check(rules)
    assert rules.count("10.213.9.201 . tcp . 80 : goto external-") == 1
    assert re.search(r"10\.213\.9\.201 \. tcp \. 80 : goto external-\w+-default/lb/", rules)
