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
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.agent.worker import Worker, describe_node
from shoal.api.ids import new_id
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
                generic: list[GenericResource] | None = None, kube_addr: str = "") -> Sim:
    """A manager (the ``hollow`` runtime) and ``nodes - 1`` hollow workers in this process; ``kube_addr``
    is where its Kubernetes API is said to be (``shoal kubeconfig``), served by the caller."""
    base = root or Path(tempfile.mkdtemp(prefix="shoal-sim-"))
    d = Daemon(DaemonConfig(data_root=base / "data", exec_root=base / "run", runtime="hollow", hostname="hollow-0",
                            cpus=cpus, memory=memory, generic_resources=list(generic or []),
                            block_registries=["all"], kube_addr=kube_addr))  # a simulation pulls nothing, from nowhere
    d.runtime = HollowRuntime(start_delay)
    await d.start()
    await d.swarm_init("127.0.0.1", listen)
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
    if label_values:
        updated = []
        for i, n in enumerate(sorted(m.store.list(Node), key=lambda n: n.Description.Hostname)):
            c = clone(n)
            c.Spec.Labels = {k: v[i % len(v)] for k, v in label_values.items()}
            updated.append(c)
        await m.store.commit(updates=updated)
    return sim


async def bench(nodes: int, services: int, replicas: int, *, scheduler_only: bool = False,
                start_delay: float = 0.0) -> dict[str, Any]:
    with PeakRSS() as peak:
        return await _bench(nodes, services, replicas, scheduler_only, start_delay, peak)


async def _bench(nodes: int, services: int, replicas: int, scheduler_only: bool, start_delay: float,
                 peak: PeakRSS) -> dict[str, Any]:
    sim = await start(nodes, start_delay=start_delay, listen="127.0.0.1:0")
    m = sim.daemon.manager
    assert m is not None
    total = services * replicas
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
            if len(assigned) >= total:
                all_assigned.set()
        if t.Status.State == TaskState.RUNNING and t.ID not in running:
            running.add(t.ID)
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
