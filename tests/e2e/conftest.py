"""Fixtures for end-to-end tests: a real ``shoal daemon`` process, a busybox image, the docker CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "httpd", "sleep", "echo", "cat", "ls", "hostname", "nc", "trap", "true", "false", "id", "ip"]


def make_rootfs(root: Path) -> Path:
    """A tiny root filesystem: busybox-static, its applets, and a web page."""
    (root / "bin").mkdir(parents=True)
    (root / "www").mkdir()
    (root / "etc").mkdir()
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for a in APPLETS:
        (root / "bin" / a).symlink_to("busybox")
    (root / "www" / "index.html").write_text("hello from shoal\n")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return root


@dataclass
class ShoalDaemon:
    sock: str
    data_root: Path
    exec_root: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_CONFIG"] = str(self.data_root.parent / "docker-config")
        return env

    def docker(self, *args: str, input: bytes | None = None, check: bool = True,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        raw = subprocess.run(["docker", *args], input=input, capture_output=True, env=self.env(), timeout=timeout)
        r = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(errors="replace"),
                                        raw.stderr.decode(errors="replace"))
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r


def start_daemon(base: Path, runtime: str, extra: list[str] | None = None) -> ShoalDaemon:
    data_root, exec_root = base / "data", base / "run"
    sock = str(exec_root / "shoal.sock")
    log = base / "daemon.log"
    base.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shoal.cli.main", "daemon", "--data-root", str(data_root), "--exec-root",
         str(exec_root), "--runtime", runtime, "-H", f"unix://{sock}", *(extra or [])],
        stdout=out, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(sock):
            r = subprocess.run(["curl", "-sf", "--unix-socket", sock, "http://x/_ping"], capture_output=True)
            if r.returncode == 0:
                break
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited: {log.read_text()}")
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"daemon did not start: {log.read_text()}")
    return ShoalDaemon(sock, data_root, exec_root, proc, log)


def stop_daemon(d: ShoalDaemon, timeout: float = 30) -> None:
    if d.proc.poll() is None:
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait()


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


