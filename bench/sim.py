"""``shoal sim bench`` (hollow nodes, no containers) for this checkout's ``src`` beside each
``--baseline-src``, measured in the same run.

Two cases, each ``--runs`` times, the checkouts taking turns (who goes first rotates from run to run,
so all see the same machine state); every run is a fresh ``python3 -m shoal.cli.main sim bench --json``
process with ``PYTHONPATH`` set to the checkout's ``src``:

- ``scheduler``: ``--scheduler-only --nodes 5000 --replicas 50000``, seconds until every task is
  assigned (and the scheduler's decisions per second);
- ``running``: ``--nodes 5000 --replicas 100000``, seconds until every task reports running;
- ``swarm150k``: 1,500 services of 100 replicas on 5,000 nodes (150,000 tasks), until every task runs:
  the baseline of the two Kubernetes cases;
- ``kube150k``: 1,500 Deployments of 100 replicas (300 to a namespace) on 5,000 nodes, made as the
  Kubernetes API makes them, until every Pod runs (with the Pods' start-up latency p50/p99);
- ``kubeload``: Kubernetes' load test (clusterloader2) on 5,000 nodes: 150,000 Pods in 16,400
  Deployments of 250, 30 and 5 replicas, 50 namespaces.

``--small`` divides nodes and replicas by ten (a smoke test). Prints each run's figures and the ratios
to this checkout's; per case min/median/max, the run-to-run noise (max - min) / median and the
ratios of the medians; then one JSON line.

    python3 bench/sim.py [--runs 3] [--baseline-src /tmp/base/src ...] [--small] [--cases scheduler,running]
    python3 bench/sim.py --runs 1 --cases swarm150k,kube150k,kubeload --baseline-src /tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

from common import Spread, checkout, load, rotated  # noqa: E402

# name: (sim bench options, the JSON field that is the case's figure)
CASES: dict[str, tuple[list[str], str]] = {
    "scheduler": (["--scheduler-only", "--nodes", "5000", "--replicas", "50000"], "seconds_to_assigned"),
    "running": (["--nodes", "5000", "--replicas", "100000"], "seconds_to_running"),
    "swarm150k": (["--nodes", "5000", "--services", "1500", "--replicas", "100"], "seconds_to_running"),
    "kube150k": (["--nodes", "5000", "--deployments", "1500", "--replicas", "100"], "seconds_to_running"),
    "kubeload": (["--nodes", "5000", "--kube-load"], "seconds_to_running"),
}
DEFAULT_CASES = ("scheduler", "running")


def smaller(options: list[str]) -> list[str]:
    """``--nodes`` and ``--replicas`` divided by ten."""
    out = list(options)
    for i, o in enumerate(out[:-1]):
        if o in ("--nodes", "--replicas"):
            out[i + 1] = str(int(out[i + 1]) // 10)
    return out


def sim_bench(src: Path, options: list[str], timeout: float) -> dict[str, Any]:
    """One ``shoal sim bench --json`` of the checkout at ``src``: its JSON line."""
    env = dict(os.environ, PYTHONPATH=str(src))
    r = subprocess.run([sys.executable, "-m", "shoal.cli.main", "sim", "bench", *options, "--json"],
                       capture_output=True, text=True, env=env, timeout=timeout)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        raise SystemExit(f"{src}: sim bench {' '.join(options)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline-src", action="append", default=[], metavar="PATH",
                    help="another checkout's src directory, measured in the same run (repeatable)")
    ap.add_argument("--small", action="store_true", help="nodes and replicas divided by ten (a smoke test)")
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"which of {', '.join(CASES)}")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one sim bench may take")
    args = ap.parse_args()
    srcs = {"shoal": SRC}
    for i, p in enumerate(args.baseline_src, 1):
        src = Path(p).resolve()
        if not (src / "shoal" / "__init__.py").exists():
            raise SystemExit(f"--baseline-src {src}: no shoal package there (give the checkout's src directory)")
        srcs[f"base{i}"] = src
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            raise SystemExit(f"--cases: no case {c!r} (there are {', '.join(CASES)})")

    print(f"load average {load()}")
    for name, src in srcs.items():
        print(f"  {name:<7} {checkout(src)} ({src})")
    first = "shoal"
    result: dict[str, Any] = {"runs": args.runs, "load_before": list(os.getloadavg()),
                              "contestants": {k: f"{checkout(v)} ({v})" for k, v in srcs.items()}, "cases": {}}
    for case in cases:
        options, field = CASES[case]
        if args.small:
            options = smaller(options)
        seconds = {k: Spread() for k in srcs}
        rate = {k: Spread() for k in srcs}
        peak = {k: Spread() for k in srcs}
        p50 = {k: Spread() for k in srcs}  # the Pods' start-up latency (the Kubernetes cases)
        p99 = {k: Spread() for k in srcs}
        for run in range(args.runs):
            this_run: dict[str, float] = {}
            for name in rotated(list(srcs), run):
                out = sim_bench(srcs[name], options, args.timeout)
                if out.get(field) is None:
                    raise SystemExit(f"{name}: sim bench {' '.join(options)} gave no {field}: {out}")
                this_run[name] = float(out[field])
                seconds[name].values.append(float(out[field]))
                rate[name].values.append(float(out.get("decisions_per_s") or out["pods_per_s"]))
                peak[name].values.append(float(out["peak_rss_mb"]))
                if "startup_p99_s" in out:
                    p50[name].values.append(float(out["startup_p50_s"]))
                    p99[name].values.append(float(out["startup_p99_s"]))
            figures = "  ".join(f"{k} {this_run[k]:.2f} s ({rate[k].values[-1]:,.0f}/s, {peak[k].values[-1]:.0f} MiB"
                                + (f", start-up p50 {p50[k].values[-1]:.2f} s p99 {p99[k].values[-1]:.2f} s"
                                   if p99[k].values else "") + ")"
                                for k in srcs)
            ratios = "  ".join(f"{k}/{first} {v / this_run[first]:.2f}" for k, v in this_run.items() if k != first)
            print(f"{case} run {run + 1}: {figures}   {ratios}", flush=True)
        print(f"{case} ({' '.join(options)}), {args.runs} run(s), {field}:")
        for k in srcs:
            print(f"  {k:<7} {seconds[k].text()}   decisions/s median {rate[k].median:,.0f}   "
                  f"peak RSS median {peak[k].median:.0f} MiB"
                  + (f"   start-up p50 median {p50[k].median:.2f} s, p99 median {p99[k].median:.2f} s"
                     if p99[k].values else ""))
        if len(srcs) > 1:
            print("  median ratios: " + "  ".join(
                f"{k}/{first} {s.median / seconds[first].median:.2f}" for k, s in seconds.items() if k != first))
        result["cases"][case] = {
            "options": options, "figure": field,
            "seconds": {k: s.summary() for k, s in seconds.items()},
            "decisions_per_s": {k: s.summary(0) for k, s in rate.items()},
            "peak_rss_mb": {k: s.summary(1) for k, s in peak.items()},
            "startup_p50_s": {k: s.summary(3) for k, s in p50.items() if s.values},
            "startup_p99_s": {k: s.summary(3) for k, s in p99.items() if s.values},
            "median_ratio_to_" + first: {k: round(s.median / seconds[first].median, 2)
                                        for k, s in seconds.items() if k != first},
        }
    result["load_after"] = list(os.getloadavg())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
