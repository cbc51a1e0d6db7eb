"""The cluster CA (``manager/ca.py``) and the trust every node uses (``pki.py``): join tokens, node
certificates and mutual TLS between nodes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal import pki
from shoal.api.errors import InvalidArgument
from shoal.frontdoor.docker.errors import status_of
from shoal.manager.ca import issue_node_cert, join_token, new_root_ca, role_for_token
from shoal.pki import (
    MANAGER_OU,
    WORKER_OU,
    JoinTokenError,
    cert_expires_in,
    check_ca_digest,
    client_ssl_context,
    needs_renewal,
    new_node_key,
    node_identity,
    parse_join_token,
    peer_identity,
    server_ssl_context,
)

CLUSTER = "c1uster0000000000000000000"
NODE = "n0de00000000000000000000a"


@pytest.fixture(scope="module")
def root() -> tuple[str, str]:
    return new_root_ca()


@pytest.fixture(scope="module")
def other_root() -> tuple[str, str]:
    return new_root_ca()


def _node(root: tuple[str, str], node_id: str, role: str, days: int = 90) -> tuple[str, str]:
    key_pem, csr_pem = new_node_key()
    return issue_node_cert(root[0], root[1], csr_pem, node_id, role, CLUSTER, days=days), key_pem


# --- tokens ---------------------------------------------------------------------------------------


def test_token_format_and_parse(root: tuple[str, str]) -> None:
    token = join_token(root[0])
    parts = token.split("-")
    assert parts[:2] == ["SWMTKN", "1"] and len(parts) == 4
    digest, secret = parse_join_token(token)
    assert digest == pki.ca_digest(root[0]) and len(digest) == 50
    assert len(secret) == 25 and secret.isalnum() and secret == secret.lower()
    assert join_token(root[0]) != token  # fresh secret each time


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "SWMTKN-1-abc",
        "SWMTKN-2-" + "a" * 50 + "-" + "b" * 25,  # unknown version
        "SWMTKX-1-" + "a" * 50 + "-" + "b" * 25,  # wrong prefix
        "SWMTKN-1-" + "a" * 49 + "-" + "b" * 25,  # digest too short
        "SWMTKN-1-" + "a" * 50 + "-" + "b" * 24,  # secret too short
        "SWMTKN-1-" + "A" * 50 + "-" + "b" * 25,  # not base 36 (upper case)
        "SWMTKN-1-" + "a" * 50 + "-" + "b" * 24 + "!",
        "SWMTKN-1-" + "a" * 50 + "-" + "b" * 25 + "-extra",
    ],
)
def test_parse_malformed_token(token: str) -> None:
    with pytest.raises(JoinTokenError) as e:
        parse_join_token(token)
    assert e.value.message == "invalid join token"
    assert isinstance(e.value, InvalidArgument) and status_of(e.value) == 400  # as the Docker door answers


def test_role_for_token(root: tuple[str, str]) -> None:
    worker, manager = join_token(root[0]), join_token(root[0])
    assert role_for_token(worker, worker, manager) == "worker"
    assert role_for_token(manager, worker, manager) == "manager"
    for wrong in (join_token(root[0]), "", "nonsense", worker[:-1], worker + "x", "SWMTKN-1-ünïcode"):
        with pytest.raises(JoinTokenError) as e:
            role_for_token(wrong, worker, manager)
        assert e.value.message == "A valid join token is necessary to join this cluster"


def test_check_ca_digest(root: tuple[str, str], other_root: tuple[str, str]) -> None:
    token = join_token(root[0])
    check_ca_digest(token, root[0])  # matches: no error
    with pytest.raises(JoinTokenError) as e:
        check_ca_digest(token, other_root[0])
    assert e.value.message == f"remote CA does not match fingerprint. Expected: {pki.ca_digest(root[0])}"
    with pytest.raises(JoinTokenError) as e:
        check_ca_digest(token, "not a certificate")
    assert e.value.message.startswith("remote CA does not match fingerprint.")
    with pytest.raises(JoinTokenError, match="invalid join token"):
        check_ca_digest("bad", root[0])


# --- certificates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "ou"), [("worker", WORKER_OU), ("manager", MANAGER_OU)])
def test_issue_and_node_identity(root: tuple[str, str], role: str, ou: str) -> None:
    cert_pem, key_pem = _node(root, NODE, role)
    assert node_identity(cert_pem) == (NODE, role, CLUSTER)

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    root_cert = x509.load_pem_x509_certificate(root[0].encode())
    cert.verify_directly_issued_by(root_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == ou
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [NODE, ou, "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    # The certificate is for the CSR's key.
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert cert.public_key() == key.public_key()
    now = dt.datetime.now(dt.UTC)
    assert now - dt.timedelta(minutes=6) < cert.not_valid_before_utc < now - dt.timedelta(minutes=4)
    assert 90 * 86400 - 60 < cert_expires_in(cert_pem) <= 90 * 86400


def test_issue_rejects_bad_role(root: tuple[str, str]) -> None:
    _, csr_pem = new_node_key()
    with pytest.raises(InvalidArgument):
        issue_node_cert(root[0], root[1], csr_pem, NODE, "admin", CLUSTER)


def test_tampered_csr_is_rejected(root: tuple[str, str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aaaaaaaaaaaa")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    der = csr.public_bytes(serialization.Encoding.DER)
    assert der.count(b"aaaaaaaaaaaa") == 1
    tampered = x509.load_der_x509_csr(der.replace(b"aaaaaaaaaaaa", b"bbbbbbbbbbbb"))
    tampered_pem = tampered.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(InvalidArgument) as e:
        issue_node_cert(root[0], root[1], tampered_pem, NODE, "worker", CLUSTER)
    assert e.value.message == "invalid certificate request"
    assert not isinstance(e.value, JoinTokenError)
    with pytest.raises(InvalidArgument, match="invalid certificate request"):
        issue_node_cert(root[0], root[1], "-----BEGIN CERTIFICATE REQUEST-----\nxx\n", NODE, "worker", CLUSTER)


def test_needs_renewal(root: tuple[str, str]) -> None:
    fresh, _ = _node(root, NODE, "worker")
    assert not needs_renewal(fresh)
    stale, _ = _node(root, NODE, "worker", days=0)  # valid now-5min .. now: past half-life already
    assert needs_renewal(stale)
    assert cert_expires_in(stale) <= 0


def test_node_identity_rejects_non_node_cert(root: tuple[str, str]) -> None:
    with pytest.raises(InvalidArgument):
        node_identity(root[0])  # the root CA has no OU


# --- mutual TLS -----------------------------------------------------------------------------------


class _Server:
    """A TLS echo-of-identity server on 127.0.0.1: sends the peer's identity, one line."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.seen: list[tuple[str, str, str] | None] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ident = peer_identity(writer.get_extra_info("ssl_object"))
        self.seen.append(ident)
        writer.write(("|".join(ident) if ident else "anonymous").encode() + b"\n")
        with contextlib.suppress(Exception):
            await writer.drain()
            writer.close()
            await writer.wait_closed()

    async def __aenter__(self) -> _Server:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def _exchange(port: int, ctx: ssl.SSLContext) -> bytes:
    async def go() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        try:
            return await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.wait_for(go(), 3)


