"""``shoal sim``: run a manager with N hollow nodes (serving the Docker API, and the Kubernetes API with
``--kube-addr``), or benchmark one; both show their progress on stderr (``simprogress``) unless ``-q``."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Mapping
from typing import Any

import click

from shoal import sim as simulation
from shoal.cli.daemon_cmd import few_malloc_arenas, parse_generic
from shoal.cli.simprogress import ticking


@click.group("sim", invoke_without_command=True)
@click.option("--nodes", type=int, default=10, show_default=True, help="Number of nodes (the manager included)")
@click.option("--labels", default="", help='Node labels, e.g. "zone=a,b,c;rack=1-20" (round robin)')
@click.option("--cpus", type=int, default=16, show_default=True, help="CPUs of each hollow node")
@click.option("--memory", default="64G", show_default=True, help="Memory of each hollow node")
@click.option("--node-generic-resource", "generic_resources", multiple=True,
              help="Generic resources of each hollow node (gpu=4, or gpu=UUID1 given once per name)")
@click.option("--start-delay", type=float, default=0.0, help="Seconds a hollow task takes to start")
@click.option("-H", "--host", "hosts", multiple=True, default=["unix:///run/shoal/sim.sock"], show_default=True,
              help="Socket(s) to serve the Docker API on")
@click.option("--kube-addr", default="", help="Serve the Kubernetes API (HTTPS) on HOST:PORT too; empty: nowhere")
@click.option("--ui-addr", default="", help="Serve the web console and /metrics on HOST:PORT too; empty: nowhere")
@click.option("-q", "--quiet", is_flag=True, help="No progress line (nodes up, tasks running) on stderr")
@click.pass_context
def sim(ctx: click.Context, nodes: int, labels: str, cpus: int, memory: str, generic_resources: tuple[str, ...],
        start_delay: float, hosts: tuple[str, ...], kube_addr: str, ui_addr: str, quiet: bool) -> None:
    """A simulated cluster of hollow nodes in one process; drive it with docker or shoal."""
    if ctx.invoked_subcommand is not None:
        return
    few_malloc_arenas()  # as the daemon: memory freed by big responses goes back, not to an arena each
    generic = parse_generic(generic_resources)

    async def run() -> None:
        from shoal.frontdoor.docker.app import serve
        from shoal.frontdoor.kube.app import make_app as kube_app
        from shoal.frontdoor.kube.server import KubeServer
        from shoal.frontdoor.ui.server import UIServer

        reached = simulation.Reached()
        async with ticking(reached, quiet) as ticker:
            s = await simulation.start(nodes, labels, cpus, simulation.parse_bytes(memory), start_delay,
                                       generic=generic, kube_addr=kube_addr, reached=reached)
            unfollow = simulation.follow_tasks(s, reached)
            runner = await serve(s.daemon, list(hosts))
            kube = KubeServer(s.daemon, kube_addr, kube_app) if kube_addr else None
            if kube is not None:
                kube.start()
                await kube.serving.wait()
            ui = UIServer(s.daemon, ui_addr) if ui_addr else None
            if ui is not None:
                await ui.start()
            served = f"; Kubernetes API on https://{kube_addr}" if kube_addr else ""
            served += f"; console on {ui.url}" if ui is not None and ui.mode else ""
            if ticker is not None:
                ticker.clear()
            click.echo(f"shoal sim: {nodes} nodes; Docker API on {', '.join(hosts)}{served}")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            unfollow()
        if ui is not None:
            await ui.stop()
        if kube is not None:
            await kube.stop()
        await runner.cleanup()
        await s.stop()

    asyncio.run(run())


@sim.command("bench")
@click.option("--nodes", type=int, default=5000, show_default=True)
@click.option("--services", type=int, default=1, show_default=True)
@click.option("--replicas", type=int, default=1000, show_default=True)
@click.option("--scheduler-only", is_flag=True, help="Stop at every task assigned (no agents)")
@click.option("--start-delay", type=float, default=0.0, help="Seconds a hollow task takes to start")
@click.option("--kube-load", is_flag=True,
              help="Kubernetes' load test instead: Deployments of 250, 30 and 5 replicas, 30 Pods a node")
@click.option("--deployments", type=int, default=0,
              help="Kubernetes instead: this many Deployments of --replicas each")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line")
@click.option("-q", "--quiet", is_flag=True, help="No progress line (nodes up, tasks running, rate) on stderr")
def bench(nodes: int, services: int, replicas: int, scheduler_only: bool, start_delay: float, kube_load: bool,
          deployments: int, as_json: bool, quiet: bool) -> None:
    """Create SERVICES x REPLICAS tasks on NODES hollow nodes; time them to assigned and running. With
    --kube-load or --deployments, Kubernetes Deployments made as the Kubernetes API makes them, timed
    until every Pod runs (with the Pods' start-up latency)."""
    reached = simulation.Reached()

    async def run() -> dict[str, Any]:
        async with ticking(reached, quiet):
            if kube_load or deployments:
                groups = simulation.load_mix(nodes) if kube_load else simulation.uniform_mix(deployments, replicas)
                return await simulation.bench_kube(nodes, groups, kube_to_core, start_delay=start_delay,
                                                   reached=reached)
            return await simulation.bench(nodes, services, replicas, scheduler_only=scheduler_only,
                                          start_delay=start_delay, reached=reached)

    result = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(result))
    else:
        for k, v in result.items():
            click.echo(f"{k}: {v}")


def kube_to_core(resource: str, obj: Mapping[str, Any], namespace: str) -> Any:
    """The Kubernetes door's conversion (defaults and validation) of an object it is sent."""
    from shoal.frontdoor.kube import convert
    return convert.to_core(resource, obj, namespace=namespace)
