"""A local etcd member run as a subprocess: what a manager supervises to back ``EtcdBackend``.

``EtcdServer`` owns one ``etcd`` process (a single-member cluster for now): it picks free loopback
ports unless given, starts etcd on a data directory, waits until the member answers ``/health``,
and ``stop()`` terminates exactly that process by PID (SIGTERM, then SIGKILL) and waits for it.
The TLS arguments are the hooks for the cluster issue (peer and client certificates); they are
passed to etcd as given and switch the URLs to https.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ETCD = "etcd"


def etcd_binary() -> str | None:
    """The path of the ``etcd`` binary, or None when etcd is not installed."""
    return shutil.which(ETCD)


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
        self.client_port = client_port or free_port(host)
        self.peer_port = peer_port or free_port(host)
        while self.peer_port == self.client_port:
            self.peer_port = free_port(host)
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
        return f"{scheme}://{self.host}:{self.peer_port}"

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
            "--initial-cluster", f"{self.name}={self.peer_url}",
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
        return cmd

    def start(self, timeout: float = 15.0) -> None:
        """Start the member and block until it is healthy (or raise, having stopped it)."""
        if self.proc is not None:
            raise RuntimeError("etcd already started")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    async def astart(self, timeout: float = 15.0) -> None:
        await asyncio.to_thread(self.start, timeout)

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

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
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
