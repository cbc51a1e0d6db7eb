"""``shoal daemon``: run a node (like dockerd), serving the Docker Engine API."""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ctypes.util
import io
import logging
import os
import signal
import ssl
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from shoal.api import generic
from shoal.api.types import GenericResource
from shoal.cli.client import kv_map
from shoal.daemon import DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, Daemon, DaemonConfig
from shoal.runtime.process import abandon_queued_work

LAG_WARN = 1.0  # s: an event loop this late is logged (heartbeats, sessions and timers wait that long)


async def watch_loop_lag(interval: float = 0.5) -> None:
    """Log when the event loop stalls (something blocking ran on it). With $SHOAL_LOOP_DEBUG set to a
    number of seconds, asyncio's debug mode also names every callback that ran that long, and where
    the loop was blocked is sampled (``LoopSampler``); $SHOAL_LOOP_SAMPLE: only the latter."""
    loop = asyncio.get_running_loop()
    slow = os.environ.get("SHOAL_LOOP_DEBUG", "")
    if slow:
        loop.set_debug(True)
        loop.slow_callback_duration = float(slow)
        LoopSampler(loop, float(slow)).start()
    elif sample := os.environ.get("SHOAL_LOOP_SAMPLE", ""):  # the sampler alone: debug mode costs much
        LoopSampler(loop, float(sample)).start()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        lag = loop.time() - start - interval
        if lag > LAG_WARN:
            logging.getLogger("shoal").warning("event loop: stalled for %.1f s", lag)


class LoopSampler(threading.Thread):
    """Debugging: while the event loop has not ticked for ``threshold`` s, sample where its thread is
    (every 10 ms), and log the most frequent places every 20 s: what blocks the loop, by line."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float) -> None:
        super().__init__(name="loop-sampler", daemon=True)
        self.loop, self.threshold = loop, threshold
        self.loop_thread = threading.get_ident()
        self.tick = time.monotonic()
        self.samples: collections.Counter[str] = collections.Counter()

    def _ticked(self) -> None:
        self.tick = time.monotonic()
        self.loop.call_later(0.005, self._ticked)

    def run(self) -> None:
        self.loop.call_soon_threadsafe(self._ticked)
        last_report = time.monotonic()
        while True:
            time.sleep(0.01)
            now = time.monotonic()
            if now - self.tick > self.threshold:
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None:
                    stack = traceback.extract_stack(frame)
                    ours = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack
                            if "/shoal/" in f.filename][-3:]
                    self.samples[" < ".join(reversed(ours)) + f" @ {Path(stack[-1].filename).name}:"
                                 f"{stack[-1].lineno} {stack[-1].name}"] += 1
            if now - last_report > 20 and self.samples:
                top = "\n".join(f"{n * 10} ms  {where}" for where, n in self.samples.most_common(25))
                logging.getLogger("shoal").warning("event loop blocked, by place (10 ms samples):\n%s", top)
                self.samples.clear()
                last_report = now


def dump_tasks() -> None:
    """SIGUSR1: log where every asyncio task of the daemon is waiting (for a daemon that seems stuck)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=out)
    logging.getLogger("shoal").warning("asyncio tasks:\n%s", out.getvalue())


M_ARENA_MAX = -8  # glibc's mallopt parameter


