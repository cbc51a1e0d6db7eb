"""``shoal sim``: a manager and N hollow nodes in one process, for capacity planning and benchmarks.

The manager is a normal one (a ``Daemon`` with the ``hollow`` runtime, so the Docker API and the docker
CLI work against it); every extra node is a real ``Worker`` with its own dispatcher session,
heartbeats and task runners, over the ``hollow`` runtime, which reports tasks running after a delay.
Node labels come from a spec like ``zone=a,b,c;rack=1-20``: node i gets the i-th value of each label,
round robin. Every node advertises the same generic resources (``--node-generic-resource gpu=4``).

``bench`` creates S services of R replicas and measures, from the first create until every task
reports running: decisions per second (tasks assigned), seconds to running, and peak resident memory.
With ``scheduler_only`` the agents are stopped and the scheduler is held while the services and
their tasks are made; ``decisions_per_s`` is then the scheduler's alone, from its start (it rebuilds
its view of the nodes and tasks from the store, as a new leader does) until every task is assigned
and committed, as kube-scheduler's benchmark counts pods scheduled and bound; ``seconds_to_pending``
is how long making the tasks took before.

``bench_kube`` is Kubernetes' own scalability test shape: Deployments in namespaces, each object made
as the Kubernetes door makes it (the door's conversion, ``to_core``, given by the caller, then the
core's ``KubeObjects.create``), until every Pod the ReplicaSets make is running on a hollow node.
``load_mix`` is clusterloader2's load test: 30 Pods a node, a namespace per 100 nodes, a quarter of
the Pods in Deployments of 250, a quarter in Deployments of 30 and half in Deployments of 5. Pod
start-up latency is measured as the density test does: from a Pod's creation (its commit) to it being
observed running (the store's change); ``to_assigned`` is its part until the Pod is placed.

``Reached`` is how far a simulation has come (nodes up of N, tasks running of M), kept by ``start``,
the benches and ``follow_tasks``, for the CLI's progress line (``cli/simprogress.py``).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.agent.worker import Worker, describe_node
from shoal.api.ids import new_id
from shoal.api.kube import ServiceAccount
from shoal.api.states import TaskState
from shoal.api.types import (
    MAIN_CONTAINER,
    ContainerSpec,
    GenericResource,
    Node,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskSpec,
    clone,
)
from shoal.daemon import Daemon, DaemonConfig
from shoal.runtime.hollow import HollowRuntime
from shoal.store.objects import Change


class PeakRSS:
    """The highest resident memory of this process while it runs, sampled by a thread every 0.2 s.

    ``getrusage``'s ``ru_maxrss`` (the kernel's VmHWM) alone is not enough: the kernel updates that
    mark lazily, and memory given back with ``madvise`` (as malloc does) is never counted in it; one
    C1M run reported 2.6 GB while ``ps`` had shown 5.7 GB."""

    def __init__(self, period: float = 0.2) -> None:
        self.period = period
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    @property
    def mb(self) -> float:
        return round(self.peak_kb / 1024, 1)


@dataclass
class Reached:
    """How far a simulation has come: nodes up of ``nodes``; ``done`` tasks ``verb`` (running, or
    assigned when only the scheduler is measured) of ``tasks`` wanted."""

    nodes: int = 0
    nodes_up: int = 0
    tasks: int = 0
    done: int = 0
    verb: str = "running"


def follow_tasks(sim: Sim, reached: Reached) -> Callable[[], None]:
    """Keep ``reached``'s task counts as the store changes (``shoal sim``, which serves clients):
    tasks whose desired state is running or before, and those running. Returns the unsubscribe."""
    m = sim.daemon.manager
    assert m is not None

    def weight(t: Task | None) -> tuple[int, int]:
        if t is None:
            return 0, 0
        return int(t.DesiredState <= TaskState.RUNNING), int(t.Status.State == TaskState.RUNNING)

    for t in m.store.list(Task):
        wanted, running = weight(t)
        reached.tasks += wanted
        reached.done += running

    def watch(ch: Change) -> None:
        if ch.kind != "tasks":
            return
        (ow, orun), (nw, nrun) = weight(ch.old), weight(ch.new)
        reached.tasks += nw - ow
        reached.done += nrun - orun

    return m.store.subscribe(watch)


def parse_labels(spec: str) -> dict[str, list[str]]:
    """``zone=a,b,c;rack=1-20`` → {"zone": ["a","b","c"], "rack": ["1", …, "20"]}."""
    out: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        key, _, values = part.partition("=")
        vals: list[str] = []
        for v in values.split(","):
            lo, dash, hi = v.partition("-")
            if dash and lo.isdigit() and hi.isdigit():
                vals.extend(str(i) for i in range(int(lo), int(hi) + 1))
            elif v:
                vals.append(v)
        out[key.strip()] = vals or [""]
    return out


def parse_bytes(s: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    s = s.strip().lower().removesuffix("b")
    if s and s[-1] in units:
        return int(float(s[:-1]) * units[s[-1]])
    return int(s)


@dataclass
class Sim:
    daemon: Daemon
    workers: list[Worker] = field(default_factory=list)
    scratch: Path | None = None  # a directory the simulation made for itself, removed at stop

    async def stop(self) -> None:
        if self.daemon.manager is not None:
            await self.daemon.manager.stop_loops()  # first, or stopping the nodes' tasks would restart them
        for i in range(0, len(self.workers), 100):  # a hundred nodes at a time: a million stopping tasks at
            await asyncio.gather(*(w.stop() for w in self.workers[i:i + 100]))  # once took 2 GB more
        await self.daemon.stop()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


async def start(nodes: int, labels: str = "", cpus: int = 16, memory: int = 64 << 30, start_delay: float = 0.0,
                root: Path | None = None, listen: str = "127.0.0.1:0",
                generic: list[GenericResource] | None = None, kube_addr: str = "",
                reached: Reached | None = None) -> Sim:
    """A manager (the ``hollow`` runtime) and ``nodes - 1`` hollow workers in this process; ``kube_addr``
    is where its Kubernetes API is said to be (``shoal kubeconfig``), served by the caller; ``reached``
    counts the nodes up as they register."""
    base = root or Path(tempfile.mkdtemp(prefix="shoal-sim-"))
    d = Daemon(DaemonConfig(data_root=base / "data", exec_root=base / "run", runtime="hollow", hostname="hollow-0",
                            cpus=cpus, memory=memory, generic_resources=list(generic or []),
                            block_registries=["all"], kube_addr=kube_addr))  # a simulation pulls nothing, from nowhere
    d.runtime = HollowRuntime(start_delay)
    reached = reached if reached is not None else Reached()
    reached.nodes = nodes
    await d.start()
    await d.swarm_init("127.0.0.1", listen)
    reached.nodes_up = 1
    sim = Sim(d, scratch=None if root else base)
    m = d.manager
    assert m is not None and m.dispatcher is not None
    label_values = parse_labels(labels)
    for i in range(1, nodes):
        node_id = new_id()
        w = Worker(node_id, HollowRuntime(start_delay), m.dispatcher,
                   describe_node(f"hollow-{i}", cpus=cpus, memory=memory, generic=generic, runtime="hollow"),
                   "127.0.0.1", role="worker")
        await w.start()
        sim.workers.append(w)
        reached.nodes_up += 1
    if label_values:
        updated = []
        for i, n in enumerate(sorted(m.store.list(Node), key=lambda n: n.Description.Hostname)):
            c = clone(n)
            c.Spec.Labels = {k: v[i % len(v)] for k, v in label_values.items()}
            updated.append(c)
        await m.store.commit(updates=updated)
    return sim


async def bench(nodes: int, services: int, replicas: int, *, scheduler_only: bool = False,
                start_delay: float = 0.0, reached: Reached | None = None) -> dict[str, Any]:
    with PeakRSS() as peak:
        return await _bench(nodes, services, replicas, scheduler_only, start_delay, peak, reached or Reached())


async def _bench(nodes: int, services: int, replicas: int, scheduler_only: bool, start_delay: float,
                 peak: PeakRSS, reached: Reached) -> dict[str, Any]:
    sim = await start(nodes, start_delay=start_delay, listen="127.0.0.1:0", reached=reached)
    m = sim.daemon.manager
    assert m is not None
    total = services * replicas
    reached.tasks, reached.verb = total, "assigned" if scheduler_only else "running"
    assigned: set[str] = set()
    running: set[str] = set()
    all_assigned = asyncio.Event()
    all_running = asyncio.Event()

    def watch(ch: Change) -> None:
        t = ch.new
        if ch.kind != "tasks" or t is None:
            return
        if t.NodeID and t.Status.State >= TaskState.ASSIGNED and t.ID not in assigned:
            assigned.add(t.ID)
            if scheduler_only:
                reached.done = len(assigned)
            if len(assigned) >= total:
                all_assigned.set()
        if t.Status.State == TaskState.RUNNING and t.ID not in running:
            running.add(t.ID)
            reached.done = len(running)
            if len(running) >= total:
                all_running.set()

    m.store.subscribe(watch)
    if scheduler_only:
        for w in sim.workers:  # keep the nodes, stop the agents: only the manager's side is measured
            await w.stop()
        sim.workers.clear()
        await m.scheduler.stop()
    t0 = time.perf_counter()
    for s in range(services):
        await m.control.create_service(ServiceSpec(
            Name=f"svc{s}", TaskTemplate=TaskSpec(Containers=[ContainerSpec(Name=MAIN_CONTAINER, Image="hollow")]),
            Mode=ServiceMode(Replicated=ReplicatedService(Replicas=replicas)),
        ))
    t_sched = t0
    if scheduler_only:
        while m.store.count(Task) < total or any(t.Status.State < TaskState.PENDING for t in m.store.list(Task)):
            await asyncio.sleep(0.01)
        t_sched = time.perf_counter()
        m.scheduler.start()
    await all_assigned.wait()
    t_assigned = time.perf_counter() - t0
    seconds_to_running: float | None = None
    if not scheduler_only:
        await all_running.wait()
        seconds_to_running = round(time.perf_counter() - t0, 2)
    peak.sample()  # the peak up to here: every task assigned (and running), not the teardown
    result = {
        "nodes": nodes, "services": services, "replicas": replicas, "tasks": total,
        "decisions_per_s": round(total / (t_assigned - (t_sched - t0))), "seconds_to_assigned": round(t_assigned, 2),
        "seconds_to_pending": round(t_sched - t0, 2) if scheduler_only else None,
        "seconds_to_running": seconds_to_running,
        "peak_rss_mb": peak.mb,
        "running": len(running) if not scheduler_only else None,
        "tasks_in_store": m.store.count(Task),
    }
    await sim.stop()
    return result


# ---------------------------------------------------------------- Kubernetes' load test shape

PODS_PER_NODE, NODES_PER_NAMESPACE = 30, 100  # clusterloader2's load test
BIG, MEDIUM, SMALL = 250, 30, 5  # its Deployment sizes: a quarter, a quarter and half of the Pods


def load_mix(nodes: int) -> list[tuple[str, str, int]]:
    """clusterloader2's load test for ``nodes`` nodes: (namespace, Deployment name, replicas)."""
    namespaces = max((nodes - 1) // NODES_PER_NAMESPACE + 1, 1)
    pods = nodes * PODS_PER_NODE // namespaces  # per namespace
    out: list[tuple[str, str, int]] = []
    for n in range(namespaces):
        ns = f"load-{n + 1}"
        for size, share, prefix in ((BIG, 4, "big"), (MEDIUM, 4, "medium"), (SMALL, 2, "small")):
            out += [(ns, f"{prefix}-deployment-{i}", size) for i in range(pods // share // size)]
    return out


def uniform_mix(deployments: int, replicas: int, per_namespace: int = 300) -> list[tuple[str, str, int]]:
    """``deployments`` Deployments of ``replicas`` each, ``per_namespace`` to a namespace."""
    return [(f"load-{i // per_namespace + 1}", f"deployment-{i}", replicas) for i in range(deployments)]


def deployment_wire(name: str, replicas: int) -> dict[str, Any]:
    """The Deployment as a client sends it (the load test's: one pause container, default strategy)."""
    labels = {"name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": "registry.k8s.io/pause:3.9"}]}}}}


