"""The Kubernetes API's HTTPS server: certificates from the cluster's CA, who the client is."""

from __future__ import annotations

import json
import ssl
import tempfile
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from shoal.api.nodeinfo import Membership
from shoal.frontdoor.kube.server import USER, KubeServer, kubeconfig, user_of_cert
from shoal.manager.ca import new_root_ca
from shoal.manager.kube.certs import issue_api_server_cert, issue_client_cert
from tests.support import free_port


class FakeNode:
    def __init__(self, port: int) -> None:
        self.ca, self.ca_key = new_root_ca()
        self.port = port

    def membership(self) -> Membership:
        return Membership.MANAGER

    def kube_serving(self) -> tuple[str, str, str]:
        return (self.ca, *issue_api_server_cert(self.ca, self.ca_key, ["127.0.0.1"]))

    def kube_client_cert(self, user: str, groups: list[str]) -> tuple[str, str, str]:
        return (self.ca, *issue_client_cert(self.ca, self.ca_key, user, groups))

    def kube_server_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def app_factory(node: object) -> web.Application:
    async def whoami(request: web.Request) -> web.Response:
        u = request[USER]
        return web.json_response({"user": u.name, "groups": list(u.groups)})

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    return app


def client_ctx(ca: str, cert: str | None = None, key: str | None = None, d: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca)
    if cert and key and d:
        (d / "c.pem").write_text(cert)
        (d / "k.pem").write_text(key)
        ctx.load_cert_chain(d / "c.pem", d / "k.pem")
    return ctx


async def test_admin_certificate_is_let_in_anonymous_is_401_and_nodes_are_not_users() -> None:
    port = free_port()
    node = FakeNode(port)
    server = KubeServer(node, f"127.0.0.1:{port}", app_factory)  # type: ignore[arg-type]
    server.start()
    try:
        await server.serving.wait()
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            cfg = yaml.safe_load(kubeconfig(node))  # type: ignore[arg-type]
            assert cfg["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
            import base64
            cert = base64.b64decode(cfg["users"][0]["user"]["client-certificate-data"]).decode()
            key = base64.b64decode(cfg["users"][0]["user"]["client-key-data"]).decode()
            url = f"https://127.0.0.1:{port}/whoami"
            async with aiohttp.ClientSession() as s:
                # The server's certificate is for 127.0.0.1 and the name "kubernetes", from the cluster's CA.
                async with s.get(url, ssl=client_ctx(node.ca, cert, key, d)) as r:
                    assert r.status == 200
                    assert await r.json() == {"user": "kubernetes-admin",
                                              "groups": ["system:masters", "system:authenticated"]}
                async with s.get(url, ssl=client_ctx(node.ca)) as r:
                    assert r.status == 401
                    body = json.loads(await r.text())
                    assert (body["kind"], body["reason"], body["message"]) == ("Status", "Unauthorized", "Unauthorized")
                c2, k2 = issue_client_cert(node.ca, node.ca_key, "jane", ["dev"])
                async with s.get(url, ssl=client_ctx(node.ca, c2, k2, d)) as r:
                    assert r.status == 403
                    assert 'User "jane" cannot get' in (await r.json())["message"]
    finally:
        await server.stop()


def test_a_node_certificate_is_a_node() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from shoal.manager.ca import issue_node_cert

    ca, ca_key = new_root_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(key, hashes.SHA256())
    pem = issue_node_cert(ca, ca_key, csr.public_bytes(serialization.Encoding.PEM).decode(), "node1", "worker", "c1")
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    u = user_of_cert(der)
    assert u.name == "system:node:node1" and not u.admin
