"""The web console's core at scale (issue 17): a memory store written directly with 5,000 nodes and
100,000 current tasks (Swarm tasks of 50 services, Pods of 20 Deployments, 500 pending) plus 10,000
tasks of history, then ``ConsoleView`` built over it and its calls timed. Prints figures; asserts nothing.

    PYTHONPATH=$PWD/src python3 bench/console_core.py [--nodes 5000] [--tasks 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from shoal.api.meta import ObjectRef, OwnerReference
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import (
    SERVICE_KIND,
    ContainerSpec,
    Deployment,
    DeploymentSpec,
    LabelSelectorSpec,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    PodTemplate,
    ReplicaSet,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskSpec,
    TaskStatus,
    Version,
    clone,
    now_ts,
)
from shoal.manager.console import ConsoleView
from shoal.store.memory import MemoryBackend
from shoal.store.objects import Change, ObjectStore

GiB = 1 << 30
CPU = 1_000_000_000
BATCH = 5000


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed(what: str, fn: Callable[[], Any], repeat: int = 5) -> Any:
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"  {what:<46} {best * 1000:9.3f} ms (best of {repeat})")
    return out


def uncached(view: ConsoleView, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` without the view's cache of the last sorted selection (as after a change)."""
    def call() -> Any:
        view._sorted = None
        return fn()
    return call


