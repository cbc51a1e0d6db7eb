"""The node's network: every task's sandbox, and what the node keeps for all of them.

``NodeNetwork`` is made by the daemon for a runtime that joins sandboxes (runc, docker) and handed to
the agent: the executor asks it for a task's sandbox (``create_sandbox``) before the runtime prepares
the task, and removes it (``remove_sandbox``) after the runtime removed the task; the worker hands it
the managers' view of the networks (``set_view``). It owns:

* ``<exec-root>/netns/<task id>`` — each task's network namespace (``sandbox.py``), a bind mount of
  an nsfs file; ``<exec-root>/netns`` is a private bind mount of itself (the kernel refuses nsfs bind
  mounts on a shared mount). The namespace is made here (``unshare``), or is a runtime's (the docker
  runtime's pause container: ``NetnsHolder``) bound here;
* the networks' bridges, VXLAN ports and their peers (``bridge.py``), the node's default bridge for the
  tasks without networks (``default.py``), the egress table (``egress.py``);
* the embedded DNS server (``dns.py``), each task's VIP table (``vip.py``), the routing mesh
  (``ingress.py``) and the encrypted overlays' tunnel (``seal.py``);
* the cluster DNS server of the Kubernetes network (``kubedns.py``, fed by ``set_kube_view``), and
  Pods' resolv.conf and hosts by the kubelet's rules (``poddns.py``);
* a container's place on the node's local networks (``local.py``, ``localwire.py``): given
  ``LocalAttachment``s, ``create_sandbox`` wires the sandbox to them instead (``host``: the node's
  own namespace; ``none``: loopback only; bridge-driver networks: a veth into each one's bridge),
  ``connect``/``disconnect`` change them later, and ``publish`` DNATs host ports to the container.

``cleanup`` removes what a previous run of the daemon left (netns files, bridges, the egress table).

A Kubernetes Pod's task without Swarm networks (not ``hostNetwork``) goes on the pod network instead of
the default bridge (``podnet.py``): the managers' ``PodNetwork`` (``set_pod_network``) gives the node its
block of the pod range and the other nodes' blocks; a Pod waits for it (``PODNET_WAIT``) when it comes
first, and gets the block's lowest free address on the pod bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shoal.api import timings
from shoal.api.errors import Conflict, InvalidArgument
from shoal.api.kubenet import KubeNetView, PodNetwork, dns_address, settings_of
from shoal.api.localnet import LocalEndpoint, LocalNetwork
from shoal.api.types import NetworkAttachment, Task, first_container
from shoal.network import bridge, egress, endpoints, localwire, podnet, rtnl, seal, vip
from shoal.network import ingress as ingress_mesh
from shoal.network import netns as namespaces
from shoal.network.default import NETWORK_ID as DEFAULT_BRIDGE_ID
from shoal.network.default import DefaultBridge, PoolExhausted, choose_bip
from shoal.network.dns import EmbeddedDNS, bound_sockets, node_upstreams
from shoal.network.kubedns import KubeDNS
from shoal.network.kubeingress import IngressProxy
from shoal.network.kubeproxy import KubeProxy
from shoal.network.local import DEFAULT_BRIDGE_NAME, LocalNetworks, bridge_name_of, masquerades
from shoal.network.localwire import PortBinding, Published
from shoal.network.netns import bind, in_netns, in_thread, mounted, private_dir, unbind
from shoal.network.poddns import pod_dns, pod_fqdn, read_host_resolv, uses_cluster_dns
from shoal.network.sandbox import NetnsHolder, Sandbox, SandboxError

log = logging.getLogger(__name__)

TUNNEL_WAIT = 15.0  # for the encrypted overlays' keys, which come a moment after a task
KUBE_VIEW_WAIT = 3.0  # for the first view of the Kubernetes network (a Pod's DNS settings)
PODNET_WAIT = 15.0  # for the node's block of the pod range, which comes a moment after it registered
# Tasks' namespaces made and wired at once, each from a thread of its own: the kernel serializes the
# netlink work anyway (rtnl), and more threads only take the interpreter from the event loop.
WIRING = 16


class SharedLock:
    """Held by many at once (``shared``) or by one alone (``exclusive``); one waiting to be alone
    goes before the shared holders that come after it (a stream of attaches never starves a detach).

    Taken without waiting when it is free: the state is only read and changed between awaits (one
    event loop), so no inner lock is needed, and a burst of a hundred attaches does not queue through
    one (each turn of such a queue is a turn of a busy event loop). Waiters all wake when it changes,
    and look again."""

    def __init__(self) -> None:
        self._shared = 0
        self._alone = False
        self._waiting = 0  # those waiting to be alone
        self._changed: asyncio.Future[None] | None = None  # what waiters wait on, made by the first

    async def _wait(self) -> None:
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        await asyncio.wait([self._changed])  # a waiter cancelled never cancels the others' future

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set_result(None)
            self._changed = None

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        while self._alone or self._waiting:
            await self._wait()
        self._shared += 1
        try:
            yield
        finally:
            self._shared -= 1
            if not self._shared:
                self._notify()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        self._waiting += 1
        try:
            while self._alone or self._shared:
                await self._wait()
        finally:
            self._waiting -= 1
            self._notify()  # shared holders held back by this waiter (also when it gave up)
        self._alone = True
        try:
            yield
        finally:
            self._alone = False
            self._notify()


def _loopback_up() -> None:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname="lo")
        if found:
            ipr.link("set", index=found[0], state="up")


@dataclass
class LocalAttachment:
    """A container to put on a local network: ``network`` by name, ID or ID prefix; its ``name``
    (without Docker's '/') and ``aliases`` resolve to it there (user-defined networks); ``ipv4`` is
    ``--ip`` (a network with a user-given subnet only)."""

    network: str
    container_id: str
    name: str = ""
    aliases: list[str] = field(default_factory=list)
    ipv4: str = ""


HOST_CONFLICT = "container cannot be disconnected from host network or connected to host network"
NONE_CONFLICT = ("container cannot be connected to multiple networks with one of the networks in private (none) "
                 "mode")


class PortAllocated(SandboxError):
    """A host port asked for is published already, or another process holds it."""


def _host_resolv() -> tuple[list[str], list[str]]:
    """The node's nameservers and search domains (a container on ``host`` or ``none`` gets them)."""
    servers: list[str] = []
    search: list[str] = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 1 and parts[0] == "nameserver":
                    servers.append(parts[1])
                elif parts and parts[0] in ("search", "domain"):
                    search = parts[1:]
    except OSError:
        pass
    return servers, search


# What the kernel answers when wiring a task cannot succeed however often it is tried: the bridge
# holds 1,024 ports at most (EXFULL), no memory or room left.
FOR_GOOD = frozenset({errno.EXFULL, errno.ENOSPC, errno.ENOMEM})


def on_default_error(task: Task, e: Exception) -> str:
    """A task that could not be put on the default bridge, as Swarm's executor reports a container
    that dockerd could not start on ``docker0`` (libnetwork's words), where Docker has words for it."""
    if isinstance(e, PoolExhausted):
        return f"starting container failed: {e}"
    if isinstance(e, rtnl.VethError) and e.errno is not None:
        host, text = f"sv{task.ID[:11]}0", rtnl.go_strerror(e.errno)
        what = (f"adding interface {host} to bridge {DEFAULT_BRIDGE_NAME} failed: {text}" if e.errno == errno.EXFULL
                else f"failed to add the host ({host}) <=> sandbox (eth0) pair interfaces: {text}")
        svc = (task.ServiceAnnotations or {}).get("Name", task.Owner.ID)  # the task's container's name
        name = f"{svc}.{task.Slot or task.NodeID}.{task.ID}" if svc else task.Name or task.ID
        return f"starting container failed: failed to create endpoint {name} on network bridge: {what}"
    return f"attaching the task to the default bridge failed: {e}"


def _on_default(netns: str, task_id: str, place: NetworkAttachment) -> tuple[socket.socket, socket.socket]:
    """In a fresh thread: the task's namespace made and wired to the default bridge, and the DNS
    server's sockets bound in it (the thread is in it by then, and ends there)."""
    bridge.attach_new(netns, task_id, place)
    return bound_sockets()


def on_pod_network(task: Task) -> bool:
    """Whether the task is a Kubernetes Pod's (it has a namespace) on the pod network: no Swarm
    networks, not ``hostNetwork``."""
    pod = task.Spec.Pod
    return bool(task.Namespace) and not task.NetworksAttachments and not (pod is not None and pod.HostNetwork)


class NodeNetwork:
    def __init__(self, exec_root: Path, dns: list[str] | None = None, bip: str = "",
                 holder: NetnsHolder | None = None, local: LocalNetworks | None = None) -> None:
        self.holder = holder  # the runtime that holds the tasks' namespaces (docker), else they are made here
        self.netns_dir = Path(exec_root) / "netns"
        self.netns_dir.mkdir(parents=True, exist_ok=True)
        self.sandboxes: dict[str, Sandbox] = {}
        self.network_peers: dict[str, list[str]] = {}  # overlay network → other nodes' addresses
        self.endpoints: endpoints.View = {}  # the services' endpoints on this node's networks
        self.dns = EmbeddedDNS(node_upstreams(dns))  # 127.0.0.11 in the namespace of every task
        self._bip = bip
        self._default_bridge: DefaultBridge | None = None  # for the tasks without networks: default_bridge()
        self._egress: dict[str, tuple[set[str], set[str]]] = {}  # task → (its subnets with a way out, all)
        self._egress_loaded: tuple[set[str], set[str]] = (set(), set())  # the union the table holds
        self._egress_sync: asyncio.Future[None] | None = None  # the egress table being loaded, if one is
        # Attaching tasks to bridges may run side by side; a detach, which deletes the bridges it finds
        # without tasks, runs alone: it could delete a bridge that an attach had just found (ENODEV).
        self._links = SharedLock()
        self._wiring = asyncio.Semaphore(WIRING)
        self._vip_rules: dict[str, str] = {}  # task → the VIP table loaded in its netns
        self._ingress: dict[str, Any] = {}  # the routing mesh as loaded here
        # The mesh's devices this daemon made, kept before they are made: a sync that failed half-way,
        # or a daemon killed, still has them removed (at leave, stop, or the next start).
        self._mesh_file = Path(exec_root) / "ingress-devices.json"
        self.tunnel = seal.Tunnel()  # the encrypted overlays' tunnel, while this node has tasks on one
        self._encryption: dict[str, Any] = {}
        self._netns_ready = False
        self.local = local  # the node's local networks (their store), for containers
        self._local_eps: dict[str, dict[str, LocalEndpoint]] = {}  # task → network ID → its endpoint there
        self._ports: dict[str, list[Published]] = {}  # task → its published ports
        self._port_socks: dict[tuple[str, PortBinding], socket.socket] = {}  # the host ports held
        self._ports_lock = asyncio.Lock()  # the local networks' table: one load at a time
        self._local_rules: tuple[list[Published], set[str], set[str]] = ([], set(), set())  # as loaded
        self._owner = localwire.owner_of(str(Path(exec_root).resolve()))  # this daemon's bridges and ports table
        # The Kubernetes network as the managers last described it (``api/kubenet.py``), and what is made
        # from it on this node: each consumer (the Services' rules, the cluster DNS server, the ingress
        # proxy) is called with every new view, in order, and must not raise.
        self.kube_view: KubeNetView | None = None
        self.kube_consumers: list[Callable[[KubeNetView], Awaitable[None]]] = []
        self.kube_proxy = KubeProxy()  # the Services' rules (``kubeproxy.py``)
        self.kube_consumers.append(self.kube_proxy.consume)
        self._kube_viewed = asyncio.Event()  # a view came (a Pod's resolv.conf waits for its settings)
        self.kube_dns = KubeDNS(self.dns.upstreams)  # the cluster DNS server (``kubedns.py``)
        self.kube_consumers.append(self.kube_dns.apply)
        self.ingress_proxy = IngressProxy(Path(exec_root))  # the Ingresses' nginx (network/kubeingress.py)
        self.kube_consumers.append(self.ingress_proxy.apply)
        # The pod network (``podnet.py``): as the managers last sent it, this node's block's addresses,
        # set once the node has a block, and the file that says this daemon made the devices (a killed
        # daemon's are removed at the next start).
        self.pod_network: PodNetwork | None = None
        self._pod_block: podnet.PodBlock | None = None
        self._keep_sandboxes = False  # set by a close at the shutdown deadline (see close)
        self._pod_ready = asyncio.Event()
        self._podnet_lock = asyncio.Lock()
        self._podnet_file = Path(exec_root) / "podnet"

    def netns_path(self, task_id: str) -> Path:
        return self.netns_dir / task_id

    # ------------------------------------------------------------ a task's sandbox

    async def create_sandbox(self, task: Task, local: list[LocalAttachment] | None = None,
                             ports: list[PortBinding] | None = None) -> Sandbox:
        """The task's namespace (made here, or held by the runtime's ``holder``), wired to its networks (or the
        default bridge), with its DNS server and VIP rules; raises ``SandboxError``.

        A container's task passes ``local``: the local networks to put it on instead (``host`` alone,
        ``none`` alone, or bridge-driver ones: the first gives the default route), and its ``ports``
        to publish (``publish``); the store's refusals (no such network, an address in use) are
        ``api.errors``."""
        netns = self.netns_path(task.ID)
        if task.ID in self.sandboxes or netns.exists():
            await self.remove_sandbox(task.ID)
        sb = Sandbox.of(task, netns)
        if task.Spec.Pod is not None:
            await self._pod_resolv(task, sb)
        nets = self._local_networks(local) if local is not None else []
        if any(n.Driver == "host" for n in nets):
            return await self._host_sandbox(task, sb, local or [])
        if nets and nets[0].Driver == "null":  # before a holder's pause container takes the sandbox's data
            sb.mode = "none"
            sb.nameservers, sb.search = _host_resolv()
        self.sandboxes[task.ID] = sb  # first: a failure below is undone by remove_sandbox
        try:
            if local is None and self.holder is None and on_pod_network(task):
                await self._make_on_pods(task, sb)
                return sb
            if local is None and self.holder is None and not task.NetworksAttachments:
                await self._make_on_default(task, sb)
                return sb
            if self.holder is None:
                async with self._wiring:
                    await self._make_netns(netns)
            else:
                sb.held = True
                self._bind_netns(await self.holder.hold_netns(sb), netns)
                await in_netns(str(netns), _loopback_up)
            timings.mark(task.ID, "net:netns")
            if local is None:
                await self._wire(task, sb)
            else:
                await self._wire_local(task, sb, local, nets)
                if ports:
                    await self.publish(task.ID, ports)
        except BaseException:
            await self.remove_sandbox(task.ID)
            raise
        return sb

    async def _pod_resolv(self, task: Task, sb: Sandbox) -> None:
        """A Pod's resolv.conf and hosts, by the kubelet's rules (``poddns.py``). The cluster's settings
        (DNS address, domain) come with the managers' first view, sent with the node's first
        assignments: a Pod that needs them and comes before it waits for it, ``KUBE_VIEW_WAIT`` at
        most, then takes the defaults (which are the settings of most clusters)."""
        spec = task.Spec
        needs = uses_cluster_dns(spec) or bool(spec.Pod is not None and spec.Pod.Subdomain)
        if self.kube_view is None and needs:
            try:
                await asyncio.wait_for(self._kube_viewed.wait(), KUBE_VIEW_WAIT)
            except TimeoutError:
                log.warning("pod %s: no view of the Kubernetes network yet: the default DNS settings", task.Name)
        settings = self.kube_view.Settings if self.kube_view is not None else settings_of(None)
        if not settings.ClusterDNS:
            settings = msgspec.structs.replace(settings, ClusterDNS=dns_address(settings.ServiceCIDR))
        got = pod_dns(spec, task.Namespace, settings, read_host_resolv(self.dns.upstreams))
        sb.nameservers, sb.search, sb.options = got.nameservers, got.searches, got.options
        sb.pod, sb.fqdn = True, pod_fqdn(spec, sb.hostname, task.Namespace, settings)

    # ------------------------------------------------------------ a container on local networks

    def _store(self) -> LocalNetworks:
        if self.local is None:
            raise SandboxError("this node keeps no local networks")
        return self.local

    def _local_networks(self, local: list[LocalAttachment]) -> list[LocalNetwork]:
        nets = [self._store().network(a.network) for a in local]
        if len(nets) > 1 and any(n.Driver == "host" for n in nets):
            raise InvalidArgument(HOST_CONFLICT)
        if len(nets) > 1 and any(n.Driver == "null" for n in nets):
            raise InvalidArgument(NONE_CONFLICT)
        return nets

    async def _host_sandbox(self, task: Task, sb: Sandbox, local: list[LocalAttachment]) -> Sandbox:
        """``--network host``: the sandbox is the node's own namespace, bound at the task's path."""
        if self.holder is not None:
            raise SandboxError("--network host needs the runc runtime")
        sb.mode = "host"
        sb.hostname = socket.gethostname()
        sb.nameservers, sb.search = _host_resolv()
        sb.options = []
        self.sandboxes[task.ID] = sb
        try:
            self._bind_netns(f"/proc/{os.getpid()}/ns/net", sb.netns)
            a = local[0]
            _, ep = self._store().join(a.network, a.container_id, a.name)
            self._local_eps[task.ID] = {self._store().network(a.network).ID: ep}
        except BaseException:
            await self.remove_sandbox(task.ID)
            raise
        return sb

    async def _wire_local(self, task: Task, sb: Sandbox, local: list[LocalAttachment],
                          nets: list[LocalNetwork]) -> None:
        if nets and nets[0].Driver == "null":
            a = local[0]
            _, ep = self._store().join(nets[0].ID, a.container_id, a.name)
            self._local_eps[task.ID] = {nets[0].ID: ep}
            return
        sb.mode = "bridge"
        for a, net in zip(local, nets, strict=True):
            await self._join(task.ID, sb, a, net)
        spec = first_container(task.Spec)
        dns = task.Spec.DNSConfig or (spec.DNSConfig if spec is not None else None) or {}
        await self.dns.add(task.ID, str(sb.netns), self._dns_networks(task.ID), dns.get("Nameservers") or None)
        await self._sync_local_egress(task.ID)

    async def _join(self, task_id: str, sb: Sandbox, a: LocalAttachment, net: LocalNetwork) -> LocalEndpoint:
        """Put the sandbox on one bridge-driver network: an address (the default bridge's own for
        ``bridge``), the veth, the names."""
        store = self._store()
        address = ""
        default = None
        if net.Predefined:
            default = await self.default_bridge()
            if default.has(task_id):
                raise Conflict(f"endpoint with name {a.name} already exists in network {net.Name}")
            address = default.attachment(task_id).Addresses[0]
        try:
            net, ep = store.join(net.ID, a.container_id, a.name, a.aliases, a.ipv4, address)
        except BaseException:
            if default is not None:
                default.release(task_id)
            raise
        first = not self._local_eps.get(task_id)
        try:
            async with self._links.shared():
                await asyncio.to_thread(localwire.attach, str(sb.netns), task_id, net.ID, bridge_name_of(net),
                                        net.subnet, net.gateway, ep.IPv4Address, ep.MacAddress,
                                        first and not net.Internal, "" if net.Predefined else self._owner)
        except (OSError, NetlinkError) as e:
            store.leave(net.ID, a.container_id)
            if default is not None:
                default.release(task_id)
            raise SandboxError(f"attaching the container to the network {net.Name} failed: {e}") from e
        self._local_eps.setdefault(task_id, {})[net.ID] = ep
        sb.addresses.append(ep.IPv4Address)
        self.dns.local_names[net.ID] = store.dns_names(net.ID)
        return ep

    def _dns_networks(self, task_id: str) -> list[str]:
        return list(self._local_eps.get(task_id, {}))

    async def _sync_local_egress(self, task_id: str) -> None:
        out: set[str] = set()
        every: set[str] = set()
        for nid in self._local_eps.get(task_id, {}):
            net = self._store().find(nid)
            if net is None or net.Driver != "bridge":
                continue
            every.add(net.subnet)
            if masquerades(net):
                out.add(net.subnet)
        try:
            await self._sync_egress(task_id, out, every)
        except OSError as e:
            raise SandboxError(f"the container's way out: {e}") from e
        async with self._ports_lock:
            await self._load_local_rules()

    def local_endpoints(self, task_id: str) -> dict[str, LocalEndpoint]:
        """The task's endpoints on local networks (network ID → endpoint)."""
        return dict(self._local_eps.get(task_id, {}))

    async def connect(self, task_id: str, attachment: LocalAttachment) -> LocalEndpoint:
        """Put a running container's sandbox on one more bridge-driver network."""
        sb = self.sandboxes.get(task_id)
        if sb is None:
            raise SandboxError(f"the task {task_id} has no sandbox here")
        net = self._store().network(attachment.network)
        if sb.mode == "host" or net.Driver == "host":
            raise InvalidArgument(HOST_CONFLICT)
        if sb.mode == "none" or net.Driver == "null":
            raise InvalidArgument(NONE_CONFLICT)
        if net.ID in self._local_eps.get(task_id, {}):
            raise Conflict(f"endpoint with name {attachment.name} already exists in network {net.Name}")
        ep = await self._join(task_id, sb, attachment, net)
        self.dns.set_networks(task_id, self._dns_networks(task_id))
        await self._sync_local_egress(task_id)
        return ep

    async def disconnect(self, task_id: str, network_id: str) -> LocalEndpoint | None:
        """Take a container's sandbox off a network (its veth, address, names, ports to that address)."""
        ep = self._local_eps.get(task_id, {}).get(network_id)
        if ep is None:
            return None
        sb = self.sandboxes.get(task_id)
        if sb is not None and sb.mode == "host":
            raise InvalidArgument(HOST_CONFLICT)
        await self._leave(task_id, network_id)
        self.dns.set_networks(task_id, self._dns_networks(task_id))
        if sb is not None and sb.mode == "bridge":
            await self._sync_local_egress(task_id)
        if ep.IPv4Address:
            target = ep.IPv4Address.split("/")[0]
            if any(p.target == target for p in self._ports.get(task_id, [])):
                keep = [p.binding for p in self._ports.get(task_id, []) if p.target != target]
                await self.unpublish(task_id)
                if keep:
                    await self.publish(task_id, keep)
        return ep

    async def _leave(self, task_id: str, network_id: str) -> None:
        ep = self._local_eps.get(task_id, {}).pop(network_id, None)
        if not self._local_eps.get(task_id):
            self._local_eps.pop(task_id, None)
        if ep is None:
            return
        store = self._store()
        net = store.find(network_id)
        if net is not None and net.Driver == "bridge":
            async with self._links.exclusive():
                await asyncio.to_thread(localwire.detach, task_id, network_id)
                if net.Predefined:  # the default bridge goes with its last user, as for tasks
                    await asyncio.to_thread(bridge.remove_unused)
        store.leave(network_id, ep.ContainerID)
        if net is not None and net.Predefined and self._default_bridge is not None:
            self._default_bridge.release(task_id)
        sb = self.sandboxes.get(task_id)
        if sb is not None and ep.IPv4Address in sb.addresses:
            sb.addresses.remove(ep.IPv4Address)
        self.dns.local_names[network_id] = store.dns_names(network_id)

    async def remove_local_network(self, net: LocalNetwork) -> None:
        """A removed network's bridge goes (it has no endpoints: the store refused otherwise)."""
        self.dns.local_names.pop(net.ID, None)
        if net.Driver == "bridge" and not net.Predefined:
            await asyncio.to_thread(localwire.remove_bridge, bridge_name_of(net))

    # ------------------------------------------------------------ published ports

    async def publish(self, task_id: str, ports: list[PortBinding]) -> list[PortBinding]:
        """DNAT each host port to the container's first bridge-network address (``-p``); HostPort 0
        gets a free port of the ephemeral range. Returns the bindings as published. Raises
        ``PortAllocated`` in Docker's words when a port is taken; nothing is published then."""
        target = next((ep.IPv4Address.split("/")[0] for ep in self._local_eps.get(task_id, {}).values()
                       if ep.IPv4Address), "")
        sb = self.sandboxes.get(task_id)
        if not target or sb is None or sb.mode != "bridge":
            return []  # host and none publish nothing (Docker ignores -p there)
        async with self._ports_lock:
            done: list[Published] = []
            try:
                for b in ports:
                    b = self._reserve(task_id, b)
                    done.append(Published(b, target))
            except BaseException:
                for p in done:
                    self._release_port(task_id, p.binding)
                raise
            self._ports.setdefault(task_id, []).extend(done)
            await self._load_local_rules()
        return [p.binding for p in done]

    def _reserve(self, task_id: str, b: PortBinding) -> PortBinding:
        host_ip = b.host_ip or "0.0.0.0"
        proto = b.protocol or "tcp"
        if proto not in ("tcp", "udp"):
            raise SandboxError(f"invalid proto: {proto}")
        if b.host_port:
            for others in self._ports.values():
                for p in others:
                    o, o_ip = p.binding, p.binding.host_ip or "0.0.0.0"
                    if o.protocol == proto and o.host_port == b.host_port and \
                            (o_ip == host_ip or "0.0.0.0" in (o_ip, host_ip)):
                        raise PortAllocated(f"Bind for {host_ip}:{b.host_port} failed: port is already allocated")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        try:
            sock.bind((host_ip, b.host_port))
        except OSError as e:
            sock.close()
            if b.host_port:
                raise PortAllocated(f"Bind for {host_ip}:{b.host_port} failed: port is already allocated") from e
            raise PortAllocated(f"failed to bind a host port for {host_ip}: {e.strerror}") from e
        got = PortBinding(b.container_port, proto, b.host_ip, sock.getsockname()[1])
        self._port_socks[(task_id, got)] = sock
        return got

    def _release_port(self, task_id: str, b: PortBinding) -> None:
        sock = self._port_socks.pop((task_id, b), None)
        if sock is not None:
            sock.close()

    async def _load_local_rules(self) -> None:
        """The owner's table as the endpoints and ports are now (``_ports_lock`` held)."""
        every = [p for ps in self._ports.values() for p in ps]
        subnets: set[str] = set()
        out: set[str] = set()
        for eps in self._local_eps.values():
            for nid in eps:
                net = self._store().find(nid)
                if net is not None and net.Driver == "bridge" and net.subnet:
                    subnets.add(net.subnet)
                    if masquerades(net):
                        out.add(net.subnet)
        if (every, subnets, out) == self._local_rules:
            return
        try:
            await asyncio.to_thread(localwire.sync, self._owner, every, subnets, out)
            self._local_rules = (every, subnets, out)
        except OSError as e:
            raise SandboxError(f"the local networks' rules: {e}") from e

    async def unpublish(self, task_id: str) -> None:
        async with self._ports_lock:
            gone = self._ports.pop(task_id, [])
            for p in gone:
                self._release_port(task_id, p.binding)
            if gone:
                with contextlib.suppress(SandboxError):
                    await self._load_local_rules()

    def published(self, task_id: str) -> list[PortBinding]:
        return [p.binding for p in self._ports.get(task_id, [])]

    async def _wire(self, task: Task, sb: Sandbox) -> None:
        spec = first_container(task.Spec)
        dns = task.Spec.DNSConfig or (spec.DNSConfig if spec is not None else None) or {}
        upstreams = dns.get("Nameservers") or None
        netns = str(sb.netns)
        if task.NetworksAttachments:
            mine = [a.Network.ID for a in task.NetworksAttachments]
            sb.networks = mine
            sb.addresses = [addr for a in task.NetworksAttachments for addr in a.Addresses[:1]]
            try:
                local6 = await self._tunnel_address(task)
                async with self._links.shared():
                    await in_thread(functools.partial(bridge.attach, netns, task.ID, task.NetworksAttachments, local6))
                await asyncio.to_thread(bridge.sync_peers, {n: p for n, p in self.network_peers.items() if n in mine})
                await self.dns.add(task.ID, netns, mine, upstreams)
                await self._sync_egress(task.ID, *egress.subnets(task.NetworksAttachments))
                await self._sync_vips(task.ID)
            except (OSError, NetlinkError, IndexError) as e:
                raise SandboxError(f"attaching the task to its networks failed: {e}") from e
        elif on_pod_network(task):  # a Pod, in a namespace the runtime holds: the pod network
            await self._wire_pod(task, sb, upstreams)
        else:  # no networks: the node's default bridge, as Docker's docker0
            try:
                default = await self.default_bridge()
                place = default.attachment(task.ID)  # first: a failure below is undone by remove_sandbox
                sb.addresses = list(place.Addresses)
                async with self._links.shared(), self._wiring:
                    await in_thread(functools.partial(bridge.attach, netns, task.ID, [place]))
                timings.mark(task.ID, "net:wired")
                await self.dns.add(task.ID, netns, [], upstreams)
                timings.mark(task.ID, "net:dns")
                await self._sync_egress(task.ID, {str(default.subnet)}, {str(default.subnet)})
                timings.mark(task.ID, "net:egress")
            except (OSError, NetlinkError, IndexError) as e:
                raise SandboxError(on_default_error(task, e)) from e

    async def _make_on_default(self, task: Task, sb: Sandbox) -> None:
        """A task without networks, on a runtime that joins namespaces made here: its namespace made
        and wired to the default bridge from one thread, in raw netlink (``bridge.attach_new``: the
        hot path of a burst of such tasks), then its DNS server and the egress table, as ``_wire``."""
        self._ensure_netns_dir()
        sb.netns.touch()
        spec = first_container(task.Spec)
        dns = task.Spec.DNSConfig or (spec.DNSConfig if spec is not None else None) or {}
        netns = str(sb.netns)
        try:
            default = await self.default_bridge()
            place = default.attachment(task.ID)  # first: a failure below is undone by remove_sandbox
            sb.addresses = list(place.Addresses)
            try:
                async with self._links.shared(), self._wiring:
                    sockets = await in_thread(functools.partial(_on_default, netns, task.ID, place))
            except OSError as e:
                if e.errno in FOR_GOOD:
                    raise
                # The bridge's index known in this process was stale (another daemon in this network
                # namespace, or an earlier one in this process, deleted the bridge and it was made
                # again): this attempt's namespace goes, and the next attempt asks the kernel.
                log.info("wiring task %s to the default bridge again after: %s", task.ID, e)
                await in_thread(functools.partial(unbind, sb.netns))
                sb.netns.touch()
                async with self._links.shared(), self._wiring:
                    sockets = await in_thread(functools.partial(_on_default, netns, task.ID, place))
            timings.mark(task.ID, "net:wired")
            await self.dns.add(task.ID, netns, [], dns.get("Nameservers") or None, sockets)
            timings.mark(task.ID, "net:dns")
            await self._sync_egress(task.ID, {str(default.subnet)}, {str(default.subnet)})
            timings.mark(task.ID, "net:egress")
        except (OSError, NetlinkError, IndexError) as e:
            raise SandboxError(on_default_error(task, e)) from e

    async def remove_sandbox(self, task_id: str) -> None:
        """Remove the task's namespace and everything of it here (whatever of them exists); the
        holder's part (a pause container) goes last."""
        await self.unpublish(task_id)
        if task_id in self._local_eps:
            for nid in list(self._local_eps.get(task_id, {})):
                with contextlib.suppress(OSError, NetlinkError):
                    await self._leave(task_id, nid)
            async with self._ports_lock:
                with contextlib.suppress(SandboxError):
                    await self._load_local_rules()
        sb = self.sandboxes.pop(task_id, None)
        self.dns.remove(task_id)
        on_default = self._default_bridge is not None and self._default_bridge.has(task_id)
        if self._default_bridge is not None:
            self._default_bridge.release(task_id)
        if self._pod_block is not None and self._pod_block.has(task_id):
            on_default = True  # its veth goes the same way
            self._pod_block.release(task_id)
        self._vip_rules.pop(task_id, None)
        if task_id in self._egress:
            with contextlib.suppress(OSError):
                await self._sync_egress(task_id, set(), set())
        netns = self.netns_path(task_id)
        await asyncio.to_thread(unbind, netns)  # milliseconds with a thousand mounts on the node
        with contextlib.suppress(FileNotFoundError):
            netns.unlink()
        if self.holder is not None and (sb is None or sb.held):
            await self.holder.release_netns(task_id)
        if on_default or (sb is not None and sb.networks):
            # Its veths now (a crash's leftovers go with their namespaces, and at cleanup), then the
            # bridges it was on if no task is left on them.
            nets = sb.networks if sb is not None else []
            bridges = [bridge.bridge_name(nid) for nid in [*nets, *([DEFAULT_BRIDGE_ID] if on_default else [])]]
            async with self._links.exclusive():
                await asyncio.to_thread(bridge.detach, task_id, bridges, max(len(nets), 1))

    async def _make_netns(self, path: Path) -> None:
        """A new namespace bound at ``path``, loopback up: from a thread of its own (``unshare``), no
        process spawned (a spawn blocks the event loop for milliseconds, a hundred of them in a burst)."""
        self._ensure_netns_dir()
        path.touch()
        try:
            await namespaces.create(path, _loopback_up)
        except (OSError, NetlinkError) as e:
            raise SandboxError(f"creating the network namespace failed: {e}") from e

    def _bind_netns(self, source: str, path: Path) -> None:
        """Bind a runtime's namespace (``/proc/<pid>/ns/net``) here: the node's rules and DNS find it
        by this path, and it outlives a pause container that dies before its task is removed."""
        self._ensure_netns_dir()
        path.touch()
        try:
            bind(source, path)
        except OSError as e:
            raise SandboxError(f"binding the network namespace {source} failed: {e.strerror}") from e

    def _ensure_netns_dir(self) -> None:
        if self._netns_ready:
            return
        self.netns_dir.mkdir(parents=True, exist_ok=True)
        private_dir(self.netns_dir)
        self._netns_ready = True

    # ------------------------------------------------------------ the managers' view

    async def set_view(self, peers: dict[str, list[str]], view: endpoints.View,
                       ingress: dict[str, Any], encryption: dict[str, Any] | None = None) -> None:
        """Where each overlay network's traffic goes (the other nodes with tasks on it), the services'
        endpoints on its networks (the names its tasks resolve, the VIPs they balance), this node's
        part of the routing mesh, and the encrypted overlays' keys."""
        encryption = encryption or {}
        if encryption != self._encryption:
            try:
                await self.tunnel.apply(encryption)
                self._encryption = encryption
            except OSError as e:
                log.warning("encrypted overlays: %s", e)
        sealed = set(encryption.get("networks") or [])
        # An encrypted network's peers are reached at their addresses inside the tunnel.
        self.network_peers = {net: [seal.inner_address(a) for a in addrs] if net in sealed else addrs
                              for net, addrs in peers.items()}
        self.endpoints = view
        self.dns.names = endpoints.names(view)
        if ingress != self._ingress:
            self._record_mesh(ingress_mesh.device_names(ingress))
            try:
                await asyncio.to_thread(ingress_mesh.sync, ingress)
                self._ingress = ingress
            except (OSError, NetlinkError) as e:
                log.warning("routing mesh: %s", e)
        await asyncio.to_thread(bridge.sync_peers, self.network_peers)
        for tid, sb in list(self.sandboxes.items()):
            if sb.networks:
                await self._sync_vips(tid)

    async def set_kube_view(self, view: KubeNetView) -> None:
        """The managers' new view of the Kubernetes network: hand it to every consumer."""
        self.kube_view = view
        self._kube_viewed.set()
        for consume in self.kube_consumers:
            try:
                await consume(view)
            except Exception:  # one consumer's failure must not keep the view from the others
                log.exception("applying the Kubernetes network view")

    async def _tunnel_address(self, task: Task) -> str:
        """This node's address in the encrypted tunnel, when the task is on an encrypted network: the
        keys come with the manager's view of the networks, a moment after the task itself."""
        if not any(bridge.encrypted(a) for a in task.NetworksAttachments or []):
            return ""
        try:
            await asyncio.wait_for(self.tunnel.ready.wait(), TUNNEL_WAIT)
        except TimeoutError:
            raise OSError("no keys for the encrypted network came from the managers") from None
        return self.tunnel.local

    async def _sync_vips(self, task_id: str) -> None:
        """Balance the VIPs of the task's networks over their tasks, in the task's namespace."""
        sb = self.sandboxes.get(task_id)
        if sb is None or not sb.networks:
            return
        vips = endpoints.vips(self.endpoints, sb.networks)
        rules = vip.ruleset(vips)
        if rules == self._vip_rules.get(task_id) or (not vips and task_id not in self._vip_rules):
            return
        try:
            await vip.apply(str(sb.netns), rules)
            self._vip_rules[task_id] = rules
        except OSError as e:
            log.warning("task %s: service VIPs: %s", task_id, e)

    async def default_bridge(self) -> DefaultBridge:
        """The node's default bridge, its address chosen on first use (netlink: from a thread); the
        local networks' ``bridge`` when the node keeps them."""
        if self._default_bridge is None:
            bip = await asyncio.to_thread(self.local.bip if self.local is not None else lambda: choose_bip(self._bip))
            if self._default_bridge is None:  # (tasks started at once all wait here: the first one's is kept,
                # else each would give out the same addresses)
                self._default_bridge = DefaultBridge(bip, self.local.bridge_id() if self.local is not None
                                                     else DEFAULT_BRIDGE_ID)
        return self._default_bridge

    async def _sync_egress(self, task_id: str, out: set[str], local: set[str]) -> None:
        """Record the subnets ``task_id`` reaches outside from (``out``) and has (``local``); masquerade
        the former of every task, and keep all of them apart.

        Syncs run one at a time and each loads the union as it is when it starts: two tasks' syncs
        in threads at once could finish in the other order and leave the older table loaded (a
        network missing from the rule that keeps networks apart). One that finds a sync running
        waits for it, then looks again: the table it loaded may hold this task's subnets already (a
        burst of tasks on one network loads it once, and no task queues behind all the others)."""
        if local:
            self._egress[task_id] = (out, local)
        else:
            self._egress.pop(task_id, None)
        while True:
            if self._egress_sync is not None:
                await asyncio.wait([self._egress_sync])
                continue
            now = (set().union(*(o for o, _ in self._egress.values())),
                   set().union(*(a for _, a in self._egress.values())))
            if now == self._egress_loaded:
                return
            # The sync is held until its thread is done, even when the task that started it is
            # cancelled (a leave, a stop): a sync or teardown after it must not finish first and have
            # this one's table loaded after it.
            work = asyncio.ensure_future(in_thread(functools.partial(egress.sync, *now)))
            self._egress_sync = work

            def finished(f: asyncio.Future[None], work: asyncio.Future[None] = work,
                         now: tuple[set[str], set[str]] = now) -> None:
                if self._egress_sync is work:
                    self._egress_sync = None
                if f.cancelled():
                    return
                if f.exception() is not None:
                    log.debug("egress table sync: %s", f.exception())
                else:
                    self._egress_loaded = now  # loaded, whether or not its caller still waits

            work.add_done_callback(finished)
            await asyncio.shield(work)

    # ------------------------------------------------------------ the node's lifecycle

    async def cleanup(self) -> None:
        """Remove the sandboxes a previous run of the daemon left (netns files), then, when no task
        here has one, the networks' bridges, VXLANs and egress table it left (and its nginx)."""
        await self.ingress_proxy.cleanup()
        if self.netns_dir.exists():
            for p in sorted(self.netns_dir.iterdir()):
                if p.name not in self.sandboxes:
                    await self.remove_sandbox(p.name)
        await self.kube_proxy.cleanup()
        if not self.sandboxes:
            await self._teardown_mesh()
            await self._teardown_podnet()
            await asyncio.to_thread(bridge.remove_unused)
            await asyncio.to_thread(bridge.remove_orphan_vxlans)
            if self._egress_sync is not None:
                await asyncio.wait([self._egress_sync])
            await asyncio.to_thread(egress.teardown)
            self._egress_loaded = (set(), set())
            await asyncio.to_thread(localwire.cleanup, self._owner)
            self._local_rules = ([], set(), set())
        await self.kube_dns.cleanup()
        self._release_netns_dir()

    def _mesh_names(self) -> list[str]:
        try:
            return [str(n) for n in json.loads(self._mesh_file.read_text())]
        except (OSError, ValueError, TypeError):
            return []

    def _record_mesh(self, names: list[str]) -> None:
        have = self._mesh_names()
        if set(names) <= set(have):
            return
        self._mesh_file.write_text(json.dumps(sorted({*have, *names})))

    async def _teardown_mesh(self) -> None:
        """Remove the routing mesh's devices this daemon made (whatever its bookkeeping says) and its tables."""
        names = self._mesh_names() + ingress_mesh.device_names(self._ingress)
        if names:
            with contextlib.suppress(OSError, NetlinkError):
                await asyncio.to_thread(ingress_mesh.teardown, names)
        self._ingress = {}
        self._mesh_file.unlink(missing_ok=True)

    async def cleanup_local(self) -> None:
        """What a previous run left of the local networks: their bridges and the published ports."""
        if not any(sb.mode for sb in self.sandboxes.values()):
            await asyncio.to_thread(localwire.cleanup, self._owner)
            self._local_rules = ([], set(), set())

    def _release_netns_dir(self) -> None:
        """The netns directory's own bind mount (stacked, if several runs crashed), once it is empty."""
        for _ in range(3):
            if self.sandboxes or not mounted(self.netns_dir):
                break
            with contextlib.suppress(OSError):
                if any(self.netns_dir.iterdir()):
                    break
                unbind(self.netns_dir)
            self._netns_ready = False

    async def close(self, keep_sandboxes: bool = False) -> None:
        """The daemon is stopping (its tasks were removed): any sandbox still here goes (its task's
        removal was cut short), then the DNS server, tunnel and mesh, and the bridges that no task
        uses any more. ``keep_sandboxes`` (the agent gave up removing at the shutdown deadline; it
        holds for this close and any later one): those still here stay for the next start's cleanup."""
        self._keep_sandboxes = self._keep_sandboxes or keep_sandboxes
        for tid in [] if self._keep_sandboxes else list(self.sandboxes):
            with contextlib.suppress(Exception):
                await self.remove_sandbox(tid)
        if not self.sandboxes:
            self._release_netns_dir()
        self.dns.close()
        await self.kube_proxy.close()
        await self.kube_dns.close()
        await self.ingress_proxy.stop()
        await self.tunnel.close()
        self._encryption = {}
        await self._teardown_mesh()
        if not self.sandboxes:
            await asyncio.to_thread(bridge.remove_unused, 2.0)  # the last veths go a moment after their netns
            await asyncio.to_thread(bridge.remove_orphan_vxlans)
            await self._remove_local_bridges()
            await self._teardown_podnet()

    async def _remove_local_bridges(self) -> None:
        """The local networks' bridges (made again on their next use) and table."""
        await asyncio.to_thread(localwire.cleanup, self._owner)
        self._local_rules = ([], set(), set())

    # ------------------------------------------------------------ the Kubernetes pod network

    async def set_pod_network(self, view: PodNetwork) -> None:
        """The managers' pod network: this node's block and the others'. The devices follow it (from a
        thread, one sync at a time); Pods waiting for the block go on once it is here."""
        async with self._podnet_lock:
            self.pod_network = view
            if not view.Block:
                return  # none yet (or the range is exhausted): Pods wait, and fail after PODNET_WAIT
            if self._pod_block is None or self._pod_block.block != view.Block:
                self._pod_block = podnet.PodBlock(view.Block)
            self._podnet_file.write_text(view.Block + "\n")  # before the devices: a crash still removes them
            try:
                await asyncio.to_thread(podnet.sync, view)
            except (OSError, NetlinkError) as e:
                log.warning("pod network: %s", e)
                return
            self._pod_ready.set()

    async def _pod_place(self, task_id: str) -> tuple[podnet.PodBlock, str]:
        """The node's block (waited for, a moment after it registered) and the task's address in it."""
        if not self._pod_ready.is_set():
            try:
                await asyncio.wait_for(self._pod_ready.wait(), PODNET_WAIT)
            except TimeoutError:
                raise SandboxError("the node has no block of the pod range (podCIDR) from the managers") from None
        block = self._pod_block
        if block is None:
            raise SandboxError("the node has no block of the pod range (podCIDR) from the managers")
        try:
            return block, block.address(task_id)
        except OSError as e:
            raise SandboxError(str(e)) from e

    def _pod_egress(self) -> set[str]:
        """What the egress table keeps for Pods: the whole pod range (never translated inside it)."""
        view = self.pod_network
        return {str(ipaddress.IPv4Network(view.ClusterCIDR, strict=False))} if view is not None else set()

    async def _make_on_pods(self, task: Task, sb: Sandbox) -> None:
        """A Pod's namespace made and wired to the pod bridge from one thread (``podnet.attach_new``),
        then its DNS server and the egress table, as ``_make_on_default``."""
        self._ensure_netns_dir()
        block, cidr = await self._pod_place(task.ID)
        sb.netns.touch()
        sb.addresses = [cidr]
        spec = first_container(task.Spec)
        dns = task.Spec.DNSConfig or (spec.DNSConfig if spec is not None else None) or {}
        netns = str(sb.netns)
        try:
            async with self._links.shared(), self._wiring:
                sockets = await in_thread(functools.partial(podnet.attach_new, netns, task.ID, cidr, block.gateway))
            timings.mark(task.ID, "net:wired")
            await self.dns.add(task.ID, netns, [], dns.get("Nameservers") or None, sockets)
            pods = self._pod_egress()
            await self._sync_egress(task.ID, pods, pods)
        except (OSError, NetlinkError, IndexError) as e:
            raise SandboxError(f"attaching the Pod to the pod network failed: {e}") from e

    async def _wire_pod(self, task: Task, sb: Sandbox, upstreams: list[str] | None) -> None:
        """A Pod in a namespace the runtime holds (docker): its veth on the pod bridge."""
        block, cidr = await self._pod_place(task.ID)
        sb.addresses = [cidr]
        netns = str(sb.netns)
        try:
            async with self._links.shared():
                await in_thread(functools.partial(podnet.attach, netns, task.ID, cidr, block.gateway))
            await self.dns.add(task.ID, netns, [], upstreams)
            pods = self._pod_egress()
            await self._sync_egress(task.ID, pods, pods)
        except (OSError, NetlinkError, IndexError) as e:
            raise SandboxError(f"attaching the Pod to the pod network failed: {e}") from e

    async def _teardown_podnet(self) -> None:
        """Remove the pod network's devices this daemon made (the file says so: also a killed one's)."""
        if self._pod_block is not None and len(self._pod_block):
            return
        async with self._podnet_lock:
            if self._podnet_file.exists() or self._pod_ready.is_set():
                with contextlib.suppress(OSError, NetlinkError):
                    await asyncio.to_thread(podnet.teardown)
                self._podnet_file.unlink(missing_ok=True)
            self._pod_ready.clear()
            self._pod_block = None
            self.pod_network = None
