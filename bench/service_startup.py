"""Time from ``docker service create --replicas N -d`` to N/N running, beside its baselines measured in
the same run, and each daemon's resident memory.

Contestants, each a single-node swarm in a network namespace of its own, all started before the first
measurement and kept until the last:

- ``shoal``: a ``shoal daemon`` of this checkout's ``src`` (runc when root, else process), a node of a
  ``DevCluster``;
- ``base1``, ``base2``…: one per ``--baseline-src PATH``, the same daemon started with ``PYTHONPATH=PATH``:
  "the figure before the change" from another checkout (``git worktree add /tmp/base <commit>``);
- ``docker`` (``--docker``, on by default when ``dockerd`` is installed and we are root): Debian's
  dockerd 20.10 with its own containerd and runc, started as the e2e tests start theirs
  (``tests/e2e/dockerd.py``: own data root, exec root, socket and namespace) but with a bridge
  (``--bip 10.213.125.1/24``), iptables and local address pools (10.213.126.0/23) inside its namespace,
  ``docker swarm init`` advertising 10.213.124.1 (a veth pair inside the namespace) with
  ``--default-addr-pool 10.213.128.0/17``.

Each imports the same busybox root filesystem with ``docker import`` (no registry anywhere) and the
services name the image by its ID, so that neither daemon tries a registry for it (dockerd pulls a
tag before every task). For each N and each run every contestant in turn (who goes first rotates from
run to run, so all see the same machine state) runs ``docker service create -d --no-resolve-image
--replicas N`` with the real docker CLI, polls ``GET /services?status=true`` every 20 ms until
RunningTasks == N, then removes the service and waits until none of its tasks and containers is
left. Prints each run's seconds and the ratios to ``shoal`` of that run; per N min/median/max, the
run-to-run noise (max - min) / median and the ratios of the medians; the daemons' resident memory
idle and with N tasks (the first run of each N; for docker dockerd + containerd, the shims apart);
then one JSON line.

Where a shoal task's time went: the ``shoal`` contestant (and a baseline whose checkout marks them)
runs with ``$SHOAL_TIMINGS`` (``shoal/api/timings.py``), so its daemon writes when each task reached
each stage (the store's commits, the agent, the sandbox, runc). Per N, the breakdown prints for each
stage (``STAGES``) the median and maximum milliseconds a task spent in it (from the stage before it
to it: waits for a thread, a lock or the event loop included), the task-seconds all tasks spent in it
per run, and when its last task left it (seconds after ``docker service create`` started).

Everything it made (namespaces, links, mounts, processes by PID, cgroups) is removed when it ends,
also when it fails or is interrupted.

    python3 bench/service_startup.py [--runs 3] [--sizes 10,50,100] [--runtime runc]
        [--baseline-src /tmp/base/src ...] [--docker|--no-docker]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(ROOT))  # tests.e2e.dockerd

from common import Spread, checkout, load, processes, rotated, rss_mb  # noqa: E402
from tests.e2e.dockerd import DOCKERD, Dockerd  # noqa: E402

from shoal.api import timings  # noqa: E402
from shoal.devcluster import DevCluster, DevNode  # noqa: E402

API = "/v1.41"  # dockerd 20.10's version of the Engine API; shoal answers it too
CMD = 'CMD ["httpd","-f","-p","80","-h","/www"]'
POLL = 0.02
# The docker contestant's addresses, all inside its own namespace and the test pool 10.213.0.0/16.
DOCKER_ADVERTISE = "10.213.124.1"
DOCKER_NETWORK = ["--bip", "10.213.125.1/24", "--default-address-pool", "base=10.213.126.0/23,size=24"]
SWARM_POOL = "10.213.128.0/17"
# A task's way to running, stage by stage: (what it holds, the mark that ends it). A stage starts at
# the mark before it (the first at ``docker service create``); a mark a task does not reach (a task
# that needs no allocation is made pending at once) leaves its stage empty.
STAGES = [
    ("create: CLI, API, orchestrator", "store:new"),
    ("allocation (create too if none needed)", "store:pending"),
    ("scheduling", "store:assigned"),
    ("dispatch to the agent", "agent:received"),
    ("accepted, preparing reported", "agent:preparing"),
    ("netns", "net:netns"),
    ("veth, bridge, addresses, route (+netns)", "net:wired"),
    ("DNS sockets", "net:dns"),
    ("egress table", "net:egress"),
    ("runc prepare: bundle, overlay, config", "runc:prepared"),
    ("ready, starting reported", "agent:starting"),
    ("runc run (create + start)", "runc:started"),
    ("agent to running", "agent:running"),
    ("status report committed", "store:running"),
]


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        self.sock = s


class Engine:
    """One contestant: a single-node swarm that the docker CLI reaches on a unix socket."""

    def __init__(self, name: str, sock: str, config_dir: Path, describe: str) -> None:
        self.name = name
        self.sock = sock
        self.describe = describe
        self.image = ""
        self.timings = ""  # where the daemon writes its tasks' stage marks ("": it does not)
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(config_dir))
        self.env.pop("DOCKER_CONTEXT", None)

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 120) -> str:
        r = subprocess.run(["docker", *args], input=input, capture_output=True, env=self.env, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
        return r.stdout.decode().strip()

    def get(self, url: str) -> Any:
        c = UnixHTTP(self.sock)
        try:
            c.request("GET", API + url)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        if r.status != 200:
            raise RuntimeError(f"{self.name}: GET {url}: {r.status} {data[:300]!r}")
        return json.loads(data)

    def running(self, service: str) -> int:
        for s in self.get("/services?status=true"):
            if s["Spec"]["Name"] == service:
                return int(s["ServiceStatus"]["RunningTasks"])
        return -1

    def left(self, service_id: str) -> int:
        """Tasks of the service still in the store, plus containers still on the node."""
        tasks = sum(1 for t in self.get("/tasks") if t["ServiceID"] == service_id)
        return tasks + len(self.get("/containers/json?all=1"))

    def task_pids(self) -> set[int]:
        return {int((t["Status"].get("ContainerStatus") or {}).get("PID") or 0) for t in self.get("/tasks")}

    def memory(self) -> dict[str, float]:
        raise NotImplementedError

    def cpu(self) -> tuple[float, float]:
        """CPU seconds used so far by the daemon itself, and by its children it reaped (0, 0: not known)."""
        return 0.0, 0.0

    def setup(self, rootfs_tar: bytes, advertise: str) -> None:
        """The busybox image (its ID is what the services run) and a single-node swarm."""
        self.image = self.docker("import", "-c", CMD, "-", "bench-web:latest", input=rootfs_tar)
        if not self.image.startswith("sha256:"):
            raise RuntimeError(f"{self.name}: docker import printed {self.image!r}, not an image ID")
        self.docker("swarm", "init", "--advertise-addr", advertise, "--default-addr-pool", SWARM_POOL)


class ShoalEngine(Engine):
    def __init__(self, node: DevNode, config_dir: Path, src: Path) -> None:
        super().__init__(node.name, node.sock, config_dir, f"shoal {checkout(src)} ({src})")
        self.node = node

    def memory(self) -> dict[str, float]:
        """The daemon, and its other children than tasks (helpers)."""
        assert self.node.proc is not None
        pid = self.node.proc.pid
        tasks = self.task_pids()
        helpers = [p for p, (ppid, _) in processes().items() if ppid == pid and p not in tasks]
        return {"daemon": rss_mb(pid), "helpers": sum(rss_mb(p) for p in helpers), "helper_count": len(helpers)}

    def cpu(self) -> tuple[float, float]:
        assert self.node.proc is not None
        return cpu_seconds(self.node.proc.pid)


class DockerEngine(Engine):
    def __init__(self, dockerd: Dockerd, config_dir: Path) -> None:
        version = subprocess.run([DOCKERD or "dockerd", "--version"], capture_output=True, text=True).stdout.strip()
        super().__init__("docker", str(dockerd.sock), config_dir, version)
        self.dockerd = dockerd

    def memory(self) -> dict[str, float]:
        """dockerd plus its containerd; the containerd shims (one per container) apart."""
        assert self.dockerd.proc is not None
        pid = self.dockerd.proc.pid
        procs = processes()
        containerd = [p for p, (ppid, cmd) in procs.items() if ppid == pid and cmd.split(" ")[0].endswith("containerd")]
        marker = str(self.dockerd.base)
        shims = [p for p, (_, cmd) in procs.items() if "containerd-shim" in cmd and marker in cmd]
        return {"daemon": rss_mb(pid) + sum(rss_mb(p) for p in containerd),
                "helpers": sum(rss_mb(p) for p in shims), "helper_count": len(shims)}


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU seconds of process ``pid``, and of its children that it reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def rootfs_tar(base: Path) -> bytes:
    root = base / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "www").mkdir()
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for a in ("sh", "httpd", "sleep"):
        (root / "bin" / a).symlink_to("busybox")
    return subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout


def start_docker(d: Dockerd) -> None:
    d.start()
    # The address swarm init advertises: a veth pair of which both ends stay in the namespace.
    for args in (["link", "add", "bench0", "type", "veth", "peer", "name", "bench1"],
                 ["addr", "add", f"{DOCKER_ADVERTISE}/32", "dev", "bench0"],
                 ["link", "set", "bench0", "up"], ["link", "set", "bench1", "up"]):
        subprocess.run(["ip", "-n", d.netns, *args], check=True, capture_output=True)


class Breakdown:
    """The stages' times of every task of one contestant for one N, over the runs."""

    def __init__(self) -> None:
        self.per_task: dict[str, list[float]] = {label: [] for label, _ in STAGES}
        self.task_seconds: dict[str, list[float]] = {label: [] for label, _ in STAGES}
        self.last: dict[str, list[float]] = {label: [] for label, _ in STAGES}
        self.cpu: list[tuple[float, float]] = []  # per run: the daemon's CPU seconds, its reaped children's

    def add(self, t0: float, marks: dict[str, dict[str, float]]) -> None:
        spent: dict[str, float] = {label: 0.0 for label, _ in STAGES}
        last: dict[str, float] = {}
        for stages in marks.values():
            prev = t0
            for label, stage in STAGES:
                t = stages.get(stage)
                if t is None:
                    continue
                self.per_task[label].append(t - prev)
                spent[label] += t - prev
                last[label] = max(last.get(label, 0.0), t - t0)
                prev = t
        for label, _ in STAGES:
            self.task_seconds[label].append(spent[label])
            if label in last:
                self.last[label].append(last[label])

    def lines(self) -> list[str]:
        cpu = ""
        if self.cpu and any(a or b for a, b in self.cpu):
            cpu = (f"; CPU per run: daemon {statistics.mean(a for a, _ in self.cpu):.2f} s, its reaped children "
                   f"(runc, unshare, nft) {statistics.mean(b for _, b in self.cpu):.2f} s")
        out = [f"    {len(self.cpu)} run(s){cpu}",
               f"    {'stage':<38} {'median':>7} {'max':>7} ms/task {'all tasks':>9} s/run {'last done':>9} s"]
        for label, _ in STAGES:
            v = self.per_task[label]
            if not v:
                continue
            out.append(f"    {label:<38} {1000 * statistics.median(v):7.1f} {1000 * max(v):7.1f}"
                       f"         {statistics.mean(self.task_seconds[label]):9.2f}      "
                       f"{statistics.median(self.last[label]):9.2f}")
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        return {label: {"median_ms": round(1000 * statistics.median(v), 1), "max_ms": round(1000 * max(v), 1),
                        "task_seconds": round(statistics.mean(self.task_seconds[label]), 3),
                        "last_done_s": round(statistics.median(self.last[label]), 3)}
                for label, v in self.per_task.items() if v}


