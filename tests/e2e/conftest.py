"""Fixtures for end-to-end tests: a real ``shoal daemon`` process, a busybox image, the docker CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.devcluster import DevNode

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "httpd", "sleep", "echo", "cat", "ls", "hostname", "nc", "trap", "true", "false", "id", "ip", "dd",
           "nslookup"]


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
    for line in leftover_mounts(base):
        subprocess.run(["umount", "-l", line.split()[1]], check=False)
    if os.environ.get("SHOAL_E2E_KEEP"):  # debugging: keep the daemons' logs and state
        print(f"kept {base}")
        return
    shutil.rmtree(base, ignore_errors=True)


