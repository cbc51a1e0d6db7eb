"""The console's listener: plain HTTP on loopback, HTTPS with the cluster's CA and the login token on
any other address (a manager), only /metrics with client certificates required (a worker), and a
port already taken is a warning, not a crash."""

from __future__ import annotations

import logging
import ssl

import aiohttp
import pytest

from shoal import pki
from shoal.api.nodeinfo import Membership
from shoal.frontdoor.ui import server as ui_server
from shoal.frontdoor.ui.server import UIServer, is_loopback, split_addr
from shoal.manager.ca import issue_node_cert, new_root_ca
from shoal.manager.kube.certs import issue_api_server_cert, issue_client_cert
from tests.support import free_port
from tests.unit.frontdoor.ui.fakes import FakeNode, registry_with_counter, sample_cluster
from tests.unit.helpers import until


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.3.4.5", "::1", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "10.0.0.1", "::", "", "example.org"):
        assert not is_loopback(host), host
    assert split_addr("[::1]:9090") == ("::1", 9090) and split_addr(":9090") == ("", 9090)


async def test_loopback_is_plain_http_and_reads_without_login() -> None:
    node = FakeNode(fake_console=sample_cluster())
    ui = UIServer(node, f"127.0.0.1:{free_port()}")
    await ui.start()
    try:
        assert ui.mode == "http" and ui.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as s, s.get(ui.url + "/api/summary") as r:
            assert r.status == 200 and (await r.json())["Nodes"] == 3
    finally:
        await ui.stop()


async def test_a_port_taken_is_a_warning_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    node = FakeNode()
    addr = f"127.0.0.1:{free_port()}"
    first = UIServer(node, addr)
    await first.start()
    second = UIServer(node, addr)
    try:
        with caplog.at_level(logging.WARNING, logger="shoal.frontdoor.ui.server"):
            await second.start()
        assert second.mode == "" and "not served" in caplog.text
    finally:
        await second.stop()
        await first.stop()


def _client_tls(ca_pem: str, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    return pki.client_ssl_context(ca_pem, *(cert or (None, None)))


async def _serving(ui: UIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_server, "CHECK_PERIOD", 0.01)
    await ui.start()
    await until(lambda: ui.serving.is_set(), timeout=10, what="the listener")


async def test_other_address_on_a_manager_is_https_with_the_cas_cert_and_the_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ca_pem, ca_key = new_root_ca()
    cert, key = issue_api_server_cert(ca_pem, ca_key, ["0.0.0.0"])

    class Manager(FakeNode):
        def kube_serving(self) -> tuple[str, str, str]:
            return ca_pem, cert, key

    node = Manager(fake_console=sample_cluster())
    ui = UIServer(node, f"0.0.0.0:{free_port()}")  # reached below through 127.0.0.1 only
    await _serving(ui, monkeypatch)
    try:
        assert ui.mode == "manager" and ui.url.startswith("https://127.0.0.1:")
        tls = _client_tls(ca_pem)
        tls.check_hostname = True  # the certificate names 127.0.0.1
        async with aiohttp.ClientSession() as s:
            async with s.get(ui.url + "/api/summary", ssl=tls) as r:
                assert r.status == 401
            async with s.get(ui.url + "/api/summary", ssl=tls,
                             headers={"Authorization": f"Bearer {node.ui_token()}"}) as r:
                assert r.status == 200
            with pytest.raises(aiohttp.ClientError):  # plain HTTP is not served there
                async with s.get(ui.url.replace("https:", "http:") + "/api/summary") as r:
                    await r.read()
    finally:
        await ui.stop()


async def test_other_address_on_a_worker_serves_metrics_to_cluster_certificates_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ca_pem, ca_key = new_root_ca()
    node_key, csr = pki.new_node_key()
    node_cert = issue_node_cert(ca_pem, ca_key, csr, "worker1", "worker", "cluster1")
    node = FakeNode(fake_console=None, role=Membership.WORKER, registry=registry_with_counter())
    ui = UIServer(node, f"0.0.0.0:{free_port()}", node_tls=lambda: (ca_pem, node_cert, node_key))
    await _serving(ui, monkeypatch)
    try:
        assert ui.mode == "worker"
        client = issue_client_cert(ca_pem, ca_key, "prometheus")
        async with aiohttp.ClientSession() as s:
            async with s.get(ui.url + "/metrics", ssl=_client_tls(ca_pem, client)) as r:
                assert r.status == 200 and "shoal_test_things_total 3.0" in await r.text()
            async with s.get(ui.url + "/api/summary", ssl=_client_tls(ca_pem, client)) as r:
                assert r.status == 404
            with pytest.raises((aiohttp.ClientError, ssl.SSLError)):  # no client certificate: the handshake fails
                async with s.get(ui.url + "/metrics", ssl=_client_tls(ca_pem)) as r:
                    await r.read()
    finally:
        await ui.stop()


async def test_follows_the_nodes_membership(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node in no swarm serves nothing off loopback; once a worker (with its certificate), /metrics."""
    ca_pem, ca_key = new_root_ca()
    node_key, csr = pki.new_node_key()
    node_cert = issue_node_cert(ca_pem, ca_key, csr, "w", "worker", "c")
    node = FakeNode(fake_console=None, role=Membership.INACTIVE)
    ui = UIServer(node, f"0.0.0.0:{free_port()}", node_tls=lambda: (ca_pem, node_cert, node_key))
    monkeypatch.setattr(ui_server, "CHECK_PERIOD", 0.01)
    await ui.start()
    try:
        assert ui.mode == ""
        node.role = Membership.WORKER
        await until(lambda: ui.mode == "worker", timeout=10, what="the worker's listener")
        node.role = Membership.INACTIVE
        await until(lambda: ui.mode == "", timeout=10, what="the listener closed")
    finally:
        await ui.stop()


def test_the_serving_certificate_names_the_uis_host() -> None:
    """The certificate the console shares with the Kubernetes API names a host name given as the
    UI's host, and leaves the unspecified addresses out."""
    from cryptography import x509

    ca_pem, ca_key = new_root_ca()
    cert, _ = issue_api_server_cert(ca_pem, ca_key, ["10.213.0.5", "console.example", "0.0.0.0", "::"])
    san = x509.load_pem_x509_certificate(cert.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "console.example" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.213.0.5"}
