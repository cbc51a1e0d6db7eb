"""Swarm networks in the control API: create, list, inspect and remove, with Swarm's rules and words.

A network is swarm-scoped and uses the overlay driver. Creating one allocates its subnet and gateway
(``--subnet``/``--gateway``/``--ip-range``, or the cluster's default address pools) and its VXLAN ID
(``network.ipam``); removing one that a service uses is refused, naming the service. Services name
networks by name, ID or ID prefix: ``resolve`` turns each target into the network's ID. A service in
endpoint mode ``vip`` (the default) gets a virtual IP on each of its networks (``allocate_vips``).
The ``ingress`` network (``ensure_ingress``, VXLAN ID 4096) carries the routing mesh; services that
publish ports in ingress mode get them checked and allocated (``allocate_ports``).

Every such choice is made against this manager's cache, which can lag another manager's writes; what
makes it unique is the store: the object claims its name, VNI, subnet, virtual IPs and published ports
with index keys in the transaction that writes it (``store/index.py``). When a claim loses, ``Claims``
either words the loss as Docker does (a name or a port the user asked for) or remembers the value so
the caller can choose again (an automatic port, an address, a subnet, a VNI).

Both worlds on one network (issue 16 part 6): a published port a Kubernetes Service holds as a NodePort
(open on every node, claimed under the same ``port`` index key) is refused in Docker's words naming the
Service, through the mesh or ``mode=host``, and an automatic port skips every NodePort; a subnet that
overlaps the cluster's Kubernetes ranges (service range, pod range, LoadBalancer pool) is refused as an
overlapping pool, and an automatic subnet skips them (``kube_ranges``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from shoal.api.control import IPAMRequestConfig, NetworkCreateRequest
from shoal.api.errors import Conflict, InvalidArgument, NotFound, ShoalError
from shoal.api.ids import new_id
from shoal.api.kubenet import settings_of
from shoal.api.labels import labels_match
from shoal.api.states import TaskState
from shoal.api.types import (
    Cluster,
    Driver,
    IPAMConfig,
    IPAMOptions,
    KubeService,
    Network,
    NetworkSpec,
    Service,
    ServiceSpec,
    Task,
)
from shoal.manager.kube.netsettings import pool_range
from shoal.manager.kube.services import node_ports_by_protocol
from shoal.manager.rpc import failed_precondition, invalid
from shoal.network import ipam
from shoal.store.index import VNI_OPTION
from shoal.store.objects import ObjectStore, Taken

DYNAMIC_PORTS_FROM = 30000
CLAIM_ATTEMPTS = 8  # choose again at most this often when another manager took an automatic choice


@dataclass
class Claims:
    """Values another manager took while this one chose them from its cache: not to choose again."""

    ports: set[tuple[str, int]] = field(default_factory=set)
    ips: dict[str, set[str]] = field(default_factory=dict)
    subnets: set[str] = field(default_factory=set)
    vnis: set[int] = field(default_factory=set)

    def note(self, e: Taken) -> bool:
        """Remember what ``e`` says is taken; False when it is not a value chosen automatically."""
        what = e.what
        if what[0] == "ip":
            self.ips.setdefault(what[1], set()).add(what[2])
        elif what[0] == "subnet":
            self.subnets.add(what[1])
        elif what[0] == "vni":
            self.vnis.add(int(what[1]))
        elif what[0] == "port":
            self.ports.add((what[1], int(what[2])))
        else:
            return False
        return True


def port_in_use(port: int, owner: Service) -> ShoalError:
    return invalid(f"port '{port}' is already in use by service '{owner.Spec.Name}' ({owner.ID}) as an ingress port")


def port_is_node_port(port: int, owner: KubeService) -> ShoalError:
    """SwarmKit's words for a port in use, naming the Kubernetes Service whose NodePort it is."""
    return invalid(f"port '{port}' is already in use by Kubernetes Service '{owner.Namespace}/{owner.Name}' "
                   "as a NodePort")


