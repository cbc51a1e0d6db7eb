"""The Kubernetes API's figures for issue 13's closing note, each beside its baseline measured in the
same run:

1. **100 Pods to Running against 100 Swarm tasks** on one node (runc): a ``shoal daemon`` of this
   checkout, a single-node swarm in a network namespace of its own (``DevCluster``: addresses only from
   10.213.0.0/16; its Kubernetes API on the node's address, port 6443, inside that namespace), with the
   busybox web image imported as ``web:latest``. Per run, in turns (who goes first alternates):
   ``kubectl apply -f`` of one YAML with N Pods (``imagePullPolicy: IfNotPresent``), timed from the
   start of ``kubectl apply`` until a watch of the Pods (over HTTPS with the admin client certificate)
   has seen all N ``Running``; then deleted (grace period 1 s) and waited for until gone. Against it
   ``docker service create --detach --no-resolve-image --replicas N web:latest`` on the same daemon,
   timed until ``GET /services?status=true`` says N running (polled every 50 ms); then ``docker service
   rm`` and waited for until none of its tasks is left. Prints each run, min/median/max, the run-to-run
   noise and the ratio of the medians.
2. **API latency with 10,000 Pods in the store**: ``shoal sim --nodes 101 --kube-addr 127.0.0.1:PORT``
   (a manager and 100 hollow nodes in one process, on loopback) with 10,000 Pods created through the
   API (``POST``, 32 at a time; pods/s), waited for until all Running; then one request at a time:
   200 ``GET`` of a Pod by name, and 50 of each ``LIST`` of the namespace (the whole list in JSON,
   ``limit=500`` as kubectl sends it, and ``limit=500`` with kubectl's Table ``Accept`` header), each
   timed until its body is read. p50/p99/max against the Kubernetes SLO (p99 ≤ 1 s for a GET and for
   a namespace-scoped LIST); the process's resident memory after (the manager with its 100 hollow
   agents: one process).
3. **Resident memory of the manager** (figure 1's daemon; ``VmRSS`` of ``/proc/<pid>/status``, the runc
   containers' processes apart): idle (both APIs served), with the N Pods running, and with the
   N-task Swarm service running (the first run of each); k3s's ~1.6 GB and the goal of 200 MB are
   printed as reference lines (not measured here).

The benchmark talks only to loopback and to addresses inside the namespace it made: kubectl runs
under ``nsenter --net`` of the node's namespace, and the watch from a thread that entered it
(``setns``, checked). Everything it made (processes by PID, namespaces, links, mounts, cgroups, data
directories) is removed when it ends, also when it fails or is interrupted. Root only (runc,
namespaces). Ends with one JSON line.

    python3 bench/kube.py [--runs 3] [--pods 100] [--store-pods 10000] [--figures 1,2,3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import json
import math
import os
import random
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from common import Spread, checkout, enter_netns, load, processes, rotated, rss_mb  # noqa: E402
from service_startup import API, CMD, UnixHTTP, rootfs_tar  # noqa: E402

from shoal.devcluster import DevCluster, DevNode  # noqa: E402

T = TypeVar("T")
JSON = "application/json"
TABLE = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
         "application/json")  # what kubectl get sends
IMAGE = "web:latest"
POLL = 0.05  # s between polls of the Swarm service's running count
SLO = 1.0  # s: Kubernetes' API call latency SLO (p99) for a GET and a namespace-scoped LIST
K3S_MB = 1600  # k3s's server, as issue 13 quotes it (not measured here)
GOAL_MB = 200


# ------------------------------------------------------------------------------------------------ the client


class Kube:
    """A Kubernetes API client over HTTPS with the admin client certificate of a kubeconfig: an event
    loop in a thread of its own, which first enters the network namespace ``netns`` (when given), so
    that its connections are made inside it."""

    def __init__(self, kubeconfig: str, scratch: Path, netns: str = "") -> None:
        cfg = yaml.safe_load(kubeconfig)
        self.server = str(cfg["clusters"][0]["cluster"]["server"])
        user = cfg["users"][0]["user"]
        scratch.mkdir(parents=True, exist_ok=True)
        cert, key = scratch / "admin.crt", scratch / "admin.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(user["client-key-data"]))
        self.ssl = ssl.create_default_context(
            cadata=base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode())
        self.ssl.load_cert_chain(str(cert), str(key))
        self.netns = netns
        self.loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="kube-client", daemon=True)
        self._thread.start()
        ready.result(timeout=10)

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            if self.netns:
                enter_netns(f"/run/netns/{self.netns}")
        except BaseException as e:
            ready.set_exception(e)
            return
        asyncio.set_event_loop(self.loop)
        ready.set_result(None)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coro).result(timeout)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.ssl, limit=64),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self._session

    async def request(self, method: str, path: str, body: Any = None, accept: str = JSON) -> tuple[int, bytes]:
        """One request; its status and its whole body."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": accept, **({"Content-Type": JSON} if data is not None else {})}
        async with self.session.request(method, self.server + path, data=data, headers=headers) as r:
            return r.status, await r.read()

    async def json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.request(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)

    async def timed(self, path: str, accept: str = JSON) -> float:
        """Seconds from sending ``GET path`` to its whole body read (a 200)."""
        t0 = time.perf_counter()
        status, data = await self.request("GET", path, accept=accept)
        dt = time.perf_counter() - t0
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {data[:300]!r}")
        return dt

    async def follow_pods(self, selector: str, seen: Callable[[dict[str, dict[str, Any]], str], bool],
                          watching: threading.Event) -> None:
        """List the Pods of ``selector`` (in ``default``), then watch them from that list's
        resourceVersion (``watching`` is set once the watch is open), calling ``seen(Pods by name,
        note)`` after the list and after each event, until it returns True."""
        base = f"/api/v1/namespaces/default/pods?labelSelector={selector}"
        listed = await self.json("GET", base)
        pods = {p["metadata"]["name"]: p for p in listed["items"]}
        rv = listed["metadata"]["resourceVersion"]
        while True:
            async with self.session.get(f"{self.server}{base}&watch=1&resourceVersion={rv}",
                                        headers={"Accept": JSON}) as r:
                if r.status != 200:
                    raise RuntimeError(f"watch: {r.status} {(await r.read())[:300]!r}")
                watching.set()
                if seen(pods, ""):
                    return
                while line := await r.content.readline():
                    ev = json.loads(line)
                    obj = ev["object"]
                    if ev["type"] == "ERROR":
                        raise RuntimeError(f"watch: {obj}")
                    rv = obj["metadata"].get("resourceVersion", rv)
                    if ev["type"] == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if ev["type"] == "DELETED":
                        pods.pop(name, None)
                    else:
                        pods[name] = obj
                    if seen(pods, f"{ev['type']} {name}"):
                        return
            # the server ended the watch (its timeout): open it again from the last revision seen

    async def watch_pods(self, selector: str, done: Callable[[dict[str, str]], bool],
                         watching: threading.Event) -> float:
        """``follow_pods`` until ``done(phase by name)``; returns that moment (``time.monotonic``)."""
        await self.follow_pods(selector, lambda pods, _: done(
            {n: (p.get("status") or {}).get("phase", "") for n, p in pods.items()}), watching)
        return time.monotonic()

    def close(self) -> None:
        if self._session is not None:
            self.run(self._session.close(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


# --------------------------------------------------------------------------- figures 1 and 3: one runc node


class Node:
    """Figure 1's contestants on one daemon: its docker CLI, its kubectl (inside its namespace) and its
    Kubernetes API client."""

    def __init__(self, node: DevNode, base: Path) -> None:
        self.node = node
        self.base = base
        self.kubeconfig = base / "kubeconfig"
        self.cache = base / "kube-cache"
        base.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "shoal.cli.main", "-H", node.host, "kubeconfig"],
                           capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SRC)))
        if r.returncode != 0:
            raise RuntimeError(f"shoal kubeconfig: {r.stderr}")
        self.kubeconfig.write_text(r.stdout)
        self.kubeconfig.chmod(0o600)
        self.api = Kube(r.stdout, base / "certs", netns=node.netns)

    def kubectl(self, *args: str, timeout: float = 300) -> str:
        cmd = ["nsenter", f"--net=/run/netns/{self.node.netns}", "kubectl", "--kubeconfig", str(self.kubeconfig),
               "--cache-dir", str(self.cache), *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, HOME=str(self.base)))
        if r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
        return r.stdout

    def docker(self, *args: str, input: bytes | None = None) -> str:
        return self.node.docker(*args, input=input, timeout=300).stdout.strip()

    def docker_get(self, path: str) -> Any:
        """``GET path`` of the Docker API on the daemon's unix socket."""
        c = UnixHTTP(self.node.sock)
        try:
            c.request("GET", API + path)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {data[:300]!r}")
        return json.loads(data)

    def memory(self) -> dict[str, float]:
        """The daemon's resident memory; its descendants' (the runc containers and their helpers) apart."""
        assert self.node.proc is not None
        pid = self.node.proc.pid
        procs = processes()
        children: dict[int, list[int]] = {}
        for p, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(p)
        below, todo = [], list(children.get(pid, []))
        while todo:
            p = todo.pop()
            below.append(p)
            todo.extend(children.get(p, []))
        return {"daemon": rss_mb(pid), "others": sum(rss_mb(p) for p in below), "other_count": len(below)}