ToCore = Callable[[str, Mapping[str, Any], str], Any]  # (resource, wire object, namespace) -> core object


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(round(q * len(s)) - 1, 0))]


async def bench_kube(nodes: int, groups: list[tuple[str, str, int]], to_core: ToCore,
                     start_delay: float = 0.0, reached: Reached | None = None) -> dict[str, Any]:
    with PeakRSS() as peak:
        return await _bench_kube(nodes, groups, to_core, start_delay, peak, reached or Reached())


async def _bench_kube(nodes: int, groups: list[tuple[str, str, int]], to_core: ToCore, start_delay: float,
                      peak: PeakRSS, reached: Reached) -> dict[str, Any]:
    sim = await start(nodes, start_delay=start_delay, listen="127.0.0.1:0", reached=reached)
    m = sim.daemon.manager
    assert m is not None
    total = sum(r for _, _, r in groups)
    reached.tasks, reached.verb = total, "running"
    namespaces = sorted({ns for ns, _, _ in groups})
    for ns in namespaces:
        await m.kube.create(to_core("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": ns}}, ""))
    # Their default ServiceAccounts (the namespace controller's) first, as the load test waits for them.
    while len({a.Namespace for a in m.store.list(ServiceAccount) if a.Namespace in namespaces}) < len(namespaces):
        await asyncio.sleep(0.05)
    created: dict[str, float] = {}
    assigned: dict[str, float] = {}
    latencies: list[float] = []
    to_assigned: list[float] = []  # creation to placed (the scheduler's part of the latency)
    all_running = asyncio.Event()
    first_pod: list[float] = []

    def watch(ch: Change) -> None:
        if ch.kind != "tasks":
            return
        t = ch.new
        if t is None or not t.Namespace:
            return
        now = time.perf_counter()
        if ch.old is None:
            created[t.ID] = now
            if not first_pod:
                first_pod.append(now)
        if t.NodeID and t.ID not in assigned and t.ID in created:
            assigned[t.ID] = now
            to_assigned.append(now - created[t.ID])
        if t.Status.State == TaskState.RUNNING and (ch.old is None or ch.old.Status.State != TaskState.RUNNING):
            assigned.pop(t.ID, None)
            since = created.pop(t.ID, None)
            if since is not None:
                latencies.append(now - since)
                reached.done = len(latencies)
                if len(latencies) >= total:
                    all_running.set()

    m.store.subscribe(watch)
    t0 = time.perf_counter()
    for ns, name, replicas in groups:
        await m.kube.create(to_core("deployments", deployment_wire(name, replicas), ns))
    t_created = time.perf_counter() - t0
    await all_running.wait()
    seconds = time.perf_counter() - t0
    peak.sample()  # the peak up to here: every Pod running, not the teardown
    result = {
        "nodes": nodes, "namespaces": len(namespaces), "deployments": len(groups), "pods": total,
        "seconds_to_deployments": round(t_created, 2),
        "seconds_to_first_pod": round(first_pod[0] - t0, 2) if first_pod else None,
        "seconds_to_running": round(seconds, 2),
        "pods_per_s": round(total / seconds),
        "startup_p50_s": round(_percentile(latencies, 0.50) or 0.0, 3),
        "startup_p90_s": round(_percentile(latencies, 0.90) or 0.0, 3),
        "startup_p99_s": round(_percentile(latencies, 0.99) or 0.0, 3),
        "startup_max_s": round(max(latencies), 3),
        "to_assigned_p50_s": round(_percentile(to_assigned, 0.50) or 0.0, 3),
        "to_assigned_p99_s": round(_percentile(to_assigned, 0.99) or 0.0, 3),
        "peak_rss_mb": peak.mb,
        "tasks_in_store": m.store.count(Task),
    }
    await sim.stop()
    return result
