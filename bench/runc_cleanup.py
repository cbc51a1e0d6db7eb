"""How long the runc runtime's ``cleanup`` takes after a crash with N containers left behind (root, runc).

    PYTHONPATH=$PWD/src:$PWD python3 bench/runc_cleanup.py [N]

A first process starts N ``sleep`` containers and removes them (the time in their teardowns). A
second starts N ``sleep`` containers (each in a sandbox of the node's network, as the agent
runs them) and dies without removing them (``os._exit``, as a ``kill -9``); a third, on the same data
and exec roots, times ``RuncRuntime.cleanup`` (runc's ``delete --force`` of each, the mounts, the
bundles, the files tmpfs and the cgroups), then removes the sandboxes. Everything is removed at the end.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import mounts_under
from tests.e2e.test_runc import RuncRuntime, _rootfs_tar, sh

from shoal.runtime.images import ImageStore
from shoal.runtime.runc import RuncRuntime as Runc

CGROUPS = Path("/sys/fs/cgroup")


def images(root: Path) -> ImageStore:
    store = ImageStore(root / "images")
    if store.resolve("busy:latest") is None:
        store.import_tar(io.BytesIO(_rootfs_tar()), repo="busy", tag="latest")
    return store


async def start(rt: RuncRuntime, n: int) -> list[str]:
    t0 = time.monotonic()
    sem = asyncio.Semaphore(8)
    ids: list[str] = []

    async def one() -> None:
        async with sem:
            task = sh("sleep 100000")
            await rt.prepare(task)
            await rt.start(task)
            ids.append(task.ID)

    await asyncio.gather(*(one() for _ in range(n)))
    print(f"started {n} containers in {time.monotonic() - t0:.1f} s", flush=True)
    return ids


async def remove(root: Path, n: int) -> None:
    """Start ``n``, then remove them all (8 at a time); the time spent in the teardowns."""
    rt = RuncRuntime(root / "data", root / "exec", images(root))
    ids = await start(rt, n)
    spent = 0.0
    teardown = rt._teardown

    async def timed(task_id: str) -> None:
        nonlocal spent
        t = time.monotonic()
        await teardown(task_id)
        spent += time.monotonic() - t

    rt._teardown = timed  # type: ignore[method-assign]
    sem = asyncio.Semaphore(8)

    stopping = removing = 0.0

    async def one(task_id: str) -> None:
        nonlocal stopping, removing
        async with sem:
            t = time.monotonic()
            await rt.stop(task_id, "KILL", 10)
            stopping += time.monotonic() - t
            t = time.monotonic()
            await rt.remove(task_id)
            removing += time.monotonic() - t

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in ids))
    print(f"stopped and removed {n} containers in {time.monotonic() - t0:.1f} s, "
          f"each: stop {stopping / max(n, 1) * 1000:.1f} ms, remove {removing / max(n, 1) * 1000:.1f} ms "
          f"(of which teardown {spent / max(n, 1) * 1000:.1f} ms)", flush=True)


async def make(root: Path, n: int) -> None:
    rt = RuncRuntime(root / "data", root / "exec", images(root))
    await start(rt, n)
    os._exit(0)  # as a kill -9: nothing removed


async def clean(root: Path, _n: int = 0) -> None:
    rt = RuncRuntime(root / "data", root / "exec", images(root))
    lines = sum(1 for _ in open("/proc/self/mountinfo"))
    ids = [p.name for p in rt.containers_dir.iterdir()]
    t0 = time.monotonic()
    await Runc.cleanup(rt)
    t1 = time.monotonic()
    _, listed = await rt._runc("list", "-q", check=False)
    left = [*listed.split(), *(str(p) for p in rt.containers_dir.iterdir()),
            *(str(p) for p in (rt.files_dir.iterdir() if rt.files_dir.exists() else ())),
            *(i for i in ids if (CGROUPS / "pids" / "shoal" / i).exists() or (CGROUPS / "shoal" / i).exists())]
    # The sandboxes only: the node-wide egress table and bridges may be another daemon's on this machine.
    for p in sorted(rt.network.netns_dir.iterdir()):
        await rt.network.remove_sandbox(p.name)
    t2 = time.monotonic()
    print(f"mountinfo lines before: {lines}; runtime cleanup {t1 - t0:.1f} s (left: {len(left)}), "
          f"sandboxes removed {t2 - t1:.1f} s", flush=True)


def main() -> None:
    if len(sys.argv) > 2:
        phase = {"remove": remove, "make": make, "clean": clean}[sys.argv[1]]
        asyncio.run(phase(Path(sys.argv[2]), int(sys.argv[3] or 0)))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    root = Path(tempfile.mkdtemp(prefix="shoal-bench-", dir="/run"))
    try:
        subprocess.run([sys.executable, __file__, "remove", str(root), str(n)], check=True)
        subprocess.run([sys.executable, __file__, "make", str(root), str(n)], check=True)
        subprocess.run([sys.executable, __file__, "clean", str(root), "0"], check=True)
        print(f"mounts left: {mounts_under(root)}")
    finally:
        for m in mounts_under(root):
            subprocess.run(["umount", "-l", m], check=False)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