def kube_ranges(cluster: Cluster | None) -> list[tuple[str, str]]:
    """The cluster's Kubernetes address ranges no Swarm network may overlap: (CIDR, what it is); the
    LoadBalancer pool as the CIDRs that cover it."""
    if cluster is None:
        return []
    s = settings_of(cluster)
    out = [(s.ServiceCIDR, "the Kubernetes service range"), (s.ClusterCIDR, "the Kubernetes pod range")]
    if s.ServiceLBPool:
        try:
            lo, hi = pool_range(s.ServiceLBPool)
        except ValueError:
            return out
        out += [(str(n), "the Kubernetes LoadBalancer pool") for n in ipaddress.summarize_address_range(lo, hi)]
    return out


def network_exists(name: str) -> Conflict:
    return Conflict(f"network with name {name} already exists")


class NetworkAPI:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def networks(self, filters: dict[str, list[str]] | None = None) -> list[Network]:
        f = filters or {}
        out = []
        for n in self.store.list(Network):
            if "id" in f and not any(n.ID.startswith(v) for v in f["id"]):
                continue
            if "name" in f and not any(v in n.Spec.Name for v in f["name"]):
                continue
            if "driver" in f and (n.DriverState.Name or "overlay") not in f["driver"]:
                continue
            if "scope" in f and "swarm" not in f["scope"]:
                continue
            if "type" in f and "custom" not in f["type"]:
                continue
            if "label" in f and not labels_match(n.Spec.Labels, f["label"]):
                continue
            out.append(n)
        return sorted(out, key=lambda n: n.Spec.Name)

    def network(self, ref: str) -> Network:
        nets = self.store.list(Network)
        for match in (lambda n: n.ID == ref, lambda n: n.Spec.Name == ref, lambda n: n.ID.startswith(ref)):
            found = [n for n in nets if match(n)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InvalidArgument(f"network {ref} is ambiguous ({len(found)} matches found based on name)")
        raise NotFound(f"network {ref} not found")

    async def create(self, req: NetworkCreateRequest) -> Network:
        if not req.Name:
            raise invalid("meta: name must be provided")
        driver = req.Driver or "overlay"
        if driver != "overlay":
            raise InvalidArgument(f"shoal runs swarm-scoped overlay networks only; {driver!r} is not supported "
                                  "(use --driver overlay)")
        if any(n.Spec.Name == req.Name for n in self.store.list(Network)):
            raise network_exists(req.Name)
        if req.EnableIPv6:
            raise InvalidArgument("IPv6 is not supported on shoal's overlay networks")
        claims = Claims()
        for _ in range(CLAIM_ATTEMPTS):
            net = self._new_network(req, driver, claims)
            try:
                return await self.store.create(net)
            except Taken as e:
                if e.what[0] == "name":
                    raise network_exists(req.Name) from e
                want = (req.IPAM.Config if req.IPAM else None) or []
                if e.what[0] == "subnet" and want and want[0].Subnet:
                    raise InvalidArgument(f"invalid pool request: Pool overlaps with other one on this address "
                                          f"space ({want[0].Subnet} overlaps {e.what[1]})") from e
                claims.note(e)
        raise Conflict(f"network {req.Name}: its subnet and VXLAN ID were taken {CLAIM_ATTEMPTS} times over")

    def _new_network(self, req: NetworkCreateRequest, driver: str, claims: Claims) -> Network:
        cluster = self.store.list(Cluster)
        pools = cluster[0].DefaultAddrPool if cluster else ["10.0.0.0/8"]
        size = cluster[0].SubnetSize if cluster else 24
        used = [c.Subnet for n in self.store.list(Network) for c in n.IPAMOptions.Configs or []]
        used.extend(claims.subnets)
        kube = kube_ranges(cluster[0] if cluster else None)
        configs = (req.IPAM.Config if req.IPAM else None) or [IPAMRequestConfig()]
        if len(configs) > 1:
            raise InvalidArgument("shoal's overlay networks take one IPv4 subnet")
        want = configs[0]
        try:
            if want.Subnet:
                subnet = ipam.parse_subnet(want.Subnet)
                clash = [u for u in used if subnet.overlaps(ipam.parse_subnet(u))]
                if clash:
                    raise InvalidArgument(f"invalid pool request: Pool overlaps with other one on this address "
                                          f"space ({want.Subnet} overlaps {clash[0]})")
                clash_kube = [(c, what) for c, what in kube if subnet.overlaps(ipaddress.ip_network(c))]
                if clash_kube:
                    raise InvalidArgument(f"invalid pool request: Pool overlaps with other one on this address "
                                          f"space ({want.Subnet} overlaps {clash_kube[0][1]} {clash_kube[0][0]})")
            else:
                if want.Gateway or want.IPRange:
                    raise InvalidArgument("a gateway or an IP range needs a subnet (--subnet)")
                subnet = ipam.allocate_subnet(pools, size, [*used, *(c for c, _ in kube)])
            gateway = ipam.gateway_of(subnet, want.Gateway)
            if want.IPRange and not ipam.parse_subnet(want.IPRange).subnet_of(subnet):
                raise InvalidArgument(f"invalid ip range {want.IPRange}: not within {subnet}")
        except ipam.IPAMError as e:
            raise InvalidArgument(str(e)) from e
        vnis = [int((n.DriverState.Options or {}).get(VNI_OPTION, 0)) for n in self.store.list(Network)]
        vni = ipam.allocate_vni([*vnis, *claims.vnis], ipam.INGRESS_VNI if req.Ingress else ipam.FIRST_VNI)
        options = dict(req.Options or {})
        spec_ipam = IPAMOptions(Driver=Driver(Name=req.IPAM.Driver if req.IPAM else "default"),
                                Configs=[IPAMConfig(Subnet=want.Subnet, Range=want.IPRange, Gateway=want.Gateway)]
                                if want.Subnet else None)
        return Network(
            ID=new_id(),
            Spec=NetworkSpec(Name=req.Name, Labels=req.Labels or None,
                             DriverConfiguration=Driver(Name=driver, Options=options or None),
                             Internal=req.Internal, Attachable=req.Attachable, Ingress=req.Ingress,
                             IPAMOptions=spec_ipam, Scope="swarm"),
            DriverState=Driver(Name=driver, Options={**options, VNI_OPTION: str(vni)}),
            IPAMOptions=IPAMOptions(Driver=Driver(Name="default"),
                                    Configs=[IPAMConfig(Subnet=str(subnet), Range=want.IPRange, Gateway=gateway)]),
        )

    def ingress(self) -> Network | None:
        return next((n for n in self.store.list(Network) if n.Spec.Ingress), None)

    async def ensure_ingress(self) -> Network:
        """The ingress network of the routing mesh (made at ``swarm init``, as Swarm's)."""
        net = self.ingress()
        if net is None:
            try:
                net = await self.create(NetworkCreateRequest(Name="ingress", Driver="overlay", Ingress=True,
                                                             Labels=None))
            except Conflict as e:  # another manager made it first; our cache has not seen it yet
                owner = e.__cause__.owner_id if isinstance(e.__cause__, Taken) else ""
                made = await self.store.fetch(Network, owner) if owner else None
                if made is None:
                    raise
                net = made
        return net

    async def allocate_ports(self, service: Service, claims: Claims | None = None) -> None:
        """Published ports: 30000 and up for those given none (Swarm's range); one service per port
        across the cluster for the routing mesh (checked here against the cache, made sure of by the
        port's index key when the service is written)."""
        assert service.Endpoint is not None
        ports = service.Endpoint.Ports or []
        taken = {(p.Protocol, p.PublishedPort): s for s in self.store.list(Service) if s.ID != service.ID
                 for p in (s.Endpoint.Ports if s.Endpoint else None) or [] if p.PublishMode == "ingress"}
        lost = claims.ports if claims is not None else set()
        # Kubernetes' NodePorts, open on every node too (read only for a service that publishes some port)
        node_ports = node_ports_by_protocol(self.store) if ports else {}
        node_port_numbers = {n for _, n in node_ports}
        for p in ports:
            if p.PublishMode == "host" and p.PublishedPort:
                holder = node_ports.get((p.Protocol or "tcp", p.PublishedPort))
                if holder is not None:
                    raise port_is_node_port(p.PublishedPort, holder)
            if p.PublishMode != "ingress":
                continue
            if not p.PublishedPort:
                port = DYNAMIC_PORTS_FROM
                while (p.Protocol, port) in taken or (p.Protocol, port) in lost or port in node_port_numbers or any(
                        q is not p and q.PublishedPort == port and q.Protocol == p.Protocol for q in ports):
                    port += 1
                p.PublishedPort = port
            other = taken.get((p.Protocol, p.PublishedPort))
            if other is not None:
                raise port_in_use(p.PublishedPort, other)
            holder = node_ports.get((p.Protocol or "tcp", p.PublishedPort))
            if holder is not None:
                raise port_is_node_port(p.PublishedPort, holder)
        if any(p.PublishMode == "ingress" or p.PublishedPort for p in ports):
            await self.ensure_ingress()

    async def lost_claim(self, e: Taken, spec: ServiceSpec, claims: Claims) -> None:
        """A service's write lost an index key of its endpoint to another manager's: raise Docker's error
        for a port the user gave, or note an automatic choice (a port, a VIP) to make again."""
        what = e.what
        if what[0] == "port":
            asked = {(p.Protocol, p.PublishedPort) for p in (spec.EndpointSpec.Ports if spec.EndpointSpec else None)
                     or []}
            if (what[1], int(what[2])) in asked:
                if e.owner.startswith("kubeservices/"):  # a Kubernetes Service's NodePort
                    holder = self.store.get(KubeService, e.owner_id) or await self.store.fetch(KubeService,
                                                                                                 e.owner_id)
                    if holder is not None:
                        raise port_is_node_port(int(what[2]), holder) from e
                    return
                owner = self.store.get(Service, e.owner_id) or await self.store.fetch(Service, e.owner_id)
                if owner is not None:
                    raise port_in_use(int(what[2]), owner) from e
                return  # it let go meanwhile: try again
        if not claims.note(e):
            raise e

    async def remove(self, ref: str) -> None:
        net = self.network(ref)
        for s in self.store.list(Service):
            if any(a.Target == net.ID for a in s.Spec.TaskTemplate.Networks or []):
                raise failed_precondition(f"network {net.ID} is in use by service {s.ID}")
        await self.store.delete(net)

    def used_addresses(self, net_id: str, skip_service: str = "", claims: Claims | None = None) -> set[str]:
        """Addresses taken on a network: live tasks' and services' virtual IPs."""
        used = {addr.split("/")[0] for t in self.store.list(Task) if t.Status.State <= TaskState.RUNNING
                for a in t.NetworksAttachments or [] if a.Network.ID == net_id for addr in a.Addresses}
        for s in self.store.list(Service):
            if s.ID != skip_service:
                used.update(str(v.get("Addr", "")).split("/")[0] for v in (s.Endpoint.VirtualIPs if s.Endpoint
                            else None) or [] if v.get("NetworkID") == net_id)
        if claims is not None:
            used |= claims.ips.get(net_id, set())
        return used

    def allocate_vips(self, service: Service, previous: Service | None = None, claims: Claims | None = None) -> None:
        """A virtual IP on each of the service's networks (endpoint mode ``vip``, the default): the
        ones it had are kept, new networks get the lowest free address."""
        assert service.Endpoint is not None
        mode = (service.Spec.EndpointSpec.Mode if service.Spec.EndpointSpec else "") or "vip"
        old = {str(v.get("NetworkID")): v for v in (previous.Endpoint.VirtualIPs if previous and previous.Endpoint
                                                      else None) or []}
        vips: list[dict[str, Any]] = []
        for cfg in service.Spec.TaskTemplate.Networks or [] if mode == "vip" else []:
            if cfg.Target in old:
                vips.append(old[cfg.Target])
                continue
            net = self.network(cfg.Target)
            conf = (net.IPAMOptions.Configs or [IPAMConfig()])[0]
            try:
                addr = ipam.allocate_address(conf.Subnet, conf.Gateway, self.used_addresses(net.ID, service.ID, claims),
                                             conf.Range)
            except ipam.IPAMError as e:
                raise InvalidArgument(str(e)) from e
            vips.append({"NetworkID": net.ID, "Addr": addr})
        service.Endpoint.VirtualIPs = vips or None

    def resolve(self, spec: ServiceSpec) -> None:
        """Name each of a service's networks by its ID (the CLI may send names; stacks always do)."""
        for a in spec.TaskTemplate.Networks or []:
            try:
                a.Target = self.network(a.Target).ID
            except NotFound as e:
                raise NotFound(f"network {a.Target} not found") from e
