"""Issue 15's rollout figure: a rolling update of a 20-replica Deployment (``maxSurge: 25%``,
``maxUnavailable: 25%``) against a 20-replica Swarm service updated with ``--update-parallelism 5``, on
the same cluster: the time each takes, and the lowest number of ready replicas seen while it runs.

**The cluster.** ``--nodes`` (3) ``shoal daemon`` processes of this checkout, each in a network
namespace of its own on one bridge (``DevCluster``: addresses only from 10.213.0.0/16), real runc; the
first is the manager (``swarm init``, its Kubernetes API on its address, port 6443, inside its
namespace), the others join as workers. Every node imports the same busybox root filesystem
(``docker import``, nothing is pulled) as ``web:v1`` and tags it ``web:v2``: the update changes the
image's name, so the Pod template and the task spec change, and nothing has to be fetched.

**The replicas** (the same on both sides): ``sh -c "trap 'exit 0' TERM; sleep … & wait"`` (exits at
once on SIGTERM, so neither side waits out a grace period; 1 s of grace anyway), with a check every
second that runs ``true`` in the container (``runc exec``): the Deployment's readiness probe (``exec``,
``periodSeconds: 1``, ``timeoutSeconds: 5``), the service's healthcheck (``--health-cmd true
--health-interval 1s --health-timeout 5s``; a Swarm task with a healthcheck is ``running`` only once
healthy).

**Kubernetes.** ``kubectl apply`` of the Deployment (20 replicas, ``RollingUpdate`` 25 %/25 %,
``imagePullPolicy: IfNotPresent``), waited for until all 20 are ready; a watch of its Pods (over HTTPS
with the admin certificate, from a thread inside the manager's namespace) is opened; then the clock
starts, ``kubectl set image deployment/web main=web:v2`` runs and then ``kubectl rollout status``.
*Done* is ``rollout status``'s exit; *converged* is the moment the watch sees 20 Pods of the new
image ready and no other Pod left. *Ready* is a Pod whose ``Ready`` condition is true and that is not
being deleted (a terminating Pod leaves its Service's endpoints at once).

**Swarm.** ``docker service create --replicas 20 --update-parallelism 5 --update-delay 0s`` (order
stop-first, failure action pause, monitor 5 s: Swarm's defaults) of the same image and command,
waited for until 20 are running; then ``docker service update --detach --image web:v2``. ``GET
/tasks`` of the service and ``GET /services/web`` are polled every 100 ms (``--poll``) on the
manager's socket. *Done* is the poll that first sees ``UpdateStatus.State == "completed"`` (Swarm
declares it one monitor period after the last task runs); *converged* is the first poll that sees 20
tasks of the new image running and no other task of the service still up. *Ready* is a task that
runs (healthy) and is wanted running.

Each contestant is made, measured and removed in turn (so only one set of 20 replicas and their
checks runs at a time); who goes first alternates from run to run. Prints each run, min/median/max
over the runs, the machine's load, and one JSON line at the end.

Everything it made (processes by PID, namespaces, links, mounts, cgroups, data directories) is
removed when it ends, also when it fails or is interrupted. Root only (runc, namespaces).

    python3 bench/rollout.py [--runs 3] [--replicas 20] [--nodes 3] [--parallelism 5]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from common import Spread, checkout, load, rotated  # noqa: E402
from kube import Kube, Node  # noqa: E402
from service_startup import API, UnixHTTP  # noqa: E402

from shoal.devcluster import DevCluster, DevNode  # noqa: E402

OLD, NEW = "web:v1", "web:v2"
IMPORT_CMD = 'CMD ["sh"]'
# Exits at once on SIGTERM (``wait`` is interrupted by the trap), so no side waits out a grace period.
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"]
APPLETS = ("sh", "sleep", "true")
SWARM_POOL = "10.213.128.0/17"  # the swarm's default address pool (its ingress network)


# ------------------------------------------------------------------------------------------------- helpers


def rollout_floor(replicas: int, max_unavailable: str) -> int:
    """The fewest ready replicas a rolling update may leave: ``replicas`` minus ``maxUnavailable``
    (a percentage rounded down, as Kubernetes rounds it). Example: 20 and 25 % give 15."""
    if max_unavailable.endswith("%"):
        unavailable = math.floor(replicas * int(max_unavailable[:-1]) / 100)
    else:
        unavailable = int(max_unavailable)
    return replicas - unavailable


def deployment_yaml(replicas: int, surge: str, unavailable: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: "{surge}", maxUnavailable: "{unavailable}"}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {OLD}
        imagePullPolicy: IfNotPresent
        command: {json.dumps(COMMAND)}
        readinessProbe:
          exec:
            command: ["true"]
          periodSeconds: 1
          timeoutSeconds: 5
"""


