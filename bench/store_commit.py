"""What durable acknowledgement costs a commit: N commits through ``ObjectStore`` on a SQLite backend in
a temporary directory, by C concurrent writers (each commits one new service after another, as
concurrent API requests do), with ``synchronous=NORMAL`` as before (``normal``: acknowledged
once in the WAL, lost on a power cut), with SQLite's ``synchronous=FULL`` (``full``: an fsync per
commit, on the event loop) and with the group commit (``durable``: acknowledged once the WAL is fsynced
by the flusher's thread) side by side in the same run, the modes taken in turn (the order rotating).

Prints per concurrency and mode: commits per second, the commit latency's p50 and p99 in
milliseconds, how many fsyncs the WAL had (commits per fsync: the grouping) and the longest the event
loop could not run anything else (a 1 ms ticker's worst lateness); then one JSON line.

    python3 bench/store_commit.py [--commits 2000] [--concurrency 1,8,64] [--runs 3] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from shoal.api.types import Service, ServiceSpec
from shoal.store.objects import ObjectStore
from shoal.store.sqlite import SQLiteBackend

# mode -> (durable, the synchronous pragma): "full" is the plain alternative, SQLite's FULL (one fsync
# per commit, on the event loop), for comparison.
MODES = {"normal": (False, "NORMAL"), "full": (False, "FULL"), "durable": (True, "NORMAL")}


async def run_once(directory: Path, mode: tuple[bool, str], commits: int, concurrency: int) -> dict[str, float]:
    durable, synchronous = mode
    backend = SQLiteBackend(directory / "store.db", durable=durable)
    backend.db.execute(f"PRAGMA synchronous={synchronous}")
    store = ObjectStore(backend)
    await store.load()
    latencies: list[float] = []
    per_writer = commits // concurrency

    async def writer(w: int) -> None:
        for i in range(per_writer):
            svc = Service(ID=f"s{w}x{i}", Spec=ServiceSpec(Name=f"svc-{w}-{i}"))
            t0 = time.perf_counter()
            await store.commit(creates=[svc])
            latencies.append(time.perf_counter() - t0)

    stall = 0.0
    last = time.perf_counter()

    async def ticker() -> None:  # how long the event loop could not run anything else
        nonlocal stall, last
        while True:
            last = time.perf_counter()
            await asyncio.sleep(0.001)
            stall = max(stall, time.perf_counter() - last - 0.001)

    tick = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0.002)
    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    stall = max(stall, time.perf_counter() - last - 0.001)  # the ticker may not have run since
    tick.cancel()
    syncs = backend.syncs if durable else len(latencies) if synchronous == "FULL" else 0
    await store.close()
    await backend.close()
    latencies.sort()
    n = len(latencies)
    return {"commits_per_s": n / elapsed, "p50_ms": latencies[n // 2] * 1000,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000, "fsyncs": syncs,
            "loop_stall_ms": stall * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--concurrency", default="1,8,64")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the temporary stores go (default: $TMPDIR)")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for c in levels:
        for run in range(args.runs):
            names = list(MODES)
            order = names[run % len(names):] + names[:run % len(names)]
            for mode in order:
                with tempfile.TemporaryDirectory(prefix="store-commit-", dir=args.dir) as d:
                    r = asyncio.run(run_once(Path(d), MODES[mode], args.commits, c))
                results.setdefault(str(c), {}).setdefault(mode, []).append(r)
    print(f"{args.commits} commits through ObjectStore on SQLite, median of {args.runs} runs")
    print(f"{'writers':>8} {'mode':>8} {'commits/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'fsyncs':>7}"
          f" {'loop stall ms':>13}")
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for c in levels:
        for mode in MODES:
            rs = results[str(c)][mode]
            med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            summary.setdefault(str(c), {})[mode] = med
            print(f"{c:>8} {mode:>8} {med['commits_per_s']:>10.0f} {med['p50_ms']:>8.2f} {med['p99_ms']:>8.2f}"
                  f" {med['fsyncs']:>7.0f} {med['loop_stall_ms']:>13.2f}")
    print(json.dumps({"bench": "store_commit", "commits": args.commits, "runs": args.runs, "results": summary}))


if __name__ == "__main__":
    main()
