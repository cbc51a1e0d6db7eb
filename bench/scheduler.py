"""Scheduler throughput, alone: N nodes, T pending tasks of S services, one scheduler pass.

The kube-scheduler benchmark case ``SchedulingBasic 5000Nodes_50000Pods`` has a published floor of
810 pods/s; the placement issue's goal for shoal is 20,000 decisions/s. Uses the in-memory store and
the real Scheduler (filters, spread, batched commits). Prints one JSON line. ``--spread 2`` labels
the nodes with a zone (10 values) and a rack (100 values) and gives every service the placement
preferences ``spread=node.labels.zone`` then ``spread=node.labels.rack``.

    python bench/scheduler.py [--nodes 5000] [--tasks 50000] [--services 10] [--spread 0|1|2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from shoal.api.ids import new_id
from shoal.api.states import TaskState
from shoal.api.types import (
    SERVICE_KIND,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    ObjectRef,
    Placement,
    Resources,
    Task,
    TaskSpec,
    TaskStatus,
    Version,
)
from shoal.manager.scheduler.filters import NodeInfo
from shoal.manager.scheduler.scheduler import Scheduler
from shoal.sim import PeakRSS
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore

KUBE_FLOOR = 810.0


LEVELS = (("zone", 10), ("rack", 100))


async def run(nodes: int, tasks: int, services: int, spread: int = 0) -> dict[str, object]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    levels = LEVELS[:spread]
    placement = Placement(Preferences=[{"Spread": {"SpreadDescriptor": f"node.labels.{k}"}} for k, _ in levels]
                          or None)
    batch = [
        Node(ID=new_id(), Spec=NodeSpec(Availability="active", Labels={k: str(i % n) for k, n in levels} or None),
             Status=NodeStatus(State="ready"),
             Description=NodeDescription(Hostname=f"n{i}", Resources=Resources(NanoCPUs=16 * 10**9,
                                                                                 MemoryBytes=64 << 30)))
        for i in range(nodes)
    ]
    await store.commit(creates=batch)
    svc_ids = [new_id() for _ in range(services)]
    per = tasks // services
    pending = []
    for sid in svc_ids:
        owner = ObjectRef(Kind=SERVICE_KIND, ID=sid)
        for slot in range(1, per + 1):
            pending.append(Task(ID=new_id(), Owner=owner, Slot=slot, Spec=TaskSpec(Placement=placement),
                                SpecVersion=Version(Index=1),
                                Status=TaskStatus(State=TaskState.PENDING)))
    for i in range(0, len(pending), 10_000):
        await store.commit(creates=pending[i:i + 10_000])
    sched = Scheduler(store)
    for n in store.list(Node):
        sched.nodes[n.ID] = NodeInfo.of(n)
    sched.pending = {t.ID for t in pending}
    t0 = time.perf_counter()
    await sched.tick()
    dt = time.perf_counter() - t0
    placed = sum(1 for t in store.list(Task) if t.NodeID)
    return {
        "nodes": nodes, "tasks": tasks, "spread_levels": spread, "placed": placed, "seconds": round(dt, 3),
        "decisions_per_s": round(placed / dt), "times_kube_floor": round(placed / dt / KUBE_FLOOR, 1),
        "seconds_to_running": None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--tasks", type=int, default=50000)
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--spread", type=int, choices=(0, 1, 2), default=0, help="levels of placement preferences")
    a = ap.parse_args()
    with PeakRSS() as peak:
        result = asyncio.run(run(a.nodes, a.tasks, a.services, a.spread))
    result["peak_rss_mb"] = peak.mb
    print(json.dumps(result))


if __name__ == "__main__":
    main()
