"""``docker run -d`` of a local busybox image, to running: shoal against Docker 20.10, side by side.

Both daemons get the same busybox root filesystem with ``docker import`` (no registry anywhere) and
run it by name (``--pull missing``, the default: a local image is never pulled). Each run is timed
from the CLI's start to the container's ``State.Running`` (the CLI returns after ``start``; the
inspect confirms), then the container is removed; the runs alternate between the daemons so that
load on the machine hits both alike. Prints each daemon's median and best, and the ratio.

- shoal: a ``shoal daemon`` with the runc runtime, in a namespace of its own (``DevCluster``), this
  checkout's ``src`` on its ``PYTHONPATH``;
- docker (``--docker``, on by default when ``dockerd`` is installed and we are root): Debian's dockerd
  20.10 with its own containerd and runc, started as the e2e tests start theirs
  (``tests/e2e/dockerd.py``: own data root, exec root, socket and namespace), with a default bridge
  in the test pool.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(ROOT))  # tests.e2e.dockerd

from tests.e2e.dockerd import DOCKERD, Dockerd  # noqa: E402

from shoal.devcluster import DevCluster  # noqa: E402

DOCKER_NETWORK = ["--bip", "10.213.125.1/24", "--default-address-pool", "base=10.213.126.0/23,size=24"]


class Contestant:
    def __init__(self, name: str, host: str, config_dir: Path) -> None:
        self.name = name
        self.env = dict(os.environ, DOCKER_HOST=host, DOCKER_CONFIG=str(config_dir))
        self.env.pop("DOCKER_CONTEXT", None)
        self.times: list[float] = []

    def docker(self, *args: str, input: bytes | None = None) -> str:
        r = subprocess.run(["docker", *args], input=input, capture_output=True, env=self.env, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
        return r.stdout.decode().strip()

    def run_once(self) -> float:
        t0 = time.monotonic()
        cid = self.docker("run", "-d", "bench-busybox", "sleep", "300")
        while json.loads(self.docker("inspect", "--format", "{{json .State.Running}}", cid)) is not True:
            time.sleep(0.005)
        elapsed = time.monotonic() - t0
        self.docker("rm", "-f", cid)
        self.times.append(elapsed)
        return elapsed


def rootfs_tar(base: Path) -> bytes:
    root = base / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for a in ("sh", "sleep"):
        (root / "bin" / a).symlink_to("busybox")
    return subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--docker", action=argparse.BooleanOptionalAction,
                    default=bool(DOCKERD) and os.geteuid() == 0)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="shoal-bench-run-", dir="/tmp"))
    config_dir = base / "docker-config"
    config_dir.mkdir()
    tar = rootfs_tar(base)
    cluster = DevCluster(base / "shoal", "runc")
    dockerd: Dockerd | None = None
    try:
        node = cluster.add("shoal", env={"PYTHONPATH": str(SRC)})
        contestants = [Contestant("shoal", node.host, config_dir)]
        if args.docker:
            dockerd = Dockerd(base / "docker", network=DOCKER_NETWORK)
            dockerd.start()
            contestants.append(Contestant("docker", dockerd.host, config_dir))
        for c in contestants:
            c.docker("import", "-", "bench-busybox:latest", input=tar)
            c.run_once()  # a first run apart (caches, the bridge made)
            c.times.clear()
        for _ in range(args.runs):
            for c in contestants:
                c.run_once()
        for c in contestants:
            print(f"{c.name:7s} docker run -d to running: median {statistics.median(c.times) * 1000:6.0f} ms, "
                  f"best {min(c.times) * 1000:6.0f} ms ({len(c.times)} runs)")
        if len(contestants) == 2:
            ratio = statistics.median(contestants[1].times) / statistics.median(contestants[0].times)
            print(f"shoal is {ratio:.1f} times as fast as docker (medians)")
    finally:
        if dockerd is not None:
            dockerd.stop()
        cluster.leave_all()
        cluster.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
