"""A cluster of ``shoal daemon`` processes on one machine, each node in a network namespace of its own.

The end-to-end tests and the benchmarks use it. ``DevCluster`` creates a bridge in the host
namespace and, for each node, a namespace ``shoal-<tag>-<name>`` joined to the bridge by a veth pair
(``eth0`` inside, with the node's address in a test-only /24 of 10.213.0.0/16, and ``lo`` up), then
runs the daemon inside it with its own hostname, data root and exec root. The Docker API is a unix
socket under the exec root: the file system is shared, so the real docker CLI reaches every node
from the host. Nodes talk to each other only over the bridge, on the swarm's real ports (2377, and
2380 for the managers' etcd). ``close()`` stops every daemon by its PID and removes the namespaces,
links and bridge, whatever state the cluster was left in.

``DevNode`` without a namespace is one daemon on the host (the single-node tests).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from shoal.runtime.runc import remove_cgroups

SUBNET_PREFIX = "10.213"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ip", *args], capture_output=True, check=check)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DevNode:
    name: str
    base: Path
    runtime: str
    netns: str = ""  # "" = the host's namespace
    addr: str = "127.0.0.1"
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    daemon_env: dict[str, str] = field(default_factory=dict)  # more environment for the daemon
    # Where its Kubernetes API listens when it is a manager: a free loopback port for a node in the
    # host's namespace (several may run at once), 6443 in a namespace of its own.
    kube_addr: str = ""
    # Where its console and /metrics listen (--ui-addr): the default 127.0.0.1:9090 in a namespace of
    # its own, a free loopback port in the host's namespace.
    ui_addr: str = ""

    @property
    def data_root(self) -> Path:
        return self.base / "data"

    @property
    def exec_root(self) -> Path:
        return self.base / "run"

    @property
    def sock(self) -> str:
        return str(self.exec_root / "shoal.sock")

    @property
    def log(self) -> Path:
        return self.base / "daemon.log"

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_CONFIG"] = str(self.base.parent / "docker-config")
        return env

    def docker(self, *args: str, input: bytes | None = None, check: bool = True,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the real docker CLI against this node; raises with its output when ``check`` fails."""
        try:
            raw = subprocess.run(["docker", *args], input=input, capture_output=True, env=self.env(),
                                 timeout=timeout)
        except subprocess.TimeoutExpired as e:
            if check:
                raise
            self.dump_tasks()  # say where the daemon was waiting, in its log
            return subprocess.CompletedProcess(e.cmd, 124, "", f"timed out after {timeout} s")
        r = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(errors="replace"),
                                        raw.stderr.decode(errors="replace"))
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def start(self, timeout: float = 20) -> DevNode:
        """Start the daemon and wait until its API answers ``/_ping``."""
        self.base.mkdir(parents=True, exist_ok=True)
        if not self.kube_addr:
            self.kube_addr = f"{self.addr}:6443" if self.netns else f"127.0.0.1:{_free_port()}"
        if not self.ui_addr:
            self.ui_addr = "127.0.0.1:9090" if self.netns else f"127.0.0.1:{_free_port()}"
        cmd = [sys.executable, "-m", "shoal.cli.main", "daemon", "--data-root", str(self.data_root),
               "--exec-root", str(self.exec_root), "--runtime", self.runtime, "-H", self.host,
               "--kube-addr", self.kube_addr, "--ui-addr", self.ui_addr, *self.extra]
        if self.netns:
            # Only the network namespace: ``ip netns exec`` would also remount /sys, and hide the
            # cgroup hierarchies that the runc runtime needs.
            cmd = ["nsenter", f"--net=/run/netns/{self.netns}", *cmd]
        with open(self.log, "ab") as out:
            # Tests and benchmarks contact no registry beyond loopback, forward no task's DNS query to the
            # host's resolvers (so no outside name is resolved), and give tasks without networks
            # addresses from the test pool.
            env = {"SHOAL_BLOCK_REGISTRY": "all", "SHOAL_DNS": "none", "SHOAL_BIP": "10.213.240.1/24",
                   **os.environ, **self.daemon_env}
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.sock):
                r = subprocess.run(["curl", "-sf", "--unix-socket", self.sock, "http://x/_ping"], capture_output=True)
                if r.returncode == 0:
                    return self
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited: {self.log.read_text()}")
            time.sleep(0.1)
        self.proc.kill()
        self.proc.wait()
        raise AssertionError(f"daemon did not start: {self.log.read_text()}")

    def dump_tasks(self) -> None:
        """Ask the daemon to log where each of its asyncio tasks waits (SIGUSR1)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """``kill -9`` the daemon (its etcd member dies with it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def remove_leftover_containers(self) -> None:
        """The containers the stopped daemon left (it gave up at its shutdown deadline, or was killed)."""
        remove_leftover_containers(self.exec_root / "runc")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL if the daemon has not exited within ``timeout`` seconds."""
        if self.proc is not None:
            terminate(self.proc, timeout)


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to ``proc``, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def remove_leftover_containers(*roots: Path) -> int:
    """Delete the containers in runc's state directories ``roots`` (``<exec-root>/runc``) that a daemon
    left behind when it stopped: their processes killed and their cgroups removed by ``runc delete
    --force``, sixteen at a time. Returns how many there were."""
    found = [(root, p.name) for root in roots if root.is_dir() for p in root.iterdir() if p.is_dir()]
    if not found or not shutil.which("runc"):
        return 0

    def delete(item: tuple[Path, str]) -> None:
        root, cid = item
        subprocess.run(["runc", "--root", str(root), "delete", "--force", cid], capture_output=True,
                       check=False, timeout=60)
        remove_cgroups(cid)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(delete, found))
    return len(found)


class DevCluster:
    """Nodes on one bridge, each in its own namespace; ``subnet`` is the third octet in 10.213.x.0/24."""

    def __init__(self, base: Path, runtime: str, *, tag: str = "", subnet: int = 0) -> None:
        self.base = base
        self.runtime = runtime
        self.tag = tag or f"{os.getpid() % 100000:05d}"
        # 10.213.130-229.0/24 by default: the tests' own networks (overlays, bridges, pools) take
        # third octets outside it, so that a cluster's addresses never collide with a network's.
        self.subnet = subnet or 130 + os.getpid() % 100
        self.bridge = f"shb{self.tag}"
        self.nodes: dict[str, DevNode] = {}
        self._links: list[str] = []
        self._namespaces: list[str] = []
        self._count = 0
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("link", "set", self.bridge, "up")

    def addr(self, index: int) -> str:
        return f"{SUBNET_PREFIX}.{self.subnet}.{index}"

    def _wire(self, name: str) -> tuple[str, str]:
        """A namespace on the bridge: its name and address."""
        self._count += 1
        index = self._count
        ns = f"shoal-{self.tag}-{name}"
        host_end, ns_end = f"shv{self.tag}{index}", f"shp{self.tag}{index}"
        _ip("netns", "add", ns)
        self._namespaces.append(ns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        self._links.append(host_end)
        _ip("link", "set", host_end, "master", self.bridge)
        _ip("link", "set", host_end, "up")
        _ip("link", "set", ns_end, "netns", ns)
        _ip("-n", ns, "link", "set", ns_end, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{self.addr(index)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return ns, self.addr(index)

    def add(self, name: str, extra: list[str] | None = None, env: dict[str, str] | None = None) -> DevNode:
        """A namespace wired to the bridge, and a daemon started in it (``--hostname name``)."""
        ns, addr = self._wire(name)
        node = DevNode(name, self.base / name, self.runtime, netns=ns, addr=addr,
                       extra=["--hostname", name, *(extra or [])], daemon_env=dict(env or {}))
        self.nodes[name] = node
        return node.start()

    def add_client(self, name: str) -> tuple[str, str]:
        """A namespace on the bridge without a daemon (a client from outside the swarm): its
        ``/run/netns`` name and its address."""
        return self._wire(name)

    def restart(self, name: str) -> DevNode:
        node = self.nodes[name]
        node.stop()
        return node.start()

    def leave_all(self) -> None:
        """Every node leaves (a killed one is started again first, so that it cleans what it left)."""
        for node in self.nodes.values():
            with contextlib.suppress(Exception):
                if not node.running():
                    node.start()
                node.docker("swarm", "leave", "--force", check=False)

    def close(self) -> None:
        """Stop every daemon (by PID), then remove what is left mounted under the base directory, the
        namespaces, links and the bridge."""
        for node in self.nodes.values():
            with contextlib.suppress(Exception):
                node.stop()
        for node in self.nodes.values():
            node.remove_leftover_containers()
        with open("/proc/mounts") as f:
            leftovers = [line.split()[1] for line in f if str(self.base) in line.split()[1]]
        for mnt in reversed(leftovers):
            subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)
        for ns in self._namespaces:
            _ip("netns", "delete", ns, check=False)
        for link in self._links:
            _ip("link", "delete", link, check=False)
        _ip("link", "delete", self.bridge, check=False)