def few_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas, as ``MALLOC_ARENA_MAX=2`` would (unless the environment sets it).

    glibc gives each thread that allocates an arena of its own, up to eight per core. The daemon's
    worker threads (netlink, namespaces, mounts, nftables, each task's sandbox) then kept about 40 MB
    more at 100 tasks than the same daemon with two arenas (155 MiB against 94 MiB, bench/
    service_startup.py); the threads only wait on system calls, so sharing arenas costs nothing."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:  # not glibc (musl has no arenas to cap)
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def parse_generic(terms: tuple[str, ...]) -> list[GenericResource]:
    try:
        return generic.parse(terms)
    except generic.GenericResourceError as e:
        raise click.BadParameter(str(e), param_hint="--node-generic-resource") from e


def docker_cert_path() -> Path:
    """Where dockerd looks for ca.pem, cert.pem and key.pem by default: $DOCKER_CERT_PATH, else ~/.docker."""
    return Path(os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker")


def tls_context(verify: bool, cacert: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """dockerd's TLS for its TCP listeners: serve ``cert``/``key``; ``verify`` requires client
    certificates signed by ``cacert``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as e:
        raise click.UsageError(f"could not load X509 key pair ({cert}, {key}): {e}") from e
    if verify:
        try:
            ctx.load_verify_locations(cafile=str(cacert))
        except (OSError, ssl.SSLError) as e:
            raise click.UsageError(f"could not read CA certificate {cacert}: {e}") from e
    ctx.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    return ctx


async def run_daemon(cfg: DaemonConfig, tls: ssl.SSLContext | None = None) -> None:
    from shoal.frontdoor.docker.app import serve
    from shoal.frontdoor.kube.app import make_app as kube_app
    from shoal.frontdoor.kube.server import KubeServer
    from shoal.frontdoor.ui.server import UIServer

    executor = ThreadPoolExecutor(thread_name_prefix="asyncio")  # the loop's default, kept to drop its queue
    asyncio.get_running_loop().set_default_executor(executor)
    d = Daemon(cfg)
    await d.start()
    runner = await serve(d, cfg.hosts, tls)
    kube = KubeServer(d, cfg.kube_addr, kube_app) if cfg.kube_addr else None
    if kube is not None:
        kube.start()  # serves while the node is a manager
    ui = UIServer(d, cfg.ui_addr, node_tls=d.node_tls) if cfg.ui_addr else None
    if ui is not None:
        await ui.start()  # /metrics on every node; the console while the node is a manager
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watchdog = loop.create_task(watch_loop_lag(), name="loop-lag")
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    logging.getLogger("shoal").info("shoal daemon listening on %s", ", ".join(cfg.hosts))
    await stop.wait()
    watchdog.cancel()
    if ui is not None:
        await ui.stop()
    if kube is not None:
        await kube.stop()
    await runner.cleanup()
    await d.stop()
    # The removals cut short at the shutdown deadline leave work queued in the threads: it is dropped,
    # not waited for (asyncio.run would run it all before returning); the next start removes the rest.
    abandon_queued_work()
    executor.shutdown(wait=False, cancel_futures=True)


@click.command("daemon")
@click.option("--data-root", type=click.Path(path_type=Path), default=DEFAULT_DATA_ROOT, show_default=True,
              help="Root directory of persistent state")
@click.option("--exec-root", type=click.Path(path_type=Path), default=DEFAULT_EXEC_ROOT, show_default=True,
              help="Root directory for execution state files")
@click.option("-H", "--host", "hosts", multiple=True, help="Daemon socket(s) to connect to")
@click.option("--runtime", type=click.Choice(["runc", "docker", "process", "hollow"]), default=None,
              help="Runtime for tasks (default: runc when root and installed, else process; docker runs them as "
                   "containers of a local dockerd; hollow runs nothing)")
@click.option("--docker-host", default="unix:///var/run/docker.sock", show_default=True,
              help="The dockerd that runs the tasks with --runtime docker")
@click.option("--label", "labels", multiple=True, help="Set key=value labels to the daemon (engine labels)")
@click.option("--hostname", default="", help="Node hostname to report (default: the machine's)")
@click.option("--cpus", type=int, default=0, help="CPUs to report as the node's capacity")
@click.option("--memory", type=int, default=0, help="Memory bytes to report as the node's capacity")
@click.option("--node-generic-resource", "generic_resources", multiple=True,
              help="Advertise user-defined resources (gpu=4 is a count; gpu=UUID1 --node-generic-resource gpu=UUID2 "
                   "names each one)")
@click.option("--insecure-registry", "insecure", multiple=True,
              help="Enable insecure registry communication (plain HTTP; loopback registries always are)")
@click.option("--block-registry", "blocked", multiple=True,
              help="Never contact this registry (\"all\": every registry not on loopback; "
                   "default: $SHOAL_BLOCK_REGISTRY, comma-separated)")
@click.option("--dns", "dns", multiple=True,
              help="DNS server to use (for the names tasks ask that are not the swarm's; default: $SHOAL_DNS, "
                   "comma-separated or \"none\", else the host's /etc/resolv.conf)")
@click.option("--bip", default="", help="Specify network bridge IP (the default bridge of tasks without networks; "
                                         "default: $SHOAL_BIP, else the first free of 172.17-31.0.1/16)")
@click.option("--kube-addr", default="0.0.0.0:6443", show_default=True,
              help="Where a manager serves the Kubernetes API (HTTPS); empty: nowhere")
@click.option("--service-cluster-ip-range", "service_cidr", default="",
              help="The Kubernetes Services' address range of a swarm this daemon inits (default: 172.16.0.0/16; "
                   "apart from the Swarm address pools)")
@click.option("--service-node-port-range", "node_ports", default="",
              help="The Kubernetes NodePort range of a swarm this daemon inits (default: 30000-32767)")
@click.option("--cluster-cidr", "cluster_cidr", default="",
              help="The Kubernetes pod range of a swarm this daemon inits (default: $SHOAL_CLUSTER_CIDR, else "
                   "100.64.0.0/16; apart from the Swarm address pools)")
@click.option("--node-cidr-mask-size", "node_cidr_mask_size", type=int, default=0,
              help="The size of each node's block of the pod range (default: 24)")
@click.option("--cluster-domain", "cluster_domain", default="",
              help="The Kubernetes cluster domain of a swarm this daemon inits (default: cluster.local)")
@click.option("--cluster-dns", "cluster_dns", default="",
              help="The cluster DNS address (default: the service range's tenth address)")
@click.option("--service-lb-pool", "service_lb_pool", default="",
              help="LoadBalancer Services' external addresses, a CIDR or A-B (default: $SHOAL_SERVICE_LB_POOL, "
                   "else the nodes' own addresses)")
@click.option("--ui-addr", "ui_addr", default="127.0.0.1:9090", show_default=True,
              help="Where the web console and /metrics are served (plain HTTP on loopback; elsewhere HTTPS "
                   "with the cluster's CA and a login token from `shoal ui-token`); empty: nowhere")
@click.option("--tls", is_flag=True, help="Use TLS; implied by --tlsverify")
@click.option("--tlsverify", is_flag=True, help="Use TLS and verify the remote")
@click.option("--tlscacert", type=click.Path(path_type=Path), default=None,
              help="Trust certs signed only by this CA (default: $DOCKER_CERT_PATH/ca.pem, else ~/.docker/ca.pem)")
@click.option("--tlscert", type=click.Path(path_type=Path), default=None,
              help="Path to TLS certificate file (default: $DOCKER_CERT_PATH/cert.pem, else ~/.docker/cert.pem)")
@click.option("--tlskey", type=click.Path(path_type=Path), default=None,
              help="Path to TLS key file (default: $DOCKER_CERT_PATH/key.pem, else ~/.docker/key.pem)")
@click.option("-D", "--debug", is_flag=True, help="Enable debug mode")
def daemon(data_root: Path, exec_root: Path, hosts: tuple[str, ...], runtime: str | None, docker_host: str,
           labels: tuple[str, ...], hostname: str, cpus: int, memory: int, generic_resources: tuple[str, ...],
           insecure: tuple[str, ...], blocked: tuple[str, ...], dns: tuple[str, ...], bip: str,
           kube_addr: str, service_cidr: str, node_ports: str, cluster_cidr: str, node_cidr_mask_size: int,
           cluster_domain: str, cluster_dns: str, service_lb_pool: str, ui_addr: str, tls: bool, tlsverify: bool,
           tlscacert: Path | None, tlscert: Path | None, tlskey: Path | None, debug: bool) -> None:
    """A self-sufficient runtime for containers, in swarm mode."""
    few_malloc_arenas()  # before any thread starts
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = DaemonConfig(
        data_root=data_root, exec_root=exec_root,
        hosts=list(hosts) or [f"unix://{exec_root}/shoal.sock"], runtime=runtime or "", docker_host=docker_host,
        hostname=hostname, labels=kv_map(labels), cpus=cpus, memory=memory,
        generic_resources=parse_generic(generic_resources),
        insecure_registries=list(insecure), dns=list(dns), bip=bip, kube_addr=kube_addr,
        service_cluster_ip_range=service_cidr, service_node_port_range=node_ports,
    )
    cfg.cluster_cidr = cluster_cidr or cfg.cluster_cidr
    cfg.service_lb_pool = service_lb_pool or cfg.service_lb_pool
    cfg.ui_addr = ui_addr
    cfg.node_cidr_mask_size, cfg.cluster_domain, cfg.cluster_dns = node_cidr_mask_size, cluster_domain, cluster_dns
    if blocked:
        cfg.block_registries = [*cfg.block_registries, *blocked]
    certs = docker_cert_path()
    tls_ctx = tls_context(tlsverify, tlscacert or certs / "ca.pem", tlscert or certs / "cert.pem",
                          tlskey or certs / "key.pem") if tls or tlsverify else None
    asyncio.run(run_daemon(cfg, tls_ctx))