def pods_yaml(run: int, n: int) -> str:
    return "".join(f"""---
apiVersion: v1
kind: Pod
metadata:
  name: web-r{run}-{i}
  labels:
    bench: r{run}
spec:
  containers:
  - name: web
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
""" for i in range(n))


def measure_pods(k: Node, run: int, n: int, timeout: float) -> tuple[float, float]:
    """Seconds from the start of ``kubectl apply -f`` of N Pods to all N seen Running by a watch, and
    to kubectl's exit."""
    path = k.base / f"pods-r{run}.yaml"
    path.write_text(pods_yaml(run, n))
    watching = threading.Event()
    fut = k.api.submit(k.api.watch_pods(f"bench%3Dr{run}", lambda ph: sum(v == "Running" for v in ph.values()) >= n,
                                        watching))
    if not watching.wait(30):
        fut.cancel()
        raise RuntimeError("the watch of the Pods did not open")
    t0 = time.monotonic()
    k.kubectl("apply", "-f", str(path))
    cli = time.monotonic() - t0
    try:
        t1 = fut.result(timeout)
    except concurrent.futures.TimeoutError:
        fut.cancel()
        raise RuntimeError(f"{n} Pods not Running after {timeout:.0f} s") from None
    return t1 - t0, cli


def remove_pods(k: Node, run: int, timeout: float) -> None:
    """Delete the run's Pods (grace period 1 s) and wait until none is left, nor any container."""
    k.kubectl("delete", "pods", "-l", f"bench=r{run}", "--grace-period=1", "--wait=false")
    deadline = time.monotonic() + timeout
    while True:
        left = k.api.run(k.api.json("GET", f"/api/v1/namespaces/default/pods?labelSelector=bench%3Dr{run}"), 60)
        if not left["items"] and not k.docker_get("/containers/json?all=1"):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(left['items'])} Pods still there {timeout:.0f} s after delete")
        time.sleep(0.2)


