"""The LoadBalancer address controller (the leader's, on a keyed work queue: key =
``<namespace>/<service name>``): every ``type: LoadBalancer`` Service gets ``status.loadBalancer.ingress``,
so ``kubectl get svc`` shows its EXTERNAL-IP and the nodes' rules (the view's
``KubeServiceInfo.LoadBalancerIPs``) answer on it.

* **With a pool** (``shoal daemon --service-lb-pool``, ``KubeNetSettings.ServiceLBPool``: a CIDR or
  ``A-B``), as MetalLB's controller does: one address of the pool per Service, the one it asks for
  with ``spec.loadBalancerIP`` if that is in the pool and free, else the lowest free one. The address
  is ``Status.PoolAddress`` and is claimed with an index key (``ip/kube-lb-pool/<addr>``) in the same
  write as the status, so two Services never hold one, whichever manager writes; it is free again when
  the Service is deleted or stops being a LoadBalancer (the registry clears the status with the type:
  ``services.allocate``). A Service that gets none (the pool exhausted, the address it asks for
  outside the pool or taken) stays pending, with a Warning event ``AllocationFailed`` in MetalLB's
  words (``Failed to allocate IP for "default/web-lb": no available IPs``) and is looked at again
  when some Service lets an address go. A successful pick is an ``IPAllocated`` event
  (``Assigned IP ["10.213.1.240"]``).
* **Without a pool**, as k3s's ServiceLB does: the addresses of the ready nodes (``Node.Status.Addr``;
  not drained, not labelled ``node.kubernetes.io/exclude-from-external-load-balancers``), in address
  order, kept up to date as nodes come and go. Nothing is claimed: every LoadBalancer Service has them
  all (their ports tell them apart).

A Service with a ``spec.loadBalancerClass`` belongs to another implementation and is left alone, as
both of those leave it. The status is written through ``KubeObjects.update`` (the status is the core's:
a client's write of the ``status`` subresource changes nothing).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable

from shoal.api.errors import Conflict, NotFound
from shoal.api.kubenet import settings_of
from shoal.api.types import Cluster, KubeService, LoadBalancerIngress, Node, clone
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.netsettings import pool_range
from shoal.manager.kube.objects import KubeObjects
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

COMPONENT = "service-lb-controller"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


def is_ours(svc: KubeService) -> bool:
    """A LoadBalancer Service this controller gives addresses to (no other implementation's class)."""
    return svc.Spec.Type == "LoadBalancer" and not svc.Spec.LoadBalancerClass and not svc.DeletionTimestamp


def node_addresses(nodes: list[Node]) -> tuple[str, ...]:
    """The ready nodes' addresses, in address order: a LoadBalancer's addresses when there is no pool."""
    addrs: set[str] = set()
    for n in nodes:
        if n.Status.State != "ready" or not n.Status.Addr or n.Spec.Availability == "drain":
            continue
        if EXCLUDE_LABEL in (n.Spec.Labels or {}):
            continue
        try:
            ipaddress.IPv4Address(n.Status.Addr)
        except ValueError:
            continue
        addrs.add(n.Status.Addr)
    return tuple(sorted(addrs, key=ipaddress.IPv4Address))


def _lb_view(n: Node | None) -> tuple[str, ...] | None:
    """What of a node counts for its address being a LoadBalancer's."""
    if n is None:
        return None
    return (n.Status.State, n.Status.Addr, n.Spec.Availability, str(EXCLUDE_LABEL in (n.Spec.Labels or {})))


def pick(pool: str, held: set[str], asked: str = "") -> tuple[str, str]:
    """An address of ``pool`` none of ``held`` is: ``asked`` (``spec.loadBalancerIP``) if given, else the
    lowest free one; (address, "") or ("", why not, in MetalLB's words)."""
    lo, hi = pool_range(pool)
    if asked:
        try:
            want = ipaddress.IPv4Address(asked)
        except ValueError:
            return "", f'invalid IP "{asked}"'
        if not lo <= want <= hi:
            return "", f'"{asked}" is not allowed in config'
        if asked in held:
            return "", f'"{asked}" is already in use'
        return asked, ""
    a = lo
    while a <= hi:
        if str(a) not in held:
            return str(a), ""
        a += 1
    return "", "no available IPs"


class LoadBalancerController(wl.WorkloadController):
    name = "loadbalancers"
    workers = 1  # one at a time: two picks of this manager never take one address

    def __init__(self, store: ObjectStore, kube: KubeObjects, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, kube, clock)
        self.nodes: tuple[str, ...] = ()  # the node addresses last seen (no pool)
        self.failed: dict[str, str] = {}  # key -> the last AllocationFailed message recorded
        self.taken_elsewhere: set[str] = set()  # pool addresses another manager claimed first

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        self.nodes = node_addresses(self.store.list(Node))
        self.queue_all()

    def queue_all(self, pending_only: bool = False) -> None:
        for s in self.store.list(KubeService):
            if is_ours(s) and not (pending_only and s.Status.PoolAddress):
                self.queue.add(f"{s.Namespace}/{s.Name}")

    def on_change(self, ch: Change) -> None:
        if ch.kind == "kubeservices":
            obj = ch.new or ch.old
            self.queue.add(f"{obj.Namespace}/{obj.Name}")
            if ch.new is not None:
                self.taken_elsewhere.discard(ch.new.Status.PoolAddress)
            freed = ch.old is not None and ch.old.Status.PoolAddress and (
                ch.new is None or ch.new.Status.PoolAddress != ch.old.Status.PoolAddress)
            if freed:
                self.queue_all(pending_only=True)  # an address let go: the pending may have it
        elif ch.kind == "nodes" and _lb_view(ch.old) != _lb_view(ch.new):  # not on every status write
            addrs = node_addresses(self.store.list(Node))
            if addrs != self.nodes:
                self.nodes = addrs
                self.queue_all()

    def _pool(self) -> str:
        clusters = self.store.list(Cluster)
        return settings_of(clusters[0] if clusters else None).ServiceLBPool

    async def sync(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        try:
            svc: KubeService = self.kube.get("kubeservices", ns, name)
        except NotFound:
            self.failed.pop(key, None)
            return None
        if not is_ours(svc):
            self.failed.pop(key, None)
            return None
        pool = self._pool()
        if not pool:
            await self._write(svc, [LoadBalancerIngress(IP=a) for a in self.nodes], "")
            return None
        held = {s.Status.PoolAddress for s in self.store.list(KubeService)
                if s.ID != svc.ID and s.Status.PoolAddress} | self.taken_elsewhere
        mine, asked = svc.Status.PoolAddress, svc.Spec.LoadBalancerIP
        keep = bool(mine) and not pick(pool, held, mine)[1] and (not asked or asked == mine)
        addr, why = (mine, "") if keep else pick(pool, held, asked)
        if not addr:
            await self._write(svc, [], "")
            msg = f'Failed to allocate IP for "{key}": {why}'
            if self.failed.get(key) != msg:
                self.failed[key] = msg
                await wl.record(self.kube, svc, "Service", COMPONENT, "AllocationFailed", msg, self.clock(),
                                "Warning", api_version="v1")
            return None
        self.failed.pop(key, None)
        try:
            wrote = await self._write(svc, [LoadBalancerIngress(IP=addr)], addr)
        except Conflict:
            if addr != mine:
                self.taken_elsewhere.add(addr)  # (or the Service changed meanwhile: looked at again)
            raise
        if wrote and addr != mine:
            await wl.record(self.kube, svc, "Service", COMPONENT, "IPAllocated",
                            f"Assigned IP {json.dumps([addr])}", self.clock(), api_version="v1")
        return None

    async def _write(self, svc: KubeService, ingress: list[LoadBalancerIngress], pool_address: str) -> bool:
        """Store the Service's LoadBalancer status if it differs; whether it did."""
        if (svc.Status.LoadBalancer or []) == ingress and svc.Status.PoolAddress == pool_address:
            return False
        out = clone(svc)
        out.Status.LoadBalancer = ingress or None
        out.Status.PoolAddress = pool_address
        await self.kube.update(out)
        return True
