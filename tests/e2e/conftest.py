"""Fixtures for end-to-end tests: a real ``shoal daemon`` process, a busybox image, the docker CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shoal.devcluster import DevCluster, DevNode, remove_leftover_containers
from tests.support import free_port

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "httpd", "sleep", "echo", "cat", "ls", "hostname", "nc", "trap", "true", "false", "id", "ip", "dd",
           "nslookup", "date"]


def make_rootfs(root: Path) -> Path:
    """A tiny root filesystem: busybox-static, its applets, and a web page."""
    (root / "bin").mkdir(parents=True)
    (root / "www").mkdir()
    (root / "etc").mkdir()
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for a in APPLETS:
        (root / "bin" / a).symlink_to("busybox")
    (root / "www" / "index.html").write_text("hello from shoal\n")
    (root / "www" / "cgi-bin").mkdir()
    cgi = root / "www" / "cgi-bin" / "host"  # which task answered: its hostname
    cgi.write_text("#!/bin/sh\necho Content-Type: text/plain\necho\necho served-by-$(hostname)\n")
    cgi.chmod(0o755)
    addr = root / "www" / "cgi-bin" / "addr"  # where the request came from, as the task saw it
    addr.write_text("#!/bin/sh\necho Content-Type: text/plain\necho\necho from-$REMOTE_ADDR\n")
    addr.chmod(0o755)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return root


ShoalDaemon = DevNode  # one daemon on the host: the single-node tests


def start_daemon(base: Path, runtime: str, extra: list[str] | None = None) -> DevNode:
    return DevNode(base.name, base, runtime, extra=list(extra or [])).start()


def stop_daemon(d: DevNode, timeout: float = 30) -> None:
    d.stop(timeout)


def mounts_under(path: Path) -> list[str]:
    """The mount points at or below ``path``, deepest last mounted first (the order to unmount them)."""
    p = str(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [m for m in reversed(points) if m == p or m.startswith(p + "/")]


def leftover_mounts(path: Path) -> list[str]:
    with open("/proc/mounts") as f:
        return [line for line in f if str(path) in line]


@pytest.fixture(scope="module")
def e2e_base() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("end-to-end tests need root")
    if not shutil.which("docker") or not os.path.exists(BUSYBOX):
        pytest.skip("needs the docker CLI and busybox-static")
    base = Path(tempfile.mkdtemp(prefix="shoal-e2e-", dir="/tmp"))
    yield base
    # Containers a daemon left when it stopped (its shutdown deadline, a kill): their processes go too.
    remove_leftover_containers(*base.glob("*/run/runc"), *base.glob("*/*/run/runc"))
    for line in leftover_mounts(base):
        subprocess.run(["umount", "-l", line.split()[1]], check=False)
    if os.environ.get("SHOAL_E2E_KEEP"):  # debugging: keep the daemons' logs and state
        print(f"kept {base}")
        return
    shutil.rmtree(base, ignore_errors=True)


WEB_CMD = 'CMD ["httpd","-f","-p","80","-h","/www"]'


def rootfs_tar(base: Path) -> bytes:
    """``make_rootfs`` under ``base`` (made once), as a tar for ``docker import``."""
    root = base / "rootfs"
    if not root.exists():
        make_rootfs(root)
    return subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout


@contextmanager
def web_swarm(base: Path, runtime: str = "runc", extra: list[str] | None = None) -> Iterator[DevNode]:
    """A single-node swarm (on a free swarm port) with the busybox web image as ``web:latest``;
    ``extra``: more flags for its daemon."""
    d = start_daemon(base, runtime, extra)
    try:
        d.docker("import", "-c", WEB_CMD, "-", "web:latest", input=rootfs_tar(base.parent))
        d.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
        yield d
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)


@contextmanager
def web_pair(base: Path, names: tuple[str, str], env: dict[str, str] | None = None
             ) -> Iterator[tuple[DevCluster, DevNode, DevNode]]:
    """Two nodes in namespaces of their own on a bridge (runc), the first one the manager, each with
    ``web:latest``."""
    c = DevCluster(base, "runc")
    try:
        a, b = c.add(names[0], env=env), c.add(names[1], env=env)
        tar = rootfs_tar(base)
        for d in (a, b):
            d.docker("import", "-c", WEB_CMD, "-", "web:latest", input=tar)
        a.docker("swarm", "init", "--advertise-addr", a.addr)
        token = a.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        b.docker("swarm", "join", "--token", token, f"{a.addr}:2377")
        yield c, a, b
    finally:
        c.leave_all()
        c.close()
