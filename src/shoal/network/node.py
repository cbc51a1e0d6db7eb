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
  (``ingress.py``) and the encrypted overlays' tunnel (``seal.py``).

``cleanup`` removes what a previous run of the daemon left (netns files, bridges, the egress table).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shoal.api import timings
from shoal.api.types import NetworkAttachment, Task, first_container
from shoal.network import bridge, egress, endpoints, seal, vip
from shoal.network import ingress as ingress_mesh
from shoal.network import netns as namespaces
from shoal.network.default import DefaultBridge, choose_bip
from shoal.network.dns import EmbeddedDNS, bound_sockets, node_upstreams
from shoal.network.netns import bind, in_netns, in_thread, mounted, private_dir, unbind
from shoal.network.sandbox import NetnsHolder, Sandbox, SandboxError

log = logging.getLogger(__name__)

TUNNEL_WAIT = 15.0  # for the encrypted overlays' keys, which come a moment after a task
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


def _on_default(netns: str, task_id: str, place: NetworkAttachment) -> tuple[socket.socket, socket.socket]:
    """In a fresh thread: the task's namespace made and wired to the default bridge, and the DNS
    server's sockets bound in it (the thread is in it by then, and ends there)."""
    bridge.attach_new(netns, task_id, place)
    return bound_sockets()


class NodeNetwork:
    def __init__(self, exec_root: Path, dns: list[str] | None = None, bip: str = "",
                 holder: NetnsHolder | None = None) -> None:
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
        self.tunnel = seal.Tunnel()  # the encrypted overlays' tunnel, while this node has tasks on one
        self._encryption: dict[str, Any] = {}
        self._netns_ready = False

    def netns_path(self, task_id: str) -> Path:
        return self.netns_dir / task_id

    # ------------------------------------------------------------ a task's sandbox

    async def create_sandbox(self, task: Task) -> Sandbox:
        """The task's namespace (made here, or held by the runtime's ``holder``), wired to its networks (or the
        default bridge), with its DNS server and VIP rules; raises ``SandboxError``."""
        netns = self.netns_path(task.ID)
        if task.ID in self.sandboxes or netns.exists():
            await self.remove_sandbox(task.ID)
        sb = Sandbox.of(task, netns)
        self.sandboxes[task.ID] = sb  # first: a failure below is undone by remove_sandbox
        try:
            if self.holder is None and not task.NetworksAttachments:
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
            await self._wire(task, sb)
        except BaseException:
            await self.remove_sandbox(task.ID)
            raise
        return sb

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
                raise SandboxError(f"attaching the task to the default bridge failed: {e}") from e

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
            async with self._links.shared(), self._wiring:
                sockets = await in_thread(functools.partial(_on_default, netns, task.ID, place))
            timings.mark(task.ID, "net:wired")
            await self.dns.add(task.ID, netns, [], dns.get("Nameservers") or None, sockets)
            timings.mark(task.ID, "net:dns")
            await self._sync_egress(task.ID, {str(default.subnet)}, {str(default.subnet)})
            timings.mark(task.ID, "net:egress")
        except (OSError, NetlinkError, IndexError) as e:
            raise SandboxError(f"attaching the task to the default bridge failed: {e}") from e

    async def remove_sandbox(self, task_id: str) -> None:
        """Remove the task's namespace and everything of it here (whatever of them exists); the
        holder's part (a pause container) goes last."""
        sb = self.sandboxes.pop(task_id, None)
        self.dns.remove(task_id)
        on_default = self._default_bridge is not None and self._default_bridge.has(task_id)
        if self._default_bridge is not None:
            self._default_bridge.release(task_id)
        self._vip_rules.pop(task_id, None)
        if task_id in self._egress:
            with contextlib.suppress(OSError):
                await self._sync_egress(task_id, set(), set())
        netns = self.netns_path(task_id)
        unbind(netns)
        with contextlib.suppress(FileNotFoundError):
            netns.unlink()
        if self.holder is not None and (sb is None or sb.held):
            await self.holder.release_netns(task_id)
        if on_default or (sb is not None and sb.networks):
            # Its veths now (a crash's leftovers go with their namespaces, and at cleanup).
            async with self._links.exclusive():
                await asyncio.to_thread(bridge.detach, task_id)

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
            try:
                await asyncio.to_thread(ingress_mesh.sync, ingress)
                self._ingress = ingress
            except (OSError, NetlinkError) as e:
                log.warning("routing mesh: %s", e)
        await asyncio.to_thread(bridge.sync_peers, self.network_peers)
        for tid, sb in list(self.sandboxes.items()):
            if sb.networks:
                await self._sync_vips(tid)

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
        """The node's default bridge, its address chosen on first use (netlink: from a thread)."""
        if self._default_bridge is None:
            self._default_bridge = DefaultBridge(await asyncio.to_thread(choose_bip, self._bip))
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
            self._egress_sync = done = asyncio.get_running_loop().create_future()
            try:
                await in_thread(functools.partial(egress.sync, *now))
                self._egress_loaded = now
            finally:
                self._egress_sync = None
                done.set_result(None)

    # ------------------------------------------------------------ the node's lifecycle

    async def cleanup(self) -> None:
        """Remove the sandboxes a previous run of the daemon left (netns files), then, when no task
        here has one, the networks' bridges, VXLANs and egress table it left."""
        if self.netns_dir.exists():
            for p in sorted(self.netns_dir.iterdir()):
                if p.name not in self.sandboxes:
                    await self.remove_sandbox(p.name)
        if not self.sandboxes:
            await asyncio.to_thread(bridge.remove_unused)
            await asyncio.to_thread(egress.teardown)
            self._egress_loaded = (set(), set())
        self._release_netns_dir()

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

    async def close(self) -> None:
        """The daemon is stopping (its tasks were removed): any sandbox still here goes (its task's
        removal was cut short), then the DNS server, tunnel and mesh, and the bridges that no task
        uses any more."""
        for tid in list(self.sandboxes):
            with contextlib.suppress(Exception):
                await self.remove_sandbox(tid)
        if not self.sandboxes:
            self._release_netns_dir()
        self.dns.close()
        await self.tunnel.close()
        self._encryption = {}
        if self._ingress:
            with contextlib.suppress(OSError, NetlinkError):
                await asyncio.to_thread(ingress_mesh.teardown)
            self._ingress = {}
        if not self.sandboxes:
            await asyncio.to_thread(bridge.remove_unused, 2.0)  # the last veths go a moment after their netns
