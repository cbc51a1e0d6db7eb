"""A thousand one-replica services on one node: time to all running, the API's latency during the
load, the daemon's memory, SIGTERM-to-exit and restart-to-API, beside Docker 20.10 on the same machine.

Contestants, one after the other (each alone on the machine while it is measured), each a single-node
swarm in a network namespace of its own, as ``bench/service_startup.py`` makes them:

- ``shoal``: a ``shoal daemon`` of this checkout's ``src`` with runc (a ``DevCluster`` node), its
  default bridge a /20 of the test pool (``$SHOAL_BIP``: a /24 would run out at 254 tasks; on a real
  node it is Docker's /16);
- ``base1``…: one per ``--baseline-src PATH``, the same from another checkout (the figure before a change);
- ``docker`` (``--docker``, on by default when ``dockerd`` is installed): Debian's dockerd 20.10, its
  default bridge a /20 as well.

For each: ``--services`` services (1,000) of one replica each, created with the real docker CLI
(``docker service create -d --no-resolve-image``), ``--parallel`` (8) at a time. Meanwhile a prober
sends what ``docker service ls`` sends (``GET /services?status=true``) every ``--probe`` seconds and
times each answer, until every service has its task running. Printed: seconds to all running (and
to the last create answered), the services created per 30 s at the start and at the end, the API's
p50/p99/max during the load, the daemon's resident memory idle and with all running.

Then, for shoal contestants: SIGTERM and the seconds to exit; a start on the same data root, the
seconds until ``_ping`` answers and until every service runs a task again (a task that was not running
before the stop: the old ones are lost with their containers, and replaced); a ``kill -9`` and the
same again.
For docker: the SIGTERM-to-exit time as well.

Everything made (namespaces, links, mounts, processes by PID, cgroups) is removed at the end, also on
failure or interruption.

    python3 bench/density.py [--services 1000] [--parallel 8] [--baseline-src PATH ...] [--no-docker]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import checkout, load, rss_mb  # noqa: E402
from service_startup import (  # noqa: E402
    DOCKER_ADVERTISE,
    DockerEngine,
    Engine,
    ShoalEngine,
    rootfs_tar,
    start_docker,
)
from tests.e2e.dockerd import DOCKERD, Dockerd  # noqa: E402

from shoal.devcluster import DevCluster, terminate  # noqa: E402

SHOAL_BIP = "10.213.80.1/20"
DOCKER_NETWORK = ["--bip", "10.213.96.1/20", "--default-address-pool", "base=10.213.126.0/23,size=24"]


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else 0.0


class Prober(threading.Thread):
    """``GET /services?status=true`` every ``interval`` s: each answer's latency, and the running count."""

    def __init__(self, e: Engine, interval: float) -> None:
        super().__init__(daemon=True)
        self.e = e
        self.interval = interval
        self.latencies: list[float] = []
        self.failures = 0
        self.running = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            t = time.monotonic()
            try:
                services = self.e.get("/services?status=true")
                self.running = sum(int((s.get("ServiceStatus") or {}).get("RunningTasks") or 0) for s in services)
            except Exception:
                self.failures += 1
            dt = time.monotonic() - t
            self.latencies.append(dt)
            self.stopping.wait(max(0.0, self.interval - dt))

    def stop(self) -> dict[str, float]:
        self.stopping.set()
        self.join(timeout=120)
        v = self.latencies
        return {"requests": len(v), "failed": self.failures, "p50_s": round(percentile(v, 50), 3),
                "p99_s": round(percentile(v, 99), 3), "max_s": round(max(v, default=0.0), 3)}