@pytest.fixture
def manager_tls(root: tuple[str, str]) -> tuple[str, str]:
    return _node(root, "manager0000000000000000mm", "manager")


async def test_mtls_client_with_cluster_cert(root: tuple[str, str], manager_tls: tuple[str, str]) -> None:
    cert, key = _node(root, NODE, "worker")
    async with _Server(server_ssl_context(root[0], *manager_tls, require_client_cert=True)) as srv:
        line = await _exchange(srv.port, client_ssl_context(root[0], cert, key))
    assert line == f"{NODE}|worker|{CLUSTER}\n".encode()
    assert srv.seen == [(NODE, "worker", CLUSTER)]


async def _refused(port: int, ctx: ssl.SSLContext) -> None:
    try:
        line = await _exchange(port, ctx)
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
        return
    assert line == b""  # TLS 1.3: the handshake "succeeds" client-side, then the server hangs up


async def test_mtls_client_without_cert_refused(root: tuple[str, str], manager_tls: tuple[str, str]) -> None:
    async with _Server(server_ssl_context(root[0], *manager_tls, require_client_cert=True)) as srv:
        await _refused(srv.port, client_ssl_context(root[0]))
    assert srv.seen == []


async def test_mtls_client_with_foreign_cert_refused(
    root: tuple[str, str], other_root: tuple[str, str], manager_tls: tuple[str, str]
) -> None:
    cert, key = _node(other_root, NODE, "manager")
    async with _Server(server_ssl_context(root[0], *manager_tls, require_client_cert=True)) as srv:
        await _refused(srv.port, client_ssl_context(root[0], cert, key))
    assert srv.seen == []


async def test_client_refuses_server_of_another_ca(
    root: tuple[str, str], other_root: tuple[str, str], manager_tls: tuple[str, str]
) -> None:
    cert, key = _node(other_root, NODE, "worker")
    async with _Server(server_ssl_context(root[0], *manager_tls, require_client_cert=True)) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            await _exchange(srv.port, client_ssl_context(other_root[0], cert, key))
    assert srv.seen == []


async def test_join_endpoint_serves_nodes_without_cert(
    root: tuple[str, str], other_root: tuple[str, str], manager_tls: tuple[str, str]
) -> None:
    async with _Server(server_ssl_context(root[0], *manager_tls, require_client_cert=False)) as srv:
        # Before joining: no CA to verify with, no certificate; the server lets it in, anonymous.
        assert await _exchange(srv.port, client_ssl_context(None)) == b"anonymous\n"
        # A certificate that is sent is still verified, even on the optional endpoint.
        cert, key = _node(other_root, NODE, "worker")
        await _refused(srv.port, client_ssl_context(None, cert, key))
    assert srv.seen == [None]


def test_chain_loading_leaves_no_key_on_disk(
    root: tuple[str, str], manager_tls: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Without memfd (non-Linux), the chain goes through a private temp file removed right after loading.
    monkeypatch.delattr(pki.os, "memfd_create", raising=False)
    monkeypatch.setattr(pki.tempfile, "tempdir", str(tmp_path))
    ctx = server_ssl_context(root[0], *manager_tls, require_client_cert=True)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert list(tmp_path.iterdir()) == []
