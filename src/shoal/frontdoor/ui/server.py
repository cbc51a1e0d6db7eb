"""The console's listener (``shoal daemon --ui-addr``, 127.0.0.1:9090 by default): how it is served
depends on the address, and on what the node is.

* A loopback address (127.0.0.0/8, ::1, ``localhost``): plain HTTP from the start, for the life of
  the node; reading needs no login (as Nomad's dev UI), actions do. While the node is not a manager
  the console's routes answer 503 with the reason (``/metrics`` still answers).
* Any other address, on a manager: HTTPS with a certificate of the cluster's root CA for the
  manager's addresses and the UI's host (``NodeAPI.kube_serving``, the Kubernetes API's), and every
  request needs the login token of ``shoal ui-token`` (``app.py``).
* Any other address, on a worker: only ``/metrics``, over HTTPS with the node's own certificate, and
  a client certificate of the cluster's CA required (a scraper presents one, e.g. made with ``shoal
  kubeconfig``'s client certificate). A node in no swarm serves nothing there yet.

The listener follows the node's membership (looked at every second) and restarts when the kind of
serving changes. A port already taken, or a certificate that cannot be made, is logged as a warning
and the daemon goes on without the console (tests run many daemons on one machine); it is tried
again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Callable

from aiohttp import web

from shoal.api.nodeinfo import Membership
from shoal.frontdoor.ui.app import Settings, make_app, make_metrics_app
from shoal.nodeapi import NodeAPI

log = logging.getLogger(__name__)

CHECK_PERIOD = 1.0  # s between looks at the node's membership (non-loopback addresses)
RETRY_PERIOD = 10.0  # s before trying again after a failed start

NodeTLS = Callable[[], tuple[str, str, str]]  # the node's own root CA, certificate and key (PEM)


def split_addr(addr: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) as (host, port); "" host: every address."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_context(ca_pem: str, cert_pem: str, key_pem: str, *, require_client_cert: bool) -> ssl.SSLContext:
    """TLS 1.2+ presenting ``cert_pem``; with ``require_client_cert`` clients need a certificate of the
    CA (else one is checked when sent). The key goes through a memory-backed file removed at once."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    d = tempfile.mkdtemp(prefix="shoal-ui-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    path = os.path.join(d, "chain.pem")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(cert_pem.rstrip("\n") + "\n" + key_pem.rstrip("\n") + "\n")
        ctx.load_cert_chain(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.rmdir(d)
    ctx.load_verify_locations(cadata=ca_pem)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


class UIServer:
    """Serves the console and ``/metrics`` on ``addr`` (host:port) for the life of the daemon.

    ``node_tls`` gives the node's own certificate (a worker's non-loopback listener); without it a
    worker serves nothing off loopback."""

    def __init__(self, node: NodeAPI, addr: str, node_tls: NodeTLS | None = None,
                 settings: Settings | None = None) -> None:
        self.node, self.addr, self.node_tls = node, addr, node_tls
        self.host, self.port = split_addr(addr)
        self.loopback = is_loopback(self.host)
        self.settings = settings
        self.mode = ""  # what is served now: "" (nothing), "http", "manager", "worker"
        self.serving = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start serving (a loopback address: at once; else when the node is a manager or worker).
        Never raises: a listener that cannot start is a warning."""
        if self.loopback:
            try:
                await self._up("http")
            except Exception as e:
                log.warning("web console on %s not served: %s", self.addr, e)
            return
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="ui-server")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._down()

    def _wanted(self) -> str:
        m = self.node.membership()
        if m is Membership.MANAGER:
            return "manager"
        if m is Membership.WORKER and self.node_tls is not None:
            return "worker"
        return ""

    async def _watch(self) -> None:
        while True:
            wanted = self._wanted()
            try:
                if wanted != self.mode:
                    await self._down()
                    if wanted:
                        await self._up(wanted)
            except Exception as e:  # a bind or a certificate that failed: said, and tried again later
                log.warning("web console on %s not served: %s", self.addr, e)
                await self._down()
                await asyncio.sleep(RETRY_PERIOD)
            await asyncio.sleep(CHECK_PERIOD)

    def _app_and_tls(self, mode: str) -> tuple[web.Application, ssl.SSLContext | None]:
        if mode == "http":
            return make_app(self.node, self.settings or Settings(secure=False)), None
        if mode == "manager":
            ca_pem, cert_pem, key_pem = self.node.kube_serving()
            ctx = server_context(ca_pem, cert_pem, key_pem, require_client_cert=False)
            return make_app(self.node, self.settings or Settings(secure=True)), ctx
        assert self.node_tls is not None
        ca_pem, cert_pem, key_pem = self.node_tls()
        return make_metrics_app(self.node), server_context(ca_pem, cert_pem, key_pem, require_client_cert=True)

    async def _up(self, mode: str) -> None:
        app, ctx = self._app_and_tls(mode)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host or None, self.port, ssl_context=ctx, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self.mode = runner, mode
        self.serving.set()
        scheme = "http" if ctx is None else "https"
        log.info("web console (%s) listening on %s://%s", mode, scheme, self.addr)

    async def _down(self) -> None:
        runner, self._runner = self._runner, None
        self.mode = ""
        self.serving.clear()
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        """Where a client on this machine reaches the listener (its real port when ``addr``'s was 0)."""
        port = self.port
        if self._runner is not None:
            for a in self._runner.addresses:
                if isinstance(a, tuple) and len(a) >= 2:
                    port = int(a[1])
                    break
        host = self.host if self.host and self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{'http' if self.mode == 'http' else 'https'}://{host}:{port}"
