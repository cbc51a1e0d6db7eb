"""Scheduler filters. Each is tiny: does it apply to this task, does this node pass, and how to say
why nodes failed, in SwarmKit's fixed words (``insufficient resources on 3 nodes``).

The order is SwarmKit's, cheapest and most telling first: ready/availability, resources, plugins,
constraints, platform, host ports, max replicas per node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shoal.api.types import Node, Resources, Task
from shoal.manager.scheduler import constraint


@dataclass
class NodeInfo:
    """What the scheduler knows of a node: the node, what is left of it, and what runs on it."""

    node: Node
    available_cpus: int = 0
    available_memory: int = 0
    active_tasks: int = 0
    tasks_by_service: dict[str, int] = field(default_factory=dict)
    used_host_ports: set[tuple[str, int]] = field(default_factory=set)
    task_ids: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, node: Node) -> NodeInfo:
        res = node.Description.Resources
        return cls(node=node, available_cpus=res.NanoCPUs, available_memory=res.MemoryBytes)

    def add_task(self, t: Task) -> bool:
        if t.ID in self.task_ids:
            return False
        self.task_ids.add(t.ID)
        self.active_tasks += 1
        self.tasks_by_service[t.ServiceID] = self.tasks_by_service.get(t.ServiceID, 0) + 1
        r = reservations(t)
        if r is not None:
            self.available_cpus -= r.NanoCPUs
            self.available_memory -= r.MemoryBytes
        for proto, port in host_ports(t):
            self.used_host_ports.add((proto, port))
        return True

    def remove_task(self, t: Task) -> bool:
        if t.ID not in self.task_ids:
            return False
        self.task_ids.discard(t.ID)
        self.active_tasks -= 1
        n = self.tasks_by_service.get(t.ServiceID, 0) - 1
        if n > 0:
            self.tasks_by_service[t.ServiceID] = n
        else:
            self.tasks_by_service.pop(t.ServiceID, None)
        r = reservations(t)
        if r is not None:
            self.available_cpus += r.NanoCPUs
            self.available_memory += r.MemoryBytes
        for proto, port in host_ports(t):
            self.used_host_ports.discard((proto, port))
        return True


def reservations(t: Task) -> Resources | None:
    res = t.Spec.Resources
    return res.Reservations if res is not None else None


def host_ports(t: Task) -> list[tuple[str, int]]:
    if t.Endpoint is None or not t.Endpoint.Ports:
        return []
    return [(p.Protocol, p.PublishedPort) for p in t.Endpoint.Ports if p.PublishMode == "host" and p.PublishedPort]


def _n(nodes: int, one: str, many: str) -> str:
    return one if nodes == 1 else many % nodes


class Filter(Protocol):
    name: str

    def set_task(self, t: Task) -> bool: ...

    def check(self, n: NodeInfo) -> bool: ...

    def explain(self, nodes: int) -> str: ...


class ReadyFilter:
    name = "ready"

    def set_task(self, t: Task) -> bool:
        return True

    def check(self, n: NodeInfo) -> bool:
        return n.node.Status.State == "ready" and n.node.Spec.Availability == "active"

    def explain(self, nodes: int) -> str:
        return _n(nodes, "1 node not available for new tasks", "%d nodes not available for new tasks")


class ResourceFilter:
    name = "resources"

    def __init__(self) -> None:
        self.cpus = 0
        self.memory = 0

    def set_task(self, t: Task) -> bool:
        r = reservations(t)
        if r is None or (r.NanoCPUs == 0 and r.MemoryBytes == 0):
            return False
        self.cpus, self.memory = r.NanoCPUs, r.MemoryBytes
        return True

    def check(self, n: NodeInfo) -> bool:
        return self.cpus <= n.available_cpus and self.memory <= n.available_memory

    def explain(self, nodes: int) -> str:
        return _n(nodes, "insufficient resources on 1 node", "insufficient resources on %d nodes")


class ConstraintFilter:
    name = "constraints"

    def __init__(self) -> None:
        self.constraints: list[constraint.Constraint] = []
        self._cache: dict[tuple[str, ...], list[constraint.Constraint]] = {}

    def set_task(self, t: Task) -> bool:
        p = t.Spec.Placement
        if p is None or not p.Constraints:
            return False
        key = tuple(p.Constraints)
        parsed = self._cache.get(key)
        if parsed is None:
            try:
                parsed = constraint.parse(p.Constraints)
            except constraint.ConstraintError:
                return False  # validated at create time; an old bad one disables the filter, as in Swarm
            self._cache[key] = parsed
        self.constraints = parsed
        return True

    def check(self, n: NodeInfo) -> bool:
        return constraint.node_matches(self.constraints, n.node)

    def explain(self, nodes: int) -> str:
        return _n(
            nodes,
            "scheduling constraints not satisfied on 1 node",
            "scheduling constraints not satisfied on %d nodes",
        )


class PlatformFilter:
    name = "platform"

    def __init__(self) -> None:
        self.platforms: list[tuple[str, str]] = []

    def set_task(self, t: Task) -> bool:
        p = t.Spec.Placement
        if p is None or not p.Platforms:
            return False
        self.platforms = [(_norm(x.Architecture), x.OS) for x in p.Platforms]
        return True

    def check(self, n: NodeInfo) -> bool:
        plat = n.node.Description.Platform
        arch, os_ = _norm(plat.Architecture), plat.OS
        return any((a == "" or a == arch) and (o == "" or o == os_) for a, o in self.platforms)

    def explain(self, nodes: int) -> str:
        return _n(nodes, "unsupported platform on 1 node", "unsupported platform on %d nodes")


def _norm(arch: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)


class HostPortFilter:
    name = "hostports"

    def __init__(self) -> None:
        self.ports: list[tuple[str, int]] = []

    def set_task(self, t: Task) -> bool:
        self.ports = host_ports(t)
        return bool(self.ports)

    def check(self, n: NodeInfo) -> bool:
        return not any(p in n.used_host_ports for p in self.ports)

    def explain(self, nodes: int) -> str:
        return _n(nodes, "host-mode port already in use on 1 node", "host-mode port already in use on %d nodes")


class MaxReplicasFilter:
    name = "maxreplicas"

    def __init__(self) -> None:
        self.service = ""
        self.limit = 0

    def set_task(self, t: Task) -> bool:
        p = t.Spec.Placement
        if p is None or p.MaxReplicas <= 0:
            return False
        self.service, self.limit = t.ServiceID, p.MaxReplicas
        return True

    def check(self, n: NodeInfo) -> bool:
        return n.tasks_by_service.get(self.service, 0) < self.limit

    def explain(self, nodes: int) -> str:
        return "max replicas per node limit exceed"


FILTERS: dict[str, type] = {
    f.name: f
    for f in (ReadyFilter, ResourceFilter, ConstraintFilter, PlatformFilter, HostPortFilter, MaxReplicasFilter)
}


class Pipeline:
    """Runs the filters that apply to a task over nodes, counting which filter rejected each node."""

    def __init__(self, filters: list[Filter] | None = None) -> None:
        self.filters: list[Filter] = filters if filters is not None else [f() for f in FILTERS.values()]
        self.active: list[Filter] = []
        self.failures: dict[str, int] = {}

    def set_task(self, t: Task) -> None:
        self.active = [f for f in self.filters if f.set_task(t)]
        self.failures = {}

    def process(self, n: NodeInfo) -> bool:
        for f in self.active:
            if not f.check(n):
                self.failures[f.name] = self.failures.get(f.name, 0) + 1
                return False
        return True

    def explain(self) -> str:
        """Failures joined with '; ', most frequent first (ties keep pipeline order)."""
        order = {f.name: i for i, f in enumerate(self.filters)}
        ranked = sorted(self.failures.items(), key=lambda kv: (-kv[1], order[kv[0]]))
        by_name = {f.name: f for f in self.filters}
        return "; ".join(by_name[name].explain(count) for name, count in ranked if count > 0)
