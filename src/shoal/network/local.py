"""The node's local networks: Docker's predefined ``bridge``, ``host`` and ``none``, the user-defined
networks of the ``bridge`` driver, their addresses, and the containers on them.

A network is kept as ``<data-root>/networks/<id>.json`` (0600 from the first byte, as
``runtime.private`` writes the daemon's files; the network layer is below the runtime's), the
predefined ones' IDs in ``predefined.json``; every ID is 64 hexadecimal digits, made once, as dockerd's. The
predefined ``bridge`` is the node's default bridge (``default.py``), on which the swarm's tasks
without networks already go: its subnet is the daemon's ``--bip`` (else ``$SHOAL_BIP``, else the
first of 172.17-31.0.0/16 no route overlaps) and its addresses are the ``DefaultBridge``'s. A
user-defined network's subnet is ``--subnet``, else the first of Docker's default local pools
(172.17-31.0.0/16, then 192.168.0.0/16 in /20s) that overlaps no route or address of the node, no
other local network and the default bridge; its gateway is ``--gateway`` or the subnet's first
address; a container's address is ``--ip`` or the lowest free one (within ``--ip-range``).

What is connected (``join``/``leave``: the node's network calls them as it wires a sandbox) is kept
in memory, as sandboxes do not outlive their daemon; a network with endpoints cannot be removed.
Names are unique among the node's networks and the swarm's (the caller says which swarm names
exist). Errors are ``api.errors`` with Docker's words. Pure bookkeeping: no netlink here, except the
routes read (once per create) to choose a subnet.
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from shoal.api.control import NetworkCreateRequest
from shoal.api.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, Unimplemented
from shoal.api.labels import labels_match
from shoal.api.localnet import BRIDGE, HOST, NONE, PREDEFINED, LocalEndpoint, LocalIPAMConfig, LocalNetwork
from shoal.api.types import now_ts, parse_ts
from shoal.network import ipam
from shoal.network.default import NETWORK_ID as DEFAULT_BRIDGE_ID
from shoal.network.default import choose_bip, routes_in_use

# Docker's default local address pools: 172.17-31.0.0/16 in /16s, then 192.168.0.0/16 in /20s.
DEFAULT_POOLS: list[tuple[str, int]] = [(f"172.{i}.0.0/16", 16) for i in range(17, 32)] + [("192.168.0.0/16", 20)]
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade"
USER_BRIDGE_PREFIX = "br-"
DEFAULT_BRIDGE_NAME = "shb-" + DEFAULT_BRIDGE_ID


def predefined_options(bridge_name: str) -> dict[str, str]:
    """The default bridge's options, as Docker shows them (its Linux bridge is ``shb-default``)."""
    return {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        BRIDGE_NAME_OPTION: bridge_name,
        "com.docker.network.driver.mtu": "1500",
    }


def bridge_name_of(net: LocalNetwork) -> str:
    """The Linux bridge of a bridge-driver network: ``shb-default`` for ``bridge``, else the
    ``com.docker.network.bridge.name`` option, else ``br-<first 12 of its ID>`` as Docker's."""
    if net.Predefined:
        return DEFAULT_BRIDGE_NAME
    return net.Options.get(BRIDGE_NAME_OPTION) or USER_BRIDGE_PREFIX + net.ID[:12]


def masquerades(net: LocalNetwork) -> bool:
    return not net.Internal and net.Options.get(MASQUERADE_OPTION, "true").lower() != "false"


