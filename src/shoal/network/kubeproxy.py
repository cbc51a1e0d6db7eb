"""The Kubernetes Services' data plane on a node: the nftables table ``ip shoal_kube``, written from the
managers' view (``api/kubenet.KubeNetView``) as kube-proxy's nftables mode writes its own, and the
LoadBalancer pool addresses this node announces (issue 16; docs/design/kube-network.md, "The Services'
data plane").

The table (``render``), in kube-proxy's shape:

* hooks: ``nat-prerouting`` (Pods and the outside) and ``nat-output`` (the node itself) jump to
  ``services``; ``nat-postrouting`` to ``masquerading`` (what ``mark-for-masquerade`` marked);
  filter chains at input, forward and output (priority -110, before the NAT) reject new connections
  to a Service port without endpoints, and a ClusterIP's other ports;
* ``services``: the verdict map ``service-ips`` keyed ``ip daddr . meta l4proto . th dport`` (ClusterIPs,
  LoadBalancer addresses, external IPs), and ``service-nodeports`` keyed ``meta l4proto . th dport``
  for what is addressed to one of the node's own addresses (``fib daddr type local``);
* per Service port, ``service-<hash>-<ns>/<name>/<proto>/<port name>``: masquerades what comes to the
  ClusterIP from outside the pod range, then picks an endpoint (``numgen random mod N vmap``; with
  ``sessionAffinity: ClientIP`` first the endpoint the client had, from a set with timeouts);
  ``local-...`` the same over this node's endpoints only (``Local`` traffic policies);
  ``external-...`` for the NodePorts, LoadBalancer addresses and external IPs: ``Cluster`` masquerades
  and goes to ``service-``, ``Local`` keeps the client's address and goes to ``local-`` (Pods and the
  node itself still reach every endpoint), dropping when this node has no ready endpoint;
* ``endpoint-<hash>-...__<ip>/<port>``: masquerades a Pod that reaches itself (hairpin), DNATs.

Endpoints taking new connections are the ready ones; when none is, the serving terminating ones (as
kube-proxy). Headless and ExternalName Services get no rules; the cluster DNS address
(``Settings.ClusterDNS``) is never translated (the node's DNS server answers there).

``KubeProxy`` is the node's consumer of the view (``NodeNetwork.kube_consumers``): it renders each new
view and, when the text changed, replaces the whole table in one ``nft -f`` transaction from a thread
(views that come meanwhile are coalesced: only the latest is loaded). On the node that announces a
pool address (``view.Announce``) it adds the address (/32, labelled ``<dev>:shk``) to the interface
that holds the node's own address and sends a gratuitous ARP; it removes it when the address is not
announced here any more. ``close`` (and ``teardown``, for what a previous run left) remove both.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shoal.api.kubenet import KubeEndpoint, KubeNetView, KubeServiceInfo, KubeServicePort
from shoal.network.netns import need_forwarding

log = logging.getLogger(__name__)

TABLE = "shoal_kube"
MASQ_MARK = "0x00004000"
LABEL_SUFFIX = ":shk"  # the announced addresses' label (``eth0:shk``)


def _hash(text: str) -> str:
    """Eight characters of the text's SHA-256 in base 32, as kube-proxy names its chains."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:8]


def usable(endpoints: list[tuple[KubeEndpoint, int]], node: str | None = None) -> list[tuple[KubeEndpoint, int]]:
    """The endpoints that take new connections (of ``node`` only, when given): the ready ones, else
    the serving terminating ones."""
    cand = [(e, p) for e, p in endpoints if node is None or e.NodeID == node]
    ready = [(e, p) for e, p in cand if e.Ready]
    return ready or [(e, p) for e, p in cand if e.Serving and e.Terminating]


MAPS = {  # the table's sets and verdict maps of the Services, by name: their type
    "cluster-ips": "ipv4_addr",
    "service-ips": "ipv4_addr . inet_proto . inet_service : verdict",
    "service-nodeports": "inet_proto . inet_service : verdict",
    "no-endpoint-services": "ipv4_addr . inet_proto . inet_service : verdict",
    "no-endpoint-nodeports": "inet_proto . inet_service : verdict",
}


