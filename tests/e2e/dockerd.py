"""A throwaway dockerd for the docker runtime's end-to-end tests, which never touches the host's.

``Dockerd(base).start()`` creates a network namespace ``shoal-dk-<pid>`` (loopback up) and runs
Debian's dockerd in it (``nsenter --net``: only the network namespace, so cgroups and mounts are the
host's) with everything of its own under ``base``: data root, exec root (where it starts its managed
containerd), pid file, the API socket ``base/docker.sock``; no bridge, no iptables; containers'
cgroups under ``shoal-test-<pid>`` and containerd's namespace ``shoal-test-<pid>``. ``stop()``
undoes it all whatever state it is in: dockerd by its PID (SIGTERM, then SIGKILL), then any process
still running from under ``base`` (containerd, shims) or in its cgroups, the cgroups, every mount
under ``base``, the namespace, and the empty directories dockerd and containerd made in ``/run``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOCKERD = shutil.which("dockerd")
# The tests' dockerd: no bridge, no iptables, nothing that needs an address.
NO_NETWORK = ["--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false"]
RUN_DIRS = [Path("/run/docker/plugins"), Path("/run/docker"), Path("/run/containerd/s"), Path("/run/containerd")]


class Dockerd:
    def __init__(self, base: Path, network: list[str] | None = None) -> None:
        self.base = base
        self.network = NO_NETWORK if network is None else network
        self.tag = str(os.getpid())
        self.netns = f"shoal-dk-{self.tag}"
        self.cgroup_parent = f"shoal-test-{self.tag}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._run_dirs_before = [d for d in RUN_DIRS if d.exists()]

    @property
    def sock(self) -> Path:
        return self.base / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def log(self) -> Path:
        return self.base / "dockerd.log"

    def ping(self) -> bool:
        r = subprocess.run(["curl", "-sf", "--unix-socket", str(self.sock), "http://x/_ping"], capture_output=True)
        return r.returncode == 0 and r.stdout == b"OK"

    def start(self, timeout: float = 60) -> Dockerd:
        assert DOCKERD is not None
        self.base.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        cmd = ["nsenter", f"--net=/run/netns/{self.netns}", DOCKERD,
               "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "exec"),
               "--pidfile", str(self.base / "docker.pid"), "-H", self.host,
               *self.network, "--containerd-namespace", self.cgroup_parent,
               "--containerd-plugins-namespace", self.cgroup_parent + "-plugins",
               "--cgroup-parent", self.cgroup_parent, "--storage-driver", "overlay2"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.exists() and self.ping():
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"dockerd exited: {self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"dockerd did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self._leftover_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._remove_cgroups()
        self._unmount_all()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        for d in RUN_DIRS:
            if d not in self._run_dirs_before:
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if empty: never what another dockerd keeps there

    def cgroups(self) -> list[Path]:
        """Every cgroup directory of this dockerd's containers (the memory hierarchy may nest it)."""
        found = []
        for root, dirs, _ in os.walk("/sys/fs/cgroup"):
            if Path(root).name == self.cgroup_parent:
                found.append(Path(root))
                dirs[:] = []
            elif root.count("/") > 7:
                dirs[:] = []
        return found

    def _leftover_pids(self) -> list[int]:
        """Processes started from this dockerd's directories (containerd, shims) or in its cgroups."""
        pids: set[int] = set()
        marker = str(self.base).encode()
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if marker in (p / "cmdline").read_bytes():
                    pids.add(int(p.name))
        for cg in self.cgroups():
            for procs in cg.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(x) for x in procs.read_text().split())
        pids.discard(os.getpid())
        return sorted(pids)

    def _remove_cgroups(self) -> None:
        for _ in range(20):
            left = self.cgroups()
            if not left:
                return
            for cg in left:
                for d in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    with contextlib.suppress(OSError):
                        d.rmdir()
                with contextlib.suppress(OSError):
                    cg.rmdir()
            time.sleep(0.1)

    def _unmount_all(self) -> None:
        base = str(self.base)
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for m in reversed(points):
            if m == base or m.startswith(base + "/"):
                subprocess.run(["umount", "-l", m], capture_output=True)


@contextmanager
def running_dockerd() -> Iterator[Dockerd]:
    """A started ``Dockerd`` under a fresh /tmp directory; stopped, and its directory removed, after.
    Fails if it left cgroups behind."""
    d = Dockerd(Path(tempfile.mkdtemp(prefix="shoal-dk-", dir="/tmp")))
    try:
        d.start()
        yield d
    finally:
        d.stop()
        leftovers = d.cgroups()
        shutil.rmtree(d.base, ignore_errors=True)
    assert not leftovers, f"cgroups left: {leftovers}"