def measure_service(k: Node, run: int, n: int, timeout: float) -> tuple[float, float]:
    """Seconds from ``docker service create --replicas N`` to N/N running, and to the CLI's exit."""
    name = f"web-r{run}"
    t0 = time.monotonic()
    k.docker("service", "create", "--detach", "--no-resolve-image", "--stop-grace-period", "1s", "--name", name,
             "--replicas", str(n), IMAGE)
    cli = time.monotonic() - t0
    while True:
        running = [int(s["ServiceStatus"]["RunningTasks"]) for s in k.docker_get("/services?status=true")
                   if s["Spec"]["Name"] == name]
        if running and running[0] >= n:
            return time.monotonic() - t0, cli
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"service {name} not {n}/{n} running after {timeout:.0f} s")
        time.sleep(POLL)


def remove_service(k: Node, run: int, timeout: float) -> None:
    name = f"web-r{run}"
    sid = k.docker("service", "inspect", "--format", "{{.ID}}", name)
    k.docker("service", "rm", name)
    deadline = time.monotonic() + timeout
    while any(t["ServiceID"] == sid for t in k.docker_get("/tasks")) or k.docker_get("/containers/json?all=1"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"service {name}'s tasks still there {timeout:.0f} s after rm")
        time.sleep(0.2)


def mem_text(m: dict[str, float]) -> str:
    return f"{m['daemon']:.1f} MiB (containers apart: {m['others']:.1f} MiB in {m['other_count']:.0f} processes)"


