"""A local etcd member run as a subprocess: what a manager supervises to back ``EtcdBackend``.

``EtcdServer`` owns one ``etcd`` process: it picks free ports unless given, starts etcd on a data
directory (a new one-member cluster, or a member joining an ``existing`` one through
``initial_cluster``, or ``force_new_cluster`` to recover a lost quorum), waits until the member
answers, and ``stop()`` terminates exactly that process by PID (SIGTERM, then SIGKILL) and waits for
it. The member dies with the process that started it (``PR_SET_PDEATHSIG``), so a daemon killed with
SIGKILL takes its member down too. Peers may listen on another address than clients
(``peer_host``): managers keep the client port on loopback and speak TLS to each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ETCD = "etcd"


def etcd_binary() -> str | None:
    """The path of the ``etcd`` binary, or None when etcd is not installed."""
    return shutil.which(ETCD)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent (thread) that forked it exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def die_with_parent(cmd: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """``cmd`` made to die (SIGKILL) with the thread that starts it, and the ``preexec_fn`` that takes.

    A ``preexec_fn`` makes ``subprocess`` fork() rather than vfork(), and a fork() runs the
    ``pthread_atfork`` handlers of the gRPC core that the etcd client loads: with its threads busy it
    logs ``fork_posix.cc: Other threads are currently calling into gRPC, skipping fork() handlers``
    (and a forked child of a threaded process may hang on a lock taken at that moment). util-linux's
    ``setpriv --pdeathsig`` sets the same signal and execs the command, so the child is spawned with
    vfork() and no Python runs in it; without setpriv, the ``preexec_fn`` it was."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--", *cmd], None
    return cmd, _die_with_parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EtcdServer:
    def __init__(
        self,
        data_dir: str | Path,
        *,
        name: str = "shoal",
        host: str = "127.0.0.1",
        client_port: int = 0,
        peer_port: int = 0,
        peer_host: str = "",
        initial_cluster: str = "",
        initial_cluster_state: str = "new",
        force_new_cluster: bool = False,
        heartbeat_ms: int = 100,
        election_ms: int = 1000,
        max_txn_ops: int = 10000,
        max_request_bytes: int = 32 * 1024 * 1024,
        cert_file: str | None = None,
        key_file: str | None = None,
        trusted_ca_file: str | None = None,
        peer_cert_file: str | None = None,
        peer_key_file: str | None = None,
        peer_trusted_ca_file: str | None = None,
        log_file: str | Path | None = None,
        binary: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.name = name
        self.host = host
        self.peer_host = peer_host or host
        self.client_port = client_port or free_port(host)
        self.peer_port = peer_port or free_port(self.peer_host)
        while self.peer_port == self.client_port:
            self.peer_port = free_port(self.peer_host)
        self.initial_cluster = initial_cluster
        self.initial_cluster_state = initial_cluster_state
        self.force_new_cluster = force_new_cluster
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.max_txn_ops = max_txn_ops
        self.max_request_bytes = max_request_bytes
        self.cert_file, self.key_file, self.trusted_ca_file = cert_file, key_file, trusted_ca_file
        self.peer_cert_file, self.peer_key_file = peer_cert_file, peer_key_file
        self.peer_trusted_ca_file = peer_trusted_ca_file
        self.log_file = Path(log_file) if log_file else self.data_dir.parent / f"{self.data_dir.name}.etcd.log"
        self.binary = binary or etcd_binary() or ETCD
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        scheme = "https" if self.cert_file else "http"
        return f"{scheme}://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        scheme = "https" if self.peer_cert_file else "http"
        return f"{scheme}://{self.peer_host}:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``EtcdBackend``."""
        return f"{self.host}:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def command(self) -> list[str]:
        cmd = [
            self.binary,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster or f"{self.name}={self.peer_url}",
            "--initial-cluster-state", self.initial_cluster_state,
            "--heartbeat-interval", str(self.heartbeat_ms),
            "--election-timeout", str(self.election_ms),
            "--max-txn-ops", str(self.max_txn_ops),
            "--max-request-bytes", str(self.max_request_bytes),
        ]
        for flag, value in (
            ("--cert-file", self.cert_file),
            ("--key-file", self.key_file),
            ("--trusted-ca-file", self.trusted_ca_file),
            ("--peer-cert-file", self.peer_cert_file),
            ("--peer-key-file", self.peer_key_file),
            ("--peer-trusted-ca-file", self.peer_trusted_ca_file),
        ):
            if value:
                cmd += [flag, value]
        if self.trusted_ca_file:
            cmd.append("--client-cert-auth")
        if self.peer_trusted_ca_file:
            cmd.append("--peer-client-cert-auth")
        if self.force_new_cluster:
            cmd.append("--force-new-cluster")
        return cmd

    def spawn(self) -> None:
        """Start the process (from the calling thread, which it dies with) without waiting for it."""
        if self.proc is not None:
            raise RuntimeError("etcd already started")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cmd, preexec = die_with_parent(self.command())
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=preexec,
            )

    def start(self, timeout: float = 15.0) -> None:
        """Start the member and block until it is healthy (or raise, having stopped it)."""
        self.spawn()
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    async def astart(self, timeout: float | None = 15.0, *, need_quorum: bool = True) -> None:
        """``start`` for an event loop: spawned from the loop's thread (the member lives as long as
        the process, not as long as a worker thread), then polled without blocking the loop. With
        ``need_quorum=False`` it waits only for the client port (etcd opens it once the member has
        published itself, which takes a quorum: a manager restarted while its peers are down waits
        here for them, ``timeout=None``, and stays cancellable)."""
        self.spawn()
        try:
            await asyncio.to_thread(self.wait_healthy, timeout, need_quorum)
        except BaseException:
            await self.astop()
            raise

    def healthy(self) -> bool:
        if self.cert_file:
            return self._port_open()  # no client certificate here to ask /health over TLS
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
            with opener.open(f"{self.client_url}/health", timeout=1) as r:
                return bool(json.loads(r.read()).get("health") in (True, "true"))
        except (OSError, ValueError):
            return False

    def _port_open(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.client_port), timeout=0.5):
            return True
        return False

    def wait_healthy(self, timeout: float | None, need_quorum: bool = True) -> None:
        """Block until the member serves (``timeout`` None: for as long as it runs); raises when it
        exits, or when ``stop()`` is called meanwhile."""
        deadline = time.monotonic() + timeout if timeout is not None else None
        while not (self.healthy() if need_quorum else self._port_open()):
            proc = self.proc
            if proc is None:
                raise RuntimeError("etcd was stopped while starting")
            if proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {proc.returncode}; see {self.log_file}")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"etcd not healthy after {timeout}s; see {self.log_file}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the member by its PID and wait for it; SIGKILL if it does not exit in time."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

    async def astop(self, timeout: float = 10.0) -> None:
        await asyncio.to_thread(self.stop, timeout)

    def __enter__(self) -> EtcdServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