@dataclass
class Ruleset:
    """What the view makes of the table beyond its fixed chains: the elements of each of ``MAPS``, the
    affinity sets (name → declaration) and the Services' chains (name → rules)."""

    elements: dict[str, set[str]] = field(default_factory=lambda: {m: set() for m in MAPS})
    sets: dict[str, str] = field(default_factory=dict)
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _chain(name: str, rules: list[str] | tuple[str, ...]) -> str:
    body = "".join(f"  {r}\n" for r in rules)
    return f" chain {name} {{\n{body} }}\n"


def _service_port(rs: Ruleset, view: KubeNetView, svc: KubeServiceInfo, port: KubeServicePort) -> None:
    proto = port.Protocol.lower()
    base = f"{svc.Namespace}/{svc.Name}/{proto}/{port.Name}"
    h = _hash(base)
    eps = [(e, e.Ports[port.Name]) for e in svc.Endpoints if port.Name in e.Ports]
    cluster = usable(eps)
    local = usable(eps, view.NodeID)
    cluster_cidr = view.Settings.ClusterCIDR
    chains: dict[tuple[str, int], str] = {}  # endpoint → its chain

    def endpoint_chain(e: KubeEndpoint, tport: int) -> str:
        key = (e.IP, tport)
        if key not in chains:
            suffix = f"{base}__{e.IP}/{tport}"
            name = f"endpoint-{_hash(suffix)}-{suffix}"
            rules = [f"ip saddr {e.IP} jump mark-for-masquerade"]  # hairpin
            if svc.SessionAffinity:
                aff = f"affinity-{_hash(suffix)}-{suffix}"
                rs.sets[aff] = f"type ipv4_addr; flags dynamic,timeout; timeout {svc.AffinityTimeout}s;"
                rules.append(f"update @{aff} {{ ip saddr }}")
            rules.append(f"meta l4proto {proto} dnat to {e.IP}:{tport}")
            rs.chains[name] = tuple(rules)
            chains[key] = name
        return chains[key]

    def balance(name: str, picks: list[tuple[KubeEndpoint, int]]) -> None:
        rules: list[str] = []
        if svc.ClusterIP:
            rules.append(f"ip daddr {svc.ClusterIP} meta l4proto {proto} th dport {port.Port} "
                         f"ip saddr != {cluster_cidr} jump mark-for-masquerade")
        names = [endpoint_chain(e, p) for e, p in picks]
        if svc.SessionAffinity:
            rules += [f"ip saddr @affinity-{n.removeprefix('endpoint-')} goto {n}" for n in names]
        vmap = ", ".join(f"{i} : goto {n}" for i, n in enumerate(names))
        rules.append(f"numgen random mod {len(names)} vmap {{ {vmap} }}")
        rs.chains[name] = tuple(rules)

    service = f"service-{h}-{base}"
    local_chain = f"local-{h}-{base}"
    if cluster:
        balance(service, cluster)
    if local and (svc.InternalTrafficPolicy == "Local" or svc.ExternalTrafficPolicy == "Local"):
        balance(local_chain, local)

    key = f"{proto} . {port.Port}"
    el = rs.elements
    if svc.ClusterIP:
        el["cluster-ips"].add(svc.ClusterIP)
        internal = local if svc.InternalTrafficPolicy == "Local" else cluster
        if internal:
            el["service-ips"].add(f"{svc.ClusterIP} . {key} : goto "
                                  f"{local_chain if svc.InternalTrafficPolicy == 'Local' else service}")
        else:  # none at all: refused; none on this node (internalTrafficPolicy: Local): dropped
            el["no-endpoint-services"].add(
                f"{svc.ClusterIP} . {key} : {'goto reject-chain' if not cluster else 'drop'}")

    dests = list(svc.ExternalIPs) + list(svc.LoadBalancerIPs)
    nodeport = port.NodePort if svc.Type in ("NodePort", "LoadBalancer") else 0
    if not dests and not nodeport:
        return
    if not cluster:
        el["no-endpoint-services"].update(f"{ip} . {key} : goto reject-chain" for ip in dests)
        if nodeport:
            el["no-endpoint-nodeports"].add(f"{proto} . {nodeport} : goto reject-chain")
        return
    external = f"external-{h}-{base}"
    if svc.ExternalTrafficPolicy == "Local":
        rules = [f"ip saddr {cluster_cidr} goto {service}",  # Pods reach every endpoint
                 "fib saddr type local jump mark-for-masquerade",  # so does the node itself
                 f"fib saddr type local goto {service}",
                 f"goto {local_chain}" if local else "drop"]  # the outside: this node's endpoints only
    else:
        rules = ["jump mark-for-masquerade", f"goto {service}"]
    rs.chains[external] = tuple(rules)
    el["service-ips"].update(f"{ip} . {key} : goto {external}" for ip in dests)
    if nodeport:
        el["service-nodeports"].add(f"{proto} . {nodeport} : goto {external}")


