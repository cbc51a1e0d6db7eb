"""Kubernetes networking figures for issue 16's closing note, each beside its baseline measured in the
same run, on two namespaced runc nodes (``DevCluster``: a manager ``kna`` and a worker ``knb`` on a test
bridge in 10.213.x.0/24, and a client namespace ``knc`` standing for a machine on the nodes' network):

1. **Connections per second and latency** (p50/p99 of one connection: connect, ``GET /who`` over
   HTTP/1.0, the whole answer read, close; one connection at a time) to a backend Pod ``srv`` on node B
   (busybox ``httpd``):

   * *direct* (the baseline): from a client Pod on node A to the backend Pod's own IP (the pod network:
     node A's block routed to node B's, no NAT);
   * *ClusterIP*: from the same client Pod to the Service ``bench-web``'s ClusterIP (DNATed on node A);
   * *NodePort*: from the client namespace (outside the cluster) to node A's address and the Service
     ``bench-web-np``'s NodePort, the backend on node B;
   * *same node* (what works without a pod network, for reference): from node B's own namespace to the
     backend Pod's IP on its bridge.

2. **Ready to traffic, deleted to no traffic** (``--runs`` times): a second backend Pod ``tog-<run>`` on
   node B starts not ready (its readiness probe, ``exec`` every second, reads ``/www/state``); a prober in
   the client Pod opens a new connection to the ClusterIP every 5 ms and notes which Pod answered
   (``/www/who``). ``kubectl exec`` makes the probe pass: the figure is the time from the Pod's Ready
   condition as a watch of the API sees it (and, second, from the ``kubectl exec`` that flipped it) to
   the first connection through the Service that reaches it (kube-proxy's figure is about 1 s on small
   clusters; the goal is under 200 ms). Then ``kubectl delete pod`` (grace period 10 s; the Pod's
   ``httpd`` ignores SIGTERM, so it keeps answering while it terminates): the time from the delete to
   the last new connection that reached it (none after it: 0).

A path that does not work (no pod network, no Service rules on the node: the parts of issue 16 built
elsewhere) is reported as unreachable, and the figures that need it as not measured; the benchmark
still ends cleanly. It talks only to addresses inside the namespaces it made: kubectl runs under
``nsenter --net`` of the client namespace, the measuring clients from threads that entered the client
Pod's network namespace (``<exec-root>/netns/<pod uid>`` of node A, ``setns``, checked), the client
namespace or node B's. Everything it made (Pods, Services, processes by PID, namespaces, links, mounts,
data directories) is removed when it ends, also when it fails or is interrupted. Root only (runc,
namespaces). Timings are printed, never asserted. Ends with one JSON line.

    python3 bench/kubenet.py [--connections 2000] [--runs 5] [--timeout 120]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from common import checkout, enter_netns, load  # noqa: E402
from service_startup import CMD, rootfs_tar  # noqa: E402

from shoal.devcluster import DevCluster, DevNode  # noqa: E402

T = TypeVar("T")
IMAGE = "web:latest"
PORT = 80
CONNECT_TIMEOUT = 1.0  # s, one connection of figure 1
PROBE_TIMEOUT = 0.3  # s, one connection of the prober
PROBE_GAP = 0.005  # s between two connections of the prober
GOAL_READY = 0.2  # s: the goal from ready to traffic
KUBE_PROXY_READY = 1.0  # s: kube-proxy's figure on a small cluster (quoted, not measured)

# A backend: its name in /www/who, not ready while /www/state is not "ok" (shell builtins only: the
# image has busybox sh, httpd and sleep); httpd ignores SIGTERM (an ignored signal stays ignored across
# exec), so a Pod being deleted keeps answering until its grace period ends.
BACKEND = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: bench-web}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: {grace}
  containers:
  - name: main
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo {name} > /www/who; echo {state} > /www/state; trap "" TERM; exec httpd -f -p 80 -h /www']
    ports:
    - {{name: http, containerPort: 80}}
    readinessProbe:
      exec:
        command: [sh, -c, 'read s < /www/state; [ "$s" = ok ]']
      periodSeconds: 1
"""
CLIENT = """apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "1000000"]
"""
SERVICES = """apiVersion: v1
kind: Service
metadata:
  name: bench-web
spec:
  selector: {app: bench-web}
  ports:
  - {port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: bench-web-np
spec:
  type: NodePort
  selector: {app: bench-web}
  ports:
  - {port: 80, targetPort: http}
"""