def figures_1_3(base: Path, runtime: str, runs: int, n: int, timeout: float, memory_too: bool,
                result: dict[str, Any]) -> None:
    cluster = DevCluster(base / "cluster", runtime)
    k: Node | None = None
    try:
        node = cluster.add("kbench", env={"PYTHONPATH": str(SRC)})
        node.docker("import", "-c", CMD, "-", IMAGE, input=rootfs_tar(base), timeout=120)
        node.docker("swarm", "init", "--advertise-addr", node.addr, "--default-addr-pool", "10.213.128.0/17")
        k = Node(node, base / "kube")
        deadline = time.monotonic() + 60
        while True:  # the Kubernetes API starts once the node is a manager
            try:
                k.kubectl("get", "--raw", "/readyz", timeout=20)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        k.kubectl("get", "nodes")  # the discovery cache, so that the first apply is not slower than the others
        time.sleep(2)
        idle = k.memory()
        print(f"runtime {runtime}; shoal {checkout(SRC)}; Kubernetes API https://{node.kube_addr} (in namespace "
              f"{node.netns}); load average {load()}", flush=True)
        memory: dict[str, dict[str, float]] = {"idle": idle}
        pods, tasks = Spread(), Spread()
        for run in range(runs):
            this: dict[str, float] = {}
            cli: dict[str, float] = {}
            for who in rotated(["pods", "service"], run):
                this[who], cli[who] = (measure_pods if who == "pods" else measure_service)(k, run, n, timeout)
                (pods if who == "pods" else tasks).values.append(this[who])
                if run == 0:
                    time.sleep(2)  # N running, settled
                    memory[f"{n}_{who}"] = k.memory()
                (remove_pods if who == "pods" else remove_service)(k, run, timeout)
            print(f"run {run + 1}: {n} Pods (kubectl apply) {this['pods']:.2f} s (kubectl exited after "
                  f"{cli['pods']:.2f} s)   {n} Swarm tasks (service create) {this['service']:.2f} s (docker exited "
                  f"after {cli['service']:.2f} s)   pods/swarm {this['pods'] / this['service']:.2f}", flush=True)
        print(f"\nFigure 1: seconds to {n} running on one node ({runtime}), {runs} run(s)")
        print(f"  Pods, kubectl apply -f:        {pods.text()}")
        print(f"  Swarm, docker service create:  {tasks.text()}")
        print(f"  median ratio Pods/Swarm {pods.median / tasks.median:.2f} (above 1: the Pods are slower)")
        result["figure1"] = {"n": n, "pods_s": pods.summary(), "swarm_s": tasks.summary(),
                             "median_ratio_pods_to_swarm": round(pods.median / tasks.median, 2)}
        if memory_too:
            print("\nFigure 3: resident memory of the manager (VmRSS; the runc containers' processes apart)")
            for label, key in (("idle, both APIs served", "idle"), (f"with {n} Pods running", f"{n}_pods"),
                               (f"with the {n}-task Swarm service", f"{n}_service")):
                print(f"  {label + ':':<34}{mem_text(memory[key])}")
            print(f"  {'reference, not measured:':<34}k3s server ~{K3S_MB} MB; the goal is under {GOAL_MB} MB")
            result["figure3_mb"] = {k_: {x: round(v, 1) for x, v in m.items()} for k_, m in memory.items()}
    finally:
        if k is not None:
            k.api.close()
        cluster.leave_all()
        cluster.close()


# --------------------------------------------------------------------- figure 2: 10,000 Pods, hollow nodes


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "store"}},
            "spec": {"containers": [{"name": "web", "image": IMAGE, "imagePullPolicy": "IfNotPresent"}]}}