def _elements(items: list[str] | set[str]) -> str:
    return f" elements = {{ {', '.join(sorted(items))} }};" if items else ""


def _service(view: KubeNetView, svc: KubeServiceInfo) -> Ruleset:
    rs = Ruleset()
    if svc.Type == "ExternalName" or svc.ClusterIP in ("", "None", view.Settings.ClusterDNS):
        return rs  # no rules: a name (DNS) only, the Pods' own addresses (headless), the node's DNS server
    for port in svc.Ports:
        _service_port(rs, view, svc, port)
    return rs


class Builder:
    """``build`` that keeps each Service's part of the last view: a Service equal to the one it was
    made from is not made again (a view of 1,000 Services where one changed costs one)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str], tuple[KubeServiceInfo, Ruleset]] = {}
        self._context: tuple[str, str, str] | None = None

    def build(self, view: KubeNetView) -> Ruleset:
        context = (view.NodeID, view.Settings.ClusterCIDR, view.Settings.ClusterDNS)
        if context != self._context:
            self._parts, self._context = {}, context
        rs = Ruleset()
        keys: dict[str, set[str]] = {name: set() for name in MAPS}  # the verdict maps' keys so far
        parts: dict[tuple[str, str], tuple[KubeServiceInfo, Ruleset]] = {}
        for svc in view.Services:
            key = (svc.Namespace, svc.Name)
            had = self._parts.get(key)
            part = had[1] if had is not None and (had[0] is svc or had[0] == svc) else _service(view, svc)
            parts[key] = (svc, part)
            for name, elements in part.elements.items():
                if not elements:
                    continue
                if name == "cluster-ips":
                    rs.elements[name] |= elements
                    continue
                # Two Services with one address and port (external IPs are the users'): the first, in
                # the view's order, has it; a map with one key twice would fail the whole load.
                mine = {_key(e) for e in elements}
                if mine & keys[name]:
                    elements = {e for e in elements if _key(e) not in keys[name]}
                keys[name] |= mine
                rs.elements[name] |= elements
            rs.sets.update(part.sets)
            rs.chains.update(part.chains)
        self._parts = parts
        return rs


def build(view: KubeNetView) -> Ruleset:
    """What the view makes of the table (see the module's docstring)."""
    return Builder().build(view)


def render(view: KubeNetView | Ruleset) -> str:
    """The whole ``ip shoal_kube`` table for the view, as one ``nft -f`` transaction (the table made
    if missing, deleted, and made again)."""
    rs = build(view) if isinstance(view, KubeNetView) else view
    text = [
        f"table ip {TABLE}\n", f"delete table ip {TABLE}\n", f"table ip {TABLE} {{\n",
        *(f" {'map' if ':' in typ else 'set'} {name} {{\n  type {typ};{_elements(rs.elements[name])}\n }}\n"
          for name, typ in MAPS.items()),
        *(f" set {name} {{\n  {decl}\n }}\n" for name, decl in rs.sets.items()),
        _chain("filter-input", ["type filter hook input priority -110; policy accept;",
                                "ct state new jump nodeport-endpoints-check",
                                "ct state new jump service-endpoints-check"]),
        _chain("filter-forward", ["type filter hook forward priority -110; policy accept;",
                                  "ct state new jump service-endpoints-check",
                                  "ct state new jump cluster-ips-check"]),
        _chain("filter-output", ["type filter hook output priority -110; policy accept;",
                                 "ct state new jump service-endpoints-check"]),
        _chain("filter-output-post-dnat", ["type filter hook output priority -90; policy accept;",
                                           "ct state new jump cluster-ips-check"]),
        _chain("nat-prerouting", ["type nat hook prerouting priority -100; policy accept;", "jump services"]),
        _chain("nat-output", ["type nat hook output priority -100; policy accept;", "jump services"]),
        _chain("nat-postrouting", ["type nat hook postrouting priority 100; policy accept;", "jump masquerading"]),
        _chain("mark-for-masquerade", [f"meta mark set meta mark | {MASQ_MARK}"]),
        _chain("masquerading", [f"meta mark & {MASQ_MARK} == 0 return",
                                f"meta mark set meta mark ^ {MASQ_MARK}",
                                "masquerade fully-random"]),
        _chain("services", ["ip daddr . meta l4proto . th dport vmap @service-ips",
                            "fib daddr type local ip daddr != 127.0.0.0/8 "
                            "meta l4proto . th dport vmap @service-nodeports"]),
        _chain("service-endpoints-check", ["ip daddr . meta l4proto . th dport vmap @no-endpoint-services"]),
        _chain("nodeport-endpoints-check", ["fib daddr type local ip daddr != 127.0.0.0/8 "
                                            "meta l4proto . th dport vmap @no-endpoint-nodeports"]),
        _chain("cluster-ips-check", ["ip daddr @cluster-ips reject"]),  # a ClusterIP's other ports
        _chain("reject-chain", ["reject"]),
        *(_chain(name, rules) for name, rules in rs.chains.items()),
        "}\n",
    ]
    return "".join(text)


def _key(element: str) -> str:
    return element.split(" : ")[0]


def delta(old: Ruleset, new: Ruleset) -> str | None:
    """One ``nft -f`` transaction that turns the table ``old`` made into what ``new`` makes: only the
    map elements, sets and chains that differ (as kube-proxy's partial syncs); "" when none does.

    Order: the elements going (or changing) first, then the new chains and sets are declared, the
    changed chains flushed and every new or changed chain filled, the new elements added, and last the
    chains and sets nothing refers to any more deleted. None when an affinity set's declaration changed
    (its timeout): the whole table is loaded again."""
    if any(old.sets.get(name, decl) != decl for name, decl in new.sets.items()):
        return None
    t = f"ip {TABLE}"
    out: list[str] = []
    for name in MAPS:
        gone = old.elements[name] - new.elements[name]
        if gone:
            out.append(f"delete element {t} {name} {{ {', '.join(sorted({_key(e) for e in gone}))} }}\n")
    out += [f"add chain {t} {name}\n" for name in new.chains if name not in old.chains]
    out += [f"add set {t} {name} {{ {decl} }}\n" for name, decl in new.sets.items() if name not in old.sets]
    for name, rules in new.chains.items():
        was = old.chains.get(name)
        if was == rules:
            continue
        if was is not None:
            out.append(f"flush chain {t} {name}\n")
        out += [f"add rule {t} {name} {r}\n" for r in rules]
    for name in MAPS:
        added = new.elements[name] - old.elements[name]
        if added:
            out.append(f"add element {t} {name} {{ {', '.join(sorted(added))} }}\n")
    out += [f"flush chain {t} {name}\n" for name in old.chains if name not in new.chains]
    out += [f"delete chain {t} {name}\n" for name in old.chains if name not in new.chains]
    out += [f"delete set {t} {name}\n" for name in old.sets if name not in new.sets]
    return "".join(out)


def load(text: str) -> None:
    """Load a rendered table (blocking: run it in a thread)."""
    need_forwarding("kubeproxy", True)
    r = subprocess.run(["nft", "-f", "-"], input=text.encode(), capture_output=True)
    if r.returncode != 0:
        raise OSError(f"nft: {r.stderr.decode(errors='replace').strip()[:2000]}")


def remove_table() -> None:
    subprocess.run(["nft", "delete", "table", "ip", TABLE], capture_output=True)
    need_forwarding("kubeproxy", False)


# ---------------------------------------------------------------- the announced addresses


def _label(ifname: str) -> str:
    label = ifname + LABEL_SUFFIX
    return label if len(label) <= 15 else ""


def _gratuitous_arp(ifname: str, addr: str) -> None:
    """Tell the link that ``addr`` is at this interface's MAC (an ARP request for itself, broadcast)."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((ifname, 0))
        mac = s.getsockname()[4]
        ip = socket.inet_aton(addr)
        arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + b"\x00" * 6 + ip
        s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)


def sync_announced(node_addr: str, want: set[str], have: set[str]) -> set[str]:
    """Make the node hold the announced addresses ``want`` (/32, on the interface holding ``node_addr``),
    dropping those of ``have`` (and any labelled ``<dev>:shk``) no longer wanted; returns what it holds
    (blocking: run it in a thread)."""
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        index = None
        held: dict[str, int] = {}
        for a in ipr.get_addr(family=socket.AF_INET):
            ip = a.get_attr("IFA_ADDRESS")
            if ip == node_addr:
                index = a["index"]
            label = a.get_attr("IFA_LABEL") or ""
            if a["prefixlen"] == 32 and (ip in have or label.endswith(LABEL_SUFFIX)):
                held[ip] = a["index"]
        for ip, idx in held.items():
            if ip not in want or idx != index:
                with contextlib.suppress(NetlinkError):
                    ipr.addr("del", index=idx, address=ip, mask=32)
        now = {ip for ip, idx in held.items() if ip in want and idx == index}
        if index is None:
            return now
        ifname = names.get(index, "")
        for ip in sorted(want - now):
            label = _label(ifname)
            try:
                if label:
                    ipr.addr("add", index=index, address=ip, mask=32, label=label)
                else:
                    ipr.addr("add", index=index, address=ip, mask=32)
            except NetlinkError as e:
                log.warning("announcing %s on %s: %s", ip, ifname, e)
                continue
            now.add(ip)
            with contextlib.suppress(OSError):
                _gratuitous_arp(ifname, ip)
    return now


def teardown() -> None:
    """Remove the table and every announced address (what this or a previous run made)."""
    remove_table()
    with contextlib.suppress(OSError, NetlinkError):
        sync_announced("", set(), set())


# ---------------------------------------------------------------- the node's consumer


class KubeProxy:
    """Keeps the node's table and announced addresses as the latest view says (see the module's docstring)."""

    def __init__(self) -> None:
        self.model: Ruleset | None = None  # what the loaded table holds (None: not loaded, or unknown)
        self._builder = Builder()
        self.announced: set[str] = set()
        self.loads = 0  # tables loaded (tests, benchmarks)
        self.last_load = 0.0  # seconds the last render + load took
        self.loaded = asyncio.Event()  # set after each load (tests wait on it)
        self._latest: KubeNetView | None = None
        self._work: asyncio.Task[None] | None = None
        self._closed = False

    async def consume(self, view: KubeNetView) -> None:
        """A new view: applied in the background (the worker does not wait for ``nft``)."""
        if self._closed:
            return
        self._latest = view
        if self._work is None or self._work.done():
            self._work = asyncio.get_running_loop().create_task(self._run(), name="kubeproxy")

    async def _run(self) -> None:
        while self._latest is not None and not self._closed:
            view, self._latest = self._latest, None
            try:
                await self.apply(view)
            except Exception as e:  # the next view tries again
                log.warning("Services' rules: %s", e)

    async def wait(self) -> None:
        """Until every view given so far is applied."""
        while self._work is not None and not self._work.done():
            await asyncio.wait([self._work])

    async def apply(self, view: KubeNetView) -> None:
        start = time.perf_counter()
        rs = self._builder.build(view)
        text = delta(self.model, rs) if self.model is not None else None
        if text is None:
            text = render(rs)
        if text:
            self.model = None  # until it is loaded (a failed load: the whole table, next time)
            await asyncio.to_thread(load, text)
            self.loads += 1
            self.last_load = time.perf_counter() - start
            self.loaded.set()
        self.model = rs
        addr = view.NodeAddrs.get(view.NodeID, "")
        want = set(view.Announce) if addr else set()
        if want != self.announced:
            self.announced = await asyncio.to_thread(sync_announced, addr, want, self.announced)

    async def close(self) -> None:
        """The node leaves or stops (no more views come): the table and the announced addresses go."""
        self._closed = True
        self._latest = None
        await self.wait()
        await asyncio.to_thread(teardown)
        self.model = None
        self.announced = set()
        self._closed = False  # the node may join again: its next views are loaded

    async def cleanup(self) -> None:
        """What a previous run left (daemon start): removed; the managers' next view makes it again."""
        if self.model is None:
            await asyncio.to_thread(teardown)
