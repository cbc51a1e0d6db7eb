"""The cost of one ``/metrics`` scrape of a manager: the cluster collector (``manager/metrics.py``) over a
store of N nodes and T tasks (a tenth of them Pods, a twentieth pending, the rest spread over the nodes in
assorted states), and the whole exposition (``generate_latest`` of a daemon-like registry: the process's
metrics and the cluster's). Uses the in-memory store. Prints one JSON line: the median and best of
``--runs`` scrapes, in milliseconds, and the size of the text.

    python bench/metrics_scrape.py [--nodes 5000] [--tasks 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time

from prometheus_client import generate_latest

from shoal import metrics
from shoal.api.ids import new_id
from shoal.api.states import TaskState
from shoal.api.types import SERVICE_KIND, Node, NodeSpec, NodeStatus, ObjectRef, Task, TaskStatus
from shoal.manager.metrics import ClusterCollector
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

STATES = (TaskState.RUNNING,) * 16 + (TaskState.FAILED, TaskState.SHUTDOWN, TaskState.COMPLETE, TaskState.STARTING)
BATCH = 5000


async def build(nodes: int, tasks: int) -> ObjectStore:
    store = ObjectStore(MemoryBackend())
    await store.load()
    node_ids = [new_id() for _ in range(nodes)]
    await store.commit(creates=[Node(ID=nid, Spec=NodeSpec(Availability="active"), Status=NodeStatus(State="ready"))
                                for nid in node_ids])
    owners = [ObjectRef(Kind=SERVICE_KIND, ID=new_id(), Name=f"s{i}") for i in range(100)]
    rng = random.Random(17)
    batch: list[Task] = []
    for i in range(tasks):
        pending = i % 20 == 0
        t = Task(ID=new_id(), Owner=owners[i % len(owners)], Slot=i + 1,
                 NodeID="" if pending else node_ids[i % nodes],
                 Status=TaskStatus(State=TaskState.PENDING if pending else rng.choice(STATES)))
        if i % 10 == 1:
            t.Namespace, t.Name = "default", f"pod-{i}"
        batch.append(t)
        if len(batch) == BATCH:
            await store.commit(creates=batch)
            batch = []
    if batch:
        await store.commit(creates=batch)
    return store


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    store = await build(args.nodes, args.tasks)
    cluster = ClusterCollector(store)
    registry = metrics.node_registry(lambda: [cluster])
    collect = timed(lambda: list(cluster.collect()), args.runs)
    text = generate_latest(registry)
    expose = timed(lambda: generate_latest(registry), args.runs)
    print(json.dumps({
        "nodes": args.nodes, "tasks": args.tasks, "runs": args.runs,
        "collect_ms_median": round(statistics.median(collect), 1), "collect_ms_best": round(min(collect), 1),
        "scrape_ms_median": round(statistics.median(expose), 1), "scrape_ms_best": round(min(expose), 1),
        "series_lines": text.count(b"\n"), "text_bytes": len(text),
    }))


if __name__ == "__main__":
    asyncio.run(main())
