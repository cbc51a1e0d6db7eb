"""Throughput, latency and connection rate between two tasks on different nodes over an overlay network
and over an encrypted overlay (``--opt encrypted``), against two namespaces joined directly by a
veth pair (the limit on this machine), and the connection rate through a service's VIP against the
task's own address, and through the routing mesh from a client outside the swarm (via the task's
node, and via the other node).

Builds a ``DevCluster`` of two nodes (each a ``shoal daemon`` in a network namespace of its own,
runc), an overlay network, a server task on one node and a client task on the other, then runs this
same script inside the tasks' network namespaces (``nsenter --net``: the tasks' own veth, bridge and
VXLAN path) as the server and the client of each measurement:

- throughput: one TCP stream of 256 KiB writes for 3 s, in Gbit/s;
- latency: 1-byte TCP ping-pong, median and 99th percentile in microseconds;
- connection rate: connect, one byte, close, for 2 s, in connections per second.

Prints one line per figure and a JSON summary.

    python bench/overlay.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

PORT = 5201
CHUNK = 256 * 1024


# ---------------------------------------------------------------- the measuring ends (run in a netns)


def serve(port: int) -> None:
    """Accept until killed: the first byte says what the connection is for."""
    srv = socket.create_server(("0.0.0.0", port), backlog=512)

    def handle(c: socket.socket, kind: bytes) -> None:
        with c:
            if kind == b"T":
                while c.recv(CHUNK):
                    pass
            elif kind == b"L":
                while (b := c.recv(1)):
                    c.sendall(b)

    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kind = conn.recv(1)
        if kind in (b"T", b"L"):
            threading.Thread(target=handle, args=(conn, kind), daemon=True).start()
        else:
            conn.close()  # a connection-rate probe: done


def client(host: str, port: int, what: str) -> dict[str, float]:
    if what == "throughput":
        buf = b"\0" * CHUNK
        with socket.create_connection((host, port)) as c:
            c.sendall(b"T")
            sent, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 3.0:
                c.sendall(buf)
                sent += len(buf)
            elapsed = time.perf_counter() - t0
        return {"gbit_s": sent * 8 / elapsed / 1e9}
    if what == "latency":
        rtts = []
        with socket.create_connection((host, port)) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.sendall(b"L")
            for _ in range(3000):
                t0 = time.perf_counter()
                c.sendall(b"x")
                c.recv(1)
                rtts.append((time.perf_counter() - t0) * 1e6)
        rtts.sort()
        return {"rtt_median_us": statistics.median(rtts), "rtt_p99_us": rtts[int(len(rtts) * 0.99)]}
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        with socket.create_connection((host, port)) as c:
            c.sendall(b"C")
        count += 1
    return {"conn_per_s": count / (time.perf_counter() - t0)}


# ---------------------------------------------------------------- the driver


def in_netns(netns: str, *args: str) -> list[str]:
    return ["nsenter", f"--net={netns}", sys.executable, __file__, *args]


def conn_rate(client_ns: str, host: str, port: int = PORT) -> float:
    r = subprocess.run(in_netns(client_ns, "--client", host, "conn", str(port)), capture_output=True, text=True,
                       check=True)
    return float(json.loads(r.stdout)["conn_per_s"])


def measure(server_ns: str, client_ns: str, host: str, vip: str = "",
            extra: dict[str, tuple[str, str, int]] | None = None) -> dict[str, float]:
    """The three figures from ``client_ns`` to ``host``; the connection rate to the VIP, and to each
    of ``extra`` (name → client namespace, address, port)."""
    srv = subprocess.Popen(in_netns(server_ns, "--serve"))
    try:
        time.sleep(0.5)
        out: dict[str, float] = {}
        for what in ("throughput", "latency"):
            r = subprocess.run(in_netns(client_ns, "--client", host, what), capture_output=True, text=True,
                               check=True)
            out.update(json.loads(r.stdout))
        out["conn_per_s"] = conn_rate(client_ns, host)
        if vip:
            out["vip_conn_per_s"] = conn_rate(client_ns, vip)
        for name, (ns, addr, port) in (extra or {}).items():
            out[name] = conn_rate(ns, addr, port)
        return out
    finally:
        srv.kill()
        srv.wait()


def direct_pair() -> dict[str, float]:
    """Two namespaces joined by a veth pair: the baseline."""
    a, b = f"shbd-a{os.getpid()}", f"shbd-b{os.getpid()}"
    try:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b],
                       check=True)
        for ns, addr in ((a, "10.213.62.1/24"), (b, "10.213.62.2/24")):
            subprocess.run(["ip", "-n", ns, "addr", "add", addr, "dev", "eth0"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        return measure(f"/run/netns/{b}", f"/run/netns/{a}", "10.213.62.2")
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def overlay() -> tuple[dict[str, float], dict[str, float]]:
    """The plain overlay's figures (with the VIP and the mesh), and the encrypted overlay's."""
    from shoal.devcluster import DevCluster

    base = Path(tempfile.mkdtemp(prefix="shoal-bench-overlay-"))
    cluster = DevCluster(base, "runc")
    try:
        a, b = cluster.add("ov-a"), cluster.add("ov-b")
        rootfs = base / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
        (rootfs / "bin" / "sleep").symlink_to("busybox")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        for d in (a, b):
            d.docker("import", "-c", 'CMD ["sleep","100000"]', "-", "idle:latest", input=tar)
        a.docker("swarm", "init", "--advertise-addr", a.addr)
        token = a.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        b.docker("swarm", "join", "--token", token, f"{a.addr}:2377")
        a.docker("network", "create", "-d", "overlay", "--subnet", "10.213.61.0/24", "ov")
        a.docker("network", "create", "-d", "overlay", "--opt", "encrypted", "--subnet", "10.213.64.0/24", "sec")
        for name, node, net, publish in (("srv", "ov-b", "ov", ["-p", f"8080:{PORT}"]), ("cli", "ov-a", "ov", []),
                                         ("ssrv", "ov-b", "sec", []), ("scli", "ov-a", "sec", [])):
            a.docker("service", "create", "-d", "--name", name, "--network", net, *publish, "--constraint",
                     f"node.hostname=={node}", "--stop-grace-period", "1s", "idle")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and a.docker("service", "ls", "--format", "{{.Replicas}}").stdout.split() \
                != ["1/1"] * 4:
            time.sleep(0.2)

        def task(service: str) -> tuple[str, str]:
            tid = a.docker("service", "ps", "-q", "-f", "desired-state=running", service).stdout.split()[0]
            addr = a.docker("inspect", "--type", "task", "--format", "{{range .NetworksAttachments}}"
                            "{{if not .Network.Spec.Ingress}}{{index .Addresses 0}}{{end}}{{end}}", tid).stdout.strip()
            return tid, addr.split("/")[0]

        srv, srv_ip = task("srv")
        cli, _ = task("cli")
        vip = a.docker("service", "inspect", "srv", "--format",
                       "{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}").stdout.strip().split("/")[0]
        time.sleep(1.0)  # the client's VIP table is loaded when the server task runs
        outside, _ = cluster.add_client("outside")  # a client of the routing mesh, outside the swarm
        mesh = {"mesh_local_conn_per_s": (f"/run/netns/{outside}", b.addr, 8080),  # the task's own node
                "mesh_forwarded_conn_per_s": (f"/run/netns/{outside}", a.addr, 8080)}  # the other node
        plain = measure(str(b.exec_root / "netns" / srv), str(a.exec_root / "netns" / cli), srv_ip, vip, mesh)
        (ssrv, ssrv_ip), (scli, _) = task("ssrv"), task("scli")
        return plain, measure(str(b.exec_root / "netns" / ssrv), str(a.exec_root / "netns" / scli), ssrv_ip)
    finally:
        cluster.leave_all()
        cluster.close()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client", nargs="+", metavar="HOST WHAT [PORT]", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(PORT)
        return
    if args.client:
        port = int(args.client[2]) if len(args.client) > 2 else PORT
        print(json.dumps(client(args.client[0], port, args.client[1])))
        return
    direct = direct_pair()
    ov, enc = overlay()
    print(f"direct veth pair:  {direct['gbit_s']:.2f} Gbit/s, RTT median {direct['rtt_median_us']:.0f} us "
          f"(p99 {direct['rtt_p99_us']:.0f}), {direct['conn_per_s']:.0f} connections/s")
    print(f"overlay (2 nodes): {ov['gbit_s']:.2f} Gbit/s ({ov['gbit_s'] / direct['gbit_s']:.0%} of direct), "
          f"RTT median {ov['rtt_median_us']:.0f} us (p99 {ov['rtt_p99_us']:.0f}), "
          f"{ov['conn_per_s']:.0f} connections/s to the task, {ov['vip_conn_per_s']:.0f}/s through the VIP")
    print(f"encrypted overlay: {enc['gbit_s']:.2f} Gbit/s ({enc['gbit_s'] / direct['gbit_s']:.0%} of direct), "
          f"RTT median {enc['rtt_median_us']:.0f} us (p99 {enc['rtt_p99_us']:.0f}), "
          f"{enc['conn_per_s']:.0f} connections/s")
    print(f"routing mesh from outside: {ov['mesh_local_conn_per_s']:.0f} connections/s through the task's node, "
          f"{ov['mesh_forwarded_conn_per_s']:.0f}/s through the other node")
    print(json.dumps({"direct": {k: round(v, 2) for k, v in direct.items()},
                      "overlay": {k: round(v, 2) for k, v in ov.items()},
                      "encrypted": {k: round(v, 2) for k, v in enc.items()},
                      "overlay_throughput_ratio": round(ov["gbit_s"] / direct["gbit_s"], 3),
                      "encrypted_throughput_ratio": round(enc["gbit_s"] / direct["gbit_s"], 3)}))


if __name__ == "__main__":
    main()