def mac_of(address: str) -> str:
    """``02:42`` and the IPv4 address's four bytes, as Docker made MAC addresses."""
    ip = ipaddress.IPv4Interface(address).ip.packed
    return "02:42:" + ":".join(f"{b:02x}" for b in ip)


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` at once (through a file beside it), 0600 from its first byte."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    tmp.replace(path)


def predefined_error(name: str) -> PermissionDenied:
    return PermissionDenied(f"operation is not permitted on predefined {name} network ")


def _match(pattern: str, value: str) -> bool:
    """Docker's filter match: the value, or a regular expression found in it."""
    if pattern == value:
        return True
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


class _Stored(msgspec.Struct, kw_only=True):
    network: LocalNetwork
    configured: bool = False  # --subnet was given (only then may a container ask for --ip)


class LocalNetworks:
    """The node's local networks (``load`` first), and who is connected to them."""

    def __init__(self, root: Path, bip: str = "", choose: Callable[[str], str] = choose_bip,
                 in_use: Callable[[], list[ipaddress.IPv4Network]] = routes_in_use) -> None:
        self.root = Path(root)
        self._bip_conf = bip
        self._choose = choose
        self._in_use = in_use
        self._bip = ""
        self._nets: dict[str, _Stored] = {}
        self._endpoints: dict[str, dict[str, LocalEndpoint]] = {}  # network ID → container ID → endpoint

    # ------------------------------------------------------------ the stored networks

    def load(self) -> None:
        _make_dir(self.root)
        ids_file = self.root / "predefined.json"
        ids: dict[str, str] = {}
        if ids_file.exists():
            ids = msgspec.json.decode(ids_file.read_bytes(), type=dict[str, str])
        if set(ids) != set(PREDEFINED):
            ids = {name: ids.get(name) or os.urandom(32).hex() for name in PREDEFINED}
            _write_private(ids_file, msgspec.json.encode(ids))
        created = now_ts()
        self._nets = {}
        for name, driver in ((BRIDGE, "bridge"), (HOST, "host"), (NONE, "null")):
            net = LocalNetwork(ID=ids[name], Name=name, Driver=driver, Created=created, Predefined=True)
            self._nets[net.ID] = _Stored(network=net)
        for p in sorted(self.root.glob("*.json")):
            if p.name == "predefined.json":
                continue
            try:
                st = msgspec.json.decode(p.read_bytes(), type=_Stored)
            except (OSError, msgspec.DecodeError):
                continue
            self._nets[st.network.ID] = st

    def bip(self) -> str:
        """The default bridge's address and prefix (``--bip``, else chosen once, on first use: the
        daemon does it at start, from a thread; pyroute2 cannot be used from the event loop's thread)."""
        if not self._bip:
            got: list[str] = []
            t = threading.Thread(target=lambda: got.append(self._choose(self._bip_conf)), name="choose-bip")
            t.start()
            t.join()
            if not got:
                raise OSError("the default bridge's subnet could not be chosen")
            self._bip = got[0]
        return self._bip

    def bridge_id(self) -> str:
        """The predefined ``bridge`` network's ID (Docker names it in its errors)."""
        return next((s.network.ID for s in self._nets.values() if s.network.Predefined and s.network.Name == BRIDGE),
                    DEFAULT_BRIDGE_ID)

    def _predefined_bridge(self, net: LocalNetwork) -> LocalNetwork:
        iface = ipaddress.IPv4Interface(self.bip())
        return msgspec.structs.replace(
            net, IPAM=[LocalIPAMConfig(Subnet=str(iface.network), Gateway=str(iface.ip))],
            Options=predefined_options(DEFAULT_BRIDGE_NAME))

    def _view(self, st: _Stored) -> LocalNetwork:
        net = st.network
        if net.Predefined and net.Name == BRIDGE:
            net = self._predefined_bridge(net)
        return msgspec.structs.replace(net, Containers=dict(self._endpoints.get(net.ID, {})))

    def networks(self, filters: dict[str, list[str]] | None = None) -> list[LocalNetwork]:
        """Filters: name, id (a regular expression or the value), label (``k`` or ``k=v``), driver,
        scope (``local``), type (``custom``|``builtin``), dangling (no container)."""
        f = filters or {}
        out = []
        for st in self._nets.values():
            n = st.network
            if "name" in f and not any(_match(v, n.Name) for v in f["name"]):
                continue
            if "id" in f and not any(_match(v, n.ID) for v in f["id"]):
                continue
            if "driver" in f and n.Driver not in f["driver"]:
                continue
            if "scope" in f and "local" not in f["scope"]:
                continue
            if "type" in f:
                kind = "builtin" if n.Predefined else "custom"
                bad = [v for v in f["type"] if v not in ("custom", "builtin")]
                if bad:
                    raise InvalidArgument(f"invalid filter: 'type'='{bad[0]}'")
                if kind not in f["type"]:
                    continue
            if "label" in f and not labels_match(n.Labels, f["label"]):
                continue
            if "dangling" in f:
                want = _dangling(f["dangling"])
                if want != (not n.Predefined and not self._endpoints.get(n.ID)):
                    continue
            out.append(self._view(st))
        return sorted(out, key=lambda n: n.Name)

    def find(self, ref: str) -> LocalNetwork | None:
        """By full ID, then name, then unique ID prefix (Docker's order); None when none is."""
        nets = list(self._nets.values())
        for match in (lambda s: s.network.ID == ref, lambda s: s.network.Name == ref,
                      lambda s: s.network.ID.startswith(ref)):
            found = [s for s in nets if match(s)]
            if len(found) == 1:
                return self._view(found[0])
            if len(found) > 1:
                raise InvalidArgument(f"network {ref} is ambiguous ({len(found)} matches found based on ID prefix)")
        return None

    def network(self, ref: str) -> LocalNetwork:
        found = self.find(ref) if ref else None
        if found is None:
            raise NotFound(f"network {ref} not found")
        return found

    def names(self) -> set[str]:
        return {s.network.Name for s in self._nets.values()}

    def check_name(self, name: str) -> None:
        """A swarm network about to be made with ``name``: refused when a local one has it."""
        if name in PREDEFINED:
            raise predefined_error(name)
        if name in self.names():
            raise Conflict(f"network with name {name} already exists")

    def create(self, req: NetworkCreateRequest, swarm_names: Iterable[str] = ()) -> LocalNetwork:
        """A user-defined network of the bridge driver (the only local driver that makes new ones)."""
        name = req.Name
        if not name:
            raise InvalidArgument("network name must not be empty")  # what the CLI's own check says
        driver = req.Driver or "bridge"
        if name in PREDEFINED:
            raise predefined_error(name)
        if driver in ("host", "null"):
            raise PermissionDenied(f'only one instance of "{driver}" network is allowed')
        if driver != "bridge":
            raise NotFound(f"plugin \"{driver}\" not found")
        if name in self.names() or name in set(swarm_names):
            raise Conflict(f"network with name {name} already exists")
        if req.EnableIPv6:
            raise Unimplemented("IPv6 is not supported on shoal's local networks")
        if req.Ingress:
            raise PermissionDenied("bridge networks cannot be ingress networks")  # Docker: only swarm's
        want = (req.IPAM.Config if req.IPAM else None) or []
        if len(want) > 1:
            raise InvalidArgument("shoal's local networks take one IPv4 subnet")
        conf = want[0] if want else None
        taken = self._subnets()
        try:
            if conf is not None and conf.Subnet:
                subnet = ipam.parse_subnet(conf.Subnet)
                clash = next((t for t in taken if t.overlaps(subnet)), None)
                if clash is not None:
                    raise Conflict("Pool overlaps with other one on this address space")
            elif conf is not None and (conf.Gateway or conf.IPRange):
                raise InvalidArgument("no matching subnet for " + ("gateway " + conf.Gateway if conf.Gateway
                                                                  else "range " + conf.IPRange))
            else:
                subnet = self._free_subnet(taken)
            gateway = ipam.gateway_of(subnet, conf.Gateway if conf else "")
            ip_range = conf.IPRange if conf else ""
            if ip_range and not ipaddress.IPv4Network(ip_range, strict=False).subnet_of(subnet):
                raise InvalidArgument(f"no matching subnet for range {ip_range}")
        except (ipam.IPAMError, ValueError) as e:
            raise InvalidArgument(str(e)) from e
        net = LocalNetwork(
            ID=os.urandom(32).hex(), Name=name, Driver="bridge", Created=now_ts(), Internal=req.Internal,
            Attachable=req.Attachable, IPAMDriver=(req.IPAM.Driver if req.IPAM else "") or "default",
            IPAMOptions=dict((req.IPAM.Options if req.IPAM else None) or {}),
            IPAM=[LocalIPAMConfig(Subnet=str(subnet), Gateway=gateway, IPRange=ip_range)],
            Options=dict(req.Options or {}), Labels=dict(req.Labels or {}))
        st = _Stored(network=net, configured=bool(conf is not None and conf.Subnet))
        _make_dir(self.root)
        _write_private(self.root / f"{net.ID}.json", msgspec.json.encode(st))
        self._nets[net.ID] = st
        return self._view(st)

    def _subnets(self) -> list[ipaddress.IPv4Network]:
        """The subnets a new network's must not overlap: the other local networks' and the default bridge's."""
        out = [ipaddress.IPv4Network(s.network.subnet) for s in self._nets.values() if s.network.subnet]
        out.append(ipaddress.IPv4Interface(self.bip()).network)
        return out

    def _free_subnet(self, taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
        used = taken + self._in_use()
        for pool, size in DEFAULT_POOLS:
            for cand in ipaddress.IPv4Network(pool).subnets(new_prefix=size):
                if not any(cand.overlaps(u) for u in used):
                    return cand
        raise InvalidArgument("could not find an available, non-overlapping IPv4 address pool among the defaults "
                              "to assign to the network")

    def remove(self, ref: str) -> LocalNetwork:
        """Forget a user-defined network with no endpoints (the caller removes its bridge)."""
        net = self.network(ref)
        if net.Predefined:
            raise PermissionDenied(f"{net.Name} is a pre-defined network and cannot be removed")
        if self._endpoints.get(net.ID):
            raise PermissionDenied(f"error while removing network: network {net.Name} id {net.ID} has active endpoints")
        (self.root / f"{net.ID}.json").unlink(missing_ok=True)
        self._nets.pop(net.ID, None)
        self._endpoints.pop(net.ID, None)
        return net

    def prunable(self, filters: dict[str, list[str]] | None = None) -> list[LocalNetwork]:
        """The user-defined networks without containers that ``filters`` (``until``, ``label``,
        ``label!``) select: what ``docker network prune`` removes."""
        f = filters or {}
        until = min((_until(v) for v in f.get("until", [])), default=0.0)
        out = []
        for st in self._nets.values():
            n = st.network
            if n.Predefined or self._endpoints.get(n.ID):
                continue
            if until and parse_ts(n.Created) >= until:
                continue
            if "label" in f and not labels_match(n.Labels, f["label"]):
                continue
            if "label!" in f and any(labels_match(n.Labels, [v]) for v in f["label!"]):
                continue
            out.append(self._view(st))
        return sorted(out, key=lambda n: n.Name)

    # ------------------------------------------------------------ endpoints

    def join(self, ref: str, container_id: str, name: str, aliases: list[str] | None = None, ipv4: str = "",
             address: str = "") -> tuple[LocalNetwork, LocalEndpoint]:
        """Put a container on a network: its address (``ipv4``: the one asked for, ``--ip``; ``address``:
        one given by the caller with its prefix, the default bridge's) and endpoint."""
        net = self.network(ref)
        mine = self._endpoints.setdefault(net.ID, {})
        if container_id in mine:
            raise Conflict(f"endpoint with name {name} already exists in network {net.Name}")
        if net.Driver != "bridge":
            if ipv4 or aliases:
                raise InvalidArgument("network-scoped aliases and user specified IP addresses are supported only for "
                                      "user defined networks")
            addr = ""
        elif net.Predefined:
            if ipv4:
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            if aliases:
                raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
            addr = address
        else:
            addr = self._address(self._nets[net.ID], ipv4)
        ep = LocalEndpoint(ContainerID=container_id, Name=name, EndpointID=os.urandom(32).hex(),
                           MacAddress=mac_of(addr) if addr else "", IPv4Address=addr, Aliases=list(aliases or []))
        mine[container_id] = ep
        return net, ep

    def _address(self, st: _Stored, ipv4: str) -> str:
        net = st.network
        conf = net.IPAM[0]
        used = {e.IPv4Address.split("/")[0] for e in self._endpoints.get(net.ID, {}).values() if e.IPv4Address}
        subnet = ipaddress.IPv4Network(conf.Subnet)
        if ipv4:
            if not st.configured:
                raise InvalidArgument("user specified IP address is supported only when connecting to networks with "
                                      "user configured subnets")
            try:
                ip = ipaddress.IPv4Address(ipv4)
            except ValueError as e:
                raise InvalidArgument(f"invalid IPv4 address: {ipv4}") from e
            if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
                raise InvalidArgument(f"no available IPv4 addresses on this network's address pools: {net.Name} "
                                      f"({ipv4} is not in {conf.Subnet})")
            if ipv4 in used or ipv4 == conf.Gateway:
                raise Conflict("Address already in use")
            return f"{ipv4}/{subnet.prefixlen}"
        try:
            return ipam.allocate_address(conf.Subnet, conf.Gateway, used, conf.IPRange)
        except ipam.IPAMError as e:
            raise InvalidArgument(f"no available IPv4 addresses on this network's address pools: {net.Name} "
                                  f"({net.ID})") from e

    def leave(self, network_id: str, container_id: str) -> LocalEndpoint | None:
        return self._endpoints.get(network_id, {}).pop(container_id, None)

    def endpoint(self, network_id: str, container_id: str) -> LocalEndpoint | None:
        return self._endpoints.get(network_id, {}).get(container_id)

    def dns_names(self, network_id: str) -> dict[str, list[str]]:
        """What the containers of a user-defined network resolve there: each container's name, its
        aliases and its short ID, to its address (none on the default bridge, as in Docker)."""
        st = self._nets.get(network_id)
        if st is None or st.network.Predefined or st.network.Driver != "bridge":
            return {}
        names: dict[str, list[str]] = {}
        for ep in self._endpoints.get(network_id, {}).values():
            if not ep.IPv4Address:
                continue
            ip = ep.IPv4Address.split("/")[0]
            for n in {ep.Name, *ep.Aliases, ep.ContainerID[:12]} - {""}:
                names.setdefault(n.lower(), []).append(ip)
        return names


def _dangling(values: list[str]) -> bool:
    v = values[0].lower() if values else "true"
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise InvalidArgument("invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")")


def _until(value: str) -> float:
    """``until``: a Unix time, an RFC 3339 time or a duration before now (``10m``, ``24h``)."""
    import time

    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value)
    if m:
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return time.time() - float(m.group(1)) * scale
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_ts(value)
    except ValueError as e:
        raise InvalidArgument(f"invalid filter 'until={value}'") from e