def measure(e: Engine, name: str, n: int, timeout: float, breakdown: Breakdown | None = None) -> float:
    """Seconds from ``docker service create`` to N/N running; the tasks' stages into ``breakdown``
    when the contestant marks them."""
    if e.timings:
        open(e.timings, "w").close()  # the daemon appends: only this run's marks are left
    cpu0 = e.cpu()
    wall0 = time.time()
    t0 = time.monotonic()
    e.docker("service", "create", "-d", "--no-resolve-image", "--name", name, "--replicas", str(n), e.image)
    while e.running(name) < n:
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{e.name}: {name} not {n}/{n} running after {timeout:.0f} s")
        time.sleep(POLL)
    dt = time.monotonic() - t0
    cpu1 = e.cpu()
    if e.timings and breakdown is not None:
        marks = timings.read(e.timings)
        if marks:
            breakdown.add(wall0, marks)
            breakdown.cpu.append((cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]))
    return dt


def remove(e: Engine, name: str, timeout: float) -> None:
    """Remove the service and wait until none of its tasks or containers is left."""
    sid = e.docker("service", "inspect", "--format", "{{.ID}}", name)
    e.docker("service", "rm", name)
    deadline = time.monotonic() + timeout
    while e.left(sid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{e.name}: {name}'s tasks or containers still there {timeout:.0f} s after rm")
        time.sleep(0.1)


def memory_text(mem: dict[str, float]) -> str:
    return f"{mem['daemon']:.1f} (+{mem['helpers']:.1f} in {mem['helper_count']:.0f} helpers)"


def rounded(mem: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in mem.items()}


def main() -> None:
    root_ok = os.geteuid() == 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="10,50,100")
    ap.add_argument("--runtime", default="runc" if root_ok and shutil.which("runc") else "process")
    ap.add_argument("--baseline-src", action="append", default=[], metavar="PATH",
                    help="another checkout's src directory, measured in the same run (repeatable)")
    ap.add_argument("--docker", action=argparse.BooleanOptionalAction, default=bool(DOCKERD) and root_ok,
                    help="also measure Docker Swarm (dockerd 20.10) in the same run")
    ap.add_argument("--timeout", type=float, default=300, help="seconds one run may take to N/N running")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    baselines = [Path(p).resolve() for p in args.baseline_src]
    for b in baselines:
        if not (b / "shoal" / "__init__.py").exists():
            raise SystemExit(f"--baseline-src {b}: no shoal package there (give the checkout's src directory)")
    if not root_ok:
        raise SystemExit("needs root: every contestant runs in a network namespace of its own")
    if args.docker and not DOCKERD:
        raise SystemExit("--docker: dockerd is not installed (Debian's docker.io)")

    # Run the cleanup below on SIGTERM and SIGHUP too, not only on Ctrl-C.
    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    base = Path(tempfile.mkdtemp(prefix="shoal-bench-", dir="/tmp"))
    config_dir = base / "docker-config"
    cluster: DevCluster | None = None
    dockerd: Dockerd | None = None
    engines: list[Engine] = []
    result: dict[str, Any] = {"runtime": args.runtime, "runs": args.runs, "load_before": list(os.getloadavg())}
    try:
        tar = rootfs_tar(base)
        cluster = DevCluster(base / "shoal", args.runtime)
        for i, src in enumerate([SRC, *baselines]):
            name = "shoal" if i == 0 else f"base{i}"
            marks = str(base / f"timings-{name}")
            node = cluster.add(name, env={"PYTHONPATH": str(src), timings.ENV: marks})
            engines.append(ShoalEngine(node, config_dir, src))
            engines[-1].timings = marks
            engines[-1].setup(tar, node.addr)
        if args.docker:
            dockerd = Dockerd(base / "docker", network=DOCKER_NETWORK)  # known before start: stop() undoes a half start
            start_docker(dockerd)
            engines.append(DockerEngine(dockerd, config_dir))
            engines[-1].setup(tar, DOCKER_ADVERTISE)
        result["contestants"] = {e.name: e.describe for e in engines}
        print(f"runtime {args.runtime}; load average {load()}")
        for e in engines:
            print(f"  {e.name:<7} {e.describe}")
        time.sleep(1)  # let every daemon settle after swarm init before its idle memory
        idle = {e.name: e.memory() for e in engines}
        print("idle memory MiB, daemon (+helpers): " + ", ".join(f"{k} {memory_text(v)}" for k, v in idle.items()))
        memory: dict[str, dict[str, Any]] = {k: {"idle": rounded(v)} for k, v in idle.items()}
        seconds: dict[str, dict[str, Spread]] = {}
        first = engines[0].name
        for n in sizes:
            spreads = {e.name: Spread() for e in engines}
            seconds[str(n)] = spreads
            breakdowns = {e.name: Breakdown() for e in engines}
            for run in range(args.runs):
                this_run: dict[str, float] = {}
                for e in rotated(engines, run):
                    name = f"bench{n}x{run}"
                    this_run[e.name] = dt = measure(e, name, n, args.timeout, breakdowns[e.name])
                    spreads[e.name].values.append(dt)
                    if run == 0:
                        time.sleep(1)  # the memory of N running tasks, once they have settled
                        memory[e.name][str(n)] = rounded(e.memory())
                    remove(e, name, args.timeout)
                ratios = "  ".join(f"{k}/{first} {v / this_run[first]:.2f}" for k, v in this_run.items() if k != first)
                times = "  ".join(f"{e.name} {this_run[e.name]:.2f} s" for e in engines)
                print(f"N={n} run {run + 1}: {times}   {ratios}", flush=True)
            print(f"N={n}, {args.runs} run(s), seconds to {n}/{n} running:")
            for e in engines:
                print(f"  {e.name:<7} {spreads[e.name].text()}   memory {memory_text(memory[e.name][str(n)])} MiB")
            print("  median ratios: " + "  ".join(
                f"{k}/{first} {s.median / spreads[first].median:.2f}" for k, s in spreads.items() if k != first),
                flush=True)
            for k, b in breakdowns.items():
                if any(b.per_task.values()):
                    print(f"  {k}: where a task's time went, N={n}, {args.runs} run(s):")
                    print("\n".join(b.lines()), flush=True)
                    result.setdefault("breakdown", {}).setdefault(k, {})[str(n)] = b.summary()
        result["seconds"] = {n: {k: s.summary() for k, s in sp.items()} for n, sp in seconds.items()}
        result["median_ratio_to_" + first] = {
            n: {k: round(s.median / sp[first].median, 2) for k, s in sp.items() if k != first}
            for n, sp in seconds.items()}
        result["memory_mb"] = memory
        result["load_after"] = list(os.getloadavg())
        print(json.dumps(result))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # clean up whole
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if cluster is not None:
            cluster.leave_all()
            cluster.close()
        if dockerd is not None:
            for e in engines:
                if isinstance(e, DockerEngine):
                    with contextlib.suppress(Exception):
                        e.docker("swarm", "leave", "--force", timeout=60)
            dockerd.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