def uncached_rows(view: ConsoleView, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` without the services' rows the view keeps while nothing of theirs changed."""
    def call() -> Any:
        view._rows.clear()
        return fn()
    return call


def uncached_infos(view: ConsoleView, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` without the view's nodes' view kept for pending tasks' explanations."""
    def call() -> Any:
        view._infos_cache = None
        return fn()
    return call


async def fill(store: ObjectStore, nodes: int, tasks: int) -> None:
    ts = now_ts()
    await _commit(store, [Node(ID=f"node{i:05d}", Spec=NodeSpec(Labels={"zone": f"z{i % 3}"}),
                               Description=NodeDescription(Hostname=f"host-{i:05d}", Resources=Resources(
                                   NanoCPUs=8 * CPU, MemoryBytes=16 * GiB)),
                               Status=NodeStatus(State="ready", Addr=f"10.213.{i // 250}.{i % 250}"))
                          for i in range(nodes)])
    services = [Service(ID=f"svc{i:02d}", Spec=ServiceSpec(
        Name=f"service-{i:02d}", TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image=f"app{i}:1")]),
        Mode=ServiceMode(Replicated=ReplicatedService(Replicas=0))), SpecVersion=Version(Index=1)) for i in range(50)]
    deployments = [Deployment(ID=f"dep{i:02d}", Name=f"deploy-{i:02d}", Namespace="default", Spec=DeploymentSpec(
        Selector=LabelSelectorSpec(MatchLabels={"app": f"d{i}"}), Template=PodTemplate(Labels={"app": f"d{i}"})))
        for i in range(20)]
    rss = [ReplicaSet(ID=f"rs{i:02d}", Name=f"deploy-{i:02d}-abc", Namespace="default", OwnerReferences=[
        OwnerReference(Kind="Deployment", ID=f"dep{i:02d}", Name=f"deploy-{i:02d}", Controller=True)])
        for i in range(20)]
    await _commit(store, [*services, *deployments, *rss])
    swarm = tasks * 4 // 5
    res = ResourceRequirements(Reservations=Resources(NanoCPUs=CPU // 10, MemoryBytes=64 << 20))
    huge = ResourceRequirements(Reservations=Resources(NanoCPUs=16 * CPU))  # the pending ones fit no node
    out: list[Task] = []
    for i in range(tasks):
        pending = i % 200 == 0
        nid = "" if pending else f"node{i % nodes:05d}"
        state = TaskState.PENDING if pending else TaskState.RUNNING
        status = TaskStatus(State=state, Timestamp=ts, Err="no suitable node (insufficient resources on 5000 nodes)"
                            if pending else "")
        if i < swarm:
            s = services[i % 50]
            out.append(Task(ID=f"task{i:06d}", Owner=ObjectRef(Kind=SERVICE_KIND, ID=s.ID, Name=s.Spec.Name),
                            Slot=i // 50 + 1, NodeID=nid, SpecVersion=Version(Index=1), Status=status,
                            Spec=TaskSpec(Containers=[ContainerSpec(Name="main", Image=f"app{i % 50}:1")],
                                          Resources=huge if pending else res)))
        else:
            j = i % 20
            out.append(Task(ID=f"pod{i:06d}", Name=f"deploy-{j:02d}-abc-{i:06d}", Namespace="default",
                            Owner=ObjectRef(Kind="ReplicaSet", ID=f"rs{j:02d}", Name=f"deploy-{j:02d}-abc"),
                            NodeID=nid, Status=status, Labels={"app": f"d{j}"},
                            Spec=TaskSpec(Containers=[ContainerSpec(Name="c", Image=f"pod{j}:1")],
                                          Resources=huge if pending else res,
                                          Pod=PodSpecExtra(RestartPolicy="Always"))))
    for i in range(tasks // 10):  # history: earlier tasks of the slots, stopped and not wanted
        s = services[i % 50]
        out.append(Task(ID=f"old{i:06d}", Owner=ObjectRef(Kind=SERVICE_KIND, ID=s.ID, Name=s.Spec.Name),
                        Slot=i // 50 + 1, NodeID=f"node{i % nodes:05d}", DesiredState=TaskState.SHUTDOWN,
                        SpecVersion=Version(Index=1), Status=TaskStatus(State=TaskState.FAILED, Timestamp=ts),
                        Spec=TaskSpec(Containers=[ContainerSpec(Name="main", Image=f"app{i % 50}:0")])))
    await _commit(store, out)


async def _commit(store: ObjectStore, objs: list[Any]) -> None:
    for i in range(0, len(objs), BATCH):
        await store.commit(creates=objs[i:i + BATCH])


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--tasks", type=int, default=100_000)
    args = ap.parse_args()
    store = ObjectStore(MemoryBackend())
    await store.load()
    t0 = time.perf_counter()
    await fill(store, args.nodes, args.tasks)
    print(f"store filled: {args.nodes} nodes, {store.count(Task)} tasks (of which {args.tasks // 10} history) "
          f"in {time.perf_counter() - t0:.1f} s")

    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    view = ConsoleView(store)
    built = time.perf_counter() - t0
    gc.collect()
    print(f"ConsoleView built in {built * 1000:.0f} ms; resident memory +{rss_mb() - before:.1f} MiB")
    view.close()
    gc.collect()
    tracemalloc.start()
    other = ConsoleView(store)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    other.close()
    print(f"  the view's indexes (tracemalloc): {size / (1 << 20):.1f} MiB")
    view = ConsoleView(store)

    print("calls:")
    s = timed("summary()", view.summary, 1000)
    print(f"    -> {s.Tasks} tasks, {s.Pending} pending, {s.Nodes} nodes, {s.Pods} Pods")
    timed("nodes(limit=50)", lambda: view.nodes(limit=50), 20)
    timed("nodes(query='host-049', limit=50)", lambda: view.nodes(query="host-049", limit=50), 5)
    page = timed("tasks(node=node00042, limit=100)",
                 uncached(view, lambda: view.tasks(node="node00042", limit=100)), 20)
    print(f"    -> {page.Total} tasks on the node")
    timed("tasks(node='-') (the pending)", uncached(view, lambda: view.tasks(node="-", limit=100)), 20)
    timed("tasks(owner=dep03) (a Deployment's Pods)", uncached(view, lambda: view.tasks(owner="dep03", limit=100)), 5)
    timed("tasks(owner=svc07) (a service's tasks)", uncached(view, lambda: view.tasks(owner="svc07", limit=100)), 5)
    timed("tasks(query='service-07.1') (a scan)", uncached(view, lambda: view.tasks(query="service-07.1")), 3)
    timed("tasks(limit=100) (every task, sorted)", uncached(view, lambda: view.tasks(limit=100)), 3)
    view.tasks(limit=100)
    timed("tasks(offset=50000, limit=100) (next page, cached)", lambda: view.tasks(offset=50_000, limit=100), 20)
    timed("workloads(limit=100), services' rows made", uncached_rows(view, lambda: view.workloads(limit=100)), 3)
    timed("workloads(limit=100), services' rows kept", lambda: view.workloads(limit=100), 3)
    detail = timed("task(a pending task), nodes' view built", uncached_infos(view, lambda: view.task("task000200")), 3)
    timed("task(another pending task), nodes' view reused", lambda: view.task("task000400"), 3)
    print(f"    -> {detail.RejectedNodes} nodes reject it, {len(detail.Rejections)} listed")
    timed("task(a running task) with its history", lambda: view.task("task000201"), 20)

    changes = []
    for i in range(1000):
        old = store.get(Task, f"task{i * 7 + 1:06d}")
        assert old is not None
        new = clone(old)
        new.Status.State = TaskState.FAILED
        changes.append(Change("tasks", old, new, store.revision + i + 1))
    t0 = time.perf_counter()
    for ch in changes:
        view._on_change(ch)
    print(f"  {'1,000 task state changes applied':<46} {(time.perf_counter() - t0) * 1000:9.3f} ms "
          f"({(time.perf_counter() - t0) * 1e6 / 1000:.1f} us each)")
    print(f"    -> {view.summary().TasksByState}")


if __name__ == "__main__":
    asyncio.run(main())