def rootfs_tar(base: Path) -> bytes:
    """busybox-static and the applets the replicas use, as a tar for ``docker import``."""
    root = base / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for a in APPLETS:
        (root / "bin" / a).symlink_to("busybox")
    return subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout


@dataclass
class Samples:
    """What one rollout looked like: ready replicas over time (seconds after the clock started)."""

    points: list[tuple[float, int]] = field(default_factory=list)
    most_up: int = 0  # the most replicas up at once (ready or not, not being removed): the surge
    trace: list[tuple[float, int, int, str]] = field(default_factory=list)  # every sample (``--trace``)

    def add(self, t: float, ready: int, up: int, note: str = "") -> None:
        if not self.points or self.points[-1][1] != ready:
            self.points.append((t, ready))
        if t > 0:
            self.most_up = max(self.most_up, up)
        self.trace.append((round(t, 3), ready, up, note))

    def lowest(self, until: float) -> int:
        """The fewest ready replicas seen from the start until ``until`` (the last value seen before
        the start counts: it held when the clock started)."""
        before = [r for t, r in self.points if t <= 0]
        during = [r for t, r in self.points if 0 < t <= until]
        seen = before[-1:] + during
        return min(seen) if seen else 0


@dataclass
class Outcome:
    done: float  # seconds to the contestant's own "finished"
    converged: float  # seconds until only new replicas are left, all ready
    lowest: int
    most_up: int
    cli: float  # seconds the update command took to return
    trace: list[tuple[float, int, int, str]] = field(default_factory=list)


# -------------------------------------------------------------------------------------------- Kubernetes


async def watch_pods(api: Kube, image: str, t0: list[float], samples: Samples, watching: threading.Event,
                     converged: concurrent.futures.Future[float], replicas: int) -> None:
    """Follow the Deployment's Pods (list, then watch from its revision) into ``samples`` (times after
    ``t0[0]``, set by the caller when the clock starts); ``converged`` gets the time when ``replicas``
    Pods of ``image`` are ready and no other Pod is left. Runs until cancelled."""
    def state(p: dict[str, Any]) -> tuple[bool, bool, str]:  # (ready, terminating, image)
        return is_ready(p), bool(p["metadata"].get("deletionTimestamp")), p["spec"]["containers"][0]["image"]

    def look(objs: dict[str, dict[str, Any]], note: str) -> bool:
        pods = {name: state(p) for name, p in objs.items()}
        if note:
            note = f"{note} {pods.get(note.split()[-1])}"
        now = time.monotonic() - t0[0] if t0[0] else -1.0
        ready = sum(1 for r, term, _ in pods.values() if r and not term)
        up = sum(1 for _, term, _ in pods.values() if not term)
        samples.add(now, ready, up, note)
        if (t0[0] and not converged.done() and len(pods) == replicas
                and all(r and not term and img == image for r, term, img in pods.values())):
            converged.set_result(now)
        return False  # until cancelled

    await api.follow_pods("app%3Dweb", look, watching)


def pods_left(k: Node) -> int:
    return len(k.api.run(k.api.json("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb"), 60)["items"])


def ready_pods(k: Node) -> int:
    items = k.api.run(k.api.json("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb"), 60)["items"]
    return sum(1 for p in items if is_ready(p) and not p["metadata"].get("deletionTimestamp"))