async def create_pods(api: Kube, count: int, concurrency: int) -> None:
    names = iter(range(count))

    async def worker() -> None:
        for i in names:
            status, data = await api.request("POST", "/api/v1/namespaces/default/pods", pod(f"p{i:05d}"))
            if status != 201:
                raise RuntimeError(f"create p{i:05d}: {status} {data[:300]!r}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def all_running(api: Kube, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = await api.json("GET", "/api/v1/namespaces/default/pods?fieldSelector=status.phase%21%3DRunning&limit=1")
        if not left["items"]:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every Pod Running after {timeout:.0f} s")
        await asyncio.sleep(1)


def latency_line(what: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 50), percentile(values, 99)
    ok = "within" if p99 <= SLO else "OVER"
    return (f"  {what:<47} n={len(values):<4} p50 {p50 * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms  "
            f"max {max(values) * 1000:8.1f} ms   {ok} the SLO (p99 <= {SLO:.0f} s)")


def figure_2(base: Path, count: int, hollow: int, concurrency: int, gets: int, lists: int, timeout: float,
             result: dict[str, Any]) -> None:
    with socketless_port() as port:
        addr = f"127.0.0.1:{port}"
    sock = base / "sim.sock"
    env = dict(os.environ, PYTHONPATH=str(SRC), SHOAL_BLOCK_REGISTRY="all", SHOAL_DNS="none")
    log = open(base / "sim.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "shoal.cli.main", "sim", "--nodes", str(hollow + 1),
                             "-H", f"unix://{sock}", "--kube-addr", addr], stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    api: Kube | None = None
    try:
        deadline = time.monotonic() + 120
        while "Kubernetes API on" not in (base / "sim.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"shoal sim did not start: {(base / 'sim.log').read_text()[-2000:]}")
            time.sleep(0.2)
        r = subprocess.run([sys.executable, "-m", "shoal.cli.main", "-H", f"unix://{sock}", "kubeconfig"],
                           capture_output=True, text=True, env=env, check=True)
        api = Kube(r.stdout, base / "sim-certs")
        idle = rss_mb(proc.pid)
        print(f"\nFigure 2: shoal sim, a manager and {hollow} hollow nodes in one process; Kubernetes API "
              f"https://{addr}; idle RSS {idle:.1f} MiB; load average {load()}", flush=True)
        t0 = time.monotonic()
        api.run(create_pods(api, count, concurrency), timeout)
        created = time.monotonic() - t0
        api.run(all_running(api, timeout), timeout + 60)
        running = time.monotonic() - t0
        listed = api.run(api.json("GET", "/api/v1/namespaces/default/pods"), 300)["items"]
        phases = [p.get("status", {}).get("phase") for p in listed]
        if len(listed) != count or set(phases) != {"Running"}:
            raise RuntimeError(f"{len(listed)} Pods listed, phases {sorted(set(map(str, phases)))}")
        time.sleep(2)
        rss_after = rss_mb(proc.pid)
        print(f"  created {count} Pods in {created:.1f} s ({count / created:.0f} pods/s, {concurrency} at a time); "
              f"all Running after {running:.1f} s; RSS {rss_after:.1f} MiB", flush=True)
        names = [f"p{random.randrange(count):05d}" for _ in range(gets)]
        ns = "/api/v1/namespaces/default/pods"
        cases: list[tuple[str, list[str], str]] = [
            (f"GET pod by name ({count} in the namespace)", [f"{ns}/{x}" for x in names], JSON),
            (f"LIST namespace, all {count}, JSON", [ns] * lists, JSON),
            ("LIST namespace, limit=500, JSON", [f"{ns}?limit=500"] * lists, JSON),
            ("LIST namespace, limit=500, Table (kubectl get)", [f"{ns}?limit=500"] * lists, TABLE),
        ]
        latency: dict[str, dict[str, float]] = {}
        for what, paths, accept in cases:
            values = [api.run(api.timed(p, accept), 300) for p in paths]
            print(latency_line(what, values), flush=True)
            latency[what] = {"n": len(values), "p50_ms": round(percentile(values, 50) * 1000, 1),
                             "p99_ms": round(percentile(values, 99) * 1000, 1),
                             "max_ms": round(max(values) * 1000, 1),
                             "mean_ms": round(statistics.mean(values) * 1000, 1)}
        rss_end = rss_mb(proc.pid)
        print(f"  RSS of the sim process after: {rss_end:.1f} MiB (the manager with {hollow} hollow agents)")
        result["figure2"] = {"pods": count, "hollow_nodes": hollow, "create_s": round(created, 2),
                             "pods_per_s": round(count / created), "all_running_s": round(running, 2),
                             "latency": latency, "rss_idle_mb": round(idle, 1),
                             "rss_after_create_mb": round(rss_after, 1), "rss_end_mb": round(rss_end, 1)}
    finally:
        if api is not None:
            api.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class socketless_port:
    """A free loopback port (the socket that found it is closed on exit)."""

    def __enter__(self) -> int:
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return int(self.s.getsockname()[1])

    def __exit__(self, *_: object) -> None:
        self.s.close()


# ------------------------------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pods", type=int, default=100, help="Pods (and Swarm tasks) of figure 1")
    ap.add_argument("--runtime", default="runc")
    ap.add_argument("--store-pods", type=int, default=10000, help="Pods in the store for figure 2")
    ap.add_argument("--hollow-nodes", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--gets", type=int, default=200)
    ap.add_argument("--lists", type=int, default=50)
    ap.add_argument("--figures", default="1,2,3", help="which figures (3 comes with 1's daemon)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds one step may take")
    args = ap.parse_args()
    figures = {x.strip() for x in args.figures.split(",")}
    if os.geteuid() != 0:
        raise SystemExit("needs root: runc, and a network namespace for the node")
    if shutil.which("kubectl") is None:
        raise SystemExit("kubectl is not installed")

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    base = Path(tempfile.mkdtemp(prefix="shoal-kbench-", dir="/tmp"))
    result: dict[str, Any] = {"runs": args.runs, "load_before": list(os.getloadavg())}
    try:
        if figures & {"1", "3"}:
            figures_1_3(base / "node", args.runtime, args.runs, args.pods, args.timeout, "3" in figures, result)
        if "2" in figures:
            (base / "sim").mkdir()
            figure_2(base / "sim", args.store_pods, args.hollow_nodes, args.concurrency, args.gets, args.lists,
                     args.timeout, result)
        result["load_after"] = list(os.getloadavg())
        print(json.dumps(result))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # clean up whole
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
