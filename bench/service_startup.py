"""Time from ``docker service create --replicas N -d`` to N/N running, and the daemon's memory.

Starts its own ``shoal daemon`` (runc when root, else process) in temporary directories, imports a
busybox image, inits a swarm, then for each N runs the real docker CLI to create the service and
polls ``GET /services?status=true`` every 20 ms until RunningTasks == N. Prints one line per run and
a JSON summary with medians and the ratio against the real Swarm's figures on this kind of machine
(dockerd 20.10 + containerd + runc: 1.7 s, 6.1 s, 12.4 s for 10, 50, 100; 122 MB idle and 1,487 MB
with 100 tasks).

    python bench/service_startup.py [--runs 3] [--sizes 10,50,100] [--runtime runc]
"""

from __future__ import annotations

import argparse
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import rss_mb

SWARM_SECONDS = {10: 1.7, 50: 6.1, 100: 12.4}
SWARM_IDLE_MB, SWARM_100_MB = 122, 1487


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        self.sock = s


def get(sock: str, url: str) -> object:
    c = UnixHTTP(sock)
    c.request("GET", "/v1.47" + url)
    r = c.getresponse()
    data = r.read()
    c.close()
    return json.loads(data)


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def running(sock: str, name: str) -> int:
    for s in get(sock, "/services?status=true"):  # type: ignore[union-attr]
        if s["Spec"]["Name"] == name:  # type: ignore[index]
            return int(s["ServiceStatus"]["RunningTasks"])  # type: ignore[index]
    return -1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="10,50,100")
    ap.add_argument("--runtime", default="runc" if os.geteuid() == 0 and shutil.which("runc") else "process")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]

    base = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    sock = str(base / "run" / "shoal.sock")
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(base / "docker-config"))
    log = open(base / "daemon.log", "wb")
    # As the test suite: no registry beyond loopback, no task's DNS query to the host's resolvers, and
    # the default bridge (tasks without networks) inside the test pool.
    daemon_env = {"SHOAL_BLOCK_REGISTRY": "all", "SHOAL_DNS": "none", "SHOAL_BIP": "10.213.240.1/24", **os.environ}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "shoal.cli.main", "daemon", "--data-root", str(base / "data"),
         "--exec-root", str(base / "run"), "--runtime", args.runtime, "-H", f"unix://{sock}"],
        stdout=log, stderr=subprocess.STDOUT, env=daemon_env,
    )
    results: dict[str, object] = {"runtime": args.runtime}
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        time.sleep(0.3)
        rootfs = base / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        (rootfs / "www").mkdir()
        shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
        for a in ("sh", "httpd", "sleep"):
            (rootfs / "bin" / a).symlink_to("busybox")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        subprocess.run(["docker", "import", "-c", 'CMD ["httpd","-f","-p","80","-h","/www"]', "-", "nginx"],
                       input=tar, env=env, check=True, capture_output=True)
        subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], env=env, check=True,
                       capture_output=True)
        time.sleep(1)
        results["idle_rss_mb"] = round(rss_mb(daemon.pid), 1)
        medians: dict[int, float] = {}
        for n in sizes:
            times = []
            for run in range(args.runs):
                name = f"bench{n}x{run}"
                t0 = time.monotonic()
                sid = subprocess.run(
                    ["docker", "service", "create", "-d", "--name", name, "--replicas", str(n), "nginx"],
                    env=env, check=True, capture_output=True, text=True,
                ).stdout.strip()
                while running(sock, name) < n:
                    time.sleep(0.02)
                    if time.monotonic() - t0 > 300:
                        raise SystemExit(f"{name}: not converged after 300 s")
                dt = time.monotonic() - t0
                times.append(dt)
                if n == 100 and run == 0:
                    time.sleep(1)
                    results["rss_mb_100_tasks"] = round(rss_mb(daemon.pid), 1)
                    results["helper_processes_100_tasks"] = len(
                        [p for p in children(daemon.pid) if p not in _task_pids(sock, name)]
                    )
                print(f"N={n} run={run + 1}: {dt:.2f} s to {n}/{n} running", flush=True)
                subprocess.run(["docker", "service", "rm", name], env=env, check=True, capture_output=True)
                deadline = time.monotonic() + 120
                while _tasks_left(sock, sid) and time.monotonic() < deadline:
                    time.sleep(0.1)
            medians[n] = statistics.median(times)
        results["median_seconds"] = {str(n): round(v, 3) for n, v in medians.items()}
        results["times_faster_than_swarm"] = {
            str(n): round(SWARM_SECONDS[n] / v, 1) for n, v in medians.items() if n in SWARM_SECONDS
        }
        results["swarm_reference"] = {"seconds": SWARM_SECONDS, "idle_mb": SWARM_IDLE_MB, "mb_100_tasks": SWARM_100_MB}
        print(json.dumps(results))
    finally:
        subprocess.run(["docker", "swarm", "leave", "--force"], env=env, capture_output=True)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        shutil.rmtree(base, ignore_errors=True)


def _tasks_left(sock: str, service_id: str) -> int:
    return sum(1 for t in get(sock, "/tasks") if t["ServiceID"] == service_id)  # type: ignore[union-attr,index]


def _task_pids(sock: str, service: str) -> set[int]:
    tasks = get(sock, f'/tasks?filters={{"service":{{"{service}":true}}}}')
    return {int(t["Status"].get("ContainerStatus", {}).get("PID") or 0) for t in tasks}  # type: ignore[union-attr,index]


if __name__ == "__main__":
    main()