def is_ready(p: dict[str, Any]) -> bool:
    conds = (p.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def wait_until(what: str, check: Any, timeout: float, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout:.0f} s")
        time.sleep(every)


def kube_rollout(k: Cluster, base: Path, replicas: int, surge: str, unavailable: str, timeout: float) -> Outcome:
    manifest = base / "deployment.yaml"
    manifest.write_text(deployment_yaml(replicas, surge, unavailable))
    k.kubectl("apply", "-f", str(manifest))
    wait_until(f"{replicas} ready Pods", lambda: ready_pods(k) == replicas and pods_left(k) == replicas, timeout)
    k.kubectl("rollout", "status", "deployment/web", f"--timeout={int(timeout)}s", timeout=timeout + 30)
    time.sleep(2)  # settled

    samples = Samples()
    t0 = [0.0]
    watching = threading.Event()
    converged: concurrent.futures.Future[float] = concurrent.futures.Future()
    fut = k.api.submit(watch_pods(k.api, NEW, t0, samples, watching, converged, replicas))
    try:
        if not watching.wait(30):
            raise RuntimeError("the watch of the Pods did not open")
        start = time.monotonic()
        t0[0] = start  # the watch's thread reads it from its next event on
        k.kubectl("set", "image", "deployment/web", f"main={NEW}")
        cli = time.monotonic() - start
        k.kubectl("rollout", "status", "deployment/web", f"--timeout={int(timeout)}s", timeout=timeout + 30)
        done = time.monotonic() - start
        try:
            conv = converged.result(timeout)
        except concurrent.futures.TimeoutError:
            raise RuntimeError(f"the Pods did not converge in {timeout:.0f} s") from None
        if fut.done():
            fut.result()  # the watch's own error, if it ended
        lowest = k.api.run(_lowest(samples, max(done, conv)), 10)
    finally:
        fut.cancel()
    k.kubectl("delete", "deployment", "web", "--wait=false")
    wait_until("the Deployment's Pods gone", lambda: pods_left(k) == 0 and not any_containers(k), timeout)
    return Outcome(done, conv, lowest, samples.most_up, cli, samples.trace)


async def _lowest(samples: Samples, until: float) -> int:
    """Read on the watch's own thread, between two of its events."""
    return samples.lowest(until)


# -------------------------------------------------------------------------------------------------- Swarm


def docker_get(node: DevNode, path: str) -> Any:
    """``GET path`` of the Docker API on ``node``'s unix socket."""
    c = UnixHTTP(node.sock)
    try:
        c.request("GET", API + path)
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    if r.status != 200:
        raise RuntimeError(f"{node.name}: GET {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def any_containers(k: Cluster) -> bool:
    """Whether any node still has a container (a Pod's or a task's)."""
    return any(docker_get(n, "/containers/json?all=1") for n in k.nodes)


def service_tasks(k: Node) -> list[dict[str, Any]]:
    return list(k.docker_get('/tasks?filters={"service":{"web":true}}'))


def swarm_rollout(k: Cluster, replicas: int, parallelism: int, poll: float, timeout: float) -> Outcome:
    k.docker("service", "create", "--detach", "--no-resolve-image", "--name", "web", "--replicas", str(replicas),
             "--update-parallelism", str(parallelism), "--update-delay", "0s", "--stop-grace-period", "1s",
             "--health-cmd", "true", "--health-interval", "1s", "--health-timeout", "5s", "--health-retries", "3",
             OLD, *COMMAND)

    def running(image: str) -> int:
        return sum(1 for t in service_tasks(k) if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
                   and t["Spec"]["ContainerSpec"]["Image"] == image)

    wait_until(f"{replicas} running tasks", lambda: running(OLD) == replicas, timeout)
    time.sleep(2)  # settled

    samples = Samples()
    start = time.monotonic()
    k.docker("service", "update", "--detach", "--no-resolve-image", "--image", NEW, "web")
    cli = time.monotonic() - start
    conv = done = 0.0
    while not (conv and done):
        now = time.monotonic() - start
        if now > timeout:
            raise RuntimeError(f"the service's update not done after {timeout:.0f} s")
        tasks = service_tasks(k)
        ready = [t for t in tasks if t["DesiredState"] == "running" and t["Status"]["State"] == "running"]
        up = [t for t in tasks if t["DesiredState"] == "running"]
        samples.add(now, len(ready), len(up))
        live = [t for t in tasks if t["Status"]["State"] not in ("complete", "shutdown", "failed", "rejected",
                                                                 "orphaned", "remove")]
        if not conv and len(ready) == replicas and len(live) == replicas and all(
                t["Spec"]["ContainerSpec"]["Image"] == NEW for t in live):
            conv = now
        state = (k.docker_get("/services/web").get("UpdateStatus") or {}).get("State", "")
        if state in ("paused", "rollback_started", "rollback_paused"):
            raise RuntimeError(f"the service's update is {state}: {k.docker_get('/services/web')['UpdateStatus']}")
        if not done and state == "completed":
            done = now
        time.sleep(poll)
    lowest = samples.lowest(max(done, conv))
    k.docker("service", "rm", "web")
    wait_until("the service's tasks gone", lambda: not service_tasks(k) and not any_containers(k), timeout)
    return Outcome(done, conv, lowest, samples.most_up, cli, samples.trace)


# -------------------------------------------------------------------------------------------------- main


class Cluster(Node):
    """The manager's kubectl, docker CLI and API client, and the Docker API of every node."""

    def __init__(self, manager: DevNode, nodes: list[DevNode], base: Path) -> None:
        super().__init__(manager, base)
        self.nodes = nodes


def build(base: Path, count: int, runtime: str) -> tuple[DevCluster, Cluster]:
    # The nodes' /24 stays below the swarm's default address pool (10.213.128.0/17).
    cluster = DevCluster(base / "cluster", runtime, subnet=20 + os.getpid() % 100)
    try:
        tar = rootfs_tar(base)
        nodes = [cluster.add(f"r{i + 1}", env={"PYTHONPATH": str(SRC)}) for i in range(count)]
        for n in nodes:
            n.docker("import", "-c", IMPORT_CMD, "-", OLD, input=tar, timeout=120)
            n.docker("tag", OLD, NEW)
        manager = nodes[0]
        manager.docker("swarm", "init", "--advertise-addr", manager.addr, "--default-addr-pool", SWARM_POOL)
        token = manager.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        for n in nodes[1:]:
            n.docker("swarm", "join", "--token", token, f"{manager.addr}:2377", timeout=120)
        k = Cluster(manager, nodes, base / "kube")
        wait_until("the Kubernetes API", lambda: _answers(k), 60, every=0.5)
        wait_until(f"{count} Ready nodes", lambda: k.kubectl("get", "nodes", "--no-headers").count(" Ready ") == count,
                   120, every=0.5)
        return cluster, k
    except BaseException:
        cluster.leave_all()
        cluster.close()
        raise


def leftovers_reaped(cluster: DevCluster) -> int:
    """How many zombies the daemons reaped that a dead ``runc exec`` had left (their logs say)."""
    n = 0
    for node in cluster.nodes.values():
        for text in node.log.read_text(errors="replace").splitlines():
            if "runc left behind" in text:
                n += int(text.split("reaped ", 1)[1].split()[0])
    return n


def _answers(k: Node) -> bool:
    try:
        k.kubectl("get", "--raw", "/readyz", timeout=20)
        return True
    except (RuntimeError, subprocess.TimeoutExpired):
        return False


def line(who: str, o: Outcome, floor: int) -> str:
    mark = "" if o.lowest >= floor else f"  BELOW THE FLOOR OF {floor}"
    return (f"{who} done {o.done:6.2f} s  converged {o.converged:6.2f} s  lowest ready {o.lowest:2d}{mark}  "
            f"most up at once {o.most_up}  (CLI returned after {o.cli:.2f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--max-surge", default="25%")
    ap.add_argument("--max-unavailable", default="25%")
    ap.add_argument("--parallelism", type=int, default=5, help="the Swarm service's --update-parallelism")
    ap.add_argument("--poll", type=float, default=0.1, help="seconds between polls of the Swarm service's tasks")
    ap.add_argument("--runtime", default="runc")
    ap.add_argument("--timeout", type=float, default=600, help="seconds one step may take")
    ap.add_argument("--only", choices=["kubernetes", "swarm"], help="measure one side only")
    ap.add_argument("--trace", type=Path, metavar="DIR",
                    help="write every sample of each rollout there (ready, up, what changed), one JSON file each")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: runc, and a network namespace per node")
    for tool in ("kubectl", "docker", "runc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    base = Path(tempfile.mkdtemp(prefix="shoal-rollout-", dir="/tmp"))
    floor_k8s = rollout_floor(args.replicas, args.max_unavailable)
    floor_swarm = args.replicas - args.parallelism
    result: dict[str, Any] = {"runs": args.runs, "replicas": args.replicas, "nodes": args.nodes,
                              "max_surge": args.max_surge, "max_unavailable": args.max_unavailable,
                              "parallelism": args.parallelism, "shoal": checkout(SRC),
                              "load_before": [round(x, 2) for x in os.getloadavg()]}
    cluster: DevCluster | None = None
    k: Cluster | None = None
    try:
        cluster, k = build(base, args.nodes, args.runtime)
        print(f"{args.nodes} nodes ({args.runtime}), shoal {checkout(SRC)}; load average {load()}", flush=True)
        print(f"Deployment: {args.replicas} replicas, maxSurge {args.max_surge}, maxUnavailable {args.max_unavailable} "
              f"(floor {floor_k8s} ready); Swarm: {args.replicas} replicas, --update-parallelism {args.parallelism} "
              f"(floor {floor_swarm})", flush=True)
        spreads: dict[str, dict[str, Spread]] = {w: {"done": Spread(), "converged": Spread(), "lowest": Spread()}
                                                 for w in ("kubernetes", "swarm")}
        runs: list[dict[str, Any]] = []
        for run in range(args.runs):
            this: dict[str, Outcome] = {}
            for who in rotated(["kubernetes", "swarm"], run):
                if args.only and who != args.only:
                    continue
                if who == "kubernetes":
                    this[who] = kube_rollout(k, base, args.replicas, args.max_surge, args.max_unavailable,
                                             args.timeout)
                else:
                    this[who] = swarm_rollout(k, args.replicas, args.parallelism, args.poll, args.timeout)
                o = this[who]
                if args.trace:
                    args.trace.mkdir(parents=True, exist_ok=True)
                    (args.trace / f"{who}-{run + 1}.json").write_text(json.dumps(o.trace, indent=0))
                print(f"  run {run + 1}: " + line("Deployment (kubectl rollout status)" if who == "kubernetes" else
                                                  "Swarm (UpdateStatus completed)     ", o,
                                                  floor_k8s if who == "kubernetes" else floor_swarm), flush=True)
                spreads[who]["done"].values.append(o.done)
                spreads[who]["converged"].values.append(o.converged)
                spreads[who]["lowest"].values.append(o.lowest)
            print(f"run {run + 1} done (first: {rotated(['kubernetes', 'swarm'], run)[0]}); load average {load()}",
                  flush=True)
            runs.append({w: {"done_s": round(o.done, 3), "converged_s": round(o.converged, 3), "lowest_ready": o.lowest,
                             "most_up": o.most_up, "cli_s": round(o.cli, 3)} for w, o in this.items()})
        print(f"\n{args.runs} run(s), {args.replicas} replicas on {args.nodes} nodes:")
        floors = {"kubernetes": floor_k8s, "swarm": floor_swarm}
        sides = [w for w in ("kubernetes", "swarm") if spreads[w]["done"].values]
        for who in sides:
            s = spreads[who]
            print(f"  {who:<10} done       {s['done'].text()}")
            print(f"  {'':<10} converged  {s['converged'].text()}")
            print(f"  {'':<10} lowest ready replicas: {min(s['lowest'].values):.0f} (floor {floors[who]}; per run "
                  f"{', '.join(f'{v:.0f}' for v in s['lowest'].values)})")
        result["per_run"] = runs
        result["seconds"] = {w: {m: spreads[w][m].summary() for m in ("done", "converged")} for w in sides}
        result["lowest_ready"] = {w: {"min": int(min(spreads[w]["lowest"].values)), "floor": floors[w],
                                      "runs": [int(v) for v in spreads[w]["lowest"].values]} for w in sides}
        if len(sides) == 2:
            ratio = spreads["swarm"]["done"].median / spreads["kubernetes"]["done"].median
            print(f"  median done, Swarm/Kubernetes: {ratio:.2f}")
            result["median_done_ratio_swarm_to_kubernetes"] = round(ratio, 2)
        reaped = leftovers_reaped(cluster)
        print(f"  zombies of dead runc execs reaped by the daemons (runtime/runc.py's sweep): {reaped}")
        result["runc_leftovers_reaped"] = reaped
        result["load_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # clean up whole
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if k is not None:
            k.api.close()
        if cluster is not None:
            cluster.leave_all()
            cluster.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
