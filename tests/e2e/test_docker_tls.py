"""The real docker CLI over TCP with TLS, as against ``dockerd --tlsverify``: with a client certificate
signed by the daemon's ``--tlscacert`` it works, without one it is refused (process runtime: no root)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.devcluster import DevNode
from tests.support import free_port

pytestmark = [pytest.mark.e2e]

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Key, issuer: x509.Certificate | None, issuer_key: Key,
          usage: x509.ObjectIdentifier | None = None, ip: str = "") -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(_name(subject))
         .issuer_name(issuer.subject if issuer else _name(subject))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True))
    if usage is not None:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: Key | None = None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path = path.with_name(path.name.replace("cert", "key"))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate: ca.pem, server-cert.pem,
    server-key.pem, cert.pem, key.pem (the names the docker CLI looks for in DOCKER_CERT_PATH)."""
    d = tmp_path_factory.mktemp("certs")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test CA", ca_key, None, ca_key)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_key = ec.generate_private_key(ec.SECP256R1())
    _write(d / "server-cert.pem", _cert("server", server_key, ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH,
                                        "127.0.0.1"), server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    _write(d / "cert.pem", _cert("client", client_key, ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH), client_key)
    return d


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[tuple[DevNode, int]]:
    port = free_port()
    node = DevNode("tls", tmp_path_factory.mktemp("tls") / "node", "process",
                   extra=["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(certs / "ca.pem"),
                          "--tlscert", str(certs / "server-cert.pem"), "--tlskey", str(certs / "server-key.pem")])
    node.start()
    try:
        yield node, port
    finally:
        node.stop()


def _docker(node: DevNode, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = node.env()
    full.pop("DOCKER_HOST", None)
    full.pop("DOCKER_TLS_VERIFY", None)
    full.pop("DOCKER_CERT_PATH", None)
    full.update(env or {})
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=full, timeout=60)


def test_the_cli_with_a_client_certificate_works(tls_node: tuple[DevNode, int], certs: Path) -> None:
    node, port = tls_node
    flags = ["--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert", str(certs / "cert.pem"),
             "--tlskey", str(certs / "key.pem"), "-H", f"tcp://127.0.0.1:{port}"]
    r = _docker(node, *flags, "version", "--format", "{{.Server.Version}}")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    r = _docker(node, *flags, "info", "--format", "{{.Swarm.LocalNodeState}}")
    assert r.returncode == 0 and r.stdout.strip() == "inactive", r.stderr
    # The same through the environment the docker CLI reads.
    r = _docker(node, "info", "--format", "{{.Swarm.LocalNodeState}}",
                env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
                     "DOCKER_CERT_PATH": str(certs)})
    assert r.returncode == 0 and r.stdout.strip() == "inactive", r.stderr
    # The unix socket stays plain, and the daemon said nothing about an open TCP port.
    assert node.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    assert "without --tlsverify is insecure" not in node.log.read_text()


def test_the_cli_without_a_client_certificate_is_refused(tls_node: tuple[DevNode, int], certs: Path,
                                                          tmp_path: Path) -> None:
    node, port = tls_node
    only_ca = tmp_path / "only-ca"
    only_ca.mkdir()
    (only_ca / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    r = _docker(node, "--tls", "--tlscacert", str(only_ca / "ca.pem"), "-H", f"tcp://127.0.0.1:{port}",
                "version", "--format", "{{.Server.Version}}")
    # Under TLS 1.3 the server refuses the certificate after the client's handshake ends, so the CLI
    # sees the connection close ("EOF") or a TLS alert, never an answer.
    assert r.returncode != 0 and not r.stdout.strip(), (r.stdout, r.stderr)
    assert "error during connect" in r.stderr, r.stderr
    # Nor does plain HTTP get through.
    r = _docker(node, "-H", f"tcp://127.0.0.1:{port}", "version", "--format", "{{.Server.Version}}")
    assert r.returncode != 0 and not r.stdout.strip(), (r.stdout, r.stderr)


def test_plain_tcp_warns_as_dockerd_does(tmp_path: Path) -> None:
    port = free_port()
    node = DevNode("plain", tmp_path / "node", "process", extra=["-H", f"tcp://127.0.0.1:{port}"])
    node.start()
    try:
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_CONFIG": str(tmp_path / "cfg")}
        env.pop("DOCKER_TLS_VERIFY", None)
        r = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                           env=env, timeout=60)
        assert r.returncode == 0, r.stderr
    finally:
        node.stop()
    log = node.log.read_text()
    assert ("Binding to IP address without --tlsverify is insecure and gives root access on this machine to "
            "everyone who has access to your network.") in log
    assert "Binding to an IP address, even on localhost, can also give access to scripts run in a browser." in log
