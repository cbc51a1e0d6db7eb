"""The web console's page against a ``shoal sim`` cluster: 5,000 hollow nodes and 100,000 tasks (by
default), the console served by its manager (``shoal sim --ui-addr``), the page opened in headless
Chromium (Debian's, driven by Playwright).

Prints, for the first load of the page:

- ``first_render_ms``: from navigation start to the first cards painted (the page's own
  ``performance.mark("shoal-first-render")``, set in the frame after the first column's cards are drawn);
- ``js_heap_used_mb``: the page's JavaScript heap (CDP ``Performance.getMetrics`` ``JSHeapUsedSize``),
  and ``dom_nodes`` (its ``Nodes`` metric);
- ``json_kb``/``fetches``: the JSON the page fetched to get there (the page counts what it reads), and
  the size of each kind of request (``/api/nodes``, ``/api/tasks``, ``/api/summary``);
- ``scroll_ms``: a jump to the 2,500th column, until its heads and cards are drawn;
- ``live_ms``: a service scaled (100 more tasks), until the summary bar shows them (one notice on
  /api/stream, then the refetch of what is in view);
- the baseline, in the same run: ``docker node ls`` and ``docker service ls`` with the real docker CLI
  against the same cluster (what shows the nodes and services without a console).

    python3 bench/console_page.py [--nodes 5000] [--services 20] [--replicas 5000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import docker
from docker.types import ServiceMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import ARGS, CHROMIUM  # noqa: E402
from tests.support import free_port  # noqa: E402


def start_sim(nodes: int, sock: Path, ui_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "shoal.cli.main", "sim", "-q", "--nodes", str(nodes), "-H", f"unix://{sock}",
           "--ui-addr", f"127.0.0.1:{ui_port}"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def wait_for(pred: Any, timeout: float, what: str, period: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = pred()
        except Exception:
            got = None
        if got:
            return got
        time.sleep(period)
    raise SystemExit(f"timed out waiting for {what}")


def running(client: docker.DockerClient) -> tuple[int, int]:
    """Running and wanted tasks over every service (the Docker API's ``status=true``)."""
    services = client.api.services(status=True)
    return (sum(s.get("ServiceStatus", {}).get("RunningTasks", 0) for s in services),
            sum(s.get("ServiceStatus", {}).get("DesiredTasks", 0) for s in services))


def probe_console(base: str) -> str:
    """"" when the console answers; else why not (its message: no console core yet, not a manager)."""
    try:
        with urllib.request.urlopen(base + "/api/summary", timeout=60) as r:
            r.read()
        return ""
    except urllib.error.HTTPError as e:
        return f"{e.code}: {e.read().decode(errors='replace').strip()}"
    except OSError as e:
        return str(e)


async def measure_page(url: str, nodes: int, client: docker.DockerClient) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    out: dict[str, Any] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sizes: dict[str, list[int]] = {}

        async def on_response(resp: Any) -> None:
            path = resp.url.split("?")[0].split("://", 1)[1].partition("/")[2]
            if path.startswith("api/") and path != "api/stream":
                try:
                    body = await resp.body()
                except Exception:
                    return
                key = "/" + "/".join(path.split("/")[:2])
                sizes.setdefault(key, []).append(len(body))

        page.on("response", lambda r: asyncio.ensure_future(on_response(r)))
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        await page.goto(url)
        await page.wait_for_selector("body[data-rendered='1']", timeout=120_000)
        out["first_render_ms"] = round(await page.evaluate(
            "performance.getEntriesByName('shoal-first-render')[0].startTime"), 1)
        out["cards_in_dom"] = await page.locator(".card").count()
        out["columns_in_dom"] = await page.locator(".col").count()
        stats = await page.evaluate("window.shoalStats")
        out["fetches"], out["json_kb"] = stats["fetches"], round(stats["bytes"] / 1024, 1)
        metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
        out["js_heap_used_mb"] = round(metrics["JSHeapUsedSize"] / 2**20, 2)
        out["dom_nodes"] = int(metrics["Nodes"])
        out["by_route_kb"] = {k: round(sum(v) / 1024, 1) for k, v in sorted(sizes.items())}

        # a jump far right: the columns there are fetched and drawn, the others are gone
        target = nodes // 2
        t0 = time.monotonic()
        await page.evaluate(f"document.getElementById('columns').scrollLeft = {target} * 272")
        there = ("() => { const cols = [...document.querySelectorAll('.col:not(.pending)')];"
                 f" return cols.every(c => Number(c.dataset.index) > {target - 5})"
                 " && cols.some(c => c.querySelector('.card')); }")
        await page.wait_for_function(there, timeout=60_000)
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.col-head h3')].every(h => h.textContent !== '…')", timeout=60_000)
        out["scroll_ms"] = round((time.monotonic() - t0) * 1000, 1)
        out["columns_in_dom_after_scroll"] = await page.locator(".col").count()
        out["cards_in_dom_after_scroll"] = await page.locator(".card").count()

        # live: 100 more tasks; the counts move without a reload
        before = await page.evaluate("window.shoalStats.fetches")
        svc = client.services.list()[0]
        wanted = svc.attrs["Spec"]["Mode"]["Replicated"]["Replicas"] + 100
        tasks_before = int((await page.locator("#summary [data-count=tasks] b").inner_text()).replace(",", ""))
        t0 = time.monotonic()
        svc.scale(wanted)
        await page.wait_for_function(
            f"() => Number(document.querySelector('#summary [data-count=tasks] b').textContent.replace(/,/g, ''))"
            f" >= {tasks_before + 100}", timeout=120_000)
        out["live_ms"] = round((time.monotonic() - t0) * 1000, 1)
        out["fetches_for_live"] = await page.evaluate("window.shoalStats.fetches") - before
        metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
        out["js_heap_used_mb_end"] = round(metrics["JSHeapUsedSize"] / 2**20, 2)
        if errors:
            out["page_errors"] = errors
        await browser.close()
    return out


def cli_baseline(sock: Path, runs: int = 3) -> dict[str, float]:
    """The baseline in the same run: what the real docker CLI takes to show the same cluster without a
    console (``docker node ls``, ``docker service ls``; the median of ``runs``), in ms."""
    out: dict[str, float] = {}
    if not shutil.which("docker"):
        return out
    for what in (("node", "ls"), ("service", "ls")):
        times = []
        for _ in range(runs):
            t = time.monotonic()
            subprocess.run(["docker", "-H", f"unix://{sock}", *what], capture_output=True, check=True)
            times.append((time.monotonic() - t) * 1000)
        out[f"baseline_docker_{'_'.join(what)}_ms"] = round(sorted(times)[len(times) // 2], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--replicas", type=int, default=5000, help="per service")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="shoal-console-bench-"))
    sock, port = scratch / "sim.sock", free_port()
    proc = start_sim(args.nodes, sock, port, scratch / "sim.log")
    result: dict[str, Any] = {"nodes": args.nodes, "tasks": args.services * args.replicas}
    try:
        t0 = time.monotonic()
        client = wait_for(lambda: sock.exists() and docker.DockerClient(base_url=f"unix://{sock}").ping()
                          and docker.DockerClient(base_url=f"unix://{sock}"), 600, "the sim's Docker API")
        result["seconds_to_nodes"] = round(time.monotonic() - t0, 1)
        for i in range(args.services):
            client.services.create("busybox", name=f"svc{i:03d}",
                                   mode=ServiceMode("replicated", replicas=args.replicas))
        total = args.services * args.replicas
        wait_for(lambda: running(client)[0] >= total, 1800, f"{total} tasks running", period=2.0)
        result["seconds_to_running"] = round(time.monotonic() - t0, 1)
        probe = probe_console(f"http://127.0.0.1:{port}")
        if probe:
            result["console"] = probe
        else:
            result.update(asyncio.run(measure_page(f"http://127.0.0.1:{port}/", args.nodes, client)))
            result.update(cli_baseline(sock))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
