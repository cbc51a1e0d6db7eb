"""Serving the Kubernetes API: HTTPS on every manager (``--kube-addr``, 6443 by default), and who
the client is.

The server starts when the node is a manager (it needs the cluster's root CA to make its
certificate, ``NodeAPI.kube_serving``) and stops when it no longer is. Clients authenticate with a
certificate from the cluster's CA: the user is its CN, its groups its O entries, and the group
``system:masters`` may do everything (``shoal kubeconfig`` makes such a certificate). A request
without credentials is answered 401 ``Unauthorized``, one from a user that may not act 403, in the
Kubernetes API's words. The swarm's node certificates (OU ``swarm-manager``/``swarm-worker``) are
nodes, not users: ``system:node:<id>`` in ``system:nodes``.

``kubeconfig`` writes the admin kubeconfig (the server, its CA, a client certificate and key).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import yaml
from aiohttp import web
from aiohttp.typedefs import Middleware
from cryptography import x509
from cryptography.x509.oid import NameOID

from shoal.api.errors import ShoalError
from shoal.api.nodeinfo import Membership
from shoal.frontdoor.kube import status
from shoal.nodeapi import NodeAPI

log = logging.getLogger(__name__)

ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
NODE_OUS = ("swarm-manager", "swarm-worker")
CHECK_PERIOD = 1.0  # s between looks at whether this node is (still) a manager

AppFactory = Callable[[NodeAPI], web.Application]


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = field(default_factory=tuple)

    @property
    def admin(self) -> bool:
        return ADMIN_GROUP in self.groups


USER = web.RequestKey("user", User)  # the authenticated client of a request


def user_of_cert(der: bytes) -> User:
    cert = x509.load_der_x509_certificate(der)

    def values(oid: x509.ObjectIdentifier) -> list[str]:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]

    cn = (values(NameOID.COMMON_NAME) or [""])[0]
    if any(ou in NODE_OUS for ou in values(NameOID.ORGANIZATIONAL_UNIT_NAME)):
        return User(f"system:node:{cn}", ("system:nodes", "system:authenticated"))
    return User(cn, (*values(NameOID.ORGANIZATION_NAME), "system:authenticated"))


def authenticate(request: web.Request, node: NodeAPI) -> User | None:
    """The verified client certificate's user (the TLS layer checked it against the cluster's CA), or
    the service account of a bearer token."""
    ssl_obj = request.transport.get_extra_info("ssl_object") if request.transport is not None else None
    if ssl_obj is not None:
        der = ssl_obj.getpeercert(binary_form=True)
        if der:
            return user_of_cert(der)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            found = node.kube().authenticate(token.strip())
        except ShoalError:
            return None
        if found is not None:
            return User(found[0], tuple(found[1]))
    return None


def auth_middleware(node: NodeAPI) -> Middleware:
    """Who the client is; anonymous requests are refused (401), and users that are neither admins
    nor service accounts (shoal has no RBAC yet: service accounts may do what admins do) get 403."""

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        return await _check(node, request, handler)

    return middleware


async def _check(node: NodeAPI, request: web.Request,
                 handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    user = authenticate(request, node)
    if user is None:
        code, body = status.unauthorized()
        return web.json_response(body, status=code)
    if not user.admin and "system:serviceaccounts" not in user.groups:
        msg = (f'forbidden: User "{user.name}" cannot {request.method.lower()} path "{request.path}"')
        code, body = status.status(403, "Forbidden", msg)
        return web.json_response(body, status=code)
    request[USER] = user
    return await handler(request)


class KubeServer:
    """The Kubernetes API of one node, served while it is a manager."""

    def __init__(self, node: NodeAPI, addr: str, app_factory: AppFactory) -> None:
        self.node = node
        self.addr = addr
        self.app_factory = app_factory
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self.serving = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="kube-api")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._down()

    async def _watch(self) -> None:
        while True:
            manager = self.node.membership() is Membership.MANAGER
            try:
                if manager and self._runner is None:
                    await self._up()
                elif not manager and self._runner is not None:
                    await self._down()
            except Exception as e:  # a bind or a certificate that failed: said, and tried again later
                log.warning("Kubernetes API on %s: %s", self.addr, e)
                await self._down()
                await asyncio.sleep(10 * CHECK_PERIOD)
            await asyncio.sleep(CHECK_PERIOD)

    async def _up(self) -> None:
        ca_pem, cert_pem, key_pem = self.node.kube_serving()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with _pem_files(cert_pem, key_pem) as (cert_file, key_file):
            ctx.load_cert_chain(cert_file, key_file)
        ctx.load_verify_locations(cadata=ca_pem)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        app = self.app_factory(self.node)
        app.middlewares.insert(0, auth_middleware(self.node))
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        host, _, port = self.addr.rpartition(":")
        site = web.TCPSite(runner, host.strip("[]") or None, int(port), ssl_context=ctx, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.serving.set()
        log.info("Kubernetes API listening on https://%s", self.addr)

    async def _down(self) -> None:
        runner, self._runner = self._runner, None
        self.serving.clear()
        if runner is not None:
            await runner.cleanup()


@contextlib.contextmanager
def _pem_files(cert_pem: str, key_pem: str) -> Iterator[tuple[str, str]]:
    """The certificate and key as files for ``load_cert_chain`` (memory-backed, removed at once)."""
    d = tempfile.mkdtemp(prefix="shoal-kube-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    cert_file, key_file = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key_pem)
        with open(cert_file, "w") as f:
            f.write(cert_pem)
        yield cert_file, key_file
    finally:
        for p in (cert_file, key_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        os.rmdir(d)


def kubeconfig(node: NodeAPI, cluster_name: str = "shoal", user: str = ADMIN_USER,
               groups: tuple[str, ...] = (ADMIN_GROUP,)) -> str:
    """An admin kubeconfig for this cluster (YAML): the API server's URL and CA, a client certificate."""
    ca_pem, cert_pem, key_pem = node.kube_client_cert(user, list(groups))

    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    context = f"{user}@{cluster_name}"
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
        "clusters": [{"name": cluster_name, "cluster": {"server": node.kube_server_url(),
                                                        "certificate-authority-data": b64(ca_pem)}}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem),
                                          "client-key-data": b64(key_pem)}}],
    }
    return str(yaml.safe_dump(doc, sort_keys=False))