# ------------------------------------------------------------------------------------------ in a namespace


def in_netns(path: str, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
    """Run ``fn`` in a new thread that first entered the network namespace at ``path``; its result."""
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            enter_netns(path)
            done.set_result(fn())
        except BaseException as e:
            done.set_exception(e)

    threading.Thread(target=run, name=f"netns:{Path(path).name}", daemon=True).start()
    return done


# ------------------------------------------------------------------------------------------ the measuring client


def fetch(addr: str, port: int, timeout: float, path: str = "/who") -> str:
    """One connection: connect, ``GET path`` (HTTP/1.0), read the whole answer, close; its body."""
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise OSError(f"unexpected answer {head[:60]!r}")
    return body.decode(errors="replace").strip()


@dataclass
class Rate:
    """Figure 1 for one path: connections made one after another."""

    ok: list[float] = field(default_factory=list)  # seconds each successful connection took
    errors: int = 0
    elapsed: float = 0.0
    first_error: str = ""

    @property
    def per_second(self) -> float:
        return len(self.ok) / self.elapsed if self.elapsed else 0.0


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def measure(addr: str, port: int, count: int, warmup: int = 20) -> Rate:
    """``count`` connections one after another (after ``warmup`` unmeasured ones); a path whose first
    five connections all fail is given up at once."""
    r = Rate()
    for i in range(warmup):
        try:
            fetch(addr, port, CONNECT_TIMEOUT)
        except OSError as e:
            r.errors += 1
            r.first_error = r.first_error or f"{type(e).__name__}: {e}"
            if r.errors >= 5 and r.errors == i + 1:
                return r
    r.errors = 0
    t_start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        try:
            fetch(addr, port, CONNECT_TIMEOUT)
        except OSError as e:
            r.errors += 1
            r.first_error = r.first_error or f"{type(e).__name__}: {e}"
            continue
        r.ok.append(time.perf_counter() - t0)
    r.elapsed = time.perf_counter() - t_start
    return r


def rate_text(what: str, r: Rate) -> str:
    if not r.ok:
        return f"  {what:<46} unreachable ({r.first_error or 'no connection'})"
    ms = [v * 1000 for v in r.ok]
    text = (f"  {what:<46} {r.per_second:8.0f} conn/s   p50 {percentile(ms, 50):6.2f} ms   p99 "
            f"{percentile(ms, 99):6.2f} ms   max {max(ms):6.2f} ms")
    return text + (f"   ({r.errors} failed)" if r.errors else "")


class Prober:
    """New connections to ``addr:port`` every ``PROBE_GAP`` from the thread it runs in, noting the time
    (``time.monotonic``) and who answered ("" for a failed one), until stopped."""

    def __init__(self, addr: str, port: int) -> None:
        self.addr, self.port = addr, port
        self.seen: list[tuple[float, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                who = fetch(self.addr, self.port, PROBE_TIMEOUT)
            except OSError:
                who = ""
            self.seen.append((time.monotonic(), who))
            time.sleep(PROBE_GAP)

    def first(self, who: str, after: float) -> float | None:
        return next((t for t, w in list(self.seen) if w == who and t >= after), None)

    def last(self, who: str) -> float | None:
        return next((t for t, w in reversed(list(self.seen)) if w == who), None)


# ------------------------------------------------------------------------------------------ the cluster


class Bench:
    def __init__(self, base: Path, timeout: float) -> None:
        self.base = base
        self.timeout = timeout
        self.cluster = DevCluster(base / "cluster", "runc")
        self.a: DevNode | None = None
        self.b: DevNode | None = None
        self.client_ns = ""
        self.kubeconfig = base / "kubeconfig"

    def up(self) -> None:
        env = {"PYTHONPATH": str(SRC)}
        self.a = self.cluster.add("kna", env=env)
        self.b = self.cluster.add("knb", env=env)
        tar = rootfs_tar(self.base)
        for d in (self.a, self.b):
            d.docker("import", "-c", CMD, "-", IMAGE, input=tar, timeout=120)
        self.a.docker("swarm", "init", "--advertise-addr", self.a.addr)
        token = self.a.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        self.b.docker("swarm", "join", "--token", token, f"{self.a.addr}:2377")
        self.client_ns, _ = self.cluster.add_client("knc")
        r = subprocess.run([sys.executable, "-m", "shoal.cli.main", "-H", self.a.host, "kubeconfig"],
                           capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SRC)))
        if r.returncode != 0:
            raise RuntimeError(f"shoal kubeconfig: {r.stderr}")
        self.kubeconfig.write_text(r.stdout)
        self.kubeconfig.chmod(0o600)
        self.until(lambda: self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0, "the API")
        self.until(lambda: len(self.json("get", "nodes")["items"]) == 2, "two nodes")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = ["nsenter", f"--net=/run/netns/{self.client_ns}", "kubectl", "--kubeconfig", str(self.kubeconfig),
               "--cache-dir", str(self.base / "kube-cache"), *args]
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, HOME=str(self.base)))
        if check and r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
        return r

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def until(self, pred: Callable[[], Any], what: str, timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            got = pred()
            if got:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def pod(self, name: str) -> dict[str, Any] | None:
        r = self.kubectl("get", "pod", name, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def running(self, name: str) -> dict[str, Any] | None:
        p = self.pod(name)
        return p if p and p["status"].get("phase") == "Running" and p["status"].get("podIP") else None

    def netns_of(self, node: DevNode, pod: dict[str, Any]) -> str:
        return str(node.exec_root / "netns" / pod["metadata"]["uid"])

    def close(self) -> None:
        if self.client_ns and self.kubeconfig.exists():
            for what in ("pods", "services"):
                self.kubectl("delete", what, "-l", "bench in (kubenet)", "--ignore-not-found", "--wait=false",
                             check=False, timeout=30)
            self.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false", check=False,
                         timeout=30)
            self.kubectl("delete", "services", "bench-web", "bench-web-np", "--ignore-not-found", check=False,
                         timeout=30)
        self.cluster.leave_all()
        self.cluster.close()


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def figure_1(b: Bench, count: int, result: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The backend, the client Pod and the Services; connections/s and latency on each path."""
    assert b.a is not None and b.b is not None
    b.kubectl("apply", "-f", "-", input=BACKEND.format(name="srv", node="knb", grace=1, state="ok"))
    b.kubectl("apply", "-f", "-", input=CLIENT.format(node="kna"))
    b.kubectl("apply", "-f", "-", input=SERVICES)
    srv = b.until(lambda: (p := b.running("srv")) and ready(p) and p, "srv running and ready")
    client = b.until(lambda: b.running("client"), "the client Pod running")
    svc = b.json("get", "svc", "bench-web")
    np = b.json("get", "svc", "bench-web-np")
    cluster_ip, node_port = svc["spec"]["clusterIP"], np["spec"]["ports"][0]["nodePort"]
    client_netns = b.netns_of(b.a, client)
    pod_ip = srv["status"]["podIP"]
    print(f"backend srv on knb at {pod_ip}; client Pod on kna at {client['status']['podIP']}; ClusterIP "
          f"{cluster_ip}; NodePort {b.a.addr}:{node_port}", flush=True)
    paths: list[tuple[str, str, str, int]] = [
        ("direct: client Pod (A) -> Pod IP (B)", client_netns, pod_ip, PORT),
        ("ClusterIP: client Pod (A) -> ClusterIP", client_netns, cluster_ip, PORT),
        ("NodePort: client namespace -> node A", f"/run/netns/{b.client_ns}", b.a.addr, node_port),
        ("same node: node B -> Pod IP (B)", f"/run/netns/{b.b.netns}", pod_ip, PORT),
    ]
    rates: dict[str, Any] = {}
    for what, netns, addr, port in paths:
        r = in_netns(netns, functools.partial(measure, addr, port, count)).result()
        print(rate_text(what, r), flush=True)
        key = what.split(":")[0].replace(" ", "_")
        rates[key] = {"conn_per_s": round(r.per_second, 1), "errors": r.errors} | (
            {"p50_ms": round(percentile(r.ok, 50) * 1000, 3), "p99_ms": round(percentile(r.ok, 99) * 1000, 3)}
            if r.ok else {"unreachable": r.first_error})
    direct, cip = rates["direct"], rates["ClusterIP"]
    if direct.get("conn_per_s") and cip.get("conn_per_s"):
        print(f"  ClusterIP/direct: {cip['conn_per_s'] / direct['conn_per_s']:.2f} of the connections per second",
              flush=True)
    result["figure_1"] = {"connections": count} | rates
    return {"cluster_ip": cluster_ip, "client_netns": client_netns}, pod_ip


def one_run(b: Bench, prober: Prober, run: int) -> tuple[float, float, float] | str:
    """One backend made ready then deleted: (ready -> first connection, kubectl exec -> first connection,
    delete -> last connection) in seconds, or why it could not be measured."""
    name = f"tog-{run}"
    b.kubectl("apply", "-f", "-", input=BACKEND.format(name=name, node="knb", grace=10, state="sick"))
    b.until(lambda: b.running(name), f"{name} running")
    t_flip = time.monotonic()
    b.kubectl("exec", name, "--", "sh", "-c", "echo ok > /www/state")
    # (the API's Ready is seen by polling kubectl, about every 0.1 s: the time is when it was first seen)
    t_ready = b.until(lambda: (p := b.pod(name)) and ready(p) and time.monotonic(), f"{name} ready")
    try:
        t_first = b.until(lambda: prober.first(name, t_flip), f"a connection to {name}", timeout=30)
    except TimeoutError:
        b.kubectl("delete", "pod", name, "--grace-period=0", "--force", check=False)
        return f"no connection reached {name} within 30 s of its being ready"
    t_del = time.monotonic()
    b.kubectl("delete", "pod", name, "--wait=false")
    b.until(lambda: time.monotonic() - t_del > 3 and (prober.last(name) or 0) < time.monotonic() - 2,
            f"no more connections to {name}", timeout=60)
    last = prober.last(name) or t_del
    b.until(lambda: b.pod(name) is None, f"{name} gone", timeout=60)
    return max(0.0, t_first - t_ready), t_first - t_flip, max(0.0, last - t_del)


def figure_2(b: Bench, runs: int, where: dict[str, Any], result: dict[str, Any]) -> None:
    """Ready to the first connection through the Service; deleted to the last one."""
    prober = Prober(where["cluster_ip"], PORT)
    probing = in_netns(where["client_netns"], prober.run)
    ready_times: list[float] = []
    flip_times: list[float] = []
    gone_times: list[float] = []
    notes: list[str] = []
    try:
        try:
            b.until(lambda: any(w == "srv" for _, w in list(prober.seen)), "an answer through the ClusterIP",
                    timeout=15)
        except TimeoutError:
            notes.append("no connection through the ClusterIP reached any Pod (no Service rules on the node?)")
            print(f"  ready -> traffic: not measured: {notes[-1]}", flush=True)
            result["figure_2"] = {"not_measured": notes[-1]}
            return
        for run in range(runs):
            got = one_run(b, prober, run)
            if isinstance(got, str):
                notes.append(got)
                print(f"  run {run + 1}: {got}", flush=True)
                continue
            ready_times.append(got[0])
            flip_times.append(got[1])
            gone_times.append(got[2])
            print(f"  run {run + 1}: ready -> first connection {got[0] * 1000:7.0f} ms (from kubectl exec "
                  f"{got[1] * 1000:7.0f} ms); delete -> last connection {got[2] * 1000:7.0f} ms", flush=True)
    finally:
        prober.stop.set()
        probing.result(timeout=10)
    out: dict[str, Any] = {"runs": runs, "notes": notes}
    for key, label, values in (("ready_to_traffic_s", "ready -> first connection", ready_times),
                               ("exec_to_traffic_s", "kubectl exec -> first connection", flip_times),
                               ("delete_to_no_traffic_s", "delete -> last connection", gone_times)):
        out[key] = [round(v, 4) for v in values]
        if values:
            print(f"  {label:<34} median {statistics.median(values) * 1000:7.0f} ms   max {max(values) * 1000:7.0f} "
                  "ms", flush=True)
    print(f"  (kube-proxy's figure for ready -> traffic: about {KUBE_PROXY_READY * 1000:.0f} ms on small clusters, "
          f"not measured here; the goal: under {GOAL_READY * 1000:.0f} ms)", flush=True)
    result["figure_2"] = out


# ------------------------------------------------------------------------------------------------------ main


def self_test(count: int) -> None:
    """The measuring loop and the prober against a throw-away HTTP server on loopback (no cluster)."""
    import http.server

    class Who(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            body = b"self\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Who)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        print(rate_text("loopback (self test)", measure("127.0.0.1", port, count)))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        print(rate_text("a closed port (self test)", measure("127.0.0.1", closed, count)))
        p = Prober("127.0.0.1", port)
        t = threading.Thread(target=p.run)
        t.start()
        time.sleep(0.2)
        p.stop.set()
        t.join()
        print(f"  prober: {len(p.seen)} connections in 0.2 s, first answer {p.first('self', 0) is not None}")
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--connections", type=int, default=2000, help="connections per path of figure 1")
    ap.add_argument("--runs", type=int, default=5, help="ready/delete runs of figure 2")
    ap.add_argument("--timeout", type=float, default=120, help="seconds one step may take")
    ap.add_argument("--self-test", action="store_true",
                    help="only the measuring loop against a loopback server (no cluster, no root)")
    args = ap.parse_args()
    if args.self_test:
        self_test(args.connections)
        return
    missing = [what for what, ok in (("root", os.geteuid() == 0), ("runc", shutil.which("runc")),
                                     ("kubectl", shutil.which("kubectl")), ("docker CLI", shutil.which("docker")),
                                     ("nsenter", shutil.which("nsenter"))) if not ok]
    if missing:
        print(f"kubenet bench: cannot run without {', '.join(missing)}", file=sys.stderr)
        raise SystemExit(2)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    base = Path(tempfile.mkdtemp(prefix="shoal-netbench-", dir="/tmp"))
    result: dict[str, Any] = {"load_before": list(os.getloadavg()), "shoal": checkout(SRC)}
    b = Bench(base, args.timeout)
    try:
        b.up()
        assert b.a is not None
        print(f"two runc nodes (kna manager {b.a.addr}, knb), client namespace {b.client_ns}; shoal "
              f"{checkout(SRC)}; load average {load()}", flush=True)
        print(f"1. connections, one at a time ({args.connections} a path):", flush=True)
        where, _ = figure_1(b, args.connections, result)
        print(f"2. ready -> traffic and delete -> no traffic through the ClusterIP ({args.runs} runs):", flush=True)
        figure_2(b, args.runs, where, result)
        result["load_after"] = list(os.getloadavg())
        print(json.dumps(result))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # clean up whole
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            b.close()
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