def wait_running(e: Engine, prober: Prober, n: int, timeout: float) -> float:
    t0 = time.monotonic()
    while prober.running < n:
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{e.name}: {prober.running}/{n} running after {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - t0


def load_phase(e: Engine, n: int, parallel: int, probe: float, timeout: float) -> dict[str, Any]:
    prober = Prober(e, probe)
    prober.start()
    done: list[float] = []
    lock = threading.Lock()
    t0 = time.monotonic()

    def create(i: int) -> None:
        e.docker("service", "create", "-d", "--no-resolve-image", "--name", f"d{i:04d}", e.image, timeout=600)
        with lock:
            done.append(time.monotonic() - t0)

    try:
        with ThreadPoolExecutor(parallel) as pool:
            for f in [pool.submit(create, i) for i in range(n)]:
                f.result()
        created = time.monotonic() - t0
        to_running = created + wait_running(e, prober, n, timeout)
    finally:
        api = prober.stop()
    first = sum(1 for t in done if t <= 30)
    last = sum(1 for t in done if t >= created - 30)
    return {"to_running_s": round(to_running, 2), "created_s": round(created, 2),
            "created_first_30s": first, "created_last_30s": last, "api_during_load": api}


RUNNING_FILTER = "/tasks?filters=" + urllib.parse.quote(json.dumps({"desired-state": ["running"]}))


def running_ids(e: Engine) -> set[str]:
    return {t["ID"] for t in e.get(RUNNING_FILTER) if t["Status"]["State"] == "running"}


def wait_replaced(e: Engine, old: set[str], n: int, timeout: float) -> float:
    """Seconds until ``n`` tasks run that were not running before the restart (the store says the old
    ones run until the agent reports them lost: they do not count)."""
    t0 = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if len(running_ids(e) - old) >= n:
                return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{e.name}: fewer than {n} new tasks running after {timeout:.0f} s")
        time.sleep(1.0)


def restart_phase(e: ShoalEngine, n: int, probe: float, timeout: float,
                  how: str) -> dict[str, Any]:
    node = e.node
    assert node.proc is not None
    out: dict[str, Any] = {}
    old = running_ids(e)
    t = time.monotonic()
    if how == "kill":
        node.kill()
    else:
        node.stop(timeout=timeout)
        out["sigterm_to_exit_s"] = round(time.monotonic() - t, 2)
    t = time.monotonic()
    node.start(timeout=timeout)
    out["start_to_api_s"] = round(time.monotonic() - t, 2)
    prober = Prober(e, probe)
    prober.start()
    try:
        wait_replaced(e, old, n, timeout)
        out["start_to_running_s"] = round(time.monotonic() - t, 2)
    finally:
        out["api_while_reconciling"] = prober.stop()
    return out


def docker_sigterm(d: Dockerd, timeout: float) -> float:
    assert d.proc is not None
    t = time.monotonic()
    terminate(d.proc, timeout)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--probe", type=float, default=0.5, help="seconds between the prober's requests")
    ap.add_argument("--baseline-src", action="append", default=[], metavar="PATH")
    ap.add_argument("--baselines-first", action="store_true",
                    help="measure the baselines before this checkout (the first contestant meets a colder machine)")
    ap.add_argument("--docker", action=argparse.BooleanOptionalAction, default=bool(DOCKERD))
    ap.add_argument("--restarts", action=argparse.BooleanOptionalAction, default=True,
                    help="SIGTERM, restart, kill -9, restart (shoal contestants)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--loop-debug", type=float, default=0.0, metavar="SECONDS",
                    help="shoal daemons log what held their event loop longer than this ($SHOAL_LOOP_DEBUG)")
    ap.add_argument("--loop-sample", type=float, default=0.0, metavar="SECONDS",
                    help="shoal daemons log where their event loop was blocked longer than this, sampled "
                         "($SHOAL_LOOP_SAMPLE: no asyncio debug mode, which costs much at this scale)")
    ap.add_argument("--keep-logs", type=Path, default=None, metavar="DIR",
                    help="copy each shoal daemon's log there before the cleanup")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("runc"):
        raise SystemExit("needs root and runc: every contestant runs real containers in a namespace of its own")
    baselines = [Path(p).resolve() for p in args.baseline_src]

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    base = Path(tempfile.mkdtemp(prefix="shoal-density-", dir="/tmp"))
    config_dir = base / "docker-config"
    tar = rootfs_tar(base)
    n = args.services
    result: dict[str, Any] = {"services": n, "parallel": args.parallel, "load_before": list(os.getloadavg()),
                              "contestants": {}}
    print(f"{n} services of 1 replica, {args.parallel} creates at a time; load average {load()}", flush=True)
    try:
        order = list(enumerate([SRC, *baselines]))
        for i, src in order[1:] + order[:1] if args.baselines_first else order:
            name = "shoal" if i == 0 else f"base{i}"
            cluster = DevCluster(base / name, "runc")
            try:
                env = {"PYTHONPATH": str(src), "SHOAL_BIP": SHOAL_BIP}
                if args.loop_debug:
                    env["SHOAL_LOOP_DEBUG"] = str(args.loop_debug)
                if args.loop_sample:
                    env["SHOAL_LOOP_SAMPLE"] = str(args.loop_sample)
                node = cluster.add(name, env=env)
                e = ShoalEngine(node, config_dir, src)
                e.setup(tar, node.addr)
                time.sleep(1)
                r: dict[str, Any] = {"describe": f"shoal {checkout(src)}",
                                     "idle_rss_mb": round(rss_mb(node.proc.pid if node.proc else 0), 1)}
                print(f"{name}: {r['describe']}", flush=True)
                r.update(load_phase(e, n, args.parallel, args.probe, args.timeout))
                time.sleep(2)
                r["loaded_rss_mb"] = round(rss_mb(node.proc.pid if node.proc else 0), 1)
                print(f"  {json.dumps(r)}", flush=True)
                if args.restarts:
                    for how in ("sigterm", "kill"):
                        r[f"restart_after_{how}"] = rr = restart_phase(e, n, args.probe, args.timeout, how)
                        print(f"  restart after {how}: {json.dumps(rr)}", flush=True)
                result["contestants"][name] = r
            finally:
                if args.keep_logs is not None and name in cluster.nodes:
                    args.keep_logs.mkdir(parents=True, exist_ok=True)
                    shutil.copy(cluster.nodes[name].log, args.keep_logs / f"{name}.log")
                cluster.leave_all()
                cluster.close()
        if args.docker:
            dockerd = Dockerd(base / "docker", network=DOCKER_NETWORK)
            try:
                start_docker(dockerd)
                de = DockerEngine(dockerd, config_dir)
                de.setup(tar, DOCKER_ADVERTISE)
                time.sleep(1)
                r = {"describe": de.describe, "idle_rss_mb": round(de.memory()["daemon"], 1)}
                print(f"docker: {de.describe}", flush=True)
                r.update(load_phase(de, n, args.parallel, args.probe, args.timeout))
                time.sleep(2)
                r["loaded_rss_mb"] = round(de.memory()["daemon"], 1)
                r["sigterm_to_exit_s"] = round(docker_sigterm(dockerd, args.timeout), 2)
                print(f"  {json.dumps(r)}", flush=True)
                result["contestants"]["docker"] = r
            finally:
                dockerd.stop()
        c = result["contestants"]
        if "shoal" in c:
            print("\nsummary                 " + "".join(f"{k:>12}" for k in c))
            rows = [("to all running, s", "to_running_s"), ("API p50 during load, s", None),
                    ("API p99 during load, s", None), ("RSS loaded, MiB", "loaded_rss_mb")]
            for label, key in rows:
                vals = []
                for v in c.values():
                    if key:
                        vals.append(v.get(key))
                    else:
                        vals.append(v["api_during_load"]["p50_s" if "p50" in label else "p99_s"])
                print(f"{label:<24}" + "".join(f"{x!s:>12}" for x in vals))
            if "docker" in c:
                print(f"shoal/docker to all running: {c['shoal']['to_running_s'] / c['docker']['to_running_s']:.2f}")
        result["load_after"] = list(os.getloadavg())
        print(json.dumps(result))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
